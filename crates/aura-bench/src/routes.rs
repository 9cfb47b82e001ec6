//! The per-route rows: each list, search and page a member opens, timed one request at a time
//! against the large workspace (5 warm-up requests, then 40 timed, rotating among the role's
//! members). A new page or route adds its row here.

use std::time::{Duration, Instant};

use anyhow::Context;
use aura_platform::cursor::Cursor;
use aura_platform::db::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::Value;

use crate::scenarios::{operator_session, Fixture, Http, Role};

const SAMPLES: usize = 40;
const WARM_UP: usize = 5;

/// Prints the per-route tables.
pub async fn print(db: &TestDatabase, http: &Http, fx: &Fixture) -> anyhow::Result<()> {
    let tokens = |role: Role| -> Vec<String> {
        http.members[&role]
            .iter()
            .map(|m| m.token.clone())
            .collect()
    };
    let (managers, reps) = (tokens(Role::Manager), tokens(Role::Rep));
    let deep = deep_cursor(db, http).await?;
    let (process, stage) = (fx.process, fx.stage);
    let deal = fx.rep_deals.values().next().context("a deal")?[0];
    let column_after = column_cursor(db, stage).await?;
    let contact = fx.busy_contact;
    let today = chrono::Utc::now().date_naive();
    let quarter = (today, today + chrono::Duration::days(90));
    let routes: Vec<(&str, &[String], String)> = vec![
        (
            "contacts, first page (manager)",
            &managers,
            "/api/v1/contacts".into(),
        ),
        (
            "contacts, a page halfway down (manager)",
            &managers,
            format!("/api/v1/contacts?after={deep}"),
        ),
        (
            "contacts, first page (rep, own)",
            &reps,
            "/api/v1/contacts".into(),
        ),
        (
            "contacts, recently changed (manager)",
            &managers,
            "/api/v1/contacts?sort=recent".into(),
        ),
        (
            "contacts, recently changed (rep)",
            &reps,
            "/api/v1/contacts?sort=recent".into(),
        ),
        (
            "contacts, 100 a page (manager)",
            &managers,
            "/api/v1/contacts?limit=100".into(),
        ),
        (
            "follow-ups, overdue (rep, own)",
            &reps,
            "/api/v1/follow-ups?due=overdue".into(),
        ),
        (
            "follow-ups, all open (manager, own)",
            &managers,
            "/api/v1/follow-ups".into(),
        ),
        (
            "search one letter `m` (manager)",
            &managers,
            "/api/v1/contacts?search=m".into(),
        ),
        (
            "search `smith` (manager)",
            &managers,
            "/api/v1/contacts?search=smith".into(),
        ),
        (
            "search `smith` (rep)",
            &reps,
            "/api/v1/contacts?search=smith".into(),
        ),
        (
            "search email `p1234` (manager)",
            &managers,
            "/api/v1/contacts?search=p1234".into(),
        ),
        (
            "search phone `+1 555 000 12` (manager)",
            &managers,
            "/api/v1/contacts?search=%2B1%20555%20000%2012".into(),
        ),
        (
            "search company `company 12` (manager)",
            &managers,
            "/api/v1/contacts?search=company%2012".into(),
        ),
        (
            "search typo `smiht`, similar names (manager)",
            &managers,
            "/api/v1/contacts?search=smiht".into(),
        ),
        (
            "organizations, first page",
            &managers,
            "/api/v1/organizations".into(),
        ),
        (
            "organizations of one size, recently changed",
            &managers,
            "/api/v1/organizations?size=11-50&sort=recent".into(),
        ),
        (
            "timeline of a contact with 200 activities",
            &managers,
            format!("/api/v1/contacts/{contact}/activities"),
        ),
        (
            "deals, first page (manager)",
            &managers,
            "/api/v1/deals".into(),
        ),
        (
            "deals, first page (rep, own)",
            &reps,
            "/api/v1/deals".into(),
        ),
        (
            "deals of the big process, open, largest first",
            &managers,
            format!("/api/v1/deals?process_id={process}&outcome=open&sort=amount"),
        ),
        (
            "deals, largest amount first (manager)",
            &managers,
            "/api/v1/deals?sort=amount".into(),
        ),
        (
            "deals lost (manager)",
            &managers,
            "/api/v1/deals?outcome=lost".into(),
        ),
        (
            "deals in the fullest stage, longest there first",
            &managers,
            format!("/api/v1/deals?stage_id={stage}"),
        ),
        (
            "deals closing in the next 90 days, soonest first",
            &managers,
            format!(
                "/api/v1/deals?close_from={}&close_to={}&sort=close_date",
                quarter.0, quarter.1
            ),
        ),
        (
            "deals, recently changed (rep)",
            &reps,
            "/api/v1/deals?sort=recent".into(),
        ),
        (
            "deals, probability 40-80 %",
            &managers,
            "/api/v1/deals?probability_min=40&probability_max=80".into(),
        ),
        (
            "deals rotting (open longer than their stage allows)",
            &managers,
            "/api/v1/deals?rotting=true".into(),
        ),
        (
            "deal search `pil` (manager)",
            &managers,
            "/api/v1/deals?search=pil".into(),
        ),
        (
            "deal search by organization `company 12` (manager)",
            &managers,
            "/api/v1/deals?search=company%2012".into(),
        ),
        ("a deal's page", &managers, format!("/api/v1/deals/{deal}")),
        (
            "a deal's stage history",
            &managers,
            format!("/api/v1/deals/{deal}/history"),
        ),
        (
            "a deal's lines (200 lines)",
            &managers,
            format!("/api/v1/deals/{}/lines", fx.long_deal),
        ),
        (
            "board of the big process: totals and 25 cards per column (manager)",
            &managers,
            format!("/api/v1/processes/{process}/board"),
        ),
        (
            "board of the big process (rep, own deals only)",
            &reps,
            format!("/api/v1/processes/{process}/board"),
        ),
        (
            "pipeline snapshot of the big process, this quarter (manager)",
            &managers,
            format!("/api/v1/processes/{process}/snapshot?period=quarter"),
        ),
        (
            "pipeline snapshot of the big process, this quarter (rep)",
            &reps,
            format!("/api/v1/processes/{process}/snapshot?period=quarter"),
        ),
        (
            "board column's next cards (the fullest stage)",
            &managers,
            format!("/api/v1/processes/{process}/board/stages/{stage}?after={column_after}"),
        ),
    ];

    println!("| request | rows | p50 ms | p95 ms | max ms |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, tokens, path) in &routes {
        let url = http.url(path);
        let (rows, timings) = time(tokens, StatusCode::OK, |token| {
            http.client.get(&url).bearer_auth(token)
        })
        .await
        .with_context(|| name.to_string())?;
        println!("| {name} | {rows} | {} |", timings.columns());
    }

    // Refused requests are recorded past row-level security (F5.6), one index lookup per
    // distinct id in the tables; the worst a member can send is a bulk body of 500 ids never
    // seen, of which the first 100 distinct ones are looked up.
    println!();
    println!("| refused request, recorded (F5.6) | ids | p50 ms | p95 ms | max ms |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let unknown = http.url(&format!("/api/v1/contacts/{}", uuid::Uuid::new_v4()));
    let (_, timings) = time(&managers, StatusCode::NOT_FOUND, |token| {
        http.client.get(&unknown).bearer_auth(token)
    })
    .await?;
    println!(
        "| an unknown contact's page (404) | 1 | {} |",
        timings.columns()
    );
    let reassign = http.url("/api/v1/contacts/reassign");
    let owner = http.members[&Role::Rep][0].id;
    let (_, timings) = time(&managers, StatusCode::NOT_FOUND, |token| {
        let ids: Vec<uuid::Uuid> = (0..500).map(|_| uuid::Uuid::new_v4()).collect();
        http.client
            .post(&reassign)
            .bearer_auth(token)
            .json(&serde_json::json!({ "ids": ids, "assigned_to": owner }))
    })
    .await?;
    println!(
        "| bulk reassignment of 500 unknown ids (404) | 500 | {} |",
        timings.columns()
    );

    // The operator console on the apex: a page of workspaces with each one's counts, over
    // every workspace of the run (the large one sorts first, so its 50,000 contacts are
    // counted on the first page).
    println!();
    println!("| operator console (apex page) | workspaces | p50 ms | p95 ms | max ms |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let operator = operator_session(db, http.address).await?;
    let workspaces: i64 = sqlx::query_scalar("select count(*) from tenants")
        .fetch_one(&db.owner)
        .await?;
    let apex = format!("http://localhost:{}", http.address.port());
    for (name, path) in [
        ("workspaces with counts, first page", "/workspaces"),
        ("workspaces, search `small-4`", "/workspaces?q=small-4"),
        ("platform health", "/platform"),
    ] {
        let url = format!("{apex}{path}");
        let (_, timings) = time(&[String::new()], StatusCode::OK, |_| operator.get(&url))
            .await
            .with_context(|| name.to_string())?;
        println!("| {name} | {workspaces} | {} |", timings.columns());
    }
    Ok(())
}

/// Times `WARM_UP + SAMPLES` requests built by `request` for each token in turn, each of which
/// must answer `expected` (so a refusal measured is the refusal meant); returns the rows of the
/// last answer (its `items`, or its first list) and the timings.
async fn time(
    tokens: &[String],
    expected: StatusCode,
    request: impl Fn(&str) -> reqwest::RequestBuilder,
) -> anyhow::Result<(usize, Timings)> {
    let mut timings = Vec::with_capacity(SAMPLES);
    let mut rows = 0;
    for i in 0..WARM_UP + SAMPLES {
        let started = Instant::now();
        let response = request(tokens[i % tokens.len()].as_str()).send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let elapsed = started.elapsed();
        anyhow::ensure!(status == expected, "{status} {body}");
        // A page's `items`; an answer without them (the snapshot's stages) counts its list.
        rows = body["items"]
            .as_array()
            .or_else(|| body.as_object()?.values().find_map(Value::as_array))
            .map_or(0, Vec::len);
        if i >= WARM_UP {
            timings.push(elapsed);
        }
    }
    timings.sort();
    Ok((rows, Timings(timings)))
}

/// Sorted request times.
struct Timings(Vec<Duration>);

impl Timings {
    /// `p50 | p95 | max`, in milliseconds.
    fn columns(&self) -> String {
        let at = |q: f64| self.0[((self.0.len() - 1) as f64 * q).round() as usize];
        format!(
            "{:.1} | {:.1} | {:.1}",
            ms(at(0.5)),
            ms(at(0.95)),
            ms(*self.0.last().expect("samples"))
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The cursor halfway down the large workspace's contact list: a deep page.
async fn deep_cursor(db: &TestDatabase, http: &Http) -> anyhow::Result<String> {
    let (key, id): (String, uuid::Uuid) = sqlx::query_as(
        "select sort_key, id from contacts where tenant_id = $1
         order by sort_key, id offset (select count(*) / 2 from contacts where tenant_id = $1)
         limit 1",
    )
    .bind(http.tenant)
    .fetch_one(&db.owner)
    .await?;
    Ok(Cursor::text(key, id).to_string())
}

/// Where the board's busiest column continues after its first page: the 25th card's position
/// (longest in the stage first), as the board's `next` spells it.
async fn column_cursor(db: &TestDatabase, stage: uuid::Uuid) -> anyhow::Result<String> {
    let (at, id): (chrono::DateTime<chrono::Utc>, uuid::Uuid) = sqlx::query_as(
        "select stage_entered_at, id from deals
         where stage_id = $1 and deleted_at is null
         order by stage_entered_at, id offset 24 limit 1",
    )
    .bind(stage)
    .fetch_one(&db.owner)
    .await?;
    Ok(Cursor::time(at, id).to_string())
}
