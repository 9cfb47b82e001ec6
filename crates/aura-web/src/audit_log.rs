//! The workspace's audit trail for its admins (F14.5).

use askama::Template;
use aura_platform::audit::{self, AuditError, Cursor, Entry, Filter, ACTIONS};
use aura_platform::ids::UserId;
use aura_platform::members::{self, Member as TeamMember};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;

use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::session::Member;
use crate::time::Zone;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/audit", get(audit_page))
}

/// The filters as the query string carries them; anything unknown is ignored, not trusted.
#[derive(Deserialize, Default)]
struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "audit/page.html")]
struct AuditPage {
    chrome: Chrome,
    entries: Vec<Entry>,
    actions: &'static [&'static str],
    members: Vec<TeamMember>,
    action: Option<&'static str>,
    actor: Option<UserId>,
    /// The query string of the next (older) page, if any.
    next_query: Option<String>,
    first_page: bool,
    /// Rendered into a page (false) or as an htmx out-of-band swap of the pager (true).
    oob: bool,
    zone: Zone,
}

/// The next page's rows and the pager, for htmx to append in place ("Older entries").
#[derive(Template)]
#[template(path = "audit/more.html")]
struct MoreEntries {
    entries: Vec<Entry>,
    next_query: Option<String>,
    first_page: bool,
    oob: bool,
    zone: Zone,
}

async fn audit_page(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<AuditQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let filter = Filter {
        action: query
            .action
            .as_deref()
            .and_then(|wanted| ACTIONS.iter().copied().find(|known| *known == wanted)),
        actor: query
            .actor
            .as_deref()
            .and_then(|id| id.parse::<Uuid>().ok())
            .map(UserId::from),
        after: query.after.as_deref().and_then(Cursor::parse),
    };
    let page = audit::page(&state.db, context, &filter)
        .await
        .map_err(|err| match err {
            AuditError::NotAdmin => WebError::Forbidden,
            AuditError::Db(err) => err.into(),
        })?;
    let next_query = page.next.map(|cursor| {
        let mut query = format!("after={cursor}");
        if let Some(action) = filter.action {
            query.push_str(&format!("&action={action}"));
        }
        if let Some(actor) = filter.actor {
            query.push_str(&format!("&actor={actor}"));
        }
        query
    });
    // One handler, two renderings: htmx asks for just the rows to append; a browser without
    // JavaScript follows the link and gets the whole page.
    if wants_fragment(&headers) {
        return Ok(vary_on_htmx(render(&MoreEntries {
            entries: page.entries,
            next_query,
            first_page: filter.after.is_none(),
            oob: true,
            zone: member.zone(),
        })));
    }
    Ok(vary_on_htmx(render(&AuditPage {
        chrome: Chrome::for_member(Section::Audit, &member),
        entries: page.entries,
        actions: ACTIONS,
        members: members::list(&state.db, context).await?,
        action: filter.action,
        actor: filter.actor,
        next_query,
        first_page: filter.after.is_none(),
        oob: false,
        zone: member.zone(),
    })))
}
