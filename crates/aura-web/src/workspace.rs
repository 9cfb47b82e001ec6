//! A tenant's workspace host: sign-in, sign-out, and the signed-in home (the dashboard, in
//! `crate::dashboard`) that later modules (contacts, deals, settings) hang their navigation from.

use aura_platform::auth::{self, LoginError, LoginSource};
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
use crate::layout::{Chrome, Section};
use crate::rate_limit::{self, ClientAddress};
use crate::session::{self, removal, session_cookie, SESSION_COOKIE};
use crate::sign_in::{self, Attempt, SignInForm};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(crate::dashboard::home))
        .route("/login", get(login_page).post(log_in))
        .route("/logout", post(log_out))
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
            Ok((jar, Redirect::to("/")).into_response())
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
