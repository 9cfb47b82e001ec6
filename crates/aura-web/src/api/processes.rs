//! Sales processes and their stages over the API (F11). Every member reads them; only admins
//! (`ChangeCatalog`) change them (403 for anyone else). A stale `version` is 409 with the
//! current record; what the database refuses at commit (a process without an open, a won and
//! a lost stage; a workspace without a default) is 422 naming the field; a taken name is 409.

use aura_crm::ids::{ProcessId, StageId};
use aura_crm::processes::{self, OpenDealsChoice, Process, ProcessInput, Stage, StageInput};
use aura_platform::auth::LoginSource;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{created, ApiCaller, ApiJson, ApiQuery};
use crate::extract::Id;
use crate::rate_limit::ClientAddress;
use crate::{AppState, WebError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_processes, create_process))
        .routes(routes!(get_process, update_process, delete_process))
        .routes(routes!(make_default))
        .routes(routes!(archive_process))
        .routes(routes!(unarchive_process))
        .routes(routes!(request_deletion_code))
        .routes(routes!(add_stage))
        .routes(routes!(reorder_stages))
        .routes(routes!(update_stage, delete_stage))
}

/// A JSON body that may be left out (an empty body reads as the default).
fn optional_json<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, WebError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|_| WebError::MalformedBody)
}

#[derive(Serialize, ToSchema)]
pub struct ProcessList {
    /// The live processes: the default first, archived ones last, else by name. A workspace
    /// has at most 100, so this is one page.
    items: Vec<Process>,
}

/// The workspace's sales processes with their stages in order (any member).
#[utoipa::path(get, path = "/api/v1/processes", tag = "processes", security(("bearer" = [])),
    responses((status = 200, body = ProcessList), (status = 401)))]
async fn list_processes(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<ProcessList>, WebError> {
    Ok(Json(ProcessList {
        items: processes::list(&state.db, caller.context).await?,
    }))
}

/// Creates a sales process (admins) with the standard stages (Prospect, Qualified, Proposal,
/// Negotiation, Won, Lost) to edit. The workspace's first process becomes its default.
#[utoipa::path(post, path = "/api/v1/processes", tag = "processes", security(("bearer" = [])),
    request_body = ProcessInput,
    responses((status = 201, body = Process), (status = 403),
              (status = 409, description = "The name is taken"),
              (status = 422, description = "Invalid fields")))]
async fn create_process(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(input): ApiJson<ProcessInput>,
) -> Result<Response, WebError> {
    let id = processes::create(&state.db, caller.context, &input).await?;
    let process = processes::get(&state.db, caller.context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(created(format!("/api/v1/processes/{id}"), process))
}

/// One live sales process with its stages.
#[utoipa::path(get, path = "/api/v1/processes/{id}", tag = "processes",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Process), (status = 404)))]
async fn get_process(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ProcessId>,
) -> Result<Json<Process>, WebError> {
    processes::get(&state.db, caller.context, id)
        .await?
        .map(Json)
        .ok_or(WebError::NotFound)
}

#[derive(Deserialize, ToSchema)]
pub struct ProcessUpdate {
    /// The `version` read with the process.
    version: i64,
    #[serde(flatten)]
    process: ProcessInput,
}

/// Renames or redescribes a process (admins), if `version` is still current.
#[utoipa::path(patch, path = "/api/v1/processes/{id}", tag = "processes",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ProcessUpdate,
    responses((status = 200, body = Process), (status = 403), (status = 404),
              (status = 409, description = "Stale version (the body's `current` holds the process) or a taken name"),
              (status = 422, description = "Invalid fields")))]
async fn update_process(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ProcessId>,
    ApiJson(update): ApiJson<ProcessUpdate>,
) -> Result<Json<Process>, WebError> {
    Ok(Json(
        processes::update(
            &state.db,
            caller.context,
            id,
            update.version,
            &update.process,
        )
        .await?,
    ))
}

/// Makes the process the default for new deals (admins); the previous default stops being it
/// in the same change.
#[utoipa::path(post, path = "/api/v1/processes/{id}/default", tag = "processes",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404),
              (status = 422, description = "The process is archived")))]
async fn make_default(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ProcessId>,
) -> Result<StatusCode, WebError> {
    processes::make_default(&state.db, caller.context, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Archives a process (admins): its deals stay, no new deal goes into it.
#[utoipa::path(post, path = "/api/v1/processes/{id}/archive", tag = "processes",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404),
              (status = 422, description = "The default process cannot be archived")))]
async fn archive_process(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ProcessId>,
) -> Result<StatusCode, WebError> {
    processes::set_archived(&state.db, caller.context, id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Brings an archived process back (admins).
#[utoipa::path(post, path = "/api/v1/processes/{id}/unarchive", tag = "processes",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn unarchive_process(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ProcessId>,
) -> Result<StatusCode, WebError> {
    processes::set_archived(&state.db, caller.context, id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Emails the admin a one-time code to delete the process (step-up). Only where a mail server
/// carries codes; elsewhere deletion takes the admin's password (404 here).
#[utoipa::path(post, path = "/api/v1/processes/{id}/deletion-code", tag = "processes",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "The code is on its way"), (status = 403),
              (status = 404, description = "No such process, or no mail server: use the password")))]
async fn request_deletion_code(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ProcessId>,
) -> Result<StatusCode, WebError> {
    if !state.mailer.delivers() {
        return Err(WebError::NotFound);
    }
    let issued = processes::request_deletion_code(&state.db, caller.context, id).await?;
    state.mailer.deliver(&state.db, &issued.message).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default, ToSchema)]
pub struct ProcessDeletion {
    /// The one-time code emailed by `deletion-code` (where a mail server carries codes).
    #[serde(default)]
    code: String,
    /// The admin's password (where no mail server carries codes).
    #[serde(default)]
    password: String,
    /// Required while the process has open deals: they are all closed as lost, here.
    #[serde(flatten)]
    open_deals: OpenDealsChoice,
}

#[derive(Serialize, ToSchema)]
pub struct ProcessDeleted {
    /// How many open deals were closed as lost.
    deals_closed: u64,
}

/// Deletes a process (admins, step-up). Its closed deals stay bound to it; its open deals are
/// closed as lost in `lost_stage_id` (one of its lost stages) with `lost_reason`, which are
/// required while it has any. The default process cannot be deleted.
#[utoipa::path(delete, path = "/api/v1/processes/{id}", tag = "processes",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ProcessDeletion,
    responses((status = 200, body = ProcessDeleted), (status = 403), (status = 404),
              (status = 422, description = "Wrong or missing code or password, no choice for open deals, or the default process")))]
async fn delete_process(
    State(state): State<AppState>,
    client: ClientAddress,
    caller: ApiCaller,
    Id(id): Id<ProcessId>,
    body: Bytes,
) -> Result<Json<ProcessDeleted>, WebError> {
    let deletion: ProcessDeletion = optional_json(&body)?;
    let source = LoginSource::from(client.ip());
    let proof = state.step_up_proof(&deletion.code, &deletion.password, &source);
    let deals_closed =
        processes::delete(&state.db, caller.context, id, proof, &deletion.open_deals).await?;
    Ok(Json(ProcessDeleted { deals_closed }))
}

/// Adds a stage at the end of the process (admins).
#[utoipa::path(post, path = "/api/v1/processes/{id}/stages", tag = "processes",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = StageInput,
    responses((status = 201, body = Stage), (status = 403), (status = 404),
              (status = 409, description = "The process has a stage of this name"),
              (status = 422, description = "Invalid fields")))]
async fn add_stage(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ProcessId>,
    ApiJson(input): ApiJson<StageInput>,
) -> Result<Response, WebError> {
    let stage_id = processes::add_stage(&state.db, caller.context, id, &input).await?;
    let stage = processes::get(&state.db, caller.context, id)
        .await?
        .and_then(|p| p.stages.into_iter().find(|s| s.id == stage_id))
        .ok_or(WebError::NotFound)?;
    Ok(created(format!("/api/v1/stages/{stage_id}"), stage))
}

#[derive(Deserialize, ToSchema)]
pub struct StageOrder {
    /// Every live stage of the process, once, in the new order.
    #[schema(value_type = Vec<Uuid>)]
    stage_ids: Vec<StageId>,
}

/// Puts the process's stages in a new order (admins).
#[utoipa::path(put, path = "/api/v1/processes/{id}/stages/order", tag = "processes",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = StageOrder,
    responses((status = 200, body = Process), (status = 403), (status = 404),
              (status = 422, description = "The list is not every live stage once")))]
async fn reorder_stages(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ProcessId>,
    ApiJson(order): ApiJson<StageOrder>,
) -> Result<Json<Process>, WebError> {
    Ok(Json(
        processes::reorder(&state.db, caller.context, id, &order.stage_ids).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct StageUpdate {
    /// The `version` read with the stage.
    version: i64,
    #[serde(flatten)]
    stage: StageInput,
}

/// Changes a stage's settings (admins), if `version` is still current. A rename does not
/// rewrite history: closed deals and stage history keep the name they had.
#[utoipa::path(patch, path = "/api/v1/stages/{id}", tag = "processes",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = StageUpdate,
    responses((status = 200, body = Stage), (status = 403), (status = 404),
              (status = 409, description = "Stale version (the body's `current` holds the stage) or a taken name"),
              (status = 422, description = "Invalid fields, an outcome change on a stage with deals, or a process left without an open, won or lost stage")))]
async fn update_stage(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<StageId>,
    ApiJson(update): ApiJson<StageUpdate>,
) -> Result<Json<Stage>, WebError> {
    Ok(Json(
        processes::update_stage(&state.db, caller.context, id, update.version, &update.stage)
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StageDeletion {
    /// Required while live deals are in the stage: another stage of the same process, where
    /// they move (each with a stage history entry).
    #[param(value_type = Option<uuid::Uuid>)]
    target_stage_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StageDeleted {
    /// How many deals moved to the target stage.
    deals_moved: u64,
}

/// Deletes a stage (admins). The last open, won or lost stage of a process cannot go (422).
#[utoipa::path(delete, path = "/api/v1/stages/{id}", tag = "processes",
    security(("bearer" = [])), params(("id" = Uuid, Path), StageDeletion),
    responses((status = 200, body = StageDeleted), (status = 403), (status = 404),
              (status = 422, description = "Deals are in the stage and no target was named, or it is the process's last open, won or lost stage")))]
async fn delete_stage(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<StageId>,
    ApiQuery(query): ApiQuery<StageDeletion>,
) -> Result<Json<StageDeleted>, WebError> {
    let target = match query
        .target_stage_id
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        None => None,
        Some(raw) => Some(raw.parse::<StageId>().map_err(|_| {
            WebError::from(aura_crm::WriteError::<()>::invalid(
                "target_stage_id",
                "Name a stage by its id.",
            ))
        })?),
    };
    let deals_moved = processes::delete_stage(&state.db, caller.context, id, target).await?;
    Ok(Json(StageDeleted { deals_moved }))
}
