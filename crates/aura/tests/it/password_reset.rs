//! F2.3: resetting a forgotten password by emailed single-use link, signing out everywhere.

use std::time::{Duration, Instant};

use aura_platform::db::testing::TestDatabase;
use aura_platform::demo::DEMO_PASSWORD;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{csrf_token, demo_mailing_to, signed_in, Member, TestApp};

async fn request_reset(app: &TestApp, email: &str) -> String {
    let browser = app.browser();
    let token = csrf_token(
        &browser
            .get(app.url("/password-reset"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let response = browser
        .post(app.url("/password-reset"))
        .form(&[("email", email), ("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{email}");
    response.text().await.unwrap()
}

/// The newest reset message's text for `email`, once the request (done after answering) has
/// written it. `after`: the text of the message before it, if any.
async fn reset_message(db: &TestDatabase, email: &str, after: Option<&str>) -> String {
    let started = Instant::now();
    loop {
        let body: Option<String> = sqlx::query_scalar(
            "select body_text from email_outbox where to_address = $1 and subject like 'Reset%' order by created_at desc limit 1",
        )
        .bind(email)
        .fetch_optional(&db.owner)
        .await
        .unwrap();
        match body {
            Some(body) if Some(body.as_str()) != after => return body,
            _ => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no reset message for {email}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn link_in(body: &str) -> String {
    body.lines()
        .find(|l| l.contains("/password-reset/"))
        .unwrap()
        .trim()
        .to_owned()
}

async fn reset_link(db: &TestDatabase, email: &str) -> String {
    link_in(&reset_message(db, email, None).await)
}

async fn set_password(browser: &Client, link: &str, password: &str) -> reqwest::Response {
    let page = browser.get(link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "{link}");
    let token = csrf_token(&page.text().await.unwrap());
    browser
        .post(link)
        .form(&[("password", password), ("csrf_token", &token)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_request_says_the_same_whether_or_not_the_account_exists() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let known = request_reset(&app, "rep@acme.example").await;
    let unknown = request_reset(&app, "nobody@acme.example").await;
    // The answer page holds no form (and so no token): only the email differs.
    let normalise = |html: &str, email: &str| html.replace(email, "EMAIL");
    assert_eq!(
        normalise(&known, "rep@acme.example"),
        normalise(&unknown, "nobody@acme.example")
    );
    assert!(known.contains("is on its way"));
    reset_message(&db, "rep@acme.example", None).await;
    let messages: Vec<String> =
        sqlx::query_scalar("select to_address from email_outbox where subject like 'Reset%'")
            .fetch_all(&db.owner)
            .await
            .unwrap();
    assert_eq!(
        messages,
        ["rep@acme.example"],
        "only a real account gets a message"
    );
}

#[tokio::test]
async fn the_request_is_answered_before_the_account_is_looked_up_or_mailed() {
    // A mail server that accepts the connection and never speaks: sending would hang.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (app, db) = demo_mailing_to(port).await;
    for email in ["rep@acme.example", "nobody@acme.example"] {
        let answered =
            tokio::time::timeout(Duration::from_secs(5), request_reset(&app, email)).await;
        assert!(answered.is_ok(), "{email}: the answer waited for the mail");
    }
    reset_message(&db, "rep@acme.example", None).await;
    drop(silent);
}

#[tokio::test]
async fn operators_read_reset_messages_with_the_link_redacted() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    request_reset(&app, "rep@acme.example").await;
    let link = reset_link(&db, "rep@acme.example").await;
    let secret = link.rsplit('.').next().unwrap();
    let (_, outbox) = Member::operator(&app).await.page("/outbox").await;
    assert!(outbox.contains("Reset your Aura password"), "{outbox}");
    assert!(outbox.contains(".[redacted]"), "{outbox}");
    assert!(
        !outbox.contains(secret),
        "the operator sees the link's secret"
    );
}

#[tokio::test]
async fn a_new_password_signs_the_account_out_everywhere() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let web = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let tokens: Value = app
        .client
        .post(app.workspace_url("acme", "/api/v1/auth/token"))
        .json(&json!({ "email": "rep@acme.example", "password": DEMO_PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Lock the account too: a reset unlocks it.
    sqlx::query("insert into login_failures (user_id, source, failures, locked_until) select id, '127.0.0.1', 5, now() + interval '15 minutes' from users where email = 'rep@acme.example'")
        .execute(&db.owner)
        .await
        .unwrap();

    request_reset(&app, "rep@acme.example").await;
    let link = reset_link(&db, "rep@acme.example").await;
    assert!(link.starts_with(&app.url("/password-reset/")), "{link}");
    let browser = app.browser();
    let weak = set_password(&browser, &link, "short").await;
    assert_eq!(
        weak.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a weak password is refused, the link kept"
    );
    let changed = set_password(&browser, &link, "a brand new passphrase").await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(changed.headers()["location"], "/login?password_changed=1");

    assert_eq!(
        web.get(app.workspace_url("acme", "/"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER,
        "web session ended"
    );
    let me = app
        .client
        .get(app.workspace_url("acme", "/api/v1/me"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status(),
        StatusCode::UNAUTHORIZED,
        "access token revoked"
    );
    let refreshed = app
        .client
        .post(app.workspace_url("acme", "/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": tokens["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refreshed.status(),
        StatusCode::UNAUTHORIZED,
        "refresh token revoked"
    );

    // A token issued right after the change, likely in the same second, is valid.
    let fresh: Value = app
        .client
        .post(app.workspace_url("acme", "/api/v1/auth/token"))
        .json(&json!({ "email": "rep@acme.example", "password": "a brand new passphrase" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me = app
        .client
        .get(app.workspace_url("acme", "/api/v1/me"))
        .bearer_auth(fresh["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "a token issued after the change"
    );

    let reused = browser.get(&link).send().await.unwrap();
    assert_eq!(reused.status(), StatusCode::GONE, "a link works once");
    signed_in(&app, "rep@acme.example", "a brand new passphrase").await;
    let old = app.browser();
    let token = csrf_token(
        &old.get(app.workspace_url("acme", "/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let refused = old
        .post(app.workspace_url("acme", "/login"))
        .form(&[
            ("email", "rep@acme.example"),
            ("password", DEMO_PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the old password is gone"
    );
}

#[tokio::test]
async fn a_reset_spends_every_other_open_link_of_the_account() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    request_reset(&app, "rep@acme.example").await;
    let first = reset_message(&db, "rep@acme.example", None).await;
    request_reset(&app, "rep@acme.example").await;
    let second = link_in(&reset_message(&db, "rep@acme.example", Some(&first)).await);
    let first = link_in(&first);
    let browser = app.browser();
    let changed = set_password(&browser, &second, "a brand new passphrase").await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        browser.get(&first).send().await.unwrap().status(),
        StatusCode::GONE,
        "the older link died with the reset"
    );
}

#[tokio::test]
async fn a_new_password_may_not_be_made_of_the_accounts_own_words() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    sqlx::query(
        "update users set display_name = 'Quillon Zephyrine' where email = 'rep@acme.example'",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    // Her own name: strong only to someone who does not know it.
    let own_words = "quillonzephyrine";
    assert_eq!(aura_platform::password::weakness(own_words, &[]), None);
    request_reset(&app, "rep@acme.example").await;
    let link = reset_link(&db, "rep@acme.example").await;
    let browser = app.browser();
    let refused = set_password(&browser, &link, own_words).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("easy to guess"));
    let changed = set_password(&browser, &link, "a brand new passphrase").await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER, "the link was kept");
}

#[tokio::test]
async fn expired_and_forged_links_are_refused() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    request_reset(&app, "admin@acme.example").await;
    let link = reset_link(&db, "admin@acme.example").await;
    sqlx::query("update password_resets set created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'")
        .execute(&db.owner)
        .await
        .unwrap();
    assert_eq!(
        app.client.get(&link).send().await.unwrap().status(),
        StatusCode::GONE
    );
    let user_part = link
        .rsplit('/')
        .next()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    for forged in [
        "nothing".to_owned(),
        format!("{user_part}.AAAA"),
        format!("{}.{}", uuid::Uuid::new_v4(), "x".repeat(43)),
    ] {
        let response = app
            .client
            .get(app.url(&format!("/password-reset/{forged}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::GONE, "{forged}");
    }
}
