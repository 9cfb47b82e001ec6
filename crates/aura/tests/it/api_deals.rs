//! Deals over the JSON API (F8, F9, F11): a deal bound to its process, stage moves with their
//! required fields, history and 409 on a stale version, what a rep may and may not reach,
//! reassignment, deletion, and the list's filters, search, sorts and pages.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{audited_on, ids, seed_process, sorted_fields, Api, TestApp};

impl Api<'_> {
    /// The ids of a deal list page, and its `next`.
    async fn page(&self, query: &str) -> (Vec<String>, Option<String>) {
        let (status, page) = self.get(&format!("/api/v1/deals{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        (ids(&page), page["next"].as_str().map(str::to_owned))
    }
}

#[tokio::test]
async fn a_deal_stays_in_its_process_and_moves_through_its_stages() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let sales = seed_process(&db, "acme", "Sales").await;
    let enterprise = seed_process(&db, "acme", "Enterprise").await;
    let manager = Api::sign_in(&app, "acme", "manager").await;

    // Created in the non-default process, in its first open stage with its probability.
    let deal = manager
        .deal(json!({ "name": "Big <b>one</b>", "process_id": enterprise.id }))
        .await;
    let id = deal["id"].as_str().unwrap().to_owned();
    assert_eq!(deal["process_name"], "Enterprise");
    assert_eq!(deal["stage_id"], enterprise.stage("Lead").as_str());
    assert_eq!(deal["probability"], "10.00");
    assert_eq!(deal["outcome"], "open");
    assert_eq!(deal["stages"].as_array().unwrap().len(), 5, "{deal}");
    assert_eq!(audited_on(&db, "deal.created", &id).await, 1);
    // Without a process: the default one.
    let default = manager.deal(json!({ "name": "Small one" })).await;
    assert_eq!(default["process_id"], sales.id.as_str());
    // Custom deal fields (F8.9), checked like contacts'.
    let other = Api::sign_in(&app, "acme", "admin").await;
    let (status, _) = other
        .post(
            "/api/v1/custom-fields",
            json!({ "entity": "deal", "label": "Seats", "kind": "number" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = manager
        .post(
            "/api/v1/deals",
            json!({ "name": "Counted", "custom_fields": { "seats": "many" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(sorted_fields(&problem), ["custom_fields.seats"]);
    let counted = manager
        .deal(json!({ "name": "Counted", "custom_fields": { "seats": "12" } }))
        .await;
    assert_eq!(counted["custom_fields"], json!({ "seats": 12 }));

    // The process never changes; a stage of another process is refused.
    let (status, problem) = manager
        .patch(
            &format!("/api/v1/deals/{id}"),
            json!({ "version": 1, "process_id": sales.id }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(sorted_fields(&problem), ["process_id"]);
    let (status, problem) = manager
        .post(
            "/api/v1/deals",
            json!({ "name": "Mixed", "process_id": enterprise.id, "stage_id": sales.stage("Lead") }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(sorted_fields(&problem), ["stage_id"]);
    let (status, problem) = manager
        .post(
            &format!("/api/v1/deals/{id}/stage"),
            json!({ "stage_id": sales.stage("Proposal"), "version": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(sorted_fields(&problem), ["stage_id"]);

    // A move names the fields its stage requires.
    let (status, problem) = manager
        .post(
            &format!("/api/v1/deals/{id}/stage"),
            json!({ "stage_id": enterprise.stage("Proposal"), "version": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(sorted_fields(&problem), ["amount", "expected_close_date"]);
    assert!(problem.to_string().contains("Proposal"), "{problem}");

    // A PATCH keeps what it does not name.
    let (status, saved) = manager
        .patch(
            &format!("/api/v1/deals/{id}"),
            json!({ "version": 1, "amount": "125000.50", "expected_close_date": "2027-03-31" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        (&saved["name"], &saved["amount"], saved["version"].as_i64()),
        (&json!("Big <b>one</b>"), &json!("125000.50"), Some(2))
    );
    assert_eq!(audited_on(&db, "deal.updated", &id).await, 1);
    // An edit over the version it replaced is refused with the deal as it is now.
    let (status, stale) = manager
        .patch(
            &format!("/api/v1/deals/{id}"),
            json!({ "version": 1, "name": "Overwritten" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    assert_eq!(
        (
            &stale["code"],
            &stale["current"]["name"],
            &stale["current"]["version"]
        ),
        (&json!("stale"), &json!("Big <b>one</b>"), &json!(2))
    );

    // Two people move the deal from the same version: one wins, the other gets 409 with the
    // deal as it is now. (Won asks nothing of a deal, Proposal has what it asks.)
    let path = format!("/api/v1/deals/{id}/stage");
    let move_to = |stage: String| json!({ "stage_id": stage, "version": 2 });
    let (first, second) = tokio::join!(
        manager.post(&path, move_to(enterprise.stage("Proposal"))),
        other.post(&path, move_to(enterprise.stage("Won"))),
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{first:?} {second:?}"
    );
    let (won, lost) = if first.0 == StatusCode::OK {
        (first.1, second.1)
    } else {
        (second.1, first.1)
    };
    assert_eq!(lost["code"], "stale");
    assert_eq!(lost["current"]["version"], 3);
    assert_eq!(lost["current"]["stage_id"], won["stage_id"]);

    // Into Proposal (reopened, if the other mover won it; else already there).
    let (status, moved) = manager
        .post(
            &path,
            json!({ "stage_id": enterprise.stage("Proposal"), "version": 3 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let version = moved["version"].as_i64().unwrap();
    assert!(version >= 3);
    assert_eq!(moved["probability"], "50.00");

    // Lost needs a reason; then the deal is closed, at 0%, in the stage by its name.
    let (status, problem) = manager
        .post(
            &path,
            json!({ "stage_id": enterprise.stage("Lost"), "version": version }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(sorted_fields(&problem), ["lost_reason"]);
    let (status, closed) = manager
        .post(
            &path,
            json!({ "stage_id": enterprise.stage("Lost"), "version": version,
                    "lost_reason": "Went with a competitor" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(
        (
            &closed["outcome"],
            &closed["probability"],
            &closed["closed_stage_name"],
            &closed["lost_reason"]
        ),
        (
            &json!("lost"),
            &json!("0.00"),
            &json!("Lost"),
            &json!("Went with a competitor")
        )
    );
    assert!(closed["closed_at"].is_string());
    // Won after all: 100%, the reason gone.
    let (status, won) = manager
        .post(
            &path,
            json!({ "stage_id": enterprise.stage("Won"),
                    "version": closed["version"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{won}");
    assert_eq!(
        (&won["outcome"], &won["probability"], &won["lost_reason"]),
        (&json!("won"), &json!("100.00"), &Value::Null)
    );

    // The history, newest first: each move with from, to, who and the time spent.
    let (status, history) = manager.get(&format!("/api/v1/deals/{id}/history")).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let rows = history["items"].as_array().unwrap();
    let to: Vec<&str> = rows
        .iter()
        .map(|r| r["to_stage_name"].as_str().unwrap())
        .collect();
    assert_eq!(&to[..2], ["Won", "Lost"]);
    assert_eq!(to.last(), Some(&"Lead"));
    assert_eq!(rows[0]["from_stage_name"], "Lost");
    assert!(rows[0]["seconds_in_previous"].is_i64());
    assert!(rows.last().unwrap()["from_stage_id"].is_null());
    assert!(rows[0]["moved_by_name"].is_string());
    let (_, paged) = manager
        .get(&format!("/api/v1/deals/{id}/history?limit=2"))
        .await;
    let (_, rest) = manager
        .get(&format!(
            "/api/v1/deals/{id}/history?after={}",
            paged["next"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        paged["items"].as_array().unwrap().len() + rest["items"].as_array().unwrap().len(),
        rows.len()
    );
    assert_eq!(
        audited_on(&db, "deal.stage_changed", &id).await,
        rows.len() as i64 - 1
    );
}

#[tokio::test]
async fn a_rep_reaches_only_their_own_deals_and_managers_reassign_them() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let sales = seed_process(&db, "acme", "Sales").await;
    let rep = Api::sign_in(&app, "acme", "rep").await;
    let rep2 = Api::sign_in(&app, "acme", "rep2").await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let (rep_id, rep2_id) = (rep.me().await, rep2.me().await);

    let own = rep.deal(json!({ "name": "Rep's own" })).await;
    let own_id = own["id"].as_str().unwrap().to_owned();
    assert_eq!(own["assigned_to"], rep_id.as_str());
    // A rep gives no deal to someone else, at creation or later.
    let (status, _) = rep
        .post(
            "/api/v1/deals",
            json!({ "name": "For rep2", "assigned_to": rep2_id }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = rep
        .patch(
            &format!("/api/v1/deals/{own_id}"),
            json!({ "version": 1, "assigned_to": rep2_id }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = rep
        .post(
            "/api/v1/deals/reassign",
            json!({ "ids": [own_id], "assigned_to": rep2_id }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A manager creates one for rep2: the rep neither sees nor changes it.
    let theirs = manager
        .deal(json!({ "name": "Rep2's", "assigned_to": rep2_id }))
        .await;
    let theirs_id = theirs["id"].as_str().unwrap().to_owned();
    for path in [
        format!("/api/v1/deals/{theirs_id}"),
        format!("/api/v1/deals/{theirs_id}/history"),
        format!("/api/v1/deals/{theirs_id}/activities"),
    ] {
        assert_eq!(rep.get(&path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = rep
        .patch(
            &format!("/api/v1/deals/{theirs_id}"),
            json!({ "version": 1, "name": "Mine now" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = rep
        .post(
            &format!("/api/v1/deals/{theirs_id}/stage"),
            json!({ "version": 1, "stage_id": sales.stage("Won") }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        rep.call(Method::DELETE, &format!("/api/v1/deals/{theirs_id}"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(rep.page("").await.0, [own_id.as_str()]);
    assert_eq!(
        rep.page(&format!("?assigned_to={rep2_id}")).await.0,
        [own_id.as_str()],
        "a rep's list is their own whatever they ask"
    );
    let (all, _) = manager.page("").await;
    assert!(all.contains(&own_id) && all.contains(&theirs_id));

    // The deal page names the contacts the viewer may see and counts the others.
    let rep_contact = rep.contact(json!({ "first_name": "Visible" })).await;
    let hidden_contact = rep2.contact(json!({ "first_name": "Zqxhidden" })).await;
    let shared = manager
        .deal(json!({ "name": "Shared", "assigned_to": rep_id,
                      "contacts": [{ "contact_id": rep_contact, "role": "decision_maker" },
                                   { "contact_id": hidden_contact, "role": "finance" }] }))
        .await;
    let shared_id = shared["id"].as_str().unwrap().to_owned();
    let (status, page) = rep.get(&format!("/api/v1/deals/{shared_id}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["contacts"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["contacts"][0]["role"], "decision_maker");
    assert_eq!(page["hidden_contacts"], 1);
    assert!(!page.to_string().contains("Zqxhidden") && !page.to_string().contains(&hidden_contact));
    let (_, page) = manager.get(&format!("/api/v1/deals/{shared_id}")).await;
    assert_eq!(
        (
            page["contacts"].as_array().unwrap().len(),
            &page["hidden_contacts"]
        ),
        (2, &json!(0))
    );
    // A rep links only their own contacts; unlinking the hidden one is not theirs either.
    let (status, _) = rep
        .call(
            Method::PUT,
            &format!("/api/v1/deals/{own_id}/contacts/{hidden_contact}"),
            Some(json!({ "role": "technical" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = rep
        .call(
            Method::PUT,
            &format!("/api/v1/deals/{own_id}/contacts/{rep_contact}"),
            Some(json!({ "role": "technical" })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = rep
        .call(
            Method::DELETE,
            &format!("/api/v1/deals/{own_id}/contacts/{rep_contact}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Activities on the deal, with one of its contacts: on both timelines.
    let (status, logged) = rep
        .post(
            &format!("/api/v1/deals/{shared_id}/activities"),
            json!({ "kind": "call", "description": "Talked price", "contact_id": rep_contact }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{logged}");
    let (status, problem) = rep
        .post(
            &format!("/api/v1/deals/{shared_id}/activities"),
            json!({ "kind": "call", "description": "With the hidden one",
                    "contact_id": hidden_contact }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (_, timeline) = rep
        .get(&format!("/api/v1/deals/{shared_id}/activities"))
        .await;
    assert_eq!(ids(&timeline), [logged["id"].as_str().unwrap()]);
    assert_eq!(timeline["items"][0]["deal_name"], "Shared");
    let (_, timeline) = rep
        .get(&format!("/api/v1/contacts/{rep_contact}/activities"))
        .await;
    assert_eq!(ids(&timeline), [logged["id"].as_str().unwrap()]);

    // A manager reassigns the shared deal to rep2 (audited); the rep loses it, with its
    // history and activities.
    let (status, saved) = manager
        .patch(
            &format!("/api/v1/deals/{shared_id}"),
            json!({ "version": 1, "assigned_to": rep2_id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(audited_on(&db, "deal.reassigned", &shared_id).await, 1);
    assert_eq!(
        rep.get(&format!("/api/v1/deals/{shared_id}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, timeline) = rep2
        .get(&format!("/api/v1/deals/{shared_id}/activities"))
        .await;
    assert_eq!(ids(&timeline).len(), 1);

    // Bulk: all or nothing over what the manager sees, each change audited.
    let (status, done) = manager
        .post(
            "/api/v1/deals/reassign",
            json!({ "ids": [own_id, theirs_id], "assigned_to": rep2_id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["reassigned"], 1, "rep2's own deal is left alone");
    assert_eq!(audited_on(&db, "deal.reassigned", &own_id).await, 1);
    let (status, _) = manager
        .post(
            "/api/v1/deals/reassign",
            json!({ "ids": [own_id, uuid::Uuid::new_v4()], "assigned_to": rep_id }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(rep.page("").await.0, Vec::<String>::new());

    // Delete and restore (rep2 now owns it): out of the list, into the deleted one, back.
    let deal_path = format!("/api/v1/deals/{own_id}");
    assert_eq!(
        rep2.call(Method::DELETE, &deal_path, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert!(!rep2.page("").await.0.contains(&own_id));
    assert_eq!(rep2.page("?deleted=true").await.0, [own_id.as_str()]);
    let (_, deleted) = rep2.get(&deal_path).await;
    assert!(deleted["deleted_at"].is_string());
    let (status, _) = rep2
        .patch(
            &deal_path,
            json!({ "version": deleted["version"], "name": "x" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a deleted deal is not edited"
    );
    let (status, _) = rep2.post(&format!("{deal_path}/restore"), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(rep2.page("").await.0.contains(&own_id));
    assert_eq!(audited_on(&db, "deal.deleted", &own_id).await, 1);
    assert_eq!(audited_on(&db, "deal.restored", &own_id).await, 1);
}

#[tokio::test]
async fn deal_lists_filter_search_sort_and_page() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let sales = seed_process(&db, "acme", "Sales").await;
    let partners = seed_process(&db, "acme", "Partners").await;
    // 30 deals: Deal 00 .. Deal 29, every third without an amount, every fourth without a
    // close date, the odd ones at Northwind, every fifth in Partners, every seventh won, the
    // multiples of six long in Contract (rotting after 30 days), half of them rep's.
    sqlx::query(
        "with acme as (select id from tenants where slug = 'acme'),
              northwind as (
                  insert into organizations (tenant_id, name) select id, 'Northwind Traders' from acme
                  returning id),
              contoso as (
                  insert into organizations (tenant_id, name) select id, 'Contoso' from acme
                  returning id)
         insert into deals (tenant_id, name, amount, process_id, stage_id, outcome, probability,
                            expected_close_date, organization_id, assigned_to, stage_entered_at,
                            closed_at, closed_stage_name)
         select acme.id, format('Deal %s', lpad(n::text, 2, '0')),
                case when n % 3 <> 0 then n * 1000 end,
                s.process_id, s.id, s.outcome, s.win_probability,
                case when n % 4 <> 0 then date '2027-01-01' + n end,
                case when n % 2 = 1 then (select id from northwind) else (select id from contoso) end,
                (select id from users where email = case when n < 15 then 'rep@acme.example'
                                                        else 'rep2@acme.example' end),
                case when n % 6 = 0 and n % 7 <> 0 then now() - interval '40 days' else now() end,
                case when n % 7 = 0 then now() end,
                case when n % 7 = 0 then s.name end
         from generate_series(0, 29) n, acme,
              lateral (select * from deal_stages s
                       where s.process_id = case when n % 5 = 0 then $2::uuid else $1::uuid end
                         and s.name = case when n % 7 = 0 then 'Won'
                                           when n % 6 = 0 then 'Contract'
                                           else 'Lead' end) s",
    )
    .bind(uuid::Uuid::parse_str(&sales.id).unwrap())
    .bind(uuid::Uuid::parse_str(&partners.id).unwrap())
    .execute(&db.owner)
    .await
    .unwrap();
    let names: std::collections::HashMap<String, i64> =
        sqlx::query_as::<_, (uuid::Uuid, String)>("select id, name from deals")
            .fetch_all(&db.owner)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, name)| (id.to_string(), name[5..].parse().unwrap()))
            .collect();
    let numbers = |ids: &[String]| -> Vec<i64> { ids.iter().map(|id| names[id]).collect() };
    let manager = Api::sign_in(&app, "acme", "manager").await;

    // Every order, a page of 7 at a time: each deal once, in order.
    let walk = |sort: &'static str| {
        let manager = &manager;
        async move {
            let mut all = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let query = match &after {
                    Some(cursor) => format!("?sort={sort}&limit=7&after={cursor}"),
                    None => format!("?sort={sort}&limit=7"),
                };
                let (ids, next) = manager.page(&query).await;
                assert!(ids.len() <= 7);
                all.extend(ids);
                match next {
                    Some(next) => after = Some(next),
                    None => break all,
                }
            }
        }
    };
    assert_eq!(numbers(&walk("name").await), (0..30).collect::<Vec<_>>());
    let by_amount = numbers(&walk("amount").await);
    let mut expected: Vec<i64> = (0..30).filter(|n| n % 3 != 0).rev().collect();
    assert_eq!(&by_amount[..20], &expected[..], "largest first");
    assert_eq!(by_amount.len(), 30);
    assert!(by_amount[20..].iter().all(|n| n % 3 == 0), "no amount last");
    let by_date = numbers(&walk("close_date").await);
    expected = (0..30).filter(|n| n % 4 != 0).collect();
    assert_eq!(&by_date[..22], &expected[..], "soonest first");
    assert!(by_date[22..].iter().all(|n| n % 4 == 0), "no date last");
    assert_eq!(walk("recent").await.len(), 30);

    let sorted = |mut v: Vec<i64>| {
        v.sort();
        v
    };
    let filtered = |query: String| {
        let manager = &manager;
        async move { sorted(numbers(&manager.page(&query).await.0)) }
    };
    // Search: a deal name prefix, or an organization name prefix, any case.
    assert_eq!(
        filtered("?search=deal%201".into()).await,
        (10..20).collect::<Vec<_>>()
    );
    assert_eq!(
        filtered("?search=NORTHW&limit=100".into()).await,
        (0..30).filter(|n| n % 2 == 1).collect::<Vec<_>>()
    );
    assert_eq!(
        filtered(format!("?search=northw&process_id={}", partners.id)).await,
        [5, 15, 25]
    );
    // Filters.
    assert_eq!(
        filtered(format!("?process_id={}", partners.id)).await,
        [0, 5, 10, 15, 20, 25]
    );
    assert_eq!(
        filtered(format!("?stage_id={}", sales.stage("Won"))).await,
        [7, 14, 21, 28]
    );
    assert_eq!(filtered("?outcome=won".into()).await, [0, 7, 14, 21, 28]);
    assert_eq!(filtered("?rotting=true".into()).await, [6, 12, 18, 24]);
    assert_eq!(
        filtered("?probability_min=50&probability_max=90".into()).await,
        [6, 12, 18, 24]
    );
    assert_eq!(
        filtered("?close_from=2027-01-03&close_to=2027-01-06".into()).await,
        [2, 3, 5]
    );
    let rep2_id: uuid::Uuid =
        sqlx::query_scalar("select id from users where email = 'rep2@acme.example'")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(
        filtered(format!("?assigned_to={rep2_id}&outcome=won")).await,
        [21, 28]
    );
    let contoso: uuid::Uuid =
        sqlx::query_scalar("select id from organizations where name = 'Contoso'")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(
        filtered(format!("?organization_id={contoso}&sort=amount&limit=100")).await,
        (0..30).filter(|n| n % 2 == 0).collect::<Vec<_>>()
    );
    // A rep's list is theirs, and so is a search.
    let rep = Api::sign_in(&app, "acme", "rep").await;
    assert_eq!(
        sorted(numbers(&rep.page("?search=deal&limit=100").await.0)),
        (0..15).collect::<Vec<_>>()
    );
    // What does not parse is refused by name.
    for bad in [
        "?outcome=maybe",
        "?sort=size",
        "?probability_min=lots",
        "?close_from=tomorrow",
        "?after=junk",
    ] {
        let (status, problem) = manager.get(&format!("/api/v1/deals{bad}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
    }
    // The rotting flag on the records themselves.
    let (_, page) = manager.get("/api/v1/deals?rotting=true").await;
    assert!(page["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["rotting"] == true && d["days_in_stage"].as_i64() >= Some(40)));
}
