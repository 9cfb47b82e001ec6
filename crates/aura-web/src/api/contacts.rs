//! Contacts over the API (F7): the same repository functions as the pages, so the same rules:
//! a rep reaches only their own contacts (anything else is 404, as if it did not exist), a stale
//! `version` is 409, invalid input is 422 with every field's problem.

use aura_crm::contacts::{self, Contact, ContactFilter, ContactInput};
use aura_crm::ids::ContactId;
use aura_crm::WriteError;
use aura_platform::ids::UserId;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{created, param, ApiCaller, ApiJson, ApiQuery, PageQuery};
use crate::extract::Id;
use crate::{refusals, AppState, WebError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(reassign_contacts))
        .routes(routes!(get_contact, update_contact, delete_contact))
        .routes(routes!(restore_contact))
}

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
