//! The home dashboard over HTTP (issue 12): a manager's team table and the charts' tables hold
//! the numbers recomputed here from the rows themselves; a rep sees only their own numbers and
//! no team; the process filter answers htmx with the numbers alone; the member's short lists
//! count and link what they should. And in Chromium: the dashboard fits a 320 px screen.

use std::collections::BTreeMap;

use aura_platform::db::testing::TestDatabase;
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};
use reqwest::{header, StatusCode};

use crate::helpers::{seed_process, user_id, Member, Process, TestApp};

/// A deal in `stage` of `process` (its outcome and probability the stage's; closed at
/// `closed_at` when the stage is won or lost), in its stage for `days_in_stage` days.
#[allow(clippy::too_many_arguments)]
async fn deal(
    db: &TestDatabase,
    process: &Process,
    name: &str,
    owner: &str,
    stage: &str,
    amount: Option<&str>,
    close: Option<NaiveDate>,
    closed_at: DateTime<Utc>,
    days_in_stage: i64,
) -> String {
    sqlx::query_scalar(
        "insert into deals (tenant_id, name, amount, process_id, stage_id, outcome, probability,
                            expected_close_date, assigned_to, stage_entered_at, closed_at,
                            closed_stage_name)
         select s.tenant_id, $1, $2::numeric, s.process_id, s.id, s.outcome, s.win_probability,
                $3, $4::uuid, now() - make_interval(days => $5),
                case when s.outcome <> 'open' then $6::timestamptz end,
                case when s.outcome <> 'open' then s.name end
         from deal_stages s where s.id = $7::uuid
         returning id::text",
    )
    .bind(name)
    .bind(amount)
    .bind(close)
    .bind(owner)
    .bind(days_in_stage as i32)
    .bind(closed_at)
    .bind(process.stage(stage))
    .fetch_one(&db.owner)
    .await
    .unwrap()
}

async fn activity(db: &TestDatabase, deal: &str, participant: &str, text: &str, at: DateTime<Utc>) {
    sqlx::query(
        "insert into activities (tenant_id, kind, description, occurred_at, participant_id,
                                 deal_id, deal_owner, created_by)
         select d.tenant_id, 'call', $2, $3, $4::uuid, d.id, d.assigned_to, $4::uuid
         from deals d where d.id = $1::uuid",
    )
    .bind(deal)
    .bind(text)
    .bind(at)
    .bind(participant)
    .execute(&db.owner)
    .await
    .unwrap();
}

/// A live deal as the test reads it back: plain rows, summed here.
#[derive(Debug, Clone)]
struct Row {
    owner: String,
    process: String,
    process_name: String,
    stage_name: String,
    stage_position: i32,
    outcome: String,
    /// In cents.
    amount: Option<i128>,
    /// In hundredths of a percent.
    probability: i128,
    close: Option<NaiveDate>,
    closed_at: Option<DateTime<Utc>>,
    rotting: bool,
}

fn hundredths(text: &str) -> i128 {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    whole.parse::<i128>().unwrap() * 100 + format!("{fraction:0<2}")[..2].parse::<i128>().unwrap()
}

/// A deal's row as the query reads it.
type RowTuple = (
    String,
    String,
    String,
    String,
    i32,
    String,
    Option<String>,
    String,
    Option<NaiveDate>,
    Option<DateTime<Utc>>,
    bool,
);

async fn rows(db: &TestDatabase) -> Vec<Row> {
    let rows: Vec<RowTuple> = sqlx::query_as(
        "select d.assigned_to::text, d.process_id::text, p.name, s.name, s.position,
                d.outcome::text, d.amount::text, d.probability::text, d.expected_close_date,
                d.closed_at,
                coalesce(d.stage_entered_at < now() - make_interval(days => s.rotting_days), false)
         from deals d
         join tenants t on t.id = d.tenant_id
         join deal_stages s on s.tenant_id = d.tenant_id and s.id = d.stage_id
         join sales_processes p on p.tenant_id = d.tenant_id and p.id = d.process_id
         where t.slug = 'acme' and d.deleted_at is null",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    rows.into_iter()
        .map(|r| Row {
            owner: r.0,
            process: r.1,
            process_name: r.2,
            stage_name: r.3,
            stage_position: r.4,
            outcome: r.5,
            amount: r.6.as_deref().map(hundredths),
            probability: hundredths(&r.7),
            close: r.8,
            closed_at: r.9,
            rotting: r.10,
        })
        .collect()
}

/// Each participant's live activities from `since` until now.
async fn activities_since(db: &TestDatabase, since: DateTime<Utc>) -> BTreeMap<String, i64> {
    let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "select a.participant_id::text, a.occurred_at from activities a
         join tenants t on t.id = a.tenant_id
         where t.slug = 'acme' and a.deleted_at is null",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    let now = Utc::now();
    let mut counts = BTreeMap::new();
    for (participant, at) in rows {
        if at >= since && at <= now {
            *counts.entry(participant).or_default() += 1;
        }
    }
    counts
}

/// Cents as the pages show money: `12,345.60`.
fn money(cents: i128) -> String {
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{:02}", cents % 100)
}

/// Sum of amount x probability, in cents (half to even, as the server's decimals round).
fn weighted(rows: &[&Row]) -> i128 {
    let units: i128 = rows
        .iter()
        .map(|r| r.amount.unwrap_or(0) * r.probability)
        .sum();
    let (cents, rest) = (units / 10_000, units % 10_000);
    match rest.cmp(&5_000) {
        std::cmp::Ordering::Greater => cents + 1,
        std::cmp::Ordering::Equal if cents % 2 == 1 => cents + 1,
        _ => cents,
    }
}

fn amount(rows: &[&Row]) -> i128 {
    rows.iter().map(|r| r.amount.unwrap_or(0)).sum()
}

/// The text of an element's content, tags dropped.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// The body rows of the first table after `marker`, each as its cells' texts.
fn table_after(html: &str, marker: &str) -> Vec<Vec<String>> {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in the page"));
    let rest = &html[start..];
    let body = &rest[rest.find("<tbody>").unwrap()..rest.find("</tbody>").unwrap()];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<t")
                .skip(1)
                .filter(|cell| cell.starts_with('h') || cell.starts_with('d'))
                .map(|cell| text(&format!("<t{}", cell.split("</t").next().unwrap())))
                .collect()
        })
        .collect()
}

/// The team table's row of the owner whose board link names `user`.
fn team_row(html: &str, user: &str) -> Vec<String> {
    table_after(html, "class=\"team-table\"")
        .into_iter()
        .zip(html.split("<tr><th scope=\"row\">").skip(1))
        .find(|(_, raw)| raw.contains(&format!("owner={user}\"")))
        .map(|(cells, _)| cells[1..].to_vec())
        .unwrap_or_else(|| panic!("no team row for {user}"))
}

fn month_start(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap()
}

fn month_label(month: NaiveDate) -> String {
    month.format("%b %Y").to_string()
}

pub(crate) struct Seeded {
    process: Process,
    manager: String,
    rep: String,
    rep2: String,
    admin: String,
    rep_first: String,
}

/// A process of its own with deals of three owners in every state the dashboard counts, and
/// activities this week and before it.
pub(crate) async fn seed(db: &TestDatabase) -> Seeded {
    sqlx::query("update tenants set timezone = 'UTC' where slug = 'acme'")
        .execute(&db.owner)
        .await
        .unwrap();
    let process = seed_process(db, "acme", "Dashboard").await;
    let manager = user_id(db, "manager@acme.example").await.to_string();
    let rep = user_id(db, "rep@acme.example").await.to_string();
    let rep2 = user_id(db, "rep2@acme.example").await.to_string();
    let admin = user_id(db, "admin@acme.example").await.to_string();
    let today = Utc::now().date_naive();
    let now = Utc::now();
    let two_months_ago = Utc.from_utc_datetime(
        &(month_start(today)
            .checked_sub_months(Months::new(2))
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
            + Duration::days(14)),
    );
    let p = &process;
    let rep_first = deal(
        db,
        p,
        "Rep closing soon",
        &rep,
        "Lead",
        Some("1000"),
        Some(today + Duration::days(3)),
        now,
        1,
    )
    .await;
    for n in 1..=5 {
        deal(
            db,
            p,
            &format!("Rep soon {n}"),
            &rep,
            "Lead",
            Some("100"),
            Some(today + Duration::days(n)),
            now,
            2,
        )
        .await;
    }
    deal(
        db,
        p,
        "Rep overdue",
        &rep,
        "Proposal",
        Some("2500.50"),
        Some(today - Duration::days(2)),
        now,
        3,
    )
    .await;
    deal(
        db,
        p,
        "Rep rotting",
        &rep,
        "Contract",
        Some("4000"),
        None,
        now,
        40,
    )
    .await;
    deal(db, p, "Rep won", &rep, "Won", Some("1200"), None, now, 0).await;
    deal(db, p, "Rep lost", &rep, "Lost", Some("700"), None, now, 0).await;
    deal(
        db,
        p,
        "Rob later",
        &rep2,
        "Lead",
        Some("3000"),
        Some(today + Duration::days(40)),
        now,
        1,
    )
    .await;
    deal(
        db,
        p,
        "Rob no amount",
        &rep2,
        "Contract",
        None,
        Some(today + Duration::days(10)),
        now,
        1,
    )
    .await;
    deal(
        db,
        p,
        "Rob won before",
        &rep2,
        "Won",
        Some("5000"),
        None,
        two_months_ago,
        0,
    )
    .await;
    deal(
        db,
        p,
        "Max big",
        &manager,
        "Proposal",
        Some("10000"),
        Some(today + Duration::days(20)),
        now,
        1,
    )
    .await;

    let week_start = Utc.from_utc_datetime(
        &(today - Duration::days(i64::from(today.weekday().num_days_from_monday())))
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    );
    activity(
        db,
        &rep_first,
        &rep,
        "Called about the pilot",
        now - Duration::seconds(30),
    )
    .await;
    activity(
        db,
        &rep_first,
        &rep,
        "Sent the proposal",
        now - Duration::seconds(60),
    )
    .await;
    activity(
        db,
        &rep_first,
        &rep,
        "Met last week",
        week_start - Duration::hours(1),
    )
    .await;
    activity(
        db,
        &rep_first,
        &rep2,
        "Covered a call",
        now - Duration::seconds(90),
    )
    .await;
    Seeded {
        process,
        manager,
        rep,
        rep2,
        admin,
        rep_first,
    }
}

fn week_start() -> DateTime<Utc> {
    let today = Utc::now().date_naive();
    Utc.from_utc_datetime(
        &(today - Duration::days(i64::from(today.weekday().num_days_from_monday())))
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    )
}

/// The pipeline chart's table recomputed from `rows` (open deals), labelled as the page does.
fn pipeline_table(rows: &[&Row]) -> Vec<Vec<String>> {
    let mut stages: BTreeMap<(String, String, i32, String), Vec<&Row>> = BTreeMap::new();
    let open: Vec<&Row> = rows
        .iter()
        .copied()
        .filter(|r| r.outcome == "open")
        .collect();
    let several = open.iter().any(|r| r.process != open[0].process);
    for row in open {
        stages
            .entry((
                row.process_name.to_lowercase(),
                row.process.clone(),
                row.stage_position,
                row.stage_name.clone(),
            ))
            .or_default()
            .push(row);
    }
    stages
        .into_iter()
        .map(|((_, _, _, stage), deals)| {
            let label = if several {
                format!("{} · {stage}", deals[0].process_name)
            } else {
                stage
            };
            vec![
                label,
                deals.len().to_string(),
                money(amount(&deals)),
                money(weighted(&deals)),
            ]
        })
        .collect()
}

/// Won and lost per month over the last six months, from `rows`.
fn results_table(rows: &[&Row]) -> Vec<Vec<String>> {
    let this_month = month_start(Utc::now().date_naive());
    (0..6)
        .map(|n| {
            let month = this_month.checked_sub_months(Months::new(5 - n)).unwrap();
            let of = |outcome: &str| -> Vec<&Row> {
                rows.iter()
                    .copied()
                    .filter(|r| {
                        r.outcome == outcome
                            && r.closed_at.map(|at| month_start(at.date_naive())) == Some(month)
                    })
                    .collect()
            };
            let (won, lost) = (of("won"), of("lost"));
            vec![
                month_label(month),
                won.len().to_string(),
                money(amount(&won)),
                lost.len().to_string(),
                money(amount(&lost)),
            ]
        })
        .collect()
}

/// Open deals by expected close month over the next six months, from `rows`.
fn forecast_table(rows: &[&Row]) -> Vec<Vec<String>> {
    let this_month = month_start(Utc::now().date_naive());
    (0..6)
        .map(|n| {
            let month = this_month.checked_add_months(Months::new(n)).unwrap();
            let deals: Vec<&Row> = rows
                .iter()
                .copied()
                .filter(|r| r.outcome == "open" && r.close.map(month_start) == Some(month))
                .collect();
            vec![
                month_label(month),
                deals.len().to_string(),
                money(amount(&deals)),
                money(weighted(&deals)),
            ]
        })
        .collect()
}

#[tokio::test]
async fn a_manager_sees_the_team_and_charts_that_match_the_deals_rows() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let seeded = seed(&db).await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let all = rows(&db).await;
    let activities = activities_since(&db, week_start()).await;
    let month = Utc.from_utc_datetime(
        &month_start(Utc::now().date_naive())
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    );

    // The process filter as a plain GET (no script): the team and charts of that process.
    let process = &seeded.process.id;
    let html = manager.ok_page(&format!("/?process={process}")).await;
    assert!(
        html.contains("<h1>Welcome, Max Manager</h1>"),
        "the full page"
    );
    assert!(html.contains(&format!("<option value=\"{process}\" selected>")));
    let in_process: Vec<&Row> = all.iter().filter(|r| &r.process == process).collect();
    for user in [&seeded.manager, &seeded.rep, &seeded.rep2, &seeded.admin] {
        let theirs: Vec<&Row> = in_process
            .iter()
            .copied()
            .filter(|r| &r.owner == user)
            .collect();
        let open: Vec<&Row> = theirs
            .iter()
            .copied()
            .filter(|r| r.outcome == "open")
            .collect();
        let won: Vec<&Row> = theirs
            .iter()
            .copied()
            .filter(|r| r.outcome == "won" && r.closed_at.is_some_and(|at| at >= month))
            .collect();
        let expected = vec![
            open.len().to_string(),
            money(amount(&open)),
            money(weighted(&open)),
            won.len().to_string(),
            money(amount(&won)),
            activities
                .get(user.as_str())
                .copied()
                .unwrap_or(0)
                .to_string(),
        ];
        assert_eq!(team_row(&html, user), expected, "team row of {user}");
        // A click on an owner opens their board of this process.
        assert!(html.contains(&format!("href=\"/board/{process}?owner={user}\"")));
    }
    // The rows this test made, as a check on the recomputation itself.
    assert_eq!(
        team_row(&html, &seeded.rep),
        ["8", "8,000.50", "4,600.25", "1", "1,200.00", "2"]
    );

    // The charts' tables hold the same numbers as the rows.
    assert_eq!(
        table_after(&html, "id=\"chart-pipeline\""),
        pipeline_table(&in_process)
    );
    assert_eq!(
        table_after(&html, "id=\"chart-results\""),
        results_table(&in_process)
    );
    assert_eq!(
        table_after(&html, "id=\"chart-forecast\""),
        forecast_table(&in_process)
    );
    // Each chart is an accessible image named by its title and description.
    for chart in ["chart-pipeline", "chart-results", "chart-forecast"] {
        assert!(html.contains(&format!(
            "role=\"img\" aria-labelledby=\"{chart}-title {chart}-desc\""
        )));
        assert!(html.contains(&format!("<title id=\"{chart}-title\">")));
        assert!(html.contains(&format!("<desc id=\"{chart}-desc\">")));
    }
    assert!(!html.contains("style="), "no inline style under the CSP");

    // Another workspace's process names nothing here: no numbers, nothing of theirs.
    let foreign = seed_process(&db, "globex", "Theirs").await.id;
    let html = manager.ok_page(&format!("/?process={foreign}")).await;
    assert!(table_after(&html, "id=\"chart-pipeline\"").is_empty());
    assert_eq!(
        team_row(&html, &seeded.rep),
        ["0", "0.00", "0.00", "0", "0.00", "2"]
    );

    // All processes: the team counts every deal of the workspace.
    let html = manager.ok_page("/").await;
    let open: Vec<&Row> = all
        .iter()
        .filter(|r| r.owner == seeded.manager && r.outcome == "open")
        .collect();
    assert_eq!(
        team_row(&html, &seeded.manager)[..3],
        [
            open.len().to_string(),
            money(amount(&open)),
            money(weighted(&open))
        ]
    );
    assert!(html.contains(&format!("href=\"/board?owner={}\"", seeded.rep)));
    let everyone: Vec<&Row> = all.iter().collect();
    assert_eq!(
        table_after(&html, "id=\"chart-pipeline\""),
        pipeline_table(&everyone)
    );
}

#[tokio::test]
async fn a_rep_sees_only_their_own_numbers_and_no_team() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let seeded = seed(&db).await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let all = rows(&db).await;
    let theirs: Vec<&Row> = all.iter().filter(|r| r.owner == seeded.rep).collect();
    assert!(
        all.iter()
            .any(|r| r.owner != seeded.rep && r.outcome == "open"),
        "others have open deals the rep must not count"
    );

    for path in ["/".to_owned(), format!("/?process={}", seeded.process.id)] {
        let html = rep.ok_page(&path).await;
        assert!(!html.contains("team-table"), "{path}: no team for a rep");
        assert!(!html.contains("The team"), "{path}");
        let scope: Vec<&Row> = theirs
            .iter()
            .copied()
            .filter(|r| path == "/" || r.process == seeded.process.id)
            .collect();
        assert_eq!(
            table_after(&html, "id=\"chart-pipeline\""),
            pipeline_table(&scope),
            "{path}"
        );
        assert_eq!(
            table_after(&html, "id=\"chart-results\""),
            results_table(&scope),
            "{path}"
        );
        assert_eq!(
            table_after(&html, "id=\"chart-forecast\""),
            forecast_table(&scope),
            "{path}"
        );
    }

    // Their own short lists: counts from their rows, five shown, the rest one link away.
    let html = rep.ok_page("/").await;
    let today = Utc::now().date_naive();
    let open: Vec<&Row> = theirs
        .iter()
        .copied()
        .filter(|r| r.outcome == "open")
        .collect();
    let closing = open
        .iter()
        .filter(|r| {
            r.close
                .is_some_and(|c| c >= today && c <= today + Duration::days(14))
        })
        .count();
    let overdue = open
        .iter()
        .filter(|r| r.close.is_some_and(|c| c < today))
        .count();
    let rotting = open.iter().filter(|r| r.rotting).count();
    assert!(closing >= 6 && overdue >= 1 && rotting >= 1);
    assert!(html.contains(&format!(
        "Closing in the next 14 days <span class=\"count\">({closing})</span>"
    )));
    assert!(html.contains(&format!("Overdue <span class=\"count\">({overdue})</span>")));
    assert!(html.contains(&format!("Rotting <span class=\"count\">({rotting})</span>")));
    let closing_list = &html[html.find("id=\"closing-heading\"").unwrap()..];
    let closing_list = &closing_list[..closing_list.find("</section>").unwrap()];
    assert_eq!(closing_list.matches("<li>").count(), 5);
    assert!(closing_list.contains(&format!(
        "href=\"/deals?status=open&#38;owner={}&#38;close_from={today}&#38;close_to={}&#38;sort=close_date\"",
        seeded.rep,
        today + Duration::days(14)
    )), "{closing_list}");
    assert!(html.contains("Rep overdue") && html.contains("Rep rotting"));
    // Their latest activity first, with a link to what it was logged on.
    let recent = &html[html.find("id=\"recent-heading\"").unwrap()..];
    assert!(
        recent.find("Called about the pilot").unwrap() < recent.find("Sent the proposal").unwrap()
    );
    assert!(recent.contains(&format!("href=\"/deals/{}\"", seeded.rep_first)));
    assert!(
        !recent.contains("Covered a call"),
        "someone else's activity"
    );
}

#[tokio::test]
async fn the_process_filter_answers_htmx_with_the_numbers_alone() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let seeded = seed(&db).await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let process = &seeded.process.id;
    let response = manager
        .get(app.workspace_url("acme", &format!("/?process={process}")))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::VARY], "HX-Request");
    let fragment = response.text().await.unwrap();
    assert!(fragment
        .trim_start()
        .starts_with("<section id=\"dashboard-numbers\""));
    assert!(!fragment.contains("<html") && !fragment.contains("<h1>"));
    assert!(fragment.contains(&format!("<option value=\"{process}\" selected>")));
    // The same numbers as the full page of that filter.
    let full = manager.ok_page(&format!("/?process={process}")).await;
    for marker in [
        "class=\"team-table\"",
        "id=\"chart-pipeline\"",
        "id=\"chart-forecast\"",
    ] {
        assert_eq!(
            table_after(&fragment, marker),
            table_after(&full, marker),
            "{marker}"
        );
    }
    assert_eq!(
        team_row(&fragment, &seeded.rep2)[..3],
        ["2", "3,000.00", "300.00"]
    );
    // The form works without script too: a GET to the same address.
    assert!(fragment.contains("method=\"get\" action=\"/\""));
    assert!(fragment.contains("hx-get=\"/\" hx-trigger=\"change\""));
}
