//! Pieces shared by the record pages (contacts, organizations, deals): times as forms send
//! them, the members a record may be given to, the activity timeline with its pager, and the page
//! that explains a refusal with links.

use askama::Template;
use aura_crm::activities::{self, Activity, ActivityInput, Timeline};
use aura_crm::ids::ActivityId;
use aura_crm::paging::Cursor;
use aura_platform::db::TenantContext;
use aura_platform::ids::UserId;
use aura_platform::members::{self, Member as TeamMember};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::forms::Errors;
use crate::layout::{Chrome, Section};
use crate::time::Zone;
use crate::{AppState, WebError};

/// The "log an activity" form as sent from a contact's or a deal's page (the quick log, which
/// has no time, has its own).
#[derive(Deserialize, Default)]
pub(crate) struct ActivityForm {
    #[serde(default)]
    pub(crate) kind: String,
    /// `datetime-local`: `2026-11-22T14:30`, read in the member's time zone (empty: now).
    #[serde(default)]
    pub(crate) occurred_at: String,
    #[serde(default)]
    pub(crate) description: String,
    /// On a deal, whom it was with: one of the deal's contacts, if any.
    #[serde(default)]
    pub(crate) contact_id: String,
}

impl ActivityForm {
    /// The activity to log; a time that does not read is named in `errors`.
    pub(crate) fn input(&self, zone: Zone, errors: &mut Errors) -> ActivityInput {
        ActivityInput {
            kind: self.kind.clone(),
            description: self.description.clone(),
            occurred_at: occurred_at(&self.occurred_at, zone, errors),
            participant_id: None,
        }
    }
}

/// When an activity logged from a page happened, as its date-time picker sends it in the
/// member's time zone (empty: now, the domain's default). One that does not read is named in
/// `errors` and answered with a time far beyond what the domain accepts, so the activity is
/// refused with the form's other problems.
fn occurred_at(text: &str, zone: Zone, errors: &mut Errors) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match zone.read(text) {
        Some(at) => Some(at),
        None => {
            errors.add(
                "occurred_at",
                format!("“{text}” is not a date and time: use the picker, or write it like 2026-03-31T14:30."),
            );
            Some(DateTime::<Utc>::MAX_UTC)
        }
    }
}

/// The members a record may be given to: the active ones, and its current owner.
pub(crate) async fn owner_choices(
    state: &AppState,
    context: TenantContext,
    current: Option<UserId>,
) -> Result<Vec<TeamMember>, WebError> {
    Ok(members::list(&state.db, context)
        .await?
        .into_iter()
        .filter(|m| m.active || Some(m.user_id) == current)
        .collect())
}

/// An activity timeline as the contact and organization pages show it.
pub(crate) struct TimelineView {
    pub activities: Vec<Activity>,
    /// `/contacts/<id>` or `/organizations/<id>`: where older activities are asked for.
    pub base: String,
    pub older: Option<Cursor<ActivityId>>,
    pub first_page: bool,
    /// On a contact's page (delete buttons) or an organization's (contact names).
    pub on_contact: bool,
    pub oob: bool,
    /// The member's time zone, for the activities' times.
    pub zone: Zone,
}

impl TimelineView {
    pub(crate) async fn load(
        state: &AppState,
        context: TenantContext,
        zone: Zone,
        of: Timeline,
        base: String,
        after: Option<Cursor<ActivityId>>,
    ) -> Result<Self, WebError> {
        let page = activities::timeline(&state.db, context, of, after.as_ref(), None).await?;
        Ok(Self {
            activities: page.items,
            base,
            older: page.next,
            first_page: after.is_none(),
            on_contact: matches!(of, Timeline::Contact(_)),
            oob: false,
            zone,
        })
    }
}

/// Older activities, for htmx to append to the timeline, with the pager swapped out of band.
#[derive(Template)]
#[template(path = "records/timeline_more.html")]
pub(crate) struct MoreActivities {
    pub timeline: TimelineView,
    pub csrf_token: String,
}

/// A refusal that needs its own explanation (with links), shown as a page.
#[derive(Template)]
#[template(path = "records/problem.html")]
pub(crate) struct ProblemPage {
    pub chrome: Chrome,
    pub title: String,
    pub detail: String,
    /// A record to look at instead: (address, label).
    pub link: Option<(String, String)>,
    pub back: String,
}
