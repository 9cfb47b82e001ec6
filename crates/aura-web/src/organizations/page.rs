use askama::Template;
use aura_crm::activities::Timeline;

use aura_crm::contacts::{self, Contact, ContactFilter};
use aura_crm::ids::OrganizationId;
use aura_crm::organizations::{self, Organization, OrganizationRow};
use aura_crm::paging::Cursor;
use aura_crm::WriteError;
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::{definitions, visible_organization};
use crate::extract::Id;
use crate::forms::{encode, CustomField};
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::records::{MoreActivities, ProblemPage, TimelineView};
use crate::removal::{self, Removable};
use crate::session::Member;
use crate::{AppState, WebError};

#[derive(Deserialize, Default)]
pub(super) struct OrganizationQuery {
    after: Option<String>,
    notice: Option<String>,
}

/// How many of an organization's contacts its page lists before linking to the full list.
const CONTACTS_SHOWN: i64 = 10;

#[derive(Template)]
#[template(path = "organizations/page.html")]
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
    /// Right after a delete: the restore form's address, offered as Undo.
    undo: Option<String>,
    timeline: TimelineView,
}

pub(super) async fn organization_page(
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
        member.zone(),
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
        created: member.zone().when(&organization.created_at),
        updated: member.zone().when(&organization.updated_at),
        subsidiaries: organizations::subsidiaries(&state.db, context, organization.id).await?,
        organization,
        contacts: contacts.page.items,
        more_contacts: contacts.page.next.is_some(),
        can_delete: member.may(Permission::DeleteOrganizations),
        notice: match query.notice.as_deref() {
            Some("created") => Some("Organization created."),
            Some("saved") => Some("Organization saved."),
            Some("deleted") => Some("Organization deleted."),
            Some("restored") => Some("Organization restored."),
            _ => None,
        },
        undo: removal::undo::<Organizations>(query.notice.as_deref(), id),
        timeline,
    };
    Ok(vary_on_htmx(render(&page)))
}

/// Organizations are deleted and restored by the shared path (`crate::removal`), by managers
/// and admins only.
pub(super) struct Organizations;

impl Removable for Organizations {
    type Id = OrganizationId;
    type Record = Organization;
    const PATH: &'static str = "/organizations";
    const NOUN: &'static str = "organization";
    const SECTION: Section = Section::Organizations;

    async fn find(
        state: &AppState,
        member: &Member,
        id: OrganizationId,
    ) -> Result<Organization, WebError> {
        member.require(Permission::DeleteOrganizations)?;
        visible_organization(state, member, id).await
    }

    fn name(organization: &Organization) -> String {
        organization.name.clone()
    }

    async fn set_deleted(
        state: &AppState,
        member: &Member,
        organization: &Organization,
        deleted: bool,
    ) -> Result<Option<ProblemPage>, WebError> {
        let context = member.signed_in.context;
        match organizations::set_deleted(&state.db, context, organization.id, deleted).await {
            Ok(()) => Ok(None),
            Err(WriteError::Duplicate { .. }) => Ok(Some(ProblemPage {
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
            })),
            Err(other) => Err(other.into()),
        }
    }
}
