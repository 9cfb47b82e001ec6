//! A tenant's workspace host: sign-in, sign-out, and the signed-in home that later modules
//! (contacts, deals, settings) hang their navigation from.

use askama::Template;
use aura_platform::auth::{self, LoginError, Secret};
use aura_platform::tenants::Workspace;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::pages::{render, Chrome, Section};
use crate::session::{
    self, constant_time_eq, private_cookie, removal, session_cookie, Member, LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(log_in))
        .route("/logout", post(log_out))
}

#[derive(Template)]
#[template(path = "workspace_home.html")]
struct HomePage {
    chrome: Chrome,
    display_name: String,
    role: &'static str,
    workspace_name: String,
}

async fn home(member: Member) -> Response {
    let page = HomePage {
        chrome: Chrome::for_member(Section::Home, &member),
        display_name: member.signed_in.display_name.clone(),
        role: member.signed_in.context.role.label(),
        workspace_name: member.workspace.name.clone(),
    };
    let jar = CookieJar::new();
    match member.renewed_cookie {
        Some(cookie) => (jar.add(cookie), render(&page)).into_response(),
        None => render(&page),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    workspace_name: String,
    csrf_token: String,
    email: String,
    notice: Option<&'static str>,
    email_error: Option<&'static str>,
    password_error: Option<&'static str>,
    form_error: Option<&'static str>,
}

impl LoginPage {
    fn new(workspace: &Workspace, csrf_token: String, email: String) -> Self {
        Self {
            chrome: Chrome::for_workspace(Section::None, workspace),
            workspace_name: workspace.name.clone(),
            csrf_token,
            email,
            notice: None,
            email_error: None,
            password_error: None,
            form_error: None,
        }
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    signed_out: Option<String>,
}

/// The sign-in form, with a fresh double-submit CSRF token in a cookie and in the form.
async fn login_page(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
    parts: Parts,
) -> Result<Response, WebError> {
    let workspace = session::workspace(&parts)?;
    let token = Secret::generate();
    let mut page = LoginPage::new(&workspace, token.as_str().to_owned(), String::new());
    if query.signed_out.is_some() {
        page.notice = Some("You have signed out.");
    }
    let jar = CookieJar::new().add(private_cookie(
        &state,
        LOGIN_CSRF_COOKIE,
        token.as_str().to_owned(),
    ));
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
}

async fn log_in(
    State(state): State<AppState>,
    jar: CookieJar,
    parts: Parts,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let workspace = session::workspace(&parts)?;
    // Read before the jar gets the next token below.
    let csrf_ok = jar.get(LOGIN_CSRF_COOKIE).is_some_and(|cookie| {
        constant_time_eq(cookie.value().as_bytes(), form.csrf_token.as_bytes())
    });
    // Every answer but success re-renders the form with the email kept and a new token.
    let token = Secret::generate();
    let jar = jar.add(private_cookie(
        &state,
        LOGIN_CSRF_COOKIE,
        token.as_str().to_owned(),
    ));
    let mut page = LoginPage::new(
        &workspace,
        token.as_str().to_owned(),
        form.email.trim().to_owned(),
    );
    let answer = |status: StatusCode, page: LoginPage, jar: CookieJar| {
        (status, jar, render(&page)).into_response()
    };

    if !csrf_ok {
        page.form_error = Some("This form had expired. Please sign in again.");
        return Ok(answer(StatusCode::FORBIDDEN, page, jar));
    }
    if form.email.trim().is_empty() {
        page.email_error = Some("Enter your email address.");
    }
    if form.password.is_empty() {
        page.password_error = Some("Enter your password.");
    }
    if page.email_error.is_some() || page.password_error.is_some() {
        return Ok(answer(StatusCode::UNPROCESSABLE_ENTITY, page, jar));
    }

    match auth::log_in(&state.db, workspace.id, &form.email, &form.password).await {
        Ok((session_token, _)) => {
            let jar = jar
                .remove(removal(LOGIN_CSRF_COOKIE))
                .add(session_cookie(&state, &session_token));
            Ok((jar, Redirect::to("/")).into_response())
        }
        Err(LoginError::Rejected) => {
            page.form_error = Some(
                "That email and password do not match an active account in this workspace. \
                 After 5 failed attempts an account is locked for 15 minutes.",
            );
            Ok(answer(StatusCode::UNPROCESSABLE_ENTITY, page, jar))
        }
        Err(LoginError::Db(err)) => Err(err.into()),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

async fn log_out(
    State(state): State<AppState>,
    member: Member,
    jar: CookieJar,
    Form(form): Form<LogoutForm>,
) -> Result<Response, WebError> {
    member.check_csrf(&form.csrf_token)?;
    auth::log_out(&state.db, &member.signed_in).await?;
    let jar = jar.remove(removal(SESSION_COOKIE));
    Ok((jar, Redirect::to("/login?signed_out=1")).into_response())
}
