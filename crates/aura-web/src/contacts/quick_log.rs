//! Logging a call or a note in two clicks (issue 18): "Log" on a contact's row in the list or in
//! the contact page's header asks for the short form (htmx puts it in place, focused; without
//! JavaScript it is a page of its own), and "Save" logs it, now, by the member. The answer to
//! htmx is a line saying what was logged, in the same place; a browser gets the contact's page.

use askama::Template;
use aura_crm::activities::{self, ActivityInput, ActivityKind};
use aura_crm::contacts::Contact;
use aura_crm::ids::ContactId;
use aura_crm::WriteError;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::visible_contact;
use crate::extract::{Id, MemberForm};
use crate::forms::Errors;
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::session::Member;
use crate::{AppState, WebError};

/// The kinds the short form offers: what a rep logs from a list.
const QUICK_KINDS: [ActivityKind; 3] = [
    ActivityKind::Call,
    ActivityKind::Note,
    ActivityKind::Meeting,
];

#[derive(Deserialize, Default)]
pub(super) struct QuickLogForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    description: String,
}

/// The short form, as htmx puts it in place.
#[derive(Template)]
#[template(path = "contacts/quick_log.html")]
struct QuickLogFragment {
    quick: QuickLog,
}

struct QuickLog {
    csrf_token: String,
    contact_id: ContactId,
    contact_name: String,
    kinds: [ActivityKind; 3],
    form: QuickLogForm,
    errors: Errors,
}

/// The short form as a page, for a browser without JavaScript.
#[derive(Template)]
#[template(path = "contacts/quick_log_page.html")]
struct QuickLogPage {
    chrome: Chrome,
    quick: QuickLog,
}

/// What htmx shows once logged.
#[derive(Template)]
#[template(path = "contacts/quick_logged.html")]
struct QuickLogged {
    contact_id: ContactId,
    contact_name: String,
    kind: &'static str,
}

fn respond(member: &Member, headers: &HeaderMap, quick: QuickLog) -> Response {
    if wants_fragment(headers) {
        vary_on_htmx(render(&QuickLogFragment { quick }))
    } else {
        vary_on_htmx(render(&QuickLogPage {
            chrome: Chrome::for_member(Section::Contacts, member),
            quick,
        }))
    }
}

fn short_form(member: &Member, contact: &Contact, form: QuickLogForm, errors: Errors) -> QuickLog {
    QuickLog {
        csrf_token: member.signed_in.csrf_token.clone(),
        contact_id: contact.id,
        contact_name: contact.full_name(),
        kinds: QUICK_KINDS,
        form,
        errors,
    }
}

pub(super) async fn form(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<ContactId>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let contact = visible_contact(&state, &member, id).await?;
    let form = QuickLogForm {
        kind: "call".to_owned(),
        ..QuickLogForm::default()
    };
    let quick = short_form(&member, &contact, form, Errors::default());
    Ok(respond(&member, &headers, quick))
}

pub(super) async fn log(
    State(state): State<AppState>,
    Id(id): Id<ContactId>,
    headers: HeaderMap,
    MemberForm { member, form }: MemberForm<QuickLogForm>,
) -> Result<Response, WebError> {
    let contact = visible_contact(&state, &member, id).await?;
    let input = ActivityInput {
        kind: form.kind.clone(),
        description: form.description.clone(),
        occurred_at: None,
        participant_id: None,
    };
    match activities::log(&state.db, member.signed_in.context, contact.id, &input).await {
        Ok(_) if wants_fragment(&headers) => Ok(render(&QuickLogged {
            contact_id: contact.id,
            contact_name: contact.full_name(),
            kind: ActivityKind::parse(&form.kind).map_or("Activity", ActivityKind::label),
        })),
        Ok(_) => Ok(
            Redirect::to(&format!("/contacts/{}?notice=logged#timeline", contact.id))
                .into_response(),
        ),
        Err(WriteError::Invalid(found)) => {
            let mut errors = Errors::default();
            errors.extend(found, &[]);
            let quick = short_form(&member, &contact, form, errors);
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                respond(&member, &headers, quick),
            )
                .into_response())
        }
        Err(other) => Err(other.into()),
    }
}
