//! Follow-ups in the browser (issue 18): planning one on a contact's page, completing one (from
//! the contact's page or the dashboard), and moving one to another time. Times are read and
//! shown in the member's zone. Who may see or change which follow-up is decided by `aura_crm`
//! and the policies: a follow-up the member may not see is answered as one that is not there.

use aura_crm::follow_ups::{self, FollowUp, FollowUpInput, FollowUpKind};
use aura_crm::ids::{ContactId, FollowUpId};
use aura_crm::WriteError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::Router;
use chrono::{Duration, Utc};
use serde::Deserialize;

use crate::contacts::ContactPage;
use crate::extract::{Id, MemberForm};
use crate::forms::Errors;
use crate::layout::render;
use crate::time::Zone;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/contacts/{id}/follow-ups", post(plan_on_contact))
        .route("/follow-ups/{id}/complete", post(complete))
        .route("/follow-ups/{id}/reschedule", post(reschedule))
}

/// The "plan a follow-up" form as sent.
#[derive(Deserialize, Default)]
pub(crate) struct FollowUpForm {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub subject: String,
    /// `datetime-local`, in the member's zone.
    #[serde(default)]
    pub due_at: String,
}

impl FollowUpForm {
    /// A fresh form: a call, due tomorrow at this hour.
    pub(crate) fn fresh(zone: Zone) -> Self {
        Self {
            kind: FollowUpKind::Call.as_str().to_owned(),
            subject: String::new(),
            due_at: zone.input(&(Utc::now() + Duration::days(1))),
        }
    }
}

/// A follow-up as a page lists it.
pub(crate) struct FollowUpView {
    pub follow_up: FollowUp,
    pub due: String,
    /// For a `datetime-local` input: to move it.
    pub due_input: String,
    pub overdue: bool,
}

impl FollowUpView {
    pub(crate) fn of(follow_up: FollowUp, zone: Zone) -> Self {
        Self {
            due: zone.when(&follow_up.due_at),
            due_input: zone.input(&follow_up.due_at),
            overdue: follow_up.due_at < Utc::now(),
            follow_up,
        }
    }

    /// Where it was planned: the contact's page, or the deal's.
    pub(crate) fn on(&self) -> Option<(String, String)> {
        let f = &self.follow_up;
        match (f.contact_id, &f.contact_name, f.deal_id, &f.deal_name) {
            (Some(id), Some(name), _, _) => Some((format!("/contacts/{id}"), name.clone())),
            (_, _, Some(id), Some(name)) => Some((format!("/deals/{id}"), name.clone())),
            _ => None,
        }
    }
}

async fn plan_on_contact(
    State(state): State<AppState>,
    Id(id): Id<ContactId>,
    MemberForm { member, form }: MemberForm<FollowUpForm>,
) -> Result<Response, WebError> {
    let contact = crate::contacts::visible_contact(&state, &member, id).await?;
    let zone = member.zone();
    let mut errors = Errors::default();
    let due_at = if form.due_at.trim().is_empty() {
        None
    } else {
        let read = zone.read(&form.due_at);
        if read.is_none() {
            errors.add(
                "due_at",
                format!(
                    "“{}” is not a date and time: use the picker, or write it like 2026-03-31T14:30.",
                    form.due_at.trim()
                ),
            );
        }
        read
    };
    let input = FollowUpInput {
        kind: form.kind.clone(),
        subject: form.subject.clone(),
        due_at,
        owner_id: None,
        contact_id: Some(contact.id),
        deal_id: None,
    };
    let refused = if errors.is_empty() {
        match follow_ups::plan(&state.db, member.signed_in.context, &input).await {
            Ok(_) => {
                return Ok(Redirect::to(&format!(
                    "/contacts/{}?notice=planned#follow-ups",
                    contact.id
                ))
                .into_response())
            }
            Err(WriteError::Invalid(found)) => found,
            Err(other) => return Err(other.into()),
        }
    } else {
        Vec::new()
    };
    errors.extend(refused, &[]);
    let mut page = ContactPage::load(&state, &member, contact, None).await?;
    page.follow_up = form;
    page.follow_up_errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

/// Where to go after completing or moving one: a page of this workspace the form names, else
/// the dashboard. Only a local path is followed.
#[derive(Deserialize, Default)]
struct BackForm {
    #[serde(default)]
    back: String,
    #[serde(default)]
    due_at: String,
}

fn back_to(back: &str, notice: &str) -> String {
    let local = back.starts_with('/') && !back.starts_with("//") && !back.contains('\\');
    let path = if local { back } else { "/" };
    let path = path.split(['?', '#']).next().unwrap_or("/");
    format!("{path}?notice={notice}#follow-ups")
}

/// What a page returned to after completing or moving a follow-up says.
pub(crate) fn notice(code: &str) -> Option<&'static str> {
    Some(match code {
        "follow_up_done" => "Follow-up done: it is logged as an activity.",
        "follow_up_moved" => "Follow-up moved.",
        "follow_up_unmoved" => {
            "That time did not read as a date and time; the follow-up was not moved."
        }
        _ => return None,
    })
}

async fn complete(
    State(state): State<AppState>,
    Id(id): Id<FollowUpId>,
    MemberForm { member, form }: MemberForm<BackForm>,
) -> Result<Response, WebError> {
    follow_ups::complete(&state.db, member.signed_in.context, id, None).await?;
    Ok(Redirect::to(&back_to(&form.back, "follow_up_done")).into_response())
}

async fn reschedule(
    State(state): State<AppState>,
    Id(id): Id<FollowUpId>,
    MemberForm { member, form }: MemberForm<BackForm>,
) -> Result<Response, WebError> {
    let Some(due_at) = member.zone().read(&form.due_at) else {
        return Ok(Redirect::to(&back_to(&form.back, "follow_up_unmoved")).into_response());
    };
    follow_ups::reschedule(&state.db, member.signed_in.context, id, due_at).await?;
    Ok(Redirect::to(&back_to(&form.back, "follow_up_moved")).into_response())
}

#[cfg(test)]
mod tests {
    use super::back_to;

    #[test]
    fn only_a_local_path_is_returned_to() {
        assert_eq!(
            back_to("/contacts/1?x=2#y", "done"),
            "/contacts/1?notice=done#follow-ups"
        );
        for elsewhere in ["https://evil.example/", "//evil.example", "/\\evil", ""] {
            assert_eq!(
                back_to(elsewhere, "done"),
                "/?notice=done#follow-ups",
                "{elsewhere}"
            );
        }
    }
}
