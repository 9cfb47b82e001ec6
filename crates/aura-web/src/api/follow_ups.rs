//! Follow-ups over the API (issue 18): the caller's own open ones (overdue, due today, or all),
//! planning one on a contact or a deal, moving it, and completing it (which logs the activity).
//! The same repository functions as the pages, so the same rules: a rep reaches only their own
//! follow-ups (anything else is 404), invalid input is 422 with every field's problem.

use aura_crm::follow_ups::{self, Due, FollowUp, FollowUpInput};
use aura_crm::ids::{ActivityId, FollowUpId};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{created, param, ApiQuery};
use super::{ApiCaller, ApiJson};
use crate::extract::Id;
use crate::{AppState, WebError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mine, plan))
        .routes(routes!(get_follow_up))
        .routes(routes!(reschedule))
        .routes(routes!(complete))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MineQuery {
    /// `overdue` (due before today began, in the caller's time zone), `today`, or `open`
    /// (every open one, the default).
    due: Option<String>,
    /// How many to list: 25 unless given, at most 100.
    limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FollowUpList {
    /// The earliest due first.
    items: Vec<FollowUp>,
    /// How many there are in all (the list may show fewer).
    total: i64,
}

/// The caller's own open follow-ups.
#[utoipa::path(get, path = "/api/v1/follow-ups", tag = "follow-ups",
    security(("bearer" = [])), params(MineQuery),
    responses((status = 200, body = FollowUpList), (status = 401), (status = 422)))]
async fn list_mine(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(query): ApiQuery<MineQuery>,
) -> Result<Json<FollowUpList>, WebError> {
    let due = match query.due.as_deref().map(str::trim) {
        None | Some("" | "open") => Due::Open,
        Some("overdue") => Due::Overdue,
        Some("today") => Due::Today,
        Some(other) => {
            return Err(aura_crm::WriteError::<()>::invalid(
                "due",
                format!("`{other}` is not valid here: use overdue, today or open."),
            )
            .into())
        }
    };
    let list = follow_ups::mine(
        &state.db,
        caller.context,
        due,
        param("limit", query.limit.as_deref())?,
    )
    .await?;
    Ok(Json(FollowUpList {
        items: list.items,
        total: list.total,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Planned {
    #[schema(value_type = Uuid)]
    id: FollowUpId,
}

/// Plans a follow-up on a contact, a deal, or both. A sales rep plans only for themself, on
/// their own records.
#[utoipa::path(post, path = "/api/v1/follow-ups", tag = "follow-ups",
    security(("bearer" = [])), request_body = FollowUpInput,
    responses((status = 201, body = Planned), (status = 422, description = "Invalid fields")))]
async fn plan(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(input): ApiJson<FollowUpInput>,
) -> Result<Response, WebError> {
    let id = follow_ups::plan(&state.db, caller.context, &input).await?;
    Ok(created(format!("/api/v1/follow-ups/{id}"), Planned { id }))
}

/// One follow-up, open or done.
#[utoipa::path(get, path = "/api/v1/follow-ups/{id}", tag = "follow-ups",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = FollowUp), (status = 404)))]
async fn get_follow_up(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<FollowUpId>,
) -> Result<Json<FollowUp>, WebError> {
    follow_ups::get(&state.db, caller.context, id)
        .await?
        .map(Json)
        .ok_or(WebError::NotFound)
}

#[derive(Deserialize, ToSchema)]
pub struct Reschedule {
    /// The new due time.
    due_at: DateTime<Utc>,
}

/// Moves an open follow-up to another time. A done one is history: 404.
#[utoipa::path(post, path = "/api/v1/follow-ups/{id}/reschedule", tag = "follow-ups",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = Reschedule,
    responses((status = 204), (status = 404), (status = 422)))]
async fn reschedule(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<FollowUpId>,
    ApiJson(input): ApiJson<Reschedule>,
) -> Result<StatusCode, WebError> {
    follow_ups::reschedule(&state.db, caller.context, id, input.due_at).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema, Default)]
pub struct Completion {
    /// What came of it, added to the logged activity.
    #[serde(default)]
    note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Completed {
    /// The activity that records it (immutable, like every activity).
    #[schema(value_type = Uuid)]
    activity_id: ActivityId,
}

/// Completes an open follow-up: logs it as a done activity, now, by the caller, and marks it
/// done. A done follow-up cannot change any more: 404 when completed again.
#[utoipa::path(post, path = "/api/v1/follow-ups/{id}/complete", tag = "follow-ups",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = Completion,
    responses((status = 201, body = Completed), (status = 403, description = "The record is no longer yours"),
              (status = 404), (status = 422)))]
async fn complete(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<FollowUpId>,
    ApiJson(input): ApiJson<Completion>,
) -> Result<Response, WebError> {
    let activity_id =
        follow_ups::complete(&state.db, caller.context, id, input.note.as_deref()).await?;
    Ok(created(
        format!("/api/v1/follow-ups/{id}"),
        Completed { activity_id },
    ))
}
