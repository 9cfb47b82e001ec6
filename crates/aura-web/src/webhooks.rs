//! Settings -> Webhooks, for admins (issue 14): register an endpoint (its signing secret shown
//! once), switch it on or off, send it a test event, read its delivery log, delete it.

use askama::Template;
use aura_platform::permissions::Permission;
use aura_platform::webhooks::{
    self, Cursor, Delivery, Endpoint, NewEndpoint, WebhookError, EVENT_TYPES,
};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;

use crate::extract::{Id, MemberForm};
use crate::forms::{Errors, NoFields};
use crate::layout::{render, Chrome, Section};
use crate::session::Member;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings/webhooks", get(list_page).post(create))
        .route("/settings/webhooks/{id}", get(endpoint_page))
        .route("/settings/webhooks/{id}/enable", post(enable))
        .route("/settings/webhooks/{id}/disable", post(disable))
        .route("/settings/webhooks/{id}/test", post(send_test))
        .route("/settings/webhooks/{id}/delete", post(delete))
}

impl From<WebhookError> for WebError {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::NotAdmin => WebError::Forbidden,
            WebhookError::NotFound => WebError::NotFound,
            WebhookError::Db(err) => err.into(),
            // Handlers show a form's problems themselves; this is a bug if it happens.
            WebhookError::Invalid(_) => WebError::Internal,
        }
    }
}

#[derive(Deserialize, Default)]
struct EndpointForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    event_types: Vec<String>,
}

#[derive(Template)]
#[template(path = "webhooks/list.html")]
struct ListPage {
    chrome: Chrome,
    csrf_token: String,
    endpoints: Vec<Endpoint>,
    event_types: &'static [(&'static str, &'static str)],
    form: EndpointForm,
    errors: Errors,
    notice: Option<&'static str>,
    /// The endpoint just created and its secret, shown this once.
    created: Option<(Endpoint, String)>,
}

impl ListPage {
    /// Whether the form asks for `event_type` (kept when the form comes back with problems).
    fn chosen(&self, event_type: &str) -> bool {
        self.form.event_types.iter().any(|t| t == event_type)
    }
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

async fn list(
    state: &AppState,
    member: &Member,
    form: EndpointForm,
    errors: Errors,
) -> Result<ListPage, WebError> {
    Ok(ListPage {
        chrome: Chrome::for_member(Section::Settings, member),
        csrf_token: member.signed_in.csrf_token.clone(),
        endpoints: webhooks::list(&state.db, member.signed_in.context).await?,
        event_types: EVENT_TYPES,
        form,
        errors,
        notice: None,
        created: None,
    })
}

async fn list_page(
    State(state): State<AppState>,
    member: Member,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    member.require(Permission::EditSettings)?;
    let mut page = list(&state, &member, EndpointForm::default(), Errors::default()).await?;
    page.notice = match done.done.as_deref() {
        Some("deleted") => Some("The endpoint was deleted."),
        _ => None,
    };
    Ok(render(&page))
}

async fn create(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<EndpointForm>,
) -> Result<Response, WebError> {
    member.require(Permission::EditSettings)?;
    let input = NewEndpoint {
        url: form.url.clone(),
        description: form.description.clone(),
        event_types: form.event_types.clone(),
    };
    let context = member.signed_in.context;
    match webhooks::create(&state.db, context, &state.webhook_guard, &input).await {
        Ok(created) => {
            let mut page =
                list(&state, &member, EndpointForm::default(), Errors::default()).await?;
            page.created = Some((created.endpoint, created.secret));
            // The secret is in this page only: no cache may keep it.
            Ok(([(header::CACHE_CONTROL, "no-store")], render(&page)).into_response())
        }
        Err(WebhookError::Invalid(problems)) => {
            let mut errors = Errors::default();
            for (field, message) in problems {
                errors.add(field, message);
            }
            let page = list(&state, &member, form, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

/// A delivery as the log shows it.
struct LogRow {
    delivery: Delivery,
}

impl LogRow {
    fn event_label(&self) -> &str {
        let event_type = self.delivery.event_type.as_str();
        EVENT_TYPES
            .iter()
            .find(|(name, _)| *name == event_type)
            .map_or(event_type, |(_, label)| label)
    }

    fn status_label(&self) -> &'static str {
        match self.delivery.status.as_str() {
            "delivered" => "Delivered",
            "failed" => "Failed (gave up)",
            _ if self.delivery.attempts == 0 => "Waiting",
            _ => "Retrying",
        }
    }
}

#[derive(Template)]
#[template(path = "webhooks/endpoint.html")]
struct EndpointPage {
    chrome: Chrome,
    csrf_token: String,
    endpoint: Endpoint,
    rows: Vec<LogRow>,
    first_page: bool,
    next_query: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
struct LogQuery {
    after: Option<String>,
    done: Option<String>,
}

async fn endpoint_page(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<Uuid>,
    Query(query): Query<LogQuery>,
) -> Result<Response, WebError> {
    member.require(Permission::EditSettings)?;
    let context = member.signed_in.context;
    let endpoint = webhooks::get(&state.db, context, id).await?;
    // A cursor that does not parse starts from the newest delivery.
    let after = query.after.as_deref().and_then(Cursor::parse);
    let page = webhooks::deliveries(&state.db, context, id, after.as_ref()).await?;
    let page = EndpointPage {
        chrome: Chrome::for_member(Section::Settings, &member),
        csrf_token: member.signed_in.csrf_token.clone(),
        endpoint,
        rows: page
            .deliveries
            .into_iter()
            .map(|delivery| LogRow { delivery })
            .collect(),
        first_page: after.is_none(),
        next_query: page.next.map(|cursor| format!("after={cursor}")),
        notice: match query.done.as_deref() {
            Some("enabled") => Some("The endpoint is on: waiting deliveries go out now."),
            Some("disabled") => Some("The endpoint is off: its deliveries wait until it is on."),
            Some("test") => Some("A test event is on its way; it shows in the log below."),
            _ => None,
        },
    };
    Ok(render(&page))
}

async fn enable(
    State(state): State<AppState>,
    Id(id): Id<Uuid>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    member.require(Permission::EditSettings)?;
    webhooks::set_enabled(&state.db, member.signed_in.context, id, true).await?;
    Ok(Redirect::to(&format!("/settings/webhooks/{id}?done=enabled")).into_response())
}

async fn disable(
    State(state): State<AppState>,
    Id(id): Id<Uuid>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    member.require(Permission::EditSettings)?;
    webhooks::set_enabled(&state.db, member.signed_in.context, id, false).await?;
    Ok(Redirect::to(&format!("/settings/webhooks/{id}?done=disabled")).into_response())
}

async fn send_test(
    State(state): State<AppState>,
    Id(id): Id<Uuid>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    member.require(Permission::EditSettings)?;
    webhooks::send_test(&state.db, member.signed_in.context, id).await?;
    Ok(Redirect::to(&format!("/settings/webhooks/{id}?done=test")).into_response())
}

async fn delete(
    State(state): State<AppState>,
    Id(id): Id<Uuid>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    member.require(Permission::EditSettings)?;
    webhooks::delete(&state.db, member.signed_in.context, id).await?;
    Ok(Redirect::to("/settings/webhooks?done=deleted").into_response())
}
