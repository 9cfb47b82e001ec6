use askama::Template;
use aura_crm::contacts::{self, Contact, ContactFilter};
use aura_crm::ids::{ContactId, OrganizationId};
use aura_crm::paging::{Cursor, ListOrder};
use aura_crm::{organizations, WriteError};
use aura_platform::ids::UserId;
use aura_platform::members::Member as TeamMember;
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::extract::MemberForm;
use crate::forms::{encode, optional_id};
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::records::owner_choices;
use crate::session::Member;
use crate::time::Zone;
use crate::{refusals, AppState, WebError};

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
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
#[template(path = "contacts/list.html")]
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
    /// For the next follow-up's and the last activity's times.
    zone: Zone,
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
#[template(path = "contacts/results.html")]
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
    zone: Zone,
}

pub(super) async fn list_page(
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
            zone: member.zone(),
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
        zone: member.zone(),
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
pub(super) struct ReassignForm {
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    owner: String,
}

pub(super) async fn reassign(
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
