//! Deals over the API (F8, F9, F11): the same repository functions as the pages, so the same
//! rules. A rep reaches only their own deals (anything else is 404, as if it did not exist),
//! a stale `version` is 409 with the current record, invalid input is 422 with every field's
//! problem (a stage move names the fields the target stage requires), and a deal's process
//! never changes.

use aura_crm::activities::{self, Activity, ActivityInput, Timeline};
use aura_crm::deals::{
    self, ContactRole, Deal, DealDetail, DealFilter, DealInput, StageMove, StageMoveInput,
};
use aura_crm::ids::{ActivityId, ContactId, DealId};
use aura_crm::WriteError;
use aura_platform::ids::UserId;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{created, param, ApiCaller, ApiJson, ApiQuery, Page, PageQuery};
use crate::extract::{Id, Ids};
use crate::{refusals, AppState, WebError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_deals, create_deal))
        .routes(routes!(reassign_deals))
        .routes(routes!(get_deal, update_deal, delete_deal))
        .routes(routes!(restore_deal))
        .routes(routes!(move_deal))
        .routes(routes!(link_contact, unlink_contact))
        .routes(routes!(deal_history))
        .routes(routes!(deal_activities, log_deal_activity))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DealQuery {
    /// Deals whose name, or whose organization's name, starts with this (any case); results
    /// are by name.
    search: Option<String>,
    /// Only this sales process's deals (all processes if left out).
    #[param(value_type = Option<Uuid>)]
    process_id: Option<String>,
    #[param(value_type = Option<Uuid>)]
    stage_id: Option<String>,
    /// Only this member's deals (managers and admins; a rep only ever gets their own).
    #[param(value_type = Option<Uuid>)]
    assigned_to: Option<String>,
    #[param(value_type = Option<Uuid>)]
    organization_id: Option<String>,
    /// Probability at least this (percent).
    #[param(value_type = Option<f64>, minimum = 0, maximum = 100)]
    probability_min: Option<String>,
    /// Probability at most this (percent).
    #[param(value_type = Option<f64>, minimum = 0, maximum = 100)]
    probability_max: Option<String>,
    /// Expected close date on or after this (`YYYY-MM-DD`).
    #[param(value_type = Option<chrono::NaiveDate>)]
    close_from: Option<String>,
    /// Expected close date on or before this (`YYYY-MM-DD`).
    #[param(value_type = Option<chrono::NaiveDate>)]
    close_to: Option<String>,
    /// `open`, `won` or `lost`.
    outcome: Option<String>,
    /// `true`: only open deals longer in their stage than its rotting threshold.
    #[param(value_type = Option<bool>)]
    rotting: Option<String>,
    /// `name` (A to Z, the default), `amount` (largest first), `close_date` (soonest first) or
    /// `recent` (most recently changed first).
    sort: Option<String>,
    /// `true` lists the deleted ones, most recently deleted first.
    #[param(value_type = Option<bool>)]
    deleted: Option<String>,
}

/// Deals, a page at a time: all of the workspace's for managers and admins, a rep's own for a
/// rep (F9.3-F9.4), filtered, searched and sorted (F8.3).
#[utoipa::path(get, path = "/api/v1/deals", tag = "deals",
    security(("bearer" = [])), params(DealQuery, PageQuery),
    responses((status = 200, body = Page<Deal>), (status = 401), (status = 422)))]
async fn list_deals(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(query): ApiQuery<DealQuery>,
    ApiQuery(paging): ApiQuery<PageQuery>,
) -> Result<Json<Page<Deal>>, WebError> {
    let (after, limit) = paging.parse()?;
    let filter = DealFilter {
        search: query.search,
        process_id: param("process_id", query.process_id.as_deref())?,
        stage_id: param("stage_id", query.stage_id.as_deref())?,
        assigned_to: param::<Uuid>("assigned_to", query.assigned_to.as_deref())?.map(UserId::from),
        organization_id: param("organization_id", query.organization_id.as_deref())?,
        probability_min: param("probability_min", query.probability_min.as_deref())?,
        probability_max: param("probability_max", query.probability_max.as_deref())?,
        close_from: param("close_from", query.close_from.as_deref())?,
        close_to: param("close_to", query.close_to.as_deref())?,
        outcome: param("outcome", query.outcome.as_deref())?,
        rotting: param("rotting", query.rotting.as_deref())?.unwrap_or(false),
        order: param("sort", query.sort.as_deref())?.unwrap_or_default(),
        deleted: param("deleted", query.deleted.as_deref())?.unwrap_or(false),
        after,
        limit,
    };
    let page = deals::list(&state.db, caller.context, &filter).await?;
    Ok(Json(page.into()))
}

/// Creates a deal in a sales process (the default one unless `process_id` names another; it
/// never changes afterwards), in `stage_id` or the process's first open stage, assigned to the
/// caller unless `assigned_to` says otherwise (managers and admins only).
#[utoipa::path(post, path = "/api/v1/deals", tag = "deals",
    security(("bearer" = [])), request_body = DealInput,
    responses((status = 201, body = DealDetail),
              (status = 403, description = "A rep creating a deal for someone else"),
              (status = 422, description = "Invalid fields, a stage of another process, or fields the stage requires")))]
async fn create_deal(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(input): ApiJson<DealInput>,
) -> Result<Response, WebError> {
    let id = deals::create(&state.db, caller.context, &input).await?;
    let deal = deals::get(&state.db, caller.context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(created(format!("/api/v1/deals/{id}"), deal))
}

/// One deal, deleted or not, if the caller may see it: with its process's stages (for a stage
/// bar), the contacts the caller may see and how many others are linked.
#[utoipa::path(get, path = "/api/v1/deals/{id}", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = DealDetail), (status = 404)))]
async fn get_deal(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<DealId>,
) -> Result<Json<DealDetail>, WebError> {
    deals::get(&state.db, caller.context, id)
        .await?
        .map(Json)
        .ok_or(WebError::NotFound)
}

/// The body of an edit, for the OpenAPI document: the handler reads it as a JSON object, so
/// that a field left out keeps its value and a null clears it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DealUpdate {
    /// The `version` read with the deal.
    version: i64,
    #[serde(flatten)]
    deal: DealInput,
}

/// Changes the fields the body gives, if `version` is still current; fields left out keep
/// their value (null clears one). `process_id` and `stage_id` may only repeat the deal's own:
/// the process never changes, and the stage moves with `POST /api/v1/deals/{id}/stage`. A new
/// `assigned_to` reassigns the deal (managers and admins; audited).
#[utoipa::path(patch, path = "/api/v1/deals/{id}", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = DealUpdate,
    responses((status = 200, body = Deal), (status = 403), (status = 404),
              (status = 409, description = "Stale version: the body's `current` is the deal as it is now"),
              (status = 422, description = "Invalid fields, another process or stage, or a field the stage requires cleared")))]
async fn update_deal(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<DealId>,
    ApiJson(mut patch): ApiJson<Map<String, Value>>,
) -> Result<Json<Deal>, WebError> {
    let version = patch
        .remove("version")
        .and_then(|v| v.as_i64())
        .ok_or_else(|| {
            WebError::from(WriteError::<()>::invalid(
                "version",
                "Send the `version` read with the deal.",
            ))
        })?;
    let current = deals::find(&state.db, caller.context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    // The deal as it is, as input, with the body's fields over it. Contacts and custom fields
    // left out are left alone by the update itself.
    let mut merged = match serde_json::to_value(DealInput {
        name: current.name.clone(),
        amount: current.amount,
        process_id: Some(current.process_id),
        stage_id: Some(current.stage_id),
        probability: current.probability_set.then_some(current.probability),
        expected_close_date: current.expected_close_date,
        organization_id: current.organization_id,
        assigned_to: Some(current.assigned_to),
        notes: current.notes.clone(),
        custom_fields: None,
        contacts: None,
        lost_reason: current.lost_reason.clone(),
        lines: None,
    }) {
        Ok(Value::Object(map)) => map,
        _ => return Err(WebError::Internal),
    };
    merged.extend(patch);
    let input: DealInput =
        serde_json::from_value(Value::Object(merged)).map_err(|_| WebError::MalformedBody)?;
    let saved = deals::update(&state.db, caller.context, id, version, &input).await?;
    Ok(Json(saved))
}

/// Deletes a deal (soft: it can be restored).
#[utoipa::path(delete, path = "/api/v1/deals/{id}", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404)))]
async fn delete_deal(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<DealId>,
) -> Result<StatusCode, WebError> {
    deals::set_deleted(&state.db, caller.context, id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restores a deleted deal.
#[utoipa::path(post, path = "/api/v1/deals/{id}/restore", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404)))]
async fn restore_deal(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<DealId>,
) -> Result<StatusCode, WebError> {
    deals::set_deleted(&state.db, caller.context, id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves the deal to another stage of its process, over `version` (F8.8): the stage's
/// required fields are checked and the missing ones named; a lost stage needs `lost_reason`.
/// Closing a deal won or lost is a move to a won or lost stage. Writes a stage history row.
#[utoipa::path(post, path = "/api/v1/deals/{id}/stage", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = StageMoveInput,
    responses((status = 200, body = Deal), (status = 404),
              (status = 409, description = "Stale version: the body's `current` is the deal as it is now"),
              (status = 422, description = "A stage of another process, fields the stage requires, or no lost reason")))]
async fn move_deal(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<DealId>,
    ApiJson(input): ApiJson<StageMoveInput>,
) -> Result<Json<Deal>, WebError> {
    Ok(Json(
        deals::move_to_stage(&state.db, caller.context, id, &input).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct DealReassignment {
    #[schema(value_type = Vec<Uuid>)]
    ids: Vec<DealId>,
    #[schema(value_type = Uuid)]
    assigned_to: UserId,
}

#[derive(Serialize, ToSchema)]
pub struct DealsReassigned {
    /// How many deals changed hands (those already the member's are left alone).
    reassigned: u64,
}

/// Gives deals to a member (F8.6, F9.5): managers and admins, at most 500 at a time, each
/// change audited. The deals' contact links, history and activities follow.
#[utoipa::path(post, path = "/api/v1/deals/reassign", tag = "deals",
    security(("bearer" = [])), request_body = DealReassignment,
    responses((status = 200, body = DealsReassigned), (status = 403),
              (status = 404, description = "An id names no deal the caller may see"), (status = 422)))]
async fn reassign_deals(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(request): ApiJson<DealReassignment>,
) -> Result<Json<DealsReassigned>, WebError> {
    match deals::reassign(&state.db, caller.context, &request.ids, request.assigned_to).await {
        Ok(reassigned) => Ok(Json(DealsReassigned { reassigned })),
        Err(WriteError::NotFound) => {
            let ids: Vec<Uuid> = request.ids.iter().map(DealId::as_uuid).collect();
            refusals::record_named(&state, caller.context, &ids).await;
            Err(WebError::NotFound)
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct DealContactLink {
    /// `decision_maker`, `influencer`, `technical`, `finance` or `other` (the default).
    #[serde(default)]
    role: ContactRole,
}

/// Links a contact to the deal with a role, or changes its role. A rep links only their own
/// contacts to their own deals.
#[utoipa::path(put, path = "/api/v1/deals/{id}/contacts/{contact_id}", tag = "deals",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("contact_id" = Uuid, Path)), request_body = DealContactLink,
    responses((status = 204), (status = 404), (status = 422, description = "No such contact the caller may link")))]
async fn link_contact(
    State(state): State<AppState>,
    caller: ApiCaller,
    Ids(deal, contact): Ids<DealId, ContactId>,
    ApiJson(link): ApiJson<DealContactLink>,
) -> Result<StatusCode, WebError> {
    deals::link_contact(&state.db, caller.context, deal, contact, link.role).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unlinks a contact from the deal.
#[utoipa::path(delete, path = "/api/v1/deals/{id}/contacts/{contact_id}", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path), ("contact_id" = Uuid, Path)),
    responses((status = 204), (status = 404)))]
async fn unlink_contact(
    State(state): State<AppState>,
    caller: ApiCaller,
    Ids(deal, contact): Ids<DealId, ContactId>,
) -> Result<StatusCode, WebError> {
    deals::unlink_contact(&state.db, caller.context, deal, contact).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The deal's stage moves, newest first (F8.8): from, to, who, when, time in the stage left.
#[utoipa::path(get, path = "/api/v1/deals/{id}/history", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = Page<StageMove>), (status = 404), (status = 422)))]
async fn deal_history(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<DealId>,
    ApiQuery(paging): ApiQuery<PageQuery>,
) -> Result<Json<Page<StageMove>>, WebError> {
    let (after, limit) = paging.parse()?;
    let page = deals::history(&state.db, caller.context, id, after.as_ref(), limit)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(Json(page.into()))
}

/// Activities logged on the deal, newest first.
#[utoipa::path(get, path = "/api/v1/deals/{id}/activities", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = Page<Activity>), (status = 404), (status = 422)))]
async fn deal_activities(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<DealId>,
    ApiQuery(paging): ApiQuery<PageQuery>,
) -> Result<Json<Page<Activity>>, WebError> {
    deals::find(&state.db, caller.context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let (after, limit) = paging.parse()?;
    let page = activities::timeline(
        &state.db,
        caller.context,
        Timeline::Deal(id),
        after.as_ref(),
        limit,
    )
    .await?;
    Ok(Json(page.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct DealActivityInput {
    /// One of the deal's contacts the activity was with; it then shows on their timeline too.
    #[schema(value_type = Option<Uuid>)]
    contact_id: Option<ContactId>,
    #[serde(flatten)]
    activity: ActivityInput,
}

#[derive(Serialize, ToSchema)]
pub struct DealActivityLogged {
    #[schema(value_type = Uuid)]
    id: ActivityId,
}

/// Logs an activity on the deal, optionally with one of its contacts. Activities cannot be
/// edited afterwards.
#[utoipa::path(post, path = "/api/v1/deals/{id}/activities", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = DealActivityInput,
    responses((status = 201, body = DealActivityLogged), (status = 404), (status = 422)))]
async fn log_deal_activity(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(deal): Id<DealId>,
    ApiJson(input): ApiJson<DealActivityInput>,
) -> Result<Response, WebError> {
    let id = activities::log_on_deal(
        &state.db,
        caller.context,
        deal,
        input.contact_id,
        &input.activity,
    )
    .await?;
    Ok(created(
        format!("/api/v1/deals/{deal}/activities"),
        DealActivityLogged { id },
    ))
}
