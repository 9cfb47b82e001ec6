//! The workspace's audit trail for its admins (F14.5), in words: who did what to which record,
//! with member and record names (linked) and each changed field's label, before and after.

use std::collections::HashMap;

use askama::Template;
use aura_crm::names;
use aura_platform::audit::{self, AuditError, Cursor, Entry, Filter, ACTIONS};
use aura_platform::ids::UserId;
use aura_platform::members::{self, Member as TeamMember};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
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
    entries: Vec<EntryView>,
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
    entries: Vec<EntryView>,
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
    let members = members::list(&state.db, context).await?;
    let entries = describe(&state, context, &members, page.entries).await?;
    // One handler, two renderings: htmx asks for just the rows to append; a browser without
    // JavaScript follows the link and gets the whole page.
    if wants_fragment(&headers) {
        return Ok(vary_on_htmx(render(&MoreEntries {
            entries,
            next_query,
            first_page: filter.after.is_none(),
            oob: true,
            zone: member.zone(),
        })));
    }
    Ok(vary_on_htmx(render(&AuditPage {
        chrome: Chrome::for_member(Section::Audit, &member),
        entries,
        actions: ACTIONS,
        members,
        action: filter.action,
        actor: filter.actor,
        next_query,
        first_page: filter.after.is_none(),
        oob: false,
        zone: member.zone(),
    })))
}

/// An entry as the page says it.
struct EntryView {
    occurred_at: DateTime<Utc>,
    who: String,
    /// "created the contact", "moved the deal", ...
    did: String,
    /// The record: its name, and its page if it has one.
    record: Option<(String, Option<String>)>,
    changes: Vec<Change>,
}

/// One field of an entry: its label, and its value before and after (either may be absent).
struct Change {
    label: String,
    before: Option<String>,
    after: Option<String>,
}

/// The page's entries in words: the ids they hold (records, members) are looked up once for
/// the whole page.
async fn describe(
    state: &AppState,
    context: aura_platform::db::TenantContext,
    members: &[TeamMember],
    entries: Vec<Entry>,
) -> Result<Vec<EntryView>, WebError> {
    let mut ids: Vec<Uuid> = Vec::new();
    for entry in &entries {
        ids.extend(entry.entity_id);
        for side in [&entry.before, &entry.after].into_iter().flatten() {
            collect_ids(side, &mut ids);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    let mut names = names::of(&state.db, context, &ids).await?;
    for member in members {
        names.insert(member.user_id.as_uuid(), member.display_name.clone());
    }
    Ok(entries
        .into_iter()
        .map(|entry| describe_one(entry, &names))
        .collect())
}

fn collect_ids(value: &Value, ids: &mut Vec<Uuid>) {
    match value {
        Value::String(text) => ids.extend(text.parse::<Uuid>().ok()),
        Value::Object(fields) => fields.values().for_each(|v| collect_ids(v, ids)),
        Value::Array(items) => items.iter().for_each(|v| collect_ids(v, ids)),
        _ => {}
    }
}

fn describe_one(entry: Entry, names: &HashMap<Uuid, String>) -> EntryView {
    let who = match entry.actor {
        Some(actor) => actor,
        None if entry.action == "access.refused" => "Someone outside this workspace".to_owned(),
        None => "Aura operations".to_owned(),
    };
    let record = entry.entity_id.map(|id| {
        let name = names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("a {} no longer here", noun(&entry.entity_type)));
        let href = match entry.entity_type.as_str() {
            "contact" => Some(format!("/contacts/{id}")),
            "organization" => Some(format!("/organizations/{id}")),
            "deal" => Some(format!("/deals/{id}")),
            "process" => Some(format!("/settings/processes/{id}")),
            "product" => Some(format!("/products/{id}")),
            _ => None,
        };
        (name, href.filter(|_| names.contains_key(&id)))
    });
    let changes = changes(entry.before.as_ref(), entry.after.as_ref(), names);
    EntryView {
        occurred_at: entry.occurred_at,
        who,
        did: verb(&entry.action, &entry.entity_type),
        record,
        changes,
    }
}

/// What the entity type is called in a sentence.
fn noun(entity_type: &str) -> &str {
    match entity_type {
        "custom_field" => "custom field",
        "process" | "sales_process" => "sales process",
        "tenant" => "workspace",
        "deal_stage" => "stage",
        other => other,
    }
}

/// The action as a phrase whose object is the record ("deleted the contact").
fn verb(action: &str, entity_type: &str) -> String {
    let (_, what) = action.split_once('.').unwrap_or(("", action));
    let noun = noun(entity_type);
    match what {
        "created" | "provisioned" => format!("created the {noun}"),
        "updated" | "renamed" => format!("changed the {noun}"),
        "stage_changed" => format!("moved the {noun}"),
        "role_changed" => format!("changed the role of the {noun}"),
        "default_changed" => format!("made default the {noun}"),
        "blueprint_changed" => format!("changed the pricing of the {noun}"),
        "line_added" => format!("added a product line to the {noun}"),
        "line_quantity_changed" => format!("changed a quantity on the {noun}"),
        "line_price_overridden" => format!("changed a price on the {noun}"),
        "line_removed" => format!("removed a product line from the {noun}"),
        "refused" => format!("was refused access to a {noun}"),
        other => format!("{} the {noun}", other.replace('_', " ")),
    }
}

/// The fields an entry holds: for a change, those whose value differs (an entry may hold the
/// whole record before and after); for a creation, the values given.
fn changes(
    before: Option<&Value>,
    after: Option<&Value>,
    names: &HashMap<Uuid, String>,
) -> Vec<Change> {
    let empty = serde_json::Map::new();
    let before = before.and_then(Value::as_object).unwrap_or(&empty);
    let after = after.and_then(Value::as_object).unwrap_or(&empty);
    let keys = before.keys().chain(after.keys());
    let mut seen = Vec::new();
    let mut changes = Vec::new();
    for key in keys {
        if seen.contains(&key) || before.get(key) == after.get(key) {
            continue;
        }
        seen.push(key);
        // A stage's name as it was then says more than its id resolved today.
        if key == "stage_id"
            && (before.contains_key("stage_name") || after.contains_key("stage_name"))
        {
            continue;
        }
        let Some(label) = label(key) else {
            continue;
        };
        let value =
            |side: &serde_json::Map<String, Value>| side.get(key).and_then(|v| shown(v, names));
        let (was, is) = (value(before), value(after));
        // Empty before and after (an empty text, no custom values) says nothing.
        if was.is_some() || is.is_some() {
            changes.push(Change {
                label: label.to_owned(),
                before: was,
                after: is,
            });
        }
    }
    changes
}

/// The label of a field the trail records; `None` for bookkeeping that says nothing to a reader.
fn label(key: &str) -> Option<&str> {
    Some(match key {
        "version" | "probability_set" => return None,
        "first_name" => "First name",
        "last_name" => "Last name",
        "email" => "Email",
        "phone" => "Phone",
        "title" => "Title",
        "organization_id" => "Organization",
        "parent_id" => "Parent organization",
        "name" => "Name",
        "industry" => "Industry",
        "size_band" => "Size",
        "location" => "Location",
        "website" => "Website",
        "custom_fields" => "Custom fields",
        "amount" => "Amount",
        "process_id" => "Sales process",
        "stage_id" | "stage_name" => "Stage",
        "outcome" => "Outcome",
        "probability" => "Probability",
        "expected_close_date" => "Expected close",
        "assigned_to" => "Owner",
        "notes" => "Notes",
        "lost_reason" => "Lost reason",
        "label" => "Label",
        "key" => "Key",
        "kind" => "Kind",
        "options" => "Choices",
        "entity" => "Applies to",
        "archived_at" => "Archived",
        "deleted_at" => "Deleted",
        "role" => "Role",
        "reason" => "Reason",
        "contact_linked" => "Linked contact",
        other => other,
    })
}

/// A value as a reader wants it: ids as names, lists and objects spelled out; empty is absent.
fn shown(value: &Value, names: &HashMap<Uuid, String>) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        Value::String(text) => Some(match text.parse::<Uuid>() {
            Ok(id) => names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| "(no longer here)".to_owned()),
            Err(_) => text.clone(),
        }),
        Value::Bool(yes) => Some(if *yes { "yes" } else { "no" }.to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().filter_map(|v| shown(v, names)).collect();
            (!items.is_empty()).then(|| items.join(", "))
        }
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .filter_map(|(k, v)| {
                    shown(v, names).map(|v| format!("{}: {v}", label(k).unwrap_or(k)))
                })
                .collect();
            (!fields.is_empty()).then(|| fields.join("; "))
        }
    }
}
