//! Workspace exports over the API (NFR-D2): admins only (403 for anyone else). Starting one
//! takes a one-time code emailed by `POST /api/v1/exports/code`, or the admin's password where
//! no mail server carries codes; the export then runs in the background: poll it, then fetch
//! its file until it expires (410 after).

use aura_platform::auth::LoginSource;
use aura_platform::exports::{self, Export, ExportFormat, ExportId};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiCaller, ApiJson};
use crate::exports::{export_error, file_response};
use crate::extract::Id;
use crate::rate_limit::ClientAddress;
use crate::{AppState, WebError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_exports, start_export))
        .routes(routes!(request_export_code))
        .routes(routes!(get_export))
        .routes(routes!(export_file))
}

#[derive(Serialize, ToSchema)]
pub struct ExportList {
    /// The newest exports (at most 10), newest first.
    items: Vec<Export>,
}

/// The workspace's recent exports with their progress (admins).
#[utoipa::path(get, path = "/api/v1/exports", tag = "exports", security(("bearer" = [])),
    responses((status = 200, body = ExportList), (status = 401), (status = 403)))]
async fn list_exports(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<ExportList>, WebError> {
    Ok(Json(ExportList {
        items: exports::list(&state.db, caller.context)
            .await
            .map_err(export_error)?,
    }))
}

/// Emails the admin a one-time code to start an export (step-up). Only where a mail server
/// carries codes; elsewhere starting takes the admin's password (404 here).
#[utoipa::path(post, path = "/api/v1/exports/code", tag = "exports", security(("bearer" = [])),
    responses((status = 204, description = "The code is on its way"), (status = 403),
              (status = 404, description = "No mail server: use the password")))]
async fn request_export_code(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<StatusCode, WebError> {
    if !state.mailer.delivers() {
        return Err(WebError::NotFound);
    }
    let issued = exports::request_code(&state.db, caller.context)
        .await
        .map_err(export_error)?;
    state.mailer.deliver(&state.db, &issued.message).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct ExportRequest {
    /// `csv` (a zip of one CSV file per record type) or `jsonl` (JSON lines).
    format: ExportFormat,
    /// The one-time code emailed by `exports/code` (where a mail server carries codes).
    #[serde(default)]
    code: String,
    /// The admin's password (where no mail server carries codes).
    #[serde(default)]
    password: String,
}

/// Starts exporting the whole workspace (admins, step-up). Answers 202 with the export, whose
/// `status` goes from `queued` through `running` to `done` (or `failed`); one export at a time.
#[utoipa::path(post, path = "/api/v1/exports", tag = "exports", security(("bearer" = [])),
    request_body = ExportRequest,
    responses((status = 202, body = Export), (status = 403),
              (status = 409, description = "An export is already waiting or running"),
              (status = 422, description = "Wrong or missing code or password")))]
async fn start_export(
    State(state): State<AppState>,
    client: ClientAddress,
    caller: ApiCaller,
    ApiJson(request): ApiJson<ExportRequest>,
) -> Result<Response, WebError> {
    let source = LoginSource::from(client.ip());
    let proof = state.step_up_proof(&request.code, &request.password, &source);
    let id = exports::start(&state.db, caller.context, request.format, proof)
        .await
        .map_err(export_error)?;
    let export = exports::get(&state.db, caller.context, id)
        .await
        .map_err(export_error)?;
    let mut response = (StatusCode::ACCEPTED, Json(export)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/exports/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// One export and its progress (admins).
#[utoipa::path(get, path = "/api/v1/exports/{id}", tag = "exports", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Export), (status = 403), (status = 404)))]
async fn get_export(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ExportId>,
) -> Result<Json<Export>, WebError> {
    Ok(Json(
        exports::get(&state.db, caller.context, id)
            .await
            .map_err(export_error)?,
    ))
}

/// The finished export's file (admins): `application/zip` or `application/jsonl`, streamed.
/// Audited. 404 until it is done; 410 once it has expired.
#[utoipa::path(get, path = "/api/v1/exports/{id}/file", tag = "exports",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"),
              (status = 403), (status = 404, description = "No such export, or not finished"),
              (status = 410, description = "The file expired and was deleted")))]
async fn export_file(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ExportId>,
) -> Result<Response, WebError> {
    let download = exports::open_download(&state.db, caller.context, id)
        .await
        .map_err(export_error)?;
    Ok(file_response(
        &state,
        caller.context,
        caller.workspace.slug.as_str(),
        download,
    ))
}
