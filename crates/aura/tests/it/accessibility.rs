//! axe-core (from npm, pinned in web/package-lock.json) in real Chromium, at 1280 and 375 px:
//! every page a crawl of a signed-in admin's and rep's workspace reaches, the public pages, and
//! the operator console (also at 320 px), with zero violations. The test injects axe's own file through WebDriver (pages load no
//! script but Aura's, by their CSP) and runs it on each page.

use std::collections::{HashSet, VecDeque};
use std::path::Path;

use aura_platform::demo::DEMO_PASSWORD;
use serde_json::Value;

use crate::browser::{poll_until, Browser, ENTER};
use crate::helpers::TestApp;

/// Pages a crawl opens at most: enough for one of each kind of page the member can reach.
const CRAWL_LIMIT: usize = 45;

/// axe-core's browser bundle, as npm installed it beside the other front-end packages.
fn axe_source() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "{} is missing ({err}): building aura-web runs `npm ci` in web/, which installs it",
            path.display()
        )
    })
}

/// axe's violations on the page open in `browser`, one readable line each.
async fn violations(browser: &Browser, axe: &str) -> Vec<String> {
    browser
        .client
        .execute(&format!("{axe}\n;return true;"), vec![])
        .await
        .expect("inject axe-core");
    let found = browser
        .client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { resultTypes: ["violations"] })
                 .then((result) => done(result.violations.map((v) =>
                   `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3)
                     .map((n) => n.target.join(" ")).join(" | ")}`)))
                 .catch((error) => done([`axe failed: ${error}`]));"#,
            vec![],
        )
        .await
        .expect("run axe-core");
    found
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// What makes two URLs the same kind of page: the path with ids as `{id}`, and the query's
/// parameter names (not their values), so the crawl sees one contact's page, not all of them.
fn kind_of(url: &reqwest::Url) -> String {
    let path: Vec<&str> = url
        .path()
        .split('/')
        .map(|segment| {
            if segment.parse::<uuid::Uuid>().is_ok() {
                "{id}"
            } else {
                segment
            }
        })
        .collect();
    let mut names: Vec<String> = url
        .query_pairs()
        .map(|(name, _)| name.into_owned())
        .collect();
    names.sort();
    names.dedup();
    format!("{}?{}", path.join("/"), names.join("&"))
}

/// The same-host links of the open page.
async fn links(browser: &Browser, origin: &reqwest::Url) -> Vec<reqwest::Url> {
    let hrefs = browser
        .run_script("return Array.from(document.querySelectorAll('a[href]'), (a) => a.href)")
        .await;
    hrefs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|href| reqwest::Url::parse(href).ok())
        .filter(|url| url.origin() == origin.origin())
        .map(|mut url| {
            url.set_fragment(None);
            url
        })
        .collect()
}

/// Opens `start` and every same-host page it leads to (one of each kind, at most
/// [`CRAWL_LIMIT`]), runs axe on each, and fails listing every violation and every error page.
async fn crawl(browser: &Browser, start: &str, skip: &[&str]) -> usize {
    let axe = axe_source();
    let start = reqwest::Url::parse(start).unwrap();
    let mut seen = HashSet::from([kind_of(&start)]);
    let mut queue = VecDeque::from([start.clone()]);
    let mut problems = Vec::new();
    let mut visited = 0;
    while let Some(url) = queue.pop_front() {
        if visited == CRAWL_LIMIT {
            break;
        }
        visited += 1;
        open_loaded(browser, url.as_str()).await;
        let heading = browser.current_text("h1").await;
        if ["Not found", "Something went wrong", "Not allowed"].contains(&heading.as_str()) {
            problems.push(format!("{}: an error page ({heading})", url.path()));
        }
        for violation in violations(browser, &axe).await {
            problems.push(format!("{}: {violation}", url.as_str()));
        }
        for link in links(browser, &start).await {
            let kind = kind_of(&link);
            if skip.iter().any(|s| link.path().starts_with(s)) || !seen.insert(kind) {
                continue;
            }
            queue.push_back(link);
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems on {visited} pages:\n{}",
        problems.len(),
        problems.join("\n")
    );
    visited
}

/// Waits until the open page has loaded, scripts and styles too.
async fn wait_for_load(browser: &Browser) {
    poll_until("a page never loaded", || async {
        browser.run_script("return document.readyState").await == "complete"
    })
    .await;
}

/// Opens `url` and waits for it to load.
async fn open_loaded(browser: &Browser, url: &str) {
    browser.open(url).await;
    wait_for_load(browser).await;
}

async fn crawl_workspace_as(email: &str, width: u32) {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let browser = Browser::signed_in_to_acme(width, &app, email).await;
    browser.expect_heading_starting("Welcome, ").await;
    // Pages that leave the workspace or end the session are not the crawl's to follow.
    let visited = crawl(
        &browser,
        &app.workspace_url("acme", "/"),
        &["/logout", "/login", "/api/"],
    )
    .await;
    assert!(visited >= 10, "the crawl reached only {visited} pages");
    browser.close().await;
}

#[tokio::test]
async fn an_admins_workspace_has_no_axe_violations_at_1280_px() {
    crawl_workspace_as("admin@acme.example", 1280).await;
}

#[tokio::test]
async fn an_admins_workspace_has_no_axe_violations_at_375_px() {
    crawl_workspace_as("admin@acme.example", 375).await;
}

#[tokio::test]
async fn a_reps_workspace_has_no_axe_violations_at_1280_px() {
    crawl_workspace_as("rep@acme.example", 1280).await;
}

#[tokio::test]
async fn a_reps_workspace_has_no_axe_violations_at_375_px() {
    crawl_workspace_as("rep@acme.example", 375).await;
}

/// Settings -> Export with an export running (its progress polled) and one ready to download:
/// states the crawl's fresh workspace never shows.
#[tokio::test]
async fn the_export_page_has_no_axe_violations_at_1280_and_375_px() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    sqlx::raw_sql(
        "insert into exports (tenant_id, format, status, requested_by, records_done,
                              records_total, current_part, bytes, attempts, lease_until,
                              started_at, finished_at, expires_at)
         select t.id, 'csv', 'done', u.id, 120, 120, null, 40960, 1, null, now(), now(),
                now() + interval '1 day'
         from tenants t, users u where t.slug = 'acme' and u.email = 'admin@acme.example';
         insert into exports (tenant_id, format, status, requested_by, records_done,
                              records_total, current_part, bytes, attempts, lease_until,
                              started_at)
         select t.id, 'jsonl', 'running', u.id, 40, 120, 'contacts', 1024, 1,
                now() + interval '1 hour', now()
         from tenants t, users u where t.slug = 'acme' and u.email = 'admin@acme.example';",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    for width in [1280, 375] {
        let browser = Browser::signed_in_to_acme(width, &app, "admin@acme.example").await;
        browser.expect_heading_starting("Welcome, ").await;
        // The page alone: every link out of it is skipped.
        let visited = crawl(
            &browser,
            &app.workspace_url("acme", "/settings/export"),
            &["/"],
        )
        .await;
        assert_eq!(visited, 1);
        browser.close().await;
    }
}

#[tokio::test]
async fn the_public_pages_have_no_axe_violations_at_1280_and_375_px() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    for width in [1280, 375] {
        let browser = Browser::start(width).await;
        let visited = crawl(&browser, &app.url("/"), &["/api/"]).await;
        assert!(
            visited >= 4,
            "the public crawl reached only {visited} pages"
        );
        browser.close().await;
    }
}

/// The operator console on the apex (workspaces, health, outbox, account), at 1280 px and at
/// 320 px, the narrowest width pages must work at; with a suspended workspace (its deletion
/// form) and one scheduled for deletion (its cancel button) on the Workspaces page.
#[tokio::test]
async fn the_operator_console_has_no_axe_violations_at_1280_and_320_px() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    sqlx::raw_sql(
        "update tenants set status = 'suspended' where slug in ('acme', 'globex');
         update tenants set termination_due_at = now() + interval '30 days' where slug = 'globex'",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    for width in [1280, 320] {
        let browser = Browser::start(width).await;
        browser
            .sign_in(&app.url("/login"), "ops@aura.example", DEMO_PASSWORD)
            .await;
        browser.expect_heading_starting("Hello, ").await;
        let visited = crawl(
            &browser,
            &app.url("/workspaces"),
            &["/logout", "/login", "/api/"],
        )
        .await;
        assert!(
            visited >= 4,
            "the operator crawl reached only {visited} pages"
        );
        for path in ["/workspaces", "/platform"] {
            open_loaded(&browser, &app.url(path)).await;
            assert!(
                !browser.overflows_horizontally().await,
                "{path} overflows at {width} px"
            );
        }
        // The search, by keyboard alone: type into the field and press Enter.
        open_loaded(&browser, &app.url("/workspaces")).await;
        browser.type_into("q", &format!("glo{ENTER}")).await;
        poll_until("Enter did not search", || async {
            browser.current_url().await.as_str().contains("q=glo")
        })
        .await;
        wait_for_load(&browser).await;
        let text = browser.text_of("table").await;
        assert!(
            text.contains("Globex Ltd") && !text.contains("Acme Corporation"),
            "{text}"
        );
        browser.close().await;
    }
}

/// The import pages (issue 15), which a crawl reaches only after an upload: the upload form
/// and list, a file's mapping and preview with rejected rows, and a finished import, at 1280
/// and 375 px.
#[tokio::test]
async fn the_import_pages_have_no_axe_violations_at_1280_and_375_px() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = crate::helpers::Member::sign_in(&app, "acme", "manager@acme.example").await;
    let file = "first_name,last_name,email,organization\nAda,Lovelace,ada@import.example,\nBad,Row,not-an-email,Nowhere\n";
    let boundary = "axe-import-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"entity\"\r\n\r\ncontact\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n",
        manager.csrf
    );
    let uploaded = |body: String| {
        manager
            .browser
            .post(manager.url("/imports"))
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
    };
    let previewed = crate::helpers::location(&uploaded(body.clone()).await.unwrap());
    let finished = crate::helpers::location(&uploaded(body).await.unwrap());
    let started = manager
        .submit(&format!("{finished}/start"), &[("duplicates", "skip")])
        .await;
    assert_eq!(started.status(), reqwest::StatusCode::SEE_OTHER);
    let axe = axe_source();
    for width in [1280, 375] {
        let browser = Browser::signed_in_to_acme(width, &app, "manager@acme.example").await;
        browser.expect_heading_starting("Welcome, ").await;
        let mut problems = Vec::new();
        for path in ["/imports", previewed.as_str(), finished.as_str()] {
            open_loaded(&browser, &app.workspace_url("acme", path)).await;
            for violation in violations(&browser, &axe).await {
                problems.push(format!("{path} at {width} px: {violation}"));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        browser.close().await;
    }
}
