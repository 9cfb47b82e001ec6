//! A tenant's workspace host: sign-in, sign-out, and the signed-in home (the dashboard, in
//! `crate::dashboard`) that later modules (contacts, deals, settings) hang their navigation from.

use askama::Template;
use aura_platform::auth::handoff;
use aura_platform::auth::{self, LoginError, LoginSource, Secret};
use aura_platform::tenants::Workspace;

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::extract::MemberForm;
use crate::forms::NoFields;
use crate::layout::{render, Chrome, Section};
use crate::rate_limit::{self, ClientAddress};
use crate::session::{
    self, form_token_matches, issue_form_token, removal, session_cookie, FORM_CSRF_COOKIE,
    SESSION_COOKIE,
};
use crate::sign_in::{self, Attempt, SignInForm};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(crate::dashboard::home))
        .route("/login", get(login_page).post(log_in))
        .route("/logout", post(log_out))
        .route("/enter", get(enter_page).post(enter))
        .route(
            "/onboarding/dismiss",
            post(crate::dashboard::dismiss_checklist),
        )
}

#[derive(Deserialize)]
struct LoginQuery {
    signed_out: Option<String>,
}

const REJECTED: &str = "That email and password do not match an active account in this \
    workspace. After 5 failed attempts from one place an account is locked there for a while.";

fn heading(workspace: &Workspace) -> String {
    format!("Sign in to {}", workspace.name)
}

async fn login_page(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
    parts: Parts,
) -> Result<Response, WebError> {
    let workspace = session::workspace(&parts)?;
    let notice = query.signed_out.is_some().then_some("You have signed out.");
    let chrome = Chrome::for_workspace(Section::None, &workspace);
    Ok(sign_in::show(&state, chrome, heading(&workspace), notice))
}

async fn log_in(
    State(state): State<AppState>,
    client: ClientAddress,
    jar: CookieJar,
    parts: Parts,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    rate_limit::per_client_address(&state, &client).await?;
    let workspace = session::workspace(&parts)?;
    let chrome = Chrome::for_workspace(Section::None, &workspace);
    let attempt = match Attempt::check(&state, jar, chrome, heading(&workspace), &form) {
        Ok(attempt) => attempt,
        Err(answer) => return Ok(*answer),
    };
    match auth::log_in(
        &state.db,
        workspace.id,
        &form.email,
        &form.password,
        &LoginSource::from(client.ip()),
    )
    .await
    {
        Ok((session_token, _)) => {
            let jar = attempt
                .into_jar()
                .add(session_cookie(&state, &session_token));
            // A workspace awaiting deletion is open only for its export.
            let home = if workspace.is_closing() {
                "/settings/export"
            } else {
                "/"
            };
            Ok((jar, Redirect::to(home)).into_response())
        }
        Err(LoginError::Rejected) => Ok(attempt.rejected(REJECTED)),
        Err(LoginError::Db(err)) => Err(err.into()),
    }
}

async fn log_out(
    State(state): State<AppState>,
    jar: CookieJar,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    auth::log_out(&state.db, &member.signed_in).await?;
    let jar = jar.remove(removal(SESSION_COOKIE));
    Ok((jar, Redirect::to("/login?signed_out=1")).into_response())
}

#[derive(Deserialize)]
struct EnterQuery {
    #[serde(default)]
    code: String,
}

/// "Continue as …": where the apex sends a member with a hand-off code (`account::enter_workspace`).
#[derive(Template)]
#[template(path = "sign_in/enter.html")]
struct EnterPage {
    chrome: Chrome,
    workspace_name: String,
    code: String,
    csrf_token: String,
    name: String,
    email: String,
}

/// Asks before it signs in: a GET must not open a session (a link from someone else would sign
/// the browser into their account; a link previewer would spend the code).
async fn enter_page(
    State(state): State<AppState>,
    client: ClientAddress,
    Query(query): Query<EnterQuery>,
    parts: Parts,
) -> Result<Response, WebError> {
    rate_limit::per_client_address(&state, &client).await?;
    let workspace = session::workspace(&parts)?;
    let holder = match Secret::parse(&query.code) {
        Some(code) => handoff::peek(&state.db, workspace.id, &code).await?,
        None => None,
    };
    let Some((name, email)) = holder else {
        return Ok(handoff_gone(&state, &workspace));
    };
    let (jar, csrf_token) = issue_form_token(&state, CookieJar::new());
    let page = EnterPage {
        chrome: Chrome::for_workspace(Section::None, &workspace),
        workspace_name: workspace.name.clone(),
        code: query.code,
        csrf_token,
        name,
        email,
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
struct EnterForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf_token: String,
}

/// Spends the code for a session on this host.
async fn enter(
    State(state): State<AppState>,
    client: ClientAddress,
    jar: CookieJar,
    parts: Parts,
    Form(form): Form<EnterForm>,
) -> Result<Response, WebError> {
    rate_limit::per_client_address(&state, &client).await?;
    let workspace = session::workspace(&parts)?;
    if !form_token_matches(&jar, &form.csrf_token) {
        return Err(WebError::CsrfRejected);
    }
    let opened = match Secret::parse(&form.code) {
        Some(code) => handoff::redeem(&state.db, workspace.id, &code).await?,
        None => None,
    };
    let Some((token, _)) = opened else {
        return Ok(handoff_gone(&state, &workspace));
    };
    let jar = jar
        .remove(removal(FORM_CSRF_COOKIE))
        .add(session_cookie(&state, &token));
    Ok((jar, Redirect::to("/")).into_response())
}

/// A code that was used, expired, or never was: the sign-in form, saying so.
fn handoff_gone(state: &AppState, workspace: &Workspace) -> Response {
    let chrome = Chrome::for_workspace(Section::None, workspace);
    sign_in::show(
        state,
        chrome,
        heading(workspace),
        Some("That link into the workspace has expired or was used already. Sign in here, or open the workspace again from your account."),
    )
}
