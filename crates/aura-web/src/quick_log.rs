//! Logging a call or a note in two clicks (issue 18), from a contact's row in the list and from
//! the header of a contact's, an organization's or a deal's page: "Log" asks for the short form
//! (htmx puts it in place, focused; without JavaScript it is a page of its own), and "Save" logs
//! it, now, by the member. The answer to htmx is a line saying what was logged, in the same
//! place; a browser gets the record's page. On an organization the activity is with one of its
//! contacts (an activity always has a contact or a deal); on a deal, optionally with one of the
//! deal's contacts.

use askama::Template;
use aura_crm::activities::{self, ActivityInput, ActivityKind};
use aura_crm::contacts::{self, ContactFilter};
use aura_crm::deals;
use aura_crm::ids::{ActivityId, ContactId, DealId, OrganizationId};
use aura_crm::organizations;
use aura_crm::WriteError;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::contacts::visible_contact;
use crate::extract::{Id, MemberForm};
use crate::forms::{optional_id, Errors};
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::session::Member;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/contacts/{id}/log", get(contact_form).post(log_on_contact))
        .route(
            "/organizations/{id}/log",
            get(organization_form).post(log_on_organization),
        )
        .route("/deals/{id}/log", get(deal_form).post(log_on_deal))
}

/// The kinds the short form offers: what a rep logs in passing.
const QUICK_KINDS: [ActivityKind; 3] = [
    ActivityKind::Call,
    ActivityKind::Note,
    ActivityKind::Meeting,
];

/// How many of an organization's contacts the form offers to log with.
const WITH_CHOICES: i64 = 100;

#[derive(Deserialize, Default)]
struct QuickLogForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    description: String,
    /// Whom it was with, on an organization or a deal.
    #[serde(default)]
    contact_id: String,
}

/// The record a quick log is on, named for the form, and whom it may be with.
struct Subject {
    /// The record's page, such as `/contacts/<id>`; the form posts to its `/log`.
    path: String,
    /// The element htmx swaps, `quick-log-<id>`: the same slot on lists and pages.
    slot: String,
    name: String,
    /// "with" a contact, "on" an organization or a deal.
    preposition: &'static str,
    section: Section,
    /// The organization's or the deal's contacts the member may see; none on a contact.
    with: Vec<(ContactId, String)>,
    /// An organization's activity must be with one of them.
    with_required: bool,
    /// Where to add a contact when an organization has none to log with.
    new_contact_path: Option<String>,
}

impl Subject {
    fn contact(id: ContactId, name: String) -> Self {
        Self {
            path: format!("/contacts/{id}"),
            slot: format!("quick-log-{id}"),
            name,
            preposition: "with",
            section: Section::Contacts,
            with: Vec::new(),
            with_required: false,
            new_contact_path: None,
        }
    }
}

/// The short form, as htmx puts it in place.
#[derive(Template)]
#[template(path = "quick_log/form.html")]
struct QuickLogFragment {
    quick: QuickLog,
}

struct QuickLog {
    csrf_token: String,
    subject: Subject,
    kinds: [ActivityKind; 3],
    form: QuickLogForm,
    errors: Errors,
}

/// The short form as a page, for a browser without JavaScript.
#[derive(Template)]
#[template(path = "quick_log/page.html")]
struct QuickLogPage {
    chrome: Chrome,
    quick: QuickLog,
}

/// What htmx shows once logged.
#[derive(Template)]
#[template(path = "quick_log/logged.html")]
struct QuickLogged {
    subject: Subject,
    kind: &'static str,
}

fn respond(member: &Member, headers: &HeaderMap, status: StatusCode, quick: QuickLog) -> Response {
    let page = if wants_fragment(headers) {
        render(&QuickLogFragment { quick })
    } else {
        render(&QuickLogPage {
            chrome: Chrome::for_member(quick.subject.section, member),
            quick,
        })
    };
    (status, vary_on_htmx(page)).into_response()
}

fn short_form(member: &Member, subject: Subject, form: QuickLogForm, errors: Errors) -> QuickLog {
    QuickLog {
        csrf_token: member.signed_in.csrf_token.clone(),
        subject,
        kinds: QUICK_KINDS,
        form,
        errors,
    }
}

/// The empty short form: a call, with the only possible contact chosen.
fn blank_form(member: &Member, headers: &HeaderMap, subject: Subject) -> Response {
    let form = QuickLogForm {
        kind: ActivityKind::Call.as_str().to_owned(),
        contact_id: match subject.with.as_slice() {
            [(only, _)] if subject.with_required => only.to_string(),
            _ => String::new(),
        },
        ..QuickLogForm::default()
    };
    let quick = short_form(member, subject, form, Errors::default());
    respond(member, headers, StatusCode::OK, quick)
}

/// The answer to a save: the logged line (htmx) or the record's timeline, or the form again
/// with what to correct.
fn answer(
    member: &Member,
    headers: &HeaderMap,
    subject: Subject,
    form: QuickLogForm,
    logged: Result<ActivityId, WriteError<activities::Activity>>,
) -> Result<Response, WebError> {
    match logged {
        Ok(_) if wants_fragment(headers) => Ok(render(&QuickLogged {
            kind: ActivityKind::parse(&form.kind).map_or("Activity", ActivityKind::label),
            subject,
        })),
        Ok(_) => {
            Ok(Redirect::to(&format!("{}?notice=logged#timeline", subject.path)).into_response())
        }
        Err(WriteError::Invalid(found)) => {
            let mut errors = Errors::default();
            errors.extend(found, &[]);
            let quick = short_form(member, subject, form, errors);
            Ok(respond(
                member,
                headers,
                StatusCode::UNPROCESSABLE_ENTITY,
                quick,
            ))
        }
        Err(other) => Err(other.into()),
    }
}

fn input(form: &QuickLogForm) -> ActivityInput {
    ActivityInput {
        kind: form.kind.clone(),
        description: form.description.clone(),
        occurred_at: None,
        participant_id: None,
    }
}

async fn contact_subject(
    state: &AppState,
    member: &Member,
    id: ContactId,
) -> Result<Subject, WebError> {
    let contact = visible_contact(state, member, id).await?;
    if contact.deleted_at.is_some() {
        return Err(WebError::NotFound);
    }
    Ok(Subject::contact(contact.id, contact.full_name()))
}

async fn contact_form(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<ContactId>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let subject = contact_subject(&state, &member, id).await?;
    Ok(blank_form(&member, &headers, subject))
}

async fn log_on_contact(
    State(state): State<AppState>,
    Id(id): Id<ContactId>,
    headers: HeaderMap,
    MemberForm { member, form }: MemberForm<QuickLogForm>,
) -> Result<Response, WebError> {
    let subject = contact_subject(&state, &member, id).await?;
    let logged = activities::log(&state.db, member.signed_in.context, id, &input(&form)).await;
    answer(&member, &headers, subject, form, logged)
}

/// A live organization the member may see, with its first contacts (by name) to log with.
async fn organization_subject(
    state: &AppState,
    member: &Member,
    id: OrganizationId,
) -> Result<Subject, WebError> {
    let context = member.signed_in.context;
    let organization = organizations::get(&state.db, context, id)
        .await?
        .filter(|o| o.deleted_at.is_none())
        .ok_or(WebError::NotFound)?;
    let filter = ContactFilter {
        organization_id: Some(id),
        limit: Some(WITH_CHOICES),
        ..ContactFilter::default()
    };
    let contacts = contacts::list(&state.db, context, &filter).await?;
    Ok(Subject {
        path: format!("/organizations/{id}"),
        slot: format!("quick-log-{id}"),
        name: organization.name,
        preposition: "on",
        section: Section::Organizations,
        with: contacts
            .page
            .items
            .iter()
            .map(|c| (c.id, c.full_name()))
            .collect(),
        with_required: true,
        new_contact_path: Some(format!("/contacts/new?organization={id}")),
    })
}

async fn organization_form(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<OrganizationId>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let subject = organization_subject(&state, &member, id).await?;
    Ok(blank_form(&member, &headers, subject))
}

async fn log_on_organization(
    State(state): State<AppState>,
    Id(id): Id<OrganizationId>,
    headers: HeaderMap,
    MemberForm { member, form }: MemberForm<QuickLogForm>,
) -> Result<Response, WebError> {
    let subject = organization_subject(&state, &member, id).await?;
    let contact = optional_id(Some(&form.contact_id));
    let logged = activities::log_on_organization(
        &state.db,
        member.signed_in.context,
        id,
        contact,
        &input(&form),
    )
    .await;
    answer(&member, &headers, subject, form, logged)
}

/// A live deal the member may see, with its contacts the member may see.
async fn deal_subject(state: &AppState, member: &Member, id: DealId) -> Result<Subject, WebError> {
    let detail = deals::get(&state.db, member.signed_in.context, id)
        .await?
        .filter(|d| d.deal.deleted_at.is_none())
        .ok_or(WebError::NotFound)?;
    Ok(Subject {
        path: format!("/deals/{id}"),
        slot: format!("quick-log-{id}"),
        name: detail.deal.name,
        preposition: "on",
        section: Section::Deals,
        with: detail
            .contacts
            .into_iter()
            .map(|c| (c.contact_id, c.name))
            .collect(),
        with_required: false,
        new_contact_path: None,
    })
}

async fn deal_form(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<DealId>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let subject = deal_subject(&state, &member, id).await?;
    Ok(blank_form(&member, &headers, subject))
}

async fn log_on_deal(
    State(state): State<AppState>,
    Id(id): Id<DealId>,
    headers: HeaderMap,
    MemberForm { member, form }: MemberForm<QuickLogForm>,
) -> Result<Response, WebError> {
    let subject = deal_subject(&state, &member, id).await?;
    let contact = optional_id(Some(&form.contact_id));
    let logged = activities::log_on_deal(
        &state.db,
        member.signed_in.context,
        id,
        contact,
        &input(&form),
    )
    .await;
    answer(&member, &headers, subject, form, logged)
}
