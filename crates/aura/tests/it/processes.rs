//! Sales processes and their stages (F11, journey 4) over real HTTP: the API and the settings
//! pages. Admins shape them; managers and reps read them and are refused every change; the
//! rules the database checks at commit come back as the field they concern; deleting a stage
//! or a process moves or closes its deals, each with its history.

use aura_platform::db::testing::TestDatabase;
use aura_platform::demo::DEMO_PASSWORD;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    audited, emailed_code, fields, id, location, unreachable_mail_server, Api, Member, TestApp,
};

impl Api<'_> {
    /// Creates a process and returns it.
    pub(crate) async fn process(&self, name: &str) -> Value {
        self.created("/api/v1/processes", json!({ "name": name }))
            .await
    }

    /// Posts one of a process's actions that take no fields (`default`, `archive`,
    /// `unarchive`, `deletion-code`).
    async fn process_action(&self, process_id: &str, action: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/api/v1/processes/{process_id}/{action}"),
            json!({}),
        )
        .await
    }

    /// Has the code that confirms deleting a process emailed, and reads it from the outbox.
    async fn deletion_code(&self, db: &TestDatabase, process_id: &str) -> String {
        let (status, _) = self.process_action(process_id, "deletion-code").await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        emailed_code(db).await
    }
}

/// The id of the stage called `name` in `process`.
pub(crate) fn stage(process: &Value, name: &str) -> String {
    process["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .map(id)
        .unwrap_or_else(|| panic!("no stage {name} in {process}"))
}

/// The ids of the stages of `process`, in their order.
fn stage_ids(process: &Value) -> Vec<String> {
    process["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect()
}

pub(crate) fn stage_names(process: &Value) -> Vec<String> {
    process["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Puts a deal of acme's rep into the stage `stage_id` (the deals domain is not under test
/// here: the owner writes it as it stands).
async fn deal_in(
    db: &TestDatabase,
    stage_id: &str,
    name: &str,
    probability: Option<i32>,
) -> uuid::Uuid {
    sqlx::query_scalar(
        "insert into deals (tenant_id, name, process_id, stage_id, outcome, probability,
                            probability_set, assigned_to, closed_at, closed_stage_name)
         select s.tenant_id, $2, s.process_id, s.id, s.outcome,
                coalesce($3::numeric, s.win_probability), $3 is not null,
                (select id from users where email = 'rep@acme.example'),
                case when s.outcome <> 'open' then now() end,
                case when s.outcome <> 'open' then s.name end
         from deal_stages s where s.id = $1::uuid
         returning id",
    )
    .bind(stage_id)
    .bind(name)
    .bind(probability)
    .fetch_one(&db.owner)
    .await
    .unwrap()
}

/// How many rows of `deal`'s stage history record a move into a stage called `stage`.
async fn moves_into(db: &TestDatabase, deal: uuid::Uuid, stage: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from deal_stage_history where deal_id = $1 and to_stage_name = $2",
    )
    .bind(deal)
    .bind(stage)
    .fetch_one(&db.owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_admin_shapes_processes_and_their_stages() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let admin = Api::sign_in(&app, "acme", "admin").await;

    let enterprise = admin.process("Enterprise").await;
    assert_eq!(
        enterprise["is_default"], true,
        "the first process is the default"
    );
    assert_eq!(
        stage_names(&enterprise),
        [
            "Prospect",
            "Qualified",
            "Proposal",
            "Negotiation",
            "Won",
            "Lost"
        ]
    );
    let (status, problem) = admin
        .post("/api/v1/processes", json!({ "name": "enterprise" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["field"], "name");
    let (status, problem) = admin
        .post("/api/v1/processes", json!({ "name": " " }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["name"]);
    let smb = admin.process("SMB").await;
    assert_eq!(smb["is_default"], false);
    let (enterprise_id, smb_id) = (id(&enterprise), id(&smb));
    let enterprise_path = format!("/api/v1/processes/{enterprise_id}");
    let stages = format!("{enterprise_path}/stages");
    let order_path = format!("{stages}/order");

    // Stages: added at the end with their settings; a name is unique within the process.
    let (status, demo) = admin
        .post(
            &stages,
            json!({ "name": "Demo", "outcome": "open", "win_probability": 40, "rotting_days": 14,
                    "requires_amount": true, "requires_contact": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{demo}");
    assert_eq!(
        (
            demo["position"].as_i64(),
            demo["win_probability"].as_i64(),
            demo["rotting_days"].as_i64(),
            demo["requires_amount"].as_bool(),
            demo["requires_product"].as_bool()
        ),
        (Some(6), Some(40), Some(14), Some(true), Some(false))
    );
    let (status, problem) = admin
        .post(&stages, json!({ "name": "demo", "outcome": "open" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, problem) = admin
        .post(
            &stages,
            json!({ "name": "Later", "outcome": "open", "win_probability": 120, "rotting_days": 0 }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["win_probability", "rotting_days"]);
    // A won stage is 100 %, whatever was sent.
    let (_, won_too) = admin
        .post(
            &stages,
            json!({ "name": "Won by referral", "outcome": "won", "win_probability": 30 }),
        )
        .await;
    assert_eq!(won_too["win_probability"], 100);

    // Reorder: the full list in one request; Demo after Qualified.
    let (_, current) = admin.get(&enterprise_path).await;
    let mut order: Vec<String> = ["Prospect", "Qualified", "Demo", "Proposal", "Negotiation"]
        .iter()
        .map(|n| stage(&current, n))
        .collect();
    order.extend(
        ["Won", "Won by referral", "Lost"]
            .iter()
            .map(|n| stage(&current, n)),
    );
    let (status, reordered) = admin.put(&order_path, json!({ "stage_ids": order })).await;
    assert_eq!(status, StatusCode::OK, "{reordered}");
    assert_eq!(
        stage_names(&reordered),
        [
            "Prospect",
            "Qualified",
            "Demo",
            "Proposal",
            "Negotiation",
            "Won",
            "Won by referral",
            "Lost"
        ]
    );
    let positions: Vec<i64> = reordered["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, (0..8).collect::<Vec<i64>>());
    // A list that leaves a stage out, or names one twice, changes nothing.
    let (status, problem) = admin
        .put(&order_path, json!({ "stage_ids": order[..7].to_vec() }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["stage_ids"]);
    let mut twice = order.clone();
    twice[0] = order[1].clone();
    let (status, _) = admin.put(&order_path, json!({ "stage_ids": twice })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Rename with the version read; a save over an older version is 409 with the current one.
    let (status, renamed) = admin
        .patch(
            &enterprise_path,
            json!({ "version": 1, "name": "Enterprise deals", "description": "Big ones" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(
        (renamed["version"].as_i64(), renamed["description"].as_str()),
        (Some(2), Some("Big ones"))
    );
    let (status, stale) = admin
        .patch(
            &enterprise_path,
            json!({ "version": 1, "name": "Enterprise (old tab)" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(stale["code"], "stale");
    assert_eq!(stale["current"]["name"], "Enterprise deals");
    let (status, _) = admin
        .patch(&enterprise_path, json!({ "version": 2, "name": "smb" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a taken name");

    // Stage edit: a stale version is 409; a rename is saved.
    let demo_id = id(&demo);
    let (status, edited) = admin
        .patch(
            &format!("/api/v1/stages/{demo_id}"),
            json!({ "version": demo["version"], "name": "Demo given", "outcome": "open",
                    "win_probability": 45, "requires_product": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(
        (
            edited["name"].as_str(),
            edited["requires_product"].as_bool()
        ),
        (Some("Demo given"), Some(true))
    );
    let (status, stale) = admin
        .patch(
            &format!("/api/v1/stages/{demo_id}"),
            json!({ "version": demo["version"], "name": "Demo (old tab)", "outcome": "open" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(stale["current"]["name"], "Demo given");

    // The default switches in one action; the default cannot be archived or deleted.
    let (status, _) = admin.process_action(&smb_id, "default").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = admin.get("/api/v1/processes").await;
    let defaults: Vec<(&str, bool)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["is_default"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(defaults, [("SMB", true), ("Enterprise deals", false)]);
    let (status, problem) = admin.process_action(&smb_id, "archive").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["is_default"]);
    let (status, _) = admin.process_action(&enterprise_id, "archive").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin.process_action(&enterprise_id, "default").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an archived process"
    );
    let (_, archived) = admin.get(&enterprise_path).await;
    assert!(archived["archived_at"].is_string());
    let (status, _) = admin.process_action(&enterprise_id, "unarchive").await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // The process shape is checked at commit: its last won (or lost, or open) stage stays.
    let won = stage(&smb, "Won");
    let (status, problem) = admin.delete(&format!("/api/v1/stages/{won}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["stages"]);
    let lost = stage(&smb, "Lost");
    let (status, problem) = admin
        .patch(
            &format!("/api/v1/stages/{lost}"),
            json!({ "version": 1, "name": "Lost", "outcome": "open" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    // Another won stage makes the first one deletable.
    let referral = stage(&reordered, "Won by referral");
    let (status, body) = admin.delete(&format!("/api/v1/stages/{referral}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deals_moved"], 0);
    let (_, after) = admin.get(&enterprise_path).await;
    assert!(!stage_names(&after).contains(&"Won by referral".to_owned()));

    // Malformed ids name nothing.
    assert_eq!(
        admin.get("/api/v1/processes/not-an-id").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin.delete("/api/v1/stages/42").await.0,
        StatusCode::NOT_FOUND
    );

    for action in [
        "process.created",
        "process.renamed",
        "process.archived",
        "process.unarchived",
        "process.default_changed",
        "stage.added",
        "stage.updated",
        "stage.reordered",
        "stage.deleted",
    ] {
        assert!(audited(&db, action).await >= 1, "{action} is audited");
    }
}

#[tokio::test]
async fn managers_and_reps_read_processes_and_are_refused_every_change() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let admin = Api::sign_in(&app, "acme", "admin").await;
    let process = admin.process("Enterprise").await;
    admin.process("SMB").await;
    let process_id = id(&process);
    let stage_id = stage(&process, "Qualified");
    let order = stage_ids(&process);

    for who in ["manager", "rep"] {
        let member = Api::sign_in(&app, "acme", who).await;
        let (status, list) = member.get("/api/v1/processes").await;
        assert_eq!(status, StatusCode::OK, "{who}");
        assert_eq!(list["items"].as_array().unwrap().len(), 2, "{who}");
        let (status, read) = member.get(&format!("/api/v1/processes/{process_id}")).await;
        assert_eq!(
            (status, read["name"].as_str()),
            (StatusCode::OK, Some("Enterprise")),
            "{who}"
        );

        let changes: Vec<(Method, String, Value)> = vec![
            (
                Method::POST,
                "/api/v1/processes".into(),
                json!({ "name": "Mine" }),
            ),
            (
                Method::PATCH,
                format!("/api/v1/processes/{process_id}"),
                json!({ "version": 1, "name": "Mine" }),
            ),
            (
                Method::DELETE,
                format!("/api/v1/processes/{process_id}"),
                json!({ "password": DEMO_PASSWORD }),
            ),
            (
                Method::POST,
                format!("/api/v1/processes/{process_id}/default"),
                json!({}),
            ),
            (
                Method::POST,
                format!("/api/v1/processes/{process_id}/archive"),
                json!({}),
            ),
            (
                Method::POST,
                format!("/api/v1/processes/{process_id}/unarchive"),
                json!({}),
            ),
            (
                Method::POST,
                format!("/api/v1/processes/{process_id}/stages"),
                json!({ "name": "Mine", "outcome": "open" }),
            ),
            (
                Method::PUT,
                format!("/api/v1/processes/{process_id}/stages/order"),
                json!({ "stage_ids": order }),
            ),
            (
                Method::PATCH,
                format!("/api/v1/stages/{stage_id}"),
                json!({ "version": 1, "name": "Mine", "outcome": "open" }),
            ),
            (
                Method::DELETE,
                format!("/api/v1/stages/{stage_id}"),
                json!({}),
            ),
        ];
        for (method, path, body) in changes {
            let (status, problem) = member.call(method.clone(), &path, Some(body)).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{who}: {method} {path}: {problem}"
            );
        }
    }
    let (_, unchanged) = admin.get(&format!("/api/v1/processes/{process_id}")).await;
    assert_eq!(
        (
            unchanged["version"].as_i64(),
            unchanged["is_default"].as_bool()
        ),
        (Some(1), Some(true))
    );
    assert_eq!(unchanged["stages"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn deleting_a_stage_with_deals_moves_them_with_their_history() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let admin = Api::sign_in(&app, "acme", "admin").await;
    let process = admin.process("Enterprise").await;
    let qualified = stage(&process, "Qualified");
    let proposal = stage(&process, "Proposal");
    let negotiation = stage(&process, "Negotiation");
    let won = stage(&process, "Won");
    let plain = deal_in(&db, &qualified, "Plain deal", None).await;
    let chosen = deal_in(&db, &qualified, "Chosen probability", Some(33)).await;
    let closing = deal_in(&db, &negotiation, "Closing deal", None).await;

    let (status, problem) = admin.delete(&format!("/api/v1/stages/{qualified}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["target_stage_id"]);
    // Only a stage of the same process will do.
    let other = admin.process("Other").await;
    let (status, _) = admin
        .delete(&format!(
            "/api/v1/stages/{qualified}?target_stage_id={}",
            stage(&other, "Proposal")
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = admin
        .delete(&format!(
            "/api/v1/stages/{qualified}?target_stage_id={proposal}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deals_moved"], 2);
    let deal = |id: uuid::Uuid| {
        let owner = db.owner.clone();
        async move {
            sqlx::query_as::<_, (uuid::Uuid, String, f64, i64, Option<String>, bool)>(
                "select stage_id, outcome::text, probability::float8, version, closed_stage_name,
                        stage_entered_at > now() - interval '1 minute'
                 from deals where id = $1",
            )
            .bind(id)
            .fetch_one(&owner)
            .await
            .unwrap()
        }
    };
    let (stage_id, outcome, probability, version, closed, entered) = deal(plain).await;
    assert_eq!(
        (
            stage_id.to_string(),
            outcome.as_str(),
            probability,
            version,
            closed,
            entered
        ),
        (proposal.clone(), "open", 50.0, 2, None, true)
    );
    assert_eq!(
        deal(chosen).await.2,
        33.0,
        "a probability a person chose stays"
    );
    let history: Vec<(String, String)> = sqlx::query_as(
        "select from_stage_name, to_stage_name from deal_stage_history
         where deal_id = any($1) and from_stage_id is not null order by moved_at",
    )
    .bind(vec![plain, chosen])
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        history,
        vec![("Qualified".to_owned(), "Proposal".to_owned()); 2]
    );
    assert_eq!(audited(&db, "deal.stage_changed").await, 2);

    // Into a won stage: closed as won, 100 %; renaming the stage later rewrites nothing.
    let (status, _) = admin
        .delete(&format!(
            "/api/v1/stages/{negotiation}?target_stage_id={won}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, outcome, probability, _, closed, _) = deal(closing).await;
    assert_eq!(
        (outcome.as_str(), probability, closed.as_deref()),
        ("won", 100.0, Some("Won"))
    );
    let (status, _) = admin
        .patch(
            &format!("/api/v1/stages/{won}"),
            json!({ "version": 1, "name": "Closed won", "outcome": "won" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deal(closing).await.4.as_deref(), Some("Won"));
    assert_eq!(moves_into(&db, closing, "Won").await, 1);
    // The stage's outcome cannot change while deals are (or were) in it.
    let (status, problem) = admin
        .patch(
            &format!("/api/v1/stages/{won}"),
            json!({ "version": 2, "name": "Closed won", "outcome": "open" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["outcome"]);
}

#[tokio::test]
async fn deleting_a_process_needs_a_code_and_closes_its_open_deals_as_lost() {
    let (app, db) = TestApp::builder()
        .mailer(unreachable_mail_server())
        .demo()
        .spawn()
        .await;
    let admin = Api::sign_in(&app, "acme", "admin").await;
    let default = admin.process("Main").await;
    let process = admin.process("Pilot").await;
    let process_id = id(&process);
    let lost = stage(&process, "Lost");
    let open = deal_in(&db, &stage(&process, "Proposal"), "Open deal", None).await;
    let won = deal_in(&db, &stage(&process, "Won"), "Won deal", None).await;
    let path = format!("/api/v1/processes/{process_id}");
    let delete = |body: Value| admin.call(Method::DELETE, &path, Some(body));

    let (status, problem) = delete(json!({ "code": "123456" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["code"]);
    let code = admin.deletion_code(&db, &process_id).await;
    // With the code but without a choice for the open deal: nothing happens, the code keeps.
    let (status, problem) = delete(json!({ "code": code })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["lost_stage_id", "lost_reason"]);
    let (status, body) = delete(json!({ "code": code, "lost_stage_id": lost,
                                        "lost_reason": "Pilot programme ended" }))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deals_closed"], 1);
    // Once only.
    assert_eq!(
        admin
            .get(&format!("/api/v1/processes/{process_id}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = admin.get("/api/v1/processes").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let (outcome, reason, closed_in): (String, Option<String>, Option<String>) = sqlx::query_as(
        "select outcome::text, lost_reason, closed_stage_name from deals where id = $1",
    )
    .bind(open)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        (outcome.as_str(), reason.as_deref(), closed_in.as_deref()),
        ("lost", Some("Pilot programme ended"), Some("Lost"))
    );
    let won_outcome: String = sqlx::query_scalar("select outcome::text from deals where id = $1")
        .bind(won)
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(won_outcome, "won", "a closed deal stays as it was");
    assert_eq!(moves_into(&db, open, "Lost").await, 1);
    assert_eq!(audited(&db, "process.deleted").await, 1);

    // The default cannot be deleted, code or not.
    let default_id = id(&default);
    let code = admin.deletion_code(&db, &default_id).await;
    let (status, problem) = admin
        .call(
            Method::DELETE,
            &format!("/api/v1/processes/{default_id}"),
            Some(json!({ "code": code })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["is_default"]);
}

// The settings pages --------------------------------------------------------------------------

const XSS: &str = "<script>alert(1)</script>";

#[tokio::test]
async fn an_admin_manages_processes_in_the_settings_pages() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let api = Api::sign_in(&app, "acme", "admin").await;

    let (status, list) = admin.page("/settings/processes").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("Create process"), "{list}");

    // Created through the form; a name that is markup is shown as text, never run.
    let process_page = admin
        .create("/settings/processes", &[("name", XSS), ("description", "")])
        .await;
    let id = process_page.trim_start_matches("/settings/processes/");
    let added = admin
        .submit(
            &format!("{process_page}/stages"),
            &[
                ("name", XSS),
                ("outcome", "open"),
                ("win_probability", "30"),
                ("requires_amount", "on"),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    for path in [process_page.clone(), "/settings/processes".to_owned()] {
        let (status, html) = admin.page(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!html.contains(XSS), "{path} runs the name");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path}: {html}"
        );
    }

    // A refused stage keeps what was typed and says why at the field.
    let refused = admin
        .submit(
            &format!("{process_page}/stages"),
            &[
                ("name", "Keep me"),
                ("outcome", "open"),
                ("win_probability", "lots"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("value=\"Keep me\""), "{html}");
    assert!(html.contains("is not a whole number"), "{html}");

    // A stale rename is 409 and keeps the input beside theirs.
    let renamed = admin
        .submit(&process_page, &[("name", "Pipeline"), ("version", "1")])
        .await;
    assert_eq!(renamed.status(), StatusCode::SEE_OTHER);
    let stale = admin
        .submit(
            &process_page,
            &[("name", "From an old tab"), ("version", "1")],
        )
        .await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let html = stale.text().await.unwrap();
    assert!(html.contains("Someone else saved this process"), "{html}");
    assert!(html.contains("value=\"From an old tab\""), "{html}");

    // Keyboard reorder: htmx gets the stages section and an announcement; a browser the page.
    let (_, process) = api.get(&format!("/api/v1/processes/{id}")).await;
    let qualified = stage(&process, "Qualified");
    let moved = admin
        .htmx_submit(
            &format!("/settings/stages/{qualified}/move"),
            &[("direction", "up")],
        )
        .await;
    assert_eq!(moved.status(), StatusCode::OK);
    let fragment = moved.text().await.unwrap();
    assert!(
        fragment.contains("id=\"stage-section\"") && !fragment.contains("<html"),
        "{fragment}"
    );
    assert!(
        fragment.contains("Moved “Qualified” up: it is now stage 1 of 7."),
        "{fragment}"
    );
    assert!(fragment.contains("autofocus"), "focus stays on the control");
    let moved = admin
        .submit(
            &format!("/settings/stages/{qualified}/move"),
            &[("direction", "down")],
        )
        .await;
    assert_eq!(moved.status(), StatusCode::OK);
    assert!(moved.text().await.unwrap().contains("<html"));
    let (_, process) = api.get(&format!("/api/v1/processes/{id}")).await;
    assert_eq!(stage_names(&process)[..2], ["Prospect", "Qualified"]);

    // Drag and drop posts the whole order through the order form.
    let mut order = stage_ids(&process);
    order.reverse();
    let fields: Vec<(&str, &str)> = order.iter().map(|s| ("stage_ids", s.as_str())).collect();
    let response = admin
        .htmx_submit(&format!("{process_page}/stages/order"), &fields)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("Stage order saved"));
    let (_, reversed) = api.get(&format!("/api/v1/processes/{id}")).await;
    assert_eq!(stage_names(&reversed)[..2], [XSS, "Lost"]);

    // Inline stage edit; the last won stage cannot be deleted, said at the stage.
    let won = stage(&reversed, "Won");
    let edited = admin
        .submit(
            &format!("/settings/stages/{won}"),
            &[
                ("name", "Signed"),
                ("outcome", "won"),
                ("win_probability", "100"),
                ("rotting_days", ""),
                ("version", "1"),
            ],
        )
        .await;
    assert_eq!(edited.status(), StatusCode::SEE_OTHER);
    let refused = admin
        .submit(&format!("/settings/stages/{won}/delete"), &[])
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("needs at least one open, one won and one lost stage"));

    // A stage with deals asks where they go.
    let proposal = stage(&reversed, "Proposal");
    deal_in(&db, &proposal, "Waiting deal", None).await;
    let (_, html) = admin.page(&process_page).await;
    assert!(html.contains("Move its 1 deals to"), "{html}");
    let asked = admin
        .submit(
            &format!("/settings/stages/{proposal}/delete"),
            &[("target_stage_id", "")],
        )
        .await;
    assert_eq!(asked.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let negotiation = stage(&reversed, "Negotiation");
    let done = admin
        .submit(
            &format!("/settings/stages/{proposal}/delete"),
            &[("target_stage_id", &negotiation)],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);

    // Default and deletion (no mail server here: the password confirms it is the admin).
    let other = api.process("Other").await;
    let other_id = crate::helpers::id(&other);
    let made = admin
        .submit(&format!("/settings/processes/{other_id}/default"), &[])
        .await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let (_, html) = admin.page("/settings/processes").await;
    assert!(
        html.find("Other").unwrap() < html.find("Pipeline").unwrap(),
        "the default first"
    );
    let (status, html) = admin.page(&format!("{process_page}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Your password") && html.contains("Why they were lost"),
        "{html}"
    );
    let wrong = admin
        .submit(
            &format!("{process_page}/delete"),
            &[("password", "not it"), ("lost_reason", "Kept reason")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text().await.unwrap().contains("Kept reason"));
    let lost = stage(&reversed, "Lost");
    let deleted = admin
        .submit(
            &format!("{process_page}/delete"),
            &[
                ("password", DEMO_PASSWORD),
                ("lost_stage_id", &lost),
                ("lost_reason", "Process retired"),
            ],
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert_eq!(admin.page(&process_page).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn managers_and_reps_see_the_pages_without_forms_and_cannot_post() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let api = Api::sign_in(&app, "acme", "admin").await;
    let process = api.process("Enterprise").await;
    let process_id = id(&process);
    let stage_id = stage(&process, "Qualified");
    for who in ["manager", "rep"] {
        let browser = Member::sign_in(&app, "acme", &format!("{who}@acme.example")).await;
        let (status, list) = browser.page("/settings/processes").await;
        assert_eq!(status, StatusCode::OK, "{who}");
        assert!(
            list.contains("Enterprise") && !list.contains("Create process"),
            "{who}: {list}"
        );
        let (status, html) = browser
            .page(&format!("/settings/processes/{process_id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{who}");
        assert!(html.contains("Qualified"), "{who}");
        for form in [
            "/settings/stages/",
            "/stages/order",
            "Make default",
            "Add stage",
            "data-sortable",
        ] {
            assert!(!html.contains(form), "{who} sees {form}");
        }
        assert_eq!(
            browser
                .page(&format!("/settings/processes/{process_id}/delete"))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        for (path, fields) in [
            ("/settings/processes".to_owned(), vec![("name", "Mine")]),
            (
                format!("/settings/processes/{process_id}"),
                vec![("name", "Mine"), ("version", "1")],
            ),
            (format!("/settings/processes/{process_id}/default"), vec![]),
            (format!("/settings/processes/{process_id}/archive"), vec![]),
            (
                format!("/settings/processes/{process_id}/delete"),
                vec![("password", DEMO_PASSWORD)],
            ),
            (
                format!("/settings/processes/{process_id}/stages"),
                vec![("name", "Mine"), ("outcome", "open")],
            ),
            (
                format!("/settings/processes/{process_id}/stages/order"),
                vec![("stage_ids", stage_id.as_str())],
            ),
            (
                format!("/settings/stages/{stage_id}"),
                vec![("name", "Mine"), ("outcome", "open"), ("version", "1")],
            ),
            (
                format!("/settings/stages/{stage_id}/move"),
                vec![("direction", "up")],
            ),
            (format!("/settings/stages/{stage_id}/delete"), vec![]),
        ] {
            let response = browser.submit(&path, &fields).await;
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{who}: POST {path}"
            );
        }
    }
    let (_, unchanged) = api.get(&format!("/api/v1/processes/{process_id}")).await;
    assert_eq!(unchanged["version"], 1);
    assert_eq!(stage_names(&unchanged)[1], "Qualified");
}

// In a real browser ------------------------------------------------------------------------------

#[tokio::test]
async fn the_deletion_page_asks_for_an_emailed_code_where_mail_is_sent() {
    let (app, db) = TestApp::builder()
        .mailer(unreachable_mail_server())
        .demo()
        .spawn()
        .await;
    let api = Api::sign_in(&app, "acme", "admin").await;
    api.process("Main").await;
    let pilot = id(&api.process("Pilot").await);
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let (status, html) = admin
        .page(&format!("/settings/processes/{pilot}/delete"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Verification code") && !html.contains("Your password"),
        "{html}"
    );
    let sent = admin
        .submit(&format!("/settings/processes/{pilot}/delete/code"), &[])
        .await;
    assert_eq!(sent.status(), StatusCode::OK);
    let html = sent.text().await.unwrap();
    let code = emailed_code(&db).await;
    assert!(html.contains("on its way to your email"), "{html}");
    assert!(!html.contains(&code), "the code is never on the page");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = admin
        .submit(
            &format!("/settings/processes/{pilot}/delete"),
            &[("code", wrong)],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("That code is not right"));
    let deleted = admin
        .submit(
            &format!("/settings/processes/{pilot}/delete"),
            &[("code", &code)],
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&deleted), "/settings/processes?notice=deleted");
    let (_, list) = admin.page("/settings/processes?notice=deleted").await;
    assert!(
        list.contains("Process deleted.") && !list.contains("Pilot"),
        "{list}"
    );
}
