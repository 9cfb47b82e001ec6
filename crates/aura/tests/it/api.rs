//! The JSON API's authentication: tokens, refresh, and every way a token is refused.

use aura_platform::demo::DEMO_PASSWORD;
use jsonwebtoken::{EncodingKey, Header};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{TestApp, TEST_JWT_SECRET};

async fn tokens(app: &TestApp, slug: &str, email: &str, password: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.workspace_url(slug, "/api/v1/auth/token"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn me(app: &TestApp, slug: &str, token: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.workspace_url(slug, "/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A token the server would sign, with the given claims.
fn forge(claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(TEST_JWT_SECRET),
    )
    .unwrap()
}

#[tokio::test]
async fn a_member_gets_tokens_and_the_api_knows_them() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let (status, body) = tokens(&app, "acme", "admin@acme.example", DEMO_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["token_type"].as_str(), body["expires_in"].as_u64()),
        (Some("Bearer"), Some(900))
    );
    let access = body["access_token"].as_str().unwrap();
    let (status, caller) = me(&app, "acme", access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (caller["role"].as_str(), caller["workspace_slug"].as_str()),
        (Some("admin"), Some("acme"))
    );

    for (email, password) in [
        ("admin@acme.example", "wrong"),
        ("nobody@acme.example", DEMO_PASSWORD),
        ("admin@globex.example", DEMO_PASSWORD),
    ] {
        let (status, problem) = tokens(&app, "acme", email, password).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{email}");
        assert_eq!(problem["code"], "unauthorized");
    }
}

#[tokio::test]
async fn bad_bodies_get_problem_documents() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let url = app.workspace_url("acme", "/api/v1/auth/token");
    let malformed = app
        .client
        .post(&url)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["code"],
        "malformed_body"
    );
    let not_json = app.client.post(&url).body("email=x").send().await.unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn tokens_are_refused_on_other_workspaces_forged_expired_or_after_deactivation() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let (_, body) = tokens(&app, "acme", "rep@acme.example", DEMO_PASSWORD).await;
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        me(&app, "globex", &access).await.0,
        StatusCode::UNAUTHORIZED,
        "acme's token on globex"
    );

    let (rep, acme, globex): (uuid::Uuid, uuid::Uuid, uuid::Uuid) = sqlx::query_as(
        "select (select id from users where email = 'rep@acme.example'),
                (select id from tenants where slug = 'acme'), (select id from tenants where slug = 'globex')",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = |tenant: uuid::Uuid, exp: i64| json!({ "sub": rep, "tenant_id": tenant, "role": "admin", "iat": now - 10, "exp": exp, "iss": "aura" });
    // Correctly signed, but expired; or naming globex (where the rep is no member) on globex.
    assert_eq!(
        me(&app, "acme", &forge(claims(acme, now - 1))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me(&app, "globex", &forge(claims(globex, now + 600)))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // A claimed role counts for nothing: the database's does.
    let (status, caller) = me(&app, "acme", &forge(claims(acme, now + 600))).await;
    assert_eq!(
        (status, caller["role"].as_str()),
        (StatusCode::OK, Some("sales_rep"))
    );
    // Signed with another key; tampered payload; not a token at all.
    let other_key = jsonwebtoken::encode(
        &Header::default(),
        &claims(acme, now + 600),
        &EncodingKey::from_secret(b"some other secret of thirty-two bytes!!"),
    )
    .unwrap();
    assert_eq!(
        me(&app, "acme", &other_key).await.0,
        StatusCode::UNAUTHORIZED
    );
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    assert_eq!(
        me(&app, "acme", &parts.join(".")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me(&app, "acme", "garbage").await.0,
        StatusCode::UNAUTHORIZED
    );
    let no_header = app
        .client
        .get(app.workspace_url("acme", "/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_header.status(), StatusCode::UNAUTHORIZED);

    sqlx::query("update tenant_members set deactivated_at = now() where user_id = $1")
        .bind(rep)
        .execute(&db.owner)
        .await
        .unwrap();
    assert_eq!(
        me(&app, "acme", &access).await.0,
        StatusCode::UNAUTHORIZED,
        "deactivation is immediate"
    );
    let refreshed = app
        .client
        .post(app.workspace_url("acme", "/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": body["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_refresh_token_works_once() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let (_, first) = tokens(&app, "acme", "manager@acme.example", DEMO_PASSWORD).await;
    let refresh = |token: Value| {
        app.client
            .post(app.workspace_url("acme", "/api/v1/auth/refresh"))
            .json(&json!({ "refresh_token": token }))
            .send()
    };
    let second = refresh(first["refresh_token"].clone()).await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    let second: Value = second.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(
        me(&app, "acme", second["access_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        refresh(first["refresh_token"].clone())
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED,
        "reused"
    );
    assert_eq!(
        refresh(json!("made-up")).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // On another workspace it is unknown.
    let elsewhere = app
        .client
        .post(app.workspace_url("globex", "/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": second["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_replayed_refresh_token_revokes_its_whole_family() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let refresh = |token: &Value| {
        app.client
            .post(app.workspace_url("acme", "/api/v1/auth/refresh"))
            .json(&json!({ "refresh_token": token }))
            .send()
    };
    let (_, stolen) = tokens(&app, "acme", "manager@acme.example", DEMO_PASSWORD).await;
    let (_, other_sign_in) = tokens(&app, "acme", "manager@acme.example", DEMO_PASSWORD).await;
    // The owner refreshes twice; then the thief's copy of the first token turns up.
    let second: Value = refresh(&stolen["refresh_token"])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let third = refresh(&second["refresh_token"]).await.unwrap();
    assert_eq!(third.status(), StatusCode::OK);
    let third: Value = third.json().await.unwrap();
    assert_eq!(
        refresh(&stolen["refresh_token"]).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "replayed"
    );
    assert_eq!(
        refresh(&third["refresh_token"]).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the family's newest token is revoked too"
    );
    assert_eq!(
        refresh(&other_sign_in["refresh_token"])
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "another sign-in's family is untouched"
    );
}

#[tokio::test]
async fn the_api_is_described_by_an_openapi_document() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/v1/auth/token", "/api/v1/auth/refresh", "/api/v1/me"] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
