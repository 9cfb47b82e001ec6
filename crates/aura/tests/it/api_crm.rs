//! The CRM's records over the JSON API: validation, uniqueness, optimistic concurrency,
//! soft deletion, search, activities, reassignment, and what a rep may not reach.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, Executor};

use crate::helpers::{audit_changes, fields, ids, Api, TestApp};

impl Api<'_> {
    /// The ids of a contact list.
    async fn contact_ids(&self, query: &str) -> Vec<String> {
        ids(&self.ok(&format!("/api/v1/contacts{query}")).await)
    }
}

#[tokio::test]
async fn contacts_are_validated_field_by_field() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let admin = Api::sign_in(&app, "acme", "admin").await;

    let (status, problem) = admin
        .post(
            "/api/v1/contacts",
            json!({ "first_name": "  ", "email": "not-an-email", "phone": "call me",
                    "title": "x".repeat(201) }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "invalid");
    assert_eq!(fields(&problem), ["first_name", "email", "phone", "title"]);
    assert!(problem["errors"][3]["message"]
        .as_str()
        .unwrap()
        .contains("at most 200"));

    let (status, contact) = admin
        .post(
            "/api/v1/contacts",
            json!({ "first_name": "Ada", "last_name": "Lovelace", "email": " Ada@Analytical.example ",
                    "phone": "+44 20 7946 0958", "title": "Analyst" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(contact["email"], "Ada@Analytical.example");
    assert_eq!(contact["assigned_to"].as_str().unwrap(), admin.me().await);
    assert_eq!(contact["version"], 1);
    assert_eq!(contact["created_by"], contact["updated_by"]);

    let (status, _) = admin
        .post(
            "/api/v1/contacts",
            json!({ "first_name": "Bo", "organization_id": uuid::Uuid::new_v4() }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // An id that does not parse names nothing: 404 with a problem document, on every route
    // that takes one, before its body is read.
    for (method, path) in [
        (Method::GET, "/api/v1/contacts/not-a-uuid"),
        (Method::PUT, "/api/v1/contacts/42"),
        (Method::DELETE, "/api/v1/contacts/42"),
        (Method::POST, "/api/v1/contacts/42/restore"),
        (Method::GET, "/api/v1/contacts/42/activities"),
        (Method::POST, "/api/v1/contacts/42/activities"),
        (Method::GET, "/api/v1/organizations/x"),
        (Method::PUT, "/api/v1/organizations/x"),
        (Method::DELETE, "/api/v1/organizations/x"),
        (Method::POST, "/api/v1/organizations/x/restore"),
        (Method::GET, "/api/v1/organizations/x/subsidiaries"),
        (Method::GET, "/api/v1/organizations/x/activities"),
        (Method::DELETE, "/api/v1/activities/x"),
        (Method::DELETE, "/api/v1/custom-fields/x"),
    ] {
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        let (status, problem) = admin.call(method.clone(), path, body).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{method} {path}"
        );
    }
    let (status, problem) = admin.get("/api/v1/contacts?limit=many").await;
    assert_eq!(
        (status, fields(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["limit"])
    );
}

#[tokio::test]
async fn an_email_belongs_to_one_live_contact_per_workspace() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let rep = Api::sign_in(&app, "acme", "rep").await;

    let first = manager
        .contact(json!({ "first_name": "Grace", "email": "grace@navy.example" }))
        .await;
    let (status, problem) = manager
        .post(
            "/api/v1/contacts",
            json!({ "first_name": "G.", "email": "GRACE@navy.example" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        (problem["code"].as_str(), problem["field"].as_str()),
        (Some("duplicate"), Some("email"))
    );
    assert_eq!(problem["existing_id"].as_str(), Some(first.as_str()));

    // A rep is told the address is taken, but not which contact (one they may not see) has it.
    let (status, problem) = rep
        .post(
            "/api/v1/contacts",
            json!({ "first_name": "G.", "email": "grace@navy.example" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["existing_id"], Value::Null);

    // Deleting the first frees the address; restoring it then clashes.
    assert_eq!(
        manager.delete(&format!("/api/v1/contacts/{first}")).await.0,
        StatusCode::NO_CONTENT
    );
    let second = manager
        .contact(json!({ "first_name": "Grace", "email": "grace@navy.example" }))
        .await;
    let (status, problem) = manager
        .post(&format!("/api/v1/contacts/{first}/restore"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["existing_id"].as_str(), Some(second.as_str()));
}

#[tokio::test]
async fn a_stale_save_is_refused_with_the_current_record() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let id = manager
        .contact(json!({ "first_name": "Alan", "last_name": "Turing" }))
        .await;
    let path = format!("/api/v1/contacts/{id}");

    let (status, saved) = manager
        .put(
            &path,
            json!({ "version": 1, "first_name": "Alan", "last_name": "Turing", "title": "Fellow" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (saved["version"].as_i64(), saved["title"].as_str()),
        (Some(2), Some("Fellow"))
    );

    // A second editor still holding version 1 loses nothing silently: 409, and what is there.
    let (status, problem) = manager
        .put(
            &path,
            json!({ "version": 1, "first_name": "A.", "last_name": "Turing" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "stale");
    assert_eq!(
        (
            problem["current"]["version"].as_i64(),
            problem["current"]["title"].as_str()
        ),
        (Some(2), Some("Fellow"))
    );
    let (_, now) = manager.get(&path).await;
    assert_eq!(now["first_name"], "Alan");
}

/// NFR: no lost updates. Twenty editors save the same contact at once, each reading it first
/// and trying twice: every answer is 200 or 409, each acknowledged save got its own version,
/// and the contact ends as the last acknowledged save left it.
#[tokio::test]
async fn concurrent_editors_of_one_contact_lose_no_acknowledged_save() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let id = manager
        .contact(json!({ "first_name": "Grace", "last_name": "Hopper" }))
        .await;
    let url = app.workspace_url("acme", &format!("/api/v1/contacts/{id}"));

    let mut editors = tokio::task::JoinSet::new();
    for editor in 0..20 {
        let (client, url, token) = (app.client.clone(), url.clone(), manager.token.clone());
        editors.spawn(async move {
            let mut acknowledged = Vec::new();
            // Two tries each keeps the manager under the 100-a-minute rate limit.
            for attempt in 0..2 {
                let current: Value = client
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let title = format!("Editor {editor}, try {attempt}");
                let response = client
                    .put(&url)
                    .bearer_auth(&token)
                    .json(
                        &json!({ "version": current["version"], "first_name": "Grace",
                                   "last_name": "Hopper", "title": title }),
                    )
                    .send()
                    .await
                    .unwrap();
                match response.status() {
                    StatusCode::OK => {
                        let saved: Value = response.json().await.unwrap();
                        assert_eq!(saved["title"].as_str(), Some(title.as_str()));
                        acknowledged.push((saved["version"].as_i64().unwrap(), title));
                    }
                    StatusCode::CONFLICT => {}
                    other => panic!("a concurrent save got {other}"),
                }
            }
            acknowledged
        });
    }
    let mut acknowledged = Vec::new();
    while let Some(saves) = editors.join_next().await {
        acknowledged.extend(saves.unwrap());
    }
    acknowledged.sort();
    let versions: Vec<i64> = acknowledged.iter().map(|(version, _)| *version).collect();
    let expected: Vec<i64> = (2..2 + acknowledged.len() as i64).collect();
    assert_eq!(
        versions, expected,
        "one version per acknowledged save, none skipped"
    );

    let (_, contact) = manager.get(&format!("/api/v1/contacts/{id}")).await;
    let (last_version, last_title) = acknowledged.last().expect("some save succeeded");
    assert_eq!(
        (contact["version"].as_i64(), contact["title"].as_str()),
        (Some(*last_version), Some(last_title.as_str()))
    );
}

#[tokio::test]
async fn a_rep_reaches_only_the_contacts_assigned_to_them() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let rep = Api::sign_in(&app, "acme", "rep").await;
    let rep2 = Api::sign_in(&app, "acme", "rep2").await;
    let rep2_id = rep2.me().await;

    let theirs = manager
        .contact(json!({ "first_name": "Hidden", "last_name": "Prospect",
                         "email": "hidden@prospect.example", "phone": "555 0199 77",
                         "assigned_to": rep2_id }))
        .await;
    let mine = rep
        .contact(json!({ "first_name": "Own", "last_name": "Prospect" }))
        .await;
    rep2.post(
        &format!("/api/v1/contacts/{theirs}/activities"),
        json!({ "kind": "call", "description": "Discussed the secret pricing" }),
    )
    .await;

    // Every route answers as if the contact did not exist.
    let path = format!("/api/v1/contacts/{theirs}");
    assert_eq!(rep.get(&path).await.0, StatusCode::NOT_FOUND);
    let (status, body) = rep
        .put(&path, json!({ "version": 1, "first_name": "Taken" }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(rep.delete(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        rep.post(&format!("{path}/restore"), json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = rep.get(&format!("{path}/activities")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.to_string().contains("secret pricing"));
    let (status, _) = rep
        .post(
            &format!("{path}/activities"),
            json!({ "kind": "note", "description": "sneaky" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Lists and searches hold only their own, whatever the filter asks for.
    assert_eq!(rep.contact_ids("").await, std::slice::from_ref(&mine));
    assert_eq!(
        rep.contact_ids(&format!("?assigned_to={rep2_id}")).await,
        std::slice::from_ref(&mine)
    );
    for search in ["hidden", "prospect", "hidden%40prospect", "555019", "Hiden"] {
        let (status, page) = rep.get(&format!("/api/v1/contacts?search={search}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !page.to_string().contains(&theirs),
            "search {search}: {page}"
        );
    }
    assert!(!rep.contact_ids("?deleted=true").await.contains(&theirs));

    // Nor may a rep give contacts away, or take them.
    let (status, _) = rep
        .post(
            "/api/v1/contacts",
            json!({ "first_name": "For", "last_name": "Someone", "assigned_to": rep2_id }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = rep
        .post(
            "/api/v1/contacts/reassign",
            json!({ "ids": [theirs, mine], "assigned_to": rep.me().await }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = rep
        .put(
            &format!("/api/v1/contacts/{mine}"),
            json!({ "version": 1, "first_name": "Own", "assigned_to": rep2_id }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The manager sees both.
    let all = manager.contact_ids("").await;
    assert!(all.contains(&theirs) && all.contains(&mine));
}

#[tokio::test]
async fn managers_reassign_in_bulk_and_each_change_is_audited() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let rep = Api::sign_in(&app, "acme", "rep").await;
    let rep_id = rep.me().await;
    let a = manager.contact(json!({ "first_name": "Ann" })).await;
    let b = manager.contact(json!({ "first_name": "Ben" })).await;

    let (status, body) = manager
        .post(
            "/api/v1/contacts/reassign",
            json!({ "ids": [a, b], "assigned_to": rep_id }),
        )
        .await;
    assert_eq!(
        (status, body["reassigned"].as_u64()),
        (StatusCode::OK, Some(2))
    );
    let mut own = rep.contact_ids("").await;
    own.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(own, expected);

    // Again: nothing changes hands, nothing more is audited.
    let (_, body) = manager
        .post(
            "/api/v1/contacts/reassign",
            json!({ "ids": [a, b], "assigned_to": rep_id }),
        )
        .await;
    assert_eq!(body["reassigned"], 0);
    let audited = audit_changes(&db, "contact.reassigned")
        .await
        .into_iter()
        .filter(|(_, after)| after["assigned_to"] == rep_id)
        .count();
    assert_eq!(audited, 2);

    // Only to an active member of this workspace.
    let (status, problem) = manager
        .post(
            "/api/v1/contacts/reassign",
            json!({ "ids": [a], "assigned_to": uuid::Uuid::new_v4() }),
        )
        .await;
    assert_eq!(
        (status, fields(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["assigned_to"])
    );

    // All or nothing: one id the manager cannot see refuses the whole request.
    let c = manager.contact(json!({ "first_name": "Cy" })).await;
    let (status, _) = manager
        .post(
            "/api/v1/contacts/reassign",
            json!({ "ids": [c, uuid::Uuid::new_v4()], "assigned_to": rep_id }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!rep.contact_ids("").await.contains(&c));
}

#[tokio::test]
async fn deleted_contacts_leave_lists_and_search_until_restored() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Api::sign_in(&app, "acme", "rep").await;
    let id = rep
        .contact(
            json!({ "first_name": "Temporary", "last_name": "Lead", "email": "temp@lead.example" }),
        )
        .await;
    assert_eq!(
        rep.contact_ids("?search=tempor").await,
        std::slice::from_ref(&id)
    );

    assert_eq!(
        rep.delete(&format!("/api/v1/contacts/{id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert!(rep.contact_ids("").await.is_empty());
    assert!(rep.contact_ids("?search=tempor").await.is_empty());
    assert!(rep.contact_ids("?search=temp%40").await.is_empty());
    assert_eq!(
        rep.contact_ids("?deleted=true").await,
        std::slice::from_ref(&id)
    );
    let (_, contact) = rep.get(&format!("/api/v1/contacts/{id}")).await;
    assert!(contact["deleted_at"].is_string());
    let (status, _) = rep
        .put(
            &format!("/api/v1/contacts/{id}"),
            json!({ "version": contact["version"], "first_name": "Ghost" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a deleted contact is not edited"
    );

    let (status, _) = rep
        .post(&format!("/api/v1/contacts/{id}/restore"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        rep.contact_ids("?search=tempor").await,
        std::slice::from_ref(&id)
    );
    assert!(rep.contact_ids("?deleted=true").await.is_empty());
}

#[tokio::test]
async fn search_finds_by_name_email_phone_and_company_and_forgives_typos() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let (_, org) = manager
        .post("/api/v1/organizations", json!({ "name": "Initech" }))
        .await;
    let peter = manager
        .contact(
            json!({ "first_name": "Peter", "last_name": "Gibbons", "email": "pg@initech.example",
                         "phone": "+1 (512) 555-0101", "organization_id": org["id"] }),
        )
        .await;
    let milton = manager
        .contact(json!({ "first_name": "Milton", "last_name": "Waddams", "email": "red.stapler@basement.example" }))
        .await;

    for (search, expected) in [
        ("pet", vec![peter.clone()]),
        ("GIBB", vec![peter.clone()]),
        ("peter gib", vec![peter.clone()]),
        ("red.stap", vec![milton.clone()]),
        ("+1 (512) 55", vec![peter.clone()]),
        ("initech", vec![peter.clone()]),
        ("w", vec![milton.clone()]),
        ("zz", vec![]),
    ] {
        let (status, page) = manager
            .get(&format!("/api/v1/contacts?search={}", urlencode(search)))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ids(&page), expected, "search {search:?}");
        assert_eq!(page["similar"], false);
    }
    let (_, page) = manager.get("/api/v1/contacts?search=Miltno").await;
    assert_eq!(
        (ids(&page), page["similar"].as_bool()),
        (vec![milton], Some(true))
    );
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B")
        .replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29")
}

#[tokio::test]
async fn lists_are_pages_of_25_by_default_and_100_at_most() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    for i in 0..30 {
        manager
            .contact(json!({ "first_name": format!("Person{i:02}"), "last_name": "Paged" }))
            .await;
    }
    let (_, first) = manager.get("/api/v1/contacts").await;
    assert_eq!(ids(&first).len(), 25);
    let next = first["next"].as_str().unwrap();
    let (_, second) = manager.get(&format!("/api/v1/contacts?after={next}")).await;
    assert_eq!(ids(&second).len(), 5);
    assert_eq!(second["next"], Value::Null);
    let mut all = ids(&first);
    all.extend(ids(&second));
    all.dedup();
    assert_eq!(all.len(), 30, "no row twice, none lost");
    let (_, big) = manager.get("/api/v1/contacts?limit=1000").await;
    assert_eq!(ids(&big).len(), 30);
    let (_, one) = manager.get("/api/v1/contacts?limit=1").await;
    assert_eq!(ids(&one).len(), 1);
}

#[tokio::test]
async fn pages_continue_from_the_cursors_values_and_junk_cursors_are_refused_by_name() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    // Names whose keys hold the cursor's own separators come back exactly.
    let mut made = Vec::new();
    for last in ["Qq:one_1", "Qq:one_2", "Qq_two:1", "Qqé"] {
        made.push(
            manager
                .contact(json!({ "first_name": "Cursor", "last_name": last }))
                .await,
        );
    }
    let mut seen = Vec::new();
    let mut query = "?search=qq&limit=1".to_owned();
    while seen.len() < 10 {
        let (status, page) = manager.get(&format!("/api/v1/contacts{query}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => query = format!("?search=qq&limit=1&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, made, "each once, by name");

    // The next page goes on from where the page ended, even after its last row moved: an edit
    // takes the second contact to the top of the recently changed, and page two is the rest.
    let (_, first) = manager.get("/api/v1/contacts?sort=recent&limit=2").await;
    assert_eq!(ids(&first), [made[3].clone(), made[2].clone()]);
    let (status, _) = manager
        .put(
            &format!("/api/v1/contacts/{}", made[2]),
            json!({ "version": 1, "first_name": "Cursor", "last_name": "Qq_two:1", "title": "CTO" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let next = first["next"].as_str().unwrap();
    let (_, second) = manager
        .get(&format!(
            "/api/v1/contacts?sort=recent&limit=2&after={next}"
        ))
        .await;
    assert_eq!(ids(&second), [made[1].clone(), made[0].clone()]);

    // Anything but a cursor is refused by name: an id (the old form), junk, an edited cursor.
    let contact = &made[0];
    for path in [
        "/api/v1/contacts".to_owned(),
        "/api/v1/organizations".to_owned(),
        format!("/api/v1/contacts/{contact}/activities"),
    ] {
        for junk in [
            contact.as_str(),
            "junk",
            "MTprOnNtaXRoOjQy",
            &format!("{next}x"),
        ] {
            let (status, problem) = manager.get(&format!("{path}?after={junk}")).await;
            assert_eq!(
                (status, fields(&problem)),
                (StatusCode::UNPROCESSABLE_ENTITY, vec!["after"]),
                "{path}?after={junk}"
            );
        }
    }
}

#[tokio::test]
async fn activities_are_logged_listed_newest_first_and_never_edited() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let rep = Api::sign_in(&app, "acme", "rep").await;
    let contact = rep.contact(json!({ "first_name": "Client" })).await;
    let path = format!("/api/v1/contacts/{contact}/activities");

    let (status, problem) = rep
        .post(&path, json!({ "kind": "fax", "description": "" }))
        .await;
    assert_eq!(
        (status, fields(&problem)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["kind", "description"]
        )
    );
    for (kind, at) in [
        ("call", "2026-01-01T10:00:00Z"),
        ("meeting", "2026-03-01T10:00:00Z"),
        ("note", "2026-02-01T10:00:00Z"),
    ] {
        let (status, _) = rep
            .post(
                &path,
                json!({ "kind": kind, "description": format!("a {kind}"), "occurred_at": at }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, page) = rep.get(&format!("{path}?limit=2")).await;
    let kinds: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["meeting", "note"]);
    let (_, rest) = rep
        .get(&format!(
            "{path}?limit=2&after={}",
            page["next"].as_str().unwrap()
        ))
        .await;
    assert_eq!(rest["items"][0]["kind"], "call");
    assert_eq!(
        rest["items"][0]["participant_id"].as_str().unwrap(),
        rep.me().await
    );

    // No route edits an activity, and the database refuses it from the server's role.
    let activity = rest["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = rep
        .put(
            &format!("/api/v1/activities/{activity}"),
            json!({ "description": "rewritten" }),
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let mut owner = sqlx::PgConnection::connect(&db.owner_url).await.unwrap();
    let tenant: uuid::Uuid = sqlx::query_scalar("select tenant_id from activities where id = $1")
        .bind(uuid::Uuid::parse_str(&activity).unwrap())
        .fetch_one(&mut owner)
        .await
        .unwrap();
    let mut app_role = db.raw_app_connection().await;
    let mut tx = app_role.begin().await.unwrap();
    tx.execute(format!("set local app.current_tenant_id = '{tenant}'; set local app.\"current_role\" = 'admin'").as_str())
        .await
        .unwrap();
    let refused = sqlx::query("update activities set description = 'rewritten' where id = $1")
        .bind(uuid::Uuid::parse_str(&activity).unwrap())
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("permission denied"),
        "{refused}"
    );
    drop(tx);
    // Not even the schema owner: the trigger guards the content.
    let refused = sqlx::query("update activities set description = 'rewritten' where id = $1")
        .bind(uuid::Uuid::parse_str(&activity).unwrap())
        .execute(&mut owner)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("immutable"), "{refused}");

    // Deleting is the one change, and it is audited with what the activity said.
    assert_eq!(
        rep.delete(&format!("/api/v1/activities/{activity}"))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (_, rest) = rep.get(&path).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 2);
    let (before, _) = audit_changes(&db, "activity.deleted").await.remove(0);
    assert_eq!(before["description"], "a call");
}

#[tokio::test]
async fn organizations_form_a_hierarchy_without_loops() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let rep = Api::sign_in(&app, "acme", "rep").await;

    let (status, holding) = rep
        .post(
            "/api/v1/organizations",
            json!({ "name": "Umbrella Holdings", "industry": "Pharma", "size_band": "5001+",
                    "location": "Raccoon City", "website": "umbrella.example" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(holding["website"], "https://umbrella.example/");
    let holding_id = holding["id"].as_str().unwrap();
    let (status, sub) = rep
        .post(
            "/api/v1/organizations",
            json!({ "name": "Umbrella Labs", "parent_id": holding_id }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(sub["parent_name"], "Umbrella Holdings");
    let sub_id = sub["id"].as_str().unwrap();

    let (status, problem) = rep
        .post("/api/v1/organizations", json!({ "name": "umbrella LABS" }))
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (StatusCode::CONFLICT, Some("name"))
    );
    let (status, problem) = rep
        .post(
            "/api/v1/organizations",
            json!({ "name": "Bad", "size_band": "huge", "website": "javascript:alert(1)" }),
        )
        .await;
    assert_eq!(
        (status, fields(&problem)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["size_band", "website"]
        )
    );

    // The holding cannot become its own subsidiary's subsidiary, nor its own parent.
    for parent in [sub_id, holding_id] {
        let (status, problem) = rep
            .put(
                &format!("/api/v1/organizations/{holding_id}"),
                json!({ "version": 1, "name": "Umbrella Holdings", "parent_id": parent }),
            )
            .await;
        assert_eq!(
            (status, fields(&problem)),
            (StatusCode::UNPROCESSABLE_ENTITY, vec!["parent_id"])
        );
    }
    let (_, subsidiaries) = rep
        .get(&format!("/api/v1/organizations/{holding_id}/subsidiaries"))
        .await;
    assert_eq!(subsidiaries[0]["name"], "Umbrella Labs");

    // Deleting is for managers and admins; a deleted organization leaves the list.
    let path = format!("/api/v1/organizations/{sub_id}");
    assert_eq!(rep.delete(&path).await.0, StatusCode::FORBIDDEN);
    assert_eq!(manager.delete(&path).await.0, StatusCode::NO_CONTENT);
    let (_, list) = rep.get("/api/v1/organizations?name=umb").await;
    assert_eq!(ids(&list), [holding_id.to_owned()]);
    let (_, deleted) = manager.get("/api/v1/organizations?deleted=true").await;
    assert_eq!(ids(&deleted), [sub_id.to_owned()]);
    let (status, _) = manager.post(&format!("{path}/restore"), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = rep.get("/api/v1/organizations?name=umb").await;
    assert_eq!(ids(&list).len(), 2);
}

#[tokio::test]
async fn another_workspace_s_records_do_not_exist_for_you() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let acme = Api::sign_in(&app, "acme", "admin").await;
    let globex = Api::sign_in(&app, "globex", "admin").await;
    let (_, org) = acme
        .post(
            "/api/v1/organizations",
            json!({ "name": "Acme Secret Client" }),
        )
        .await;
    let org_id = org["id"].as_str().unwrap();
    let contact = acme
        .contact(json!({ "first_name": "Secret", "email": "secret@acme-client.example", "organization_id": org_id }))
        .await;

    for path in [
        format!("/api/v1/contacts/{contact}"),
        format!("/api/v1/contacts/{contact}/activities"),
        format!("/api/v1/organizations/{org_id}"),
        format!("/api/v1/organizations/{org_id}/subsidiaries"),
        format!("/api/v1/organizations/{org_id}/activities"),
    ] {
        let (status, body) = globex.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!body.to_string().contains("Secret"), "{path}");
    }
    assert_eq!(
        globex
            .delete(&format!("/api/v1/contacts/{contact}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = globex
        .post(
            "/api/v1/contacts",
            json!({ "first_name": "Hop", "organization_id": org_id }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no linking to another tenant's organization"
    );
    let (_, page) = globex.get("/api/v1/contacts?search=secret").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    let (_, page) = globex.get("/api/v1/organizations?name=acme").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);

    // Acme's token on globex's host is refused outright.
    let (status, _) = Api {
        app: &app,
        slug: "globex",
        token: acme.token.clone(),
    }
    .get("/api/v1/contacts")
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn custom_fields_are_defined_by_admins_and_checked_on_every_write() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let admin = Api::sign_in(&app, "acme", "admin").await;
    let rep = Api::sign_in(&app, "acme", "rep").await;

    for (label, kind, options) in [
        ("LinkedIn profile", "url", json!([])),
        ("Seats", "number", json!([])),
        ("Tier", "select", json!(["Gold", "Silver"])),
        ("Renewal", "date", json!([])),
    ] {
        let (status, body) = admin
            .post(
                "/api/v1/custom-fields",
                json!({ "entity": "contact", "label": label, "kind": kind, "options": options }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _) = rep
        .post(
            "/api/v1/custom-fields",
            json!({ "entity": "contact", "label": "Mine", "kind": "text" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, problem) = admin
        .post(
            "/api/v1/custom-fields",
            json!({ "entity": "contact", "label": "Seats", "kind": "text" }),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (StatusCode::CONFLICT, Some("key"))
    );
    let (status, problem) = admin
        .post(
            "/api/v1/custom-fields",
            json!({ "entity": "invoice", "label": "", "kind": "select", "options": [] }),
        )
        .await;
    assert_eq!(
        (status, fields(&problem)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["entity", "label", "key", "options"]
        )
    );
    let (_, definitions) = rep.get("/api/v1/custom-fields?entity=contact").await;
    let keys: Vec<_> = definitions
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["linkedin_profile", "seats", "tier", "renewal"]);

    let (status, problem) = rep
        .post(
            "/api/v1/contacts",
            json!({ "first_name": "Cy", "custom_fields": {
                "seats": "lots", "tier": "Bronze", "renewal": "soon", "linkedin_profile": "ftp://x.example",
                "favourite_colour": "blue" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut refused = fields(&problem);
    refused.sort();
    assert_eq!(
        refused,
        [
            "custom_fields.favourite_colour",
            "custom_fields.linkedin_profile",
            "custom_fields.renewal",
            "custom_fields.seats",
            "custom_fields.tier"
        ]
    );

    let (status, contact) = rep
        .post(
            "/api/v1/contacts",
            json!({ "first_name": "Cy", "custom_fields": {
                "seats": 12, "tier": "Gold", "renewal": "2027-03-01",
                "linkedin_profile": "linkedin.example/in/cy" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    assert_eq!(
        contact["custom_fields"],
        json!({ "seats": 12, "tier": "Gold", "renewal": "2027-03-01",
                "linkedin_profile": "https://linkedin.example/in/cy" })
    );

    // An edit replaces the values it names (null clears one) and keeps the others; an archived
    // field's value stays in the record.
    let tier = definitions.as_array().unwrap()[2]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        admin
            .delete(&format!("/api/v1/custom-fields/{tier}"))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let id = contact["id"].as_str().unwrap();
    let (status, saved) = rep
        .put(
            &format!("/api/v1/contacts/{id}"),
            json!({ "version": 1, "first_name": "Cy",
                     "custom_fields": { "seats": "3", "renewal": null } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        saved["custom_fields"],
        json!({ "seats": 3, "tier": "Gold",
                "linkedin_profile": "https://linkedin.example/in/cy" })
    );
    let (status, saved) = rep
        .put(
            &format!("/api/v1/contacts/{id}"),
            json!({ "version": 2, "first_name": "Cyril" }),
        )
        .await;
    assert_eq!(
        (status, &saved["custom_fields"]["seats"]),
        (StatusCode::OK, &json!(3)),
        "an edit without custom fields keeps them: {saved}"
    );
    let (status, problem) = rep
        .put(
            &format!("/api/v1/contacts/{id}"),
            json!({ "version": 3, "first_name": "Cy", "custom_fields": { "tier": "Silver" } }),
        )
        .await;
    assert_eq!(
        (status, fields(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["custom_fields.tier"]),
        "an archived field takes no new values"
    );

    // Organizations have their own.
    admin
        .post(
            "/api/v1/custom-fields",
            json!({ "entity": "organization", "label": "Founded", "kind": "date" }),
        )
        .await;
    let (status, org) = rep
        .post(
            "/api/v1/organizations",
            json!({ "name": "Old Co", "custom_fields": { "founded": "1899-10-01" } }),
        )
        .await;
    assert_eq!(
        (status, org["custom_fields"]["founded"].as_str()),
        (StatusCode::CREATED, Some("1899-10-01"))
    );
    let (status, _) = rep
        .post(
            "/api/v1/organizations",
            json!({ "name": "Odd Co", "custom_fields": { "seats": 3 } }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "contact fields are not organization fields"
    );
}

#[tokio::test]
async fn organizations_are_filtered_by_size_and_sorted_by_name_or_last_change() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let mut ids = Vec::new();
    for (name, size) in [
        ("Zeta Small", "11-50"),
        ("Alpha Big", "5001+"),
        ("Mid Small", "11-50"),
    ] {
        let (status, org) = manager
            .post(
                "/api/v1/organizations",
                json!({ "name": name, "size_band": size }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{org}");
        ids.push(org["id"].as_str().unwrap().to_owned());
    }
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect()
    };

    let (_, page) = manager.get("/api/v1/organizations?size=11-50").await;
    assert_eq!(names(&page), ["Mid Small", "Zeta Small"]);

    // An edit moves an organization to the top of the recently changed.
    let (status, _) = manager
        .put(
            &format!("/api/v1/organizations/{}", ids[0]),
            json!({ "version": 1, "name": "Zeta Small", "size_band": "11-50", "industry": "Retail" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = manager
        .get("/api/v1/organizations?sort=recent&limit=2")
        .await;
    assert_eq!(names(&page), ["Zeta Small", "Mid Small"]);
    let next = page["next"].as_str().expect("a next page");
    let (_, rest) = manager
        .get(&format!(
            "/api/v1/organizations?sort=recent&limit=2&after={next}"
        ))
        .await;
    assert_eq!(
        names(&rest)[0],
        "Alpha Big",
        "the next page goes on from the cursor"
    );
    let (_, page) = manager
        .get("/api/v1/organizations?sort=recent&size=11-50&name=mid")
        .await;
    assert_eq!(names(&page), ["Mid Small"]);

    for bad in ["sort=newest", "size=huge"] {
        let (status, problem) = manager.get(&format!("/api/v1/organizations?{bad}")).await;
        let field = bad.split('=').next().unwrap();
        assert_eq!(
            (status, fields(&problem)),
            (StatusCode::UNPROCESSABLE_ENTITY, vec![field])
        );
    }
}

#[tokio::test]
async fn contacts_sort_by_last_change_for_managers_and_reps_alike() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Api::sign_in(&app, "acme", "rep").await;
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let older = rep
        .contact(json!({ "first_name": "Aaron", "last_name": "Older" }))
        .await;
    let newer = rep
        .contact(json!({ "first_name": "Zed", "last_name": "Newer" }))
        .await;
    let managers = manager
        .contact(json!({ "first_name": "Mia", "last_name": "Managed" }))
        .await;

    // Editing the older contact brings it to the top.
    let (status, _) = rep
        .put(
            &format!("/api/v1/contacts/{older}"),
            json!({ "version": 1, "first_name": "Aaron", "last_name": "Older", "title": "CTO" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        rep.contact_ids("?sort=recent&limit=2").await,
        [older.clone(), newer.clone()]
    );
    let mut everyone = manager.contact_ids("?sort=recent&limit=3").await;
    assert_eq!(everyone.remove(0), older);
    assert!(everyone.contains(&managers) && everyone.contains(&newer));

    // The rep's pages go on from the cursor, and never include another member's contact.
    let mut seen = Vec::new();
    let mut query = "?sort=recent&limit=2".to_owned();
    loop {
        let (_, page) = rep.get(&format!("/api/v1/contacts{query}")).await;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => query = format!("?sort=recent&limit=2&after={next}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no contact twice");
    assert!(!seen.contains(&managers));
    assert_eq!(seen.len(), rep.contact_ids("?limit=100").await.len());

    let (status, problem) = rep.get("/api/v1/contacts?sort=oldest").await;
    assert_eq!(
        (status, fields(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["sort"])
    );
}
