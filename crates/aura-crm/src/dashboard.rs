//! The home dashboard (issue 12, journey 2 step 2): the first page after sign-in.
//!
//! For everyone, the member's own open deals that need attention (closing in the next 14 days,
//! overdue, rotting: a few of each with the count) and their recent activity; for everyone the
//! pipeline by stage, won and lost per month and the weighted forecast by expected-close month
//! over the deals they may see; for managers and admins the team by owner. A rep's numbers
//! cover only their deals: the policies on `deals` and `activities` do it, and the queries also
//! filter by the owner (for speed, as the board does). Dates (today, this week, this month)
//! are the workspace's, in its time zone. Every query runs in one tenant transaction.
//!
//! Plans, checked with EXPLAIN ANALYZE as `aura_app` with tenant context (`set role aura_app;
//! begin; set local app.current_tenant_id / current_user_id / "current_role"`) on the
//! benchmark's seed (two tenants; the measured one: 40 members, 10,500 deals of which 8,400
//! open, 50,200 activities), PostgreSQL 15, after `vacuum analyze`, the machine shared (2 cores,
//! 4 agents, so times vary by 2x); manager / rep:
//!
//! | query                                 | plan                                                                 | manager | rep     |
//! |---------------------------------------|----------------------------------------------------------------------|---------|---------|
//! | calendar (today, week, month)         | `tenants_pkey`, one row                                              | <0.1 ms | <0.1 ms |
//! | my counts (closing, overdue, rotting) | bitmap on an owner-led index: the member's 266 deals                 | 0.5 ms  | 0.7 ms  |
//! | closing soon (top 5)                  | `deals_assigned_close_date_idx`, owner and date range in the index condition | 0.3 ms | 0.2 ms |
//! | overdue (top 5)                       | `deals_assigned_close_date_idx`, stops after 5                       | 0.07 ms | 0.06 ms |
//! | rotting (top 5)                       | `deals_assigned_stage_idx` once per open stage with a threshold      | 0.4 ms  | 0.4 ms  |
//! | recent activity (top 5)               | `activities_participant_idx` (0030), stops after 5                   | 0.2 ms  | 0.2 ms  |
//! | pipeline by stage                     | manager: `deals_board_totals_idx` index-only, 8,400 entries; rep: the owner's deals | 12.6 ms | 0.6 ms |
//! | won and lost per month (6)            | `deals_closed_idx` (0030) index-only, the 6 months' 2,100 entries    | 1.6 ms  | 0.5 ms  |
//! | forecast per month (6)                | manager: `deals_forecast_idx` (0030) index-only, 5,238 entries; rep: `deals_assigned_close_date_idx` | 4.2 ms | 2.5 ms |
//! | team by owner (managers only)         | `deals_board_totals_idx` index-only (open), `deals_closed_idx` (won this month), per member an index-only count on `activities_participant_idx` (0.2 ms each) | 28 ms | - |
//!
//! With a process filter the manager's pipeline reads 8,000 entries (13 ms). The open deals'
//! sums must read every open deal the caller may see (that is what a sum is); the indexes keep
//! that to index pages. Before 0030 the recent activity and the per-member activity counts had
//! no index led by the participant (a scan of the workspace's activities), and the won/lost and
//! forecast months read the deals from the heap.

use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::ids::UserId;
use aura_platform::permissions::Permission;
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::activities::ActivityKind;
use crate::ids::{ActivityId, ContactId, DealId, ProcessId, StageId};
use crate::money::cents;

/// How many deals or activities each short list shows.
pub const SHORT_LIST: i64 = 5;
/// "Closing soon": an expected close date from today to this many days ahead.
pub const CLOSING_DAYS: i64 = 14;
/// The months the won-and-lost chart and the forecast cover.
pub const MONTHS: u32 = 6;

/// The workspace's today, in its time zone, and where its week and month began.
#[derive(Debug, Clone, Copy)]
pub struct Calendar {
    pub today: NaiveDate,
    pub week_start: DateTime<Utc>,
    pub month_start: DateTime<Utc>,
    /// Where the first of the won-and-lost chart's months began.
    pub results_start: DateTime<Utc>,
}

impl Calendar {
    /// The first day of this month.
    pub fn this_month(&self) -> NaiveDate {
        self.today.with_day(1).unwrap_or(self.today)
    }

    /// The last day of the "closing soon" range.
    pub fn closing_until(&self) -> NaiveDate {
        self.today + chrono::Duration::days(CLOSING_DAYS)
    }
}

/// An open deal of the member's, as a short list shows it.
#[derive(Debug, Clone)]
pub struct DealLine {
    pub id: DealId,
    pub name: String,
    pub amount: Option<Decimal>,
    pub process_name: String,
    pub stage_name: String,
    pub expected_close_date: Option<NaiveDate>,
    pub days_in_stage: i32,
}

/// A short list and how many there are in all.
#[derive(Debug, Clone, Default)]
pub struct ShortList {
    pub items: Vec<DealLine>,
    pub total: i64,
}

/// One of the member's recent activities, with what it was logged on (names only where the
/// member may see the record).
#[derive(Debug, Clone)]
pub struct ActivityLine {
    pub id: ActivityId,
    pub kind: ActivityKind,
    pub description: String,
    pub occurred_at: DateTime<Utc>,
    pub contact_id: Option<ContactId>,
    pub contact_name: Option<String>,
    pub deal_id: Option<DealId>,
    pub deal_name: Option<String>,
}

/// Open deals of one stage: the pipeline chart's bar.
#[derive(Debug, Clone)]
pub struct StageTotal {
    pub process_id: ProcessId,
    pub process_name: String,
    pub stage_id: StageId,
    pub stage_name: String,
    pub count: i64,
    pub amount: Decimal,
    pub weighted: Decimal,
}

/// Deals won and lost in one month (by when they closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthResult {
    /// The month's first day.
    pub month: NaiveDate,
    pub won_count: i64,
    pub won_amount: Decimal,
    pub lost_count: i64,
    pub lost_amount: Decimal,
}

/// Open deals expected to close in one month, and their weighted amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthForecast {
    pub month: NaiveDate,
    pub count: i64,
    pub amount: Decimal,
    pub weighted: Decimal,
}

/// A member's row of the team table.
#[derive(Debug, Clone)]
pub struct TeamRow {
    pub user_id: UserId,
    pub name: String,
    pub open_count: i64,
    pub amount: Decimal,
    pub weighted: Decimal,
    pub won_count: i64,
    pub won_amount: Decimal,
    pub activities_this_week: i64,
}

/// The numbers the process filter narrows: the charts' data, and the team for those who may
/// see it.
#[derive(Debug, Clone)]
pub struct Numbers {
    pub calendar: Calendar,
    pub process: Option<ProcessId>,
    pub pipeline: Vec<StageTotal>,
    pub results: Vec<MonthResult>,
    pub forecast: Vec<MonthForecast>,
    /// `None` for a member without [`Permission::AllDeals`]: a rep never gets the team.
    pub team: Option<Vec<TeamRow>>,
}

/// The member's own lists.
#[derive(Debug, Clone)]
pub struct Attention {
    pub calendar: Calendar,
    pub closing_soon: ShortList,
    pub overdue: ShortList,
    pub rotting: ShortList,
    pub recent_activity: Vec<ActivityLine>,
}

/// The owner a query filters by: a rep's own id, nobody for those who see every deal.
fn owner_of(context: TenantContext) -> Option<UserId> {
    if context.role.may(Permission::AllDeals) {
        None
    } else {
        Some(context.user_id)
    }
}

async fn calendar(tx: &mut TenantTx) -> Result<Calendar, DbError> {
    let tenant = tx.context().tenant_id;
    let row = sqlx::query!(
        r#"select (now() at time zone t.timezone)::date as "today!",
                  date_trunc('week', now() at time zone t.timezone) at time zone t.timezone
                      as "week_start!",
                  date_trunc('month', now() at time zone t.timezone) at time zone t.timezone
                      as "month_start!",
                  (date_trunc('month', now() at time zone t.timezone)
                      - make_interval(months => $2)) at time zone t.timezone as "results_start!"
           from tenants t where t.id = $1"#,
        tenant.as_uuid(),
        (MONTHS - 1) as i32,
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(Calendar {
        today: row.today,
        week_start: row.week_start,
        month_start: row.month_start,
        results_start: row.results_start,
    })
}

/// The member's own open deals closing soon, overdue and rotting (a few of each, with counts),
/// and their recent activity.
pub async fn attention(pool: &AppPool, context: TenantContext) -> Result<Attention, DbError> {
    let mut tx = pool.begin(context).await?;
    let calendar = calendar(&mut tx).await?;
    let tenant = context.tenant_id;
    let me = context.user_id;
    let counts = sqlx::query!(
        r#"select count(*) filter (where d.close_sort between $3 and $4) as "closing!",
                  count(*) filter (where d.close_sort < $3) as "overdue!",
                  count(*) filter (where s.rotting_days is not null
                      and d.stage_entered_at < now() - make_interval(days => s.rotting_days))
                      as "rotting!"
           from deals d
           join deal_stages s on s.tenant_id = d.tenant_id and s.id = d.stage_id
           where d.tenant_id = $1 and d.assigned_to = $2 and d.deleted_at is null
             and d.outcome = 'open'"#,
        tenant.as_uuid(),
        me as UserId,
        calendar.today,
        calendar.closing_until(),
    )
    .fetch_one(tx.conn())
    .await?;
    let dated = |rows: Vec<DealLine>| {
        rows.into_iter()
            .map(|mut line| {
                line.amount = line.amount.map(cents);
                line
            })
            .collect::<Vec<_>>()
    };
    let closing = sqlx::query_as!(
        DealLine,
        r#"select d.id as "id: DealId", d.name, d.amount, p.name as process_name,
                  s.name as stage_name, d.expected_close_date,
                  extract(day from now() - d.stage_entered_at)::int as "days_in_stage!"
           from deals d
           join deal_stages s on s.tenant_id = d.tenant_id and s.id = d.stage_id
           join sales_processes p on p.tenant_id = d.tenant_id and p.id = d.process_id
           where d.tenant_id = $1 and d.assigned_to = $2 and d.deleted_at is null
             and d.outcome = 'open' and d.close_sort between $3 and $4
           order by d.close_sort, d.id
           limit $5"#,
        tenant.as_uuid(),
        me as UserId,
        calendar.today,
        calendar.closing_until(),
        SHORT_LIST,
    )
    .fetch_all(tx.conn())
    .await?;
    // Overdue: the longest overdue first.
    let overdue = sqlx::query_as!(
        DealLine,
        r#"select d.id as "id: DealId", d.name, d.amount, p.name as process_name,
                  s.name as stage_name, d.expected_close_date,
                  extract(day from now() - d.stage_entered_at)::int as "days_in_stage!"
           from deals d
           join deal_stages s on s.tenant_id = d.tenant_id and s.id = d.stage_id
           join sales_processes p on p.tenant_id = d.tenant_id and p.id = d.process_id
           where d.tenant_id = $1 and d.assigned_to = $2 and d.deleted_at is null
             and d.outcome = 'open' and d.close_sort < $3
           order by d.close_sort, d.id
           limit $4"#,
        tenant.as_uuid(),
        me as UserId,
        calendar.today,
        SHORT_LIST,
    )
    .fetch_all(tx.conn())
    .await?;
    // Rotting: the longest in their stage first.
    let rotting = sqlx::query_as!(
        DealLine,
        r#"select d.id as "id: DealId", d.name, d.amount, p.name as process_name,
                  s.name as stage_name, d.expected_close_date,
                  extract(day from now() - d.stage_entered_at)::int as "days_in_stage!"
           from deal_stages s
           join sales_processes p on p.tenant_id = s.tenant_id and p.id = s.process_id
           join deals d on d.tenant_id = s.tenant_id and d.stage_id = s.id
           where s.tenant_id = $1 and s.outcome = 'open' and s.rotting_days is not null
             and d.assigned_to = $2 and d.deleted_at is null
             and d.stage_entered_at < now() - make_interval(days => s.rotting_days)
           order by d.stage_entered_at, d.id
           limit $3"#,
        tenant.as_uuid(),
        me as UserId,
        SHORT_LIST,
    )
    .fetch_all(tx.conn())
    .await?;
    let recent_activity = sqlx::query_as!(
        ActivityLine,
        r#"select a.id as "id: ActivityId", a.kind as "kind: ActivityKind", a.description,
                  a.occurred_at, a.contact_id as "contact_id: ContactId",
                  trim(c.first_name || ' ' || c.last_name) as "contact_name?",
                  a.deal_id as "deal_id: DealId", d.name as "deal_name?"
           from activities a
           left join contacts c on c.tenant_id = a.tenant_id and c.id = a.contact_id
           left join deals d on d.tenant_id = a.tenant_id and d.id = a.deal_id
           where a.tenant_id = $1 and a.participant_id = $2 and a.deleted_at is null
             and a.occurred_at <= now()
           order by a.occurred_at desc, a.id desc
           limit $3"#,
        tenant.as_uuid(),
        me as UserId,
        SHORT_LIST,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(Attention {
        calendar,
        closing_soon: ShortList {
            items: dated(closing),
            total: counts.closing,
        },
        overdue: ShortList {
            items: dated(overdue),
            total: counts.overdue,
        },
        rotting: ShortList {
            items: dated(rotting),
            total: counts.rotting,
        },
        recent_activity,
    })
}

/// The charts' numbers over the deals the caller may see (a rep: their own), in one process or
/// all, and for managers and admins the team by owner.
pub async fn numbers(
    pool: &AppPool,
    context: TenantContext,
    process: Option<ProcessId>,
) -> Result<Numbers, DbError> {
    let mut tx = pool.begin(context).await?;
    let calendar = calendar(&mut tx).await?;
    let tenant = context.tenant_id;
    let owner = owner_of(context);
    // Aggregated first, then named: the joins see one row per stage.
    let pipeline = sqlx::query!(
        r#"with totals as (
               select d.process_id, d.stage_id, count(*) as count,
                      coalesce(sum(d.amount), 0) as amount,
                      coalesce(sum(d.amount * d.probability / 100), 0) as weighted
               from deals d
               where d.tenant_id = $1 and d.deleted_at is null and d.outcome = 'open'
                 and ($2::uuid is null or d.process_id = $2)
                 and ($3::uuid is null or d.assigned_to = $3)
               group by d.process_id, d.stage_id)
           select p.id as "process_id: ProcessId", p.name as process_name,
                  s.id as "stage_id: StageId", s.name as stage_name,
                  t.count as "count!", t.amount as "amount!", t.weighted as "weighted!"
           from totals t
           join deal_stages s on s.tenant_id = $1 and s.id = t.stage_id
           join sales_processes p on p.tenant_id = $1 and p.id = t.process_id
           order by lower(p.name), p.id, s.position, s.id"#,
        tenant.as_uuid(),
        process as Option<ProcessId>,
        owner as Option<UserId>,
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|row| StageTotal {
        process_id: row.process_id,
        process_name: row.process_name,
        stage_id: row.stage_id,
        stage_name: row.stage_name,
        count: row.count,
        amount: cents(row.amount),
        weighted: cents(row.weighted),
    })
    .collect();
    let results = sqlx::query!(
        r#"select (date_trunc('month', d.closed_at at time zone t.timezone))::date as "month!",
                  count(*) filter (where d.outcome = 'won') as "won_count!",
                  coalesce(sum(d.amount) filter (where d.outcome = 'won'), 0) as "won_amount!",
                  count(*) filter (where d.outcome = 'lost') as "lost_count!",
                  coalesce(sum(d.amount) filter (where d.outcome = 'lost'), 0) as "lost_amount!"
           from deals d
           join tenants t on t.id = d.tenant_id
           where d.tenant_id = $1 and d.deleted_at is null and d.closed_at >= $4
             and ($2::uuid is null or d.process_id = $2)
             and ($3::uuid is null or d.assigned_to = $3)
           group by 1"#,
        tenant.as_uuid(),
        process as Option<ProcessId>,
        owner as Option<UserId>,
        calendar.results_start,
    )
    .fetch_all(tx.conn())
    .await?;
    let first = calendar
        .this_month()
        .checked_sub_months(Months::new(MONTHS - 1))
        .unwrap_or(calendar.this_month());
    let results = months(first)
        .map(|month| {
            let row = results.iter().find(|r| r.month == month);
            MonthResult {
                month,
                won_count: row.map_or(0, |r| r.won_count),
                won_amount: cents(row.map_or(Decimal::ZERO, |r| r.won_amount)),
                lost_count: row.map_or(0, |r| r.lost_count),
                lost_amount: cents(row.map_or(Decimal::ZERO, |r| r.lost_amount)),
            }
        })
        .collect();
    let this_month = calendar.this_month();
    let forecast_end = this_month
        .checked_add_months(Months::new(MONTHS))
        .unwrap_or(this_month);
    let forecast = sqlx::query!(
        r#"select (date_trunc('month', d.close_sort))::date as "month!", count(*) as "count!",
                  coalesce(sum(d.amount), 0) as "amount!",
                  coalesce(sum(d.amount * d.probability / 100), 0) as "weighted!"
           from deals d
           where d.tenant_id = $1 and d.deleted_at is null and d.outcome = 'open'
             and d.close_sort >= $4 and d.close_sort < $5
             and ($2::uuid is null or d.process_id = $2)
             and ($3::uuid is null or d.assigned_to = $3)
           group by 1"#,
        tenant.as_uuid(),
        process as Option<ProcessId>,
        owner as Option<UserId>,
        this_month,
        forecast_end,
    )
    .fetch_all(tx.conn())
    .await?;
    let forecast = months(this_month)
        .map(|month| {
            let row = forecast.iter().find(|r| r.month == month);
            MonthForecast {
                month,
                count: row.map_or(0, |r| r.count),
                amount: cents(row.map_or(Decimal::ZERO, |r| r.amount)),
                weighted: cents(row.map_or(Decimal::ZERO, |r| r.weighted)),
            }
        })
        .collect();
    let team = if context.role.may(Permission::AllDeals) {
        Some(team(&mut tx, process, &calendar).await?)
    } else {
        None
    };
    Ok(Numbers {
        calendar,
        process,
        pipeline,
        results,
        forecast,
        team,
    })
}

/// `MONTHS` months from `first` (a month's first day).
fn months(first: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    (0..MONTHS).filter_map(move |n| first.checked_add_months(Months::new(n)))
}

/// Every member of the workspace who is active or still has numbers: open deals (count,
/// amount, weighted), won this month, activities this week; the largest weighted amount first.
async fn team(
    tx: &mut TenantTx,
    process: Option<ProcessId>,
    calendar: &Calendar,
) -> Result<Vec<TeamRow>, DbError> {
    let tenant = tx.context().tenant_id;
    let rows = sqlx::query!(
        r#"with open as (
               select d.assigned_to, count(*) as count, coalesce(sum(d.amount), 0) as amount,
                      coalesce(sum(d.amount * d.probability / 100), 0) as weighted
               from deals d
               where d.tenant_id = $1 and d.deleted_at is null and d.outcome = 'open'
                 and ($2::uuid is null or d.process_id = $2)
               group by d.assigned_to),
           won as (
               select d.assigned_to, count(*) as count, coalesce(sum(d.amount), 0) as amount
               from deals d
               where d.tenant_id = $1 and d.deleted_at is null and d.closed_at >= $3
                 and d.outcome = 'won'
                 and ($2::uuid is null or d.process_id = $2)
               group by d.assigned_to)
           select m.user_id as "user_id: UserId", u.display_name as name,
                  coalesce(open.count, 0) as "open_count!",
                  coalesce(open.amount, 0) as "amount!",
                  coalesce(open.weighted, 0) as "weighted!",
                  coalesce(won.count, 0) as "won_count!",
                  coalesce(won.amount, 0) as "won_amount!",
                  acts.count as "activities!"
           from tenant_members m
           join users u on u.id = m.user_id
           left join open on open.assigned_to = m.user_id
           left join won on won.assigned_to = m.user_id
           cross join lateral (
               select count(*) as count from activities a
               where a.tenant_id = $1 and a.participant_id = m.user_id
                 and a.deleted_at is null and a.occurred_at >= $4 and a.occurred_at <= now()
           ) acts
           where m.tenant_id = $1
             and (m.deactivated_at is null or open.count is not null or won.count is not null)
           order by coalesce(open.weighted, 0) desc, lower(u.display_name), m.user_id"#,
        tenant.as_uuid(),
        process as Option<ProcessId>,
        calendar.month_start,
        calendar.week_start,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| TeamRow {
            user_id: row.user_id,
            name: row.name,
            open_count: row.open_count,
            amount: cents(row.amount),
            weighted: cents(row.weighted),
            won_count: row.won_count,
            won_amount: cents(row.won_amount),
            activities_this_week: row.activities,
        })
        .collect())
}
