//! The pipeline snapshot and forecast (issue 12, journey 2 step 8) over HTTP: deals created,
//! moved, won and lost through the API; every number of the snapshot recomputed here
//! independently from the deals' own rows and stage histories (read back through the API) and
//! compared with the JSON, the page and the CSV; a rep's snapshot holds only their deals; a deal
//! won just before and just after a period's edge (in the workspace's time zone); CSV quoting
//! and formula injection.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{seed_process, Api, Member, TestApp};

impl Api<'_> {
    /// Moves the deal (with its current version) and returns it as it now is.
    async fn move_to(&self, deal: &Value, stage: &str, lost_reason: Option<&str>) -> Value {
        let id = deal["id"].as_str().unwrap();
        let (status, moved) = self
            .post(
                &format!("/api/v1/deals/{id}/stage"),
                json!({ "stage_id": stage, "version": deal["version"],
                        "lost_reason": lost_reason }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{moved}");
        moved
    }

    /// Every deal of the process the caller may list, whatever its outcome.
    async fn deals(&self, process: &str) -> Vec<Value> {
        self.all(&format!("/api/v1/deals?process_id={process}&limit=100"))
            .await
    }

    async fn history(&self, deal: &str) -> Vec<Value> {
        let page = self
            .ok(&format!("/api/v1/deals/{deal}/history?limit=100"))
            .await;
        assert!(page["next"].is_null(), "one page holds the history");
        page["items"].as_array().unwrap().clone()
    }
}

/// Money or a percentage (`"1250.5"`, `"37.50"`) in hundredths.
fn cents(value: &Value) -> i128 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("a decimal: {value}"));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    whole.parse::<i128>().unwrap() * 100 + format!("{fraction:0<2}")[..2].parse::<i128>().unwrap()
}

/// Cents as money with two decimals.
fn money(cents: i128) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A weighted amount (amount x probability / 100) exactly, in millionths: cents x hundredths
/// of a percent.
fn weighted_millionths(deal: &Value) -> i128 {
    cents(&deal["amount"]) * cents(&deal["probability"])
}

/// Millionths rounded to cents, half to even as the server rounds money.
fn millionths_to_money(millionths: i128) -> String {
    let (cents, rest) = (millionths / 10_000, millionths % 10_000);
    let up = rest > 5_000 || (rest == 5_000 && cents % 2 == 1);
    money(cents + i128::from(up))
}

/// Money as the page shows it: thousands grouped.
fn grouped(money: &str) -> String {
    let (whole, fraction) = money.split_once('.').unwrap();
    let digits: Vec<char> = whole.chars().collect();
    let mut out = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    format!("{out}.{fraction}")
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// One stage's numbers as recomputed from the rows.
#[derive(Debug, Default, PartialEq, Eq, Clone)]
struct StageNumbers {
    open_count: i64,
    open_amount: String,
    open_weighted: String,
    entered: i64,
    went_on: i64,
    won: i64,
    left: i64,
    average_seconds: Option<i64>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Expected {
    stages: Vec<(String, StageNumbers)>,
    won: (i64, String),
    lost: (i64, String),
    /// Lost reason (as first written, by its key), count, amount: most first, then by key.
    lost_reasons: Vec<(String, i64, String)>,
    /// Month (`YYYY-MM-01`, none last), count, amount, weighted.
    forecast: Vec<(Option<String>, i64, String, String)>,
}

/// The process's stages in order: (name, id, position, outcome).
fn stage_list(process: &crate::helpers::Process) -> Vec<(String, String, i32, &'static str)> {
    [
        ("Lead", 0, "open"),
        ("Proposal", 1, "open"),
        ("Contract", 2, "open"),
        ("Won", 3, "won"),
        ("Lost", 4, "lost"),
    ]
    .into_iter()
    .map(|(name, position, outcome)| (name.to_owned(), process.stage(name), position, outcome))
    .collect()
}

/// Every number of the snapshot, from the deals and their histories alone, for the period
/// `[start, end)`.
fn recompute(
    stages: &[(String, String, i32, &'static str)],
    deals: &[Value],
    histories: &BTreeMap<String, Vec<Value>>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Expected {
    let in_period = |t: DateTime<Utc>| t >= start && t < end;
    let stage_of = |id: &str| stages.iter().find(|s| s.1 == id).unwrap();
    let mut expected = Expected::default();
    for (name, id, position, _) in stages {
        let mut n = StageNumbers::default();
        let (mut amount, mut weighted) = (0, 0);
        for deal in deals
            .iter()
            .filter(|d| d["outcome"] == "open" && d["stage_id"] == id.as_str())
        {
            n.open_count += 1;
            if !deal["amount"].is_null() {
                amount += cents(&deal["amount"]);
                weighted += weighted_millionths(deal);
            }
        }
        n.open_amount = money(amount);
        n.open_weighted = millionths_to_money(weighted);
        let mut seconds = Vec::new();
        for rows in histories.values() {
            let first = rows
                .iter()
                .filter(|r| r["to_stage_id"] == id.as_str() && in_period(time(&r["moved_at"])))
                .map(|r| time(&r["moved_at"]))
                .min();
            if let Some(first) = first {
                n.entered += 1;
                let later: Vec<&Value> = rows
                    .iter()
                    .filter(|r| time(&r["moved_at"]) > first && time(&r["moved_at"]) < end)
                    .collect();
                let onward = |r: &&Value| {
                    let (_, _, p, outcome) = stage_of(r["to_stage_id"].as_str().unwrap());
                    *outcome == "won" || (*outcome == "open" && p > position)
                };
                if later.iter().any(onward) {
                    n.went_on += 1;
                }
                if later
                    .iter()
                    .any(|r| stage_of(r["to_stage_id"].as_str().unwrap()).3 == "won")
                {
                    n.won += 1;
                }
            }
            for row in rows
                .iter()
                .filter(|r| r["from_stage_id"] == id.as_str() && in_period(time(&r["moved_at"])))
            {
                seconds.push(row["seconds_in_previous"].as_i64().unwrap());
            }
        }
        n.left = seconds.len() as i64;
        if !seconds.is_empty() {
            let (sum, count): (i64, i64) = (seconds.iter().sum(), n.left);
            n.average_seconds = Some((2 * sum + count) / (2 * count));
        }
        expected.stages.push((name.clone(), n));
    }
    let mut reasons: BTreeMap<String, (String, i64, i128)> = BTreeMap::new();
    let (mut won, mut lost) = ((0, 0), (0, 0));
    for deal in deals
        .iter()
        .filter(|d| !d["closed_at"].is_null() && in_period(time(&d["closed_at"])))
    {
        let amount = if deal["amount"].is_null() {
            0
        } else {
            cents(&deal["amount"])
        };
        if deal["outcome"] == "won" {
            won = (won.0 + 1, won.1 + amount);
        } else {
            lost = (lost.0 + 1, lost.1 + amount);
            let reason = deal["lost_reason"].as_str().unwrap().to_owned();
            let entry =
                reasons
                    .entry(reason.trim().to_lowercase())
                    .or_insert((reason.clone(), 0, 0));
            entry.0 = entry.0.clone().min(reason);
            entry.1 += 1;
            entry.2 += amount;
        }
    }
    expected.won = (won.0, money(won.1));
    expected.lost = (lost.0, money(lost.1));
    let mut reasons: Vec<(String, (String, i64, i128))> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(&b.0)));
    expected.lost_reasons = reasons
        .into_iter()
        .map(|(_, (reason, count, amount))| (reason, count, money(amount)))
        .collect();
    let mut months: BTreeMap<(bool, String), (i64, i128, i128)> = BTreeMap::new();
    for deal in deals.iter().filter(|d| d["outcome"] == "open") {
        let month = deal["expected_close_date"]
            .as_str()
            .map(|d| format!("{}-01", &d[..7]));
        let entry = months
            .entry((month.is_none(), month.unwrap_or_default()))
            .or_default();
        entry.0 += 1;
        if !deal["amount"].is_null() {
            entry.1 += cents(&deal["amount"]);
            entry.2 += weighted_millionths(deal);
        }
    }
    expected.forecast = months
        .into_iter()
        .map(|((none, month), (count, amount, weighted))| {
            (
                (!none).then_some(month),
                count,
                money(amount),
                millionths_to_money(weighted),
            )
        })
        .collect();
    expected
}

/// The snapshot's JSON in the shape of [`Expected`].
fn from_json(snapshot: &Value) -> Expected {
    let stages = snapshot["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                StageNumbers {
                    open_count: s["open_count"].as_i64().unwrap(),
                    open_amount: s["open_amount"].as_str().unwrap().to_owned(),
                    open_weighted: s["open_weighted"].as_str().unwrap().to_owned(),
                    entered: s["entered"].as_i64().unwrap(),
                    went_on: s["went_on"].as_i64().unwrap(),
                    won: s["won"].as_i64().unwrap(),
                    left: s["left"].as_i64().unwrap(),
                    average_seconds: s["average_seconds_in_stage"].as_i64(),
                },
            )
        })
        .collect();
    let closed = snapshot["closed"].as_array().unwrap();
    assert!(closed.iter().filter(|g| g["outcome"] == "won").count() <= 1);
    Expected {
        stages,
        won: (
            snapshot["won_count"].as_i64().unwrap(),
            snapshot["won_amount"].as_str().unwrap().to_owned(),
        ),
        lost: (
            snapshot["lost_count"].as_i64().unwrap(),
            snapshot["lost_amount"].as_str().unwrap().to_owned(),
        ),
        lost_reasons: closed
            .iter()
            .filter(|g| g["outcome"] == "lost")
            .map(|g| {
                (
                    g["lost_reason"].as_str().unwrap().to_owned(),
                    g["count"].as_i64().unwrap(),
                    g["amount"].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
        forecast: snapshot["forecast"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["month"].as_str().map(str::to_owned),
                    m["count"].as_i64().unwrap(),
                    m["amount"].as_str().unwrap().to_owned(),
                    m["weighted"].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
    }
}

/// Parses CSV as RFC 4180 (quoted cells, doubled quotes, CRLF) into rows of cells.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

/// The CSV block that starts with the header row whose first cell is `first`, up to the
/// next empty line.
fn csv_block(rows: &[Vec<String>], first: &str) -> Vec<Vec<String>> {
    rows.iter()
        .skip_while(|r| r[0] != first)
        .skip(1)
        .take_while(|r| !(r.len() == 1 && r[0].is_empty()))
        .cloned()
        .collect()
}

/// The cells' texts of each body row of the table with `id` on the page.
fn table_rows(html: &str, id: &str) -> Vec<Vec<String>> {
    let table = html
        .split(&format!("id=\"{id}\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no table {id}"))
        .split("</table>")
        .next()
        .unwrap();
    let body = table
        .split("<tbody>")
        .nth(1)
        .unwrap()
        .split("</tbody>")
        .next()
        .unwrap();
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<t")
                .skip(1)
                .filter(|cell| cell.starts_with('h') || cell.starts_with('d'))
                .map(|cell| {
                    let inner = cell.split_once('>').unwrap().1;
                    let mut text = String::new();
                    let mut in_tag = false;
                    for c in inner.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    text.trim().to_owned()
                })
                .collect()
        })
        .collect()
}

/// The whole history of every deal, by deal id.
async fn histories(api: &Api<'_>, deals: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut all = BTreeMap::new();
    for deal in deals {
        let id = deal["id"].as_str().unwrap().to_owned();
        all.insert(id.clone(), api.history(&id).await);
    }
    all
}

#[tokio::test]
async fn the_snapshot_matches_the_deals_own_rows_on_the_page_in_csv_and_api_and_a_rep_s_is_theirs()
{
    let (app, db) = TestApp::builder().demo().spawn().await;
    let process = seed_process(&db, "acme", "Snapshot").await;
    let stages = stage_list(&process);
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let rep = Api::sign_in(&app, "acme", "rep").await;
    let rep_id = rep.me().await;
    let manager_id = manager.me().await;
    let (lead, proposal, won, lost) = (
        process.stage("Lead"),
        process.stage("Proposal"),
        process.stage("Won"),
        process.stage("Lost"),
    );

    // Deals of two owners, moved on, won and lost (reasons that group, and one that is a
    // formula).
    let p = &process.id;
    type Moves<'s> = Vec<(&'s str, Option<&'s str>)>;
    let mut steps: Vec<(&Api, Value, Moves)> = Vec::new();
    for (api, body, moves) in [
        (
            &manager,
            json!({ "name": "M won", "process_id": p, "amount": "1000", "expected_close_date": "2031-01-15" }),
            vec![(proposal.as_str(), None), (won.as_str(), None)],
        ),
        (
            &manager,
            json!({ "name": "M proposal", "process_id": p, "amount": "2500.50", "expected_close_date": "2031-01-20" }),
            vec![(proposal.as_str(), None)],
        ),
        (
            &manager,
            json!({ "name": "M lost price", "process_id": p, "amount": "700", "expected_close_date": "2031-02-03" }),
            vec![(lost.as_str(), Some("Price"))],
        ),
        (
            &manager,
            json!({ "name": "M lead", "process_id": p, "amount": "300.33", "probability": "33" }),
            vec![],
        ),
        (
            &manager,
            json!({ "name": "M proposal lost", "process_id": p, "amount": "450", "expected_close_date": "2031-03-01" }),
            vec![(proposal.as_str(), None), (lost.as_str(), Some("  price "))],
        ),
        (
            &manager,
            json!({ "name": "M formula", "process_id": p }),
            vec![(
                lost.as_str(),
                Some("=HYPERLINK(\"http://evil.example\",\"x\")"),
            )],
        ),
        (
            &manager,
            json!({ "name": "M deleted", "process_id": p, "amount": "5000", "expected_close_date": "2031-01-15" }),
            vec![(proposal.as_str(), None), (won.as_str(), None)],
        ),
        (
            &rep,
            json!({ "name": "R won", "process_id": p, "amount": "800", "expected_close_date": "2031-01-05" }),
            vec![
                (proposal.as_str(), None),
                (lead.as_str(), None),
                (won.as_str(), None),
            ],
        ),
        (
            &rep,
            json!({ "name": "R lead", "process_id": p, "amount": "1200", "expected_close_date": "2031-02-10" }),
            vec![],
        ),
        (
            &rep,
            json!({ "name": "R lost", "process_id": p, "amount": "150" }),
            vec![(lost.as_str(), Some("Timing, budget"))],
        ),
        (
            &rep,
            json!({ "name": "R odd probability", "process_id": p, "amount": "999.99",
                       "expected_close_date": "2031-01-31", "probability": "37.5" }),
            vec![(proposal.as_str(), None)],
        ),
    ] {
        steps.push((api, api.deal(body).await, moves));
    }
    let mut deleted = String::new();
    for (api, mut deal, moves) in steps {
        for (stage, reason) in moves {
            deal = api.move_to(&deal, stage, reason).await;
        }
        if deal["name"] == "M deleted" {
            deleted = deal["id"].as_str().unwrap().to_owned();
        }
    }
    // A deleted deal counts nowhere (its moves neither).
    let (status, _) = manager
        .call(Method::DELETE, &format!("/api/v1/deals/{deleted}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Time in the stage left, varied (the moves above took milliseconds): set by the schema's
    // owner, then read back through the API like every other row.
    sqlx::query(
        "update deal_stage_history set time_in_previous =
             ('x' || substr(md5(id::text), 1, 6))::bit(24)::int * interval '1.37 second'
         where from_stage_id is not null",
    )
    .execute(&db.owner)
    .await
    .unwrap();

    // The period: the days around today, in the workspace's time zone.
    let today = Utc::now().date_naive();
    let (from, to) = (today - chrono::Days::new(3), today + chrono::Days::new(3));
    let query = format!("from={from}&to={to}");
    let snapshot = manager
        .ok(&format!("/api/v1/processes/{p}/snapshot?{query}"))
        .await;
    let zone = snapshot["time_zone"].as_str().unwrap().to_owned();
    assert_eq!(
        snapshot["period"],
        json!({ "from": from.to_string(), "to": to.to_string() })
    );
    assert!(snapshot["owner"].is_null());
    // Days far wider than any time zone's offset: every row of the test is inside.
    let start = (from.and_hms_opt(0, 0, 0).unwrap() - chrono::Duration::hours(14)).and_utc();
    let end = (to.and_hms_opt(0, 0, 0).unwrap() + chrono::Duration::hours(38)).and_utc();

    let deals = manager.deals(p).await;
    assert_eq!(deals.len(), 10);
    let all_histories = histories(&manager, &deals).await;
    let expected = recompute(&stages, &deals, &all_histories, start, end);
    assert_eq!(from_json(&snapshot), expected, "{snapshot:#}");
    // The numbers are not trivial: conversions, averages, groups and months are all there.
    let lead_numbers = &expected.stages[0].1;
    assert_eq!(
        (lead_numbers.entered, lead_numbers.went_on),
        (10, 5),
        "{lead_numbers:?}"
    );
    assert!(lead_numbers.average_seconds.unwrap() > 0);
    assert_eq!(expected.won.0, 2);
    assert_eq!(
        expected.lost_reasons[0].1, 2,
        "Price and ' price ' are one reason"
    );
    assert_eq!(expected.forecast.last().unwrap().0, None, "no date last");

    // The page shows the same numbers.
    let browser = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let html = browser
        .ok_page(&format!("/processes/{p}/snapshot?{query}"))
        .await;
    assert!(
        html.contains(&format!("time zone: {zone}")),
        "the zone is said"
    );
    assert!(
        html.contains(&format!("/processes/{p}/snapshot.csv?")),
        "the CSV link"
    );
    assert!(!html.contains("=HYPERLINK(\"http"), "escaped on the page");
    let rows = table_rows(&html, "snapshot-stages");
    assert_eq!(rows.len(), stages.len());
    for (row, (name, n)) in rows.iter().zip(&expected.stages) {
        assert!(row[0].starts_with(name.as_str()), "{row:?}");
        assert_eq!(
            row[1..9],
            [
                n.open_count.to_string(),
                grouped(&n.open_amount),
                grouped(&n.open_weighted),
                n.entered.to_string(),
                n.went_on.to_string(),
                n.won.to_string(),
                if n.entered == 0 {
                    "–".to_owned()
                } else {
                    let tenths = (n.went_on * 2000 + n.entered) / (2 * n.entered);
                    format!("{}.{}%", tenths / 10, tenths % 10)
                },
                n.left.to_string(),
            ]
        );
    }
    let closed_rows = table_rows(&html, "snapshot-closed");
    assert_eq!(closed_rows[0], ["Won", "", "2", &grouped(&expected.won.1)]);
    for (row, (reason, count, amount)) in closed_rows[1..].iter().zip(&expected.lost_reasons) {
        let shown = row[1].replace("&#34;", "\"").replace("&quot;", "\"");
        assert_eq!(
            (shown.as_str(), row[2].as_str(), row[3].as_str()),
            (
                reason.as_str(),
                count.to_string().as_str(),
                grouped(amount).as_str()
            )
        );
    }
    let forecast_rows = table_rows(&html, "snapshot-forecast");
    assert_eq!(forecast_rows.len(), expected.forecast.len());
    for (row, (month, count, amount, weighted)) in forecast_rows.iter().zip(&expected.forecast) {
        let label = month
            .as_deref()
            .map_or("No expected close date".to_owned(), |m| m[..7].to_owned());
        assert_eq!(
            row,
            &[label, count.to_string(), grouped(amount), grouped(weighted)]
        );
    }

    // The CSV: the same numbers, quoted, formulas guarded.
    let response = browser
        .get(browser.url(&format!("/processes/{p}/snapshot.csv?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let text = response.text().await.unwrap();
    assert!(
        text.contains("Lost,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",1,0.00\r\n"),
        "a formula is prefixed and quoted: {text}"
    );
    assert!(
        text.contains("Lost,\"Timing, budget\",1,150.00\r\n"),
        "{text}"
    );
    let csv = parse_csv(&text);
    assert_eq!(csv[1], ["From", &from.to_string()]);
    assert_eq!(csv[3], ["Time zone", &zone]);
    let csv_stages = csv_block(&csv, "Stage");
    assert_eq!(csv_stages.len(), stages.len());
    for (row, (name, n)) in csv_stages.iter().zip(&expected.stages) {
        assert_eq!(row[0], *name);
        assert_eq!(
            row[2..8],
            [
                n.open_count.to_string(),
                n.open_amount.clone(),
                n.open_weighted.clone(),
                n.entered.to_string(),
                n.went_on.to_string(),
                n.won.to_string(),
            ]
        );
        assert_eq!(row[9], n.left.to_string());
        assert_eq!(
            row[10],
            n.average_seconds.map(|s| s.to_string()).unwrap_or_default()
        );
    }
    let csv_closed = csv_block(&csv, "Closed in the period");
    assert_eq!(csv_closed[0], ["Won", "", "2", &expected.won.1]);
    for (row, (reason, count, amount)) in csv_closed[1..].iter().zip(&expected.lost_reasons) {
        let shown = if reason.starts_with('=') {
            format!("'{reason}")
        } else {
            reason.clone()
        };
        assert_eq!(
            row,
            &["Lost".to_owned(), shown, count.to_string(), amount.clone()]
        );
    }
    let csv_forecast = csv_block(&csv, "Expected close month");
    assert_eq!(csv_forecast.len(), expected.forecast.len());
    for (row, (month, count, amount, weighted)) in csv_forecast.iter().zip(&expected.forecast) {
        let label = month
            .as_deref()
            .map_or("No expected close date".to_owned(), |m| m[..7].to_owned());
        assert_eq!(
            row,
            &[label, count.to_string(), amount.clone(), weighted.clone()]
        );
    }

    // A rep's snapshot: only their deals, whoever they name; the manager may narrow to them.
    let theirs: Vec<Value> = deals
        .iter()
        .filter(|d| d["assigned_to"] == rep_id.as_str())
        .cloned()
        .collect();
    assert_eq!(theirs.len(), 4);
    let their_histories: BTreeMap<String, Vec<Value>> = all_histories
        .iter()
        .filter(|(id, _)| theirs.iter().any(|d| d["id"] == id.as_str()))
        .map(|(id, rows)| (id.clone(), rows.clone()))
        .collect();
    let expected_rep = recompute(&stages, &theirs, &their_histories, start, end);
    for path in [
        format!("/api/v1/processes/{p}/snapshot?{query}"),
        format!("/api/v1/processes/{p}/snapshot?{query}&owner={manager_id}"),
    ] {
        let mine = rep.ok(&path).await;
        assert_eq!(mine["owner"], rep_id.as_str());
        assert_eq!(from_json(&mine), expected_rep, "{path}");
    }
    assert_ne!(expected_rep, expected);
    let narrowed = manager
        .ok(&format!(
            "/api/v1/processes/{p}/snapshot?{query}&owner={rep_id}"
        ))
        .await;
    assert_eq!(from_json(&narrowed), expected_rep);
    let rep_browser = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let (_, rep_csv) = rep_browser
        .page(&format!("/processes/{p}/snapshot.csv?{query}"))
        .await;
    assert!(rep_csv.contains("Timing, budget") && !rep_csv.contains("HYPERLINK"));
    assert!(
        !rep_csv.contains("Price"),
        "the manager's reasons are not the rep's"
    );

    // Refused: a period backwards, a day that is not one; another process id: 404.
    let (status, problem) = manager
        .call(
            Method::GET,
            &format!("/api/v1/processes/{p}/snapshot?from={to}&to={from}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _) = manager
        .call(
            Method::GET,
            &format!("/api/v1/processes/{p}/snapshot?from=yesterday&to={to}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = manager
        .call(
            Method::GET,
            &format!("/api/v1/processes/{}/snapshot", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, html) = browser
        .page(&format!("/processes/{p}/snapshot?from={to}&to={from}"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("role=\"alert\"") && html.contains(&format!("value=\"{to}\"")));
}

#[tokio::test]
async fn a_deal_won_just_before_or_after_a_period_s_edge_counts_in_its_own_period() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let process = seed_process(&db, "acme", "Edges").await;
    let p = &process.id;
    // The workspace keeps its days in New York (UTC-4 on 31 March 2026).
    sqlx::query("update tenants set timezone = 'America/New_York' where slug = 'acme'")
        .execute(&db.owner)
        .await
        .unwrap();
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let mut ids = Vec::new();
    for (name, amount) in [("Before the edge", "100"), ("After the edge", "250")] {
        let deal = manager
            .deal(json!({ "name": name, "process_id": p, "amount": amount }))
            .await;
        let deal = manager.move_to(&deal, &process.stage("Won"), None).await;
        ids.push(deal["id"].as_str().unwrap().to_owned());
    }
    // Closed at 23:59 and at 00:01 New York time, either side of midnight into April (03:59
    // and 04:01 UTC on 1 April).
    for (id, at) in ids
        .iter()
        .zip(["2026-04-01T03:59:00Z", "2026-04-01T04:01:00Z"])
    {
        sqlx::query(
            "with d as (update deals set closed_at = $2::timestamptz, stage_entered_at = $2::timestamptz
                        where id = $1::uuid returning id)
             update deal_stage_history set moved_at = $2::timestamptz
             where deal_id = (select id from d) and from_stage_id is not null",
        )
        .bind(id)
        .bind(at)
        .execute(&db.owner)
        .await
        .unwrap();
    }
    let march = manager
        .ok(&format!(
            "/api/v1/processes/{p}/snapshot?from=2026-03-01&to=2026-03-31"
        ))
        .await;
    let april = manager
        .ok(&format!(
            "/api/v1/processes/{p}/snapshot?from=2026-04-01&to=2026-04-30"
        ))
        .await;
    assert_eq!(march["time_zone"], "America/New_York");
    assert_eq!(
        (march["won_count"].as_i64(), march["won_amount"].as_str()),
        (Some(1), Some("100.00"))
    );
    assert_eq!(
        (april["won_count"].as_i64(), april["won_amount"].as_str()),
        (Some(1), Some("250.00"))
    );
    // The exits from Lead follow the same edge.
    let left = |s: &Value| s["stages"][0]["left"].as_i64().unwrap();
    assert_eq!((left(&march), left(&april)), (1, 1));
    // The last day of a period is included whole: 31 March alone holds the first.
    let day = manager
        .ok(&format!(
            "/api/v1/processes/{p}/snapshot?from=2026-03-31&to=2026-03-31"
        ))
        .await;
    assert_eq!(day["won_count"], 1);
    assert_eq!(day["closed"][0]["amount"], "100.00");
    // In UTC both are in April.
    sqlx::query("update tenants set timezone = 'UTC' where slug = 'acme'")
        .execute(&db.owner)
        .await
        .unwrap();
    let april = manager
        .ok(&format!(
            "/api/v1/processes/{p}/snapshot?from=2026-04-01&to=2026-04-30"
        ))
        .await;
    assert_eq!(
        (april["won_count"].as_i64(), april["won_amount"].as_str()),
        (Some(2), Some("350.00"))
    );
    assert_eq!(april["time_zone"], "UTC");
    // Presets name today's week, month and quarter.
    for (period, days) in [("week", 6), ("month", 27), ("quarter", 89)] {
        let snapshot = manager
            .ok(&format!("/api/v1/processes/{p}/snapshot?period={period}"))
            .await;
        let from: NaiveDate = snapshot["period"]["from"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let to: NaiveDate = snapshot["period"]["to"].as_str().unwrap().parse().unwrap();
        let today = Utc::now().date_naive();
        assert!(from <= today && today <= to, "{period}: {from}..{to}");
        assert!((to - from).num_days() >= days, "{period}: {from}..{to}");
    }
}
