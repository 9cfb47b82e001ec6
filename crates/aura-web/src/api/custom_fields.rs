//! Custom field definitions over the API (F6.6, F7.6): anyone lists them, admins define and
//! archive them.

use aura_crm::custom_fields::{self, Definition, DefinitionId, DefinitionInput, Entity};
use aura_crm::WriteError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::activities::Logged;
use super::{created, ApiCaller, ApiJson, ApiQuery};
use crate::extract::Id;
use crate::{AppState, WebError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_custom_fields, define_custom_field))
        .routes(routes!(archive_custom_field))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomFieldQuery {
    /// `organization`, `contact` or `deal`.
    entity: String,
}

/// The workspace's custom fields for organizations or contacts (F6.6, F7.6): what
/// `custom_fields` in those records may hold.
#[utoipa::path(get, path = "/api/v1/custom-fields", tag = "custom fields",
    security(("bearer" = [])), params(CustomFieldQuery),
    responses((status = 200, body = Vec<Definition>), (status = 422)))]
async fn list_custom_fields(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(query): ApiQuery<CustomFieldQuery>,
) -> Result<Json<Vec<Definition>>, WebError> {
    let entity = Entity::parse(&query.entity).ok_or_else(|| {
        WebError::from(WriteError::<()>::invalid(
            "entity",
            "Say `organization`, `contact` or `deal`.",
        ))
    })?;
    Ok(Json(
        custom_fields::list(&state.db, caller.context, entity).await?,
    ))
}

/// Defines a custom field (admins).
#[utoipa::path(post, path = "/api/v1/custom-fields", tag = "custom fields",
    security(("bearer" = [])), request_body = DefinitionInput,
    responses((status = 201, body = Logged, description = "Defined; the body holds its id"),
              (status = 403), (status = 409, description = "The key is taken"), (status = 422)))]
async fn define_custom_field(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(input): ApiJson<DefinitionInput>,
) -> Result<Response, WebError> {
    let id = custom_fields::define(&state.db, caller.context, &input).await?;
    Ok(created(
        format!("/api/v1/custom-fields/{id}"),
        json!({ "id": id }),
    ))
}

/// Archives a custom field (admins): records keep their values, forms stop showing it.
#[utoipa::path(delete, path = "/api/v1/custom-fields/{id}", tag = "custom fields",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn archive_custom_field(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<DefinitionId>,
) -> Result<StatusCode, WebError> {
    custom_fields::archive(&state.db, caller.context, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
