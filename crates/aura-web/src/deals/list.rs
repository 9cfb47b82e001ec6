//! The deal list: all processes or one, filters, search as you type, four sorts, keyset pages,
//! and bulk reassignment for managers and admins.

use askama::Template;
use aura_crm::contacts;
use aura_crm::deals::{self, Deal, DealFilter, DealOrder, Outcome, ProcessChoice, Stage};
use aura_crm::ids::{ContactId, DealId, OrganizationId, ProcessId, StageId};
use aura_crm::organizations;
use aura_crm::paging::MAX_PAGE_SIZE;
use aura_platform::ids::UserId;
use aura_platform::members::Member as TeamMember;
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;

use super::{currency, money, parse_date, parse_decimal, percent};
use crate::bulk::{self, BulkBar, Chosen, ReassignForm, Refused};
use crate::extract::{Id, MemberForm};
use crate::forms::{encode, optional_id, Errors};
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::records::owner_choices;
use crate::session::Member;
use crate::{AppState, WebError};

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    q: Option<String>,
    process: Option<String>,
    stage: Option<String>,
    owner: Option<String>,
    /// An organization's id (from its page) or name (typed).
    organization: Option<String>,
    probability_min: Option<String>,
    probability_max: Option<String>,
    close_from: Option<String>,
    close_to: Option<String>,
    status: Option<String>,
    rotting: Option<String>,
    sort: Option<String>,
    deleted: Option<String>,
    after: Option<String>,
    reassigned: Option<String>,
    notice: Option<String>,
}

/// The filters as the form shows them again (text as typed).
#[derive(Default)]
pub(super) struct Filters {
    q: String,
    process: String,
    stage: String,
    owner: String,
    organization: String,
    probability_min: String,
    probability_max: String,
    close_from: String,
    close_to: String,
    status: String,
    rotting: bool,
    sort: String,
}

impl Filters {
    /// The query string that repeats these filters (for the next page's link).
    fn query(&self) -> String {
        let mut query = String::new();
        for (name, value) in [
            ("q", &self.q),
            ("process", &self.process),
            ("stage", &self.stage),
            ("owner", &self.owner),
            ("organization", &self.organization),
            ("probability_min", &self.probability_min),
            ("probability_max", &self.probability_max),
            ("close_from", &self.close_from),
            ("close_to", &self.close_to),
            ("status", &self.status),
        ] {
            if !value.is_empty() {
                query.push_str(&format!("&{name}={}", encode(value)));
            }
        }
        if self.rotting {
            query.push_str("&rotting=1");
        }
        if !self.sort.is_empty() && self.sort != DealOrder::Name.as_str() {
            query.push_str(&format!("&sort={}", encode(&self.sort)));
        }
        query
    }
}

/// A deal as a row of the list.
pub(super) struct DealRow {
    deal: Deal,
    amount: String,
    probability: String,
}

impl DealRow {
    fn of(deal: Deal) -> Self {
        Self {
            amount: deal.amount.as_ref().map(money).unwrap_or_default(),
            probability: percent(&deal.probability),
            deal,
        }
    }
}

#[derive(Template)]
#[template(path = "deals/list.html")]
struct DealsPage {
    chrome: Chrome,
    csrf_token: String,
    rows: Vec<DealRow>,
    currency: String,
    filters: Filters,
    errors: Errors,
    /// The filters' problems, said above the list.
    problems: Vec<String>,
    deleted: bool,
    can_reassign: bool,
    next_query: Option<String>,
    first_page: bool,
    oob: bool,
    processes: Vec<ProcessChoice>,
    /// The stages of the chosen process, for the stage filter (none: all processes).
    stages: Vec<Stage>,
    filter_by_owner: bool,
    owners: Vec<TeamMember>,
    outcomes: [Outcome; 3],
    notice: Option<String>,
    bulk: BulkBar,
}

/// The rows for htmx, with the pager and the stage filter swapped out of band.
#[derive(Template)]
#[template(path = "deals/results.html")]
struct DealResults {
    csrf_token: String,
    rows: Vec<DealRow>,
    currency: String,
    filters: Filters,
    /// The filters' problems, said above the list.
    problems: Vec<String>,
    deleted: bool,
    can_reassign: bool,
    next_query: Option<String>,
    first_page: bool,
    oob: bool,
    stages: Vec<Stage>,
}

fn text(value: &Option<String>) -> String {
    value.as_deref().unwrap_or_default().trim().to_owned()
}

pub(super) async fn list_page(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let sees_all = member.may(Permission::AllDeals);
    let can_reassign = member.may(Permission::AssignDeals);
    let deleted = query.deleted.as_deref().is_some_and(|d| !d.is_empty());
    let Filtered {
        filters,
        filter,
        errors,
        stages,
    } = filter_of(&state, &member, &query).await?;
    let problems: Vec<String> = [
        "organization",
        "probability_min",
        "probability_max",
        "close_from",
        "close_to",
    ]
    .into_iter()
    .filter_map(|name| errors.get(name).map(str::to_owned))
    .collect();
    let list = deals::list(&state.db, context, &filter).await?;
    let next_query = list.next.map(|next| {
        if deleted {
            format!("after={next}&deleted=1")
        } else {
            format!("after={next}{}", filters.query())
        }
    });
    let rows: Vec<DealRow> = list.items.into_iter().map(DealRow::of).collect();
    let currency = currency(&state, context).await?;
    let csrf_token = member.signed_in.csrf_token.clone();
    let first_page = filter.after.is_none();
    if wants_fragment(&headers) {
        return Ok(vary_on_htmx(render(&DealResults {
            csrf_token,
            rows,
            currency,
            filters,
            problems,
            deleted,
            can_reassign,
            next_query,
            first_page,
            oob: true,
            stages,
        })));
    }
    let notice = match (query.reassigned.as_deref(), query.notice.as_deref()) {
        (Some(n), _) => Some(match n.parse::<u64>().unwrap_or(0) {
            1 => "1 deal reassigned.".to_owned(),
            n => format!("{n} deals reassigned."),
        }),
        (None, Some(code)) => Refused::notice(code, "deals"),
        _ => None,
    };
    let bulk_filter = filters.query();
    let page = DealsPage {
        chrome: Chrome::for_member(Section::Deals, &member),
        csrf_token,
        rows,
        currency,
        filters,
        errors,
        problems,
        deleted,
        can_reassign,
        next_query,
        first_page,
        oob: false,
        processes: deals::processes(&state.db, context).await?,
        stages,
        filter_by_owner: sees_all,
        owners: if sees_all || can_reassign {
            owner_choices(&state, context, None).await?
        } else {
            Vec::new()
        },
        outcomes: Outcome::ALL,
        notice,
        bulk: BulkBar {
            action: "/deals/reassign",
            records: "deals",
            filter: bulk_filter,
        },
    };
    Ok(vary_on_htmx(render(&page)))
}

/// A list query read: the filters as typed, the list they ask for, their problems, and the
/// stages of the process chosen (for the stage filter).
struct Filtered {
    filters: Filters,
    filter: DealFilter,
    errors: Errors,
    stages: Vec<Stage>,
}

async fn filter_of(
    state: &AppState,
    member: &Member,
    query: &ListQuery,
) -> Result<Filtered, WebError> {
    let context = member.signed_in.context;
    let sees_all = member.may(Permission::AllDeals);
    let deleted = query.deleted.as_deref().is_some_and(|d| !d.is_empty());
    let mut errors = Errors::default();
    let mut filters = Filters {
        q: text(&query.q),
        process: text(&query.process),
        stage: text(&query.stage),
        owner: if sees_all {
            text(&query.owner)
        } else {
            String::new()
        },
        organization: text(&query.organization),
        probability_min: text(&query.probability_min),
        probability_max: text(&query.probability_max),
        close_from: text(&query.close_from),
        close_to: text(&query.close_to),
        status: text(&query.status),
        rotting: query.rotting.as_deref().is_some_and(|r| !r.is_empty()),
        sort: text(&query.sort),
    };
    let process: Option<ProcessId> = optional_id(Some(&filters.process));
    let stages = match process {
        Some(process) => deals::stages(&state.db, context, process).await?,
        None => Vec::new(),
    };
    // A stage filter only means something within the process chosen: one left over from
    // another process (the process was just switched) is dropped, not answered with nothing.
    let stage: Option<StageId> = optional_id::<StageId>(Some(&filters.stage))
        .filter(|id| stages.iter().any(|s| s.id == *id));
    if stage.is_none() {
        filters.stage.clear();
    }
    let organization_id: Option<OrganizationId> = match optional_id(Some(&filters.organization)) {
        Some(id) => Some(id),
        None if filters.organization.is_empty() => None,
        None => {
            let found =
                organizations::find_by_name(&state.db, context, &filters.organization).await?;
            if found.is_none() {
                errors.add(
                    "organization",
                    format!("No organization named “{}”.", filters.organization),
                );
            }
            // No such organization has no deals: the list says so rather than ignore the filter.
            Some(found.unwrap_or_else(|| OrganizationId::from(Uuid::nil())))
        }
    };
    let filter = DealFilter {
        search: (!filters.q.is_empty()).then(|| filters.q.clone()),
        process_id: process,
        stage_id: stage,
        assigned_to: optional_id::<UserId>(Some(&filters.owner)),
        organization_id,
        probability_min: parse_decimal(
            &filters.probability_min,
            "probability_min",
            "The lowest probability",
            &mut errors,
        ),
        probability_max: parse_decimal(
            &filters.probability_max,
            "probability_max",
            "The highest probability",
            &mut errors,
        ),
        close_from: parse_date(&filters.close_from, "close_from", &mut errors),
        close_to: parse_date(&filters.close_to, "close_to", &mut errors),
        outcome: Outcome::parse(&filters.status),
        rotting: filters.rotting,
        // An unknown order (an edited URL) is the default.
        order: DealOrder::parse(&filters.sort).unwrap_or_default(),
        deleted,
        // A cursor that is not one (an edited URL) is the first page.
        after: query
            .after
            .as_deref()
            .and_then(aura_crm::paging::Cursor::parse),
        limit: None,
    };
    Ok(Filtered {
        filters,
        filter,
        errors,
        stages,
    })
}

pub(super) async fn reassign(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<ReassignForm>,
) -> Result<Response, WebError> {
    member.require(Permission::AssignDeals)?;
    let refused = |why: Refused| Ok(why.to_list("/deals"));
    let context = member.signed_in.context;
    let (chosen, owner) = match form.read::<DealId, ListQuery>() {
        Ok(read) => read,
        Err(why) => return refused(why),
    };
    let ids = match chosen {
        Chosen::Rows(ids) => ids,
        Chosen::AllMatching(query) => {
            let Filtered { filter, errors, .. } = filter_of(&state, &member, &query).await?;
            // A filter that does not read would match more than the list showed.
            if !errors.is_empty() {
                return refused(Refused::BadFilter);
            }
            let filter = DealFilter {
                deleted: false,
                limit: Some(MAX_PAGE_SIZE),
                ..filter
            };
            let matching = bulk::all_matching(|after| {
                let filter = DealFilter {
                    after,
                    ..filter.clone()
                };
                let state = &state;
                async move {
                    let page = deals::list(&state.db, context, &filter).await?;
                    Ok((page.items.iter().map(|d| d.id).collect(), page.next))
                }
            })
            .await?;
            match matching {
                Ok(ids) => ids,
                Err(why) => return refused(why),
            }
        }
    };
    let result = deals::reassign(&state.db, context, &ids, owner).await;
    bulk::reassigned(&state, context, "/deals", &ids, result).await
}

/// An organization's deals, for its page (htmx loads them there): the first few the member may
/// see, and links to the rest in the list and to a new deal of it.
#[derive(Template)]
#[template(path = "deals/of_organization.html")]
struct OrganizationDeals {
    organization: OrganizationId,
    rows: Vec<DealRow>,
    more: bool,
    currency: String,
}

/// How many of an organization's deals its page shows.
const ORGANIZATION_DEALS: i64 = 10;

pub(super) async fn of_organization(
    State(state): State<AppState>,
    member: Member,
    Id(organization): Id<OrganizationId>,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    // An organization the member may not see has no deals to show either.
    if organizations::get(&state.db, context, organization)
        .await?
        .is_none()
    {
        return Err(WebError::NotFound);
    }
    let filter = DealFilter {
        organization_id: Some(organization),
        order: DealOrder::RecentlyChanged,
        limit: Some(ORGANIZATION_DEALS),
        ..DealFilter::default()
    };
    let page = deals::list(&state.db, context, &filter).await?;
    Ok(vary_on_htmx(render(&OrganizationDeals {
        organization,
        more: page.next.is_some(),
        rows: page.items.into_iter().map(DealRow::of).collect(),
        currency: currency(&state, context).await?,
    })))
}

/// A contact's deals, the ones the member may see, most recently changed first: a page of its
/// own for a browser without script, whose `rows` block htmx loads into the contact's page.
#[derive(Template)]
#[template(path = "deals/of_contact.html", blocks = ["rows"])]
struct ContactDealsPage {
    chrome: Chrome,
    contact: ContactId,
    contact_name: String,
    rows: Vec<DealRow>,
    more: bool,
    currency: String,
}

/// How many of a contact's deals its page shows.
const CONTACT_DEALS: i64 = 25;

pub(super) async fn of_contact(
    State(state): State<AppState>,
    member: Member,
    Id(contact): Id<ContactId>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let Some(found) = contacts::get(&state.db, context, contact).await? else {
        return Err(WebError::NotFound);
    };
    let (deals, more) = deals::of_contact(&state.db, context, contact, CONTACT_DEALS).await?;
    let page = ContactDealsPage {
        chrome: Chrome::for_member(Section::Contacts, &member),
        contact,
        contact_name: found.full_name(),
        rows: deals.into_iter().map(DealRow::of).collect(),
        more,
        currency: currency(&state, context).await?,
    };
    if wants_fragment(&headers) {
        return Ok(vary_on_htmx(render(&page.as_rows())));
    }
    Ok(vary_on_htmx(render(&page)))
}
