//! A bounded soak: the `aura serve` process under two minutes of mixed traffic from every demo
//! member of both workspaces (lists, searches, reads, creates, edits, activities, pages), each
//! paced under the per-user rate limit. Not one answer may be a 5xx or a 429, and the server's
//! resident memory must stay flat once warm.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_platform::demo::DEMO_PASSWORD;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{demo_database, exit_of, serving};

const DURATION: Duration = Duration::from_secs(120);
/// Between two requests of one member: about 85 a minute, under the limit of 100.
const PACE: Duration = Duration::from_millis(700);

/// The server's resident set size in KiB, from /proc.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// One member's traffic until `running` turns false: the statuses they got.
async fn member(
    client: reqwest::Client,
    base: String,
    email: String,
    running: Arc<AtomicBool>,
) -> Vec<(String, StatusCode)> {
    let token: Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({ "email": email, "password": DEMO_PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    let mut mine: Option<(String, i64)> = None;
    let mut n = 0u64;
    while running.load(Ordering::Relaxed) {
        n += 1;
        let (method, path, body) = match n % 6 {
            0 => (Method::GET, "/api/v1/contacts".to_owned(), None),
            1 => (
                Method::GET,
                format!(
                    "/api/v1/contacts?search={}",
                    ["an", "da", "m", "x"][(n % 4) as usize]
                ),
                None,
            ),
            2 => (Method::GET, "/api/v1/organizations".to_owned(), None),
            3 => (
                Method::POST,
                "/api/v1/contacts".to_owned(),
                Some(json!({ "first_name": format!("Soak {n}"), "last_name": email.clone() })),
            ),
            4 => match &mine {
                Some((id, version)) => (
                    Method::PUT,
                    format!("/api/v1/contacts/{id}"),
                    Some(
                        json!({ "version": version, "first_name": format!("Soak {n}"),
                                 "title": "Edited" }),
                    ),
                ),
                None => (Method::GET, "/api/v1/me".to_owned(), None),
            },
            _ => match &mine {
                Some((id, _)) => (
                    Method::POST,
                    format!("/api/v1/contacts/{id}/activities"),
                    Some(json!({ "kind": "note", "description": format!("Soak note {n}") })),
                ),
                None => (
                    Method::GET,
                    "/api/v1/custom-fields?entity=contact".to_owned(),
                    None,
                ),
            },
        };
        let mut request = client
            .request(method.clone(), format!("{base}{path}"))
            .bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() && answer["version"].is_i64() {
            mine = Some((
                answer["id"].as_str().unwrap().to_owned(),
                answer["version"].as_i64().unwrap(),
            ));
        }
        statuses.push((format!("{method} {path}"), status));
        tokio::time::sleep(PACE).await;
    }
    statuses
}

#[tokio::test]
async fn two_minutes_of_mixed_traffic_without_a_5xx_and_with_flat_memory() {
    let db = demo_database().await;
    let (mut child, port) = serving(&db).await;
    // The access log goes to stdout: keep the pipe drained or the server would block on it.
    let mut logs = child.stdout.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut logs, &mut std::io::sink()));
    let mut errors = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        errors.read_to_string(&mut text).ok();
        text
    });

    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let client = reqwest::Client::builder()
        .resolve("acme.localhost", address)
        .resolve("globex.localhost", address)
        .build()
        .unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let mut members = tokio::task::JoinSet::new();
    for slug in ["acme", "globex"] {
        for who in ["admin", "manager", "rep", "rep2"] {
            members.spawn(member(
                client.clone(),
                format!("http://{slug}.localhost:{port}"),
                format!("{who}@{slug}.example"),
                running.clone(),
            ));
        }
    }

    // Memory after a warm-up, then every ten seconds.
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let warm = resident_kib(child.id());
    let mut samples = vec![warm];
    while started.elapsed() < DURATION {
        tokio::time::sleep(Duration::from_secs(10)).await;
        samples.push(resident_kib(child.id()));
    }
    running.store(false, Ordering::Relaxed);
    let mut statuses = Vec::new();
    while let Some(done) = members.join_next().await {
        statuses.extend(done.unwrap());
    }

    assert!(statuses.len() > 1000, "only {} requests", statuses.len());
    let failed: Vec<_> = statuses
        .iter()
        .filter(|(_, s)| s.is_server_error() || *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(
        failed.is_empty(),
        "{} bad answers: {failed:?}",
        failed.len()
    );
    let successes = statuses.iter().filter(|(_, s)| s.is_success()).count();
    assert!(
        successes * 10 >= statuses.len() * 9,
        "mostly successes: {successes} of {}",
        statuses.len()
    );
    let last = *samples.last().unwrap();
    // Caches and pools settle during the warm-up; a leak keeps climbing after it.
    assert!(
        last < warm + warm / 5 + 8 * 1024,
        "resident memory grew from {warm} KiB to {last} KiB: {samples:?}"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = exit_of(&mut child).await;
    assert!(
        status.success(),
        "exit status {status}: {}",
        stderr.join().unwrap()
    );
}
