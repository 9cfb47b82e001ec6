//! Activities over the API (F10): a contact's timeline, logging and deleting; an organization's
//! timeline is served by `organizations` through [`timeline`]. Activities cannot be edited.

use aura_crm::activities::{self, Activity, ActivityInput, Timeline};
use aura_crm::contacts;
use aura_crm::ids::{ActivityId, ContactId};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{created, ApiCaller, ApiJson, ApiQuery, Page, PageQuery};
use crate::extract::Id;
use crate::{AppState, WebError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(contact_activities, log_activity))
        .routes(routes!(delete_activity))
}

/// The contact's activities, newest first (F10.3).
#[utoipa::path(get, path = "/api/v1/contacts/{id}/activities", tag = "contacts",
    security(("bearer" = [])), params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = Page<Activity>), (status = 404)))]
async fn contact_activities(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ContactId>,
    ApiQuery(paging): ApiQuery<PageQuery>,
) -> Result<Json<Page<Activity>>, WebError> {
    contacts::get(&state.db, caller.context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    timeline(&state, &caller, Timeline::Contact(id), paging).await
}

#[derive(Serialize, ToSchema)]
pub struct Logged {
    #[schema(value_type = Uuid)]
    id: ActivityId,
}

/// Logs an activity on the contact (F10.1). Activities cannot be edited afterwards.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/activities", tag = "contacts",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ActivityInput,
    responses((status = 201, body = Logged), (status = 404), (status = 422)))]
async fn log_activity(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(contact): Id<ContactId>,
    ApiJson(input): ApiJson<ActivityInput>,
) -> Result<Response, WebError> {
    let id = activities::log(&state.db, caller.context, contact, &input).await?;
    Ok(created(
        format!("/api/v1/contacts/{contact}/activities"),
        Logged { id },
    ))
}

/// Deletes an activity (soft, audited with what it said).
#[utoipa::path(delete, path = "/api/v1/activities/{id}", tag = "contacts",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404)))]
async fn delete_activity(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ActivityId>,
) -> Result<StatusCode, WebError> {
    activities::delete(&state.db, caller.context, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of a contact's or an organization's activities, newest first.
pub(super) async fn timeline(
    state: &AppState,
    caller: &ApiCaller,
    of: Timeline,
    paging: PageQuery,
) -> Result<Json<Page<Activity>>, WebError> {
    let (after, limit) = paging.parse()?;
    let page = activities::timeline(&state.db, caller.context, of, after.as_ref(), limit).await?;
    Ok(Json(page.into()))
}
