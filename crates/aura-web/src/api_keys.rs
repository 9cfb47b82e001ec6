//! Settings -> API keys (issue 14): the workspace's admins create keys for integrations, see
//! when and from where each was last used, and revoke them. A new key's secret is shown once,
//! on the page that answers its creation, and is stored nowhere.

use askama::Template;
use aura_platform::api_keys::{self, ApiKeyId, KeyError, KeyRole, KeySummary, NewKey};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{NaiveDate, Utc};
use serde::Deserialize;

use crate::extract::{Id, MemberForm};
use crate::forms::{Errors, NoFields};
use crate::layout::{render, Chrome, Section};
use crate::session::Member;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings/api-keys", get(keys_page).post(create))
        .route("/settings/api-keys/{id}/revoke", post(revoke))
}

#[derive(Deserialize, Default)]
struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    /// A date (`YYYY-MM-DD`): the key works until the end of that day, in the member's time zone. Empty: no expiry.
    #[serde(default)]
    expires_on: String,
}

#[derive(Template)]
#[template(path = "api_keys/page.html")]
struct KeysPage {
    chrome: Chrome,
    csrf_token: String,
    keys: Vec<KeySummary>,
    roles: [KeyRole; 2],
    form: KeyForm,
    errors: Errors,
    /// The key just created, its secret shown this once.
    created: Option<Created>,
    notice: Option<&'static str>,
}

struct Created {
    name: String,
    secret: String,
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

fn refused(err: KeyError) -> WebError {
    match err {
        KeyError::NotAdmin => WebError::Forbidden,
        KeyError::NotFound => WebError::NotFound,
        KeyError::Db(err) => err.into(),
        KeyError::Invalid(..) => WebError::Internal,
    }
}

async fn page(
    state: &AppState,
    member: &Member,
    form: KeyForm,
    errors: Errors,
) -> Result<KeysPage, WebError> {
    let keys = api_keys::list(&state.db, member.signed_in.context)
        .await
        .map_err(refused)?;
    Ok(KeysPage {
        chrome: Chrome::for_member(Section::Settings, member),
        csrf_token: member.signed_in.csrf_token.clone(),
        keys,
        roles: KeyRole::ALL,
        form,
        errors,
        created: None,
        notice: None,
    })
}

async fn keys_page(
    State(state): State<AppState>,
    member: Member,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    let form = KeyForm {
        role: KeyRole::ReadOnly.as_str().into(),
        ..KeyForm::default()
    };
    let mut page = page(&state, &member, form, Errors::default()).await?;
    page.notice = match done.done.as_deref() {
        Some("revoked") => Some("The key was revoked: it is refused from now on."),
        _ => None,
    };
    Ok(render(&page))
}

async fn create(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<KeyForm>,
) -> Result<Response, WebError> {
    let mut errors = Errors::default();
    let role = KeyRole::parse(&form.role);
    if role.is_none() {
        errors.add("role", "Choose what the key may do.");
    }
    let expires_at = match form.expires_on.trim() {
        "" => None,
        text => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(date) => date
                .succ_opt()
                .and_then(|next| member.zone().read(&format!("{next}T00:00"))),
            Err(_) => {
                errors.add(
                    "expires_on",
                    "Give a date like 2027-01-31, or leave it empty.",
                );
                None
            }
        },
    };
    if expires_at.is_some_and(|at| at <= Utc::now()) {
        errors.add("expires_on", "The expiry must be today or later.");
    }
    if let (Some(role), true) = (role, errors.is_empty()) {
        let key = NewKey {
            name: form.name.clone(),
            role,
            expires_at,
        };
        match api_keys::create(&state.db, member.signed_in.context, &key).await {
            Ok(created) => {
                let mut page = page(&state, &member, KeyForm::default(), errors).await?;
                page.form.role = KeyRole::ReadOnly.as_str().into();
                page.created = Some(Created {
                    name: form.name.trim().to_owned(),
                    secret: created.secret,
                });
                let mut response = render(&page);
                // The secret is on this page only: no cache keeps it.
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                return Ok(response);
            }
            Err(KeyError::Invalid(field, message)) => {
                let field = if field == "expires_at" {
                    "expires_on"
                } else {
                    field
                };
                errors.add(field, message);
            }
            Err(other) => return Err(refused(other)),
        }
    }
    let page = page(&state, &member, form, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

async fn revoke(
    State(state): State<AppState>,
    Id(id): Id<ApiKeyId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    api_keys::revoke(&state.db, member.signed_in.context, id)
        .await
        .map_err(refused)?;
    Ok(Redirect::to("/settings/api-keys?done=revoked").into_response())
}
