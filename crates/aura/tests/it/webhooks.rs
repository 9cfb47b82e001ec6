//! Webhooks (issue 14) end to end: an admin registers an endpoint, a record changes, and a
//! receiver in the test gets the signed event from the server's delivery worker. Retries,
//! switching off, SSRF refusals, isolation between workspaces, and two servers sharing the work.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aura_platform::db::testing::TestDatabase;
use aura_platform::webhooks::worker::WorkerSettings;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::{seed_process, Api, Member, TestApp};

/// What a receiver got: the Standard Webhooks headers and the body.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// Verifies the signature as a receiver would, with its own HMAC (not Aura's code).
    fn verify(&self, secret: &str) {
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}.{}", self.id, self.timestamp, self.body).as_bytes());
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(self.signature, expected, "the signature verifies");
        let sent: i64 = self.timestamp.parse().unwrap();
        assert!(
            (chrono::Utc::now().timestamp() - sent).abs() < 300,
            "a fresh timestamp"
        );
    }
}

/// A webhook receiver on 127.0.0.1: records every request and answers the statuses in `script`
/// in turn, then 200.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: Vec<u16>) -> Self {
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.into_iter()));
        let record = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let record = record.clone();
                let script = script.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    record.lock().unwrap().push(Received {
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        body,
                    });
                    let status = script.lock().unwrap().next().unwrap_or(200);
                    AxumStatus::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests arrived (at most 20 s), and answers them all.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= count {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "expected {count} requests, got {}: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A worker that polls and retries in milliseconds.
fn quick_worker() -> WorkerSettings {
    WorkerSettings {
        poll: Duration::from_millis(50),
        retry_base: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        ..WorkerSettings::default()
    }
}

async fn app_with_local_receivers(worker: WorkerSettings) -> (TestApp, TestDatabase) {
    TestApp::builder()
        .demo()
        .webhook_allow(&["127.0.0.0/8"])
        .webhook_worker(worker)
        .spawn()
        .await
}

/// Registers an endpoint as the workspace's admin; answers its id and secret.
async fn register(admin: &Member<'_>, url: &str, events: &[&str]) -> (String, String) {
    let mut form = vec![("url", url), ("description", "Test receiver")];
    form.extend(events.iter().map(|e| ("event_types", *e)));
    let response = admin.submit("/settings/webhooks", &form).await;
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "the secret's page is not cached"
    );
    let status = response.status();
    let html = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{html}");
    let secret = html
        .split("<code id=\"webhook-secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret is shown")
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = html
        .split("href=\"/settings/webhooks/")
        .last()
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    (id, secret)
}

async fn delivery_rows(db: &TestDatabase, endpoint: &str) -> Vec<(String, i32, Option<i32>)> {
    sqlx::query_as(
        "select status, attempts, response_code from webhook_deliveries
         where endpoint_id = $1::uuid order by created_at",
    )
    .bind(endpoint)
    .fetch_all(&db.owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_won_deal_reaches_a_local_receiver_signed() {
    let (app, db) = app_with_local_receivers(quick_worker()).await;
    let sales = seed_process(&db, "acme", "Sales").await;
    let receiver = Receiver::start(vec![]).await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let (endpoint, secret) = register(&admin, &receiver.url, &["deal.won"]).await;
    assert_eq!(
        crate::helpers::audited_on(&db, "webhook.created", &endpoint).await,
        1
    );
    // The app cannot read the secret back: the column is not granted.
    let mut tx = db
        .app
        .begin(admin_context(&db, "acme").await)
        .await
        .unwrap();
    let err = sqlx::query("select secret from webhook_endpoints")
        .fetch_all(tx.conn())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    drop(tx);

    let manager = Api::sign_in(&app, "acme", "manager").await;
    let deal = manager.deal(json!({ "name": "Northwind renewal" })).await;
    let id = deal["id"].as_str().unwrap();
    let (status, won) = manager
        .post(
            &format!("/api/v1/deals/{id}/stage"),
            json!({ "stage_id": sales.stage("Won"), "version": deal["version"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{won}");

    let got = receiver.wait_for(1).await;
    got[0].verify(&secret);
    let event = got[0].json();
    assert_eq!(event["type"], "deal.won", "{event}");
    assert_eq!(event["data"]["id"], id);
    assert_eq!(event["data"]["name"], "Northwind renewal");
    assert_eq!(event["data"]["stage"]["from"]["name"], "Lead");
    assert_eq!(event["data"]["stage"]["to"]["name"], "Won");
    assert!(got[0].id.starts_with("msg_"));
    // Only what the endpoint subscribed to: not the creation, not the stage change.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1);
    wait_until(|| async {
        delivery_rows(&db, &endpoint).await == [("delivered".to_owned(), 1, Some(200))]
    })
    .await;

    // The log shows it; the test event goes out too, whatever the endpoint subscribes to.
    let log = admin
        .ok_page(&format!("/settings/webhooks/{endpoint}"))
        .await;
    assert!(
        log.contains("Delivered") && log.contains("Deal won"),
        "{log}"
    );
    let sent = admin
        .submit(&format!("/settings/webhooks/{endpoint}/test"), &[])
        .await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    let got = receiver.wait_for(2).await;
    got[1].verify(&secret);
    assert_eq!(got[1].json()["type"], "webhook.test");
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_the_same_id_and_a_failing_endpoint_is_switched_off() {
    let worker = WorkerSettings {
        disable_after: 4,
        ..quick_worker()
    };
    let (app, db) = app_with_local_receivers(worker).await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let manager = Api::sign_in(&app, "acme", "manager").await;

    // Two 500s, then 200: three attempts of one message.
    let flaky = Receiver::start(vec![500, 500]).await;
    let (endpoint, secret) = register(&admin, &flaky.url, &["contact.created"]).await;
    manager
        .contact(json!({ "first_name": "Ada", "last_name": "Lovelace" }))
        .await;
    let got = flaky.wait_for(3).await;
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "one message id: {got:?}"
    );
    got[2].verify(&secret);
    assert_eq!(got[2].json()["data"]["first_name"], "Ada");
    wait_until(|| async {
        delivery_rows(&db, &endpoint).await == [("delivered".to_owned(), 3, Some(200))]
    })
    .await;

    // Always 500: switched off after 4 attempts in a row, the admins told by email.
    let broken = Receiver::start(vec![500; 100]).await;
    let (endpoint, _) = register(&admin, &broken.url, &["contact.created"]).await;
    manager.contact(json!({ "first_name": "Grace" })).await;
    wait_until(|| async {
        let enabled: bool =
            sqlx::query_scalar("select enabled from webhook_endpoints where id = $1::uuid")
                .bind(&endpoint)
                .fetch_one(&db.owner)
                .await
                .unwrap();
        !enabled
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(broken.received().len(), 4, "no attempt once switched off");
    let notices: Vec<String> = sqlx::query_scalar(
        "select to_address from email_outbox where subject = 'A webhook endpoint was switched off'",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(notices, ["admin@acme.example"]);
    let page = admin
        .ok_page(&format!("/settings/webhooks/{endpoint}"))
        .await;
    assert!(
        page.contains("Switched off after 4 failed attempts"),
        "{page}"
    );

    // Switched on again by an admin: the waiting delivery goes out.
    let on = admin
        .submit(&format!("/settings/webhooks/{endpoint}/enable"), &[])
        .await;
    assert_eq!(on.status(), StatusCode::SEE_OTHER);
    broken.wait_for(5).await;
}

#[tokio::test]
async fn internal_addresses_are_refused_at_registration_and_at_delivery() {
    // No allowed network: loopback, metadata and names resolving to loopback are refused.
    let (app, db) = TestApp::builder()
        .demo()
        .webhook_worker(quick_worker())
        .spawn()
        .await;
    let receiver = Receiver::start(vec![]).await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let port = receiver
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    for (url, says) in [
        (receiver.url.clone(), "loopback"),
        (
            "https://169.254.169.254/latest/meta-data".to_owned(),
            "link-local",
        ),
        (format!("https://localhost:{port}/hook"), "loopback"),
        ("https://10.0.0.8/hook".to_owned(), "private"),
        ("https://100.64.0.1/hook".to_owned(), "carrier-grade NAT"),
        ("https://[::1]/hook".to_owned(), "loopback"),
        ("http://93.184.215.14/hook".to_owned(), "https://"),
    ] {
        let response = admin
            .submit(
                "/settings/webhooks",
                &[("url", url.as_str()), ("event_types", "contact.created")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let html = response.text().await.unwrap();
        assert!(html.contains(says), "{url}: {html}");
        assert!(
            html.contains(&format!("value=\"{url}\"")),
            "the input is kept"
        );
    }

    // An endpoint whose name later resolves inward (planted as if DNS changed) is refused at
    // delivery: nothing reaches the receiver, and the log says why.
    let endpoint: uuid::Uuid = sqlx::query_scalar(
        "insert into webhook_endpoints (tenant_id, url, event_types, secret, created_by)
         select t.id, $1, array['contact.created'], 'whsec_' || repeat('A', 44), u.id
         from tenants t, users u where t.slug = 'acme' and u.email = 'admin@acme.example'
         returning id",
    )
    .bind(format!("https://localhost:{port}/hook"))
    .fetch_one(&db.owner)
    .await
    .unwrap();
    let manager = Api::sign_in(&app, "acme", "manager").await;
    manager.contact(json!({ "first_name": "Mallory" })).await;
    wait_until(|| async {
        let error: Option<String> = sqlx::query_scalar(
            "select error from webhook_deliveries where endpoint_id = $1 and attempts > 0",
        )
        .bind(endpoint)
        .fetch_optional(&db.owner)
        .await
        .unwrap()
        .flatten();
        error.is_some_and(|e| e.contains("refused") && e.contains("loopback"))
    })
    .await;
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn events_reach_only_their_own_workspace_s_endpoints_and_two_servers_send_each_once() {
    let (app, db) = app_with_local_receivers(quick_worker()).await;
    // A second server on the same database, with its own worker.
    let other = TestApp::builder()
        .webhook_allow(&["127.0.0.0/8"])
        .webhook_worker(quick_worker())
        .serve(db.app.clone())
        .await;
    let acme_receiver = Receiver::start(vec![]).await;
    let globex_receiver = Receiver::start(vec![]).await;
    let acme_admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let globex_admin = Member::sign_in(&other, "globex", "admin@globex.example").await;
    register(&acme_admin, &acme_receiver.url, &["contact.created"]).await;
    register(&globex_admin, &globex_receiver.url, &["contact.created"]).await;

    let acme = Api::sign_in(&app, "acme", "manager").await;
    let globex = Api::sign_in(&other, "globex", "manager").await;
    let mut acme_ids = Vec::new();
    let mut globex_ids = Vec::new();
    for n in 0..15 {
        acme_ids.push(
            acme.contact(json!({ "first_name": format!("Acme {n}") }))
                .await,
        );
        globex_ids.push(
            globex
                .contact(json!({ "first_name": format!("Globex {n}") }))
                .await,
        );
    }
    let acme_got = acme_receiver.wait_for(15).await;
    let globex_got = globex_receiver.wait_for(15).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (got, ids, receiver) in [
        (acme_got, &acme_ids, &acme_receiver),
        (globex_got, &globex_ids, &globex_receiver),
    ] {
        assert_eq!(
            receiver.received().len(),
            15,
            "each event once, by one server"
        );
        let mut seen: Vec<String> = got
            .iter()
            .map(|r| r.json()["data"]["id"].as_str().unwrap().to_owned())
            .collect();
        seen.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(seen, expected, "only the workspace's own contacts");
    }
}

/// The acme admin's tenant context, for a query as `aura_app`.
async fn admin_context(db: &TestDatabase, slug: &str) -> aura_platform::db::TenantContext {
    let (tenant, user): (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
        "select t.id, u.id from tenants t, users u
         where t.slug = $1 and u.email = 'admin@' || $1 || '.example'",
    )
    .bind(slug)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    aura_platform::db::TenantContext {
        tenant_id: tenant.into(),
        user_id: user.into(),
        role: aura_platform::ids::MemberRole::Admin,
        read_only: false,
    }
}

/// Waits (at most 20 s) until `condition` holds.
async fn wait_until<F, Fut>(condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !condition().await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the condition did not come true"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
