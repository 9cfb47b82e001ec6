//! Logging an activity on a contact's page, and deleting one from its timeline.

use aura_crm::activities;
use aura_crm::ids::{ActivityId, ContactId};
use aura_crm::WriteError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::ContactPage;
use super::visible_contact;
use crate::extract::{Id, MemberForm};
use crate::forms::{optional_id, Errors};
use crate::layout::{render, Chrome, Section};
use crate::records::ActivityForm;
use crate::removal::{ConfirmPage, DeleteForm};
use crate::{AppState, WebError};

pub(super) async fn log_activity(
    State(state): State<AppState>,
    Id(id): Id<ContactId>,
    MemberForm { member, form }: MemberForm<ActivityForm>,
) -> Result<Response, WebError> {
    let contact = visible_contact(&state, &member, id).await?;
    let mut errors = Errors::default();
    let input = form.input(member.zone(), &mut errors);
    let error = match activities::log(&state.db, member.signed_in.context, contact.id, &input).await
    {
        Ok(_) => {
            return Ok(
                Redirect::to(&format!("/contacts/{}?notice=logged#timeline", contact.id))
                    .into_response(),
            )
        }
        Err(WriteError::Invalid(found)) => found,
        Err(other) => return Err(other.into()),
    };
    errors.extend(error, &[]);
    let mut page = ContactPage::load(&state, &member, contact, None).await?;
    page.activity = form;
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

#[derive(Deserialize)]
pub(super) struct DeleteActivityForm {
    #[serde(default)]
    contact_id: String,
    #[serde(flatten)]
    delete: DeleteForm,
}

pub(super) async fn delete_activity(
    State(state): State<AppState>,
    Id(id): Id<ActivityId>,
    MemberForm { member, form }: MemberForm<DeleteActivityForm>,
) -> Result<Response, WebError> {
    let contact = optional_id::<ContactId>(Some(&form.contact_id));
    if form.delete.asks_first() {
        if !activities::is_visible(&state.db, member.signed_in.context, id).await? {
            return Err(WebError::NotFound);
        }
        return Ok(render(&ConfirmPage {
            chrome: Chrome::for_member(Section::Contacts, &member),
            csrf_token: member.signed_in.csrf_token.clone(),
            title: "Delete this activity?".to_owned(),
            detail: "It leaves the timeline for good: activities are a record of what \
                     happened, so a deleted one cannot be restored."
                .to_owned(),
            action: format!("/activities/{id}/delete"),
            hidden: vec![("contact_id", form.contact_id.clone())],
            button: "Delete activity".to_owned(),
            back: contact.map_or("/contacts".to_owned(), |c| {
                format!("/contacts/{c}#timeline")
            }),
        }));
    }
    activities::delete(&state.db, member.signed_in.context, id).await?;
    let back = match contact {
        Some(contact) => format!("/contacts/{contact}?notice=activity_deleted#timeline"),
        None => "/contacts".to_owned(),
    };
    Ok(Redirect::to(&back).into_response())
}
