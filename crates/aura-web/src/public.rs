//! The apex domain's public pages: home, pricing, about.

use askama::Template;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::layout::{render, Chrome, Section};
use crate::AppState;

#[derive(Template)]
#[template(path = "public/home.html")]
struct HomePage {
    chrome: Chrome,
}

#[derive(Template)]
#[template(path = "public/pricing.html")]
struct PricingPage {
    chrome: Chrome,
}

#[derive(Template)]
#[template(path = "public/about.html")]
struct AboutPage {
    chrome: Chrome,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/pricing", get(pricing))
        .route("/about", get(about))
}

async fn home() -> Response {
    render(&HomePage {
        chrome: Chrome::new(Section::Home),
    })
}

async fn pricing() -> Response {
    render(&PricingPage {
        chrome: Chrome::new(Section::Pricing),
    })
}

async fn about() -> Response {
    render(&AboutPage {
        chrome: Chrome::new(Section::About),
    })
}
