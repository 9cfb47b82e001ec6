//! Forgotten passwords (F2.3), on the apex for every account.

use askama::Template;
use aura_platform::password_reset::{self, ResetError, ResetToken};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::layout::{render, Chrome, Section};
use crate::rate_limit::{self, ClientAddress};
use crate::session::{form_token_matches, issue_form_token, removal, FORM_CSRF_COOKIE};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/password-reset", get(request_page).post(request_link))
        .route(
            "/password-reset/{token}",
            get(new_password_page).post(set_password),
        )
}

#[derive(Template)]
#[template(path = "password_reset/page.html")]
struct ResetPage {
    chrome: Chrome,
    csrf_token: String,
    /// The link's token, on the second step; `None` on the request step.
    token: Option<String>,
    email: String,
    /// After a request: the answer, the same whether or not the account exists.
    requested: bool,
    form_error: Option<String>,
}

fn page(state: &AppState, jar: CookieJar, token: Option<String>) -> (CookieJar, ResetPage) {
    let (jar, csrf) = issue_form_token(state, jar);
    let page = ResetPage {
        chrome: Chrome::new(Section::SignIn),
        csrf_token: csrf,
        token,
        email: String::new(),
        requested: false,
        form_error: None,
    };
    (jar, page)
}

async fn request_page(State(state): State<AppState>) -> Response {
    let (jar, page) = page(&state, CookieJar::new(), None);
    (jar, render(&page)).into_response()
}

#[derive(Deserialize)]
struct RequestForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf_token: String,
}

async fn request_link(
    State(state): State<AppState>,
    client: ClientAddress,
    jar: CookieJar,
    Form(form): Form<RequestForm>,
) -> Result<Response, WebError> {
    rate_limit::per_client_address(&state, &client).await?;
    let valid_token = form_token_matches(&jar, &form.csrf_token);
    let (jar, mut page) = page(&state, jar, None);
    page.email = form.email.trim().to_owned();
    if !valid_token {
        page.form_error = Some("This form had expired. Please send it again.".into());
        return Ok((StatusCode::FORBIDDEN, jar, render(&page)).into_response());
    }
    if page.email.is_empty() {
        page.form_error = Some("Enter the email address of your account.".into());
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, jar, render(&page)).into_response());
    }
    // The work (and its time) differs when the account exists: do it after answering.
    let (email, link_base) = (page.email.clone(), state.site.apex_url(""));
    tokio::spawn(async move {
        match password_reset::request(&state.db, &email, &link_base).await {
            Ok(Some(message)) => state.mailer.deliver(&state.db, &message).await,
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "a password reset request failed"),
        }
    });
    page.requested = true;
    Ok((jar, render(&page)).into_response())
}

async fn open_token(state: &AppState, token: &str) -> Result<ResetToken, WebError> {
    let parsed = ResetToken::parse(token).ok_or(WebError::ResetLinkGone)?;
    if password_reset::is_open(&state.db, &parsed).await? {
        Ok(parsed)
    } else {
        Err(WebError::ResetLinkGone)
    }
}

async fn new_password_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    open_token(&state, &token).await?;
    let (jar, page) = page(&state, CookieJar::new(), Some(token));
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
}

async fn set_password(
    State(state): State<AppState>,
    client: ClientAddress,
    Path(token): Path<String>,
    jar: CookieJar,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    rate_limit::per_client_address(&state, &client).await?;
    let reset = open_token(&state, &token).await?;
    let valid_token = form_token_matches(&jar, &form.csrf_token);
    let (jar, mut page) = page(&state, jar, Some(token));
    if !valid_token {
        page.form_error =
            Some("This form had expired. Please enter the new password again.".into());
        return Ok((StatusCode::FORBIDDEN, jar, render(&page)).into_response());
    }
    match password_reset::complete(&state.db, &reset, &form.password).await {
        Ok(()) => {
            let jar = jar.remove(removal(FORM_CSRF_COOKIE));
            Ok((jar, Redirect::to("/login?password_changed=1")).into_response())
        }
        Err(ResetError::WeakPassword(message)) => {
            page.form_error = Some(message);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, jar, render(&page)).into_response())
        }
        Err(ResetError::Gone) => Err(WebError::ResetLinkGone),
        Err(ResetError::Db(err)) => Err(err.into()),
    }
}
