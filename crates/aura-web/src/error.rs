//! The web layer's one error type, mapped to HTTP in one place. API clients get
//! `application/problem+json` with a stable `code`; browsers get a readable page. No SQL,
//! stack trace or internal identifier reaches a client: details go to the log only.

use aura_crm::{FieldError, WriteError};
use aura_platform::db::{ConstraintKind, DbError};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::layout::{Chrome, Section};

#[derive(Debug, Clone)]
pub enum WebError {
    NotFound,
    /// No valid credentials (API): missing, malformed, expired or revoked.
    Unauthorized,
    /// An API body that is not JSON of the expected shape.
    MalformedBody,
    /// An API query string that does not parse: a parameter given twice, a required one missing.
    MalformedQuery,
    UnsupportedMediaType,
    /// Too many requests (NFR-S7); the window ends in `retry_after` seconds.
    RateLimited {
        retry_after: u64,
    },
    Forbidden,
    /// A form arrived without this session's CSRF token.
    CsrfRejected,
    /// An invitation link that was used, withdrawn, has expired, or never existed.
    InvitationGone,
    /// A password-reset link that was used, has expired, or never existed.
    ResetLinkGone,
    /// An email-verification link that was used, has expired, or never existed.
    VerificationLinkGone,
    /// A workspace export's file was deleted: it expired.
    ExportExpired,
    /// The host names a suspended workspace: nobody may use it, its data is kept.
    WorkspaceSuspended,
    /// Suspended and scheduled for deletion: only its admins' export is open.
    WorkspaceClosing,
    Conflict {
        constraint: String,
    },
    Invalid {
        constraint: String,
    },
    /// A write refused for what its fields hold, each field's problem listed.
    InvalidFields(Vec<FieldError>),
    /// The record changed since it was read; `current` is the record as it is now.
    Stale {
        current: serde_json::Value,
    },
    /// Another live record holds this unique value; its id only if the caller may see it.
    Duplicate {
        field: &'static str,
        existing: Option<uuid::Uuid>,
    },
    /// A text field holds a NUL character, which PostgreSQL's text cannot store.
    NulCharacter {
        field: String,
    },
    /// An `Idempotency-Key` header that is empty, too long or not text.
    InvalidIdempotencyKey,
    /// An `Idempotency-Key` used before for another request.
    IdempotencyKeyReused,
    /// A body over the 2 MB any request may carry.
    TooLarge,
    Unavailable,
    Internal,
}

impl From<DbError> for WebError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                WebError::Unavailable
            }
            DbError::NotFound => WebError::NotFound,
            DbError::Forbidden(source) => {
                tracing::warn!(error = %source, "database refused the statement");
                WebError::Forbidden
            }
            DbError::Constraint {
                kind: ConstraintKind::Unique | ConstraintKind::Exclusion,
                constraint,
            } => WebError::Conflict { constraint },
            DbError::Constraint { constraint, .. } => WebError::Invalid { constraint },
            DbError::Other(source) => {
                tracing::error!(error = %source, "database error");
                WebError::Internal
            }
        }
    }
}

/// A refused write as the client sees it: a handler that shows none of it differently passes it
/// on with `?`.
impl<T: Serialize> From<WriteError<T>> for WebError {
    fn from(err: WriteError<T>) -> Self {
        match err {
            WriteError::Invalid(errors) => WebError::InvalidFields(errors),
            WriteError::Stale(current) => match serde_json::to_value(current) {
                Ok(current) => WebError::Stale { current },
                Err(err) => {
                    tracing::error!(error = %err, "a record did not serialize");
                    WebError::Internal
                }
            },
            WriteError::Duplicate { field, existing } => WebError::Duplicate { field, existing },
            WriteError::NotFound => WebError::NotFound,
            WriteError::NotAllowed => WebError::Forbidden,
            WriteError::Db(err) => err.into(),
        }
    }
}

/// An API error as `application/problem+json` (RFC 9457): what every refused API request
/// answers, whatever its status. The members after `detail` appear only for the problems that
/// carry them.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"type": "about:blank", "title": "Not valid", "status": 422,
    "code": "invalid", "detail": "Some fields are not valid; see `errors`.",
    "errors": [{"field": "email", "message": "Enter an email address like name@example.com."}]}))]
pub struct Problem {
    /// Always `about:blank`: `code` says which problem it is.
    #[serde(rename = "type")]
    kind: &'static str,
    /// A short, human-readable summary of the problem.
    title: &'static str,
    /// The HTTP status code.
    status: u16,
    /// A stable code for programs: `not_found`, `unauthorized`, `malformed_body`, `malformed_query`,
    /// `unsupported_media_type`, `rate_limited`, `forbidden`, `workspace_suspended`, `export_expired`,
    /// `conflict`, `duplicate`, `stale`, `invalid`, `nul_character`, `too_large`,
    /// `database_unavailable` or `internal`.
    code: &'static str,
    /// What happened and what to do about it, for people.
    detail: String,
    /// `invalid`: each refused field and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<FieldError>>,
    /// `stale`: the record as it is now, to apply the change to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    current: Option<serde_json::Value>,
    /// `duplicate` and `nul_character`: the field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// `duplicate`: the record that holds the value, if the caller may see it (else null).
    #[serde(skip_serializing_if = "Option::is_none")]
    existing_id: Option<Option<uuid::Uuid>>,
}

impl WebError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str, &'static str) {
        match self {
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                "There is nothing here, or you may not see it.",
            ),
            WebError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Not signed in",
                "The credentials are missing, invalid or expired. Sign in again.",
            ),
            WebError::MalformedBody => (
                StatusCode::BAD_REQUEST,
                "malformed_body",
                "Malformed request",
                "The request body is not JSON of the expected shape; see the API's OpenAPI document.",
            ),
            WebError::MalformedQuery => (
                StatusCode::BAD_REQUEST,
                "malformed_query",
                "Malformed request",
                "The query string does not parse: a parameter is given twice, or a required one is \
                 missing; see the API's OpenAPI document.",
            ),
            WebError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                "Send the request body as JSON, with Content-Type: application/json.",
            ),
            WebError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
                "You have made more than 100 requests in a minute. Wait a moment, then try again.",
            ),
            WebError::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed",
                "You may not do this.",
            ),
            WebError::CsrfRejected => (
                StatusCode::FORBIDDEN,
                "csrf_rejected",
                "This form had expired",
                "For your safety the form was not accepted. Go back, reload the page and submit it again.",
            ),
            WebError::InvitationGone => (
                StatusCode::GONE,
                "invitation_gone",
                "This invitation cannot be used",
                "It has been used already, was withdrawn, or has expired (invitations last 7 days). \
                 Ask your workspace's administrator for a new one.",
            ),
            WebError::ResetLinkGone => (
                StatusCode::GONE,
                "reset_link_gone",
                "This link cannot be used",
                "Password-reset links work once, for an hour. Ask for a new one from the sign-in page.",
            ),
            WebError::VerificationLinkGone => (
                StatusCode::GONE,
                "verification_link_gone",
                "This link cannot be used",
                "Links that confirm an email address work once, for a day. If you confirmed it \
                 already, sign in.",
            ),
            WebError::ExportExpired => (
                StatusCode::GONE,
                "export_expired",
                "This export has expired",
                "Export files can be downloaded for 24 hours, then they are deleted. Start a new \
                 export in Settings -> Export.",
            ),
            WebError::WorkspaceClosing => (
                StatusCode::FORBIDDEN,
                "workspace_closing",
                "This workspace is suspended and will be deleted",
                "Nobody can work in it any more. Until the deletion its admins can still sign in \
                 and export its data from Settings -> Export (/settings/export).",
            ),
            WebError::WorkspaceSuspended => (
                StatusCode::FORBIDDEN,
                "workspace_suspended",
                "This workspace is suspended",
                "Its data is kept safe, but nobody can use it until it is reactivated. \
                 Contact your administrator or Aura support.",
            ),
            WebError::Conflict { .. } => (
                StatusCode::CONFLICT,
                "conflict",
                "Already exists",
                "This conflicts with a record that already exists.",
            ),
            WebError::Invalid { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Not valid",
                "Some of what was sent is not valid.",
            ),
            WebError::InvalidFields(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Not valid",
                "Some fields are not valid; see `errors`.",
            ),
            WebError::Stale { .. } => (
                StatusCode::CONFLICT,
                "stale",
                "Changed meanwhile",
                "Someone saved this record after you read it. `current` is what it holds now; \
                 apply your change to it and send its version.",
            ),
            WebError::Duplicate { .. } => (
                StatusCode::CONFLICT,
                "duplicate",
                "Already exists",
                "Another record already has this value.",
            ),
            WebError::NulCharacter { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "nul_character",
                "Not valid",
                "A field contains a NUL character (\\u0000, %00), which Aura does not accept.",
            ),
            WebError::InvalidIdempotencyKey => (
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Invalid Idempotency-Key",
                "The Idempotency-Key header must be 1 to 255 characters of text, e.g. a UUID.",
            ),
            WebError::IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency-Key used for another request",
                "This Idempotency-Key was used in the last 24 hours for a different request. \
                 Send a new key for a new request; resend the same request to get its answer.",
            ),
            WebError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "Too large",
                "The request is larger than the 2 MB Aura accepts.",
            ),
            WebError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "Aura is briefly unavailable",
                "We cannot reach our database right now. Nothing you sent was lost or half-saved; \
                 please try again in a few seconds.",
            ),
            WebError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong",
                "Something went wrong on our side. It has been logged; please try again.",
            ),
        }
    }

    /// The response in the form the client asked for: a page for browsers, else problem+json.
    pub(crate) fn render(&self, wants_html: bool) -> Response {
        self.render_in(wants_html, None)
    }

    /// As [`WebError::render`], the page in `chrome` when given (a workspace's header, so an
    /// error inside a workspace leads back into it), else in the apex's.
    pub(crate) fn render_in(&self, wants_html: bool, chrome: Option<Chrome>) -> Response {
        let (status, code, title, detail) = self.parts();
        let mut problem = Problem {
            kind: "about:blank",
            title,
            status: status.as_u16(),
            code,
            detail: detail.to_owned(),
            errors: None,
            current: None,
            field: None,
            existing_id: None,
        };
        // What a problem document carries beyond its status, code, title and detail.
        match self {
            WebError::NulCharacter { field } => {
                problem.detail = format!("“{field}” contains a NUL character (\\u0000, %00), which Aura does not accept. Remove it and send again.");
                problem.field = Some(field.clone());
            }
            WebError::InvalidFields(errors) => problem.errors = Some(errors.clone()),
            WebError::Stale { current } => problem.current = Some(current.clone()),
            WebError::Duplicate { field, existing } => {
                problem.detail = format!("Another record already has this {field}.");
                problem.field = Some((*field).to_owned());
                problem.existing_id = Some(*existing);
            }
            _ => {}
        }
        let mut response = if wants_html {
            let chrome = chrome.unwrap_or_else(|| Chrome::new(Section::None));
            Html(error_page(chrome, title, &problem.detail)).into_response()
        } else {
            let mut response = Json(problem).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/problem+json"),
            );
            response
        };
        *response.status_mut() = status;
        if let WebError::RateLimited { retry_after } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(*retry_after));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        response
    }
}

/// Handlers return `WebError` without the request at hand, so the response only carries it;
/// the `render_errors` middleware, which saw the request's `Accept` header, renders it.
impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, ..) = self.parts();
        let mut response = status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

pub async fn not_found() -> WebError {
    WebError::NotFound
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    title: &'static str,
    detail: &'a str,
}

fn error_page(chrome: Chrome, title: &'static str, detail: &str) -> String {
    let page = ErrorPage {
        chrome,
        title,
        detail,
    };
    // The error page is static text; should it ever fail to render, a bare heading still serves.
    askama::Template::render(&page).unwrap_or_else(|_| format!("<h1>{title}</h1>"))
}
