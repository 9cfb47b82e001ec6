//! Contacts in the browser (F7, F9, F10): the list with search as you type, filters and bulk
//! reassignment; the contact's page with its activity timeline; the forms to create and edit.
//! Who may see or change what is decided by `aura_crm` and the database's policies: a contact
//! the member may not see is answered exactly like one that does not exist (404).

use std::collections::BTreeMap;

use askama::Template;
use aura_crm::activities::{self, Activity, ActivityInput, ActivityKind, Timeline};
use aura_crm::contacts::{self, Contact, ContactFilter, ContactInput};
use aura_crm::custom_fields::{self, Definition, Entity};
use aura_crm::ids::{ActivityId, ContactId, OrganizationId};
use aura_crm::paging::{Cursor, ListOrder};
use aura_crm::{organizations, WriteError};
use aura_platform::db::TenantContext;
use aura_platform::ids::UserId;
use aura_platform::members::{self, Member as TeamMember};
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::extract::{Id, MemberForm};
use crate::forms::{encode, optional_id, CustomField, Errors, NoFields};
use crate::pages::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::session::Member;
use crate::{refusals, AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/contacts", get(list_page).post(create))
        .route("/contacts/new", get(new_page))
        .route("/contacts/reassign", post(reassign))
        .route("/contacts/{id}", get(contact_page).post(update))
        .route("/contacts/{id}/edit", get(edit_page))
        .route("/contacts/{id}/delete", post(delete))
        .route("/contacts/{id}/restore", post(restore))
        .route("/contacts/{id}/activities", post(log_activity))
        .route("/activities/{id}/delete", post(delete_activity))
}

// ---------------------------------------------------------------------------------------------
// Helpers shared with the organization pages.

/// Timestamps as the pages show them.
pub(crate) fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The members a record may be given to: the active ones, and its current owner.
pub(crate) async fn owner_choices(
    state: &AppState,
    context: TenantContext,
    current: Option<UserId>,
) -> Result<Vec<TeamMember>, WebError> {
    Ok(members::list(&state.db, context)
        .await?
        .into_iter()
        .filter(|m| m.active || Some(m.user_id) == current)
        .collect())
}

/// An activity timeline as the contact and organization pages show it.
pub(crate) struct TimelineView {
    pub activities: Vec<Activity>,
    /// `/contacts/<id>` or `/organizations/<id>`: where older activities are asked for.
    pub base: String,
    pub older: Option<Cursor<ActivityId>>,
    pub first_page: bool,
    /// On a contact's page (delete buttons) or an organization's (contact names).
    pub on_contact: bool,
    pub oob: bool,
}

impl TimelineView {
    pub(crate) async fn load(
        state: &AppState,
        context: TenantContext,
        of: Timeline,
        base: String,
        after: Option<Cursor<ActivityId>>,
    ) -> Result<Self, WebError> {
        let page = activities::timeline(&state.db, context, of, after.as_ref(), None).await?;
        Ok(Self {
            activities: page.items,
            base,
            older: page.next,
            first_page: after.is_none(),
            on_contact: matches!(of, Timeline::Contact(_)),
            oob: false,
        })
    }
}

/// Older activities, for htmx to append to the timeline, with the pager swapped out of band.
#[derive(Template)]
#[template(path = "contact_timeline_more.html")]
pub(crate) struct MoreActivities {
    pub timeline: TimelineView,
    pub csrf_token: String,
}

/// A refusal that needs its own explanation (with links), shown as a page.
#[derive(Template)]
#[template(path = "contact_problem.html")]
pub(crate) struct ProblemPage {
    pub chrome: Chrome,
    pub title: String,
    pub detail: String,
    /// A record to look at instead: (address, label).
    pub link: Option<(String, String)>,
    pub back: String,
}

// ---------------------------------------------------------------------------------------------
// The list.

#[derive(Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    owner: Option<String>,
    sort: Option<String>,
    organization: Option<String>,
    deleted: Option<String>,
    after: Option<String>,
    reassigned: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "contacts.html")]
struct ContactsPage {
    chrome: Chrome,
    csrf_token: String,
    contacts: Vec<Contact>,
    similar: bool,
    q: String,
    deleted: bool,
    can_reassign: bool,
    next_query: Option<String>,
    first_page: bool,
    oob: bool,
    /// The member sees everyone's contacts, so may narrow the list to one owner's.
    filter_by_owner: bool,
    owners: Vec<TeamMember>,
    owner: String,
    order: ListOrder,
    organization: Option<(OrganizationId, String)>,
    notice: Option<String>,
}

/// The rows of a search, for htmx to put in the table as the user types.
#[derive(Template)]
#[template(path = "contact_results.html")]
struct ContactResults {
    csrf_token: String,
    contacts: Vec<Contact>,
    similar: bool,
    q: String,
    deleted: bool,
    can_reassign: bool,
    next_query: Option<String>,
    first_page: bool,
    oob: bool,
}

async fn list_page(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let sees_all = member.may(Permission::AllContacts);
    let can_reassign = member.may(Permission::AssignContacts);
    let deleted = query.deleted.as_deref().is_some_and(|d| !d.is_empty());
    let q = query.q.clone().unwrap_or_default().trim().to_owned();
    let owner: Option<UserId> = if sees_all {
        optional_id(query.owner.as_deref())
    } else {
        None
    };
    let organization_id: Option<OrganizationId> = optional_id(query.organization.as_deref());
    // A cursor that is not one (an edited URL) is the first page.
    let after = query.after.as_deref().and_then(Cursor::parse);
    // An unknown order (an edited URL) is the default.
    let order = query
        .sort
        .as_deref()
        .and_then(ListOrder::parse)
        .unwrap_or_default();
    let filter = ContactFilter {
        search: (!q.is_empty()).then(|| q.clone()),
        assigned_to: owner,
        organization_id,
        order,
        deleted,
        after,
        limit: None,
    };
    let list = contacts::list(&state.db, context, &filter).await?;
    let next_query = list.page.next.map(|next| {
        let mut query = format!("after={next}");
        if deleted {
            query.push_str("&deleted=1");
        } else {
            if !q.is_empty() {
                query.push_str(&format!("&q={}", encode(&q)));
            }
            if let Some(owner) = owner {
                query.push_str(&format!("&owner={owner}"));
            }
            if let Some(organization) = organization_id {
                query.push_str(&format!("&organization={organization}"));
            }
            if order != ListOrder::Name {
                query.push_str(&format!("&sort={}", order.as_str()));
            }
        }
        query
    });
    let csrf_token = member.signed_in.csrf_token.clone();
    if wants_fragment(&headers) {
        return Ok(vary_on_htmx(render(&ContactResults {
            csrf_token,
            contacts: list.page.items,
            similar: list.similar,
            q,
            deleted,
            can_reassign,
            next_query,
            first_page: filter.after.is_none(),
            oob: true,
        })));
    }
    let organization = match organization_id {
        Some(id) => organizations::get(&state.db, context, id)
            .await?
            .map(|o| (o.id, o.name)),
        None => None,
    };
    let notice = match (query.reassigned.as_deref(), query.notice.as_deref()) {
        (Some(n), _) => Some(match n.parse::<u64>().unwrap_or(0) {
            1 => "1 contact reassigned.".to_owned(),
            n => format!("{n} contacts reassigned."),
        }),
        (None, Some("no_selection")) => {
            Some("Nothing was reassigned: select at least one contact first.".to_owned())
        }
        (None, Some("bad_owner")) => {
            Some("Nothing was reassigned: choose an active member of this workspace.".to_owned())
        }
        _ => None,
    };
    let page = ContactsPage {
        chrome: Chrome::for_member(Section::Contacts, &member),
        csrf_token,
        contacts: list.page.items,
        similar: list.similar,
        q,
        deleted,
        can_reassign,
        next_query,
        first_page: filter.after.is_none(),
        oob: false,
        filter_by_owner: sees_all,
        owners: if sees_all || can_reassign {
            owner_choices(&state, context, None).await?
        } else {
            Vec::new()
        },
        owner: owner.map(|o| o.to_string()).unwrap_or_default(),
        order,
        organization,
        notice,
    };
    Ok(vary_on_htmx(render(&page)))
}

#[derive(Deserialize)]
struct ReassignForm {
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    owner: String,
}

async fn reassign(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<ReassignForm>,
) -> Result<Response, WebError> {
    if !member.may(Permission::AssignContacts) {
        return Err(WebError::Forbidden);
    }
    let ids: Vec<ContactId> = form
        .ids
        .iter()
        .filter_map(|id| id.trim().parse().ok())
        .collect();
    if ids.is_empty() {
        return Ok(Redirect::to("/contacts?notice=no_selection").into_response());
    }
    let Ok(owner) = form.owner.trim().parse::<UserId>() else {
        return Ok(Redirect::to("/contacts?notice=bad_owner").into_response());
    };
    match contacts::reassign(&state.db, member.signed_in.context, &ids, owner).await {
        Ok(count) => Ok(Redirect::to(&format!("/contacts?reassigned={count}")).into_response()),
        Err(WriteError::Invalid(_)) => {
            Ok(Redirect::to("/contacts?notice=bad_owner").into_response())
        }
        Err(WriteError::NotFound) => {
            let context = member.signed_in.context;
            let named: Vec<Uuid> = ids.iter().map(ContactId::as_uuid).collect();
            refusals::record_named(&state, context, &named).await;
            Err(WebError::NotFound)
        }
        Err(other) => Err(other.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// The form to create or edit a contact.

/// The form as sent: strings only, so that whatever was typed can be shown again.
#[derive(Deserialize, Default, Clone)]
struct ContactForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    title: String,
    /// The organization's name.
    #[serde(default)]
    organization: String,
    #[serde(default)]
    assigned_to: String,
    #[serde(default)]
    version: String,
    /// The custom fields' inputs, `custom_fields.<key>` (and any other unknown input).
    #[serde(flatten)]
    custom: BTreeMap<String, String>,
}

impl ContactForm {
    fn of(contact: &Contact) -> Self {
        Self {
            first_name: contact.first_name.clone(),
            last_name: contact.last_name.clone(),
            email: contact.email.clone().unwrap_or_default(),
            phone: contact.phone.clone().unwrap_or_default(),
            title: contact.title.clone().unwrap_or_default(),
            organization: contact.organization_name.clone().unwrap_or_default(),
            assigned_to: contact.assigned_to.to_string(),
            version: contact.version.to_string(),
            custom: CustomField::stored(&contact.custom_fields),
        }
    }

    /// The input for the domain layer. An organization name that matches none is noted in
    /// `errors`, and the input then names no organization.
    async fn input(
        &self,
        state: &AppState,
        member: &Member,
        definitions: &[Definition],
        errors: &mut Errors,
    ) -> Result<ContactInput, WebError> {
        let context = member.signed_in.context;
        let organization_id = match self.organization.trim() {
            "" => None,
            name => match organizations::find_by_name(&state.db, context, name).await? {
                Some(id) => Some(id),
                None => {
                    errors.add(
                        "organization",
                        format!("No organization named “{name}”. Create it first."),
                    );
                    None
                }
            },
        };
        Ok(ContactInput {
            first_name: self.first_name.clone(),
            last_name: Some(self.last_name.clone()),
            email: Some(self.email.clone()),
            phone: Some(self.phone.clone()),
            title: Some(self.title.clone()),
            organization_id,
            // Reps have no owner select: their contacts stay theirs.
            assigned_to: if member.may(Permission::AssignContacts) {
                optional_id(Some(&self.assigned_to))
            } else {
                None
            },
            custom_fields: Some(CustomField::submitted(definitions, &self.custom)),
        })
    }
}

#[derive(Template)]
#[template(path = "contact_form.html")]
struct ContactFormPage {
    chrome: Chrome,
    csrf_token: String,
    heading: String,
    /// The contact being edited; none for a new one.
    contact_id: Option<ContactId>,
    form: ContactForm,
    /// The workspace's custom contact fields with the form's values.
    custom_fields: Vec<CustomField>,
    errors: Errors,
    owners: Vec<TeamMember>,
    /// The email belongs to this contact already.
    duplicate_of: Option<Uuid>,
    /// The organization name matched none: offer to create it.
    unknown_organization: bool,
    /// Someone saved the contact first: what it is now.
    stale: Option<Contact>,
}

impl ContactFormPage {
    async fn new(
        state: &AppState,
        member: &Member,
        contact: Option<&Contact>,
        definitions: Vec<Definition>,
        form: ContactForm,
    ) -> Result<Self, WebError> {
        let context = member.signed_in.context;
        let owners = if member.may(Permission::AssignContacts) {
            owner_choices(state, context, contact.map(|c| c.assigned_to)).await?
        } else {
            Vec::new()
        };
        Ok(Self {
            chrome: Chrome::for_member(Section::Contacts, member),
            csrf_token: member.signed_in.csrf_token.clone(),
            heading: match contact {
                Some(contact) => format!("Edit {}", contact.full_name()),
                None => "New contact".to_owned(),
            },
            contact_id: contact.map(|c| c.id),
            custom_fields: CustomField::all(definitions, &form.custom),
            form,
            errors: Errors::default(),
            owners,
            duplicate_of: None,
            unknown_organization: false,
            stale: None,
        })
    }

    /// The page again after a refused save: the input kept, each problem at its field.
    fn refused(mut self, error: WriteError<Contact>, errors: Errors) -> Result<Response, WebError> {
        self.unknown_organization = errors.get("organization").is_some();
        self.errors = errors;
        let status = match error {
            WriteError::Invalid(found) => {
                self.errors.extend(found, CONTACT_FIELDS);
                StatusCode::UNPROCESSABLE_ENTITY
            }
            WriteError::Duplicate { field, existing } => {
                self.errors.add(
                    field,
                    "A contact with this email already exists in this workspace.",
                );
                self.duplicate_of = existing;
                StatusCode::CONFLICT
            }
            WriteError::Stale(current) => {
                // Keep the user's input; saving again applies it over the newer version.
                self.form.version = current.version.to_string();
                self.stale = Some(*current);
                StatusCode::CONFLICT
            }
            other => return Err(other.into()),
        };
        Ok((status, render(&self)).into_response())
    }
}

/// The domain's field names that the form calls otherwise.
const CONTACT_FIELDS: &[(&str, &str)] = &[("organization_id", "organization")];

#[derive(Deserialize, Default)]
struct NewQuery {
    organization: Option<String>,
}

async fn new_page(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<NewQuery>,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let organization = match optional_id::<OrganizationId>(query.organization.as_deref()) {
        Some(id) => organizations::get(&state.db, context, id)
            .await?
            .filter(|o| o.deleted_at.is_none())
            .map(|o| o.name),
        None => None,
    };
    let form = ContactForm {
        organization: organization.unwrap_or_default(),
        assigned_to: context.user_id.to_string(),
        ..ContactForm::default()
    };
    let definitions = custom_fields::list(&state.db, context, Entity::Contact).await?;
    Ok(render(
        &ContactFormPage::new(&state, &member, None, definitions, form).await?,
    ))
}

async fn create(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<ContactForm>,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let definitions = custom_fields::list(&state.db, context, Entity::Contact).await?;
    let mut errors = Errors::default();
    let input = form
        .input(&state, &member, &definitions, &mut errors)
        .await?;
    let created = if errors.is_empty() {
        contacts::create(&state.db, context, &input).await
    } else {
        // The form found a problem of its own: show the domain's too, and save nothing.
        Err(WriteError::Invalid(
            contacts::problems(&state.db, context, &input).await?,
        ))
    };
    match created {
        Ok(id) => Ok(Redirect::to(&format!("/contacts/{id}?notice=created")).into_response()),
        Err(error) => ContactFormPage::new(&state, &member, None, definitions, form)
            .await?
            .refused(error, errors),
    }
}

/// The contact, if the member may see it; 404 otherwise, whether it exists or not.
async fn visible_contact(
    state: &AppState,
    member: &Member,
    id: ContactId,
) -> Result<Contact, WebError> {
    contacts::get(&state.db, member.signed_in.context, id)
        .await?
        .ok_or(WebError::NotFound)
}

async fn edit_page(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<ContactId>,
) -> Result<Response, WebError> {
    let contact = visible_contact(&state, &member, id).await?;
    if contact.deleted_at.is_some() {
        return Ok(Redirect::to(&format!("/contacts/{}", contact.id)).into_response());
    }
    let form = ContactForm::of(&contact);
    let definitions =
        custom_fields::list(&state.db, member.signed_in.context, Entity::Contact).await?;
    Ok(render(
        &ContactFormPage::new(&state, &member, Some(&contact), definitions, form).await?,
    ))
}

async fn update(
    State(state): State<AppState>,
    Id(id): Id<ContactId>,
    MemberForm { member, form }: MemberForm<ContactForm>,
) -> Result<Response, WebError> {
    let contact = visible_contact(&state, &member, id).await?;
    let definitions =
        custom_fields::list(&state.db, member.signed_in.context, Entity::Contact).await?;
    let mut errors = Errors::default();
    let input = form
        .input(&state, &member, &definitions, &mut errors)
        .await?;
    // A mangled version matches no row, and is answered like a stale one.
    let version = form.version.trim().parse().unwrap_or(-1);
    let context = member.signed_in.context;
    let saved = if errors.is_empty() {
        contacts::update(&state.db, context, contact.id, version, &input).await
    } else {
        Err(WriteError::Invalid(
            contacts::problems(&state.db, context, &input).await?,
        ))
    };
    match saved {
        Ok(_) => {
            Ok(Redirect::to(&format!("/contacts/{}?notice=saved", contact.id)).into_response())
        }
        Err(error) => ContactFormPage::new(&state, &member, Some(&contact), definitions, form)
            .await?
            .refused(error, errors),
    }
}

// ---------------------------------------------------------------------------------------------
// The contact's page and its timeline.

#[derive(Deserialize, Default)]
struct ContactQuery {
    after: Option<String>,
    notice: Option<String>,
}

/// The "log an activity" form as sent.
#[derive(Deserialize, Default)]
struct ActivityForm {
    #[serde(default)]
    kind: String,
    /// `datetime-local`: `2026-11-22T14:30`, read as UTC.
    #[serde(default)]
    occurred_at: String,
    #[serde(default)]
    description: String,
}

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
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
    activity: ActivityForm,
    errors: Errors,
}

impl ContactPage {
    async fn load(
        state: &AppState,
        member: &Member,
        contact: Contact,
        after: Option<Cursor<ActivityId>>,
    ) -> Result<Self, WebError> {
        let context = member.signed_in.context;
        let timeline = TimelineView::load(
            state,
            context,
            Timeline::Contact(contact.id),
            format!("/contacts/{}", contact.id),
            after,
        )
        .await?;
        let definitions = custom_fields::list(&state.db, context, Entity::Contact).await?;
        Ok(Self {
            chrome: Chrome::for_member(Section::Contacts, member),
            csrf_token: member.signed_in.csrf_token.clone(),
            custom_fields: CustomField::all(
                definitions,
                &CustomField::stored(&contact.custom_fields),
            ),
            created: when(&contact.created_at),
            updated: when(&contact.updated_at),
            contact,
            notice: None,
            timeline,
            kinds: ActivityKind::ALL,
            activity: ActivityForm {
                kind: "call".to_owned(),
                occurred_at: Utc::now().format("%Y-%m-%dT%H:%M").to_string(),
                ..ActivityForm::default()
            },
            errors: Errors::default(),
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
        _ => return None,
    })
}

async fn contact_page(
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

async fn log_activity(
    State(state): State<AppState>,
    Id(id): Id<ContactId>,
    MemberForm { member, form }: MemberForm<ActivityForm>,
) -> Result<Response, WebError> {
    let contact = visible_contact(&state, &member, id).await?;
    let mut errors = Errors::default();
    let text = form.occurred_at.trim();
    let occurred_at = if text.is_empty() {
        None
    } else {
        match NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        {
            Ok(at) => Some(at.and_utc()),
            Err(_) => {
                errors.add(
                    "occurred_at",
                    format!("“{text}” is not a date and time: use the picker, or write it like 2026-03-31T14:30."),
                );
                // Far beyond what the domain accepts: the activity is refused, with any other
                // problem of the form reported too.
                Some(DateTime::<Utc>::MAX_UTC)
            }
        }
    };
    let input = ActivityInput {
        kind: form.kind.clone(),
        description: form.description.clone(),
        occurred_at,
        participant_id: None,
    };
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

async fn delete(
    State(state): State<AppState>,
    Id(id): Id<ContactId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    set_deleted(&state, &member, id, true).await
}

async fn restore(
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

#[derive(Deserialize)]
struct DeleteActivityForm {
    #[serde(default)]
    contact_id: String,
}

async fn delete_activity(
    State(state): State<AppState>,
    Id(id): Id<ActivityId>,
    MemberForm { member, form }: MemberForm<DeleteActivityForm>,
) -> Result<Response, WebError> {
    activities::delete(&state.db, member.signed_in.context, id).await?;
    let back = match optional_id::<ContactId>(Some(&form.contact_id)) {
        Some(contact) => format!("/contacts/{contact}?notice=activity_deleted#timeline"),
        None => "/contacts".to_owned(),
    };
    Ok(Redirect::to(&back).into_response())
}
