//! A tenant's workspace host: sign-in, sign-out, and the signed-in home that later modules
//! (contacts, deals, settings) hang their navigation from.

use askama::Template;
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
use crate::pages::{render, Chrome, Section};
use crate::rate_limit::{self, ClientAddress};
use crate::session::{self, removal, session_cookie, Member, SESSION_COOKIE};
use crate::sign_in::{self, Attempt, SignInForm};
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
    /// The member's own open deals at a glance (journey 2); amounts formatted.
    pipeline: aura_crm::board::MyPipeline,
    amounts: Vec<String>,
}

async fn home(State(state): State<AppState>, member: Member) -> Result<Response, WebError> {
    let pipeline = aura_crm::board::my_pipeline(&state.db, member.signed_in.context).await?;
    let page = HomePage {
        chrome: Chrome::for_member(Section::Home, &member),
        display_name: member.signed_in.display_name.clone(),
        role: member.signed_in.context.role.label(),
        workspace_name: member.workspace.name.clone(),
        amounts: pipeline
            .stages
            .iter()
            .map(|s| crate::board::money(s.amount))
            .collect(),
        pipeline,
    };
    let jar = CookieJar::new();
    Ok(match member.renewed_cookie {
        Some(cookie) => (jar.add(cookie), render(&page)).into_response(),
        None => render(&page),
    })
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
