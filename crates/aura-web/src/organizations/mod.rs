//! Organizations in the browser (F6): the list by name with a prefix filter as you type, the
//! forms to create and edit, and the organization's page with its parent, subsidiaries,
//! contacts and activity timeline. Only managers and admins delete and restore (the domain
//! layer refuses reps; the pages do not offer them the buttons).
//! The list and the name picker's options are in `list`, the forms in `form`, the
//! organization's page in `page`.

mod form;
mod list;
mod page;

use aura_crm::custom_fields::{self, Definition, Entity};
use aura_crm::ids::OrganizationId;
use aura_crm::organizations::{self, Organization};
use axum::routing::{get, post};
use axum::Router;

use aura_platform::db::TenantContext;

use crate::forms::{optional_id, Errors};
use crate::removal;
use crate::session::Member;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/organizations", get(list::list_page).post(form::create))
        .route("/organizations/new", get(form::new_page))
        .route("/organizations/options", get(list::options))
        .route(
            "/organizations/{id}",
            get(page::organization_page).post(form::update),
        )
        .route("/organizations/{id}/edit", get(form::edit_page))
        .route(
            "/organizations/{id}/delete",
            post(removal::delete::<page::Organizations>),
        )
        .route(
            "/organizations/{id}/restore",
            post(removal::restore::<page::Organizations>),
        )
}

/// The workspace's custom organization fields.
async fn definitions(state: &AppState, member: &Member) -> Result<Vec<Definition>, WebError> {
    let context = member.signed_in.context;
    Ok(custom_fields::list(&state.db, context, Entity::Organization).await?)
}

async fn visible_organization(
    state: &AppState,
    member: &Member,
    id: OrganizationId,
) -> Result<Organization, WebError> {
    organizations::get(&state.db, member.signed_in.context, id)
        .await?
        .ok_or(WebError::NotFound)
}

/// The organization a form's `field` names (by name, any case); one that matches none is noted
/// in `errors` at that field, and the form then names none.
pub(crate) async fn named(
    state: &AppState,
    context: TenantContext,
    name: &str,
    field: &str,
    errors: &mut Errors,
) -> Result<Option<OrganizationId>, WebError> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    let found = organizations::find_by_name(&state.db, context, name).await?;
    if found.is_none() {
        errors.add(
            field,
            format!("No organization named “{name}”. Create it first."),
        );
    }
    Ok(found)
}

/// The name of the live organization a "new record" link names (`?organization=<id>`), to
/// fill in the form's organization; empty when it names none the member may see.
pub(crate) async fn prefilled_name(
    state: &AppState,
    member: &Member,
    id: Option<&str>,
) -> Result<String, WebError> {
    let Some(id) = optional_id::<OrganizationId>(id) else {
        return Ok(String::new());
    };
    Ok(organizations::get(&state.db, member.signed_in.context, id)
        .await?
        .filter(|o| o.deleted_at.is_none())
        .map(|o| o.name)
        .unwrap_or_default())
}
