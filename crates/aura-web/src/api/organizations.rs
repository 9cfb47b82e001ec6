//! Organizations over the API (F6): the same repository functions as the pages, so the same
//! rules: a stale `version` is 409, invalid input is 422 with every field's problem, another
//! workspace's record is 404.

use aura_crm::activities::{Activity, Timeline};
use aura_crm::ids::OrganizationId;
use aura_crm::organizations::{
    self, Organization, OrganizationFilter, OrganizationInput, OrganizationRow,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{created, param, ApiCaller, ApiJson, ApiQuery, Page, PageQuery};
use crate::extract::Id;
use crate::{AppState, WebError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_organizations, create_organization))
        .routes(routes!(
            get_organization,
            update_organization,
            delete_organization
        ))
        .routes(routes!(restore_organization))
        .routes(routes!(organization_subsidiaries))
        .routes(routes!(organization_activities))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganizationQuery {
    /// Names starting with this, any case.
    name: Option<String>,
    /// Only this size band: `1-10`, `11-50`, `51-200`, `201-500`, `501-1000`, `1001-5000`,
    /// `5001+`.
    size: Option<String>,
    /// `name` (A to Z, the default) or `recent` (most recently changed first).
    sort: Option<String>,
    /// `true` lists the deleted ones, most recently deleted first.
    #[param(value_type = Option<bool>)]
    deleted: Option<String>,
}

/// Organizations by name or by last change, a page at a time.
#[utoipa::path(get, path = "/api/v1/organizations", tag = "organizations",
    security(("bearer" = [])), params(OrganizationQuery, PageQuery),
    responses((status = 200, body = Page<OrganizationRow>), (status = 401), (status = 422)))]
async fn list_organizations(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(query): ApiQuery<OrganizationQuery>,
    ApiQuery(paging): ApiQuery<PageQuery>,
) -> Result<Json<Page<OrganizationRow>>, WebError> {
    let (after, limit) = paging.parse()?;
    let filter = OrganizationFilter {
        name_prefix: query.name,
        size: param("size", query.size.as_deref())?,
        order: param("sort", query.sort.as_deref())?.unwrap_or_default(),
        deleted: param("deleted", query.deleted.as_deref())?.unwrap_or(false),
        after,
        limit,
    };
    let page = organizations::list(&state.db, caller.context, &filter).await?;
    Ok(Json(page.into()))
}

/// Creates an organization (any member).
#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations",
    security(("bearer" = [])), request_body = OrganizationInput,
    responses((status = 201, body = Organization), (status = 409, description = "The name is taken"),
              (status = 422, description = "Invalid fields")))]
async fn create_organization(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(input): ApiJson<OrganizationInput>,
) -> Result<Response, WebError> {
    let id = organizations::create(&state.db, caller.context, &input).await?;
    let organization = organizations::get(&state.db, caller.context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(created(format!("/api/v1/organizations/{id}"), organization))
}

/// One organization, deleted or not.
#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "organizations",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Organization), (status = 404)))]
async fn get_organization(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<OrganizationId>,
) -> Result<Json<Organization>, WebError> {
    organizations::get(&state.db, caller.context, id)
        .await?
        .map(Json)
        .ok_or(WebError::NotFound)
}

#[derive(Deserialize, ToSchema)]
pub struct OrganizationUpdate {
    /// The `version` read with the organization.
    version: i64,
    #[serde(flatten)]
    organization: OrganizationInput,
}

/// Replaces an organization's fields, if `version` is still current.
#[utoipa::path(put, path = "/api/v1/organizations/{id}", tag = "organizations",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = OrganizationUpdate,
    responses((status = 200, body = Organization), (status = 404),
              (status = 409, description = "Stale version (the body holds the current record) or a taken name"),
              (status = 422, description = "Invalid fields, or a parent that would make a loop")))]
async fn update_organization(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<OrganizationId>,
    ApiJson(update): ApiJson<OrganizationUpdate>,
) -> Result<Json<Organization>, WebError> {
    let saved = organizations::update(
        &state.db,
        caller.context,
        id,
        update.version,
        &update.organization,
    )
    .await?;
    Ok(Json(saved))
}

/// Deletes an organization (soft: it can be restored). Managers and admins.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}", tag = "organizations",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn delete_organization(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<OrganizationId>,
) -> Result<StatusCode, WebError> {
    organizations::set_deleted(&state.db, caller.context, id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restores a deleted organization. Managers and admins.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/restore", tag = "organizations",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404),
              (status = 409, description = "A live organization took its name meanwhile")))]
async fn restore_organization(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<OrganizationId>,
) -> Result<StatusCode, WebError> {
    organizations::set_deleted(&state.db, caller.context, id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization's live subsidiaries (F6.5).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/subsidiaries", tag = "organizations",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<OrganizationRow>), (status = 404)))]
async fn organization_subsidiaries(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<OrganizationId>,
) -> Result<Json<Vec<OrganizationRow>>, WebError> {
    organizations::get(&state.db, caller.context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(Json(
        organizations::subsidiaries(&state.db, caller.context, id).await?,
    ))
}

/// Activities logged while their contacts belonged to the organization, newest first (those
/// on contacts the caller may see).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/activities", tag = "organizations",
    security(("bearer" = [])), params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = Page<Activity>), (status = 404)))]
async fn organization_activities(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<OrganizationId>,
    ApiQuery(paging): ApiQuery<PageQuery>,
) -> Result<Json<Page<Activity>>, WebError> {
    organizations::get(&state.db, caller.context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    super::activities::timeline(&state, &caller, Timeline::Organization(id), paging).await
}
