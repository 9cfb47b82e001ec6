//! The operator console on the apex (003 "Super Admin", "Monitoring") and `/metrics`: requests
//! counted by route template, the pool, rate-limit refusals and the platform's queues.

use aura_platform::demo::DEMO_PASSWORD;
use aura_web::rate_limit::RateLimiter;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{submit_login, Member, TestApp, TEST_PLATFORM_API_KEY};

async fn scrape(app: &TestApp) -> String {
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(TEST_PLATFORM_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The value of the sample `series` (name and labels exactly as written), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.split(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_read_the_pool_and_queues() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    // Two contacts no one has: two raw paths, one route.
    let contacts = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
    for id in &contacts {
        let page = admin
            .get(app.workspace_url("acme", &format!("/contacts/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
    }
    let missing = app
        .client
        .get(app.url("/no/such/page/12345"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    for _ in 0..3 {
        app.client.get(app.url("/healthz")).send().await.unwrap();
    }

    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"aura_http_requests_total{site="workspace",route="/contacts/{id}",method="GET",status="404",class="4xx"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"aura_http_request_duration_seconds_count{site="workspace",route="/contacts/{id}",method="GET"}"#
        ),
        Some(2.0),
        "{text}"
    );
    let spent = sample(
        &text,
        r#"aura_http_request_duration_seconds_sum{site="workspace",route="/contacts/{id}",method="GET"}"#,
    )
    .unwrap();
    assert!(spent > 0.0 && spent < 60.0, "{spent}");
    assert_eq!(
        sample(
            &text,
            r#"aura_http_requests_total{site="any",route="/healthz",method="GET",status="200",class="2xx"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"aura_http_requests_total{site="none",route="unmatched",method="GET",status="404",class="4xx"}"#
        ),
        Some(1.0),
        "{text}"
    );
    // Templates, never raw paths: no id and no unmatched path becomes a series.
    for id in &contacts {
        assert!(!text.contains(&id.to_string()), "a raw path in {text}");
    }
    assert!(!text.contains("12345"));

    // The pool: the scrape itself holds a connection; never more in use than open.
    let max = sample(&text, "aura_db_pool_max_connections").unwrap();
    let idle = sample(&text, r#"aura_db_pool_connections{state="idle"}"#).unwrap();
    let in_use = sample(&text, r#"aura_db_pool_connections{state="in_use"}"#).unwrap();
    assert!(
        max >= 1.0 && idle + in_use <= max && idle + in_use >= 1.0,
        "{text}"
    );
    assert_eq!(sample(&text, "aura_database_up"), Some(1.0));

    // The queues, as the database counts them.
    let unsent: i64 = sqlx::query_scalar("select count(*) from email_outbox where sent_at is null")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(
        sample(&text, r#"aura_queue_depth{queue="email_outbox"}"#),
        Some(unsent as f64),
        "{text}"
    );
    for queue in ["exports", "imports", "webhook_deliveries"] {
        assert_eq!(
            sample(&text, &format!(r#"aura_queue_depth{{queue="{queue}"}}"#)),
            Some(0.0),
            "{queue}"
        );
    }
    assert_eq!(
        sample(
            &text,
            r#"aura_queue_oldest_age_seconds{queue="webhook_deliveries"}"#
        ),
        Some(0.0)
    );
    // A message waits: the outbox's backlog grows and its oldest has an age.
    sqlx::query(
        "insert into email_outbox (to_address, subject, body_text, body_redacted, created_by,
                                   created_at)
         select 'x@example.com', 'Waiting', 'Body', 'Body', id, now() - interval '90 seconds'
         from users where email = 'ops@aura.example'",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"aura_queue_depth{queue="email_outbox"}"#),
        Some(unsent as f64 + 1.0)
    );
    let age = sample(
        &text,
        r#"aura_queue_oldest_age_seconds{queue="email_outbox"}"#,
    )
    .unwrap();
    assert!(age >= 90.0, "{age}");

    // Without the key it answers as before.
    let refused = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let refused = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("not the key, but long enough to be one")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn metrics_count_rate_limit_refusals() {
    let (app, _db) = TestApp::builder()
        .demo()
        .limiter(RateLimiter::local().with_limit(2))
        .spawn()
        .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = app
            .client
            .post(app.workspace_url("acme", "/api/v1/auth/token"))
            .json(&json!({ "email": "nobody@acme.example", "password": "wrong" }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429, 429]);
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"aura_rate_limited_total{scope="client_address"}"#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"aura_http_requests_total{site="workspace",route="/api/v1/auth/token",method="POST",status="429",class="4xx"}"#
        ),
        Some(2.0),
        "{text}"
    );
}

/// The value of the table cell labelled `label` in the row that starts with `name`.
fn cell(page: &str, name: &str, label: &str) -> String {
    let row = page
        .split("<tr>")
        .find(|row| row.contains(&format!("<td class=\"primary\">{name}")))
        .unwrap_or_else(|| panic!("no row for {name}"));
    let marker = format!("data-label=\"{label}\">");
    let start = row
        .find(&marker)
        .unwrap_or_else(|| panic!("no {label} cell"))
        + marker.len();
    row[start..row[start..].find("</td>").unwrap() + start].to_owned()
}

#[tokio::test]
async fn operators_list_search_and_page_workspaces_with_their_counts() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let ops = Member::operator(&app).await;
    let page = ops.ok_page("/workspaces").await;
    let counted = |sql: &'static str| {
        let owner = db.owner.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&owner)
                .await
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(
        cell(&page, "Acme Corporation", "Contacts"),
        counted(
            "select count(*) from contacts c join tenants t on t.id = c.tenant_id
             where t.slug = 'acme' and c.deleted_at is null"
        )
        .await
    );
    assert_eq!(
        cell(&page, "Acme Corporation", "Members"),
        counted(
            "select count(*) from tenant_members m join tenants t on t.id = m.tenant_id
             where t.slug = 'acme' and m.deactivated_at is null"
        )
        .await
    );
    assert_eq!(
        cell(&page, "Globex Ltd", "Deals"),
        counted(
            "select count(*) from deals d join tenants t on t.id = d.tenant_id
             where t.slug = 'globex' and d.deleted_at is null"
        )
        .await
    );
    assert!(cell(&page, "Acme Corporation", "Last activity").contains("<time"));
    assert!(cell(&page, "Acme Corporation", "Status").contains("Active"));

    // By the start of the name or of the subdomain, whatever the case.
    let found = ops.ok_page("/workspaces?q=GLOB").await;
    assert!(found.contains("Globex Ltd") && !found.contains("Acme Corporation"));
    let found = ops.ok_page("/workspaces?q=acm").await;
    assert!(found.contains("Acme Corporation") && !found.contains("Globex Ltd"));
    let found = ops.ok_page("/workspaces?q=corporation").await;
    assert!(
        found.contains("starts with “corporation”") && !found.contains("Acme Corporation</td>")
    );

    // Pages of 25, by name: 30 more workspaces make a second page.
    sqlx::query(
        "insert into tenants (slug, name)
         select 'zz-' || g, 'Zz Workspace ' || lpad(g::text, 2, '0') from generate_series(1, 30) g",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    let first = ops.ok_page("/workspaces").await;
    let next = first
        .split("href=\"/workspaces?")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a next page link")
        .replace("&amp;", "&");
    let second = ops.ok_page(&format!("/workspaces?{next}")).await;
    assert!(first.contains("Acme Corporation") && !second.contains("Acme Corporation"));
    assert!(second.contains("Zz Workspace 30") && !first.contains("Zz Workspace 30"));
    assert!(second.contains("First page"));

    // The health panel.
    let health = ops.ok_page("/platform").await;
    for expected in [
        "Database",
        "answers in",
        "Redis",
        "not configured",
        "email_outbox",
        "webhook_deliveries",
    ] {
        assert!(
            health.contains(expected),
            "{expected} missing from {health}"
        );
    }
}

#[tokio::test]
async fn only_operators_open_the_console() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    for path in ["/workspaces", "/platform"] {
        let anonymous = app.browser().get(app.url(path)).send().await.unwrap();
        assert_ne!(anonymous.status(), StatusCode::OK, "{path}");
        assert!(!anonymous.text().await.unwrap().contains("Acme Corporation"));
    }
    // A workspace admin signed in on the apex is no operator.
    let admin = app.browser();
    let signed_in = submit_login(
        &admin,
        &app.url("/login"),
        "admin@acme.example",
        DEMO_PASSWORD,
    )
    .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    for path in ["/workspaces", "/platform"] {
        let refused = admin.get(app.url(path)).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
    }
}
