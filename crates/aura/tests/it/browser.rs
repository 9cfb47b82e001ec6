//! Journeys in a real browser: headless Chromium (Debian's `chromium`), driven over WebDriver
//! by Debian's `chromedriver`.

use crate::helpers::demo_app;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aura_platform::demo::DEMO_PASSWORD;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// A headless Chromium session; the driver process ends with it.
struct Browser {
    client: Client,
    driver: Child,
}

impl Browser {
    async fn start(width: u32) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is needed for browser tests: apt-get install chromium chromium-driver");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--window-size={width},900"),
                ],
            }),
        );
        let started = Instant::now();
        let client = loop {
            // Plain HTTP to the local driver: no TLS stack needed.
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(err) if started.elapsed() > Duration::from_secs(20) => {
                    panic!("cannot start Chromium through chromedriver: {err}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Self { client, driver }
    }

    async fn text_of(&self, css: &str) -> String {
        let element = self
            .client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap();
        element.text().await.unwrap()
    }

    /// Whether the page is wider than the window (a horizontal scroll bar at this width).
    async fn overflows_horizontally(&self) -> bool {
        let value = self
            .client
            .execute(
                "return document.documentElement.scrollWidth > document.documentElement.clientWidth",
                vec![],
            )
            .await
            .unwrap();
        value.as_bool().unwrap()
    }

    async fn fill(&self, id: &str, text: &str) {
        let field = self.client.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks `css` (waiting for it to appear) and waits for the page it leads to: until the
    /// current document is gone, since the next page may well have the same heading.
    async fn click(&self, css: &str) {
        let old_page = self.client.find(Locator::Css("html")).await.unwrap();
        let target = self
            .client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap();
        target.click().await.unwrap();
        let started = Instant::now();
        while old_page.tag_name().await.is_ok() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "clicking {css} led nowhere"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits for the page's heading to read `expected` (pages load after each click).
    async fn expect_heading(&self, expected: &str) {
        let started = Instant::now();
        loop {
            // The page may be mid-navigation: a missing or stale heading is just "not yet".
            let heading = match self.client.find(Locator::Css("h1")).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if heading == expected {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "heading {heading:?}, expected {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn sign_in(&self, url: &str, email: &str, password: &str) {
        self.client.goto(url).await.unwrap();
        self.fill("email", email).await;
        self.fill("password", password).await;
        self.click("form.stack button[type=submit]").await;
    }

    async fn sign_out(&self) {
        self.click(".account button").await;
    }

    async fn close(mut self) {
        self.client.clone().close().await.ok();
        self.driver.kill().ok();
        self.driver.wait().ok();
    }
}

#[tokio::test]
async fn a_member_signs_in_and_out_with_the_keyboard_on_a_small_phone() {
    let (app, _db) = demo_app().await;
    let browser = Browser::start(320).await;
    let page = &browser.client;

    page.goto(&app.workspace_url("acme", "/login"))
        .await
        .unwrap();
    assert_eq!(browser.text_of("h1").await, "Sign in to Acme Corporation");
    assert!(
        !browser.overflows_horizontally().await,
        "the sign-in page overflows 320 px"
    );

    // A wrong password: the error is shown and the email is kept.
    page.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("rita@nowhere.example")
        .await
        .unwrap();
    page.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("wrong\u{E007}")
        .await
        .unwrap(); // Enter
    let error = browser.text_of("#form-error").await;
    assert!(error.contains("do not match an active account"), "{error}");
    let kept = page
        .find(Locator::Id("email"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("rita@nowhere.example"));

    let email = page.find(Locator::Id("email")).await.unwrap();
    email.clear().await.unwrap();
    email.send_keys("rep@acme.example").await.unwrap();
    page.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(&format!("{DEMO_PASSWORD}\u{E007}"))
        .await
        .unwrap();
    browser.expect_heading("Welcome, Rita Rep").await;
    assert!(browser.text_of(".account").await.contains("Sales Rep"));
    assert!(
        !browser.overflows_horizontally().await,
        "the workspace home overflows 320 px"
    );

    page.find(Locator::Css(".account button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(browser.text_of("p.notice").await, "You have signed out.");
    page.goto(&app.workspace_url("acme", "/")).await.unwrap();
    assert_eq!(browser.text_of("h1").await, "Sign in to Acme Corporation");
    browser.close().await;
}

#[tokio::test]
async fn journey_one_from_signup_to_the_invited_reps_first_sign_in() {
    let (app, _db) = demo_app().await;
    let browser = Browser::start(1024).await;
    let page = &browser.client;
    let passphrase = "pat's long passphrase";

    // 1. A prospect signs up on the apex and waits.
    page.goto(&app.url("/")).await.unwrap();
    browser.click("a.cta").await;
    browser.expect_heading("Start with Aura").await;
    browser.fill("display_name", "Pat Prospect").await;
    browser.fill("email", "pat@newco.example").await;
    browser.fill("company_name", "NewCo Ltd").await;
    browser.fill("password", passphrase).await;
    browser.click("form.stack button[type=submit]").await;
    browser.expect_heading("Hello, Pat Prospect").await;
    assert!(browser
        .text_of("p.lead")
        .await
        .contains("Awaiting contract"));
    browser.sign_out().await;

    // 2-3. The operator records the contract and approves; the workspace is provisioned.
    browser
        .sign_in(&app.url("/login"), "ops@aura.example", DEMO_PASSWORD)
        .await;
    browser.expect_heading("Hello, Platform Operator").await;
    browser.click("td form button").await;
    browser.expect_heading("Hello, Platform Operator").await;
    browser.click("td a.button").await;
    browser.expect_heading("Activate NewCo Ltd").await;
    browser.fill("slug", "newco").await;
    browser.click("form.stack button[type=submit]").await;
    assert!(browser.text_of("p.notice").await.contains("newco is live"));
    browser.sign_out().await;

    // 4. The new admin follows the link to their workspace and invites a rep.
    browser
        .sign_in(&app.url("/login"), "pat@newco.example", passphrase)
        .await;
    browser.click("main a.button").await;
    browser.expect_heading("Sign in to NewCo Ltd").await;
    browser.fill("email", "pat@newco.example").await;
    browser.fill("password", passphrase).await;
    browser.click("form.stack button[type=submit]").await;
    browser.expect_heading("Welcome, Pat Prospect").await;
    browser.click("nav a[href='/members']").await;
    browser.expect_heading("Members").await;
    browser.fill("invite-email", "rita@newco.example").await;
    browser
        .click("form[action='/members/invitations'] button")
        .await;
    let link = page
        .wait()
        .for_element(Locator::Css("input.copyable"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .expect("the invitation link");
    browser.sign_out().await;

    // 5. The invitee opens the link, chooses a password, and lands in the CRM as a rep.
    page.goto(&link).await.unwrap();
    browser.expect_heading("Join NewCo Ltd").await;
    browser.fill("display_name", "Rita Rep").await;
    browser.fill("password", "rita's long passphrase").await;
    browser.click("form.stack button[type=submit]").await;
    browser.expect_heading("Welcome, Rita Rep").await;
    assert!(browser.text_of(".account").await.contains("Sales Rep"));
    browser.close().await;
}

#[tokio::test]
async fn older_audit_entries_load_in_place_with_htmx_under_the_csp() {
    let (app, db) = demo_app().await;
    sqlx::raw_sql(
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type, occurred_at)
         select t.id, m.user_id, 'member.invited', 'invitation', now() - g * interval '1 minute'
         from tenants t join tenant_members m on m.tenant_id = t.id and m.role = 'admin',
              generate_series(1, 30) g
         where t.slug = 'acme'",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    let browser = Browser::start(1024).await;
    browser
        .sign_in(
            &app.workspace_url("acme", "/login"),
            "admin@acme.example",
            DEMO_PASSWORD,
        )
        .await;
    browser.expect_heading("Welcome, Ada Admin").await;
    browser
        .client
        .goto(&app.workspace_url("acme", "/audit"))
        .await
        .unwrap();
    let rows = |b: &Browser| {
        let client = b.client.clone();
        async move {
            client
                .find_all(Locator::Css("#audit-rows tr"))
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(rows(&browser).await, 25);
    browser
        .client
        .find(Locator::Css("#audit-pager a[hx-get]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let started = Instant::now();
    while rows(&browser).await != 31 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the older entries did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/audit", "loaded in place, no navigation");
    assert!(
        browser
            .client
            .find(Locator::Css("#audit-pager a[hx-get]"))
            .await
            .is_err(),
        "no older entries left"
    );
    browser.close().await;
}
