//! API keys (issue 14): created and revoked in Settings -> API keys, accepted on their own
//! workspace's host only, attributed in the audit log, read-only enforced by the database; and
//! safe retries with `Idempotency-Key`.

use aura_platform::db::TenantContext;
use aura_platform::ids::{MemberRole, TenantId, UserId};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{api_key, audit_trail, refusal_reasons, user_id, Api, Member, TestApp};

/// The identity of the key whose secret ends with `secret`'s last four characters.
async fn key_identity(db: &aura_platform::db::testing::TestDatabase, secret: &str) -> uuid::Uuid {
    sqlx::query_scalar("select user_id from api_keys where hint = right($1, 4)")
        .bind(secret)
        .fetch_one(&db.owner)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_creates_a_key_that_works_is_attributed_and_is_revoked_at_once() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let secret = admin.create_api_key("Website form", "manager", "").await;
    assert!(
        secret.starts_with("aura_live_") && secret.len() == 53,
        "{secret}"
    );

    // Stored as a hash only; the list shows its last characters, never the secret.
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from api_keys where secret_hash = sha256(convert_to(substr($1, 11), 'UTF8'))",
    )
    .bind(&secret)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(stored, 1);
    let list = admin.ok_page("/settings/api-keys").await;
    assert!(list.contains("Website form") && list.contains(&secret[49..]));
    assert!(!list.contains(&secret) && list.contains("never used"));

    // The key acts as itself, as a manager, on acme's host.
    let key = Api::with_key(&app, "acme", &secret);
    let me = key.ok("/api/v1/me").await;
    let identity = key_identity(&db, &secret).await;
    assert_eq!(me["user_id"], identity.to_string());
    assert_eq!(me["role"], "manager");
    let rep = user_id(&db, "rep@acme.example").await;
    let contact = key
        .contact(json!({ "first_name": "Form", "last_name": "Lead", "assigned_to": rep }))
        .await;
    let created_by: uuid::Uuid =
        sqlx::query_scalar("select created_by from contacts where id = $1::uuid")
            .bind(&contact)
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(created_by, identity);
    let (status, _) = key.delete(&format!("/api/v1/contacts/{contact}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, actor) = audit_trail(&db, &contact)
        .await
        .into_iter()
        .find(|(action, _)| action == "contact.deleted")
        .expect("the deletion is audited");
    assert_eq!(
        actor,
        Some(identity),
        "the key's write is attributed to the key"
    );
    let trail = admin.ok_page("/audit").await;
    assert!(trail.contains("API key “Website form”"), "{trail}");
    let list = admin.ok_page("/settings/api-keys").await;
    assert!(list.contains("last used") && list.contains("from 127.0.0.1"));

    // Revoked: refused from the next request on, and the attempt is on the trail.
    let id: uuid::Uuid = sqlx::query_scalar("select id from api_keys where user_id = $1")
        .bind(identity)
        .fetch_one(&db.owner)
        .await
        .unwrap();
    let revoked = admin
        .submit(&format!("/settings/api-keys/{id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let (status, problem) = key.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["code"], "unauthorized");
    assert_eq!(refusal_reasons(&db, "acme").await, ["revoked_api_key"]);
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_log where action like 'api_key.%' and actor_user_id = $1 order by id",
    )
    .bind(user_id(&db, "admin@acme.example").await)
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(actions, ["api_key.created", "api_key.revoked"]);
}

#[tokio::test]
async fn only_admins_reach_the_keys_and_the_form_says_what_is_wrong() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let (status, _) = manager.page("/settings/api-keys").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let refused = manager
        .submit("/settings/api-keys", &[("name", "x"), ("role", "manager")])
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let invalid = admin
        .submit(
            "/settings/api-keys",
            &[
                ("name", " "),
                ("role", "owner"),
                ("expires_on", "2001-01-01"),
            ],
        )
        .await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = invalid.text().await.unwrap();
    assert!(html.contains("Choose what the key may do."));
    assert!(html.contains("The expiry must be today or later."));
    assert!(!html.contains("value=\"aura_live_"), "no key was made");
}

#[tokio::test]
async fn keys_are_refused_beyond_their_workspace_their_life_and_their_role() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let globex_key = api_key(&app, "globex", "manager").await;
    let reader = api_key(&app, "acme", "read_only").await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let expiring = admin
        .create_api_key("Short-lived", "manager", "2099-12-31")
        .await;

    // Another workspace's key: refused on acme's host, and acme's trail has the attempt.
    let (status, _) = Api::with_key(&app, "acme", &globex_key)
        .get("/api/v1/contacts")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(refusal_reasons(&db, "acme").await, ["other_workspace_key"]);
    assert!(refusal_reasons(&db, "globex").await.is_empty());
    // Its own host takes it.
    let (status, _) = Api::with_key(&app, "globex", &globex_key)
        .get("/api/v1/contacts")
        .await;
    assert_eq!(status, StatusCode::OK);

    // The apex serves no workspace's API: a key there reaches nothing.
    let apex = app
        .client
        .get(app.url("/api/v1/contacts"))
        .bearer_auth(&globex_key)
        .send()
        .await
        .unwrap();
    assert_eq!(apex.status(), StatusCode::NOT_FOUND);
    let apex_me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&globex_key)
        .send()
        .await
        .unwrap();
    assert_eq!(apex_me.status(), StatusCode::NOT_FOUND);

    // An expired key.
    let expiring_api = Api::with_key(&app, "acme", &expiring);
    assert_eq!(expiring_api.get("/api/v1/me").await.0, StatusCode::OK);
    sqlx::query(
        "update api_keys set expires_at = now() - interval '1 second' where hint = right($1, 4)",
    )
    .bind(&expiring)
    .execute(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        expiring_api.get("/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refusal_reasons(&db, "acme").await,
        ["other_workspace_key", "expired_api_key"]
    );

    // A forged key of the right shape, and garbage: refused, nothing to record.
    for forged in [
        "aura_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "aura_live_",
        "aura_live_'; drop table contacts; --",
    ] {
        let (status, _) = Api::with_key(&app, "acme", forged).get("/api/v1/me").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{forged}");
    }
    assert_eq!(refusal_reasons(&db, "acme").await.len(), 2);

    // A read-only key reads what a manager reads, and writes nothing.
    let reader_api = Api::with_key(&app, "acme", &reader);
    let manager = Api::sign_in(&app, "acme", "manager").await;
    manager.contact(json!({ "first_name": "Seen" })).await;
    let contacts = reader_api.all("/api/v1/contacts").await;
    assert_eq!(contacts.len(), manager.all("/api/v1/contacts").await.len());
    assert!(!contacts.is_empty());
    let some = contacts[0]["id"].as_str().unwrap().to_owned();
    let rep = user_id(&db, "rep@acme.example").await;
    let (status, problem) = reader_api
        .post(
            "/api/v1/contacts",
            json!({ "first_name": "Nope", "assigned_to": rep }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(
        reader_api
            .delete(&format!("/api/v1/contacts/{some}"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = reader_api
        .post("/api/v1/contacts", json!({ "first_name": "Nope" }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let live: i64 = sqlx::query_scalar(
        "select count(*) from contacts where first_name = 'Nope' or (id = $1::uuid and deleted_at is not null)",
    )
    .bind(&some)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(live, 0);
}

/// The database itself refuses a read-only key's writes: `aura_app` in that key's context (as
/// the server sets it) can read, cannot write, and cannot make its transaction writable again.
#[tokio::test]
async fn a_read_only_keys_context_cannot_write_in_the_database() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let reader = api_key(&app, "acme", "read_only").await;
    let identity = key_identity(&db, &reader).await;
    let tenant: uuid::Uuid = sqlx::query_scalar("select id from tenants where slug = 'acme'")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    let context = TenantContext {
        tenant_id: TenantId::from(tenant),
        user_id: UserId::from(identity),
        role: MemberRole::Manager,
        read_only: true,
    };
    let rep = user_id(&db, "rep@acme.example").await;
    sqlx::query(
        "insert into contacts (tenant_id, first_name, assigned_to) values ($1, 'Seen', $2)",
    )
    .bind(tenant)
    .bind(rep)
    .execute(&db.owner)
    .await
    .unwrap();
    let insert = "insert into contacts (tenant_id, first_name, assigned_to, created_by, updated_by)
                  values ($1, 'Sneaky', $2, $3, $3)";

    let mut tx = db.app.begin(context).await.unwrap();
    let seen: i64 = sqlx::query_scalar("select count(*) from contacts")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert!(seen > 0, "a read-only key reads the workspace");
    let refused = sqlx::query(insert)
        .bind(tenant)
        .bind(rep)
        .bind(identity)
        .execute(tx.conn())
        .await
        .unwrap_err();
    assert_eq!(
        refused
            .as_database_error()
            .and_then(|e| e.code())
            .as_deref(),
        Some("25006"),
        "{refused}"
    );
    drop(tx);

    let mut tx = db.app.begin(context).await.unwrap();
    sqlx::query("select 1").execute(tx.conn()).await.unwrap();
    let reopened = sqlx::query("set local transaction_read_only = off")
        .execute(tx.conn())
        .await;
    assert!(reopened.is_err(), "the transaction stays read-only");
    drop(tx);

    for statement in [
        "update contacts set first_name = 'Changed'",
        "delete from contacts",
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type) values (aura.current_tenant_id(), aura.current_user_id(), 'x', 'y')",
        "update api_keys set revoked_at = now()",
    ] {
        let mut tx = db.app.begin(context).await.unwrap();
        let refused = sqlx::query(statement).execute(tx.conn()).await.unwrap_err();
        assert_eq!(
            refused.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("25006"),
            "{statement}: {refused}"
        );
    }
    let sneaky: i64 = sqlx::query_scalar(
        "select count(*) from contacts where first_name in ('Sneaky', 'Changed')",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(sneaky, 0);
}

#[tokio::test]
async fn keys_count_against_the_rate_limit_each_on_its_own() {
    let (app, _db) = TestApp::builder()
        .demo()
        .limiter(aura_web::rate_limit::RateLimiter::local().with_limit(20))
        .spawn()
        .await;
    let first = api_key(&app, "acme", "read_only").await;
    let second = api_key(&app, "acme", "read_only").await;
    let first_api = Api::with_key(&app, "acme", &first);
    let mut limited = false;
    for _ in 0..21 {
        let (status, _) = first_api.get("/api/v1/me").await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "the first key reached its limit");
    let (status, _) = Api::with_key(&app, "acme", &second).get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "another key has its own count");
}

/// A POST with an `Idempotency-Key`, its status, body and whether it was replayed.
async fn idempotent_post(
    app: &TestApp,
    token: &str,
    key: &str,
    path: &str,
    body: &Value,
) -> (StatusCode, Value, bool) {
    let response = app
        .client
        .post(app.workspace_url("acme", path))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    (status, response.json().await.unwrap(), replayed)
}

async fn contacts_named(db: &aura_platform::db::testing::TestDatabase, name: &str) -> i64 {
    sqlx::query_scalar("select count(*) from contacts where first_name = $1")
        .bind(name)
        .fetch_one(&db.owner)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_creates_nothing() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let key = api_key(&app, "acme", "manager").await;
    let rep = user_id(&db, "rep@acme.example").await;
    let body = json!({ "first_name": "Once", "assigned_to": rep });

    let (status, first, replayed) =
        idempotent_post(&app, &key, "retry-1", "/api/v1/contacts", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(!replayed);
    let (status, again, replayed) =
        idempotent_post(&app, &key, "retry-1", "/api/v1/contacts", &body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(replayed);
    assert_eq!(again, first, "the first answer, again");
    assert_eq!(contacts_named(&db, "Once").await, 1);

    // The same key with another request is refused, and creates nothing.
    let other = json!({ "first_name": "Twice", "assigned_to": rep });
    let (status, problem, _) =
        idempotent_post(&app, &key, "retry-1", "/api/v1/contacts", &other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "idempotency_key_reused");
    assert_eq!(contacts_named(&db, "Twice").await, 0);

    // Keys are per principal: a member's same key is theirs, and refusals are answers too.
    let manager = Api::sign_in(&app, "acme", "manager").await;
    let (status, _, replayed) =
        idempotent_post(&app, &manager.token, "retry-1", "/api/v1/contacts", &body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!replayed);
    assert_eq!(contacts_named(&db, "Once").await, 2);
    let invalid = json!({ "first_name": "" });
    let (status, first, _) =
        idempotent_post(&app, &manager.token, "bad-1", "/api/v1/contacts", &invalid).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, again, replayed) =
        idempotent_post(&app, &manager.token, "bad-1", "/api/v1/contacts", &invalid).await;
    assert_eq!((status, replayed), (StatusCode::UNPROCESSABLE_ENTITY, true));
    assert_eq!(again, first);

    // A key that is not one is refused by name.
    let (status, problem, _) =
        idempotent_post(&app, &key, &"k".repeat(256), "/api/v1/contacts", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["code"], "invalid_idempotency_key");
}

#[tokio::test]
async fn concurrent_duplicates_create_once() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let key = api_key(&app, "acme", "manager").await;
    let body = json!({ "name": "Concurrent Ltd" });
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let request = app
            .client
            .post(app.workspace_url("acme", "/api/v1/organizations"))
            .bearer_auth(&key)
            .header("Idempotency-Key", "burst")
            .json(&body);
        requests.spawn(async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let replayed = response.headers().get("idempotent-replayed").is_some();
            (status, response.json::<Value>().await.unwrap(), replayed)
        });
    }
    let answers = requests.join_all().await;
    let ids: Vec<&Value> = answers.iter().map(|(_, body, _)| &body["id"]).collect();
    for (status, body, _) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(
        answers.iter().filter(|(_, _, replayed)| !replayed).count(),
        1
    );
    let created: i64 =
        sqlx::query_scalar("select count(*) from organizations where name = 'Concurrent Ltd'")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(created, 1);
}

#[tokio::test]
async fn the_document_names_the_idempotency_header_on_creating_posts() {
    let (app, _db) = TestApp::builder().spawn().await;
    let document: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header_of = |path: &str| {
        document["paths"][path]["post"]["parameters"]
            .as_array()
            .is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
            })
    };
    for path in [
        "/api/v1/contacts",
        "/api/v1/organizations",
        "/api/v1/deals",
        "/api/v1/products",
        "/api/v1/processes",
        "/api/v1/contacts/{id}/activities",
        "/api/v1/deals/{id}/lines",
    ] {
        assert!(header_of(path), "{path}");
    }
    assert!(!header_of("/api/v1/auth/token"));
}
