//! Organizations in the browser (F6): the list by name with a prefix filter as you type, the
//! forms to create and edit, and the organization's page with its parent, subsidiaries,
//! contacts and activity timeline. Only managers and admins delete and restore (the domain
//! layer refuses reps; the pages do not offer them the buttons).

use askama::Template;
use aura_crm::activities::Timeline;
use std::collections::BTreeMap;

use aura_crm::contacts::{self, Contact, ContactFilter};
use aura_crm::custom_fields::{self, Definition, Entity};
use aura_crm::ids::OrganizationId;
use aura_crm::organizations::{
    self, Organization, OrganizationFilter, OrganizationInput, OrganizationRow, OrganizationSize,
};
use aura_crm::paging::{Cursor, ListOrder};
use aura_crm::WriteError;
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::contacts::{when, MoreActivities, ProblemPage, TimelineView};
use crate::extract::{Id, MemberForm};
use crate::forms::{encode, CustomField, Errors, NoFields};
use crate::pages::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::session::Member;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/organizations", get(list_page).post(create))
        .route("/organizations/new", get(new_page))
        .route("/organizations/options", get(options))
        .route("/organizations/{id}", get(organization_page).post(update))
        .route("/organizations/{id}/edit", get(edit_page))
        .route("/organizations/{id}/delete", post(delete))
        .route("/organizations/{id}/restore", post(restore))
}

// ---------------------------------------------------------------------------------------------
// The list.

#[derive(Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    size: Option<String>,
    sort: Option<String>,
    deleted: Option<String>,
    after: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "organizations.html")]
struct OrganizationsPage {
    chrome: Chrome,
    csrf_token: String,
    organizations: Vec<OrganizationRow>,
    q: String,
    /// The size band filtered on, or "".
    size: String,
    sizes: [OrganizationSize; 7],
    order: ListOrder,
    deleted: bool,
    can_delete: bool,
    next_query: Option<String>,
    first_page: bool,
    oob: bool,
    notice: Option<&'static str>,
}

/// The rows of a filtered list, for htmx to put in the table as the user types.
#[derive(Template)]
#[template(path = "organization_results.html")]
struct OrganizationResults {
    csrf_token: String,
    organizations: Vec<OrganizationRow>,
    q: String,
    deleted: bool,
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
    let deleted = query.deleted.as_deref().is_some_and(|d| !d.is_empty());
    if deleted && !member.may(Permission::DeleteOrganizations) {
        return Err(WebError::Forbidden);
    }
    let q = query.q.clone().unwrap_or_default().trim().to_owned();
    // An unknown size or order (an edited URL) means none: the list, unfiltered, by name.
    let size = query.size.as_deref().and_then(OrganizationSize::parse);
    let order = query
        .sort
        .as_deref()
        .and_then(ListOrder::parse)
        .unwrap_or_default();
    // A cursor that is not one (an edited URL) is the first page.
    let after = query.after.as_deref().and_then(Cursor::parse);
    let filter = OrganizationFilter {
        name_prefix: (!q.is_empty() && !deleted).then(|| q.clone()),
        size,
        order,
        deleted,
        after,
        limit: None,
    };
    let page = organizations::list(&state.db, context, &filter).await?;
    let next_query = page.next.map(|next| {
        let mut query = format!("after={next}");
        if deleted {
            query.push_str("&deleted=1");
        } else {
            if !q.is_empty() {
                query.push_str(&format!("&q={}", encode(&q)));
            }
            if let Some(size) = size {
                query.push_str(&format!("&size={}", encode(size.as_str())));
            }
            if order != ListOrder::Name {
                query.push_str(&format!("&sort={}", order.as_str()));
            }
        }
        query
    });
    let csrf_token = member.signed_in.csrf_token.clone();
    if wants_fragment(&headers) {
        return Ok(vary_on_htmx(render(&OrganizationResults {
            csrf_token,
            organizations: page.items,
            q,
            deleted,
            next_query,
            first_page: filter.after.is_none(),
            oob: true,
        })));
    }
    Ok(vary_on_htmx(render(&OrganizationsPage {
        chrome: Chrome::for_member(Section::Organizations, &member),
        csrf_token,
        organizations: page.items,
        q,
        size: size.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        sizes: OrganizationSize::ALL,
        order,
        deleted,
        can_delete: member.may(Permission::DeleteOrganizations),
        next_query,
        first_page: filter.after.is_none(),
        oob: false,
        notice: match query.notice.as_deref() {
            Some("deleted") => Some("Organization deleted."),
            _ => None,
        },
    })))
}

#[derive(Deserialize, Default)]
struct OptionsQuery {
    organization: Option<String>,
    parent: Option<String>,
    q: Option<String>,
}

/// `<option>`s of the organizations whose names start with what was typed, for the
/// `<datalist>` of an organization-name input.
#[derive(Template)]
#[template(path = "organization_options.html")]
struct OrganizationOptions {
    organizations: Vec<OrganizationRow>,
}

async fn options(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<OptionsQuery>,
) -> Result<Response, WebError> {
    let typed = query
        .organization
        .or(query.parent)
        .or(query.q)
        .unwrap_or_default();
    let organizations = if typed.trim().is_empty() {
        Vec::new()
    } else {
        let filter = OrganizationFilter {
            name_prefix: Some(typed),
            limit: Some(10),
            ..OrganizationFilter::default()
        };
        organizations::list(&state.db, member.signed_in.context, &filter)
            .await?
            .items
    };
    Ok(render(&OrganizationOptions { organizations }))
}

// ---------------------------------------------------------------------------------------------
// The form to create or edit an organization.

#[derive(Deserialize, Default, Clone)]
struct OrganizationForm {
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
        let parent_id = match self.parent.trim() {
            "" => None,
            name => {
                match organizations::find_by_name(&state.db, member.signed_in.context, name).await?
                {
                    Some(id) => Some(id),
                    None => {
                        errors.add(
                            "parent",
                            format!("No organization named “{name}”. Create it first."),
                        );
                        None
                    }
                }
            }
        };
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
#[template(path = "organization_form.html")]
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

async fn new_page(State(state): State<AppState>, member: Member) -> Result<Response, WebError> {
    let definitions = definitions(&state, &member).await?;
    Ok(render(&OrganizationFormPage::new(
        &member,
        None,
        definitions,
        OrganizationForm::default(),
    )))
}

/// The workspace's custom organization fields.
async fn definitions(state: &AppState, member: &Member) -> Result<Vec<Definition>, WebError> {
    let context = member.signed_in.context;
    Ok(custom_fields::list(&state.db, context, Entity::Organization).await?)
}

async fn create(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<OrganizationForm>,
) -> Result<Response, WebError> {
    let definitions = definitions(&state, &member).await?;
    let mut errors = Errors::default();
    let input = form
        .input(&state, &member, &definitions, &mut errors)
        .await?;
    let context = member.signed_in.context;
    let created = if errors.is_empty() {
        organizations::create(&state.db, context, &input).await
    } else {
        // The form found a problem of its own: show the domain's too, and save nothing.
        Err(WriteError::Invalid(
            organizations::problems(&state.db, context, &input).await?,
        ))
    };
    match created {
        Ok(id) => Ok(Redirect::to(&format!("/organizations/{id}?notice=created")).into_response()),
        Err(error) => {
            OrganizationFormPage::new(&member, None, definitions, form).refused(error, errors)
        }
    }
}

async fn visible_organization(
    state: &AppState,
    member: &Member,
    id: OrganizationId,
) -> Result<Organization, WebError> {
    organizations::get(&state.db, member.signed_in.context, id)
        .await?
        .ok_or(WebError::NotFound)
}

async fn edit_page(
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

async fn update(
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
    let version = form.version.trim().parse().unwrap_or(-1);
    let context = member.signed_in.context;
    let saved = if errors.is_empty() {
        organizations::update(&state.db, context, organization.id, version, &input).await
    } else {
        Err(WriteError::Invalid(
            organizations::problems(&state.db, context, &input).await?,
        ))
    };
    match saved {
        Ok(_) => Ok(
            Redirect::to(&format!("/organizations/{}?notice=saved", organization.id))
                .into_response(),
        ),
        Err(error) => OrganizationFormPage::new(&member, Some(&organization), definitions, form)
            .refused(error, errors),
    }
}

// ---------------------------------------------------------------------------------------------
// The organization's page.

#[derive(Deserialize, Default)]
struct OrganizationQuery {
    after: Option<String>,
    notice: Option<String>,
}

/// How many of an organization's contacts its page lists before linking to the full list.
const CONTACTS_SHOWN: i64 = 10;

#[derive(Template)]
#[template(path = "organization.html")]
struct OrganizationPage {
    chrome: Chrome,
    csrf_token: String,
    organization: Organization,
    /// The workspace's custom organization fields with this organization's values.
    custom_fields: Vec<CustomField>,
    created: String,
    updated: String,
    subsidiaries: Vec<OrganizationRow>,
    contacts: Vec<Contact>,
    more_contacts: bool,
    can_delete: bool,
    notice: Option<&'static str>,
    timeline: TimelineView,
}

async fn organization_page(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<OrganizationId>,
    Query(query): Query<OrganizationQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let organization = visible_organization(&state, &member, id).await?;
    let context = member.signed_in.context;
    let after = query.after.as_deref().and_then(Cursor::parse);
    let timeline = TimelineView::load(
        &state,
        context,
        Timeline::Organization(organization.id),
        format!("/organizations/{}", organization.id),
        after,
    )
    .await?;
    let csrf_token = member.signed_in.csrf_token.clone();
    if wants_fragment(&headers) {
        let mut timeline = timeline;
        timeline.oob = true;
        return Ok(vary_on_htmx(render(&MoreActivities {
            timeline,
            csrf_token,
        })));
    }
    let contacts = contacts::list(
        &state.db,
        context,
        &ContactFilter {
            organization_id: Some(organization.id),
            limit: Some(CONTACTS_SHOWN),
            ..ContactFilter::default()
        },
    )
    .await?;
    let page = OrganizationPage {
        chrome: Chrome::for_member(Section::Organizations, &member),
        csrf_token,
        custom_fields: CustomField::all(
            definitions(&state, &member).await?,
            &CustomField::stored(&organization.custom_fields),
        ),
        created: when(&organization.created_at),
        updated: when(&organization.updated_at),
        subsidiaries: organizations::subsidiaries(&state.db, context, organization.id).await?,
        organization,
        contacts: contacts.page.items,
        more_contacts: contacts.page.next.is_some(),
        can_delete: member.may(Permission::DeleteOrganizations),
        notice: match query.notice.as_deref() {
            Some("created") => Some("Organization created."),
            Some("saved") => Some("Organization saved."),
            Some("deleted") => Some("Organization deleted. You can restore it."),
            Some("restored") => Some("Organization restored."),
            _ => None,
        },
        timeline,
    };
    Ok(vary_on_htmx(render(&page)))
}

async fn delete(
    State(state): State<AppState>,
    Id(id): Id<OrganizationId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    set_deleted(&state, &member, id, true).await
}

async fn restore(
    State(state): State<AppState>,
    Id(id): Id<OrganizationId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    set_deleted(&state, &member, id, false).await
}

async fn set_deleted(
    state: &AppState,
    member: &Member,
    id: OrganizationId,
    deleted: bool,
) -> Result<Response, WebError> {
    if !member.may(Permission::DeleteOrganizations) {
        return Err(WebError::Forbidden);
    }
    let organization = visible_organization(state, member, id).await?;
    let notice = if deleted { "deleted" } else { "restored" };
    let context = member.signed_in.context;
    match organizations::set_deleted(&state.db, context, organization.id, deleted).await {
        Ok(()) => Ok(Redirect::to(&format!(
            "/organizations/{}?notice={notice}",
            organization.id
        ))
        .into_response()),
        Err(WriteError::Duplicate { .. }) => {
            let page = ProblemPage {
                chrome: Chrome::for_member(Section::Organizations, member),
                title: format!("{} cannot be restored", organization.name),
                detail: format!(
                    "Another organization is now called “{}”, and each name belongs to one \
                     organization. Rename that one first, then restore this one.",
                    organization.name
                ),
                link: Some((
                    format!("/organizations?q={}", encode(&organization.name)),
                    "Find the organization with this name".to_owned(),
                )),
                back: format!("/organizations/{}", organization.id),
            };
            Ok((StatusCode::CONFLICT, render(&page)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}
