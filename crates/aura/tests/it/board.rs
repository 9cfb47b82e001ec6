//! The pipeline board over HTTP (issue 12): columns and totals that match the deals' own rows,
//! recomputed here independently; a rep's board and every number on it hold only their deals;
//! more cards a page at a time; filters; moves through the deal's stage route, refused ones
//! explained, stale ones 409, and the totals following a move.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{api_token, seed_process, Api, Member, TestApp};

impl Api<'_> {
    /// Every open deal of the process the caller may list, from the deal list (not the board).
    async fn open_deals(&self, process: &str) -> Vec<Value> {
        self.all(&format!(
            "/api/v1/deals?process_id={process}&outcome=open&limit=100"
        ))
        .await
    }
}

/// Money as a string with two decimals (`"1250.00"`) in cents.
fn cents(value: &Value) -> i128 {
    let text = value.as_str().unwrap_or_else(|| panic!("money: {value}"));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "00"));
    whole.parse::<i128>().unwrap() * 100 + format!("{fraction:0<2}")[..2].parse::<i128>().unwrap()
}

fn money(cents: i128) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A column's totals as the board gives them: count, amount and weighted amount.
fn totals(column: &Value) -> (i64, String, String) {
    let t = &column["totals"];
    (
        t["count"].as_i64().unwrap(),
        t["amount"].as_str().unwrap().to_owned(),
        t["weighted"].as_str().unwrap().to_owned(),
    )
}

/// The same totals recomputed from the deals' rows: sums in cents, the weighted one from
/// amount x probability (whole percents in these tests, so exact).
fn recomputed(deals: &[Value], stage: &str) -> (i64, String, String) {
    let mut count = 0;
    let mut amount = 0;
    let mut weighted = 0;
    for deal in deals.iter().filter(|d| d["stage_id"] == stage) {
        count += 1;
        if !deal["amount"].is_null() {
            let a = cents(&deal["amount"]);
            amount += a;
            weighted += a * cents(&deal["probability"]);
        }
    }
    assert_eq!(weighted % 10_000, 0, "whole percents of whole amounts");
    (count, money(amount), money(weighted / 10_000))
}

fn column<'b>(board: &'b Value, stage: &str) -> &'b Value {
    board["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["stage"]["id"] == stage)
        .unwrap_or_else(|| panic!("no column {stage}: {board}"))
}

fn card_ids(cards: &Value) -> Vec<String> {
    cards
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_board_s_columns_and_totals_match_the_deals_and_a_rep_s_hold_only_theirs() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let process = seed_process(&db, "acme", "Board").await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let rep = Api::sign_in(&app, "acme", "rep").await;
    let rep_id = rep.me().await;
    let (lead, proposal, contract) = (
        process.stage("Lead"),
        process.stage("Proposal"),
        process.stage("Contract"),
    );

    // Deals of two owners in two columns, one without an amount.
    let mut rep_deals = Vec::new();
    for (name, amount, owner) in [
        ("Alpha", Some("1000"), Some(rep_id.as_str())),
        ("Bravo", Some("250.50"), None),
        ("Charlie", None, Some(rep_id.as_str())),
        ("Delta", Some("4000"), None),
    ] {
        let mut body = json!({ "name": name, "process_id": process.id, "amount": amount });
        if let Some(owner) = owner {
            body["assigned_to"] = json!(owner);
        }
        let deal = manager.deal(body).await;
        if owner.is_some() {
            rep_deals.push(deal["id"].as_str().unwrap().to_owned());
        }
    }
    let echo = manager
        .deal(
            json!({ "name": "Echo", "process_id": process.id, "amount": "300",
                       "expected_close_date": "2030-01-15", "stage_id": proposal,
                       "assigned_to": rep_id }),
        )
        .await;
    rep_deals.push(echo["id"].as_str().unwrap().to_owned());

    let board = manager
        .ok(&format!("/api/v1/processes/{}/board", process.id))
        .await;
    assert_eq!(board["process"]["name"], "Board");
    let columns: Vec<&str> = board["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["stage"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Lead", "Proposal", "Contract"]);
    let closing: Vec<&str> = board["closing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(closing, ["Won", "Lost"]);
    let all = manager.open_deals(&process.id).await;
    assert_eq!(all.len(), 5);
    for stage in [&lead, &proposal, &contract] {
        assert_eq!(totals(column(&board, stage)), recomputed(&all, stage));
    }
    assert_eq!(
        totals(column(&board, &lead)),
        (4, "5250.50".to_owned(), "525.05".to_owned())
    );
    assert_eq!(totals(column(&board, &contract)).0, 0);
    // Cards: name, organization, amount, owner, days in stage, rotting, version.
    let card = &column(&board, &lead)["cards"][0];
    for key in [
        "name",
        "organization_name",
        "amount",
        "assigned_to_name",
        "days_in_stage",
        "rotting",
        "version",
    ] {
        assert!(card.get(key).is_some(), "{key}: {card}");
    }
    assert_eq!(card["days_in_stage"], 0);
    assert_eq!(card["rotting"], false);

    // A rep's board: only their deals, in the cards and in every number, whatever they ask.
    for query in ["", "?owner="] {
        let owner_query = if query.is_empty() {
            String::new()
        } else {
            format!("{query}{}", manager.me().await)
        };
        let mine = rep
            .ok(&format!(
                "/api/v1/processes/{}/board{owner_query}",
                process.id
            ))
            .await;
        let visible = rep.open_deals(&process.id).await;
        assert_eq!(visible.len(), 3);
        for stage in [&lead, &proposal, &contract] {
            let column = column(&mine, stage);
            assert_eq!(totals(column), recomputed(&visible, stage));
            for id in card_ids(&column["cards"]) {
                assert!(rep_deals.contains(&id), "{id} is not the rep's");
            }
        }
        assert_eq!(
            totals(column(&mine, &lead)),
            (2, "1000.00".to_owned(), "100.00".to_owned())
        );
    }

    // A manager filters by owner, organization-less close dates, and the totals follow.
    let by_rep = manager
        .ok(&format!(
            "/api/v1/processes/{}/board?owner={rep_id}",
            process.id
        ))
        .await;
    assert_eq!(totals(column(&by_rep, &lead)).0, 2);
    let closing_soon = manager
        .ok(&format!(
            "/api/v1/processes/{}/board?close_from=2030-01-01&close_to=2030-01-31",
            process.id
        ))
        .await;
    assert_eq!(totals(column(&closing_soon, &lead)).0, 0);
    assert_eq!(
        totals(column(&closing_soon, &proposal)),
        (1, "300.00".to_owned(), "150.00".to_owned())
    );
    let (status, problem) = manager
        .get(&format!(
            "/api/v1/processes/{}/board?close_from=soon",
            process.id
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
}

#[tokio::test]
async fn a_column_pages_and_a_move_is_checked_and_updates_the_totals() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let process = seed_process(&db, "acme", "Board").await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let lead = process.stage("Lead");
    let proposal = process.stage("Proposal");
    for n in 0..5 {
        manager
            .deal(json!({ "name": format!("Deal {n}"), "process_id": process.id }))
            .await;
    }

    // One card at a time, longest in the stage first, each once, then the end.
    let board = manager
        .ok(&format!("/api/v1/processes/{}/board?limit=2", process.id))
        .await;
    let first = column(&board, &lead);
    assert_eq!(first["totals"]["count"], 5, "totals cover every deal");
    let mut seen = card_ids(&first["cards"]);
    assert_eq!(seen.len(), 2);
    let mut next = first["next"].as_str().map(str::to_owned);
    while let Some(after) = next {
        let page = manager
            .ok(&format!(
                "/api/v1/processes/{}/board/stages/{lead}?limit=2&after={after}",
                process.id
            ))
            .await;
        assert_eq!(page["stage"]["id"], lead.as_str());
        seen.extend(card_ids(&page["items"]));
        next = page["next"].as_str().map(str::to_owned);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5), "{seen:?}");
    // Not a column: a won stage, a stage of another process, a process of no one.
    let other = seed_process(&db, "acme", "Other").await;
    for path in [
        format!(
            "/api/v1/processes/{}/board/stages/{}",
            process.id,
            process.stage("Won")
        ),
        format!(
            "/api/v1/processes/{}/board/stages/{}",
            process.id,
            other.stage("Lead")
        ),
        format!("/api/v1/processes/{}/board", uuid::Uuid::new_v4()),
        format!(
            "/api/v1/processes/{}/board/stages/{lead}?after=nonsense",
            process.id
        ),
    ] {
        let (status, _) = manager.get(&path).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {status}"
        );
    }
    // Another workspace's board is not found.
    let globex = api_token(&app, "globex", "admin@globex.example").await;
    let response = app
        .client
        .get(app.workspace_url("globex", &format!("/api/v1/processes/{}/board", process.id)))
        .bearer_auth(&globex)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // A move as the board makes it: the card's id and version to the deal's stage route.
    let card = column(&board, &lead)["cards"][0].clone();
    let id = card["id"].as_str().unwrap();
    let version = card["version"].as_i64().unwrap();
    let (status, problem) = manager
        .post(
            &format!("/api/v1/deals/{id}/stage"),
            json!({ "stage_id": proposal, "version": version }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let text = problem.to_string();
    assert!(
        text.contains("amount") && text.contains("expected_close_date"),
        "{text}"
    );
    // Give it what the stage needs, then a move over the old version is stale.
    let (status, _) = manager
        .call(
            Method::PATCH,
            &format!("/api/v1/deals/{id}"),
            Some(
                json!({ "amount": "800", "expected_close_date": "2030-02-01",
                          "version": version }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, stale) = manager
        .post(
            &format!("/api/v1/deals/{id}/stage"),
            json!({ "stage_id": proposal, "version": version }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    let (status, moved) = manager
        .post(
            &format!("/api/v1/deals/{id}/stage"),
            json!({ "stage_id": proposal, "version": version + 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let after = manager
        .ok(&format!("/api/v1/processes/{}/board", process.id))
        .await;
    assert_eq!(totals(column(&after, &lead)).0, 4);
    assert_eq!(
        totals(column(&after, &proposal)),
        (1, "800.00".to_owned(), "400.00".to_owned())
    );
    assert_eq!(card_ids(&column(&after, &proposal)["cards"]), [id]);
}

/// Posts a move as the board's forms do (htmx), answered with the board fragment.
async fn board_move(member: &Member<'_>, process: &str, fields: &[(&str, &str)]) -> String {
    let response = member
        .htmx_submit(&format!("/board/{process}/move"), fields)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

const XSS: &str = "<script>alert(1)</script>";

#[tokio::test]
async fn the_board_page_switches_remembers_moves_and_explains_a_refused_move() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let sales = seed_process(&db, "acme", "Sales board").await;
    let other = seed_process(&db, "acme", "Partners").await;
    sqlx::query("update deal_stages set name = $1 where id = $2::uuid")
        .bind(format!("Lead {XSS}"))
        .bind(sales.stage("Lead"))
        .execute(&db.owner)
        .await
        .unwrap();
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let deal = manager
        .deal(json!({ "name": format!("Deal {XSS}"), "process_id": sales.id, "amount": "1200" }))
        .await;
    let id = deal["id"].as_str().unwrap().to_owned();
    let version = deal["version"].as_i64().unwrap().to_string();
    let browser = Member::sign_in(&app, "acme", "manager@acme.example").await;

    // The board of a process: the switcher names every process, names are escaped.
    let html = browser.ok_page(&format!("/board/{}", sales.id)).await;
    assert!(html.contains("Sales process:"), "{html}");
    assert!(html.contains("Partners") && html.contains("Sales board"));
    assert!(html.contains("href=\"/board\""), "the Board nav link");
    assert!(!html.contains(XSS), "a name reached the page unescaped");
    assert!(
        html.contains("Deal &#60;script&#62;"),
        "{}",
        "the deal's card, its name escaped"
    );
    assert!(html.contains(&format!("data-deal=\"{id}\"")));
    assert!(html.contains("1 deal") && html.contains("1,200.00") && html.contains("120.00"));
    // The choice is remembered: `/board` opens the process chosen last.
    let html = browser.ok_page(&format!("/board/{}", other.id)).await;
    assert!(html.contains("Pipeline board: Partners"));
    let html = browser.ok_page("/board").await;
    assert!(html.contains("Pipeline board: Partners"), "remembered");
    browser.ok_page(&format!("/board/{}", sales.id)).await;
    let html = browser.ok_page("/board").await;
    assert!(html.contains("Pipeline board: Sales board"), "remembered");

    // A refused move: the stage needs a close date; the card stays, the reason and the form's
    // link are shown and announced.
    let proposal = sales.stage("Proposal");
    let refused = board_move(
        &browser,
        &sales.id,
        &[
            ("deal_id", &id),
            ("version", &version),
            ("stage_id", &proposal),
        ],
    )
    .await;
    assert!(refused.contains("role=\"alert\""), "{refused}");
    assert!(refused.contains("Not moved:") && refused.contains("expected close date"));
    assert!(refused.contains(&format!("href=\"/deals/{id}/edit\"")));
    assert!(
        refused.contains("hx-swap-oob"),
        "the live region is updated"
    );
    let lead_column = refused
        .split("data-board-column=\"")
        .find(|part| part.starts_with(&sales.stage("Lead")))
        .unwrap();
    assert!(
        lead_column.contains(&format!("data-deal=\"{id}\"")),
        "snapped back"
    );
    assert!(!refused.contains(XSS));

    // A move that works (to Won, which needs nothing): announced, totals follow.
    let contract = sales.stage("Contract");
    let moved = board_move(
        &browser,
        &sales.id,
        &[
            ("deal_id", &id),
            ("version", &version),
            ("stage_id", &sales.stage("Won")),
        ],
    )
    .await;
    assert!(
        moved.contains("Moved “Deal &#60;script&#62;")
            || moved.contains("Moved “Deal &lt;script&gt;"),
        "{moved}"
    );
    assert!(moved.contains("0 deals"));
    // Stale: the old version again.
    let stale = board_move(
        &browser,
        &sales.id,
        &[
            ("deal_id", &id),
            ("version", &version),
            ("stage_id", &contract),
        ],
    )
    .await;
    assert!(
        stale.contains("changed since the board was loaded"),
        "{stale}"
    );

    // A rep cannot move the manager's deal: refused, not found for them.
    let rep_browser = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let fresh = manager
        .deal(json!({ "name": "Manager's own", "process_id": sales.id }))
        .await;
    let fresh_id = fresh["id"].as_str().unwrap();
    let html = rep_browser.ok_page(&format!("/board/{}", sales.id)).await;
    assert!(!html.contains(fresh_id), "a rep sees only their deals");
    let refused = board_move(
        &rep_browser,
        &sales.id,
        &[
            ("deal_id", fresh_id),
            ("version", "1"),
            ("stage_id", &contract),
        ],
    )
    .await;
    assert!(refused.contains("You may not move this deal."), "{refused}");
}

#[tokio::test]
async fn the_home_page_shows_my_open_deals_by_stage_closing_soon_and_rotting() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let process = seed_process(&db, "acme", "Home board").await;
    let rep = Api::sign_in(&app, "acme", "rep").await;
    let soon = (chrono::Utc::now().date_naive() + chrono::Duration::days(3)).to_string();
    for (name, amount, close) in [
        ("Mine one", "100", Some(soon.as_str())),
        ("Mine two", "250", None),
    ] {
        rep.deal(
            json!({ "name": name, "process_id": process.id, "amount": amount,
                         "expected_close_date": close }),
        )
        .await;
    }
    // Another member's deal counts nowhere on the rep's home.
    let manager = Api::sign_in(&app, "acme", "manager").await;
    manager
        .deal(json!({ "name": "Not mine", "process_id": process.id, "amount": "9000" }))
        .await;
    // One of the rep's deals has sat in Contract (rotting after 30 days) for 40 days.
    let contract = process.stage("Contract");
    sqlx::query(
        "update deals set stage_id = $1::uuid, stage_entered_at = now() - interval '40 days'
         where name = 'Mine two'",
    )
    .bind(&contract)
    .execute(&db.owner)
    .await
    .unwrap();

    let browser = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let html = browser.ok_page("/").await;
    let block = &html[html.find("My open deals").expect("the block")..];
    assert!(block.contains("1 closing in the next 14 days"), "{block}");
    assert!(block.contains("1 rotting"), "{block}");
    assert!(
        block.contains("<td>Lead</td><td>1</td><td>100.00</td>"),
        "{block}"
    );
    assert!(
        block.contains("<td>Contract</td><td>1</td><td>250.00</td>"),
        "{block}"
    );
    assert!(!block.contains("9,000.00"), "another member's deal");
    assert!(block.contains(&format!("href=\"/board/{}\"", process.id)));
}

/// The part of a board fragment that is the column of `stage`.
fn column_html<'h>(html: &'h str, stage: &str) -> &'h str {
    html.split("data-board-column=\"")
        .find(|part| part.starts_with(stage))
        .unwrap_or_else(|| panic!("no column {stage}: {html}"))
}

#[tokio::test]
async fn a_move_to_lost_asks_for_the_reason_and_is_saved_with_it() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let sales = seed_process(&db, "acme", "Sales").await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let deal = manager
        .deal(json!({ "name": format!("Lose {XSS}"), "process_id": sales.id, "amount": "90" }))
        .await;
    let id = deal["id"].as_str().unwrap().to_owned();
    let version = deal["version"].as_i64().unwrap().to_string();
    let (lead, lost) = (sales.stage("Lead"), sales.stage("Lost"));
    let browser = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let move_fields = |extra: &[(&'static str, &'static str)]| {
        let mut fields = vec![
            ("deal_id", id.clone()),
            ("version", version.clone()),
            ("stage_id", lost.clone()),
        ];
        fields.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        fields
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let (browser, process) = (&browser, &sales.id);
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            board_move(browser, process, &fields).await
        }
    };

    // Dropped on Lost without a reason (as a drop or "Move to" posts it): not moved, the card
    // snaps back, and the board asks why, in a form with the move's deal, version and stage.
    let asked = post(move_fields(&[])).await;
    assert!(
        column_html(&asked, &lead).contains(&format!("data-deal=\"{id}\"")),
        "snapped back"
    );
    assert!(asked.contains("id=\"lost-reason\""), "{asked}");
    assert!(asked.contains("<label for=\"lost_reason\">Lost reason</label>"));
    assert!(
        asked.contains("autofocus"),
        "the reason's field takes the focus"
    );
    assert!(asked.contains("name=\"asked\" value=\"1\""));
    assert!(asked.contains(&format!("name=\"stage_id\" value=\"{lost}\"")));
    assert!(asked.contains(&format!("name=\"version\" value=\"{version}\"")));
    assert!(
        asked.contains("a lost reason is needed"),
        "the refusal says why, in the live region: {asked}"
    );
    assert!(!asked.contains(XSS), "the deal's name is escaped");
    assert!(
        !asked.contains("aria-invalid=\"true\""),
        "not an error before it was asked"
    );

    // Answered without a reason: refused again, the field marked, the card still in Lead.
    let empty = post(move_fields(&[("asked", "1"), ("lost_reason", "   ")])).await;
    assert!(empty.contains("aria-invalid=\"true\""), "{empty}");
    assert!(empty.contains("Say why the deal was lost."));
    assert!(column_html(&empty, &lead).contains(&format!("data-deal=\"{id}\"")));
    // Too long: refused, what was typed kept.
    let long = "x".repeat(501);
    let mut fields = move_fields(&[("asked", "1")]);
    fields.push(("lost_reason", long.clone()));
    let too_long = post(fields).await;
    assert!(too_long.contains("aria-invalid=\"true\""));
    assert!(
        too_long.contains(&format!("value=\"{long}\"")),
        "input kept"
    );
    let unchanged = manager.ok(&format!("/api/v1/deals/{id}")).await;
    assert_eq!(unchanged["stage_id"], lead.as_str());
    assert_eq!(unchanged["version"].as_i64(), deal["version"].as_i64());

    // With a reason: moved and closed lost with it.
    let moved = post(move_fields(&[
        ("asked", "1"),
        ("lost_reason", "Went with a rival"),
    ]))
    .await;
    assert!(moved.contains("to Lost."), "{moved}");
    assert!(!moved.contains("id=\"lost-reason\""));
    let closed = manager.ok(&format!("/api/v1/deals/{id}")).await;
    assert_eq!(closed["stage_id"], lost.as_str());
    assert_eq!(closed["outcome"], "lost");
    assert_eq!(closed["lost_reason"], "Went with a rival");
}

#[tokio::test]
async fn the_board_filters_by_an_organization_picked_by_name_and_keeps_it() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let sales = seed_process(&db, "acme", "Sales").await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let mut organizations = Vec::new();
    for name in ["Initech", "Umbrella"] {
        let (status, org) = manager
            .post("/api/v1/organizations", json!({ "name": name }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{org}");
        organizations.push(org["id"].as_str().unwrap().to_owned());
    }
    let mut initech_deals = Vec::new();
    for i in 0..27 {
        let deal = manager
            .deal(
                json!({ "name": format!("Initech {i:02}"), "process_id": sales.id,
                          "organization_id": organizations[0] }),
            )
            .await;
        initech_deals.push(deal["id"].as_str().unwrap().to_owned());
    }
    let umbrella = manager
        .deal(json!({ "name": "Umbrella deal", "process_id": sales.id,
                      "organization_id": organizations[1] }))
        .await;
    let browser = Member::sign_in(&app, "acme", "manager@acme.example").await;

    // The picker: a named input with suggestions from the organizations' names.
    let html = browser.ok_page(&format!("/board/{}", sales.id)).await;
    assert!(html.contains("<label for=\"filter-organization\">Organization</label>"));
    assert!(html.contains("list=\"filter-organization-options\""));
    assert!(html.contains("hx-get=\"/organizations/options\""));
    let suggestions = browser
        .get(app.workspace_url("acme", "/organizations/options?organization=Ini"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(suggestions.contains("Initech") && !suggestions.contains("Umbrella"));

    // Picked by name (any case): only that organization's deals, the name shown in the picker.
    let html = browser
        .ok_page(&format!("/board/{}?organization=initech", sales.id))
        .await;
    assert!(
        html.contains("value=\"Initech\""),
        "the picker shows the name"
    );
    assert!(!html.contains(umbrella["id"].as_str().unwrap()));
    assert!(html.contains("27 deals"), "the totals follow the filter");
    let kept = format!("organization_id={}", organizations[0]);
    assert!(
        html.contains(&format!("/board/{}/move?{kept}", sales.id)),
        "moves keep the filter"
    );
    assert!(
        html.contains(&format!("?{kept}&amp;after=")) || html.contains(&format!("?{kept}&after=")),
        "Show more keeps the filter"
    );
    // Show more: the next cards, still Initech's.
    let more_link = html
        .split("hx-get=\"")
        .find(|part| part.starts_with(&format!("/board/{}/stages/", sales.id)))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let more = browser
        .get(app.workspace_url("acme", &more_link))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(more.matches("class=\"deal-card").count(), 2, "{more}");
    assert!(more.matches("Initech").count() >= 2);
    assert!(!more.contains(umbrella["id"].as_str().unwrap()));
    // A move keeps the filter: the board answered holds Initech's deals only.
    let id = &initech_deals[0];
    let response = browser
        .htmx_submit(
            &format!("/board/{}/move?{kept}", sales.id),
            &[
                ("deal_id", id.as_str()),
                ("version", "1"),
                ("stage_id", sales.stage("Won").as_str()),
            ],
        )
        .await;
    let moved = response.text().await.unwrap();
    assert!(moved.contains("Moved “Initech"), "{moved}");
    assert!(moved.contains("26 deals") && !moved.contains(umbrella["id"].as_str().unwrap()));
    assert!(moved.contains(&format!("/board/{}/move?{kept}", sales.id)));

    // An organization card link (by id) fills the picker; a name that names none: said, and
    // no deals rather than all.
    let html = browser
        .ok_page(&format!(
            "/board/{}?organization_id={}",
            sales.id, organizations[1]
        ))
        .await;
    assert!(html.contains("value=\"Umbrella\"") && html.contains("1 deal"));
    let html = browser
        .ok_page(&format!("/board/{}?organization=Nobody+Inc", sales.id))
        .await;
    assert!(
        html.contains("There is no organization “Nobody Inc”"),
        "{html}"
    );
    assert!(html.contains("aria-invalid=\"true\""));
    assert!(!html.contains("data-deal=\""), "no deals shown");
}
