use std::collections::BTreeMap;

use askama::Template;
use aura_crm::contacts::{self, Contact, ContactInput};
use aura_crm::custom_fields::{self, Definition, Entity};
use aura_crm::ids::ContactId;
use aura_crm::WriteError;
use aura_platform::members::Member as TeamMember;
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::visible_contact;
use crate::extract::{Id, MemberForm};
use crate::forms::{optional_id, version, write_unless, CustomField, Errors};
use crate::layout::{render, Chrome, Section};
use crate::records::owner_choices;
use crate::session::Member;
use crate::{AppState, WebError};

/// The form as sent: strings only, so that whatever was typed can be shown again.
#[derive(Deserialize, Default, Clone)]
pub(super) struct ContactForm {
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
        let organization_id =
            crate::organizations::named(state, context, &self.organization, "organization", errors)
                .await?;
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
#[template(path = "contacts/form.html")]
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
pub(super) struct NewQuery {
    organization: Option<String>,
}

pub(super) async fn new_page(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<NewQuery>,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let organization =
        crate::organizations::prefilled_name(&state, &member, query.organization.as_deref())
            .await?;
    let form = ContactForm {
        organization,
        assigned_to: context.user_id.to_string(),
        ..ContactForm::default()
    };
    let definitions = custom_fields::list(&state.db, context, Entity::Contact).await?;
    Ok(render(
        &ContactFormPage::new(&state, &member, None, definitions, form).await?,
    ))
}

pub(super) async fn create(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<ContactForm>,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let definitions = custom_fields::list(&state.db, context, Entity::Contact).await?;
    let mut errors = Errors::default();
    let input = form
        .input(&state, &member, &definitions, &mut errors)
        .await?;
    let created = write_unless(
        &errors,
        contacts::create(&state.db, context, &input),
        contacts::problems(&state.db, context, &input),
    )
    .await?;
    match created {
        Ok(id) => Ok(Redirect::to(&format!("/contacts/{id}?notice=created")).into_response()),
        Err(error) => ContactFormPage::new(&state, &member, None, definitions, form)
            .await?
            .refused(error, errors),
    }
}

pub(super) async fn edit_page(
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

pub(super) async fn update(
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
    let context = member.signed_in.context;
    let saved = write_unless(
        &errors,
        contacts::update(
            &state.db,
            context,
            contact.id,
            version(&form.version),
            &input,
        ),
        contacts::problems(&state.db, context, &input),
    )
    .await?;
    match saved {
        Ok(_) => {
            Ok(Redirect::to(&format!("/contacts/{}?notice=saved", contact.id)).into_response())
        }
        Err(error) => ContactFormPage::new(&state, &member, Some(&contact), definitions, form)
            .await?
            .refused(error, errors),
    }
}
