use askama::Template;
use aura_crm::activities::{ActivityKind, Timeline};
use aura_crm::contacts::{self, Contact};
use aura_crm::custom_fields::{self, Entity};
use aura_crm::follow_ups::{self, FollowUpKind};
use aura_crm::ids::{ActivityId, ContactId};
use aura_crm::paging::Cursor;
use aura_crm::WriteError;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::visible_contact;
use crate::extract::Id;
use crate::follow_ups::{notice as follow_up_notice, FollowUpForm, FollowUpView};
use crate::forms::{CustomField, Errors};
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::records::{ActivityForm, MoreActivities, ProblemPage, TimelineView};
use crate::removal::{self, Removable};
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
    /// Right after a delete: the restore form's address, offered as Undo.
    undo: Option<String>,
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
            undo: None,
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
        "deleted" => "Contact deleted. It no longer shows in lists and searches.",
        "restored" => "Contact restored.",
        "logged" => "Activity logged.",
        "activity_deleted" => "Activity deleted.",
        "planned" => "Follow-up planned.",
        other => return follow_up_notice(other),
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
    let undo = removal::undo::<Contacts>(query.notice.as_deref(), contact.id);
    let mut page = ContactPage::load(&state, &member, contact, after).await?;
    page.notice = contact_notice(query.notice.as_deref());
    page.undo = undo;
    Ok(vary_on_htmx(render(&page)))
}

/// Contacts are deleted and restored by the shared path (`crate::removal`).
pub(super) struct Contacts;

impl Removable for Contacts {
    type Id = ContactId;
    type Record = Contact;
    const PATH: &'static str = "/contacts";
    const NOUN: &'static str = "contact";
    const SECTION: Section = Section::Contacts;

    async fn find(state: &AppState, member: &Member, id: ContactId) -> Result<Contact, WebError> {
        visible_contact(state, member, id).await
    }

    fn name(contact: &Contact) -> String {
        contact.full_name()
    }

    async fn set_deleted(
        state: &AppState,
        member: &Member,
        contact: &Contact,
        deleted: bool,
    ) -> Result<Option<ProblemPage>, WebError> {
        match contacts::set_deleted(&state.db, member.signed_in.context, contact.id, deleted).await
        {
            Ok(()) => Ok(None),
            Err(WriteError::Duplicate { existing, .. }) => {
                let email = contact.email.clone().unwrap_or_default();
                Ok(Some(ProblemPage {
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
                }))
            }
            Err(other) => Err(other.into()),
        }
    }
}
