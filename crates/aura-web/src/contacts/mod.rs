//! Contacts in the browser (F7, F9, F10): the list with search as you type, filters and bulk
//! reassignment; the contact's page with its activity timeline; the forms to create and edit.
//! Who may see or change what is decided by `aura_crm` and the database's policies: a contact
//! the member may not see is answered exactly like one that does not exist (404).
//! The list, search and bulk reassignment are in `list`, the forms in `form`, the contact's
//! page in `page`, logging or deleting its activities in `activities` (the two-click log form
//! of the list and the page's header is the crate's `quick_log`).

mod activities;
mod form;
mod list;
mod page;

pub(crate) use page::ContactPage;

use aura_crm::contacts::{self, Contact};
use aura_crm::ids::ContactId;
use axum::routing::{get, post};
use axum::Router;

use crate::removal;
use crate::session::Member;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/contacts", get(list::list_page).post(form::create))
        .route("/contacts/new", get(form::new_page))
        .route("/contacts/reassign", post(list::reassign))
        .route("/contacts/{id}", get(page::contact_page).post(form::update))
        .route("/contacts/{id}/edit", get(form::edit_page))
        .route(
            "/contacts/{id}/delete",
            post(removal::delete::<page::Contacts>),
        )
        .route(
            "/contacts/{id}/restore",
            post(removal::restore::<page::Contacts>),
        )
        .route("/contacts/{id}/activities", post(activities::log_activity))
        .route("/activities/{id}/delete", post(activities::delete_activity))
}

/// The contact, if the member may see it; 404 otherwise, whether it exists or not.
pub(crate) async fn visible_contact(
    state: &AppState,
    member: &Member,
    id: ContactId,
) -> Result<Contact, WebError> {
    contacts::get(&state.db, member.signed_in.context, id)
        .await?
        .ok_or(WebError::NotFound)
}
