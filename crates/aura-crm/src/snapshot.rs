//! The pipeline snapshot and forecast of one sales process for a period (issue 12, journey 2
//! step 8): the open deals per stage now, stage-to-stage conversion of the deals that entered a
//! stage in the period, the deals won and lost in the period (lost ones grouped by reason), the
//! average time spent in each stage by the deals that left it in the period, and the weighted
//! forecast (amount x probability) of the open deals per expected-close month.
//!
//! The period is a range of calendar days, both ends included, in the workspace's time zone
//! (`tenants.timezone`, UTC unless set): the database turns the days into instants with `at
//! time zone`, so a deal won at 23:30 local time on the last day is in the period. Every number
//! is an aggregate in SQL over the rows the caller may see: a rep's snapshot holds only their
//! deals (the policies on `deals` and `deal_stage_history`; the queries filter by owner too, for
//! speed), and managers may narrow it to one owner. Money is `numeric` summed by the database
//! and rounded to cents once, after the sum.
//!
//! Definitions (the page and the CSV say them too):
//! * "entered": distinct deals with a stage history row into the stage (their creation in it
//!   counts) dated in the period; "went on": of those, the deals with a later move (after their
//!   first entry in the period, before the period's end) to a later open stage (by position) or
//!   to a won stage; "won": the same, to a won stage only.
//! * "average time in stage": over the history rows leaving the stage dated in the period, the
//!   mean of the whole seconds spent in it (as `GET /api/v1/deals/{id}/history` reports them),
//!   rounded to a second.
//! * "won/lost in the period": live deals whose outcome is won/lost with `closed_at` in the
//!   period; lost reasons grouped ignoring case and surrounding spaces.
//!
//! Plans, checked with EXPLAIN ANALYZE as `aura_app` with tenant context (`set role aura_app;
//! begin; set local app.current_tenant_id / current_user_id / "current_role"`), PostgreSQL 15,
//! three workspaces of 10,500 deals each over 3 processes (3,500 per process, 60% open, 20%
//! won, 20% lost; 200 organizations; 150 deleted), 91,350 stage moves in all; execution times
//! of `explain (analyze, timing off)`, a machine shared by four agents (2 cores), so noisy:
//!
//! | query                      | plan                                                                 | manager (week / quarter / year) | rep (owns a fifth)   |
//! |----------------------------|----------------------------------------------------------------------|---------------------------------|----------------------|
//! | process, zone, period ends | `sales_processes` by key, `tenants` by id                            | 0.01 ms                         | 0.01 ms              |
//! | stage figures (one query)  | open deals: `deals_board_totals_idx`; moves: `deal_stage_history_period_idx` (tenant, process, moved_at), deleted deals anti-joined by `deals_deleted_idx`, two window sorts of the period's moves | 8-14 / 25-32 / 48-62 ms (174 / 3,610 / ~8,000 moves) | 2-4 / 10-14 / 12-18 ms |
//! | won and lost by reason     | `deals_closed_period_idx` (tenant, process, closed_at)               | 0.1-1 ms                        | 0.05-0.3 ms          |
//! | forecast by month          | `deals_board_totals_idx` (the process's open deals)                  | 1.5-2 ms                        | 1-1.3 ms             |
//!
//! A first version looked up each entry's later moves (two probes of
//! `deal_stage_history_deal_idx` per entry) and joined every move to its deal: 150 ms for a
//! manager's quarter. Now one read of the period's moves feeds entries, conversions (window
//! functions) and exits; the cost grows with the moves in the period, not with the workspace.

use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::ids::UserId;
use aura_platform::permissions::Permission;
use chrono::{Datelike, Days, Months, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use crate::deals::Outcome;
use crate::ids::{ProcessId, StageId};
use crate::money::cents;

/// The longest period a snapshot covers, in days.
pub const MAX_DAYS: i64 = 3 * 366;

/// A named period, relative to today in the workspace's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Monday to Sunday.
    Week,
    Month,
    Quarter,
}

impl Preset {
    pub const ALL: [Self; 3] = [Self::Week, Self::Month, Self::Quarter];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Week => "week",
            Self::Month => "month",
            Self::Quarter => "quarter",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Week => "This week",
            Self::Month => "This month",
            Self::Quarter => "This quarter",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value.trim())
    }

    /// The period that holds `today`.
    pub fn period(self, today: NaiveDate) -> Period {
        let (from, months) = match self {
            Self::Week => {
                let monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
                return Period {
                    from: monday,
                    to: monday + Days::new(6),
                };
            }
            Self::Month => (today.with_day(1).unwrap_or(today), 1),
            Self::Quarter => {
                let first_month = (today.month0() / 3) * 3 + 1;
                (
                    NaiveDate::from_ymd_opt(today.year(), first_month, 1).unwrap_or(today),
                    3,
                )
            }
        };
        let to = from
            .checked_add_months(Months::new(months))
            .and_then(|next| next.pred_opt())
            .unwrap_or(from);
        Period { from, to }
    }
}

/// Calendar days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// A chosen range, if it runs forwards and spans at most [`MAX_DAYS`].
    pub fn new(from: NaiveDate, to: NaiveDate) -> Option<Self> {
        let days = (to - from).num_days();
        (0..MAX_DAYS).contains(&days).then_some(Self { from, to })
    }
}

/// Today in the workspace's time zone, and that zone's name.
pub async fn workspace_today(
    pool: &AppPool,
    context: TenantContext,
) -> Result<(NaiveDate, String), DbError> {
    let mut tx = pool.begin(context).await?;
    let row = sqlx::query!(
        r#"select (now() at time zone timezone)::date as "today!", timezone
           from tenants where id = $1"#,
        context.tenant_id.as_uuid(),
    )
    .fetch_one(tx.conn())
    .await?;
    Ok((row.today, row.timezone))
}

/// One stage of the process with its numbers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageFigures {
    #[schema(value_type = uuid::Uuid)]
    pub stage_id: StageId,
    pub name: String,
    pub position: i32,
    pub outcome: Outcome,
    /// Open deals in it now (an open stage; zero for won and lost stages).
    pub open_count: i64,
    #[schema(value_type = String)]
    pub open_amount: Decimal,
    /// Sum of amount x probability / 100 of those.
    #[schema(value_type = String)]
    pub open_weighted: Decimal,
    /// Deals that entered the stage in the period.
    pub entered: i64,
    /// Of those, how many moved on to a later open stage or to a won stage by the period's end.
    pub went_on: i64,
    /// Of those, how many were won by the period's end.
    pub won: i64,
    /// How many left the stage in the period, and their average whole seconds in it.
    pub left: i64,
    pub average_seconds_in_stage: Option<i64>,
}

/// Won or lost deals of the period (lost: one row per reason).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClosedGroup {
    pub outcome: Outcome,
    /// The lost reason as first written (groups ignore case and surrounding spaces); none for won.
    pub lost_reason: Option<String>,
    pub count: i64,
    #[schema(value_type = String)]
    pub amount: Decimal,
}

/// The open deals expected to close in a month (`None`: without an expected close date).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ForecastMonth {
    /// The month's first day.
    pub month: Option<NaiveDate>,
    pub count: i64,
    #[schema(value_type = String)]
    pub amount: Decimal,
    #[schema(value_type = String)]
    pub weighted: Decimal,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Snapshot {
    #[schema(value_type = uuid::Uuid)]
    pub process_id: ProcessId,
    pub process_name: String,
    pub period: Period,
    /// The time zone the period's days are in: the workspace's.
    pub time_zone: String,
    /// Only this owner's deals (a rep's snapshot is always their own).
    #[schema(value_type = Option<uuid::Uuid>)]
    pub owner: Option<UserId>,
    /// Live stages in order.
    pub stages: Vec<StageFigures>,
    /// Won in the period (at most one row), then lost by reason, the largest count first.
    pub closed: Vec<ClosedGroup>,
    pub won_count: i64,
    #[schema(value_type = String)]
    pub won_amount: Decimal,
    pub lost_count: i64,
    #[schema(value_type = String)]
    pub lost_amount: Decimal,
    /// Open deals by expected-close month, in order, those without a date last.
    pub forecast: Vec<ForecastMonth>,
}

/// The snapshot of `process` (a live one of the caller's workspace; none otherwise) for
/// `period`, of `owner`'s deals if the caller may see everyone's (a rep's are their own).
pub async fn snapshot(
    pool: &AppPool,
    context: TenantContext,
    process: ProcessId,
    period: Period,
    owner: Option<UserId>,
) -> Result<Option<Snapshot>, DbError> {
    let owner = if context.role.may(Permission::AllDeals) {
        owner
    } else {
        Some(context.user_id)
    };
    let mut tx = pool.begin(context).await?;
    let tenant = context.tenant_id;
    let Some(head) = sqlx::query!(
        r#"select p.name, t.timezone,
                  ($3::date)::timestamp at time zone t.timezone as "start!",
                  ($4::date + 1)::timestamp at time zone t.timezone as "end!"
           from sales_processes p join tenants t on t.id = p.tenant_id
           where p.tenant_id = $1 and p.id = $2 and p.deleted_at is null"#,
        tenant.as_uuid(),
        process as ProcessId,
        period.from,
        period.to,
    )
    .fetch_optional(tx.conn())
    .await?
    else {
        return Ok(None);
    };
    let (start, end) = (head.start, head.end);
    let mut stages = stage_figures(&mut tx, process, owner, start, end).await?;
    for stage in &mut stages {
        stage.open_amount = cents(stage.open_amount);
        stage.open_weighted = cents(stage.open_weighted);
    }

    let closed = sqlx::query!(
        r#"select d.outcome as "outcome: Outcome", min(d.lost_reason collate "C") as lost_reason,
                  count(*) as "count!", coalesce(sum(d.amount), 0) as "amount!"
           from deals d
           where d.tenant_id = $1 and d.process_id = $2 and d.deleted_at is null
             and d.closed_at >= $3 and d.closed_at < $4
             and ($5::uuid is null or d.assigned_to = $5)
           group by d.outcome, lower(btrim(d.lost_reason)) collate "C"
           order by d.outcome, count(*) desc, lower(btrim(d.lost_reason)) collate "C""#,
        tenant.as_uuid(),
        process as ProcessId,
        start,
        end,
        owner as Option<UserId>,
    )
    .fetch_all(tx.conn())
    .await?;
    let closed: Vec<ClosedGroup> = closed
        .into_iter()
        .map(|row| ClosedGroup {
            outcome: row.outcome,
            lost_reason: row.lost_reason,
            count: row.count,
            amount: cents(row.amount),
        })
        .collect();
    let sum_of = |outcome: Outcome| {
        closed
            .iter()
            .filter(|g| g.outcome == outcome)
            .fold((0, Decimal::ZERO), |(count, amount), g| {
                (count + g.count, amount + g.amount)
            })
    };
    let (won_count, won_amount) = sum_of(Outcome::Won);
    let (lost_count, lost_amount) = sum_of(Outcome::Lost);

    let forecast = sqlx::query!(
        r#"select date_trunc('month', d.expected_close_date)::date as month,
                  count(*) as "count!", coalesce(sum(d.amount), 0) as "amount!",
                  coalesce(sum(d.amount * d.probability / 100), 0) as "weighted!"
           from deals d
           where d.tenant_id = $1 and d.process_id = $2 and d.deleted_at is null
             and d.outcome = 'open'
             and ($3::uuid is null or d.assigned_to = $3)
           group by 1
           order by 1 nulls last"#,
        tenant.as_uuid(),
        process as ProcessId,
        owner as Option<UserId>,
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|row| ForecastMonth {
        month: row.month,
        count: row.count,
        amount: cents(row.amount),
        weighted: cents(row.weighted),
    })
    .collect();

    Ok(Some(Snapshot {
        process_id: process,
        process_name: head.name,
        period,
        time_zone: head.timezone,
        owner,
        stages,
        closed,
        won_count,
        won_amount: cents(won_amount),
        lost_count,
        lost_amount: cents(lost_amount),
        forecast,
    }))
}

/// The live stages with their open deals now, and the period's entries, conversions and exits.
async fn stage_figures(
    tx: &mut TenantTx,
    process: ProcessId,
    owner: Option<UserId>,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<StageFigures>, DbError> {
    let tenant = tx.context().tenant_id;
    let rows = sqlx::query_as!(
        StageFigures,
        r#"with open_deals as (
               select d.stage_id, count(*) as count, sum(d.amount) as amount,
                      sum(d.amount * d.probability / 100) as weighted
               from deals d
               where d.tenant_id = $1 and d.process_id = $2 and d.deleted_at is null
                 and d.outcome = 'open'
                 and ($3::uuid is null or d.assigned_to = $3)
               group by d.stage_id
           ), moves as materialized (
               -- The period's moves of the process (the period index), with the target
               -- stage's position and outcome, but not those of deleted deals (few: an
               -- anti-join with `deals_deleted_idx`, not a lookup of every move's deal).
               select h.id, h.deal_id, h.from_stage_id, h.to_stage_id, h.time_in_previous,
                      h.moved_at, s.position, s.outcome
               from deal_stage_history h
               join deal_stages s on s.tenant_id = h.tenant_id and s.id = h.to_stage_id
               where h.tenant_id = $1 and h.process_id = $2
                 and h.moved_at >= $4 and h.moved_at < $5
                 and ($3::uuid is null or h.deal_owner = $3)
                 and not exists (select 1 from deals d
                                 where d.tenant_id = $1 and d.id = h.deal_id
                                   and d.deleted_at is not null)
           ), ranked as (
               -- Per move: is it the deal's first entry into that stage in the period, and
               -- where did the deal go after it (a won stage ranks above every open one)?
               -- Every later move that counts is in the period too (after an entry in it,
               -- before its end), so the period's moves are all that is read.
               select m.to_stage_id, m.position,
                      row_number() over (partition by m.deal_id, m.to_stage_id
                                         order by m.moved_at, m.id) as nth,
                      max(case m.outcome when 'won' then 2147483647
                                         when 'open' then m.position else -1 end)
                          over later as onward,
                      bool_or(m.outcome = 'won') over later as won_later
               from moves m
               window later as (partition by m.deal_id order by m.moved_at, m.id
                                rows between 1 following and unbounded following)
           ), conversions as (
               select r.to_stage_id as stage_id, count(*) as entered,
                      count(*) filter (where r.onward > r.position) as went_on,
                      count(*) filter (where r.won_later) as won
               from ranked r
               where r.nth = 1
               group by r.to_stage_id
           ), exits as (
               select m.from_stage_id as stage_id, count(*) as left_count,
                      round(avg(extract(epoch from m.time_in_previous)::bigint))::bigint
                          as average_seconds
               from moves m
               where m.from_stage_id is not null
               group by m.from_stage_id
           )
           select s.id as "stage_id: StageId", s.name, s.position,
                  s.outcome as "outcome: Outcome",
                  coalesce(o.count, 0) as "open_count!",
                  coalesce(o.amount, 0) as "open_amount!",
                  coalesce(o.weighted, 0) as "open_weighted!",
                  coalesce(c.entered, 0) as "entered!",
                  coalesce(c.went_on, 0) as "went_on!",
                  coalesce(c.won, 0) as "won!",
                  coalesce(x.left_count, 0) as "left!",
                  x.average_seconds as "average_seconds_in_stage?"
           from deal_stages s
           left join open_deals o on o.stage_id = s.id
           left join conversions c on c.stage_id = s.id
           left join exits x on x.stage_id = s.id
           where s.tenant_id = $1 and s.process_id = $2 and s.archived_at is null
           order by s.position, s.id"#,
        tenant.as_uuid(),
        process as ProcessId,
        owner as Option<UserId>,
        start,
        end,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn presets_hold_today() {
        let today = day(2026, 12, 1); // a Tuesday
        assert_eq!(
            Preset::Week.period(today),
            Period {
                from: day(2026, 11, 30),
                to: day(2026, 12, 6)
            }
        );
        assert_eq!(
            Preset::Month.period(day(2024, 2, 10)),
            Period {
                from: day(2024, 2, 1),
                to: day(2024, 2, 29)
            }
        );
        assert_eq!(
            Preset::Quarter.period(today),
            Period {
                from: day(2026, 10, 1),
                to: day(2026, 12, 31)
            }
        );
        assert_eq!(Period::new(day(2026, 2, 1), day(2026, 1, 31)), None);
        assert!(Period::new(day(2026, 1, 1), day(2026, 1, 1)).is_some());
    }
}
