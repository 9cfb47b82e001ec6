//! NFR-R4: a lost database is a 503 with a friendly message, the server recovers by itself, and
//! no acknowledged write is lost.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_platform::db::embedded::EmbeddedCluster;
use aura_platform::db::testing::scratch_folder;
use aura_platform::db::{migrate, AppPool, OwnerPool, PoolSettings, APP_ROLE};
use aura_platform::demo;
use aura_web::rate_limit::RateLimiter;
use reqwest::header;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{api_token, TestApp};

/// A migrated cluster of the test's own in `folder` (the test stops it), the owner's pool on
/// it, and a pool for the server that gives up on a connection after a second.
async fn private_cluster(folder: &Path) -> (EmbeddedCluster, OwnerPool, AppPool) {
    let folder = folder.join("data");
    let cluster = tokio::task::spawn_blocking(move || EmbeddedCluster::start(&folder, None))
        .await
        .unwrap()
        .expect("start a private cluster");
    let owner = OwnerPool::connect(&cluster.owner_url("postgres"))
        .await
        .unwrap();
    migrate(&owner, None).await.unwrap();
    let settings = PoolSettings {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(1),
    };
    let pool = AppPool::connect_lazy(&cluster.url(APP_ROLE, "postgres"), settings).unwrap();
    (cluster, owner, pool)
}

#[tokio::test]
async fn the_server_answers_503_while_the_database_is_down_and_recovers_by_itself() {
    let dir = scratch_folder();
    let (cluster, owner, pool) = private_cluster(dir.path()).await;
    owner.close().await;
    let app = TestApp::builder().serve(pool).await;
    let ready = || app.client.get(app.url("/readyz")).send();
    assert_eq!(ready().await.unwrap().status(), 200);

    let cluster = tokio::task::spawn_blocking(move || cluster.stop().map(|()| cluster))
        .await
        .unwrap()
        .expect("stop the cluster");

    let response = ready().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "database_unavailable");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("try again"), "{detail}");
    assert!(
        !detail.to_lowercase().contains("sqlx") && !detail.contains("socket"),
        "{detail}"
    );

    let page = app
        .client
        .get(app.url("/readyz"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Aura is briefly unavailable"));

    // The process itself stays healthy: no restart loop while the database is away.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let cluster = tokio::task::spawn_blocking(move || cluster.restart().map(|()| cluster))
        .await
        .unwrap()
        .expect("restart the cluster");
    let back = Instant::now();
    loop {
        if ready().await.unwrap().status() == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "not recovered 5 s after the database returned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap()
        .unwrap();
}

/// NFR-R4 under load: managers keep creating and listing contacts while PostgreSQL is stopped
/// for ten seconds. Meanwhile every answer is a 503 problem (never another 5xx, never a hang);
/// within five seconds of the database's return writes succeed again; and every contact whose
/// creation was acknowledged with 201 is in the database afterwards.
#[tokio::test]
async fn acknowledged_writes_survive_an_outage_under_load() {
    let dir = scratch_folder();
    let (cluster, owner, pool) = private_cluster(dir.path()).await;
    demo::seed(&owner).await.unwrap();
    let app = TestApp::builder()
        .limiter(RateLimiter::local().with_limit(u64::MAX))
        .serve(pool)
        .await;
    let token = api_token(&app, "acme", "manager@acme.example").await;

    let running = Arc::new(AtomicBool::new(true));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..4 {
        let (http, running, token) = (app.client.clone(), running.clone(), token.clone());
        let contacts = app.workspace_url("acme", "/api/v1/contacts");
        clients.spawn(async move {
            // (when, status) of every answer, and the ids of acknowledged contacts.
            let (mut answers, mut acknowledged) = (Vec::new(), Vec::new());
            let mut n = 0;
            while running.load(Ordering::Relaxed) {
                n += 1;
                let created = http
                    .post(&contacts)
                    .bearer_auth(&token)
                    .json(&json!({ "first_name": format!("Load {client}-{n}") }))
                    .send()
                    .await
                    .expect("the server stays up");
                let status = created.status();
                let body: Value = created.json().await.expect("a complete JSON answer");
                if status == StatusCode::CREATED {
                    acknowledged.push(body["id"].as_str().unwrap().to_owned());
                } else {
                    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
                    assert_eq!(body["code"], "database_unavailable");
                }
                answers.push((Instant::now(), status));
                let listed = http
                    .get(&contacts)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("the server stays up");
                let status = listed.status();
                assert!(
                    status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
                    "a list got {status}"
                );
                answers.push((Instant::now(), status));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (answers, acknowledged)
        });
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    let cluster = tokio::task::spawn_blocking(move || cluster.stop().map(|()| cluster))
        .await
        .unwrap()
        .expect("stop the cluster");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let cluster = tokio::task::spawn_blocking(move || cluster.restart().map(|()| cluster))
        .await
        .unwrap()
        .expect("restart the cluster");
    let back = Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    running.store(false, Ordering::Relaxed);

    let (mut answers, mut acknowledged) = (Vec::new(), Vec::new());
    while let Some(result) = clients.join_next().await {
        let (a, ids) = result.unwrap();
        answers.extend(a);
        acknowledged.extend(ids);
    }
    let unavailable = answers
        .iter()
        .filter(|(_, s)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(
        unavailable > 10,
        "the outage was felt: {unavailable} answers of 503"
    );
    let first_success_after = answers
        .iter()
        .filter(|(at, s)| *at > back && s.is_success())
        .map(|(at, _)| *at)
        .min()
        .expect("requests succeed again");
    assert!(
        first_success_after - back < Duration::from_secs(5),
        "served again {:?} after the database returned",
        first_success_after - back
    );
    assert!(answers
        .iter()
        .any(|(at, s)| *at > first_success_after && s.is_success()));

    let stored: Vec<String> =
        sqlx::query_scalar("select id::text from contacts where id::text = any($1)")
            .bind(&acknowledged)
            .fetch_all(owner.pool())
            .await
            .unwrap();
    assert!(
        acknowledged.len() > 20,
        "writes were acknowledged: {}",
        acknowledged.len()
    );
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "an acknowledged write was lost"
    );
    owner.close().await;
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap()
        .unwrap();
}
