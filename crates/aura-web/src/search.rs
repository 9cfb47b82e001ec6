//! The search in every workspace page's header: contacts, organizations and deals whose names
//! (or emails, phones, companies) start with what was typed. htmx asks for the results as the
//! user types; without JavaScript the header's form opens the same results as a page. Who sees
//! what is the repositories' and the database's business: a rep finds only their own contacts
//! and deals, exactly as on the lists.

use askama::Template;
use aura_crm::contacts::{self, Contact, ContactFilter};
use aura_crm::deals::{self, Deal, DealFilter};
use aura_crm::organizations::{self, OrganizationFilter, OrganizationRow};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::forms::encode;
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::session::Member;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/search", get(search))
}

/// Rows of each kind shown; the kind's own list has the rest.
const PER_KIND: i64 = 5;

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

/// What a search found, kind by kind.
struct Found {
    q: String,
    /// `q` for a link's query string.
    q_encoded: String,
    contacts: Vec<Contact>,
    /// No contact starts with `q`; these have names like it.
    similar_contacts: bool,
    /// More contacts match than are shown.
    more_contacts: bool,
    organizations: Vec<OrganizationRow>,
    more_organizations: bool,
    deals: Vec<Deal>,
    more_deals: bool,
}

impl Found {
    fn is_empty(&self) -> bool {
        self.contacts.is_empty() && self.organizations.is_empty() && self.deals.is_empty()
    }
}

/// The page, whose `results` block is also what htmx gets as the user types.
#[derive(Template)]
#[template(path = "search/page.html", blocks = ["results"])]
struct SearchPage {
    chrome: Chrome,
    found: Found,
}

async fn search(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<SearchQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let q = query.q.unwrap_or_default().trim().to_owned();
    let found = if q.is_empty() {
        Found {
            q_encoded: String::new(),
            q,
            contacts: Vec::new(),
            similar_contacts: false,
            more_contacts: false,
            organizations: Vec::new(),
            more_organizations: false,
            deals: Vec::new(),
            more_deals: false,
        }
    } else {
        find(&state, &member, q).await?
    };
    let page = SearchPage {
        chrome: Chrome::for_member(Section::Search, &member),
        found,
    };
    Ok(vary_on_htmx(if wants_fragment(&headers) {
        render(&page.as_results())
    } else {
        render(&page)
    }))
}

/// The first few of each kind, through the lists' own search (their prefix indexes, their
/// visibility rules), the three at once.
async fn find(state: &AppState, member: &Member, q: String) -> Result<Found, WebError> {
    let context = member.signed_in.context;
    let contact_filter = ContactFilter {
        search: Some(q.clone()),
        limit: Some(PER_KIND),
        ..ContactFilter::default()
    };
    let organization_filter = OrganizationFilter {
        name_prefix: Some(q.clone()),
        limit: Some(PER_KIND),
        ..OrganizationFilter::default()
    };
    let deal_filter = DealFilter {
        search: Some(q.clone()),
        limit: Some(PER_KIND),
        ..DealFilter::default()
    };
    let (mut contacts, organizations, deals) = tokio::try_join!(
        contacts::list(&state.db, context, &contact_filter),
        organizations::list(&state.db, context, &organization_filter),
        deals::list(&state.db, context, &deal_filter),
    )?;
    // Similar names come as one unpaged list.
    let more_similar = contacts.page.items.len() > PER_KIND as usize;
    contacts.page.items.truncate(PER_KIND as usize);
    Ok(Found {
        q_encoded: encode(&q),
        q,
        similar_contacts: contacts.similar,
        more_contacts: contacts.page.next.is_some() || more_similar,
        contacts: contacts.page.items,
        more_organizations: organizations.next.is_some(),
        organizations: organizations.items,
        more_deals: deals.next.is_some(),
        deals: deals.items,
    })
}
