//! NFR-R4: a lost database is a 503 with a friendly message, and the server recovers by itself.

use std::time::{Duration, Instant};

use aura_platform::db::embedded::EmbeddedCluster;
use aura_platform::db::testing::scratch_folder;
use aura_platform::db::{migrate, AppPool, OwnerPool, PoolSettings, APP_ROLE};
use reqwest::header;
use serde_json::Value;

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn the_server_answers_503_while_the_database_is_down_and_recovers_by_itself() {
    // A cluster of its own, since this test stops it.
    let dir = scratch_folder();
    let folder = dir.path().join("data");
    let cluster = tokio::task::spawn_blocking(move || EmbeddedCluster::start(&folder, None))
        .await
        .unwrap()
        .expect("start a private cluster");
    let owner = OwnerPool::connect(&cluster.owner_url("postgres"))
        .await
        .unwrap();
    migrate(&owner, None).await.unwrap();
    owner.close().await;
    let settings = PoolSettings {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(1),
    };
    let pool = AppPool::connect_lazy(&cluster.url(APP_ROLE, "postgres"), settings).unwrap();
    let app = spawn_app_with(pool).await;
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
