//! Deals (F8) in sales processes (F11), their contacts, stage moves and history, and ownership
//! (F9). A deal is bound to one process at creation and never leaves it (the database refuses a
//! change: `deals_process_immutable`); its stage is one of that process's (`deals_stage_fkey`,
//! which also carries the stage's outcome). Sales reps see, search and change only deals
//! assigned to them (the policies enforce it; the queries here also filter by owner for speed),
//! managers and admins the whole workspace, and only they give deals to others.
//!
//! Every change is audited (`deal.created`, `deal.updated`, `deal.stage_changed`,
//! `deal.reassigned`, `deal.deleted`, `deal.restored`) with what it was and what it became, and
//! the database writes a `deal_stage_history` row for every creation and stage move, in the
//! same statement (0033: a trigger on `deals`, so no role can move a deal without it or write
//! history of its own).
//!
//! List and search plans, checked with EXPLAIN ANALYZE as `aura_app` with tenant context
//! (`set role aura_app; begin; set local app.current_tenant_id / current_user_id /
//! "current_role"`), PostgreSQL 15, 10,000 live deals in one process of one workspace (2,000
//! more in another), 200 organizations, six stages (one rotting after 14 days), a rep owning
//! 2,000; the machine shared and loaded (load average 4-5 on 2 cores), three runs each:
//!
//! | list (first page unless said)        | plan (manager; rep)                                   | manager  | rep      |
//! |--------------------------------------|-------------------------------------------------------|----------|----------|
//! | by name; page after "m"              | `deals_name_idx`; `deals_assigned_idx`, cursor in the index condition | 0.4; 0.1 ms | 0.4; 0.05 ms |
//! | by name, one process                 | `deals_process_idx`; `deals_assigned_idx`             | 0.15 ms  | 0.1 ms   |
//! | by amount, largest first; deep       | `deals_amount_idx`; `deals_assigned_amount_idx` (0025) | 0.15 ms | 0.1-0.3 ms |
//! | by close date; deep                  | `deals_close_date_idx`; `deals_assigned_close_date_idx` (0025) | 0.25 ms | 0.2 ms |
//! | by last change; deep                 | `deals_updated_idx`; `deals_assigned_updated_idx` (0025) | 0.1 ms | 0.1 ms |
//! | one stage (1 in 6)                   | the name index, the stage a filter                    | 1.0 ms   | 0.7 ms   |
//! | one organization                     | `deals_organization_idx`                              | 0.26 ms  | 0.3 ms   |
//! | won / lost / open                    | the name index, the outcome a filter                  | 0.47 ms  | 0.5 ms   |
//! | rotting                              | the name index, a stage lookup per open deal          | 1.1 ms   | 0.6-1 ms |
//! | expected close date, one month       | the name index, the dates a filter; by close date: `deals_close_date_idx` | 1.1-1.4 ms | 1.5-2 ms |
//! | probability 40-80 %                  | a scan of the workspace's deals and a top-N sort      | 14-23 ms | 3.5 ms   |
//! | search "a" (632 names)               | `deals_name_idx` range + organization branch, sorted  | 8-10 ms  | 1-5 ms   |
//! | search "ab1"                         | the same, 2 matches                                   | 1.2 ms   | 0.3 ms   |
//! | search "org 1" (17 organizations)    | `organizations_name_key` range, then `deals_organization_idx` for their ids | 8.5-9.5 ms | 1.5-2 ms |
//! | deleted                              | `deals_deleted_idx`                                   | 0.07 ms  | 0.05 ms  |
//!
//! Why 0025 exists: under RLS only leakproof operators are index conditions, and `numeric`'s
//! comparisons are not; the amount cursor `(amount, id) < (…)` on 0024's index read every row
//! before the page. 0025 adds stored sort keys (`amount_sort` in cents as bigint, -1 when none;
//! `close_sort`, 'infinity' when none) with their indexes, and a rep's indexes for the orders
//! other than by name. The probability range stays a filter (numeric): the planner reads the
//! workspace's deals for it (linear in their number), acceptable for a rarely combined filter;
//! a stored basis-points key would make it an index condition if it ever matters. The
//! organization branch of a search looks the organizations up first and scans the deals of
//! their ids (`= any(array(…))`, leakproof `uuid_eq`): a join let the planner choose a hash
//! join over every deal of the workspace (15-25 ms).
//!
//! Public API (the pages build on it; keep it stable):
//! - [`create`], [`get`] (the deal page: [`DealDetail`]), [`find`] (the record only),
//!   [`update`] (with version; 409 as [`WriteError::Stale`]), [`set_deleted`], [`reassign`]
//! - [`link_contact`], [`unlink_contact`]
//! - [`move_to_stage`] (with version; required fields named), [`history`]
//! - [`list`] with [`DealFilter`] and [`DealOrder`]
//! - [`processes`] and [`stages`]: the choices a deal form offers.
//! - Activities on deals are in `crate::activities` (`log_on_deal`, `Timeline::Deal`).

use aura_platform::audit;
use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::ids::UserId;
use aura_platform::permissions::Permission;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::custom_fields::{self, Entity};
use crate::fields::{Check, FieldError, WriteError};
use crate::ids::{ContactId, DealId, OrganizationId, ProcessId, StageId};
use crate::organizations::prefix_range;
use crate::paging::{page_size, text_position, time_position, Cursor, Page};

aura_platform::id_type!(
    /// One row of a deal's stage history.
    StageMoveId
);

/// A stage's outcome, and so a deal's: open, won or lost. Mirrors `aura.stage_outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "aura.stage_outcome", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Open,
    Won,
    Lost,
}

impl Outcome {
    pub const ALL: [Self; 3] = [Self::Open, Self::Won, Self::Lost];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::Won => "Won",
            Self::Lost => "Lost",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == value.trim())
    }
}

impl std::str::FromStr for Outcome {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        Self::parse(value).ok_or(())
    }
}

/// A contact's part in a deal. Mirrors `aura.deal_contact_role`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema,
)]
#[sqlx(type_name = "aura.deal_contact_role", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ContactRole {
    DecisionMaker,
    Influencer,
    Technical,
    Finance,
    #[default]
    Other,
}

impl ContactRole {
    pub const ALL: [Self; 5] = [
        Self::DecisionMaker,
        Self::Influencer,
        Self::Technical,
        Self::Finance,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DecisionMaker => "decision_maker",
            Self::Influencer => "influencer",
            Self::Technical => "technical",
            Self::Finance => "finance",
            Self::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::DecisionMaker => "Decision maker",
            Self::Influencer => "Influencer",
            Self::Technical => "Technical",
            Self::Finance => "Finance",
            Self::Other => "Other",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value.trim())
    }
}

/// A contact to link to a deal, with its role (`other` if not given).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
pub struct DealContactInput {
    #[schema(value_type = uuid::Uuid)]
    pub contact_id: ContactId,
    #[serde(default)]
    pub role: ContactRole,
}

/// What a user submits to create or edit a deal. Empty optional text means none.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct DealInput {
    #[serde(default)]
    pub name: String,
    /// In the workspace's currency, at most two decimals; a string (`"1250.00"`) or a number.
    #[schema(value_type = Option<String>)]
    pub amount: Option<Decimal>,
    /// Chosen at creation (the default process if left out) and never changed: an edit may
    /// only repeat the deal's own.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub process_id: Option<ProcessId>,
    /// The stage a new deal starts in (the process's first open stage if left out). An edit
    /// may only repeat the current one: moves go through the stage move, which checks the
    /// stage's required fields and writes the history.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub stage_id: Option<StageId>,
    /// Win probability in percent, overriding the stage's default; none follows the stage.
    /// Fixed at 100 for a won deal and 0 for a lost one.
    #[schema(value_type = Option<String>)]
    pub probability: Option<Decimal>,
    pub expected_close_date: Option<NaiveDate>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<OrganizationId>,
    /// The owner. A new deal defaults to its creator; an edit without it keeps the owner. Only
    /// managers and admins give a deal to someone else.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub assigned_to: Option<UserId>,
    pub notes: Option<String>,
    /// Values of the workspace's custom deal fields, by key (F8.9). An edit changes only the
    /// keys it gives (null or "" clears one).
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// The contacts on the deal, each with a role. On an edit, none keeps the links as they
    /// are; a list replaces the links to contacts the caller may see (links to contacts hidden
    /// from the caller stay).
    pub contacts: Option<Vec<DealContactInput>>,
    /// Why the deal was lost, when it is created in a lost stage.
    pub lost_reason: Option<String>,
    /// Products to put on a new deal, each as `POST /api/v1/deals/{id}/lines` takes it, added
    /// in the deal's transaction: the deal's amount is then their total (leave `amount` out).
    /// A problem is named at `lines[i].<field>` (`lines[0].quantity`). Only when creating: an
    /// edit changes lines through the deal's lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<crate::line_items::AddLine>>,
}

/// A stage of a process, with what it asks of a deal (F11.7).
#[derive(Debug, Clone, Serialize, ToSchema)]
// Named apart from `processes::Stage` (the settings' view) in the OpenAPI document.
#[schema(as = DealStage)]
pub struct Stage {
    #[schema(value_type = uuid::Uuid)]
    pub id: StageId,
    pub name: String,
    pub position: i32,
    pub outcome: Outcome,
    /// The default win probability of deals in it, in percent.
    #[schema(value_type = String)]
    pub win_probability: Decimal,
    /// A deal in this stage longer than this many days is rotting; none: never.
    pub rotting_days: Option<i32>,
    pub requires_amount: bool,
    pub requires_close_date: bool,
    pub requires_contact: bool,
    /// At least one live line item (product).
    pub requires_product: bool,
}

/// A process a new deal may go into.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProcessChoice {
    #[schema(value_type = uuid::Uuid)]
    pub id: ProcessId,
    pub name: String,
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deal {
    #[schema(value_type = uuid::Uuid)]
    pub id: DealId,
    pub name: String,
    #[schema(value_type = Option<String>)]
    pub amount: Option<Decimal>,
    #[schema(value_type = uuid::Uuid)]
    pub process_id: ProcessId,
    pub process_name: String,
    #[schema(value_type = uuid::Uuid)]
    pub stage_id: StageId,
    pub stage_name: String,
    pub outcome: Outcome,
    /// Win probability in percent.
    #[schema(value_type = String)]
    pub probability: Decimal,
    /// Whether a person chose the probability (else it is the stage's default).
    pub probability_set: bool,
    pub expected_close_date: Option<NaiveDate>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<OrganizationId>,
    pub organization_name: Option<String>,
    #[schema(value_type = uuid::Uuid)]
    pub assigned_to: UserId,
    pub assigned_to_name: Option<String>,
    pub notes: Option<String>,
    /// Values of custom fields, by key.
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Value,
    /// When the deal entered its current stage.
    pub stage_entered_at: DateTime<Utc>,
    /// Whole days in the current stage.
    pub days_in_stage: i32,
    /// Open, and in its stage longer than the stage's rotting threshold.
    pub rotting: bool,
    /// When it was won or lost, in which stage (by the name it had then), and why it was lost.
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_stage_name: Option<String>,
    pub lost_reason: Option<String>,
    /// Set while the deal is deleted; it can be restored.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Send it back with an edit or a move: one over a newer version is refused (409).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
}

/// A contact on a deal, as the viewer may see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DealContact {
    #[schema(value_type = uuid::Uuid)]
    pub contact_id: ContactId,
    pub name: String,
    pub email: Option<String>,
    pub role: ContactRole,
}

/// What the deal page shows: the deal, its process's stages for the stage bar, the contacts
/// the viewer may see, and how many other contacts are linked (naming none of them).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DealDetail {
    #[serde(flatten)]
    pub deal: Deal,
    /// The live stages of the deal's process, in order (the current one is `deal.stage_id`).
    pub stages: Vec<Stage>,
    pub contacts: Vec<DealContact>,
    /// Linked contacts the viewer may not see.
    pub hidden_contacts: i64,
}

/// A stage move: where to, over which version of the deal, and why it was lost.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct StageMoveInput {
    #[schema(value_type = uuid::Uuid)]
    pub stage_id: Option<StageId>,
    /// The `version` read with the deal.
    pub version: i64,
    /// Required when moving to a lost stage.
    pub lost_reason: Option<String>,
}

/// One row of a deal's stage history (F8.8).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageMove {
    #[schema(value_type = uuid::Uuid)]
    pub id: StageMoveId,
    /// None for the stage the deal was created in.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub from_stage_id: Option<StageId>,
    pub from_stage_name: Option<String>,
    #[schema(value_type = uuid::Uuid)]
    pub to_stage_id: StageId,
    pub to_stage_name: String,
    /// Seconds spent in the stage it left.
    pub seconds_in_previous: Option<i64>,
    pub moved_at: DateTime<Utc>,
    #[schema(value_type = uuid::Uuid)]
    pub moved_by: UserId,
    pub moved_by_name: Option<String>,
}

pub type DealPage = Page<Deal, DealId>;
pub type HistoryPage = Page<StageMove, StageMoveId>;

/// How the deal list is sorted; search results are always by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DealOrder {
    /// By name, A to Z.
    #[default]
    Name,
    /// The largest amount first; deals without an amount last.
    Amount,
    /// The soonest expected close date first; deals without one last.
    CloseDate,
    /// The most recently changed first.
    RecentlyChanged,
}

impl DealOrder {
    pub const ALL: [Self; 4] = [
        Self::Name,
        Self::Amount,
        Self::CloseDate,
        Self::RecentlyChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Amount => "amount",
            Self::CloseDate => "close_date",
            Self::RecentlyChanged => "recent",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == value.trim())
    }
}

impl std::str::FromStr for DealOrder {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        Self::parse(value).ok_or(())
    }
}

#[derive(Debug, Clone, Default)]
pub struct DealFilter {
    /// Deals whose name, or whose organization's name, starts with this (any case). Results
    /// are by name. Ignored for the deleted list.
    pub search: Option<String>,
    /// One process's deals; all processes if none.
    pub process_id: Option<ProcessId>,
    pub stage_id: Option<StageId>,
    /// Only this member's deals (a rep's list is always only their own).
    pub assigned_to: Option<UserId>,
    pub organization_id: Option<OrganizationId>,
    /// Probability range in percent, both ends included.
    pub probability_min: Option<Decimal>,
    pub probability_max: Option<Decimal>,
    /// Expected close date range, both ends included.
    pub close_from: Option<NaiveDate>,
    pub close_to: Option<NaiveDate>,
    pub outcome: Option<Outcome>,
    /// Only open deals longer in their stage than its rotting threshold.
    pub rotting: bool,
    pub order: DealOrder,
    /// The deleted ones (to restore them), most recently deleted first; other filters ignored.
    pub deleted: bool,
    pub after: Option<Cursor<DealId>>,
    pub limit: Option<i64>,
}

/// The live stages of a process the caller's workspace has, in order.
pub async fn stages(
    pool: &AppPool,
    context: TenantContext,
    process: ProcessId,
) -> Result<Vec<Stage>, DbError> {
    let mut tx = pool.begin(context).await?;
    process_stages(&mut tx, process).await
}

/// The processes a new deal may go into (live, not archived), the default first.
pub async fn processes(
    pool: &AppPool,
    context: TenantContext,
) -> Result<Vec<ProcessChoice>, DbError> {
    let mut tx = pool.begin(context).await?;
    let rows = sqlx::query_as!(
        ProcessChoice,
        r#"select id as "id: ProcessId", name, is_default from sales_processes
           where tenant_id = $1 and archived_at is null and deleted_at is null
           order by is_default desc, lower(name), id"#,
        context.tenant_id.as_uuid(),
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows)
}

async fn process_stages(tx: &mut TenantTx, process: ProcessId) -> Result<Vec<Stage>, DbError> {
    let tenant = tx.context().tenant_id;
    let rows = sqlx::query_as!(
        Stage,
        r#"select id as "id: StageId", name, position, outcome as "outcome: Outcome",
                  win_probability, rotting_days, requires_amount, requires_close_date,
                  requires_contact, requires_product
           from deal_stages
           where tenant_id = $1 and process_id = $2 and archived_at is null
           order by position, id"#,
        tenant.as_uuid(),
        process as ProcessId,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|mut stage| {
            stage.win_probability.rescale(2);
            stage
        })
        .collect())
}

/// The fields a deal lacks to be in `stage` (F11.7), each named with what to do; `lines` is
/// how many live line items (products) the deal has.
fn missing_fields(
    stage: &Stage,
    amount: Option<Decimal>,
    close_date: Option<NaiveDate>,
    contacts: i64,
    lines: i64,
) -> Vec<FieldError> {
    let mut missing = Vec::new();
    let mut need = |field: &str, what: &str| {
        missing.push(FieldError {
            field: field.to_owned(),
            message: format!("The stage “{}” needs {what}.", stage.name),
        });
    };
    if stage.requires_amount && amount.is_none() {
        need("amount", "an amount");
    }
    if stage.requires_close_date && close_date.is_none() {
        need("expected_close_date", "an expected close date");
    }
    if stage.requires_contact && contacts == 0 {
        need("contacts", "at least one contact");
    }
    if stage.requires_product && lines == 0 {
        need("line_items", "at least one product");
    }
    missing
}

pub(crate) struct ValidInput {
    pub(crate) name: String,
    pub(crate) amount: Option<Decimal>,
    pub(crate) probability: Option<Decimal>,
    pub(crate) notes: Option<String>,
    pub(crate) lost_reason: Option<String>,
    pub(crate) custom_fields: serde_json::Value,
    custom_keys: Vec<String>,
}

impl DealInput {
    /// Checks the input's own fields; the custom fields against the workspace's definitions.
    async fn validate(&self, tx: &mut TenantTx, check: &mut Check) -> Result<ValidInput, DbError> {
        let definitions = custom_fields::definitions(tx, Entity::Deal).await?;
        Ok(self.check_fields(&definitions, check))
    }

    /// [`Self::validate`] with the custom field `definitions` given (an import checks each of
    /// its rows so, with the definitions read once).
    pub(crate) fn check_fields(
        &self,
        definitions: &[custom_fields::Definition],
        check: &mut Check,
    ) -> ValidInput {
        let name = check.required("name", "Name", &self.name, 200);
        let amount = self.amount.map(|a| a.normalize());
        if let Some(amount) = amount {
            if amount.is_sign_negative()
                || amount.scale() > 2
                || amount >= Decimal::from(1_000_000_000_000_i64)
            {
                check.refuse(
                    "amount",
                    "The amount is a number from 0 to 999,999,999,999.99, with at most two decimals.",
                );
            }
        }
        let probability = self.probability.map(|p| p.normalize());
        if let Some(p) = probability {
            if p.is_sign_negative() || p > Decimal::ONE_HUNDRED || p.scale() > 2 {
                check.refuse(
                    "probability",
                    "The probability is a percentage from 0 to 100, with at most two decimals.",
                );
            }
        }
        let notes = check.optional(
            "notes",
            "Notes",
            self.notes.as_deref().unwrap_or_default(),
            10_000,
        );
        let lost_reason = check.optional(
            "lost_reason",
            "The lost reason",
            self.lost_reason.as_deref().unwrap_or_default(),
            500,
        );
        if let Some(contacts) = &self.contacts {
            if contacts.len() > 100 {
                check.refuse("contacts", "Link at most 100 contacts to a deal.");
            }
        }
        let custom = custom_fields::validate(definitions, self.custom_fields.as_ref(), check);
        ValidInput {
            name,
            amount,
            probability,
            notes,
            lost_reason,
            custom_fields: serde_json::Value::Object(custom),
            custom_keys: custom_fields::keys(self.custom_fields.as_ref()),
        }
    }

    /// The contacts to link, each once (the last role given wins).
    fn contact_links(&self) -> Vec<DealContactInput> {
        let mut links: Vec<DealContactInput> = Vec::new();
        for link in self.contacts.iter().flatten() {
            links.retain(|l| l.contact_id != link.contact_id);
            links.push(*link);
        }
        links
    }
}

/// Creates a deal in `input.process_id` (the default process if none), in `input.stage_id`
/// (the process's first open stage if none), assigned to the caller unless `assigned_to` says
/// otherwise (managers and admins only). Writes the audit entry (the database writes the first
/// history row).
pub async fn create(
    pool: &AppPool,
    context: TenantContext,
    input: &DealInput,
) -> Result<DealId, WriteError<Deal>> {
    let owner = input.assigned_to.unwrap_or(context.user_id);
    if owner != context.user_id && !context.role.may(Permission::AssignDeals) {
        return Err(WriteError::NotAllowed);
    }
    let mut tx = pool.begin(context).await?;
    let mut check = Check::new();
    let valid = input.validate(&mut tx, &mut check).await?;
    let process = sqlx::query_scalar!(
        r#"select id as "id: ProcessId" from sales_processes
           where tenant_id = $1 and archived_at is null and deleted_at is null
             and (case when $2::uuid is null then is_default else id = $2 end)"#,
        context.tenant_id.as_uuid(),
        input.process_id as Option<ProcessId>,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    let stages = match process {
        Some(process) => process_stages(&mut tx, process).await?,
        None => {
            check.refuse(
                "process_id",
                if input.process_id.is_some() {
                    "That sales process does not exist, or takes no new deals."
                } else {
                    "This workspace has no sales process yet: an admin sets one up first."
                },
            );
            Vec::new()
        }
    };
    let stage = match input.stage_id {
        Some(id) => stages.iter().find(|s| s.id == id),
        None => stages.iter().find(|s| s.outcome == Outcome::Open),
    };
    let links = input.contact_links();
    let lines =
        crate::line_items::check_new(&mut tx, &mut check, input.lines.as_deref().unwrap_or(&[]))
            .await?;
    let has_lines = input.lines.as_ref().is_some_and(|l| !l.is_empty());
    if has_lines && valid.amount.is_some() {
        check.refuse(
            "amount",
            "A deal with products has their total as its amount: leave the amount empty.",
        );
    }
    if let Some(stage) = stage {
        // With products, the amount will be their total: it is there.
        let amount = valid.amount.or(has_lines.then_some(Decimal::ZERO));
        let line_count = input.lines.as_ref().map_or(0, Vec::len) as i64;
        check_new_in_stage(
            stage,
            &valid,
            amount,
            input.expected_close_date,
            links.len() as i64,
            line_count,
            &mut check,
        );
    } else if process.is_some() {
        check.refuse("stage_id", "That stage is not one of this sales process's.");
    }
    check.finish()?;
    let (Some(process), Some(stage)) = (process, stage) else {
        return Err(WriteError::invalid("stage_id", "Choose a stage."));
    };
    check_owner(&mut tx, owner).await?;
    check_organization(&mut tx, input.organization_id).await?;
    let (probability, probability_set) = probability_in(stage, valid.probability);
    let lost_reason = valid.lost_reason.filter(|_| stage.outcome == Outcome::Lost);
    let id = sqlx::query_scalar!(
        r#"insert into deals (tenant_id, name, amount, process_id, stage_id, outcome, probability,
                              probability_set, expected_close_date, organization_id, assigned_to,
                              notes, custom_fields, closed_at, closed_stage_name, lost_reason,
                              created_by, updated_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                   case when $6 <> 'open'::aura.stage_outcome then now() end,
                   case when $6 <> 'open'::aura.stage_outcome then $14 end, $15, $16, $16)
           returning id as "id: DealId""#,
        context.tenant_id.as_uuid(),
        valid.name,
        valid.amount,
        process as ProcessId,
        stage.id as StageId,
        stage.outcome as Outcome,
        probability,
        probability_set,
        input.expected_close_date,
        input.organization_id as Option<OrganizationId>,
        owner as UserId,
        valid.notes,
        valid.custom_fields,
        stage.name,
        lost_reason,
        context.user_id as UserId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    replace_links(&mut tx, id, &links, false).await?;
    crate::line_items::insert_new(&mut tx, id, owner, &lines).await?;
    let created = fetch(&mut tx, &[id])
        .await?
        .pop()
        .ok_or(WriteError::NotFound)?;
    audit::record(
        &mut tx,
        "deal.created",
        "deal",
        id.as_uuid(),
        None,
        Some(audit_view(&created)),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// What a new deal must have to start in `stage`: its required fields (F11.7), and a lost
/// reason in a lost stage. `amount` is the amount it will have (its products' total, if any).
pub(crate) fn check_new_in_stage(
    stage: &Stage,
    valid: &ValidInput,
    amount: Option<Decimal>,
    close_date: Option<NaiveDate>,
    contacts: i64,
    lines: i64,
    check: &mut Check,
) {
    for problem in missing_fields(stage, amount, close_date, contacts, lines) {
        check.refuse(&problem.field, problem.message);
    }
    if stage.outcome == Outcome::Lost && valid.lost_reason.is_none() {
        check.refuse("lost_reason", "Say why the deal was lost.");
    }
}

/// The probability a deal in `stage` gets, and whether a person chose it: fixed for won and
/// lost stages, else the override if any, else the stage's default.
pub(crate) fn probability_in(stage: &Stage, chosen: Option<Decimal>) -> (Decimal, bool) {
    match (stage.outcome, chosen) {
        (Outcome::Won, _) => (Decimal::ONE_HUNDRED, false),
        (Outcome::Lost, _) => (Decimal::ZERO, false),
        (Outcome::Open, Some(p)) => (p, true),
        (Outcome::Open, None) => (stage.win_probability, false),
    }
}

/// The deal page: the deal, deleted or not, with its process's stages and the contacts the
/// caller may see; `None` if there is no deal the caller may see.
pub async fn get(
    pool: &AppPool,
    context: TenantContext,
    id: DealId,
) -> Result<Option<DealDetail>, DbError> {
    let mut tx = pool.begin(context).await?;
    let Some(deal) = fetch(&mut tx, &[id]).await?.pop() else {
        return Ok(None);
    };
    let stages = process_stages(&mut tx, deal.process_id).await?;
    let (contacts, hidden_contacts) = deal_contacts(&mut tx, id).await?;
    Ok(Some(DealDetail {
        deal,
        stages,
        contacts,
        hidden_contacts,
    }))
}

/// The deal record alone, deleted or not; `None` if there is none the caller may see.
pub async fn find(
    pool: &AppPool,
    context: TenantContext,
    id: DealId,
) -> Result<Option<Deal>, DbError> {
    let mut tx = pool.begin(context).await?;
    Ok(fetch(&mut tx, &[id]).await?.pop())
}

/// The deal's contacts the caller may see (by name), and how many others are linked. A rep
/// sees every link of their own deal, but only the contacts assigned to them: the others are
/// counted, never named. Deleted contacts are left out.
async fn deal_contacts(tx: &mut TenantTx, id: DealId) -> Result<(Vec<DealContact>, i64), DbError> {
    let tenant = tx.context().tenant_id;
    let rows = sqlx::query!(
        r#"select dc.contact_id as "contact_id: ContactId", dc.role as "role: ContactRole",
                  c.id as "visible?", c.first_name as "first_name?", c.last_name as "last_name?",
                  c.email, c.deleted_at
           from deal_contacts dc
           left join contacts c on c.tenant_id = dc.tenant_id and c.id = dc.contact_id
           where dc.tenant_id = $1 and dc.deal_id = $2
           order by lower(c.last_name), lower(c.first_name), dc.contact_id"#,
        tenant.as_uuid(),
        id as DealId,
    )
    .fetch_all(tx.conn())
    .await?;
    let mut hidden = 0;
    let mut contacts = Vec::new();
    for row in rows {
        match (row.visible, row.deleted_at) {
            (None, _) => hidden += 1,
            (Some(_), Some(_)) => {}
            (Some(_), None) => contacts.push(DealContact {
                contact_id: row.contact_id,
                name: format!(
                    "{} {}",
                    row.first_name.unwrap_or_default(),
                    row.last_name.unwrap_or_default()
                )
                .trim()
                .to_owned(),
                email: row.email,
                role: row.role,
            }),
        }
    }
    Ok((contacts, hidden))
}

/// Locks the deal for a change and checks the caller's version: the current record if it is
/// stale. `None`: no live deal the caller may change.
async fn lock(tx: &mut TenantTx, id: DealId, version: i64) -> Result<Deal, WriteError<Deal>> {
    let tenant = tx.context().tenant_id;
    let locked = sqlx::query_scalar!(
        "select version from deals where tenant_id = $1 and id = $2 and deleted_at is null
         for update",
        tenant.as_uuid(),
        id as DealId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    let current = fetch(tx, &[id]).await?.pop();
    match (locked, current) {
        (Some(locked), Some(current)) if locked == version => Ok(current),
        (Some(_), Some(current)) => Err(WriteError::Stale(Box::new(current))),
        _ => Err(WriteError::NotFound),
    }
}

/// Saves `input` over version `version` of the deal. The process and the stage do not change
/// here (the stage moves with [`move_to_stage`]); a change of owner is a reassignment:
/// managers and admins only, and audited.
pub async fn update(
    pool: &AppPool,
    context: TenantContext,
    id: DealId,
    version: i64,
    input: &DealInput,
) -> Result<Deal, WriteError<Deal>> {
    let mut tx = pool.begin(context).await?;
    let mut check = Check::new();
    let valid = input.validate(&mut tx, &mut check).await?;
    let current = lock(&mut tx, id, version).await?;
    if input.lines.is_some() {
        check.refuse(
            "lines",
            "Change a deal's products through its lines, not an edit of the deal.",
        );
    }
    if input.process_id.is_some_and(|p| p != current.process_id) {
        check.refuse(
            "process_id",
            "A deal's sales process is chosen when it is created and never changes.",
        );
    }
    if input.stage_id.is_some_and(|s| s != current.stage_id) {
        check.refuse(
            "stage_id",
            "Move the deal to another stage with the stage move, not an edit.",
        );
    }
    let stages = process_stages(&mut tx, current.process_id).await?;
    let stage = stages
        .iter()
        .find(|s| s.id == current.stage_id)
        .cloned()
        .unwrap_or_else(|| archived_stage(&current));
    let links = input.contact_links();
    let contact_count = match &input.contacts {
        None => count_links(&mut tx, id).await?,
        Some(_) => links.len() as i64 + hidden_links(&mut tx, id, &links).await?,
    };
    let lines = crate::line_items::count(&mut tx, id).await?;
    for problem in missing_fields(
        &stage,
        valid.amount,
        input.expected_close_date,
        contact_count,
        lines,
    ) {
        check.refuse(&problem.field, problem.message);
    }
    // The database refuses it too (`deals_amount_is_line_total`); said here at the field, so
    // the form keeps its input.
    if lines > 0 && valid.amount != current.amount {
        check.refuse(
            "amount",
            "This deal's amount is the sum of its product lines: change the lines to change it.",
        );
    }
    let (probability, probability_set) = match (stage.outcome, valid.probability) {
        (Outcome::Open, chosen) => probability_in(&stage, chosen),
        (_, Some(p)) if p != current.probability => {
            check.refuse(
                "probability",
                "A won deal's probability is 100 and a lost one's 0: reopen it to change it.",
            );
            (current.probability, false)
        }
        _ => (current.probability, false),
    };
    let lost_reason = if current.outcome == Outcome::Lost {
        if valid.lost_reason.is_none() {
            check.refuse("lost_reason", "Say why the deal was lost.");
        }
        valid.lost_reason.clone()
    } else {
        None
    };
    check.finish()?;
    let owner = input.assigned_to.unwrap_or(current.assigned_to);
    if owner != current.assigned_to {
        if !context.role.may(Permission::AssignDeals) {
            return Err(WriteError::NotAllowed);
        }
        check_owner(&mut tx, owner).await?;
    }
    check_organization(&mut tx, input.organization_id).await?;
    sqlx::query!(
        "update deals
         set name = $3, amount = $4, probability = $5, probability_set = $6,
             expected_close_date = $7, organization_id = $8, assigned_to = $9, notes = $10,
             custom_fields = (custom_fields - $11::text[]) || $12, lost_reason = $13,
             version = version + 1, updated_at = now(), updated_by = $14
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as DealId,
        valid.name,
        valid.amount,
        probability,
        probability_set,
        input.expected_close_date,
        input.organization_id as Option<OrganizationId>,
        owner as UserId,
        valid.notes,
        &valid.custom_keys,
        valid.custom_fields,
        lost_reason,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    if input.contacts.is_some() {
        replace_links(&mut tx, id, &links, true).await?;
    }
    // Read in the same transaction: the caller gets this save, not a later one.
    let saved = fetch(&mut tx, &[id])
        .await?
        .pop()
        .ok_or(WriteError::NotFound)?;
    audit::record(
        &mut tx,
        "deal.updated",
        "deal",
        id.as_uuid(),
        Some(audit_view(&current)),
        Some(audit_view(&saved)),
    )
    .await?;
    if owner != current.assigned_to {
        audit_reassignment(&mut tx, id, current.assigned_to, owner).await?;
    }
    tx.commit().await?;
    Ok(saved)
}

/// A deal's stage when the stage was archived meanwhile: it asks nothing more of the deal.
fn archived_stage(deal: &Deal) -> Stage {
    Stage {
        id: deal.stage_id,
        name: deal.stage_name.clone(),
        position: i32::MAX,
        outcome: deal.outcome,
        win_probability: deal.probability,
        rotting_days: None,
        requires_amount: false,
        requires_close_date: false,
        requires_contact: false,
        requires_product: false,
    }
}

async fn count_links(tx: &mut TenantTx, id: DealId) -> Result<i64, DbError> {
    let tenant = tx.context().tenant_id;
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "count!" from deal_contacts where tenant_id = $1 and deal_id = $2"#,
        tenant.as_uuid(),
        id as DealId,
    )
    .fetch_one(tx.conn())
    .await?)
}

/// Links to contacts hidden from the caller, which a replacement of the links keeps, and which
/// are not among `links`.
async fn hidden_links(
    tx: &mut TenantTx,
    id: DealId,
    links: &[DealContactInput],
) -> Result<i64, DbError> {
    let tenant = tx.context().tenant_id;
    let given: Vec<uuid::Uuid> = links.iter().map(|l| l.contact_id.as_uuid()).collect();
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "count!" from deal_contacts dc
           where dc.tenant_id = $1 and dc.deal_id = $2 and dc.contact_id <> all($3)
             and not exists (select 1 from contacts c
                             where c.tenant_id = dc.tenant_id and c.id = dc.contact_id)"#,
        tenant.as_uuid(),
        id as DealId,
        &given,
    )
    .fetch_one(tx.conn())
    .await?)
}

/// Makes the deal's links to contacts the caller may see exactly `links` (`replace`), or adds
/// them (a new deal). Each contact must be a live one the caller may see.
async fn replace_links(
    tx: &mut TenantTx,
    id: DealId,
    links: &[DealContactInput],
    replace: bool,
) -> Result<(), WriteError<Deal>> {
    let context = *tx.context();
    let contacts: Vec<uuid::Uuid> = links.iter().map(|l| l.contact_id.as_uuid()).collect();
    let roles: Vec<String> = links.iter().map(|l| l.role.as_str().to_owned()).collect();
    if replace {
        // Only links to contacts the caller sees: the others are not theirs to drop.
        sqlx::query!(
            "delete from deal_contacts dc
             where dc.tenant_id = $1 and dc.deal_id = $2 and dc.contact_id <> all($3)
               and exists (select 1 from contacts c
                           where c.tenant_id = dc.tenant_id and c.id = dc.contact_id)",
            context.tenant_id.as_uuid(),
            id as DealId,
            &contacts,
        )
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    }
    let linked = sqlx::query!(
        "insert into deal_contacts (tenant_id, deal_id, contact_id, role, deal_owner,
                                    contact_owner, created_by)
         select $1, d.id, c.id, l.role::aura.deal_contact_role, d.assigned_to, c.assigned_to, $5
         from unnest($3::uuid[], $4::text[]) as l (contact_id, role)
         join deals d on d.tenant_id = $1 and d.id = $2
         join contacts c on c.tenant_id = $1 and c.id = l.contact_id and c.deleted_at is null
         on conflict (tenant_id, deal_id, contact_id) do update set role = excluded.role",
        context.tenant_id.as_uuid(),
        id as DealId,
        &contacts,
        &roles,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    if linked.rows_affected() < links.len() as u64 {
        return Err(WriteError::invalid(
            "contacts",
            "A contact does not exist, was deleted, or is not yours to link.",
        ));
    }
    Ok(())
}

/// Links a contact to the deal with a role, or changes its role; audited as a deal update.
/// A rep links only their own contacts to their own deals.
pub async fn link_contact(
    pool: &AppPool,
    context: TenantContext,
    deal: DealId,
    contact: ContactId,
    role: ContactRole,
) -> Result<(), WriteError<Deal>> {
    let mut tx = pool.begin(context).await?;
    live_deal(&mut tx, deal).await?;
    let link = DealContactInput {
        contact_id: contact,
        role,
    };
    replace_links(&mut tx, deal, &[link], false).await?;
    audit::record(
        &mut tx,
        "deal.updated",
        "deal",
        deal.as_uuid(),
        None,
        Some(serde_json::json!({ "contact_linked": link })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Unlinks a contact from the deal; audited as a deal update. `NotFound` if it was not linked
/// (or the caller may not see the deal).
pub async fn unlink_contact(
    pool: &AppPool,
    context: TenantContext,
    deal: DealId,
    contact: ContactId,
) -> Result<(), WriteError<Deal>> {
    let mut tx = pool.begin(context).await?;
    live_deal(&mut tx, deal).await?;
    let role = sqlx::query_scalar!(
        r#"delete from deal_contacts where tenant_id = $1 and deal_id = $2 and contact_id = $3
           returning role as "role: ContactRole""#,
        context.tenant_id.as_uuid(),
        deal as DealId,
        contact as ContactId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    let Some(role) = role else {
        return Err(WriteError::NotFound);
    };
    audit::record(
        &mut tx,
        "deal.updated",
        "deal",
        deal.as_uuid(),
        Some(serde_json::json!({ "contact_linked": { "contact_id": contact, "role": role } })),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The deal, if it is live and the caller may change it.
async fn live_deal(tx: &mut TenantTx, id: DealId) -> Result<(), WriteError<Deal>> {
    let tenant = tx.context().tenant_id;
    let live = sqlx::query_scalar!(
        r#"select true as "live!" from deals
           where tenant_id = $1 and id = $2 and deleted_at is null"#,
        tenant.as_uuid(),
        id as DealId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    live.map(|_| ()).ok_or(WriteError::NotFound)
}

/// Moves the deal to another stage of its process (F8.8, F11.6), over version
/// `input.version`: the target stage's required fields are checked and the missing ones
/// named; a move to a lost stage needs a reason. The database writes the history row (from, to,
/// who, when, time in the previous stage) in the same statement; this sets the outcome, probability and
/// close fields from the target stage, and audits the move. Closing a deal won or lost is a
/// move to a won or lost stage; a move back to an open stage reopens it.
pub async fn move_to_stage(
    pool: &AppPool,
    context: TenantContext,
    id: DealId,
    input: &StageMoveInput,
) -> Result<Deal, WriteError<Deal>> {
    let mut tx = pool.begin(context).await?;
    // Who may move it first: a deal the caller may not see is not found, whatever was sent.
    let current = lock(&mut tx, id, input.version).await?;
    let Some(target) = input.stage_id else {
        return Err(WriteError::invalid("stage_id", "Choose a stage."));
    };
    let stages = process_stages(&mut tx, current.process_id).await?;
    let Some(stage) = stages.iter().find(|s| s.id == target) else {
        return Err(WriteError::invalid(
            "stage_id",
            "That stage is not one of this deal's sales process.",
        ));
    };
    if stage.id == current.stage_id {
        return Ok(current);
    }
    let mut check = Check::new();
    let contacts = count_links(&mut tx, id).await?;
    let lines = crate::line_items::count(&mut tx, id).await?;
    for problem in missing_fields(
        stage,
        current.amount,
        current.expected_close_date,
        contacts,
        lines,
    ) {
        check.refuse(&problem.field, problem.message);
    }
    let lost_reason = check.optional(
        "lost_reason",
        "The lost reason",
        input.lost_reason.as_deref().unwrap_or_default(),
        500,
    );
    if stage.outcome == Outcome::Lost && lost_reason.is_none() {
        check.refuse("lost_reason", "Say why the deal was lost.");
    }
    check.finish()?;
    let chosen = current.probability_set.then_some(current.probability);
    let (probability, probability_set) = probability_in(stage, chosen);
    let lost_reason = lost_reason.filter(|_| stage.outcome == Outcome::Lost);
    sqlx::query!(
        "update deals
         set stage_id = $3, outcome = $5, probability = $6, probability_set = $7,
             closed_at = (select now() where $5 <> 'open'::aura.stage_outcome),
             closed_stage_name = case when $5 <> 'open'::aura.stage_outcome then $4 end,
             lost_reason = $8,
             version = version + 1, updated_at = now(), updated_by = $9
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as DealId,
        stage.id as StageId,
        stage.name,
        stage.outcome as Outcome,
        probability,
        probability_set,
        lost_reason,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    let moved = fetch(&mut tx, &[id])
        .await?
        .pop()
        .ok_or(WriteError::NotFound)?;
    audit::record(
        &mut tx,
        "deal.stage_changed",
        "deal",
        id.as_uuid(),
        Some(stage_view(&current)),
        Some(stage_view(&moved)),
    )
    .await?;
    tx.commit().await?;
    Ok(moved)
}

/// A page of the deal's stage history, newest first; `None` if there is no deal the caller
/// may see. Plan: `deal_stage_history_deal_idx` with the tenant, the deal and the cursor as
/// index conditions, stopping after a page.
pub async fn history(
    pool: &AppPool,
    context: TenantContext,
    id: DealId,
    after: Option<&Cursor<StageMoveId>>,
    limit: Option<i64>,
) -> Result<Option<HistoryPage>, DbError> {
    let size = page_size(limit);
    let mut tx = pool.begin(context).await?;
    if fetch(&mut tx, &[id]).await?.is_empty() {
        return Ok(None);
    }
    let (at, after_id) = time_position(after);
    let rows = sqlx::query_as!(
        StageMove,
        r#"select h.id as "id: StageMoveId", h.from_stage_id as "from_stage_id: StageId",
                  h.from_stage_name, h.to_stage_id as "to_stage_id: StageId", h.to_stage_name,
                  extract(epoch from h.time_in_previous)::bigint as "seconds_in_previous",
                  h.moved_at, h.moved_by as "moved_by: UserId", u.display_name as "moved_by_name?"
           from deal_stage_history h
           left join users u on u.id = h.moved_by
           where h.tenant_id = $1 and h.deal_id = $2 and (h.moved_at, h.id) < ($3, $4)
           order by h.moved_at desc, h.id desc
           limit $5"#,
        context.tenant_id.as_uuid(),
        id as DealId,
        at,
        after_id as StageMoveId,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(Some(Page::from_rows(rows, size, |m| {
        Cursor::time(m.moved_at, m.id)
    })))
}

/// Gives the listed deals to `owner` (F8.6, F9.5); managers and admins only. Their contacts'
/// links, history and activities follow (cascading keys). Each deal that changes hands gets
/// its own audit entry. Returns how many changed.
pub async fn reassign(
    pool: &AppPool,
    context: TenantContext,
    ids: &[DealId],
    owner: UserId,
) -> Result<u64, WriteError<Deal>> {
    WriteError::unless_may(&context, Permission::AssignDeals)?;
    let ids = crate::bulk_ids(ids.iter().map(DealId::as_uuid).collect(), "deals")?;
    let mut tx = pool.begin(context).await?;
    check_owner(&mut tx, owner).await?;
    // All or nothing: an id the caller cannot see refuses the whole request, so that it is
    // answered, and recorded, as a refusal.
    let visible = sqlx::query_scalar!(
        r#"select count(*) as "count!" from deals where tenant_id = $1 and id = any($2)"#,
        context.tenant_id.as_uuid(),
        &ids,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    if visible < ids.len() as i64 {
        return Err(WriteError::NotFound);
    }
    let changed = sqlx::query!(
        r#"with previous as (
               select id, assigned_to from deals
               where tenant_id = $1 and id = any($2) and deleted_at is null and assigned_to <> $3
               for update
           )
           update deals d
           set assigned_to = $3, version = d.version + 1, updated_at = now(), updated_by = $4
           from previous p
           where d.tenant_id = $1 and d.id = p.id
           returning d.id as "id: DealId", p.assigned_to as "previous: UserId""#,
        context.tenant_id.as_uuid(),
        &ids,
        owner as UserId,
        context.user_id as UserId,
    )
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?;
    for row in &changed {
        audit_reassignment(&mut tx, row.id, row.previous, owner).await?;
    }
    tx.commit().await?;
    Ok(changed.len() as u64)
}

/// Soft-deletes the deal (F8.5), or restores it; audited. Reps may do this to their own.
pub async fn set_deleted(
    pool: &AppPool,
    context: TenantContext,
    id: DealId,
    deleted: bool,
) -> Result<(), WriteError<Deal>> {
    let mut tx = pool.begin(context).await?;
    let Some(current) = fetch(&mut tx, &[id]).await?.pop() else {
        return Err(WriteError::NotFound);
    };
    if current.deleted_at.is_some() == deleted {
        return Ok(());
    }
    let deleted_at = sqlx::query_scalar!(
        "update deals
         set deleted_at = (select now() where $3), version = version + 1,
             updated_at = now(), updated_by = $4
         where tenant_id = $1 and id = $2
         returning deleted_at",
        context.tenant_id.as_uuid(),
        id as DealId,
        deleted,
        context.user_id as UserId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    let action = if deleted {
        "deal.deleted"
    } else {
        "deal.restored"
    };
    audit::record(
        &mut tx,
        action,
        "deal",
        id.as_uuid(),
        Some(serde_json::json!({ "name": current.name, "deleted_at": current.deleted_at })),
        Some(serde_json::json!({ "name": current.name, "deleted_at": deleted_at })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A page of deals: the list in one of its orders (optionally filtered), a search, or the
/// deleted ones. Each query yields the page's positions (sort key and id) in order; one more
/// query reads those rows.
pub async fn list(
    pool: &AppPool,
    context: TenantContext,
    filter: &DealFilter,
) -> Result<DealPage, DbError> {
    let size = page_size(filter.limit);
    let owner = if context.role.may(Permission::AllDeals) {
        filter.assigned_to
    } else {
        Some(context.user_id)
    };
    let search = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let f = Filters {
        process: filter.process_id,
        stage: filter.stage_id,
        owner,
        organization: filter.organization_id,
        probability_min: filter.probability_min,
        probability_max: filter.probability_max,
        close_from: filter.close_from,
        close_to: filter.close_to,
        outcome: filter.outcome.map(|o| o.as_str()),
        rotting: filter.rotting,
    };
    let mut tx = pool.begin(context).await?;
    let after = filter.after.as_ref();
    let positions = match search {
        _ if filter.deleted => deleted_ids(&mut tx, after, size).await?,
        Some(text) => search_ids(&mut tx, &f, text, after, size).await?,
        None => match filter.order {
            DealOrder::Name => by_name(&mut tx, &f, after, size).await?,
            DealOrder::Amount => by_amount(&mut tx, &f, after, size).await?,
            DealOrder::CloseDate => by_close_date(&mut tx, &f, after, size).await?,
            DealOrder::RecentlyChanged => by_change(&mut tx, &f, after, size).await?,
        },
    };
    let positions = Page::from_rows(positions, size, Cursor::clone);
    let ids: Vec<DealId> = positions.items.iter().map(|p| p.id).collect();
    Ok(Page {
        items: fetch(&mut tx, &ids).await?,
        next: positions.next,
    })
}

/// The list's filters, as query parameters.
struct Filters {
    process: Option<ProcessId>,
    stage: Option<StageId>,
    owner: Option<UserId>,
    organization: Option<OrganizationId>,
    probability_min: Option<Decimal>,
    probability_max: Option<Decimal>,
    close_from: Option<NaiveDate>,
    close_to: Option<NaiveDate>,
    outcome: Option<&'static str>,
    rotting: bool,
}

async fn by_name(
    tx: &mut TenantTx,
    f: &Filters,
    after: Option<&Cursor<DealId>>,
    size: i64,
) -> Result<Vec<Cursor<DealId>>, DbError> {
    let tenant = tx.context().tenant_id;
    let (key, id) = text_position(after);
    let rows = sqlx::query!(
        r#"select d.id as "id: DealId", d.name_key from deals d
           where d.tenant_id = $1 and d.deleted_at is null
             and ($2::uuid is null or d.process_id = $2)
             and ($3::uuid is null or d.stage_id = $3)
             and ($4::uuid is null or d.assigned_to = $4)
             and ($5::uuid is null or d.organization_id = $5)
             and ($6::numeric is null or d.probability >= $6)
             and ($7::numeric is null or d.probability <= $7)
             and ($8::date is null or d.expected_close_date >= $8)
             and ($9::date is null or d.expected_close_date <= $9)
             and ($10::text is null or d.outcome = $10::text::aura.stage_outcome)
             and (not $11::bool or (d.outcome = 'open' and exists (
                 select 1 from deal_stages s
                 where s.tenant_id = d.tenant_id and s.id = d.stage_id and s.rotting_days is not null
                   and d.stage_entered_at < now() - make_interval(days => s.rotting_days))))
             and (d.name_key, d.id) > ($12, $13)
           order by d.name_key, d.id
           limit $14"#,
        tenant.as_uuid(),
        f.process as Option<ProcessId>,
        f.stage as Option<StageId>,
        f.owner as Option<UserId>,
        f.organization as Option<OrganizationId>,
        f.probability_min,
        f.probability_max,
        f.close_from,
        f.close_to,
        f.outcome,
        f.rotting,
        key,
        id as DealId,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Cursor::text(row.name_key, row.id))
        .collect())
}

async fn by_amount(
    tx: &mut TenantTx,
    f: &Filters,
    after: Option<&Cursor<DealId>>,
    size: i64,
) -> Result<Vec<Cursor<DealId>>, DbError> {
    let tenant = tx.context().tenant_id;
    // The cursor's key is the amount in cents (-1: none); another key starts from the top.
    let (cents, id) = after
        .and_then(Cursor::text_position)
        .and_then(|(key, id)| Some((key.parse::<i64>().ok()?, id)))
        .unwrap_or((i64::MAX, DealId::from(uuid::Uuid::max())));
    let rows = sqlx::query!(
        r#"select d.id as "id: DealId", d.amount_sort from deals d
           where d.tenant_id = $1 and d.deleted_at is null
             and ($2::uuid is null or d.process_id = $2)
             and ($3::uuid is null or d.stage_id = $3)
             and ($4::uuid is null or d.assigned_to = $4)
             and ($5::uuid is null or d.organization_id = $5)
             and ($6::numeric is null or d.probability >= $6)
             and ($7::numeric is null or d.probability <= $7)
             and ($8::date is null or d.expected_close_date >= $8)
             and ($9::date is null or d.expected_close_date <= $9)
             and ($10::text is null or d.outcome = $10::text::aura.stage_outcome)
             and (not $11::bool or (d.outcome = 'open' and exists (
                 select 1 from deal_stages s
                 where s.tenant_id = d.tenant_id and s.id = d.stage_id and s.rotting_days is not null
                   and d.stage_entered_at < now() - make_interval(days => s.rotting_days))))
             and (d.amount_sort, d.id) < ($12, $13)
           order by d.amount_sort desc, d.id desc
           limit $14"#,
        tenant.as_uuid(),
        f.process as Option<ProcessId>,
        f.stage as Option<StageId>,
        f.owner as Option<UserId>,
        f.organization as Option<OrganizationId>,
        f.probability_min,
        f.probability_max,
        f.close_from,
        f.close_to,
        f.outcome,
        f.rotting,
        cents,
        id as DealId,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Cursor::text(row.amount_sort.to_string(), row.id))
        .collect())
}

async fn by_close_date(
    tx: &mut TenantTx,
    f: &Filters,
    after: Option<&Cursor<DealId>>,
    size: i64,
) -> Result<Vec<Cursor<DealId>>, DbError> {
    let tenant = tx.context().tenant_id;
    // The cursor's key is the date (`infinity`: none); another key starts from the start.
    let (date, id) = after
        .and_then(Cursor::text_position)
        .filter(|(key, _)| *key == "infinity" || NaiveDate::parse_from_str(key, "%Y-%m-%d").is_ok())
        .map_or(
            ("-infinity".to_owned(), DealId::from(uuid::Uuid::nil())),
            |(key, id)| (key.to_owned(), id),
        );
    let rows = sqlx::query!(
        r#"select d.id as "id: DealId", d.close_sort::text as "close_key!" from deals d
           where d.tenant_id = $1 and d.deleted_at is null
             and ($2::uuid is null or d.process_id = $2)
             and ($3::uuid is null or d.stage_id = $3)
             and ($4::uuid is null or d.assigned_to = $4)
             and ($5::uuid is null or d.organization_id = $5)
             and ($6::numeric is null or d.probability >= $6)
             and ($7::numeric is null or d.probability <= $7)
             and ($8::date is null or d.expected_close_date >= $8)
             and ($9::date is null or d.expected_close_date <= $9)
             and ($10::text is null or d.outcome = $10::text::aura.stage_outcome)
             and (not $11::bool or (d.outcome = 'open' and exists (
                 select 1 from deal_stages s
                 where s.tenant_id = d.tenant_id and s.id = d.stage_id and s.rotting_days is not null
                   and d.stage_entered_at < now() - make_interval(days => s.rotting_days))))
             and (d.close_sort, d.id) > ($12::text::date, $13)
           order by d.close_sort, d.id
           limit $14"#,
        tenant.as_uuid(),
        f.process as Option<ProcessId>,
        f.stage as Option<StageId>,
        f.owner as Option<UserId>,
        f.organization as Option<OrganizationId>,
        f.probability_min,
        f.probability_max,
        f.close_from,
        f.close_to,
        f.outcome,
        f.rotting,
        date,
        id as DealId,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Cursor::text(row.close_key, row.id))
        .collect())
}

async fn by_change(
    tx: &mut TenantTx,
    f: &Filters,
    after: Option<&Cursor<DealId>>,
    size: i64,
) -> Result<Vec<Cursor<DealId>>, DbError> {
    let tenant = tx.context().tenant_id;
    let (at, id) = time_position(after);
    let rows = sqlx::query!(
        r#"select d.id as "id: DealId", d.updated_at from deals d
           where d.tenant_id = $1 and d.deleted_at is null
             and ($2::uuid is null or d.process_id = $2)
             and ($3::uuid is null or d.stage_id = $3)
             and ($4::uuid is null or d.assigned_to = $4)
             and ($5::uuid is null or d.organization_id = $5)
             and ($6::numeric is null or d.probability >= $6)
             and ($7::numeric is null or d.probability <= $7)
             and ($8::date is null or d.expected_close_date >= $8)
             and ($9::date is null or d.expected_close_date <= $9)
             and ($10::text is null or d.outcome = $10::text::aura.stage_outcome)
             and (not $11::bool or (d.outcome = 'open' and exists (
                 select 1 from deal_stages s
                 where s.tenant_id = d.tenant_id and s.id = d.stage_id and s.rotting_days is not null
                   and d.stage_entered_at < now() - make_interval(days => s.rotting_days))))
             and (d.updated_at, d.id) < ($12, $13)
           order by d.updated_at desc, d.id desc
           limit $14"#,
        tenant.as_uuid(),
        f.process as Option<ProcessId>,
        f.stage as Option<StageId>,
        f.owner as Option<UserId>,
        f.organization as Option<OrganizationId>,
        f.probability_min,
        f.probability_max,
        f.close_from,
        f.close_to,
        f.outcome,
        f.rotting,
        at,
        id as DealId,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Cursor::time(row.updated_at, row.id))
        .collect())
}

/// Search as you type: prefix matches on the stored, lower-cased `name_key` of the deal
/// (`deals_name_idx`) or of its organization (`organizations_name_key`, then
/// `deals_organization_idx` for those organizations' ids), each a range scan with the tenant
/// and the range as index conditions (`LIKE` or `^@` would not be index conditions under RLS).
/// The union carries the columns the filters need, so it is filtered, sorted by name and cut
/// to a page without reading the deals again. Plans: the table at the top of this file.
async fn search_ids(
    tx: &mut TenantTx,
    f: &Filters,
    text: &str,
    after: Option<&Cursor<DealId>>,
    size: i64,
) -> Result<Vec<Cursor<DealId>>, DbError> {
    let tenant = tx.context().tenant_id;
    let (from, to) = prefix_range(Some(text));
    let (key, id) = text_position(after);
    let rows = sqlx::query!(
        r#"with matches as (
               select id, name_key, tenant_id, process_id, stage_id, assigned_to,
                      organization_id, probability, expected_close_date, outcome,
                      stage_entered_at
               from deals
               where tenant_id = $1 and deleted_at is null and name_key >= $15 and name_key < $16
               union
               select d.id, d.name_key, d.tenant_id, d.process_id, d.stage_id, d.assigned_to,
                      d.organization_id, d.probability, d.expected_close_date, d.outcome,
                      d.stage_entered_at
               from deals d
               where d.tenant_id = $1 and d.deleted_at is null
                 and d.organization_id = any(array(
                     select o.id from organizations o
                     where o.tenant_id = $1 and o.deleted_at is null
                       and o.name_key >= $15 and o.name_key < $16))
           )
           select d.id as "id!: DealId", d.name_key as "name_key!" from matches d
           where true
             and ($2::uuid is null or d.process_id = $2)
             and ($3::uuid is null or d.stage_id = $3)
             and ($4::uuid is null or d.assigned_to = $4)
             and ($5::uuid is null or d.organization_id = $5)
             and ($6::numeric is null or d.probability >= $6)
             and ($7::numeric is null or d.probability <= $7)
             and ($8::date is null or d.expected_close_date >= $8)
             and ($9::date is null or d.expected_close_date <= $9)
             and ($10::text is null or d.outcome = $10::text::aura.stage_outcome)
             and (not $11::bool or (d.outcome = 'open' and exists (
                 select 1 from deal_stages s
                 where s.tenant_id = d.tenant_id and s.id = d.stage_id and s.rotting_days is not null
                   and d.stage_entered_at < now() - make_interval(days => s.rotting_days))))
             and (d.name_key, d.id) > ($12, $13)
           order by d.name_key, d.id
           limit $14"#,
        tenant.as_uuid(),
        f.process as Option<ProcessId>,
        f.stage as Option<StageId>,
        f.owner as Option<UserId>,
        f.organization as Option<OrganizationId>,
        f.probability_min,
        f.probability_max,
        f.close_from,
        f.close_to,
        f.outcome,
        f.rotting,
        key,
        id as DealId,
        size + 1,
        from,
        to,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Cursor::text(row.name_key, row.id))
        .collect())
}

/// Deleted deals, most recently deleted first: `deals_deleted_idx`.
async fn deleted_ids(
    tx: &mut TenantTx,
    after: Option<&Cursor<DealId>>,
    size: i64,
) -> Result<Vec<Cursor<DealId>>, DbError> {
    let tenant = tx.context().tenant_id;
    let (at, id) = time_position(after);
    let rows = sqlx::query!(
        r#"select id as "id: DealId", deleted_at as "deleted_at!" from deals
           where tenant_id = $1 and deleted_at is not null and (deleted_at, id) < ($2, $3)
           order by deleted_at desc, id desc
           limit $4"#,
        tenant.as_uuid(),
        at,
        id as DealId,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Cursor::time(row.deleted_at, row.id))
        .collect())
}

/// The deals with these ids that the caller may see, in the order given.
async fn fetch(tx: &mut TenantTx, ids: &[DealId]) -> Result<Vec<Deal>, DbError> {
    let tenant = tx.context().tenant_id;
    let ids: Vec<uuid::Uuid> = ids.iter().map(DealId::as_uuid).collect();
    let deals = sqlx::query_as!(
        Deal,
        r#"select d.id as "id: DealId", d.name, d.amount,
                  d.process_id as "process_id: ProcessId", p.name as "process_name!",
                  d.stage_id as "stage_id: StageId", s.name as "stage_name!",
                  d.outcome as "outcome: Outcome", d.probability, d.probability_set,
                  d.expected_close_date, d.organization_id as "organization_id: OrganizationId",
                  o.name as "organization_name?",
                  d.assigned_to as "assigned_to: UserId", owner.display_name as "assigned_to_name?",
                  d.notes, d.custom_fields, d.stage_entered_at,
                  extract(day from now() - d.stage_entered_at)::int as "days_in_stage!",
                  (d.outcome = 'open' and s.rotting_days is not null
                   and d.stage_entered_at < now() - make_interval(days => s.rotting_days))
                      as "rotting!",
                  d.closed_at, d.closed_stage_name, d.lost_reason, d.deleted_at, d.version,
                  d.created_at, d.updated_at,
                  cu.display_name as "created_by?", uu.display_name as "updated_by?"
           from unnest($2::uuid[]) with ordinality as wanted (id, position)
           join deals d on d.tenant_id = $1 and d.id = wanted.id
           join sales_processes p on p.tenant_id = d.tenant_id and p.id = d.process_id
           join deal_stages s on s.tenant_id = d.tenant_id and s.id = d.stage_id
           left join organizations o on o.tenant_id = d.tenant_id and o.id = d.organization_id
           left join users owner on owner.id = d.assigned_to
           left join users cu on cu.id = d.created_by
           left join users uu on uu.id = d.updated_by
           order by wanted.position"#,
        tenant.as_uuid(),
        &ids,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(deals.into_iter().map(with_cents).collect())
}

/// Money and percentages with their two decimals, as stored: the driver reads a zero
/// `numeric` without its scale ("0" for 0.00).
fn with_cents(mut deal: Deal) -> Deal {
    deal.probability.rescale(2);
    if let Some(amount) = deal.amount.as_mut() {
        amount.rescale(2);
    }
    deal
}

/// A deal's owner must be an active member of the workspace.
async fn check_owner(tx: &mut TenantTx, owner: UserId) -> Result<(), WriteError<Deal>> {
    let tenant = tx.context().tenant_id;
    let active = sqlx::query_scalar!(
        r#"select true as "active!" from tenant_members
           where tenant_id = $1 and user_id = $2 and deactivated_at is null"#,
        tenant.as_uuid(),
        owner as UserId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    if active.is_none() {
        return Err(WriteError::invalid(
            "assigned_to",
            "Assign the deal to an active member of this workspace.",
        ));
    }
    Ok(())
}

async fn check_organization(
    tx: &mut TenantTx,
    organization: Option<OrganizationId>,
) -> Result<(), WriteError<Deal>> {
    let Some(organization) = organization else {
        return Ok(());
    };
    let tenant = tx.context().tenant_id;
    let live = sqlx::query_scalar!(
        r#"select true as "live!" from organizations
           where tenant_id = $1 and id = $2 and deleted_at is null"#,
        tenant.as_uuid(),
        organization as OrganizationId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    if live.is_none() {
        return Err(WriteError::invalid(
            "organization_id",
            "That organization does not exist or was deleted.",
        ));
    }
    Ok(())
}

/// Writes the `deal.created` entry of each of `ids`, new deals of an import, as [`create`]
/// writes one: one statement for the batch.
/// (`on conflict do nothing`, though no entry can conflict: on Citus an insert from arrays then
/// reaches the shards as inserts, not as the `COPY` that row-level security refuses. Not
/// `returning`, which would need the importer to read the audit trail.)
pub(crate) async fn audit_created(tx: &mut TenantTx, ids: &[DealId]) -> Result<(), DbError> {
    if ids.is_empty() {
        return Ok(());
    }
    let context = *tx.context();
    let created = fetch(tx, ids).await?;
    let entity_ids: Vec<uuid::Uuid> = created.iter().map(|d| d.id.as_uuid()).collect();
    let afters: Vec<String> = created.iter().map(|d| audit_view(d).to_string()).collect();
    sqlx::query!(
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, after)
         select $1, $2, 'deal.created', 'deal', u.id, u.after::jsonb
         from unnest($3::uuid[], $4::text[]) as u (id, after)
         on conflict do nothing",
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
        &entity_ids,
        &afters,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// What the audit trail keeps of a deal: its fields, without the names joined for display.
fn audit_view(deal: &Deal) -> serde_json::Value {
    serde_json::json!({
        "name": deal.name,
        "amount": deal.amount,
        "process_id": deal.process_id,
        "stage_id": deal.stage_id,
        "outcome": deal.outcome,
        "probability": deal.probability,
        "probability_set": deal.probability_set,
        "expected_close_date": deal.expected_close_date,
        "organization_id": deal.organization_id,
        "assigned_to": deal.assigned_to,
        "notes": deal.notes,
        "custom_fields": deal.custom_fields,
        "lost_reason": deal.lost_reason,
        "version": deal.version,
    })
}

fn stage_view(deal: &Deal) -> serde_json::Value {
    serde_json::json!({
        "stage_id": deal.stage_id,
        "stage_name": deal.stage_name,
        "outcome": deal.outcome,
        "probability": deal.probability,
        "lost_reason": deal.lost_reason,
        "version": deal.version,
    })
}

async fn audit_reassignment(
    tx: &mut TenantTx,
    id: DealId,
    from: UserId,
    to: UserId,
) -> Result<(), DbError> {
    audit::record(
        tx,
        "deal.reassigned",
        "deal",
        id.as_uuid(),
        Some(serde_json::json!({ "assigned_to": from })),
        Some(serde_json::json!({ "assigned_to": to })),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Added by the deal pages, in one block so that merges stay easy.

/// The live deals `contact` is on that the caller may see, most recently changed first: at
/// most `limit`, and whether there are more (the contact's page shows them). Plan:
/// `deal_contacts_contact_idx` with the tenant and the contact as index conditions, each deal
/// read by its key.
pub async fn of_contact(
    pool: &AppPool,
    context: TenantContext,
    contact: ContactId,
    limit: i64,
) -> Result<(Vec<Deal>, bool), DbError> {
    let size = page_size(Some(limit));
    let mut tx = pool.begin(context).await?;
    let mut ids = sqlx::query_scalar!(
        r#"select d.id as "id: DealId" from deal_contacts dc
           join deals d on d.tenant_id = dc.tenant_id and d.id = dc.deal_id
           where dc.tenant_id = $1 and dc.contact_id = $2 and d.deleted_at is null
           order by d.updated_at desc, d.id desc
           limit $3"#,
        context.tenant_id.as_uuid(),
        contact as ContactId,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    let more = ids.len() as i64 > size;
    ids.truncate(size as usize);
    Ok((fetch(&mut tx, &ids).await?, more))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(outcome: Outcome) -> Stage {
        Stage {
            id: StageId::new(),
            name: "Proposal".into(),
            position: 2,
            outcome,
            win_probability: Decimal::from(50),
            rotting_days: None,
            requires_amount: true,
            requires_close_date: true,
            requires_contact: true,
            requires_product: true,
        }
    }

    #[test]
    fn a_stage_names_every_field_a_deal_lacks() {
        let proposal = stage(Outcome::Open);
        let missing: Vec<String> = missing_fields(&proposal, None, None, 0, 0)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            missing,
            ["amount", "expected_close_date", "contacts", "line_items"]
        );
        let date = NaiveDate::from_ymd_opt(2027, 1, 31);
        assert!(missing_fields(&proposal, Some(Decimal::ZERO), date, 1, 1).is_empty());
    }

    #[test]
    fn won_and_lost_fix_the_probability_and_open_stages_take_an_override() {
        let chosen = Some(Decimal::from(35));
        assert_eq!(
            probability_in(&stage(Outcome::Open), chosen),
            (Decimal::from(35), true)
        );
        assert_eq!(
            probability_in(&stage(Outcome::Open), None),
            (Decimal::from(50), false)
        );
        assert_eq!(
            probability_in(&stage(Outcome::Won), chosen),
            (Decimal::ONE_HUNDRED, false)
        );
        assert_eq!(
            probability_in(&stage(Outcome::Lost), chosen),
            (Decimal::ZERO, false)
        );
    }

    #[test]
    fn orders_outcomes_and_roles_parse_their_own_spelling_only() {
        for order in DealOrder::ALL {
            assert_eq!(DealOrder::parse(order.as_str()), Some(order));
        }
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
        for role in ContactRole::ALL {
            assert_eq!(ContactRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(DealOrder::parse("size"), None);
        assert_eq!(Outcome::parse("maybe"), None);
    }
}
