//! The CRM's records over the API: organizations, contacts and their activities. The same
//! repository functions as the pages, so the same rules: a rep reaches only their own contacts
//! (anything else is 404, as if it did not exist), a stale `version` is 409, invalid input is
//! 422 with every field's problem.

use aura_crm::activities::{self, Activity, ActivityInput, Timeline};
use aura_crm::contacts::{self, Contact, ContactFilter, ContactInput};
use aura_crm::custom_fields::{self, Definition, DefinitionId, DefinitionInput, Entity};
use aura_crm::ids::{ActivityId, ContactId, OrganizationId};
use aura_crm::organizations::{
    self, Organization, OrganizationFilter, OrganizationInput, OrganizationRow,
};
use aura_crm::WriteError;
use aura_platform::ids::UserId;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{created, param, ApiCaller, ApiJson, ApiQuery, Page, PageQuery};
use crate::extract::Id;
use crate::{refusals, AppState, WebError};

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
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(reassign_contacts))
        .routes(routes!(get_contact, update_contact, delete_contact))
        .routes(routes!(restore_contact))
        .routes(routes!(contact_activities, log_activity))
        .routes(routes!(delete_activity))
        .routes(routes!(list_custom_fields, define_custom_field))
        .routes(routes!(archive_custom_field))
}

// Organizations ------------------------------------------------------------------------------

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
    timeline(&state, &caller, Timeline::Organization(id), paging).await
}

async fn timeline(
    state: &AppState,
    caller: &ApiCaller,
    of: Timeline,
    paging: PageQuery,
) -> Result<Json<Page<Activity>>, WebError> {
    let (after, limit) = paging.parse()?;
    let page = activities::timeline(&state.db, caller.context, of, after.as_ref(), limit).await?;
    Ok(Json(page.into()))
}

// Contacts -----------------------------------------------------------------------------------

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    /// Contacts whose first or last name, email, phone or company starts with this.
    search: Option<String>,
    /// Only this member's contacts (managers and admins; a rep only ever gets their own).
    #[param(value_type = Option<Uuid>)]
    assigned_to: Option<String>,
    /// Only this organization's contacts.
    #[param(value_type = Option<Uuid>)]
    organization_id: Option<String>,
    /// `name` (by last name, the default) or `recent` (most recently changed first).
    sort: Option<String>,
    /// `true` lists the deleted ones, most recently deleted first.
    #[param(value_type = Option<bool>)]
    deleted: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ContactList {
    items: Vec<Contact>,
    /// Pass as `after` for the next page (an opaque cursor); null on the last page.
    next: Option<String>,
    /// The search matched no contact's start; these are similar names instead.
    similar: bool,
}

/// Contacts by last name or by last change, a page at a time: all of the tenant's for managers
/// and admins, a rep's own for a rep (F9.3-F9.4). Search results are by name.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts",
    security(("bearer" = [])), params(ContactQuery, PageQuery),
    responses((status = 200, body = ContactList), (status = 401), (status = 422)))]
async fn list_contacts(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(query): ApiQuery<ContactQuery>,
    ApiQuery(paging): ApiQuery<PageQuery>,
) -> Result<Json<ContactList>, WebError> {
    let (after, limit) = paging.parse()?;
    let filter = ContactFilter {
        search: query.search,
        assigned_to: param::<Uuid>("assigned_to", query.assigned_to.as_deref())?.map(UserId::from),
        organization_id: param("organization_id", query.organization_id.as_deref())?,
        order: param("sort", query.sort.as_deref())?.unwrap_or_default(),
        deleted: param("deleted", query.deleted.as_deref())?.unwrap_or(false),
        after,
        limit,
    };
    let list = contacts::list(&state.db, caller.context, &filter).await?;
    Ok(Json(ContactList {
        items: list.page.items,
        next: list.page.next.map(|cursor| cursor.to_string()),
        similar: list.similar,
    }))
}

/// Creates a contact, assigned to the caller unless `assigned_to` says otherwise (managers
/// and admins only).
#[utoipa::path(post, path = "/api/v1/contacts", tag = "contacts",
    security(("bearer" = [])), request_body = ContactInput,
    responses((status = 201, body = Contact), (status = 403, description = "A rep assigning to someone else"),
              (status = 409, description = "A live contact has this email; `existing_id` names it if the caller may see it"),
              (status = 422, description = "Invalid fields")))]
async fn create_contact(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(input): ApiJson<ContactInput>,
) -> Result<Response, WebError> {
    let id = contacts::create(&state.db, caller.context, &input).await?;
    let contact = contacts::get(&state.db, caller.context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(created(format!("/api/v1/contacts/{id}"), contact))
}

/// One contact, deleted or not, if the caller may see it.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Contact), (status = 404)))]
async fn get_contact(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ContactId>,
) -> Result<Json<Contact>, WebError> {
    contacts::get(&state.db, caller.context, id)
        .await?
        .map(Json)
        .ok_or(WebError::NotFound)
}

#[derive(Deserialize, ToSchema)]
pub struct ContactUpdate {
    /// The `version` read with the contact.
    version: i64,
    #[serde(flatten)]
    contact: ContactInput,
}

/// Replaces a contact's fields, if `version` is still current. A new `assigned_to` reassigns
/// it (managers and admins; audited).
#[utoipa::path(put, path = "/api/v1/contacts/{id}", tag = "contacts",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ContactUpdate,
    responses((status = 200, body = Contact), (status = 403), (status = 404),
              (status = 409, description = "Stale version (the body holds the current record) or a taken email"),
              (status = 422, description = "Invalid fields")))]
async fn update_contact(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ContactId>,
    ApiJson(update): ApiJson<ContactUpdate>,
) -> Result<Json<Contact>, WebError> {
    let saved = contacts::update(
        &state.db,
        caller.context,
        id,
        update.version,
        &update.contact,
    )
    .await?;
    Ok(Json(saved))
}

/// Deletes a contact (soft: it can be restored).
#[utoipa::path(delete, path = "/api/v1/contacts/{id}", tag = "contacts",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404)))]
async fn delete_contact(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ContactId>,
) -> Result<StatusCode, WebError> {
    contacts::set_deleted(&state.db, caller.context, id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restores a deleted contact.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/restore", tag = "contacts",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404),
              (status = 409, description = "A live contact took its email meanwhile")))]
async fn restore_contact(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ContactId>,
) -> Result<StatusCode, WebError> {
    contacts::set_deleted(&state.db, caller.context, id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct Reassignment {
    #[schema(value_type = Vec<Uuid>)]
    ids: Vec<ContactId>,
    #[schema(value_type = Uuid)]
    assigned_to: UserId,
}

#[derive(Serialize, ToSchema)]
pub struct Reassigned {
    /// How many contacts changed hands (those already the member's are left alone).
    reassigned: u64,
}

/// Gives contacts to a member (F9.5): managers and admins, at most 500 at a time, each change
/// audited.
#[utoipa::path(post, path = "/api/v1/contacts/reassign", tag = "contacts",
    security(("bearer" = [])), request_body = Reassignment,
    responses((status = 200, body = Reassigned), (status = 403), (status = 422)))]
async fn reassign_contacts(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(request): ApiJson<Reassignment>,
) -> Result<Json<Reassigned>, WebError> {
    match contacts::reassign(&state.db, caller.context, &request.ids, request.assigned_to).await {
        Ok(reassigned) => Ok(Json(Reassigned { reassigned })),
        Err(WriteError::NotFound) => {
            let ids: Vec<Uuid> = request.ids.iter().map(ContactId::as_uuid).collect();
            refusals::record_named(&state, caller.context, &ids).await;
            Err(WebError::NotFound)
        }
        Err(other) => Err(other.into()),
    }
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

// Custom fields ------------------------------------------------------------------------------

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
