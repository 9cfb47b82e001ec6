use askama::Template;

use aura_crm::organizations::{self, OrganizationFilter, OrganizationRow, OrganizationSize};
use aura_crm::paging::{Cursor, ListOrder};
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use crate::forms::encode;
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::session::Member;
use crate::{AppState, WebError};

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    q: Option<String>,
    size: Option<String>,
    sort: Option<String>,
    deleted: Option<String>,
    after: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "organizations/list.html")]
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
#[template(path = "organizations/results.html")]
struct OrganizationResults {
    csrf_token: String,
    organizations: Vec<OrganizationRow>,
    q: String,
    deleted: bool,
    next_query: Option<String>,
    first_page: bool,
    oob: bool,
}

pub(super) async fn list_page(
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
pub(super) struct OptionsQuery {
    organization: Option<String>,
    parent: Option<String>,
    q: Option<String>,
}

/// `<option>`s of the organizations whose names start with what was typed, for the
/// `<datalist>` of an organization-name input.
#[derive(Template)]
#[template(path = "organizations/options.html")]
struct OrganizationOptions {
    organizations: Vec<OrganizationRow>,
}

pub(super) async fn options(
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
