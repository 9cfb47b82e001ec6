//! The browser session on a workspace host: its cookie, the extractor that requires it, and
//! CSRF checks for forms.

use aura_platform::auth::apex::{self, ApexSignedIn, ApexToken};
use aura_platform::auth::{self, Secret, SignedIn, SESSION_IDLE_LIMIT};
use aura_platform::permissions::Permission;
use aura_platform::tenants::Workspace;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::time::Zone;
use crate::{rate_limit, refusals, AppState, WebError};

pub const SESSION_COOKIE: &str = "aura_session";
/// The apex's session cookie (operators, and users without a workspace yet).
pub const APEX_SESSION_COOKIE: &str = "aura_apex_session";
/// Double-submit token for the forms sent before there is a session (sign-in, signup).
pub const FORM_CSRF_COOKIE: &str = "aura_form_csrf";

/// A fresh double-submit token for a form sent before there is a session (sign-in, signup,
/// invitation, password reset): set in a cookie, added to `jar`, and returned for the form.
pub fn issue_form_token(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    let token = Secret::generate().as_str().to_owned();
    let jar = jar.add(private_cookie(state, FORM_CSRF_COOKIE, token.clone()));
    (jar, token)
}

/// Whether such a form came back with the token its cookie carries.
pub fn form_token_matches(jar: &CookieJar, submitted: &str) -> bool {
    jar.get(FORM_CSRF_COOKIE)
        .is_some_and(|cookie| constant_time_eq(cookie.value().as_bytes(), submitted.as_bytes()))
}

/// A cookie only this host gets (no Domain attribute), hidden from scripts.
pub fn private_cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(state.site.https)
        .same_site(SameSite::Lax)
        .build()
}

pub fn session_cookie(state: &AppState, token: &Secret) -> Cookie<'static> {
    lasting(private_cookie(
        state,
        SESSION_COOKIE,
        token.as_str().to_owned(),
    ))
}

pub fn apex_session_cookie(state: &AppState, token: &ApexToken) -> Cookie<'static> {
    lasting(private_cookie(
        state,
        APEX_SESSION_COOKIE,
        token.cookie_value(),
    ))
}

/// Kept by the browser as long as the server would keep the session idle.
fn lasting(mut cookie: Cookie<'static>) -> Cookie<'static> {
    cookie.set_max_age(time_duration(SESSION_IDLE_LIMIT));
    cookie
}

pub fn removal(name: &'static str) -> Cookie<'static> {
    Cookie::build((name, "")).path("/").build()
}

fn time_duration(duration: std::time::Duration) -> time::Duration {
    time::Duration::seconds(duration.as_secs().try_into().unwrap_or(i64::MAX))
}

/// The workspace the host named; present on every request the workspace router serves.
pub fn workspace(parts: &Parts) -> Result<Workspace, WebError> {
    parts
        .extensions
        .get::<Workspace>()
        .cloned()
        .ok_or(WebError::NotFound)
}

/// A signed-in member of the request's workspace. Handlers that take it are reachable only
/// with a valid session for this very tenant; anyone else is sent to the sign-in page.
pub struct Member {
    pub signed_in: SignedIn,
    pub workspace: Workspace,
    /// The session cookie, when it should be re-issued to extend its life.
    pub renewed_cookie: Option<Cookie<'static>>,
}

/// A signed-in session whose pages carry its CSRF token in their forms (see
/// `extract::MemberForm`, which checks it).
pub trait Session: FromRequestParts<AppState> + Send {
    fn csrf_token(&self) -> &str;
}

impl Member {
    /// Whether the member's role may do `permission`: pages offer only what it may.
    pub fn may(&self, permission: Permission) -> bool {
        self.signed_in.context.role.may(permission)
    }

    /// Refuses (403) a member whose role may not do `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), WebError> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(WebError::Forbidden)
        }
    }

    /// The time zone the member reads and writes times in.
    pub fn zone(&self) -> Zone {
        Zone::named(&self.signed_in.time_zone)
    }
}

impl Session for Member {
    fn csrf_token(&self) -> &str {
        &self.signed_in.csrf_token
    }
}

pub enum NotSignedIn {
    Redirect,
    Error(WebError),
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self {
            NotSignedIn::Redirect => Redirect::to("/login").into_response(),
            NotSignedIn::Error(err) => err.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = NotSignedIn;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let workspace = workspace(parts).map_err(NotSignedIn::Error)?;
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar
            .get(SESSION_COOKIE)
            .and_then(|cookie| Secret::parse(cookie.value()))
            .ok_or(NotSignedIn::Redirect)?;
        let signed_in = auth::authenticate(&state.db, workspace.id, &token)
            .await
            .map_err(|err| NotSignedIn::Error(err.into()))?
            .ok_or(NotSignedIn::Redirect)?;
        rate_limit::per_user(state, signed_in.context.user_id)
            .await
            .map_err(NotSignedIn::Error)?;
        refusals::Caller::note(parts, signed_in.context);
        let renewed_cookie = signed_in.refreshed.then(|| session_cookie(state, &token));
        Ok(Member {
            signed_in,
            workspace,
            renewed_cookie,
        })
    }
}

/// A user signed in on the apex: a platform operator, or someone whose workspace does not exist
/// yet. Anyone else is sent to the apex's sign-in page.
pub struct ApexMember {
    pub signed_in: ApexSignedIn,
    pub renewed_cookie: Option<Cookie<'static>>,
}

impl Session for ApexMember {
    fn csrf_token(&self) -> &str {
        &self.signed_in.csrf_token
    }
}

impl FromRequestParts<AppState> for ApexMember {
    type Rejection = NotSignedIn;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar
            .get(APEX_SESSION_COOKIE)
            .and_then(|cookie| ApexToken::parse(cookie.value()))
            .ok_or(NotSignedIn::Redirect)?;
        let signed_in = apex::authenticate(&state.db, &token)
            .await
            .map_err(|err| NotSignedIn::Error(err.into()))?
            .ok_or(NotSignedIn::Redirect)?;
        rate_limit::per_user(state, signed_in.user_id)
            .await
            .map_err(NotSignedIn::Error)?;
        let renewed_cookie = signed_in
            .refreshed
            .then(|| apex_session_cookie(state, &token));
        Ok(ApexMember {
            signed_in,
            renewed_cookie,
        })
    }
}

/// Refuses a form whose CSRF token is not its session's.
pub(crate) fn check_csrf(expected: &str, submitted: &str) -> Result<(), WebError> {
    if constant_time_eq(expected.as_bytes(), submitted.as_bytes()) {
        Ok(())
    } else {
        Err(WebError::CsrfRejected)
    }
}

/// Compares without an early exit, so the time taken does not reveal how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
