//! The pipeline board of one sales process (issue 12): its open stages in order as columns,
//! its won and lost stages as drop targets, per column the count, sum and weighted sum of the
//! deals' amounts (SQL aggregates), and one keyset page of cards per column, more on demand. The
//! board never reads every deal: at 10,000 open deals in a process it reads one aggregate and a
//! page per column. A sales rep's board holds only their deals, every number too: the policies
//! on `deals` do it (the queries also filter by owner, for speed). Each member's last chosen
//! process is remembered (`board_choices`, NFR-U6).
//!
//! Moves go through [`crate::deals::move_to_stage`] (version, required fields, history, audit).
//!
//! Plans, checked with EXPLAIN ANALYZE as `aura_app` with tenant context (`set role aura_app;
//! begin; set local app.current_tenant_id / current_user_id / "current_role"`), PostgreSQL 15,
//! 10,000 deals in one process (9,500 open over four open stages, 500 won), 2,000 more in another
//! process, 200 organizations, reps owning 2,000 and 2,400; the machine shared (2 cores, 4 agents):
//!
//! | query                                  | plan                                                       | manager      | rep         |
//! |----------------------------------------|------------------------------------------------------------|--------------|-------------|
//! | column totals (one aggregate, 4 stages)| before 0027: seq scan of the workspace's deals (manager), bitmap on the owner (rep) | 25 ms | 8.5-9 ms |
//! | column totals, with 0027               | index-only scan of `deals_board_totals_idx` (tenant, process), 0 heap fetches | 12-24 ms | 5 ms |
//! | a column's first page (26 rows)        | `deals_stage_idx`, cursor in the index condition; rep before 0027: the same index, 750 rows filtered | 0.6 ms | 1.4 ms |
//! | a column's page, rep, with 0027        | `deals_assigned_stage_idx` (tenant, owner, stage, cursor)  | -            | 0.7 ms      |
//! | organization, owner, close date names  | `organizations_id_idx` memoized per page; users by id      | in the above | in the above |
//!
//! The totals must read every open deal of the process the caller may see (that is what a sum
//! is); the index keeps that to the index's pages, and the board reads nothing else of size.

use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::ids::UserId;
use aura_platform::permissions::Permission;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use crate::deals::{self, Outcome, ProcessChoice, Stage};
use crate::ids::{DealId, OrganizationId, ProcessId, StageId};
use crate::money::cents;
use crate::paging::{page_size, Cursor, Page};

/// What narrows a board: the owner (managers and admins; a rep's board is always their own),
/// an organization, and an expected close date range (both ends included).
#[derive(Debug, Clone, Default)]
pub struct BoardFilter {
    pub owner: Option<UserId>,
    pub organization: Option<OrganizationId>,
    pub close_from: Option<NaiveDate>,
    pub close_to: Option<NaiveDate>,
}

/// A deal as its card shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Card {
    #[schema(value_type = uuid::Uuid)]
    pub id: DealId,
    pub name: String,
    #[schema(value_type = Option<String>)]
    pub amount: Option<Decimal>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<OrganizationId>,
    pub organization_name: Option<String>,
    #[schema(value_type = uuid::Uuid)]
    pub assigned_to: UserId,
    pub assigned_to_name: Option<String>,
    pub expected_close_date: Option<NaiveDate>,
    /// When the deal entered its stage, and whole days since.
    pub stage_entered_at: DateTime<Utc>,
    pub days_in_stage: i32,
    /// In its stage longer than the stage's rotting threshold.
    pub rotting: bool,
    /// Send it back with a move: a move over a newer version is refused (409).
    pub version: i64,
}

pub type CardPage = Page<Card, DealId>;

/// Count and sums of a column's deals (those the caller may see, under the filter).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Totals {
    pub count: i64,
    /// Sum of the amounts (deals without one count as nothing).
    #[schema(value_type = String)]
    pub amount: Decimal,
    /// Sum of amount x probability / 100.
    #[schema(value_type = String)]
    pub weighted: Decimal,
}

/// An open stage's column: its totals and first page of cards.
#[derive(Debug, Clone)]
pub struct Column {
    pub stage: Stage,
    pub totals: Totals,
    pub cards: CardPage,
}

#[derive(Debug, Clone)]
pub struct Board {
    pub process: ProcessChoice,
    /// Every process the switcher offers (live, not archived), the default first.
    pub processes: Vec<ProcessChoice>,
    /// The open stages, in order.
    pub columns: Vec<Column>,
    /// The won and lost stages: drop targets, without cards.
    pub closing: Vec<Stage>,
}

/// The owner a query filters by: a rep's own id whatever was asked.
fn owner_of(context: TenantContext, filter: &BoardFilter) -> Option<UserId> {
    if context.role.may(Permission::AllDeals) {
        filter.owner
    } else {
        Some(context.user_id)
    }
}

/// The process the board shows when none is named: the caller's last choice if it is still
/// live, else the default.
pub async fn chosen_process(
    pool: &AppPool,
    context: TenantContext,
) -> Result<Option<ProcessId>, DbError> {
    let mut tx = pool.begin(context).await?;
    let id = sqlx::query_scalar!(
        r#"select p.id as "id: ProcessId" from sales_processes p
           left join board_choices c
             on c.tenant_id = p.tenant_id and c.user_id = $2 and c.process_id = p.id
           where p.tenant_id = $1 and p.deleted_at is null and p.archived_at is null
             and (c.process_id is not null or p.is_default)
           order by c.process_id is not null desc
           limit 1"#,
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(id)
}

/// Remembers `process` as the caller's board choice (NFR-U6).
pub async fn remember(
    pool: &AppPool,
    context: TenantContext,
    process: ProcessId,
) -> Result<(), DbError> {
    let mut tx = pool.begin(context).await?;
    sqlx::query!(
        "insert into board_choices (tenant_id, user_id, process_id, updated_at)
         values ($1, $2, $3, now())
         on conflict (tenant_id, user_id)
         do update set process_id = excluded.process_id, updated_at = excluded.updated_at",
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
        process as ProcessId,
    )
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The board of `process` (a live one of the caller's workspace; none otherwise) with `size`
/// cards per column (25 by default, at most 100).
pub async fn board(
    pool: &AppPool,
    context: TenantContext,
    process: ProcessId,
    filter: &BoardFilter,
    size: Option<i64>,
) -> Result<Option<Board>, DbError> {
    let size = page_size(size);
    let owner = owner_of(context, filter);
    let processes = deals::processes(pool, context).await?;
    let mut tx = pool.begin(context).await?;
    let tenant = context.tenant_id;
    // Archived processes keep their open deals, so their board still opens by id.
    let Some(chosen) = sqlx::query_as!(
        ProcessChoice,
        r#"select id as "id: ProcessId", name, is_default from sales_processes
           where tenant_id = $1 and id = $2 and deleted_at is null"#,
        tenant.as_uuid(),
        process as ProcessId,
    )
    .fetch_optional(tx.conn())
    .await?
    else {
        return Ok(None);
    };
    let stages = stages_of(&mut tx, process).await?;
    let totals = sqlx::query!(
        r#"select d.stage_id as "stage_id: StageId", count(*) as "count!",
                  coalesce(sum(d.amount), 0) as "amount!",
                  coalesce(sum(d.amount * d.probability / 100), 0) as "weighted!"
           from deals d
           where d.tenant_id = $1 and d.process_id = $2 and d.deleted_at is null
             and d.outcome = 'open'
             and ($3::uuid is null or d.assigned_to = $3)
             and ($4::uuid is null or d.organization_id = $4)
             and ($5::date is null or d.expected_close_date >= $5)
             and ($6::date is null or d.expected_close_date <= $6)
           group by d.stage_id"#,
        tenant.as_uuid(),
        process as ProcessId,
        owner as Option<UserId>,
        filter.organization as Option<OrganizationId>,
        filter.close_from,
        filter.close_to,
    )
    .fetch_all(tx.conn())
    .await?;
    let mut columns = Vec::new();
    let mut closing = Vec::new();
    for stage in stages {
        if stage.outcome != Outcome::Open {
            closing.push(stage);
            continue;
        }
        let totals = totals
            .iter()
            .find(|t| t.stage_id == stage.id)
            .map(|t| Totals {
                count: t.count,
                amount: cents(t.amount),
                weighted: cents(t.weighted),
            })
            .unwrap_or_else(|| Totals {
                amount: cents(Decimal::ZERO),
                weighted: cents(Decimal::ZERO),
                ..Totals::default()
            });
        let cards = page_of(&mut tx, process, &stage, owner, filter, None, size).await?;
        columns.push(Column {
            stage,
            totals,
            cards,
        });
    }
    Ok(Some(Board {
        process: chosen,
        processes,
        columns,
        closing,
    }))
}

/// The next page of an open stage's cards after `after`; none if `stage` is not an open stage
/// of `process` in the caller's workspace.
pub async fn cards(
    pool: &AppPool,
    context: TenantContext,
    process: ProcessId,
    stage: StageId,
    filter: &BoardFilter,
    after: Option<&Cursor<DealId>>,
    size: Option<i64>,
) -> Result<Option<(Stage, CardPage)>, DbError> {
    let size = page_size(size);
    let owner = owner_of(context, filter);
    let mut tx = pool.begin(context).await?;
    let Some(stage) = stages_of(&mut tx, process)
        .await?
        .into_iter()
        .find(|s| s.id == stage && s.outcome == Outcome::Open)
    else {
        return Ok(None);
    };
    let page = page_of(&mut tx, process, &stage, owner, filter, after, size).await?;
    Ok(Some((stage, page)))
}

/// The live stages of a live process of the caller's workspace, in order.
async fn stages_of(tx: &mut TenantTx, process: ProcessId) -> Result<Vec<Stage>, DbError> {
    let tenant = tx.context().tenant_id;
    let rows = sqlx::query_as!(
        Stage,
        r#"select s.id as "id: StageId", s.name, s.position, s.outcome as "outcome: Outcome",
                  s.win_probability, s.rotting_days, s.requires_amount, s.requires_close_date,
                  s.requires_contact, s.requires_product
           from deal_stages s
           join sales_processes p on p.tenant_id = s.tenant_id and p.id = s.process_id
           where s.tenant_id = $1 and s.process_id = $2 and s.archived_at is null
             and p.deleted_at is null
           order by s.position, s.id"#,
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

/// The earliest time a column starts from: before any deal entered a stage.
fn column_start() -> DateTime<Utc> {
    DateTime::from_timestamp(0, 0).unwrap_or_default()
}

/// One page of a column: longest in the stage first (`deals_stage_idx`, the cursor in its
/// index condition).
async fn page_of(
    tx: &mut TenantTx,
    process: ProcessId,
    stage: &Stage,
    owner: Option<UserId>,
    filter: &BoardFilter,
    after: Option<&Cursor<DealId>>,
    size: i64,
) -> Result<CardPage, DbError> {
    let tenant = tx.context().tenant_id;
    let (at, id) = after
        .and_then(Cursor::time_position)
        .unwrap_or((column_start(), DealId::from(uuid::Uuid::nil())));
    let rows = sqlx::query_as!(
        Card,
        r#"select d.id as "id: DealId", d.name, d.amount,
                  d.organization_id as "organization_id: OrganizationId",
                  o.name as "organization_name?",
                  d.assigned_to as "assigned_to: UserId", u.display_name as "assigned_to_name?",
                  d.expected_close_date, d.stage_entered_at,
                  extract(day from now() - d.stage_entered_at)::int as "days_in_stage!",
                  coalesce(d.stage_entered_at < now() - make_interval(days => $9::int), false)
                      as "rotting!",
                  d.version
           from deals d
           left join organizations o on o.tenant_id = d.tenant_id and o.id = d.organization_id
           left join users u on u.id = d.assigned_to
           where d.tenant_id = $1 and d.stage_id = $2 and d.process_id = $3
             and d.deleted_at is null
             and ($4::uuid is null or d.assigned_to = $4)
             and ($5::uuid is null or d.organization_id = $5)
             and ($6::date is null or d.expected_close_date >= $6)
             and ($7::date is null or d.expected_close_date <= $7)
             and (d.stage_entered_at, d.id) > ($8, $10)
           order by d.stage_entered_at, d.id
           limit $11"#,
        tenant.as_uuid(),
        stage.id as StageId,
        process as ProcessId,
        owner as Option<UserId>,
        filter.organization as Option<OrganizationId>,
        filter.close_from,
        filter.close_to,
        at,
        stage.rotting_days,
        id as DealId,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    let rows = rows
        .into_iter()
        .map(|mut card| {
            if let Some(amount) = card.amount.as_mut() {
                amount.rescale(2);
            }
            card
        })
        .collect();
    Ok(Page::from_rows(rows, size, |card: &Card| {
        Cursor::time(card.stage_entered_at, card.id)
    }))
}

/// One row of the home page's "my open deals": a stage of a process, with the caller's open
/// deals in it.
#[derive(Debug, Clone)]
pub struct MyStage {
    pub process_id: ProcessId,
    pub process_name: String,
    pub stage_name: String,
    pub count: i64,
    pub amount: Decimal,
}

/// The caller's own open deals at a glance (journey 2, the home page): by process and stage,
/// how many close in the next 14 days, and how many are rotting.
#[derive(Debug, Clone, Default)]
pub struct MyPipeline {
    pub stages: Vec<MyStage>,
    pub closing_soon: i64,
    pub rotting: i64,
}

/// The caller's open deals by process and stage (owner-led: `deals_assigned_stage_idx`), and
/// the counts closing within 14 days and rotting.
pub async fn my_pipeline(pool: &AppPool, context: TenantContext) -> Result<MyPipeline, DbError> {
    let mut tx = pool.begin(context).await?;
    let tenant = context.tenant_id;
    let stages = sqlx::query!(
        r#"select p.id as "process_id: ProcessId", p.name as process_name, s.name as stage_name,
                  count(*) as "count!", coalesce(sum(d.amount), 0) as "amount!"
           from deals d
           join deal_stages s on s.tenant_id = d.tenant_id and s.id = d.stage_id
           join sales_processes p on p.tenant_id = d.tenant_id and p.id = d.process_id
           where d.tenant_id = $1 and d.assigned_to = $2 and d.deleted_at is null
             and d.outcome = 'open'
           group by p.id, p.name, s.id, s.name, s.position
           order by lower(p.name), p.id, s.position, s.id"#,
        tenant.as_uuid(),
        context.user_id as UserId,
    )
    .fetch_all(tx.conn())
    .await?;
    let counts = sqlx::query!(
        r#"select count(*) filter (where d.expected_close_date between current_date
                                      and current_date + 14) as "closing_soon!",
                  count(*) filter (where s.rotting_days is not null
                                     and d.stage_entered_at < now() - make_interval(days => s.rotting_days))
                      as "rotting!"
           from deals d
           join deal_stages s on s.tenant_id = d.tenant_id and s.id = d.stage_id
           where d.tenant_id = $1 and d.assigned_to = $2 and d.deleted_at is null
             and d.outcome = 'open'"#,
        tenant.as_uuid(),
        context.user_id as UserId,
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(MyPipeline {
        stages: stages
            .into_iter()
            .map(|row| MyStage {
                process_id: row.process_id,
                process_name: row.process_name,
                stage_name: row.stage_name,
                count: row.count,
                amount: cents(row.amount),
            })
            .collect(),
        closing_soon: counts.closing_soon,
        rotting: counts.rotting,
    })
}
