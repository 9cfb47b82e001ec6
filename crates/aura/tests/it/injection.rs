//! SQL injection (NFR-S): sqlmap, the Debian package, probes the search, filter and paging
//! parameters of the running server's lists, over the API and the pages, signed in as a
//! manager and as an admin. It must find nothing. Bounded: level 1, risk 1, four threads.

use std::process::Command;

use aura_platform::cursor::Cursor;
use aura_platform::db::testing::scratch_folder;
use aura_platform::demo::DEMO_PASSWORD;
use aura_web::rate_limit::RateLimiter;

use crate::helpers::{api_token, demo_database, submit_login, TestApp};

/// Runs sqlmap on `url` (on acme's host) for the parameters `params`, with `auth` as a header
/// or cookie argument, and returns its report.
fn sqlmap(port: u16, url: &str, params: &str, auth: [&str; 2]) -> String {
    let output_dir = scratch_folder();
    let output = Command::new("sqlmap")
        .args(["-u", &format!("http://127.0.0.1:{port}{url}")])
        .args(["--host", &format!("acme.localhost:{port}")])
        .args(auth)
        .args(["-p", params])
        .args(["--batch", "--level", "1", "--risk", "1", "--threads", "4"])
        .args([
            "--time-sec",
            "2",
            "--skip-waf",
            "--disable-coloring",
            "--flush-session",
        ])
        .arg(format!("--output-dir={}", output_dir.path().display()))
        .output()
        .expect("sqlmap is needed for the injection test: apt-get install sqlmap");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "sqlmap failed: {report}");
    report
}

#[tokio::test]
async fn sqlmap_finds_no_injectable_parameter_in_searches_filters_or_paging() {
    let db = demo_database().await;
    // sqlmap sends a few thousand requests: the per-user limit would only slow it down.
    let app = TestApp::builder()
        .limiter(RateLimiter::local().with_limit(u64::MAX))
        .serve(db.app.clone())
        .await;

    let bearer = format!(
        "Authorization: Bearer {}",
        api_token(&app, "acme", "manager@acme.example").await
    );
    let session = session_cookie(&app).await;
    let audit = app
        .client
        .get(app.workspace_url("acme", "/audit"))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        audit.status(),
        reqwest::StatusCode::OK,
        "the cookie alone signs sqlmap in"
    );
    let cookie = format!("Cookie: {session}");

    let (ids, port) = (uuid::Uuid::new_v4(), app.port);
    // Real cursors, so each request is a valid one for sqlmap to vary.
    let after = Cursor::text("smith anne".to_owned(), ids);
    let audit_after = Cursor::time(chrono::Utc::now(), 42_i64);
    let targets = [
        (
            format!(
                "/api/v1/contacts?search=ann&assigned_to={ids}&organization_id={ids}&deleted=false&after={after}&limit=25"
            ),
            "search,assigned_to,organization_id,deleted,after,limit",
        ),
        (
            format!("/api/v1/organizations?name=north&deleted=false&after={after}&limit=25"),
            "name,deleted,after,limit",
        ),
        // A page, through the session: the audit log's filters.
        (
            format!("/audit?action=contact.deleted&actor={ids}&after={audit_after}"),
            "action,actor,after",
        ),
        (format!("/contacts?search=ann&after={after}"), "search,after"),
    ];
    let mut reports = Vec::new();
    for (url, params) in &targets {
        let report = tokio::task::spawn_blocking({
            let header = if url.starts_with("/api/") {
                bearer.clone()
            } else {
                cookie.clone()
            };
            let (url, params) = (url.clone(), *params);
            move || sqlmap(port, &url, params, ["--headers", &header])
        })
        .await
        .unwrap();
        reports.push((url.clone(), report));
    }
    for (url, report) in &reports {
        assert!(
            !report.contains("identified the following injection point"),
            "sqlmap found an injection in {url}: {report}"
        );
        assert!(
            report.contains("do not appear to be injectable"),
            "sqlmap tested {url}: {report}"
        );
    }
}

/// Signs acme's admin in and returns their session cookie (`name=value`), for a tool that
/// keeps no cookies of its own.
async fn session_cookie(app: &TestApp) -> String {
    let browser = app.browser();
    let login = app.workspace_url("acme", "/login");
    let response = submit_login(&browser, &login, "admin@acme.example", DEMO_PASSWORD).await;
    assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
    let cookies: Vec<String> = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    assert!(!cookies.is_empty(), "signing in sets a session cookie");
    cookies.join("; ")
}
