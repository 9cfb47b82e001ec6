//! The home dashboard (issue 12, journey 2 step 2), the workspace's `/`: the member's open deals
//! by stage and process, those closing in the next 14 days, overdue and rotting, their recent
//! activity; then, narrowed by a process filter (`/?process=<id>`: a plain GET form, and with
//! htmx only the numbers are fetched and swapped), the pipeline by stage, won and lost per
//! month and the weighted forecast as server-drawn SVG charts, each with its numbers as a
//! table, and for managers and admins the team by owner, each owner a link to their board.

use askama::Template;
use aura_crm::board::{self, MyPipeline};
use aura_crm::dashboard::{self, Attention, DealLine, Numbers, ShortList};
use aura_crm::deals::{self, ProcessChoice};
use aura_crm::follow_ups::{self, FollowUp};
use aura_crm::ids::ProcessId;
use aura_crm::onboarding::{self, Checklist};
use aura_platform::permissions::Permission;
use aura_platform::tenants;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::board::money;
use crate::charts::{self, Chart, Group, HorizontalBar, Series};
use crate::extract::MemberForm;
use crate::follow_ups::{notice as follow_ups_notice, FollowUpView};
use crate::forms::{encode, NoFields};
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::session::Member;
use crate::time::Zone;
use crate::{AppState, WebError};

#[derive(Deserialize, Default)]
pub(crate) struct DashboardQuery {
    /// A process's id narrows the numbers to it; anything else (or nothing): all processes.
    #[serde(default)]
    process: String,
    /// What was just done, from a follow-up's Done or Move on the dashboard.
    notice: Option<String>,
}

const AMOUNT: Series = Series {
    class: "chart-amount",
    label: "Amount",
};
const WEIGHTED: Series = Series {
    class: "chart-weighted",
    label: "Weighted (amount × probability)",
};
const WON: Series = Series {
    class: "chart-won",
    label: "Won",
};
const LOST: Series = Series {
    class: "chart-lost",
    label: "Lost",
};

/// A deal of a short list with its money and date as the page shows them.
struct DealLineView {
    line: DealLine,
    amount: String,
    close: String,
}

/// A short list: a few deals, how many in all, and the deal list that shows them all.
struct ShortListView {
    items: Vec<DealLineView>,
    total: i64,
    /// More than the list shows: then a link to them all.
    more: bool,
    see_all: String,
}

struct ActivityView {
    kind: &'static str,
    description: String,
    occurred_at: String,
    datetime: String,
    /// What it was logged on, as a link (where the member may see it).
    on: Option<(String, String)>,
}

/// A table of the same numbers as a chart.
struct Table {
    caption: String,
    head: Vec<&'static str>,
    /// The first cell is the row's header.
    rows: Vec<Vec<String>>,
}

struct ChartView {
    id: &'static str,
    title: String,
    desc: String,
    chart: Chart,
    table: Table,
}

struct TeamRowView {
    name: String,
    board: String,
    open_count: i64,
    amount: String,
    weighted: String,
    won_count: i64,
    won_amount: String,
    activities: i64,
}

/// What the process filter narrows.
struct NumbersView {
    process: Option<ProcessId>,
    processes: Vec<ProcessChoice>,
    currency: String,
    charts: Vec<ChartView>,
    team: Option<Vec<TeamRowView>>,
}

#[derive(Template)]
#[template(path = "workspace_home.html")]
struct HomePage {
    chrome: Chrome,
    display_name: String,
    role: &'static str,
    workspace_name: String,
    /// The member's own open deals by process and stage; amounts formatted.
    pipeline: MyPipeline,
    amounts: Vec<String>,
    closing_soon: ShortListView,
    overdue: ShortListView,
    rotting: ShortListView,
    activities: Vec<ActivityView>,
    numbers: NumbersView,
    /// A new workspace's first steps, for its admin until done or put away.
    checklist: Option<Checklist>,
    csrf_token: String,
    /// The member's open follow-ups due before today, and today (a few of each).
    overdue_follow_ups: Vec<FollowUpView>,
    overdue_follow_ups_total: i64,
    today_follow_ups: Vec<FollowUpView>,
    today_follow_ups_total: i64,
    notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "dashboard/numbers.html")]
struct NumbersFragment {
    numbers: NumbersView,
}

fn date(value: NaiveDate) -> String {
    value.format("%-d %b %Y").to_string()
}

fn month_label(month: NaiveDate) -> String {
    month.format("%b %Y").to_string()
}

/// A month under a chart's column: short (`Aug`), with the year at the first and at January
/// (`Jul ’26`, `Jan ’27`); the table view names each in full.
fn column_label(month: NaiveDate, first: bool) -> String {
    if first || month.month() == 1 {
        month.format("%b ’%y").to_string()
    } else {
        month.format("%b").to_string()
    }
}

fn short_list(list: ShortList, see_all: String) -> ShortListView {
    ShortListView {
        more: list.total > list.items.len() as i64,
        items: list
            .items
            .into_iter()
            .map(|line| DealLineView {
                amount: line.amount.map(money).unwrap_or_default(),
                close: line.expected_close_date.map(date).unwrap_or_default(),
                line,
            })
            .collect(),
        total: list.total,
        see_all,
    }
}

fn activity_view(activity: dashboard::ActivityLine, zone: Zone) -> ActivityView {
    let mut description: String = activity.description.chars().take(120).collect();
    if description.len() < activity.description.len() {
        description.push('…');
    }
    let on = match (activity.deal_id, activity.deal_name, activity.contact_id) {
        (Some(id), Some(name), _) => Some((format!("/deals/{id}"), name)),
        (_, _, Some(id)) => activity
            .contact_name
            .map(|name| (format!("/contacts/{id}"), name)),
        _ => None,
    };
    ActivityView {
        kind: activity.kind.label(),
        description,
        occurred_at: zone.when(&activity.occurred_at),
        datetime: activity.occurred_at.to_rfc3339(),
        on,
    }
}

fn pipeline_chart(numbers: &Numbers, currency: &str) -> ChartView {
    let several = numbers.pipeline.first().is_some_and(|first| {
        numbers
            .pipeline
            .iter()
            .any(|s| s.process_id != first.process_id)
    });
    let label = |s: &dashboard::StageTotal| {
        if several {
            format!("{} · {}", s.process_name, s.stage_name)
        } else {
            s.stage_name.clone()
        }
    };
    let rows: Vec<HorizontalBar> = numbers
        .pipeline
        .iter()
        .map(|s| HorizontalBar {
            label: format!(
                "{} ({} deal{})",
                label(s),
                s.count,
                if s.count == 1 { "" } else { "s" }
            ),
            value: s.amount,
            inner: Some(s.weighted),
            value_text: money(s.amount),
        })
        .collect();
    let total: Decimal = numbers.pipeline.iter().map(|s| s.amount).sum();
    let weighted: Decimal = numbers.pipeline.iter().map(|s| s.weighted).sum();
    let count: i64 = numbers.pipeline.iter().map(|s| s.count).sum();
    let desc = if rows.is_empty() {
        "No open deals.".to_owned()
    } else {
        format!(
            "Open deals by stage: {count} in all, {} {currency}, weighted {} {currency}. The table below has each stage's numbers.",
            money(total),
            money(weighted)
        )
    };
    ChartView {
        id: "chart-pipeline",
        title: format!("Pipeline by stage ({currency})"),
        desc,
        chart: charts::horizontal(&rows, AMOUNT, Some(WEIGHTED)),
        table: Table {
            caption: format!("Open deals by stage, amounts in {currency}"),
            head: vec!["Stage", "Deals", "Amount", "Weighted"],
            rows: numbers
                .pipeline
                .iter()
                .map(|s| {
                    vec![
                        label(s),
                        s.count.to_string(),
                        money(s.amount),
                        money(s.weighted),
                    ]
                })
                .collect(),
        },
    }
}

fn results_chart(numbers: &Numbers, currency: &str) -> ChartView {
    let groups: Vec<Group> = numbers
        .results
        .iter()
        .enumerate()
        .map(|(i, m)| Group {
            label: column_label(m.month, i == 0),
            values: vec![m.won_amount, m.lost_amount],
        })
        .collect();
    let won: Decimal = numbers.results.iter().map(|m| m.won_amount).sum();
    let lost: Decimal = numbers.results.iter().map(|m| m.lost_amount).sum();
    ChartView {
        id: "chart-results",
        title: format!("Won and lost per month ({currency})"),
        desc: format!(
            "Amounts of the deals won and lost in each of the last {} months: {} {currency} won and {} {currency} lost in all. The table below has each month's numbers.",
            dashboard::MONTHS,
            money(won),
            money(lost)
        ),
        chart: charts::columns(&[WON, LOST], &groups),
        table: Table {
            caption: format!("Deals won and lost per month, amounts in {currency}"),
            head: vec!["Month", "Won", "Won amount", "Lost", "Lost amount"],
            rows: numbers
                .results
                .iter()
                .map(|m| {
                    vec![
                        month_label(m.month),
                        m.won_count.to_string(),
                        money(m.won_amount),
                        m.lost_count.to_string(),
                        money(m.lost_amount),
                    ]
                })
                .collect(),
        },
    }
}

fn forecast_chart(numbers: &Numbers, currency: &str) -> ChartView {
    let groups: Vec<Group> = numbers
        .forecast
        .iter()
        .enumerate()
        .map(|(i, m)| Group {
            label: column_label(m.month, i == 0),
            values: vec![m.weighted],
        })
        .collect();
    let weighted: Decimal = numbers.forecast.iter().map(|m| m.weighted).sum();
    ChartView {
        id: "chart-forecast",
        title: format!("Weighted forecast by expected close month ({currency})"),
        desc: format!(
            "Amount × probability of the open deals expected to close in each of the next {} months: {} {currency} in all. The table below has each month's numbers.",
            dashboard::MONTHS,
            money(weighted)
        ),
        chart: charts::columns(&[WEIGHTED], &groups),
        table: Table {
            caption: format!("Open deals by expected close month, amounts in {currency}"),
            head: vec!["Month", "Deals", "Amount", "Weighted"],
            rows: numbers
                .forecast
                .iter()
                .map(|m| {
                    vec![
                        month_label(m.month),
                        m.count.to_string(),
                        money(m.amount),
                        money(m.weighted),
                    ]
                })
                .collect(),
        },
    }
}

fn numbers_view(numbers: Numbers, processes: Vec<ProcessChoice>, currency: String) -> NumbersView {
    let charts = vec![
        pipeline_chart(&numbers, &currency),
        results_chart(&numbers, &currency),
        forecast_chart(&numbers, &currency),
    ];
    let process = numbers.process;
    let team = numbers.team.map(|rows| {
        rows.into_iter()
            .map(|row| TeamRowView {
                board: match process {
                    Some(process) => format!("/board/{process}?owner={}", row.user_id),
                    None => format!("/board?owner={}", row.user_id),
                },
                name: row.name,
                open_count: row.open_count,
                amount: money(row.amount),
                weighted: money(row.weighted),
                won_count: row.won_count,
                won_amount: money(row.won_amount),
                activities: row.activities_this_week,
            })
            .collect()
    });
    NumbersView {
        process,
        processes,
        currency,
        charts,
        team,
    }
}

/// The member's own open deals in the deal list, with these filters.
fn deal_list(member: &Member, filters: &[(&str, String)]) -> String {
    let mut query = format!(
        "/deals?status=open&owner={}",
        member.signed_in.context.user_id
    );
    for (name, value) in filters {
        query.push_str(&format!("&{name}={}", encode(value)));
    }
    query
}

fn lists(member: &Member, attention: Attention) -> [ShortListView; 3] {
    let today = attention.calendar.today;
    let yesterday = today.pred_opt().unwrap_or(today);
    let closing_until = attention.calendar.closing_until();
    [
        short_list(
            attention.closing_soon,
            deal_list(
                member,
                &[
                    ("close_from", today.to_string()),
                    ("close_to", closing_until.to_string()),
                    ("sort", "close_date".to_owned()),
                ],
            ),
        ),
        short_list(
            attention.overdue,
            deal_list(
                member,
                &[
                    ("close_to", yesterday.to_string()),
                    ("sort", "close_date".to_owned()),
                ],
            ),
        ),
        short_list(
            attention.rotting,
            deal_list(member, &[("rotting", "1".to_owned())]),
        ),
    ]
}

/// `/`: the dashboard; with htmx (the process filter), only its numbers.
pub(crate) async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    member: Member,
    Query(query): Query<DashboardQuery>,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let process: Option<ProcessId> = query.process.trim().parse().ok();
    let currency = tenants::settings(&state.db, context).await?.currency;
    let processes = deals::processes(&state.db, context).await?;
    let numbers = numbers_view(
        dashboard::numbers(&state.db, context, process).await?,
        processes,
        currency,
    );
    let page = if wants_fragment(&headers) {
        render(&NumbersFragment { numbers })
    } else {
        let pipeline = board::my_pipeline(&state.db, context).await?;
        let mut attention = dashboard::attention(&state.db, context).await?;
        let activities = std::mem::take(&mut attention.recent_activity)
            .into_iter()
            .map(|a| activity_view(a, member.zone()))
            .collect();
        let agenda = follow_ups::agenda(&state.db, context, dashboard::SHORT_LIST).await?;
        let views = |list: Vec<FollowUp>| {
            list.into_iter()
                .map(|f| FollowUpView::of(f, member.zone()))
                .collect()
        };
        let [closing_soon, overdue, rotting] = lists(&member, attention);
        let checklist = if member.may(Permission::ManageMembers) {
            Some(onboarding::checklist(&state.db, context).await?).filter(Checklist::shown)
        } else {
            None
        };
        render(&HomePage {
            chrome: Chrome::for_member(Section::Home, &member),
            display_name: member.signed_in.display_name.clone(),
            role: context.role.label(),
            workspace_name: member.workspace.name.clone(),
            amounts: pipeline.stages.iter().map(|s| money(s.amount)).collect(),
            pipeline,
            closing_soon,
            overdue,
            rotting,
            activities,
            numbers,
            checklist,
            csrf_token: member.signed_in.csrf_token.clone(),
            overdue_follow_ups: views(agenda.overdue.items),
            overdue_follow_ups_total: agenda.overdue.total,
            today_follow_ups: views(agenda.today.items),
            today_follow_ups_total: agenda.today.total,
            notice: query.notice.as_deref().and_then(follow_ups_notice),
        })
    };
    let page = vary_on_htmx(page);
    Ok(match member.renewed_cookie {
        Some(cookie) => (CookieJar::new().add(cookie), page).into_response(),
        None => page,
    })
}

/// Puts the new workspace's checklist away for this member.
pub(crate) async fn dismiss_checklist(
    State(state): State<AppState>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    onboarding::dismiss(&state.db, member.signed_in.context).await?;
    Ok(Redirect::to("/").into_response())
}
