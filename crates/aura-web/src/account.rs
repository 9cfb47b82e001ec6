//! Accounts on the apex: signing up before any workspace exists, signing in as an operator or
//! a prospect, and the account page that shows where a workspace request stands.

use askama::Template;
use aura_platform::auth::apex;
use aura_platform::auth::handoff::{self, OwnWorkspace};
use aura_platform::auth::{LoginError, LoginSource};
use aura_platform::ids::TenantSlug;
use aura_platform::password;
use aura_platform::signup::{self, Signup, SignupInput, VerificationToken};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
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
    apex_session_cookie, form_token_matches, issue_form_token, removal, ApexMember,
    APEX_SESSION_COOKIE, FORM_CSRF_COOKIE,
};
use crate::sign_in::{self, Attempt, SignInForm};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/signup", get(signup_page).post(sign_up))
        .route("/signup/verify/{token}", get(verify_email))
        .route("/login", get(login_page).post(log_in))
        .route("/logout", post(log_out))
        .route("/account", get(account))
        .route("/account/enter", post(enter_workspace))
}

const SIGN_IN_HEADING: &str = "Sign in to Aura";
const REJECTED: &str = "That email and password do not match an account. \
    After 5 failed attempts from one place an account is locked there for a while.";

#[derive(Deserialize)]
struct LoginQuery {
    signed_out: Option<String>,
    password_changed: Option<String>,
}

async fn login_page(State(state): State<AppState>, Query(query): Query<LoginQuery>) -> Response {
    let notice = if query.password_changed.is_some() {
        Some("Your password has been changed and every session signed out. Sign in with the new one.")
    } else {
        query.signed_out.is_some().then_some("You have signed out.")
    };
    sign_in::show(
        &state,
        Chrome::new(Section::SignIn),
        SIGN_IN_HEADING.into(),
        notice,
    )
}

async fn log_in(
    State(state): State<AppState>,
    client: ClientAddress,
    jar: CookieJar,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    rate_limit::per_client_address(&state, &client).await?;
    let chrome = Chrome::new(Section::SignIn);
    let attempt = match Attempt::check(&state, jar, chrome, SIGN_IN_HEADING.into(), &form) {
        Ok(attempt) => attempt,
        Err(answer) => return Ok(*answer),
    };
    match apex::log_in(
        &state.db,
        &form.email,
        &form.password,
        &LoginSource::from(client.ip()),
    )
    .await
    {
        Ok((token, _)) => {
            let jar = attempt.into_jar().add(apex_session_cookie(&state, &token));
            Ok((jar, Redirect::to("/account")).into_response())
        }
        Err(LoginError::Rejected) => Ok(attempt.rejected(REJECTED)),
        Err(LoginError::Db(err)) => Err(err.into()),
    }
}

async fn log_out(
    State(state): State<AppState>,
    jar: CookieJar,
    MemberForm { member, .. }: MemberForm<NoFields, ApexMember>,
) -> Result<Response, WebError> {
    apex::log_out(&state.db, &member.signed_in).await?;
    let jar = jar.remove(removal(APEX_SESSION_COOKIE));
    Ok((jar, Redirect::to("/login?signed_out=1")).into_response())
}

#[derive(Template)]
#[template(path = "account/signup.html")]
struct SignupPage {
    chrome: Chrome,
    csrf_token: String,
    input: SignupInput,
    name_error: Option<String>,
    email_error: Option<String>,
    company_error: Option<String>,
    password_error: Option<String>,
    form_error: Option<&'static str>,
    min_password_chars: usize,
}

impl SignupPage {
    /// The form with a fresh token (also set in the returned jar), showing `input` again.
    fn new(state: &AppState, jar: CookieJar, input: SignupInput) -> (CookieJar, Self) {
        let (jar, token) = issue_form_token(state, jar);
        let page = SignupPage {
            chrome: Chrome::new(Section::SignUp),
            csrf_token: token,
            // The password is never sent back.
            input: SignupInput {
                password: String::new(),
                ..input
            },
            name_error: None,
            email_error: None,
            company_error: None,
            password_error: None,
            form_error: None,
            min_password_chars: password::MIN_CHARS,
        };
        (jar, page)
    }
}

async fn signup_page(State(state): State<AppState>) -> Response {
    let (jar, page) = SignupPage::new(&state, CookieJar::new(), SignupInput::default());
    (jar, render(&page)).into_response()
}

#[derive(Deserialize)]
struct SignupForm {
    #[serde(flatten)]
    input: SignupInput,
    #[serde(default)]
    csrf_token: String,
}

async fn sign_up(
    State(state): State<AppState>,
    client: ClientAddress,
    jar: CookieJar,
    Form(form): Form<SignupForm>,
) -> Result<Response, WebError> {
    rate_limit::per_client_address(&state, &client).await?;
    let csrf_ok = form_token_matches(&jar, &form.csrf_token);
    let (jar, mut page) = SignupPage::new(&state, jar, form.input.clone());
    if !csrf_ok {
        // Keep what was typed: only the expired token is the problem.
        page.form_error = Some("This form had expired. Please check it and send it again.");
        return Ok((StatusCode::FORBIDDEN, jar, render(&page)).into_response());
    }
    let new_signup = match form.input.validate() {
        Ok(valid) => valid,
        Err(errors) => {
            for (field, message) in errors {
                let slot = match field {
                    "display_name" => &mut page.name_error,
                    "email" => &mut page.email_error,
                    "company_name" => &mut page.company_error,
                    _ => &mut page.password_error,
                };
                *slot = Some(message);
            }
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, jar, render(&page)).into_response());
        }
    };
    // Whether the email already has an account must not show, in the answer or its time: the
    // work (hashing, writing, mailing) happens after answering, and the answer is the same.
    let link_base = state.site.apex_url("");
    let email = form.input.email.trim().to_owned();
    tokio::spawn(async move {
        match signup::sign_up(&state.db, &new_signup, &link_base).await {
            Ok(Some(message)) => state.mailer.deliver(&state.db, &message).await,
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "a signup failed"),
        }
    });
    let jar = jar.remove(removal(FORM_CSRF_COOKIE));
    let page = SignupSentPage {
        chrome: Chrome::new(Section::SignUp),
        email,
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Template)]
#[template(path = "account/signup_sent.html")]
struct SignupSentPage {
    chrome: Chrome,
    email: String,
}

/// The link emailed at signup: it verifies the address and signs the prospect in.
async fn verify_email(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let token = VerificationToken::parse(&token).ok_or(WebError::VerificationLinkGone)?;
    let (token, _) = signup::verify_email(&state.db, &token)
        .await?
        .ok_or(WebError::VerificationLinkGone)?;
    let jar = CookieJar::new().add(apex_session_cookie(&state, &token));
    Ok((jar, Redirect::to("/account")).into_response())
}

#[derive(Template)]
#[template(path = "account/page.html")]
struct AccountPage {
    chrome: Chrome,
    display_name: String,
    is_platform_admin: bool,
    /// Set after an activation: the new workspace's slug and address.
    activated: Option<(String, String)>,
    own_request: Option<RequestRow>,
    requests: Vec<RequestRow>,
    /// The workspaces the user is a member of, each opened without a second sign-in.
    workspaces: Vec<OwnWorkspace>,
    /// `.<base host>`, shown after each workspace's slug as its address.
    host_suffix: String,
}

/// A workspace request, with its workspace's address once it has one.
struct RequestRow {
    request: Signup,
    workspace_url: Option<String>,
}

#[derive(Deserialize)]
struct AccountQuery {
    activated: Option<String>,
}

/// Most workspace requests the operators' list shows at once.
const QUEUE_PAGE: i64 = 50;

async fn account(
    State(state): State<AppState>,
    member: ApexMember,
    Query(query): Query<AccountQuery>,
) -> Result<Response, WebError> {
    let signed_in = &member.signed_in;
    let row = |request: Signup| RequestRow {
        workspace_url: request
            .workspace_slug
            .as_deref()
            .map(|slug| state.site.workspace_url(slug)),
        request,
    };
    let (own_request, requests) = if signed_in.is_platform_admin {
        let recent = signup::recent(&state.db, signed_in.user_id, QUEUE_PAGE).await?;
        (None, recent.into_iter().map(row).collect())
    } else {
        (
            signup::own(&state.db, signed_in.user_id).await?.map(row),
            Vec::new(),
        )
    };
    // Only a slug-shaped value is echoed back, and only as a link the page builds itself.
    let activated = query
        .activated
        .filter(|slug| slug.parse::<aura_platform::ids::TenantSlug>().is_ok())
        .map(|slug| {
            let url = state.site.workspace_url(&slug);
            (slug, url)
        });
    let page = AccountPage {
        chrome: Chrome::for_apex_member(Section::Account, signed_in),
        display_name: signed_in.display_name.clone(),
        is_platform_admin: signed_in.is_platform_admin,
        activated,
        own_request,
        requests,
        workspaces: handoff::own_workspaces(&state.db, signed_in.user_id).await?,
        host_suffix: format!(".{}", state.site.base_host),
    };
    // "Open" posts here and is redirected to the workspace's host: the browser follows that
    // only if this page's policy names the host.
    let workspace_origins: Vec<String> = page
        .workspaces
        .iter()
        .map(|w| {
            let url = state.site.workspace_url(&w.slug);
            url.trim_end_matches('/').to_owned()
        })
        .collect();
    let mut response = match member.renewed_cookie {
        Some(cookie) => (CookieJar::new().add(cookie), render(&page)).into_response(),
        None => render(&page),
    };
    response.headers_mut().insert(
        axum::http::header::CONTENT_SECURITY_POLICY,
        crate::middleware::content_security_policy(&workspace_origins),
    );
    Ok(response)
}

#[derive(Deserialize)]
struct EnterForm {
    slug: String,
}

/// Sends the user into one of their workspaces with a one-minute, single-use code, which that
/// workspace's host exchanges for a session of its own (`workspace::enter_page`). A workspace
/// they are not an active member of is answered as one that does not exist.
async fn enter_workspace(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<EnterForm, ApexMember>,
) -> Result<Response, WebError> {
    let slug: TenantSlug = form.slug.trim().parse().map_err(|_| WebError::NotFound)?;
    let code = handoff::issue(&state.db, member.signed_in.user_id, &slug)
        .await?
        .ok_or(WebError::NotFound)?;
    let url = format!(
        "{}enter?code={}",
        state.site.workspace_url(slug.as_str()),
        code.as_str()
    );
    Ok(Redirect::to(&url).into_response())
}
