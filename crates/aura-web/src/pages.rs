//! The apex domain's public pages, and the page furniture every HTML page shares.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::{assets, AppState, WebError};

/// Which navigation entry a page belongs to (marked `aria-current` in the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Pricing,
    About,
    None,
}

/// What the layout needs from every page.
pub struct Chrome {
    pub section: Section,
    pub script: String,
    pub stylesheet: String,
}

impl Chrome {
    pub fn new(section: Section) -> Self {
        Self {
            section,
            script: assets::script_url(),
            stylesheet: assets::stylesheet_url(),
        }
    }
}

/// Renders a page; a template that fails to render is a bug, logged and answered with 500.
pub fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "template rendering failed");
            WebError::Internal.into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
}

#[derive(Template)]
#[template(path = "pricing.html")]
struct PricingPage {
    chrome: Chrome,
}

#[derive(Template)]
#[template(path = "about.html")]
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
