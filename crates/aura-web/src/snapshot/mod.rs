//! The pipeline snapshot and forecast pages (issue 12, journey 2 step 8):
//! `/processes/{id}/snapshot` for a period (this week, month or quarter in the workspace's time
//! zone, or a chosen range), printable (the stylesheet's print rules), and
//! `/processes/{id}/snapshot.csv` with the same numbers. The numbers come from
//! `aura_crm::snapshot`; this module only chooses the period and formats.

use askama::Template;
use aura_crm::deals::Outcome;
use aura_crm::ids::ProcessId;
use aura_crm::snapshot::{self, Period, Preset, Snapshot};
use aura_crm::WriteError;
use aura_platform::db::TenantContext;
use aura_platform::ids::UserId;
use aura_platform::members;
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;

use crate::board::money;
use crate::extract::Id;
use crate::layout::{render, Chrome, Section};
use crate::session::Member;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/processes/{id}/snapshot", get(snapshot_page))
        .route("/processes/{id}/snapshot.csv", get(snapshot_csv))
}

/// The period and owner as the query string carries them.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct SnapshotQuery {
    /// `week`, `month` or `quarter`; ignored when `from` or `to` is given.
    #[serde(default)]
    pub period: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub owner: String,
}

impl SnapshotQuery {
    /// The query string that names this snapshot (for the CSV link).
    fn query(&self) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("period", &self.period),
            ("from", &self.from),
            ("to", &self.to),
            ("owner", &self.owner),
        ] {
            if !value.trim().is_empty() {
                pairs.append_pair(key, value.trim());
            }
        }
        pairs.finish()
    }
}

/// The period the query names: a chosen range (both days, forwards, at most three years), else
/// a preset (this month unless named) around today in the workspace's time zone. A range or
/// preset that does not parse is refused by field name (422).
pub(crate) async fn period_of(
    state: &AppState,
    context: TenantContext,
    query: &SnapshotQuery,
) -> Result<Period, WriteError<()>> {
    let (from, to) = (query.from.trim(), query.to.trim());
    if !from.is_empty() || !to.is_empty() {
        let day = |name: &'static str, value: &str| {
            value.parse::<NaiveDate>().map_err(|_| {
                WriteError::<()>::invalid(name, "Give a date as YYYY-MM-DD.".to_owned())
            })
        };
        let (from, to) = (day("from", from)?, day("to", to)?);
        return Period::new(from, to).ok_or_else(|| {
            WriteError::invalid(
                "to",
                format!(
                    "The period ends on or after its start and spans at most {} days.",
                    snapshot::MAX_DAYS
                ),
            )
        });
    }
    let preset = match query.period.trim() {
        "" => Preset::Month,
        named => Preset::parse(named).ok_or_else(|| {
            WriteError::invalid("period", "Choose week, month or quarter.".to_owned())
        })?,
    };
    let (today, _) = snapshot::workspace_today(&state.db, context).await?;
    Ok(preset.period(today))
}

/// The owner filter: a member's id, or everyone; what does not parse is refused (422).
pub(crate) fn owner_of(query: &SnapshotQuery) -> Result<Option<UserId>, WriteError<()>> {
    match query.owner.trim() {
        "" => Ok(None),
        raw => raw
            .parse::<uuid::Uuid>()
            .map(|id| Some(UserId::from(id)))
            .map_err(|_| WriteError::invalid("owner", "Choose a member.".to_owned())),
    }
}

/// Went on of entered, in percent with one decimal; none when nothing entered.
pub(crate) fn conversion(went_on: i64, entered: i64) -> Option<Decimal> {
    (entered > 0).then(|| {
        (Decimal::from(went_on) * Decimal::from(100) / Decimal::from(entered))
            .round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero)
    })
}

/// Seconds as days, hours and minutes (`2 d 3 h`, `5 h 10 min`, `40 s`).
fn duration(seconds: i64) -> String {
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

struct StageRow {
    name: String,
    outcome: Outcome,
    open_count: i64,
    open_amount: String,
    open_weighted: String,
    entered: i64,
    went_on: i64,
    won: i64,
    conversion: String,
    left: i64,
    average: String,
    average_seconds: Option<i64>,
}

struct ClosedRow {
    outcome: Outcome,
    reason: String,
    count: i64,
    amount: String,
}

struct MonthRow {
    month: String,
    count: i64,
    amount: String,
    weighted: String,
}

struct SnapshotView {
    process_name: String,
    from: NaiveDate,
    to: NaiveDate,
    time_zone: String,
    owner_name: Option<String>,
    stages: Vec<StageRow>,
    closed: Vec<ClosedRow>,
    won_count: i64,
    won_amount: String,
    lost_count: i64,
    lost_amount: String,
    forecast: Vec<MonthRow>,
    forecast_count: i64,
    forecast_amount: String,
    forecast_weighted: String,
}

fn month_label(month: Option<NaiveDate>) -> String {
    month.map_or_else(
        || "No expected close date".to_owned(),
        |m| m.format("%Y-%m").to_string(),
    )
}

fn view(snapshot: Snapshot, owner_name: Option<String>) -> SnapshotView {
    let forecast_count = snapshot.forecast.iter().map(|m| m.count).sum();
    let forecast_amount = snapshot.forecast.iter().map(|m| m.amount).sum();
    let forecast_weighted = snapshot.forecast.iter().map(|m| m.weighted).sum();
    SnapshotView {
        process_name: snapshot.process_name,
        from: snapshot.period.from,
        to: snapshot.period.to,
        time_zone: snapshot.time_zone,
        owner_name,
        stages: snapshot
            .stages
            .into_iter()
            .map(|s| StageRow {
                conversion: conversion(s.went_on, s.entered)
                    .map(|c| format!("{c:.1}%"))
                    .unwrap_or_else(|| "–".to_owned()),
                average: s
                    .average_seconds_in_stage
                    .map(duration)
                    .unwrap_or_else(|| "–".to_owned()),
                average_seconds: s.average_seconds_in_stage,
                name: s.name,
                outcome: s.outcome,
                open_count: s.open_count,
                open_amount: money(s.open_amount),
                open_weighted: money(s.open_weighted),
                entered: s.entered,
                went_on: s.went_on,
                won: s.won,
                left: s.left,
            })
            .collect(),
        closed: snapshot
            .closed
            .into_iter()
            .map(|g| ClosedRow {
                outcome: g.outcome,
                reason: g.lost_reason.unwrap_or_default(),
                count: g.count,
                amount: money(g.amount),
            })
            .collect(),
        won_count: snapshot.won_count,
        won_amount: money(snapshot.won_amount),
        lost_count: snapshot.lost_count,
        lost_amount: money(snapshot.lost_amount),
        forecast: snapshot
            .forecast
            .into_iter()
            .map(|m| MonthRow {
                month: month_label(m.month),
                count: m.count,
                amount: money(m.amount),
                weighted: money(m.weighted),
            })
            .collect(),
        forecast_count,
        forecast_amount: money(forecast_amount),
        forecast_weighted: money(forecast_weighted),
    }
}

#[derive(Template)]
#[template(path = "snapshot/page.html")]
struct SnapshotPage {
    chrome: Chrome,
    process_id: ProcessId,
    query: SnapshotQuery,
    csv_query: String,
    presets: Vec<(&'static str, &'static str)>,
    may_filter_owner: bool,
    owners: Vec<members::Member>,
    error: Option<String>,
    snapshot: Option<SnapshotView>,
}

/// The snapshot's numbers and the owner's name, or the refusal of the query's period or owner.
async fn load(
    state: &AppState,
    member: &Member,
    process: ProcessId,
    query: &SnapshotQuery,
    owners: &[members::Member],
) -> Result<Result<SnapshotView, String>, WebError> {
    let context = member.signed_in.context;
    let chosen = match (period_of(state, context, query).await, owner_of(query)) {
        (Ok(period), Ok(owner)) => (period, owner),
        (Err(WriteError::Invalid(errors)), _) | (_, Err(WriteError::Invalid(errors))) => {
            let message = errors
                .into_iter()
                .map(|e| e.message)
                .collect::<Vec<_>>()
                .join(" ");
            return Ok(Err(message));
        }
        (Err(other), _) | (_, Err(other)) => return Err(other.into()),
    };
    let (period, owner) = chosen;
    let snapshot = snapshot::snapshot(&state.db, context, process, period, owner)
        .await?
        .ok_or(WebError::NotFound)?;
    // A rep's snapshot is their own; a manager's names a member of the list, or one who is not
    // (then it holds no deals).
    let owner_name = snapshot.owner.map(|id| {
        if id == member.signed_in.context.user_id {
            member.signed_in.display_name.clone()
        } else {
            owners
                .iter()
                .find(|m| m.user_id == id)
                .map(|m| m.display_name.clone())
                .unwrap_or_else(|| "a member who is not in this workspace".to_owned())
        }
    });
    Ok(Ok(view(snapshot, owner_name)))
}

async fn owners_for(state: &AppState, member: &Member) -> Result<Vec<members::Member>, WebError> {
    if member.may(Permission::AllDeals) {
        Ok(members::list(&state.db, member.signed_in.context).await?)
    } else {
        Ok(Vec::new())
    }
}

/// `/processes/{id}/snapshot`: the page; a period or owner that does not parse: 422 with the
/// form as it was sent and the reason.
async fn snapshot_page(
    State(state): State<AppState>,
    member: Member,
    Id(process): Id<ProcessId>,
    Query(query): Query<SnapshotQuery>,
) -> Result<Response, WebError> {
    let owners = owners_for(&state, &member).await?;
    let loaded = load(&state, &member, process, &query, &owners).await?;
    let (status, error, snapshot) = match loaded {
        Ok(view) => (StatusCode::OK, None, Some(view)),
        Err(message) => (StatusCode::UNPROCESSABLE_ENTITY, Some(message), None),
    };
    let page = SnapshotPage {
        chrome: Chrome::for_member(Section::Board, &member),
        process_id: process,
        csv_query: query.query(),
        query,
        presets: Preset::ALL
            .into_iter()
            .map(|p| (p.as_str(), p.label()))
            .collect(),
        may_filter_owner: member.may(Permission::AllDeals),
        owners: owners.into_iter().filter(|m| m.active).collect(),
        error,
        snapshot,
    };
    Ok((status, render(&page)).into_response())
}

/// `/processes/{id}/snapshot.csv`: the page's numbers as CSV, one block per table.
async fn snapshot_csv(
    State(state): State<AppState>,
    member: Member,
    Id(process): Id<ProcessId>,
    Query(query): Query<SnapshotQuery>,
) -> Result<Response, WebError> {
    let owners = owners_for(&state, &member).await?;
    let view = match load(&state, &member, process, &query, &owners).await? {
        Ok(view) => view,
        Err(message) => {
            return Err(WriteError::<()>::invalid("period", message).into());
        }
    };
    let body = csv(&view);
    let name = format!("snapshot-{}-{}.csv", view.from, view.to);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// One CSV cell: quoted when it holds a comma, quote or line break (quotes doubled), and
/// prefixed with `'` when it starts with a character a spreadsheet would read as a formula
/// (`= + - @`, tab, carriage return).
pub(crate) fn cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn line(out: &mut String, cells: &[String]) {
    let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

/// Money in CSV: plain decimals (no grouping), the page's numbers.
fn plain(text: &str) -> String {
    text.replace(',', "")
}

fn csv(view: &SnapshotView) -> String {
    let mut out = String::new();
    let s = |v: &str| v.to_owned();
    line(
        &mut out,
        &[s("Pipeline snapshot"), view.process_name.clone()],
    );
    line(&mut out, &[s("From"), view.from.to_string()]);
    line(&mut out, &[s("To"), view.to.to_string()]);
    line(&mut out, &[s("Time zone"), view.time_zone.clone()]);
    line(
        &mut out,
        &[
            s("Owner"),
            view.owner_name.clone().unwrap_or_else(|| s("Everyone")),
        ],
    );
    out.push_str("\r\n");
    line(
        &mut out,
        &[
            "Stage",
            "Outcome",
            "Open deals",
            "Open amount",
            "Open weighted",
            "Entered",
            "Went on",
            "Won",
            "Conversion %",
            "Left",
            "Average seconds in stage",
        ]
        .map(s),
    );
    for stage in &view.stages {
        line(
            &mut out,
            &[
                stage.name.clone(),
                s(stage.outcome.label()),
                stage.open_count.to_string(),
                plain(&stage.open_amount),
                plain(&stage.open_weighted),
                stage.entered.to_string(),
                stage.went_on.to_string(),
                stage.won.to_string(),
                stage.conversion.trim_end_matches('%').replace('–', ""),
                stage.left.to_string(),
                stage
                    .average_seconds
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            ],
        );
    }
    out.push_str("\r\n");
    line(
        &mut out,
        &["Closed in the period", "Lost reason", "Deals", "Amount"].map(s),
    );
    for group in &view.closed {
        line(
            &mut out,
            &[
                s(group.outcome.label()),
                group.reason.clone(),
                group.count.to_string(),
                plain(&group.amount),
            ],
        );
    }
    out.push_str("\r\n");
    line(
        &mut out,
        &["Expected close month", "Deals", "Amount", "Weighted"].map(s),
    );
    for month in &view.forecast {
        line(
            &mut out,
            &[
                month.month.clone(),
                month.count.to_string(),
                plain(&month.amount),
                plain(&month.weighted),
            ],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_guarded() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=1+2"), "'=1+2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("-3"), "'-3");
        assert_eq!(cell("+x"), "'+x");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("\rx"), "\"'\rx\"");
        assert_eq!(cell("=a,b"), "\"'=a,b\"");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration(40), "40 s");
        assert_eq!(duration(600), "10 min");
        assert_eq!(duration(3_600 * 5 + 60 * 10), "5 h 10 min");
        assert_eq!(duration(86_400 * 2 + 3_600 * 3), "2 d 3 h");
        assert_eq!(conversion(1, 3), Some(Decimal::new(333, 1)));
        assert_eq!(conversion(0, 0), None);
    }
}
