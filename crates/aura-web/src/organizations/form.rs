use askama::Template;
use std::collections::BTreeMap;

use aura_crm::custom_fields::Definition;
use aura_crm::ids::OrganizationId;
use aura_crm::organizations::{self, Organization, OrganizationInput, OrganizationSize};
use aura_crm::WriteError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{definitions, visible_organization};
use crate::extract::{Id, MemberForm};
use crate::forms::{version, write_unless, CustomField, Errors};
use crate::layout::{render, Chrome, Section};
use crate::session::Member;
use crate::{AppState, WebError};

#[derive(Deserialize, Default, Clone)]
pub(super) struct OrganizationForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    industry: String,
    #[serde(default)]
    size_band: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    website: String,
    /// The parent organization's name.
    #[serde(default)]
    parent: String,
    #[serde(default)]
    version: String,
    /// The custom fields' inputs, `custom_fields.<key>` (and any other unknown input).
    #[serde(flatten)]
    custom: BTreeMap<String, String>,
}

impl OrganizationForm {
    fn of(organization: &Organization) -> Self {
        Self {
            name: organization.name.clone(),
            industry: organization.industry.clone().unwrap_or_default(),
            size_band: organization
                .size_band
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            location: organization.location.clone().unwrap_or_default(),
            website: organization.website.clone().unwrap_or_default(),
            parent: organization.parent_name.clone().unwrap_or_default(),
            version: organization.version.to_string(),
            custom: CustomField::stored(&organization.custom_fields),
        }
    }

    async fn input(
        &self,
        state: &AppState,
        member: &Member,
        definitions: &[Definition],
        errors: &mut Errors,
    ) -> Result<OrganizationInput, WebError> {
        let context = member.signed_in.context;
        let parent_id = super::named(state, context, &self.parent, "parent", errors).await?;
        Ok(OrganizationInput {
            name: self.name.clone(),
            industry: Some(self.industry.clone()),
            size_band: Some(self.size_band.clone()),
            location: Some(self.location.clone()),
            website: Some(self.website.clone()),
            parent_id,
            custom_fields: Some(CustomField::submitted(definitions, &self.custom)),
        })
    }
}

#[derive(Template)]
#[template(path = "organizations/form.html")]
struct OrganizationFormPage {
    chrome: Chrome,
    csrf_token: String,
    heading: String,
    organization_id: Option<OrganizationId>,
    form: OrganizationForm,
    /// The workspace's custom organization fields with the form's values.
    custom_fields: Vec<CustomField>,
    sizes: [OrganizationSize; 7],
    errors: Errors,
    unknown_parent: bool,
    stale: Option<Organization>,
}

impl OrganizationFormPage {
    fn new(
        member: &Member,
        organization: Option<&Organization>,
        definitions: Vec<Definition>,
        form: OrganizationForm,
    ) -> Self {
        Self {
            chrome: Chrome::for_member(Section::Organizations, member),
            csrf_token: member.signed_in.csrf_token.clone(),
            heading: match organization {
                Some(organization) => format!("Edit {}", organization.name),
                None => "New organization".to_owned(),
            },
            organization_id: organization.map(|o| o.id),
            custom_fields: CustomField::all(definitions, &form.custom),
            form,
            sizes: OrganizationSize::ALL,
            errors: Errors::default(),
            unknown_parent: false,
            stale: None,
        }
    }

    fn refused(
        mut self,
        error: WriteError<Organization>,
        errors: Errors,
    ) -> Result<Response, WebError> {
        self.unknown_parent = errors.get("parent").is_some();
        self.errors = errors;
        let status = match error {
            WriteError::Invalid(found) => {
                self.errors.extend(found, &[("parent_id", "parent")]);
                StatusCode::UNPROCESSABLE_ENTITY
            }
            WriteError::Duplicate { .. } => {
                self.errors.add(
                    "name",
                    format!(
                        "An organization named “{}” already exists in this workspace.",
                        self.form.name.trim()
                    ),
                );
                StatusCode::CONFLICT
            }
            WriteError::Stale(current) => {
                self.form.version = current.version.to_string();
                self.stale = Some(*current);
                StatusCode::CONFLICT
            }
            other => return Err(other.into()),
        };
        Ok((status, render(&self)).into_response())
    }
}

pub(super) async fn new_page(
    State(state): State<AppState>,
    member: Member,
) -> Result<Response, WebError> {
    let definitions = definitions(&state, &member).await?;
    Ok(render(&OrganizationFormPage::new(
        &member,
        None,
        definitions,
        OrganizationForm::default(),
    )))
}

pub(super) async fn create(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<OrganizationForm>,
) -> Result<Response, WebError> {
    let definitions = definitions(&state, &member).await?;
    let mut errors = Errors::default();
    let input = form
        .input(&state, &member, &definitions, &mut errors)
        .await?;
    let context = member.signed_in.context;
    let created = write_unless(
        &errors,
        organizations::create(&state.db, context, &input),
        organizations::problems(&state.db, context, &input),
    )
    .await?;
    match created {
        Ok(id) => Ok(Redirect::to(&format!("/organizations/{id}?notice=created")).into_response()),
        Err(error) => {
            OrganizationFormPage::new(&member, None, definitions, form).refused(error, errors)
        }
    }
}

pub(super) async fn edit_page(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<OrganizationId>,
) -> Result<Response, WebError> {
    let organization = visible_organization(&state, &member, id).await?;
    if organization.deleted_at.is_some() {
        return Ok(Redirect::to(&format!("/organizations/{}", organization.id)).into_response());
    }
    let form = OrganizationForm::of(&organization);
    let definitions = definitions(&state, &member).await?;
    Ok(render(&OrganizationFormPage::new(
        &member,
        Some(&organization),
        definitions,
        form,
    )))
}

pub(super) async fn update(
    State(state): State<AppState>,
    Id(id): Id<OrganizationId>,
    MemberForm { member, form }: MemberForm<OrganizationForm>,
) -> Result<Response, WebError> {
    let organization = visible_organization(&state, &member, id).await?;
    let definitions = definitions(&state, &member).await?;
    let mut errors = Errors::default();
    let input = form
        .input(&state, &member, &definitions, &mut errors)
        .await?;
    let context = member.signed_in.context;
    let version = version(&form.version);
    let saved = write_unless(
        &errors,
        organizations::update(&state.db, context, organization.id, version, &input),
        organizations::problems(&state.db, context, &input),
    )
    .await?;
    match saved {
        Ok(_) => Ok(
            Redirect::to(&format!("/organizations/{}?notice=saved", organization.id))
                .into_response(),
        ),
        Err(error) => OrganizationFormPage::new(&member, Some(&organization), definitions, form)
            .refused(error, errors),
    }
}
