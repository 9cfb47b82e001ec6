use askama::Template;
use aura_crm::activities::{ActivityKind, Timeline};
use aura_crm::contacts::{self, Contact};
use aura_crm::custom_fields::{self, Entity};
use aura_crm::follow_ups::{self, FollowUpKind};
use aura_crm::ids::{ActivityId, ContactId};
use aura_crm::paging::Cursor;
use aura_crm::WriteError;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::activities::ActivityForm;
use super::visible_contact;
use crate::extract::{Id, MemberForm};
use crate::follow_ups::{FollowUpForm, FollowUpView};
use crate::forms::{CustomField, Errors, NoFields};
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::records::{MoreActivities, ProblemPage, TimelineView};
use crate::session::Member;
use crate::{AppState, WebError};

#[derive(Deserialize, Default)]
pub(super) struct ContactQuery {
    after: Option<String>,
    notice: Option<String>,
}

/// The "log an activity" form as sent.

#[derive(Template)]
#[template(path = "contacts/page.html")]
pub(crate) struct ContactPage {
    chrome: Chrome,
    csrf_token: String,
    contact: Contact,
    /// The workspace's custom contact fields with this contact's values.
    custom_fields: Vec<CustomField>,
    created: String,
    updated: String,
    notice: Option<&'static str>,
    timeline: TimelineView,
    kinds: [ActivityKind; 4],
    pub(super) activity: ActivityForm,
    pub(super) errors: Errors,
    /// Its open follow-ups, the earliest first.
    follow_ups: Vec<FollowUpView>,
    /// Where their Done and Move forms return: this page.
    back: String,
    follow_up_kinds: [FollowUpKind; 3],
    pub(crate) follow_up: FollowUpForm,
    pub(crate) follow_up_errors: Errors,
}

impl ContactPage {
    pub(crate) async fn load(
        state: &AppState,
        member: &Member,
        contact: Contact,
        after: Option<Cursor<ActivityId>>,
    ) -> Result<Self, WebError> {
        let context = member.signed_in.context;
        let zone = member.zone();
        let timeline = TimelineView::load(
            state,
            context,
            zone,
            Timeline::Contact(contact.id),
            format!("/contacts/{}", contact.id),
            after,
        )
        .await?;
        let definitions = custom_fields::list(&state.db, context, Entity::Contact).await?;
        let follow_ups = follow_ups::of_contact(&state.db, context, contact.id)
            .await?
            .into_iter()
            .map(|f| FollowUpView::of(f, zone))
            .collect();
        let back = format!("/contacts/{}", contact.id);
        Ok(Self {
            chrome: Chrome::for_member(Section::Contacts, member),
            csrf_token: member.signed_in.csrf_token.clone(),
            custom_fields: CustomField::all(
                definitions,
                &CustomField::stored(&contact.custom_fields),
            ),
            created: zone.when(&contact.created_at),
            updated: zone.when(&contact.updated_at),
            contact,
            notice: None,
            timeline,
            kinds: ActivityKind::ALL,
            activity: ActivityForm {
                kind: "call".to_owned(),
                occurred_at: zone.now_input(),
                ..ActivityForm::default()
            },
            errors: Errors::default(),
            follow_ups,
            back,
            follow_up_kinds: FollowUpKind::ALL,
            follow_up: FollowUpForm::fresh(zone),
            follow_up_errors: Errors::default(),
        })
    }
}

fn contact_notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "created" => "Contact created.",
        "saved" => "Contact saved.",
        "deleted" => {
            "Contact deleted. It no longer shows in lists and searches; you can restore it."
        }
        "restored" => "Contact restored.",
        "logged" => "Activity logged.",
        "activity_deleted" => "Activity deleted.",
        "planned" => "Follow-up planned.",
        "follow_up_done" => "Follow-up done: it is logged as an activity.",
        "follow_up_moved" => "Follow-up moved.",
        "follow_up_unmoved" => {
            "That time did not read as a date and time; the follow-up was not moved."
        }
        _ => return None,
    })
}

pub(super) async fn contact_page(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<ContactId>,
    Query(query): Query<ContactQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let contact = visible_contact(&state, &member, id).await?;
    let after = query.after.as_deref().and_then(Cursor::parse);
    if wants_fragment(&headers) {
        let mut timeline = TimelineView::load(
            &state,
            member.signed_in.context,
            member.zone(),
            Timeline::Contact(contact.id),
            format!("/contacts/{}", contact.id),
            after,
        )
        .await?;
        timeline.oob = true;
        return Ok(vary_on_htmx(render(&MoreActivities {
            timeline,
            csrf_token: member.signed_in.csrf_token.clone(),
        })));
    }
    let mut page = ContactPage::load(&state, &member, contact, after).await?;
    page.notice = contact_notice(query.notice.as_deref());
    Ok(vary_on_htmx(render(&page)))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    Id(id): Id<ContactId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    set_deleted(&state, &member, id, true).await
}

pub(super) async fn restore(
    State(state): State<AppState>,
    Id(id): Id<ContactId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    set_deleted(&state, &member, id, false).await
}

async fn set_deleted(
    state: &AppState,
    member: &Member,
    id: ContactId,
    deleted: bool,
) -> Result<Response, WebError> {
    let contact = visible_contact(state, member, id).await?;
    let notice = if deleted { "deleted" } else { "restored" };
    match contacts::set_deleted(&state.db, member.signed_in.context, contact.id, deleted).await {
        Ok(()) => {
            Ok(Redirect::to(&format!("/contacts/{}?notice={notice}", contact.id)).into_response())
        }
        Err(WriteError::Duplicate { existing, .. }) => {
            let email = contact.email.clone().unwrap_or_default();
            let page = ProblemPage {
                chrome: Chrome::for_member(Section::Contacts, member),
                title: format!("{} cannot be restored", contact.full_name()),
                detail: format!(
                    "Another contact now has the email address {email}, and each address \
                     belongs to one contact. Change or delete that contact's address first, \
                     then restore this one.{}",
                    if existing.is_none() {
                        " That contact is assigned to someone else; ask a manager."
                    } else {
                        ""
                    }
                ),
                link: existing.map(|id| {
                    (
                        format!("/contacts/{id}"),
                        "Open the contact with this address".to_owned(),
                    )
                }),
                back: format!("/contacts/{}", contact.id),
            };
            Ok((StatusCode::CONFLICT, render(&page)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}
