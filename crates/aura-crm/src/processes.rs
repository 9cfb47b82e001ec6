//! Sales processes and their stages (F11): the pipelines a workspace sells through. Everyone
//! reads them; only a role with `ChangeCatalog` (admins) changes them, here and in the policies.
//!
//! The shape rules live in the database and are checked at commit (migration 0024): a live
//! process has a live open, won and lost stage; a workspace with live processes has exactly one
//! default; live stage positions are unique. So a reorder or a switch of the default is one
//! statement, and whatever a change breaks is refused when it commits, then reported here as the
//! field it concerns. A deal's process never changes (a trigger), so deleting a stage moves its
//! deals to another stage of the same process, and deleting a process closes its open deals as
//! lost in one of its own lost stages, each move with its history row and audit entry.

use aura_platform::audit;
use aura_platform::auth::{self, LoginError};
use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::ids::UserId;
use aura_platform::permissions::Permission;
use aura_platform::step_up::{self, IssuedCode, Proof, Purpose, StepUpError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

pub use crate::deals::Outcome;
use crate::fields::{Check, FieldError, WriteError};
use crate::ids::{ProcessId, StageId};
use crate::workspace_defaults::insert_default_stages;

/// Most live processes a workspace may have: the list is one page, never paged.
pub const MAX_PROCESSES: i64 = 100;
/// Most live stages a process may have.
pub const MAX_STAGES: i64 = 50;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Stage {
    #[schema(value_type = uuid::Uuid)]
    pub id: StageId,
    #[schema(value_type = uuid::Uuid)]
    pub process_id: ProcessId,
    pub name: String,
    /// Order within the process, from 0.
    pub position: i32,
    pub outcome: Outcome,
    /// Default win probability of a deal in this stage, in percent (100 won, 0 lost).
    pub win_probability: i32,
    /// A deal in this stage longer than this many days is rotting; null: never.
    pub rotting_days: Option<i32>,
    pub requires_amount: bool,
    pub requires_close_date: bool,
    pub requires_contact: bool,
    pub requires_product: bool,
    /// Live deals in this stage that the caller may see.
    pub deal_count: i64,
    /// Send it back with an edit: a save over a newer version is refused (409).
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Process {
    #[schema(value_type = uuid::Uuid)]
    pub id: ProcessId,
    pub name: String,
    pub description: Option<String>,
    /// New deals go into this process unless another is chosen (F11.13).
    pub is_default: bool,
    /// Set while archived: kept with its deals, offered for no new deal.
    pub archived_at: Option<DateTime<Utc>>,
    /// The live stages, in order.
    pub stages: Vec<Stage>,
    /// Open (live) deals in the process that the caller may see.
    pub open_deals: i64,
    /// Send it back with an edit: a save over a newer version is refused (409).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Process {
    /// The live lost stages: where open deals may be closed when the process is deleted.
    pub fn lost_stages(&self) -> impl Iterator<Item = &Stage> {
        self.stages.iter().filter(|s| s.outcome == Outcome::Lost)
    }
}

/// A process's name and description.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ProcessInput {
    #[serde(default)]
    pub name: String,
    pub description: Option<String>,
}

impl ProcessInput {
    fn validate<T>(&self) -> Result<(String, Option<String>), WriteError<T>> {
        let mut check = Check::new();
        let name = check.required("name", "Name", &self.name, 100);
        let description = check.optional(
            "description",
            "Description",
            self.description.as_deref().unwrap_or_default(),
            2000,
        );
        check.finish()?;
        Ok((name, description))
    }
}

/// A stage's settings. Won stages always carry 100 % and lost stages 0 %.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct StageInput {
    #[serde(default)]
    pub name: String,
    pub outcome: Outcome,
    /// Percent, 0 to 100; for an open stage, 0 unless given.
    pub win_probability: Option<i32>,
    /// Days, 1 to 3650; null: never rotting.
    pub rotting_days: Option<i32>,
    #[serde(default)]
    pub requires_amount: bool,
    #[serde(default)]
    pub requires_close_date: bool,
    #[serde(default)]
    pub requires_contact: bool,
    #[serde(default)]
    pub requires_product: bool,
}

impl StageInput {
    fn validate<T>(&self) -> Result<(String, i32), WriteError<T>> {
        let mut check = Check::new();
        let name = check.required("name", "Name", &self.name, 100);
        let probability = match self.outcome {
            Outcome::Won => 100,
            Outcome::Lost => 0,
            Outcome::Open => self.win_probability.unwrap_or(0),
        };
        if !(0..=100).contains(&probability) {
            check.refuse(
                "win_probability",
                "Win probability is a percentage from 0 to 100.",
            );
        }
        if self.rotting_days.is_some_and(|d| !(1..=3650).contains(&d)) {
            check.refuse(
                "rotting_days",
                "Rotting days is a number of days from 1 to 3650, or empty for never.",
            );
        }
        check.finish()?;
        Ok((name, probability))
    }
}

/// What happens to a process's open deals when it is deleted: all closed as lost in
/// `lost_stage_id`, one of its own lost stages, with `lost_reason`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct OpenDealsChoice {
    #[schema(value_type = Option<uuid::Uuid>)]
    pub lost_stage_id: Option<StageId>,
    pub lost_reason: Option<String>,
}

/// The database's refusal of a change as the field it concerns; anything else passed on.
fn refusal<T>(err: DbError) -> WriteError<T> {
    let DbError::Constraint { constraint, .. } = &err else {
        return WriteError::Db(err);
    };
    match constraint.as_str() {
        "sales_processes_name_key" | "deal_stages_name_key" => WriteError::Duplicate {
            field: "name",
            existing: None,
        },
        "sales_processes_stage_outcomes" => WriteError::invalid(
            "stages",
            "A sales process needs at least one open, one won and one lost stage.",
        ),
        "sales_processes_default_required" | "sales_processes_default_is_live" => {
            WriteError::invalid(
                "is_default",
                "The default process cannot be archived or deleted: make another process the default first.",
            )
        }
        "deal_stages_position_key" => WriteError::invalid(
            "stage_ids",
            "Two stages would share a position: reload and order them again.",
        ),
        "deals_stage_fkey" => WriteError::invalid(
            "outcome",
            "Deals are (or were) in this stage, so its outcome cannot change: add a new stage instead.",
        ),
        _ => WriteError::Db(err),
    }
}

/// Commits `tx`, mapping what the deferred constraints refuse at commit.
async fn commit<T>(tx: TenantTx) -> Result<(), WriteError<T>> {
    tx.commit().await.map_err(refusal)
}

// Reading ----------------------------------------------------------------------------------

struct ProcessRow {
    id: ProcessId,
    name: String,
    description: Option<String>,
    is_default: bool,
    archived_at: Option<DateTime<Utc>>,
    open_deals: i64,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The live processes (all of them, or the one `only`), with their live stages in order.
async fn fetch(tx: &mut TenantTx, only: Option<ProcessId>) -> Result<Vec<Process>, DbError> {
    let tenant = tx.context().tenant_id.as_uuid();
    let rows = sqlx::query_as!(
        ProcessRow,
        r#"select p.id as "id: ProcessId", p.name, p.description, p.is_default, p.archived_at,
                  (select count(*) from deals d
                   where d.tenant_id = p.tenant_id and d.process_id = p.id
                     and d.deleted_at is null and d.outcome = 'open') as "open_deals!",
                  p.version, p.created_at, p.updated_at
           from sales_processes p
           where p.tenant_id = $1 and p.deleted_at is null and ($2::uuid is null or p.id = $2)
           order by p.archived_at is not null, p.is_default desc, lower(p.name), p.id
           limit $3"#,
        tenant,
        only.map(|id| id.as_uuid()),
        MAX_PROCESSES,
    )
    .fetch_all(tx.conn())
    .await?;
    let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id.as_uuid()).collect();
    let mut stages = sqlx::query_as!(
        Stage,
        r#"select s.id as "id: StageId", s.process_id as "process_id: ProcessId", s.name,
                  s.position, s.outcome as "outcome: Outcome",
                  round(s.win_probability)::int4 as "win_probability!", s.rotting_days,
                  s.requires_amount, s.requires_close_date, s.requires_contact,
                  s.requires_product,
                  (select count(*) from deals d
                   where d.tenant_id = s.tenant_id and d.stage_id = s.id
                     and d.deleted_at is null) as "deal_count!",
                  s.version
           from deal_stages s
           where s.tenant_id = $1 and s.process_id = any($2) and s.archived_at is null
           order by s.process_id, s.position, s.id"#,
        tenant,
        &ids,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let (mine, rest): (Vec<Stage>, Vec<Stage>) = std::mem::take(&mut stages)
                .into_iter()
                .partition(|s| s.process_id == row.id);
            stages = rest;
            Process {
                id: row.id,
                name: row.name,
                description: row.description,
                is_default: row.is_default,
                archived_at: row.archived_at,
                stages: mine,
                open_deals: row.open_deals,
                version: row.version,
                created_at: row.created_at,
                updated_at: row.updated_at,
            }
        })
        .collect())
}

/// The workspace's live processes: the default first, archived last, else by name.
pub async fn list(pool: &AppPool, context: TenantContext) -> Result<Vec<Process>, DbError> {
    let mut tx = pool.begin(context).await?;
    fetch(&mut tx, None).await
}

/// The live process `id` with its stages; `None` if there is none (or it was deleted).
pub async fn get(
    pool: &AppPool,
    context: TenantContext,
    id: ProcessId,
) -> Result<Option<Process>, DbError> {
    let mut tx = pool.begin(context).await?;
    Ok(fetch(&mut tx, Some(id)).await?.pop())
}

/// The process of the live stage `id`.
pub async fn process_of_stage(
    pool: &AppPool,
    context: TenantContext,
    id: StageId,
) -> Result<Option<Process>, DbError> {
    let mut tx = pool.begin(context).await?;
    let Some(process) = stage_process(&mut tx, id).await? else {
        return Ok(None);
    };
    Ok(fetch(&mut tx, Some(process)).await?.pop())
}

async fn stage_process(tx: &mut TenantTx, id: StageId) -> Result<Option<ProcessId>, DbError> {
    let tenant = tx.context().tenant_id.as_uuid();
    Ok(sqlx::query_scalar!(
        r#"select s.process_id as "id: ProcessId"
           from deal_stages s join sales_processes p
                on p.tenant_id = s.tenant_id and p.id = s.process_id
           where s.tenant_id = $1 and s.id = $2 and s.archived_at is null
             and p.deleted_at is null"#,
        tenant,
        id as StageId,
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// The live process, read for a change in `tx` (locked against concurrent changes).
async fn locked<T>(tx: &mut TenantTx, id: ProcessId) -> Result<Process, WriteError<T>> {
    let tenant = tx.context().tenant_id.as_uuid();
    sqlx::query_scalar!(
        "select id from sales_processes where tenant_id = $1 and id = $2 and deleted_at is null
         for update",
        tenant,
        id as ProcessId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?
    .ok_or(WriteError::NotFound)?;
    fetch(tx, Some(id)).await?.pop().ok_or(WriteError::NotFound)
}

// Processes ---------------------------------------------------------------------------------

/// Creates a process with the standard stages of F11.3 to edit. The workspace's first live
/// process becomes its default.
pub async fn create(
    pool: &AppPool,
    context: TenantContext,
    input: &ProcessInput,
) -> Result<ProcessId, WriteError<Process>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    let (name, description) = input.validate()?;
    let mut tx = pool.begin(context).await?;
    let tenant = context.tenant_id.as_uuid();
    // Read apart from the insert: on Citus an insert may hold no subquery.
    let existing = sqlx::query!(
        r#"select count(*) filter (where deleted_at is null) as "live!",
                  coalesce(bool_or(is_default), false) as "has_default!"
           from sales_processes where tenant_id = $1"#,
        tenant,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    if existing.live >= MAX_PROCESSES {
        return Err(WriteError::invalid(
            "name",
            format!("A workspace has at most {MAX_PROCESSES} processes: delete one first."),
        ));
    }
    let id = sqlx::query_scalar!(
        r#"insert into sales_processes (tenant_id, name, description, is_default, created_by, updated_by)
           values ($1, $2, $3, $4, $5, $5)
           returning id as "id: ProcessId""#,
        tenant,
        name,
        description,
        !existing.has_default,
        context.user_id as UserId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(|err| refusal::<Process>(err.into()))?;
    insert_default_stages(&mut tx, id.as_uuid()).await?;
    audit::record(
        &mut tx,
        "process.created",
        "sales_process",
        id.as_uuid(),
        None,
        Some(json!({ "name": name, "description": description })),
    )
    .await?;
    commit(tx).await?;
    Ok(id)
}

/// Renames or redescribes the process, if `version` is still current.
pub async fn update(
    pool: &AppPool,
    context: TenantContext,
    id: ProcessId,
    version: i64,
    input: &ProcessInput,
) -> Result<Process, WriteError<Process>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    let (name, description) = input.validate()?;
    let mut tx = pool.begin(context).await?;
    let current = locked(&mut tx, id).await?;
    if current.version != version {
        return Err(WriteError::Stale(Box::new(current)));
    }
    sqlx::query!(
        "update sales_processes
         set name = $3, description = $4, version = version + 1, updated_at = now(),
             updated_by = $5
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as ProcessId,
        name,
        description,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(|err| refusal::<Process>(err.into()))?;
    audit::record(
        &mut tx,
        "process.renamed",
        "sales_process",
        id.as_uuid(),
        Some(json!({ "name": current.name, "description": current.description })),
        Some(json!({ "name": name, "description": description })),
    )
    .await?;
    let saved = fetch(&mut tx, Some(id))
        .await?
        .pop()
        .ok_or(WriteError::NotFound)?;
    commit(tx).await?;
    Ok(saved)
}

/// Archives the process (no new deals go into it) or brings it back. The default cannot be
/// archived.
pub async fn set_archived(
    pool: &AppPool,
    context: TenantContext,
    id: ProcessId,
    archived: bool,
) -> Result<(), WriteError<Process>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    let mut tx = pool.begin(context).await?;
    let current = locked(&mut tx, id).await?;
    if current.archived_at.is_some() == archived {
        return Ok(());
    }
    if archived && current.is_default {
        return Err(WriteError::invalid(
            "is_default",
            "The default process cannot be archived: make another process the default first.",
        ));
    }
    sqlx::query!(
        "update sales_processes
         set archived_at = (select now() where $3), version = version + 1,
             updated_at = now(), updated_by = $4
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as ProcessId,
        archived,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(|err| refusal::<Process>(err.into()))?;
    let action = if archived {
        "process.archived"
    } else {
        "process.unarchived"
    };
    audit::record(&mut tx, action, "sales_process", id.as_uuid(), None, None).await?;
    commit(tx).await
}

/// Makes the process the workspace's default for new deals: one statement, checked at commit
/// (at most one default, and never an archived one).
pub async fn make_default(
    pool: &AppPool,
    context: TenantContext,
    id: ProcessId,
) -> Result<(), WriteError<Process>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    let mut tx = pool.begin(context).await?;
    let current = locked(&mut tx, id).await?;
    if current.is_default {
        return Ok(());
    }
    if current.archived_at.is_some() {
        return Err(WriteError::invalid(
            "is_default",
            "An archived process cannot be the default: bring it back first.",
        ));
    }
    let previous = sqlx::query_scalar!(
        "select id from sales_processes where tenant_id = $1 and is_default",
        context.tenant_id.as_uuid(),
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    sqlx::query!(
        "update sales_processes
         set is_default = (id = $2), version = version + 1, updated_at = now(), updated_by = $3
         where tenant_id = $1 and (is_default or id = $2)",
        context.tenant_id.as_uuid(),
        id as ProcessId,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(|err| refusal::<Process>(err.into()))?;
    audit::record(
        &mut tx,
        "process.default_changed",
        "sales_process",
        id.as_uuid(),
        Some(json!({ "default": previous })),
        Some(json!({ "default": id })),
    )
    .await?;
    commit(tx).await
}

/// Sends the admin in context a one-time code to delete the process (step-up, NFR-S8).
pub async fn request_deletion_code(
    pool: &AppPool,
    context: TenantContext,
    id: ProcessId,
) -> Result<IssuedCode, WriteError<Process>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    let mut tx = pool.begin(context).await?;
    locked::<Process>(&mut tx, id).await?;
    let code = step_up::issue(&mut tx, &Purpose::DeleteProcess(id.as_uuid())).await?;
    tx.commit().await?;
    Ok(code)
}

/// Deletes the process (soft: its closed deals stay bound to it) once the admin has proved it
/// is them (`proof`). Its open deals are all closed as lost in the chosen lost stage with the
/// given reason, in the same transaction; without that choice, a process with open deals is
/// not deleted. Returns how many deals were closed.
pub async fn delete(
    pool: &AppPool,
    context: TenantContext,
    id: ProcessId,
    proof: Proof<'_>,
    choice: &OpenDealsChoice,
) -> Result<u64, WriteError<Process>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    // A process the caller cannot see is not found, whatever proof came with the request.
    get(pool, context, id).await?.ok_or(WriteError::NotFound)?;
    if let Proof::Password { password, source } = proof {
        // Before the change's transaction: hashing is slow, and no row lock should wait on it.
        auth::confirm_password(pool, context.user_id, password, source)
            .await
            .map_err(|err| match err {
                LoginError::Rejected => WriteError::invalid(
                    "password",
                    "That is not your password, or your account is locked for a while.",
                ),
                LoginError::Db(err) => err.into(),
            })?;
    }
    let mut tx = pool.begin(context).await?;
    let current = locked(&mut tx, id).await?;
    if let Proof::Code(code) = proof {
        if let Err(err) =
            step_up::consume(&mut tx, &Purpose::DeleteProcess(id.as_uuid()), code).await
        {
            tx.commit().await?; // the counted attempt
            return Err(match err {
                StepUpError::Wrong => WriteError::invalid(
                    "code",
                    "That code is not right. Check the latest email and try again.",
                ),
                StepUpError::NoCode => WriteError::invalid(
                    "code",
                    "There is no usable code: it expired (codes last ten minutes), was used, or \
                     was guessed wrong five times. Ask for a new one.",
                ),
                StepUpError::Db(err) => err.into(),
            });
        }
    }
    if current.is_default {
        return Err(WriteError::invalid(
            "is_default",
            "The default process cannot be deleted: make another process the default first.",
        ));
    }
    let mut closed = 0;
    if current.open_deals > 0 {
        let mut check = Check::new();
        let stage = choice
            .lost_stage_id
            .filter(|s| current.lost_stages().any(|l| l.id == *s));
        if stage.is_none() {
            check.refuse(
                "lost_stage_id",
                format!(
                    "{} open deals are in this process: choose the lost stage to close them in.",
                    current.open_deals
                ),
            );
        }
        let reason = check.required(
            "lost_reason",
            "The reason they were lost",
            choice.lost_reason.as_deref().unwrap_or_default(),
            500,
        );
        check.finish()?;
        closed = move_deals(
            &mut tx,
            current.id,
            Moving::OpenDealsOf(current.id),
            stage.expect("checked above"),
            Some(&reason),
        )
        .await?;
    }
    sqlx::query!(
        "update sales_processes
         set deleted_at = now(), version = version + 1, updated_at = now(), updated_by = $3
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as ProcessId,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(|err| refusal::<Process>(err.into()))?;
    audit::record(
        &mut tx,
        "process.deleted",
        "sales_process",
        id.as_uuid(),
        Some(json!({ "name": current.name })),
        Some(json!({ "open_deals_closed_as_lost": closed, "lost_stage_id": choice.lost_stage_id })),
    )
    .await?;
    commit(tx).await?;
    Ok(closed)
}

// Moving deals -------------------------------------------------------------------------------

enum Moving {
    /// The live deals in this stage.
    DealsIn(StageId),
    /// The process's live open deals.
    OpenDealsOf(ProcessId),
}

/// Moves deals to `to` (a live stage of `process`) in one statement: stage, outcome,
/// probability (the stage's default unless a person set it; always 100 won, 0 lost), time of
/// entry (0033), and the closing columns as the new outcome says, version + 1; an audit entry
/// per deal (the database writes the history rows). Returns how many moved.
async fn move_deals<T>(
    tx: &mut TenantTx,
    process: ProcessId,
    moving: Moving,
    to: StageId,
    lost_reason: Option<&str>,
) -> Result<u64, WriteError<T>> {
    let context = *tx.context();
    let (from_stage, open_of) = match moving {
        Moving::DealsIn(stage) => (Some(stage.as_uuid()), None),
        Moving::OpenDealsOf(process) => (None, Some(process.as_uuid())),
    };
    let moved = sqlx::query!(
        r#"with old as (
               select d.id, d.stage_id, f.name as from_name
               from deals d
               join deal_stages f on f.tenant_id = d.tenant_id and f.id = d.stage_id
               where d.tenant_id = $1 and d.process_id = $2 and d.deleted_at is null
                 and ($3::uuid is null or d.stage_id = $3)
                 and ($4::uuid is null or d.outcome = 'open')
               for update of d
           ), target as (
               select id, name, outcome, win_probability, now() as moved_at from deal_stages
               where tenant_id = $1 and process_id = $2 and id = $5 and archived_at is null
           ), moved as (
               update deals d
               set stage_id = t.id, outcome = t.outcome,
                   probability = case t.outcome when 'won' then 100 when 'lost' then 0
                                 else case when d.probability_set then d.probability
                                           else t.win_probability end end,
                   closed_at = case when t.outcome = 'open' then null
                                    when d.outcome = t.outcome then d.closed_at
                                    else t.moved_at end,
                   closed_stage_name = case when t.outcome = 'open' then null else t.name end,
                   lost_reason = case when t.outcome <> 'lost' then null
                                      else coalesce($6, d.lost_reason) end,
                   version = d.version + 1, updated_at = now(), updated_by = $7
               from old, target t
               where d.tenant_id = $1 and d.id = old.id and d.stage_id <> t.id
               returning d.id
           )
           select old.id as "deal_id!", old.stage_id as "from_stage_id?",
                  old.from_name as "from_stage_name?", t.id as "to_stage_id!",
                  t.name as "to_stage_name!"
           from old join moved on moved.id = old.id, target t"#,
        context.tenant_id.as_uuid(),
        process as ProcessId,
        from_stage,
        open_of,
        to as StageId,
        lost_reason,
        context.user_id as UserId,
    )
    .fetch_all(tx.conn())
    .await
    .map_err(|err| refusal::<T>(err.into()))?;
    for row in &moved {
        audit::record(
            tx,
            "deal.stage_changed",
            "deal",
            row.deal_id,
            Some(json!({ "stage_id": row.from_stage_id, "stage": row.from_stage_name })),
            Some(
                json!({ "stage_id": row.to_stage_id, "stage": row.to_stage_name,
                         "lost_reason": lost_reason }),
            ),
        )
        .await?;
    }
    Ok(moved.len() as u64)
}

// Stages -------------------------------------------------------------------------------------

fn stage_json(name: &str, input: &StageInput, probability: i32) -> serde_json::Value {
    json!({
        "name": name, "outcome": input.outcome, "win_probability": probability,
        "rotting_days": input.rotting_days, "requires_amount": input.requires_amount,
        "requires_close_date": input.requires_close_date,
        "requires_contact": input.requires_contact, "requires_product": input.requires_product,
    })
}

/// Adds a stage at the end of the process.
pub async fn add_stage(
    pool: &AppPool,
    context: TenantContext,
    process: ProcessId,
    input: &StageInput,
) -> Result<StageId, WriteError<Stage>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    let (name, probability) = input.validate()?;
    let mut tx = pool.begin(context).await?;
    let current = locked(&mut tx, process).await?;
    if current.stages.len() as i64 >= MAX_STAGES {
        return Err(WriteError::invalid(
            "name",
            format!("A process has at most {MAX_STAGES} stages."),
        ));
    }
    let position = current.stages.iter().map(|s| s.position + 1).max();
    let id = sqlx::query_scalar!(
        r#"insert into deal_stages
               (tenant_id, process_id, name, position, outcome, win_probability, rotting_days,
                requires_amount, requires_close_date, requires_contact, requires_product,
                created_by, updated_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
           returning id as "id: StageId""#,
        context.tenant_id.as_uuid(),
        process as ProcessId,
        name,
        position.unwrap_or(0),
        input.outcome as Outcome,
        rust_decimal::Decimal::from(probability),
        input.rotting_days,
        input.requires_amount,
        input.requires_close_date,
        input.requires_contact,
        input.requires_product,
        context.user_id as UserId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(|err| refusal::<Stage>(err.into()))?;
    audit::record(
        &mut tx,
        "stage.added",
        "deal_stage",
        id.as_uuid(),
        None,
        Some(stage_json(&name, input, probability)),
    )
    .await?;
    commit(tx).await?;
    Ok(id)
}

/// Saves the stage's settings over version `version`. A rename rewrites no history: closed
/// deals and history rows keep the name they had.
pub async fn update_stage(
    pool: &AppPool,
    context: TenantContext,
    id: StageId,
    version: i64,
    input: &StageInput,
) -> Result<Stage, WriteError<Stage>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    let (name, probability) = input.validate()?;
    let mut tx = pool.begin(context).await?;
    let process = stage_process(&mut tx, id)
        .await?
        .ok_or(WriteError::NotFound)?;
    let current = locked::<Stage>(&mut tx, process).await?;
    let stage = current
        .stages
        .into_iter()
        .find(|s| s.id == id)
        .ok_or(WriteError::NotFound)?;
    if stage.version != version {
        return Err(WriteError::Stale(Box::new(stage)));
    }
    sqlx::query!(
        "update deal_stages
         set name = $3, outcome = $4, win_probability = $5, rotting_days = $6,
             requires_amount = $7, requires_close_date = $8, requires_contact = $9,
             requires_product = $10, version = version + 1, updated_at = now(), updated_by = $11
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as StageId,
        name,
        input.outcome as Outcome,
        rust_decimal::Decimal::from(probability),
        input.rotting_days,
        input.requires_amount,
        input.requires_close_date,
        input.requires_contact,
        input.requires_product,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(|err| refusal::<Stage>(err.into()))?;
    audit::record(
        &mut tx,
        "stage.updated",
        "deal_stage",
        id.as_uuid(),
        Some(json!({
            "name": stage.name, "outcome": stage.outcome,
            "win_probability": stage.win_probability, "rotting_days": stage.rotting_days,
            "requires_amount": stage.requires_amount,
            "requires_close_date": stage.requires_close_date,
            "requires_contact": stage.requires_contact,
            "requires_product": stage.requires_product,
        })),
        Some(stage_json(&name, input, probability)),
    )
    .await?;
    let saved = fetch(&mut tx, Some(process))
        .await?
        .pop()
        .and_then(|p| p.stages.into_iter().find(|s| s.id == id))
        .ok_or(WriteError::NotFound)?;
    commit(tx).await?;
    Ok(saved)
}

/// Puts the process's live stages in the order given, which must list each of them once.
/// One statement: positions are checked at commit. A stage's version stays: its position is
/// not part of what its edit form saves, so a reorder does not make that form stale.
pub async fn reorder(
    pool: &AppPool,
    context: TenantContext,
    process: ProcessId,
    order: &[StageId],
) -> Result<Process, WriteError<Process>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    let mut tx = pool.begin(context).await?;
    let current = locked(&mut tx, process).await?;
    let mut given: Vec<StageId> = order.to_vec();
    let mut live: Vec<StageId> = current.stages.iter().map(|s| s.id).collect();
    given.sort_by_key(StageId::as_uuid);
    live.sort_by_key(StageId::as_uuid);
    if given != live {
        return Err(WriteError::invalid(
            "stage_ids",
            "List every live stage of the process once, in the new order: the stages changed \
             meanwhile, or the list is incomplete. Reload and try again.",
        ));
    }
    let ids: Vec<uuid::Uuid> = order.iter().map(StageId::as_uuid).collect();
    sqlx::query!(
        "update deal_stages s
         set position = o.position - 1, updated_at = now(), updated_by = $4
         from unnest($3::uuid[]) with ordinality as o(id, position)
         where s.tenant_id = $1 and s.process_id = $2 and s.id = o.id
           and s.position <> o.position - 1",
        context.tenant_id.as_uuid(),
        process as ProcessId,
        &ids,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(|err| refusal::<Process>(err.into()))?;
    let before: Vec<&str> = current.stages.iter().map(|s| s.name.as_str()).collect();
    let saved = fetch(&mut tx, Some(process))
        .await?
        .pop()
        .ok_or(WriteError::NotFound)?;
    let after: Vec<&str> = saved.stages.iter().map(|s| s.name.as_str()).collect();
    audit::record(
        &mut tx,
        "stage.reordered",
        "sales_process",
        process.as_uuid(),
        Some(json!({ "stages": before })),
        Some(json!({ "stages": after })),
    )
    .await?;
    commit(tx).await?;
    Ok(saved)
}

/// Moves the stage one place up (`up`) or down: the keyboard's way to reorder.
pub async fn move_stage(
    pool: &AppPool,
    context: TenantContext,
    id: StageId,
    up: bool,
) -> Result<Process, WriteError<Process>> {
    let process = process_of_stage(pool, context, id)
        .await?
        .ok_or(WriteError::NotFound)?;
    let mut order: Vec<StageId> = process.stages.iter().map(|s| s.id).collect();
    let at = order
        .iter()
        .position(|s| *s == id)
        .ok_or(WriteError::NotFound)?;
    let other = if up { at.checked_sub(1) } else { Some(at + 1) };
    match other.filter(|o| *o < order.len()) {
        Some(other) => order.swap(at, other),
        None => return Ok(process),
    }
    reorder(pool, context, process.id, &order).await
}

/// Deletes the stage (soft). Live deals in it first move to `target`, another live stage of
/// the same process, each with its history row; without a target a stage with deals stays.
/// The last open, won or lost stage of a process cannot go (checked at commit). Returns how
/// many deals moved.
pub async fn delete_stage(
    pool: &AppPool,
    context: TenantContext,
    id: StageId,
    target: Option<StageId>,
) -> Result<u64, WriteError<Stage>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    let mut tx = pool.begin(context).await?;
    let process = stage_process(&mut tx, id)
        .await?
        .ok_or(WriteError::NotFound)?;
    let current = locked::<Stage>(&mut tx, process).await?;
    let stage = current
        .stages
        .iter()
        .find(|s| s.id == id)
        .ok_or(WriteError::NotFound)?;
    let live_deals = sqlx::query_scalar!(
        r#"select count(*) as "count!" from deals
           where tenant_id = $1 and stage_id = $2 and deleted_at is null"#,
        context.tenant_id.as_uuid(),
        id as StageId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    let mut moved = 0;
    if live_deals > 0 {
        let target = target
            .filter(|t| *t != id && current.stages.iter().any(|s| s.id == *t))
            .ok_or_else(|| {
                WriteError::invalid(
                    "target_stage_id",
                    format!(
                        "{live_deals} deals are in this stage: choose another stage of this \
                         process to move them to."
                    ),
                )
            })?;
        moved = move_deals(&mut tx, process, Moving::DealsIn(id), target, None).await?;
    }
    sqlx::query!(
        "update deal_stages
         set archived_at = now(), version = version + 1, updated_at = now(), updated_by = $3
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as StageId,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(|err| refusal::<Stage>(err.into()))?;
    audit::record(
        &mut tx,
        "stage.deleted",
        "deal_stage",
        id.as_uuid(),
        Some(json!({ "name": stage.name, "outcome": stage.outcome })),
        Some(json!({ "deals_moved": moved, "target_stage_id": target })),
    )
    .await?;
    commit(tx).await?;
    Ok(moved)
}

/// The problems a stage form found parsing its text inputs, for the page to show with the
/// domain's own.
pub fn parse_percent(check_field: &str, raw: &str) -> Result<Option<i32>, FieldError> {
    let raw = raw.trim().trim_end_matches('%').trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i32>().map(Some).map_err(|_| FieldError {
        field: check_field.to_owned(),
        message: format!("“{raw}” is not a whole number."),
    })
}
