use askama::Template;
use aura_crm::contacts::{self, Contact, ContactFilter};
use aura_crm::ids::{ContactId, OrganizationId};
use aura_crm::organizations;
use aura_crm::paging::{Cursor, ListOrder, MAX_PAGE_SIZE};
use aura_platform::members::Member as TeamMember;
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use crate::bulk::{self, BulkBar, Chosen, ReassignForm, Refused};
use crate::extract::MemberForm;
use crate::forms::{encode, optional_id};
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::records::owner_choices;
use crate::session::Member;
use crate::time::Zone;
use crate::{AppState, WebError};

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
    bulk: BulkBar,
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
    let filter = filter_of(&member, &query);
    let deleted = filter.deleted;
    let q = filter.search.clone().unwrap_or_default();
    let owner = filter.assigned_to;
    let organization_id = filter.organization_id;
    let order = filter.order;
    let list_query = list_query(&filter);
    let list = contacts::list(&state.db, context, &filter).await?;
    let next_query = list.page.next.map(|next| {
        if deleted {
            format!("after={next}&deleted=1")
        } else {
            format!("after={next}{list_query}")
        }
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
        (None, Some(code)) => Refused::notice(code, "contacts"),
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
        bulk: BulkBar {
            action: "/contacts/reassign",
            records: "contacts",
            filter: list_query,
        },
    };
    Ok(vary_on_htmx(render(&page)))
}

/// The list a query asks for. A rep's list is always their own; a cursor that is not one (an
/// edited URL) is the first page, an unknown order the default.
fn filter_of(member: &Member, query: &ListQuery) -> ContactFilter {
    let q = query.q.as_deref().unwrap_or_default().trim();
    ContactFilter {
        search: (!q.is_empty()).then(|| q.to_owned()),
        assigned_to: if member.may(Permission::AllContacts) {
            optional_id(query.owner.as_deref())
        } else {
            None
        },
        organization_id: optional_id(query.organization.as_deref()),
        order: query
            .sort
            .as_deref()
            .and_then(ListOrder::parse)
            .unwrap_or_default(),
        deleted: query.deleted.as_deref().is_some_and(|d| !d.is_empty()),
        after: query.after.as_deref().and_then(Cursor::parse),
        limit: None,
    }
}

/// The query string (each part led by `&`) that repeats a live list's search and filters.
fn list_query(filter: &ContactFilter) -> String {
    let mut query = String::new();
    if let Some(q) = &filter.search {
        query.push_str(&format!("&q={}", encode(q)));
    }
    if let Some(owner) = filter.assigned_to {
        query.push_str(&format!("&owner={owner}"));
    }
    if let Some(organization) = filter.organization_id {
        query.push_str(&format!("&organization={organization}"));
    }
    if filter.order != ListOrder::Name {
        query.push_str(&format!("&sort={}", filter.order.as_str()));
    }
    query
}

pub(super) async fn reassign(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<ReassignForm>,
) -> Result<Response, WebError> {
    member.require(Permission::AssignContacts)?;
    let refused = |why: Refused| Ok(why.to_list("/contacts"));
    let context = member.signed_in.context;
    let (chosen, owner) = match form.read::<ContactId, ListQuery>() {
        Ok(read) => read,
        Err(why) => return refused(why),
    };
    let ids = match chosen {
        Chosen::Rows(ids) => ids,
        Chosen::AllMatching(query) => {
            let filter = ContactFilter {
                deleted: false,
                limit: Some(MAX_PAGE_SIZE),
                ..filter_of(&member, &query)
            };
            let matching = bulk::all_matching(|after| {
                let filter = ContactFilter {
                    after,
                    ..filter.clone()
                };
                let state = &state;
                async move {
                    let list = contacts::list(&state.db, context, &filter).await?;
                    // Names like the search, offered when none starts with it, match nothing.
                    if list.similar {
                        return Ok((Vec::new(), None));
                    }
                    Ok((
                        list.page.items.iter().map(|c| c.id).collect(),
                        list.page.next,
                    ))
                }
            })
            .await?;
            match matching {
                Ok(ids) => ids,
                Err(why) => return refused(why),
            }
        }
    };
    let result = contacts::reassign(&state.db, context, &ids, owner).await;
    bulk::reassigned(&state, context, "/contacts", &ids, result).await
}
