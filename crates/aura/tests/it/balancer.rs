//! Two `aura serve` processes behind nginx on loopback, sharing the database and Redis
//! (issue 17), with the nginx configuration `scripts/balancer/balancer.sh` uses: a token issued
//! by one server works on the other, the rate limit counts across both, and a rolling restart
//! (SIGTERM one, start it again, then the other) under load through nginx loses no request.
//! Needs nginx and `AURA_TEST_REDIS_URL`; under `CI=true` their absence fails the test.

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aura_platform::db::testing::{scratch_folder, TestDatabase};
use aura_platform::demo::DEMO_PASSWORD;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{aura_command, demo_database, exit_of, free_port, ready};

const JWT_SECRET: &str = "the balancer test's token secret, shared by both";
/// Low enough to reach in a second, high enough for the load's members.
const LIMIT: u64 = 300;

/// `aura serve` on `port`, configured as `balancer.sh` configures it; its output to `log`.
async fn server(db: &TestDatabase, port: u16, nginx: u16, redis: &str, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = aura_command()
        .env("AURA_DATABASE_URL", &db.owner_url)
        .env("AURA_APP_DATABASE_URL", &db.app_url)
        .env("AURA_LISTEN", format!("127.0.0.1:{port}"))
        .env("AURA_PUBLIC_URL", format!("http://localhost:{nginx}"))
        .env("AURA_JWT_SECRET", JWT_SECRET)
        .env("AURA_REDIS_URL", redis)
        .env("AURA_TRUSTED_PROXIES", "127.0.0.1")
        .env("AURA_RATE_LIMIT_PER_MINUTE", LIMIT.to_string())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    ready(port, Duration::from_secs(30)).await;
    child
}

/// SIGTERM, and the exit once the requests in flight are answered.
async fn stop(child: &mut Child) {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert!(exit_of(child).await.success());
}

/// A request to acme through `port` (nginx or a server), with acme's host as nginx passes it.
fn to_acme(
    client: &reqwest::Client,
    method: reqwest::Method,
    port: u16,
    nginx: u16,
    path: &str,
) -> reqwest::RequestBuilder {
    client
        .request(method, format!("http://127.0.0.1:{port}{path}"))
        .header(header::HOST, format!("acme.localhost:{nginx}"))
}

async fn token(client: &reqwest::Client, port: u16, nginx: u16, who: &str) -> String {
    let response = to_acme(
        client,
        reqwest::Method::POST,
        port,
        nginx,
        "/api/v1/auth/token",
    )
    .json(&json!({ "email": format!("{who}@acme.example"), "password": DEMO_PASSWORD }))
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn contacts(client: &reqwest::Client, port: u16, nginx: u16, token: &str) -> StatusCode {
    to_acme(
        client,
        reqwest::Method::GET,
        port,
        nginx,
        "/api/v1/contacts?limit=5",
    )
    .bearer_auth(token)
    .send()
    .await
    .map_or(StatusCode::BAD_GATEWAY, |r| r.status())
}

#[tokio::test]
async fn two_servers_behind_nginx_share_sessions_and_limits_and_restart_without_losing_a_request() {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let redis = std::env::var("AURA_TEST_REDIS_URL");
    let nginx_installed = std::process::Command::new("nginx")
        .arg("-v")
        .output()
        .is_ok();
    let (Ok(redis), true) = (redis, nginx_installed) else {
        assert!(!ci, "CI=true but nginx or AURA_TEST_REDIS_URL is missing");
        eprintln!("skipped: needs nginx and AURA_TEST_REDIS_URL");
        return;
    };
    let db = demo_database().await;
    let dir = scratch_folder();
    let (nginx, first, second) = (free_port(), free_port(), free_port());
    let logs = [dir.path().join("aura-0.log"), dir.path().join("aura-1.log")];
    let mut servers = [
        server(&db, first, nginx, &redis, &logs[0]).await,
        server(&db, second, nginx, &redis, &logs[1]).await,
    ];
    let config = include_str!("../../../../scripts/balancer/nginx.conf.template")
        .replace("@DIR@", &dir.path().display().to_string())
        .replace("@PORT@", &nginx.to_string())
        .replace("@FIRST@", &first.to_string())
        .replace("@SECOND@", &second.to_string());
    let config_path = dir.path().join("nginx.conf");
    std::fs::write(&config_path, config).unwrap();
    let error_log = dir.path().join("error.log");
    let mut balancer = std::process::Command::new("nginx")
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(&error_log)
        .arg("-c")
        .arg(&config_path)
        .args(["-g", "daemon off;"])
        .spawn()
        .unwrap();
    ready(nginx, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();

    // Signed in on one server, used on the other and through nginx.
    let admin = token(&client, first, nginx, "admin").await;
    assert_eq!(
        contacts(&client, second, nginx, &admin).await,
        StatusCode::OK
    );
    assert_eq!(
        contacts(&client, nginx, nginx, &admin).await,
        StatusCode::OK
    );

    // One count across both servers: the admin has used 2 of the minute's requests.
    let mut allowed = 2;
    for n in 0..LIMIT {
        let port = if n % 2 == 0 { first } else { second };
        match contacts(&client, port, nginx, &admin).await {
            StatusCode::OK => allowed += 1,
            StatusCode::TOO_MANY_REQUESTS => break,
            other => panic!("{other}"),
        }
    }
    assert_eq!(
        allowed, LIMIT,
        "the limit counts the requests of both servers"
    );
    assert_eq!(
        contacts(&client, nginx, nginx, &admin).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Load through nginx, then a rolling restart under it.
    let stop_load = Arc::new(AtomicBool::new(false));
    let (sent, lost) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut load = Vec::new();
    for who in ["manager", "rep", "rep2"] {
        let member = token(&client, nginx, nginx, who).await;
        let (client, stop_load, sent, lost) = (
            client.clone(),
            Arc::clone(&stop_load),
            Arc::clone(&sent),
            Arc::clone(&lost),
        );
        load.push(tokio::spawn(async move {
            while !stop_load.load(Ordering::Relaxed) {
                let status = contacts(&client, nginx, nginx, &member).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if status != StatusCode::OK {
                    lost.fetch_add(1, Ordering::Relaxed);
                    eprintln!("lost a request: {status}");
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = sent.load(Ordering::Relaxed);
    for (index, port) in [first, second].into_iter().enumerate() {
        stop(&mut servers[index]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        servers[index] = server(&db, port, nginx, &redis, &logs[index]).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_load.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let (sent, lost) = (sent.load(Ordering::Relaxed), lost.load(Ordering::Relaxed));
    assert!(
        sent - before > 20,
        "the load ran through the restart: {sent}"
    );
    assert_eq!(lost, 0, "{lost} of {sent} requests failed");
    // nginx did meet a stopped server, and sent those requests to the other one.
    let errors = std::fs::read_to_string(&error_log).unwrap();
    assert!(errors.contains("while connecting to upstream"), "{errors}");

    kill(Pid::from_raw(balancer.id() as i32), Signal::SIGQUIT).unwrap();
    balancer.wait().unwrap();
    for server in &mut servers {
        stop(server).await;
    }
}
