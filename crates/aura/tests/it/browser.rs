//! Journeys in a real browser: headless Chromium (Debian's `chromium`), driven over WebDriver
//! by Debian's `chromedriver`.

use crate::helpers::{id, verification_link, Api, Member, TestApp};
use std::future::Future;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aura_platform::demo::DEMO_PASSWORD;
use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// The Enter key, for `send_keys`.
pub(crate) const ENTER: &str = "\u{E007}";
/// The Escape key, for `send_keys`.
const ESCAPE: &str = "\u{E00C}";

/// A headless Chromium session; the driver process ends with it.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    driver_port: u16,
}

impl Browser {
    /// Headless Chromium with a window exactly `width` px wide (320 and 375 included).
    pub(crate) async fn start(width: u32) -> Self {
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
        let options = json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--window-size={width},900"),
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        // The console, for `console_errors`.
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
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
        // `--window-size` is only where the window starts: Chromium widens a narrower one to
        // its minimum (485 px here), while WebDriver's resize keeps a phone's width.
        client.set_window_size(width, 900).await.unwrap();
        Self {
            client,
            driver,
            driver_port: port,
        }
    }

    /// The errors the pages wrote to the console since the last call: a script that failed,
    /// a resource that did not load, anything the Content-Security-Policy refused.
    pub(crate) async fn console_errors(&self) -> Vec<String> {
        let session = self.client.session_id().await.unwrap().unwrap();
        // chromedriver's own log endpoint: WebDriver has none.
        let log: Value = reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/session/{session}/se/log",
                self.driver_port
            ))
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        log["value"]
            .as_array()
            .expect("the browser's log")
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Opens `url` in the window (WebDriver returns once it has loaded).
    pub(crate) async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The address of the open page.
    pub(crate) async fn current_url(&self) -> reqwest::Url {
        self.client.current_url().await.unwrap()
    }

    /// Runs `script` in the page and answers what it returns.
    pub(crate) async fn run_script(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// The element `locator` finds now.
    pub(crate) async fn find(&self, locator: Locator<'_>) -> Element {
        self.client.find(locator).await.unwrap()
    }

    /// Whether `css` finds an element now.
    async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// The element `locator` finds, waiting for it to appear.
    pub(crate) async fn wait_for(&self, locator: Locator<'_>) -> Element {
        self.client.wait().for_element(locator).await.unwrap()
    }

    /// The open page's root element: gone once the browser has left the page (see [`left`]).
    async fn page_root(&self) -> Element {
        self.find(Locator::Css("html")).await
    }

    /// The text of `css`, waiting for it to appear.
    pub(crate) async fn text_of(&self, css: &str) -> String {
        let element = self.wait_for(Locator::Css(css)).await;
        element.text().await.unwrap()
    }

    /// The text of `css` as it is now: empty while it is missing, or stale because the page is
    /// mid-navigation or htmx is swapping it.
    pub(crate) async fn current_text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The texts of every element `css` finds now, in page order.
    async fn texts_of(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.unwrap() {
            texts.push(element.text().await.unwrap_or_default());
        }
        texts
    }

    /// How many elements `css` finds now.
    async fn count_of(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.unwrap().len()
    }

    /// The `value` of the field `css`, waiting for it to appear.
    async fn value_of(&self, css: &str) -> Option<String> {
        let field = self.wait_for(Locator::Css(css)).await;
        field.prop("value").await.unwrap()
    }

    /// Whether the page is wider than the window (a horizontal scroll bar at this width).
    pub(crate) async fn overflows_horizontally(&self) -> bool {
        self.run_script(
            "return document.documentElement.scrollWidth > document.documentElement.clientWidth",
        )
        .await
        .as_bool()
        .unwrap()
    }

    /// Replaces the text of the field with id `id`.
    async fn fill(&self, id: &str, text: &str) {
        let field = self.find(Locator::Id(id)).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Types `keys` into the element with id `id`, after what it already holds.
    pub(crate) async fn type_into(&self, id: &str, keys: &str) {
        let element = self.find(Locator::Id(id)).await;
        element.send_keys(keys).await.unwrap();
    }

    /// Types `keys` into the element that has the focus.
    async fn type_into_focused(&self, keys: &str) {
        let focused = self.client.active_element().await.unwrap();
        focused.send_keys(keys).await.unwrap();
    }

    /// Presses Enter on the element `locator` finds (the keyboard way to follow or press it).
    pub(crate) async fn press_enter(&self, locator: Locator<'_>) {
        let element = self.find(locator).await;
        element.send_keys(ENTER).await.unwrap();
    }

    /// Chooses the option of value `value` in the select with id `id`, waiting for it to appear.
    async fn choose(&self, id: &str, value: &str) {
        let select = self.wait_for(Locator::Id(id)).await;
        select.select_by_value(value).await.unwrap();
    }

    /// Clicks `css` (waiting for it to appear) and waits for the page it leads to: until the
    /// current document is gone, since the next page may well have the same heading.
    async fn click(&self, css: &str) {
        let old_page = self.page_root().await;
        let target = self.wait_for(Locator::Css(css)).await;
        target.click().await.unwrap();
        left(old_page, &format!("clicking {css} led nowhere")).await;
    }

    /// Clicks the element `locator` finds and returns at once, for a click that changes the
    /// page in place (htmx, a dialog, a script): what follows waits for the change.
    async fn click_in_place(&self, locator: Locator<'_>) {
        let element = self.find(locator).await;
        element.click().await.unwrap();
    }

    /// Drags `handle` onto `target` the way a hand does, in small steps with pauses so
    /// SortableJS follows it on a busy machine: pressed, moved by `nudge` four times, then
    /// onto `target` at each of the vertical offsets `approach`, and released.
    pub(crate) async fn drag(
        &self,
        handle: Element,
        nudge: (f64, f64),
        target: Element,
        approach: [f64; 3],
    ) {
        let pause = || PointerAction::Pause {
            duration: Duration::from_millis(150),
        };
        let step = Some(Duration::from_millis(100));
        let mut drag = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element: handle,
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(pause());
        for _ in 0..4 {
            drag = drag
                .then(PointerAction::MoveBy {
                    duration: step,
                    x: nudge.0,
                    y: nudge.1,
                })
                .then(pause());
        }
        for y in approach {
            drag = drag
                .then(PointerAction::MoveToElement {
                    element: target.clone(),
                    duration: step,
                    x: 0.0,
                    y,
                })
                .then(pause());
        }
        let drag = drag.then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
        self.client.perform_actions(drag).await.unwrap();
    }

    /// Waits until `script` returns true in the page.
    pub(crate) async fn until(&self, script: &str) {
        let started = Instant::now();
        loop {
            if self.run_script(script).await == Value::Bool(true) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never true: {script}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the page's heading to read `expected` (pages load after each click).
    pub(crate) async fn expect_heading(&self, expected: &str) {
        self.wait_for_heading(|heading| heading == expected, &format!("{expected:?}"))
            .await;
    }

    /// Waits for the page's heading to start with `prefix`.
    pub(crate) async fn expect_heading_starting(&self, prefix: &str) {
        self.wait_for_heading(
            |heading| heading.starts_with(prefix),
            &format!("one starting with {prefix:?}"),
        )
        .await;
    }

    /// Waits for the page's heading to match, failing after 10 s with what it reads and
    /// what was `expected`.
    async fn wait_for_heading(&self, matches: impl Fn(&str) -> bool, expected: &str) {
        let started = Instant::now();
        loop {
            // The page may be mid-navigation: a missing or stale heading is just "not yet".
            let heading = self.current_text("h1").await;
            if matches(&heading) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "heading {heading:?}, expected {expected}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn sign_in(&self, url: &str, email: &str, password: &str) {
        self.open(url).await;
        self.fill("email", email).await;
        self.fill("password", password).await;
        self.click("form.stack button[type=submit]").await;
    }

    /// Signs in to Acme's workspace as the demo member `email` (the demo password), from its
    /// sign-in page.
    pub(crate) async fn sign_in_to_acme(&self, app: &TestApp, email: &str) {
        self.sign_in(&app.workspace_url("acme", "/login"), email, DEMO_PASSWORD)
            .await;
    }

    /// A browser `width` px wide, signed in to Acme's workspace as the demo member `email`.
    pub(crate) async fn signed_in_to_acme(width: u32, app: &TestApp, email: &str) -> Self {
        let browser = Self::start(width).await;
        browser.sign_in_to_acme(app, email).await;
        browser
    }

    /// Opens the header's menu when the window is narrow enough to fold it away.
    pub(crate) async fn open_menu(&self) {
        if let Ok(button) = self.client.find(Locator::Css(".menu-button")).await {
            if button.is_displayed().await.unwrap_or(false)
                && button.attr("aria-expanded").await.unwrap().as_deref() != Some("true")
            {
                button.click().await.unwrap();
            }
        }
    }

    pub(crate) async fn sign_out(&self) {
        self.open_menu().await;
        self.click(".account button").await;
    }

    pub(crate) async fn close(mut self) {
        self.client.clone().close().await.ok();
        self.driver.kill().ok();
        self.driver.wait().ok();
    }
}

/// Waits until `check` holds, asking every 25 ms; fails saying `failure` after 10 s.
pub(crate) async fn poll_until<F, Fut>(failure: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(10), "{failure}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until `old_page` (the [`Browser::page_root`] of the page before an action) is gone:
/// the browser left that page; fails saying `failure` after 10 s.
async fn left(old_page: Element, failure: &str) {
    poll_until(failure, || async { old_page.tag_name().await.is_err() }).await;
}

#[tokio::test]
async fn a_member_signs_in_and_out_with_the_keyboard_on_a_small_phone() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let browser = Browser::start(320).await;

    browser.open(&app.workspace_url("acme", "/login")).await;
    assert_eq!(browser.text_of("h1").await, "Sign in to Acme Corporation");
    assert!(
        !browser.overflows_horizontally().await,
        "the sign-in page overflows 320 px"
    );

    // A wrong password, sent with Enter: the error is shown and the email is kept.
    browser.type_into("email", "rita@nowhere.example").await;
    browser
        .type_into("password", &format!("wrong{ENTER}"))
        .await;
    let error = browser.text_of("#form-error").await;
    assert!(error.contains("do not match an active account"), "{error}");
    assert_eq!(
        browser.value_of("#email").await.as_deref(),
        Some("rita@nowhere.example")
    );

    browser.fill("email", "rep@acme.example").await;
    browser
        .type_into("password", &format!("{DEMO_PASSWORD}{ENTER}"))
        .await;
    browser.expect_heading("Welcome, Rita Rep").await;
    assert!(
        !browser.overflows_horizontally().await,
        "the workspace home overflows 320 px"
    );
    // The navigation and account menu fold behind the Menu button, which opens by keyboard.
    let menu = browser.find(Locator::Css(".menu-button")).await;
    assert!(menu.is_displayed().await.unwrap());
    let account = browser.find(Locator::Css(".account")).await;
    assert!(!account.is_displayed().await.unwrap());
    menu.send_keys(ENTER).await.unwrap();
    assert_eq!(
        menu.attr("aria-expanded").await.unwrap().as_deref(),
        Some("true")
    );
    assert!(browser.text_of(".account").await.contains("Sales Rep"));

    browser.click(".account button").await;
    assert_eq!(browser.text_of("p.notice").await, "You have signed out.");
    browser.open(&app.workspace_url("acme", "/")).await;
    assert_eq!(browser.text_of("h1").await, "Sign in to Acme Corporation");
    browser.close().await;
}

#[tokio::test]
async fn journey_one_from_signup_to_the_invited_reps_first_sign_in() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let browser = Browser::start(1024).await;
    let passphrase = "pat's long passphrase";

    // 1. A prospect signs up on the apex and waits.
    browser.open(&app.url("/")).await;
    browser.click("a.cta").await;
    browser.expect_heading("Start with Aura").await;
    browser.fill("display_name", "Pat Prospect").await;
    browser.fill("email", "pat@newco.example").await;
    browser.fill("company_name", "NewCo Ltd").await;
    browser.fill("password", passphrase).await;
    browser.click("form.stack button[type=submit]").await;
    browser.expect_heading("Check your email").await;
    // The emailed link confirms the address and signs in.
    browser
        .open(&verification_link(&db, "pat@newco.example").await)
        .await;
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

    // 4. The new admin signs in on the apex, opens their workspace from the list without
    // typing the password again, and invites a rep.
    browser
        .sign_in(&app.url("/login"), "pat@newco.example", passphrase)
        .await;
    browser
        .click("form[action='/account/enter'] button[type=submit]")
        .await;
    browser.expect_heading("Continue to NewCo Ltd").await;
    browser
        .click("form[action='/enter'] button[type=submit]")
        .await;
    browser.expect_heading("Welcome, Pat Prospect").await;
    assert_eq!(
        browser.current_url().await.host_str(),
        Some("newco.localhost")
    );
    browser.click("nav a[href='/members']").await;
    browser.expect_heading("Members").await;
    browser.fill("invite-email", "rita@newco.example").await;
    browser
        .click("form[action='/members/invitations'] button")
        .await;
    let link = browser
        .value_of("input.copyable")
        .await
        .expect("the invitation link");
    browser.sign_out().await;

    // 5. The invitee opens the link, chooses a password, and lands in the CRM as a rep.
    browser.open(&link).await;
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
    let (app, db) = TestApp::builder().demo().spawn().await;
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
    let browser = Browser::signed_in_to_acme(1024, &app, "admin@acme.example").await;
    browser.expect_heading("Welcome, Ada Admin").await;
    browser.open(&app.workspace_url("acme", "/audit")).await;
    assert_eq!(browser.count_of("#audit-rows tr").await, 25);
    browser
        .click_in_place(Locator::Css("#audit-pager a[hx-get]"))
        .await;
    poll_until("the older entries did not arrive", || async {
        browser.count_of("#audit-rows tr").await == 31
    })
    .await;
    let url = browser.current_url().await;
    assert_eq!(url.path(), "/audit", "loaded in place, no navigation");
    assert!(
        !browser.has("#audit-pager a[hx-get]").await,
        "no older entries left"
    );
    browser.close().await;
}

#[tokio::test]
async fn a_rep_on_a_small_phone_creates_a_contact_logs_a_call_and_searches_as_they_type() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    // Another rep's contact, and one more of Rita's own, made over plain HTTP.
    let rob = Member::sign_in(&app, "acme", "rep2@acme.example").await;
    let rita = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let mut paths = Vec::new();
    for (member, first, last) in [(&rob, "Robs", "Secret"), (&rita, "Alan", "Turing")] {
        let created = member
            .submit("/contacts", &[("first_name", first), ("last_name", last)])
            .await;
        assert_eq!(created.status(), 303);
        let location = created.headers()["location"].to_str().unwrap();
        paths.push(location.split('?').next().unwrap().to_owned());
    }

    let browser = Browser::signed_in_to_acme(320, &app, "rep@acme.example").await;
    browser.expect_heading("Welcome, Rita Rep").await;
    browser.click("main a[href='/contacts/new']").await;
    browser.expect_heading("New contact").await;
    assert!(
        !browser.overflows_horizontally().await,
        "the contact form overflows 320 px"
    );
    browser.fill("first_name", "Joan").await;
    browser.fill("last_name", "Clarke").await;
    browser.fill("email", "joan@bletchley.example").await;
    browser.click("form.stack button[type=submit]").await;
    browser.expect_heading("Joan Clarke").await;
    assert!(browser
        .text_of("p.notice")
        .await
        .contains("Contact created."));

    // Log a call: the form folds open with the keyboard, "when" defaults to now (UTC).
    browser
        .press_enter(Locator::Css("details:has(#description) summary"))
        .await;
    let when = browser.value_of("#occurred_at").await.unwrap_or_default();
    assert!(
        when.starts_with(&chrono::Utc::now().format("%Y-%m-%d").to_string()),
        "{when}"
    );
    browser
        .type_into(
            "description",
            "Called about the Banburismus sheets.\nShe will send them.",
        )
        .await;
    browser
        .click("details:has(#description) button[type=submit]")
        .await;
    let activity = browser.text_of("#timeline .activity").await;
    assert!(
        activity.contains("Call") && activity.contains("Called about the Banburismus sheets."),
        "{activity}"
    );
    assert!(
        !browser.overflows_horizontally().await,
        "the contact page overflows 320 px"
    );

    // Search as you type: the list narrows in place, and the address follows the search.
    browser.open(&app.workspace_url("acme", "/contacts")).await;
    browser.expect_heading("Contacts").await;
    assert!(
        !browser.overflows_horizontally().await,
        "the contact list overflows 320 px"
    );
    let names = "#contact-rows td.primary a";
    assert_eq!(
        browser.texts_of(names).await,
        ["Joan Clarke", "Alan Turing"]
    );
    browser.type_into("q", "tur").await;
    poll_until("the list did not narrow", || async {
        browser.texts_of(names).await == ["Alan Turing"]
    })
    .await;
    let url = browser.current_url().await;
    assert_eq!(
        (url.path(), url.query()),
        ("/contacts", Some("q=tur&sort=name")),
        "pushed, not navigated"
    );
    assert_eq!(browser.text_of("h1").await, "Contacts");

    // Rob's contact is not there for Rita, even by its address.
    browser.open(&app.workspace_url("acme", &paths[0])).await;
    browser.expect_heading("Not found").await;
    browser.close().await;
}

/// Presses Enter on the stage bar's button for `stage` (the keyboard way) and waits for the
/// page the move leads to.
async fn press_stage(browser: &Browser, stage: &str) {
    let old_page = browser.page_root().await;
    let button = browser
        .wait_for(Locator::XPath(&format!(
            "//ol[@class='stage-bar']//button[starts-with(normalize-space(.), '{stage}')]"
        )))
        .await;
    button.send_keys(ENTER).await.unwrap();
    left(old_page, &format!("moving to {stage} led nowhere")).await;
}

/// The stage bar's current stage, with what it says about it.
async fn current_stage(browser: &Browser) -> String {
    browser.text_of("[aria-current='step']").await
}

#[tokio::test]
async fn a_rep_takes_a_deal_in_another_process_to_won_and_a_manager_reassigns_it() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    crate::helpers::seed_process(&db, "acme", "Sales").await;
    let partners = crate::helpers::seed_process_named(
        &db,
        "acme",
        "Partners",
        ["Intro", "Pilot", "Signed off", "Partnered", "Declined"],
    )
    .await;
    // This journey is about moving, not about what stages ask of a deal.
    sqlx::query(
        "update deal_stages set requires_amount = false, requires_close_date = false,
                                requires_contact = false
         where process_id = $1::uuid",
    )
    .bind(&partners.id)
    .execute(&db.owner)
    .await
    .unwrap();
    let rob: uuid::Uuid =
        sqlx::query_scalar("select id from users where email = 'rep2@acme.example'")
            .fetch_one(&db.owner)
            .await
            .unwrap();

    let browser = Browser::signed_in_to_acme(320, &app, "rep@acme.example").await;
    browser.expect_heading("Welcome, Rita Rep").await;
    browser.open_menu().await;
    browser.click("nav a[href='/deals']").await;
    browser.expect_heading("Deals").await;
    assert!(
        !browser.overflows_horizontally().await,
        "the deal list overflows 320 px"
    );
    browser.click("main a[href='/deals/new']").await;
    browser.expect_heading("New deal").await;
    assert!(
        browser
            .text_of("#process_id option:checked")
            .await
            .starts_with("Sales"),
        "the default process is pre-selected"
    );

    // Another process: htmx swaps in its stages (the select is replaced under the test's feet).
    browser.choose("process_id", &partners.id).await;
    poll_until("the stages did not follow the process", || async {
        browser.current_text("#stage_id").await.contains("Intro")
    })
    .await;
    browser.fill("name", "Reseller pilot").await;
    browser.fill("amount", "4800").await;
    assert!(
        !browser.overflows_horizontally().await,
        "the deal form overflows 320 px"
    );
    browser.click("form.stack button[type=submit]").await;
    browser.expect_heading("Reseller pilot").await;
    assert!(browser.text_of("p.notice").await.contains("Deal created."));
    assert_eq!(
        browser.text_of(".process-name").await,
        "Sales process: Partners"
    );
    assert!(current_stage(&browser).await.starts_with("Intro"));
    assert!(
        !browser.overflows_horizontally().await,
        "the deal page overflows 320 px"
    );
    let deal_path = browser.current_url().await.path().to_owned();

    // Two stages on, by keyboard, then won.
    press_stage(&browser, "Pilot").await;
    assert!(current_stage(&browser).await.starts_with("Pilot"));
    press_stage(&browser, "Signed off").await;
    assert!(current_stage(&browser).await.starts_with("Signed off"));
    browser.click(".close-actions button.won").await;
    assert!(browser.text_of("p.notice").await.contains("Deal won."));
    assert!(current_stage(&browser).await.starts_with("Partnered"));
    let history = browser
        .text_of("ol[aria-labelledby='history-heading']")
        .await;
    assert!(
        history.contains("Pilot → Signed off") && history.contains("Signed off → Partnered"),
        "{history}"
    );
    browser.sign_out().await;

    // A manager gives it to Rob.
    browser.sign_in_to_acme(&app, "manager@acme.example").await;
    browser.open(&app.workspace_url("acme", &deal_path)).await;
    browser.expect_heading("Reseller pilot").await;
    assert!(
        !browser.overflows_horizontally().await,
        "the deal page with its reassign form overflows 320 px"
    );
    browser.choose("owner", &rob.to_string()).await;
    browser.click("form[action$='/owner'] button").await;
    assert!(browser
        .text_of("p.notice")
        .await
        .contains("Deal reassigned."));
    assert!(browser.text_of(".details").await.contains("Rob Rep"));
    browser.open(&app.workspace_url("acme", "/deals")).await;
    browser.expect_heading("Deals").await;
    assert!(
        !browser.overflows_horizontally().await,
        "a manager's deal list (owner filter, bulk reassign) overflows 320 px"
    );
    browser.close().await;
}

/// Waits until the board's cards can be dragged and moved (SortableJS is set up).
async fn wait_for_board(browser: &Browser) {
    browser
        .until("return !!document.querySelector('[data-sortable-ready]')")
        .await;
}

/// Waits until the board's status line (read out to screen readers) says `text`.
async fn wait_for_board_status(browser: &Browser, text: &str) {
    browser
        .until(&format!(
            "return document.getElementById('board-status').textContent.includes('{text}')"
        ))
        .await;
}

/// Moves the card of deal `id` to `stage` by keyboard: once the board is ready, the stage is
/// chosen in the card's Move to control by typing its name, and the button is pressed with
/// Enter.
async fn move_by_keyboard(browser: &Browser, id: &str, stage: &str) {
    wait_for_board(browser).await;
    browser.type_into(&format!("move-{id}"), stage).await;
    browser
        .press_enter(Locator::Css(&format!("#card-{id} .move-to button")))
        .await;
}

#[tokio::test]
async fn a_manager_drags_a_deal_on_the_board_and_moves_another_by_keyboard() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let process = crate::helpers::seed_process(&db, "acme", "Board").await;
    let token = crate::helpers::api_token(&app, "acme", "manager@acme.example").await;
    let mut ids = Vec::new();
    for body in [
        json!({ "name": "Drag me", "process_id": process.id, "amount": "500",
                "expected_close_date": "2030-03-01" }),
        json!({ "name": "Key me", "process_id": process.id }),
        json!({ "name": "Lose me", "process_id": process.id }),
    ] {
        let response = app
            .client
            .post(app.workspace_url("acme", "/api/v1/deals"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let deal: Value = response.json().await.unwrap();
        ids.push(deal["id"].as_str().unwrap().to_owned());
    }
    let stage_of = |id: String| {
        let owner = db.owner.clone();
        async move {
            sqlx::query_scalar::<_, String>("select stage_id::text from deals where id = $1::uuid")
                .bind(id)
                .fetch_one(&owner)
                .await
                .unwrap()
        }
    };

    let browser = Browser::signed_in_to_acme(1024, &app, "manager@acme.example").await;
    browser
        .open(&app.workspace_url("acme", &format!("/board/{}", process.id)))
        .await;
    wait_for_board(&browser).await;

    // A pointer drag of "Drag me" onto the Proposal column.
    let proposal = process.stage("Proposal");
    let card = browser
        .find(Locator::Css(&format!("#card-{} .card-facts", ids[0])))
        .await;
    let column = browser
        .find(Locator::Css(&format!("[data-board-column='{proposal}']")))
        .await;
    browser
        .drag(card, (10.0, 0.0), column, [-10.0, 0.0, 5.0])
        .await;
    wait_for_board_status(&browser, "Moved “Drag me” to Proposal.").await;
    assert_eq!(stage_of(ids[0].clone()).await, proposal);
    browser
        .until(&format!(
            "return !!document.querySelector(\"[data-board-column='{proposal}'] #card-{}\")",
            ids[0]
        ))
        .await;

    // By keyboard: "Key me"'s Move to control, Won chosen by typing, the button pressed with
    // Enter; the result is announced.
    move_by_keyboard(&browser, &ids[1], "Won").await;
    wait_for_board_status(&browser, "Moved “Key me” to Won.").await;
    assert_eq!(stage_of(ids[1].clone()).await, process.stage("Won"));

    // By keyboard to Lost: the board asks why, the reason's field has the focus, the reason is
    // typed and sent with Enter, and the move is saved with it.
    move_by_keyboard(&browser, &ids[2], "Lost").await;
    browser
        .until("return document.activeElement && document.activeElement.id === 'lost_reason'")
        .await;
    wait_for_board_status(&browser, "a lost reason is needed").await;
    assert_eq!(
        stage_of(ids[2].clone()).await,
        process.stage("Lead"),
        "not moved yet"
    );
    browser
        .type_into("lost_reason", "No budget this year")
        .await;
    browser.type_into("lost_reason", ENTER).await;
    wait_for_board_status(&browser, "Moved “Lose me” to Lost.").await;
    assert_eq!(stage_of(ids[2].clone()).await, process.stage("Lost"));
    let lost_reason: Option<String> =
        sqlx::query_scalar("select lost_reason from deals where id = $1::uuid")
            .bind(&ids[2])
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(lost_reason.as_deref(), Some("No budget this year"));

    // At 320 px the columns scroll inside the board; the page does not.
    browser.client.set_window_size(320, 900).await.unwrap();
    browser.client.refresh().await.unwrap();
    wait_for_board(&browser).await;
    // Said on failure: the widths from the columns up, to find what widens the page.
    let wide = browser
        .run_script(
            "const w = document.documentElement.clientWidth; let e = document.querySelector('.board-columns'); const out = [w, document.documentElement.scrollWidth]; while (e) { out.push(e.tagName + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().width) + '/' + e.scrollWidth + ' ' + getComputedStyle(e).display); e = e.parentElement; } return out",
        )
        .await;
    assert!(
        !browser.overflows_horizontally().await,
        "the page overflows at 320 px: {wide}"
    );
    browser
        .until("const c = document.querySelector('.board-columns'); return c.scrollWidth > c.clientWidth")
        .await;
    browser.close().await;
}

/// Journey 4, steps 7-10, in the browser: a rep adds two products to a deal, overrides one
/// price with a reason, and sees the total change each time without the page reloading (a
/// marker set on `window` survives: no navigation happened).
#[tokio::test]
async fn a_rep_prices_a_deal_with_two_products_and_an_override_without_a_reload() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    crate::helpers::seed_process(&db, "acme", "Sales").await;
    let admin = crate::helpers::api_token(&app, "acme", "admin@acme.example").await;
    let rep = crate::helpers::api_token(&app, "acme", "rep@acme.example").await;
    let post = |token: &str, path: String, body: Value| {
        let request = app
            .client
            .post(app.workspace_url("acme", &path))
            .bearer_auth(token)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 201, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let mut products = Vec::new();
    for (sku, name, price) in [
        ("BRW-1", "Browser box", "100"),
        ("BRW-2", "Browser cable", "40"),
    ] {
        let product = post(
            &admin,
            "/api/v1/products".into(),
            json!({ "sku": sku, "name": name, "list_price": price, "max_discount_percent": "20" }),
        )
        .await;
        products.push(product["id"].as_str().unwrap().to_owned());
    }
    let deal = post(
        &rep,
        "/api/v1/deals".into(),
        json!({ "name": "Priced in the browser" }),
    )
    .await;
    let deal = deal["id"].as_str().unwrap().to_owned();

    let browser = Browser::signed_in_to_acme(1024, &app, "rep@acme.example").await;
    browser.expect_heading("Welcome, Rita Rep").await;
    let page = app.workspace_url("acme", &format!("/deals/{deal}"));
    browser.open(&page).await;
    // The products section arrives by htmx; then mark the page.
    browser
        .until("return !!document.querySelector('#deal-lines form')")
        .await;
    browser
        .run_script("window.auraMarker = 'same page'; return true")
        .await;
    let total_is = |amount: &'static str| {
        format!(
            "const t = document.querySelector('#deal-lines-total'); return !!t && t.textContent.trim() === '{amount}'"
        )
    };

    // Two products, each added from the picker with a quantity.
    for (product, quantity, total) in [
        (&products[0], "2", "200.00 USD"),
        (&products[1], "1", "240.00 USD"),
    ] {
        browser.choose("product-choice", product).await;
        browser.fill("add-quantity", quantity).await;
        browser
            .click_in_place(Locator::XPath(
                "//form[@aria-labelledby='add-line-title']//button",
            ))
            .await;
        browser.until(&total_is(total)).await;
    }

    // Override the box's price with a reason: the total follows.
    let lines: Value = app
        .client
        .get(app.workspace_url("acme", &format!("/api/v1/deals/{deal}/lines")))
        .bearer_auth(&rep)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let line = lines["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku"] == "BRW-1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let form = format!("//form[@hx-post='/deals/{deal}/lines/{line}']");
    browser
        .click_in_place(Locator::XPath(&format!("{form}/ancestor::details/summary")))
        .await;
    browser.fill(&format!("unit-price-{line}"), "90").await;
    browser
        .fill(&format!("reason-{line}"), "Loyal customer")
        .await;
    browser
        .click_in_place(Locator::XPath(&format!("{form}//button[@type='submit']")))
        .await;
    browser.until(&total_is("220.00 USD")).await;
    assert_eq!(
        browser.text_of("#deal-lines-status").await.trim(),
        "Saved. The total is now 220.00 USD."
    );
    // The same document all along, at the same address.
    let marker = browser.run_script("return window.auraMarker || null").await;
    assert_eq!(marker, json!("same page"), "the page was reloaded");
    assert_eq!(browser.current_url().await.as_str(), page);
    // The history shows the three changes, the override with its reason.
    let history = browser.text_of(".line-history").await;
    assert!(
        history.contains("Unit price 100.00 → 90.00") && history.contains("“Loyal customer”"),
        "{history}"
    );
    browser.close().await;
}

#[tokio::test]
async fn the_snapshot_page_fits_a_small_phone_and_prints_without_its_controls() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let process = crate::helpers::seed_process(&db, "acme", "Snapshot").await;
    let token = crate::helpers::api_token(&app, "acme", "manager@acme.example").await;
    for (name, amount) in [
        ("Wide deal one", "123456789.00"),
        ("Wide deal two", "98765.43"),
    ] {
        let response = app
            .client
            .post(app.workspace_url("acme", "/api/v1/deals"))
            .bearer_auth(&token)
            .json(
                &json!({ "name": name, "process_id": process.id, "amount": amount,
                           "expected_close_date": "2031-05-01" }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    }
    let browser = Browser::signed_in_to_acme(320, &app, "manager@acme.example").await;
    browser
        .open(&app.workspace_url("acme", &format!("/processes/{}/snapshot", process.id)))
        .await;
    browser
        .until("return !!document.getElementById('snapshot-stages')")
        .await;
    let text = browser.text_of("#snapshot-forecast").await;
    assert!(text.contains("123,555,554.43"), "{text}");
    // Ten columns of numbers scroll inside their table's box; the page itself does not.
    assert!(
        !browser.overflows_horizontally().await,
        "the snapshot page overflows 320 px"
    );
    // Printed, the navigation, the filters and the buttons are hidden and table rows are not
    // split: the print rules of the stylesheet the page loads.
    let print = browser
        .run_script(
            "const rules = [];
             for (const sheet of document.styleSheets) {
               for (const rule of sheet.cssRules) {
                 if (rule.media && rule.media.mediaText === 'print') rules.push(rule.cssText);
               }
             }
             return rules.join('\\n');",
        )
        .await;
    let print = print.as_str().unwrap_or_default();
    for needed in [".site-header", ".no-print", "button", "break-inside: avoid"] {
        assert!(print.contains(needed), "print rules lack {needed}: {print}");
    }
    // The period is chosen with the keyboard: a preset link, followed with Enter.
    browser.press_enter(Locator::LinkText("This quarter")).await;
    browser
        .until("return location.search.includes('period=quarter') && !!document.querySelector('a[aria-current=\"page\"][href*=\"period=quarter\"]')")
        .await;
    browser.close().await;
}

/// A record page's Delete button.
const DELETE_BUTTON: &str = "form[data-confirm] button.danger";

/// Clicks the record page's Delete button and waits for the dialog that asks first.
async fn open_delete_dialog(browser: &Browser) {
    browser.click_in_place(Locator::Css(DELETE_BUTTON)).await;
    browser
        .until("return document.getElementById('confirm-dialog').open")
        .await;
}

#[tokio::test]
async fn delete_asks_in_a_dialog_and_undo_restores_at_desktop_and_phone_widths() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = crate::helpers::Member::sign_in(&app, "acme", "manager@acme.example").await;
    for width in [1280, 375] {
        let contact = manager
            .create(
                "/contacts",
                &[
                    ("first_name", "Ada"),
                    ("last_name", &format!("Lovelace {width}")),
                ],
            )
            .await;
        let browser = Browser::signed_in_to_acme(width, &app, "manager@acme.example").await;
        browser.expect_heading("Welcome, Max Manager").await;
        browser.open(&app.workspace_url("acme", &contact)).await;
        browser
            .expect_heading(&format!("Ada Lovelace {width}"))
            .await;

        // Delete opens the dialog, focused on Cancel; Escape closes it and nothing happens.
        open_delete_dialog(&browser).await;
        assert_eq!(
            browser.text_of("#confirm-dialog-title").await,
            format!("Delete Ada Lovelace {width}?")
        );
        browser
            .until("return document.activeElement.value === 'cancel'")
            .await;
        browser.type_into_focused(ESCAPE).await;
        browser
            .until("return !document.getElementById('confirm-dialog').open")
            .await;
        assert_eq!(
            browser.current_url().await.path(),
            contact,
            "cancelled: still on the contact"
        );

        // Confirmed, the contact is deleted and the page offers Undo.
        open_delete_dialog(&browser).await;
        browser.click("#confirm-dialog-yes").await;
        assert!(browser
            .text_of(".toast p")
            .await
            .starts_with("Contact deleted."));
        assert!(!browser.overflows_horizontally().await, "{width} px");
        browser.click(".toast button").await;
        assert_eq!(browser.text_of(".flash.notice").await, "Contact restored.");
        assert!(browser.has(DELETE_BUTTON).await);
        browser.close().await;
    }
}

#[tokio::test]
async fn the_bulk_bar_selects_a_page_and_counts_it_at_desktop_and_phone_widths() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = crate::helpers::Member::sign_in(&app, "acme", "manager@acme.example").await;
    for name in ["Hedy", "Barbara", "Radia"] {
        manager.create("/contacts", &[("first_name", name)]).await;
    }
    for width in [1280, 375] {
        let browser = Browser::signed_in_to_acme(width, &app, "manager@acme.example").await;
        browser.expect_heading("Welcome, Max Manager").await;
        browser.open(&app.workspace_url("acme", "/contacts")).await;
        browser.expect_heading("Contacts").await;
        let count = browser.text_of("[data-bulk-count]").await;
        assert_eq!(count, "0 selected.");
        browser
            .click_in_place(Locator::Css("[data-bulk-page]"))
            .await;
        browser
            .until(
                "return document.querySelector('[data-bulk-count]').textContent === \
                 document.querySelectorAll(\"input[name='ids']:checked\").length + ' selected.' \
                 && document.querySelectorAll(\"input[name='ids']:checked\").length >= 3",
            )
            .await;
        browser
            .click_in_place(Locator::Css("[data-bulk-all-matching]"))
            .await;
        assert_eq!(
            browser.text_of("[data-bulk-count]").await,
            "All matching this list selected, on every page."
        );
        // The bar stays in view: sticky at the window's bottom.
        let sticky = browser
            .run_script("return getComputedStyle(document.querySelector('.bulk-bar')).position")
            .await;
        assert_eq!(sticky, "sticky");
        assert!(!browser.overflows_horizontally().await, "{width} px");
        browser.close().await;
    }
}

#[tokio::test]
async fn a_rep_logs_a_call_from_the_contact_list_in_two_clicks_without_a_reload() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rita = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let created = rita
        .submit(
            "/contacts",
            &[("first_name", "Alan"), ("last_name", "Turing")],
        )
        .await;
    assert_eq!(created.status(), 303);
    let contact = created.headers()["location"]
        .to_str()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();

    for width in [1280, 375] {
        let browser = Browser::signed_in_to_acme(width, &app, "rep@acme.example").await;
        browser.expect_heading("Welcome, Rita Rep").await;
        browser.open(&app.workspace_url("acme", "/contacts")).await;
        browser.expect_heading("Contacts").await;
        // A mark on this document: a full page load would lose it.
        browser
            .run_script("document.body.dataset.kept = 'yes'; return true")
            .await;

        // Click 1: "Log" on the row; the form comes in place with the text area focused.
        browser
            .click_in_place(Locator::Css(&format!("a[href='{contact}/log']")))
            .await;
        browser
            .until(
                "const f = document.activeElement; \
                 return !!f && f.id.startsWith('quick-log-') && f.id.endsWith('-description')",
            )
            .await;
        browser
            .type_into_focused(&format!("Called at {width} px about the bombe."))
            .await;
        // Click 2: Save (a call is the preselected kind).
        browser
            .click_in_place(Locator::Css(".quick-log button[type=submit]"))
            .await;
        browser
            .until(
                "const n = document.querySelector('.quick-log .notice'); \
                 return !!n && n.textContent.includes('Call logged with Alan Turing')",
            )
            .await;
        let kept = browser
            .run_script("return document.body.dataset.kept || ''")
            .await;
        assert_eq!(kept, "yes", "no full page load at {width} px");
        assert!(
            !browser.overflows_horizontally().await,
            "the contact list overflows {width} px"
        );
        browser.close().await;
    }

    let page = rita
        .get(app.workspace_url("acme", &contact))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for width in [1280, 375] {
        assert!(page.contains(&format!("Called at {width} px about the bombe.")));
    }
}

#[tokio::test]
async fn the_api_reference_reads_on_a_small_phone_under_the_csp_and_its_links_work() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let browser = Browser::start(320).await;
    for url in [app.url("/api/docs"), app.workspace_url("acme", "/api/docs")] {
        browser.open(&url).await;
        browser.expect_heading("Aura CRM API").await;
        assert!(!browser.overflows_horizontally().await, "{url} fits 320 px");
        let broken = browser
            .run_script(
                "return [...document.querySelectorAll('a[href^=\"#\"]')]
                   .map(a => a.getAttribute('href').slice(1))
                   .filter(id => !document.getElementById(id))",
            )
            .await;
        assert_eq!(broken, json!([]), "every link on {url} has its target");
        for operation in ["#create_contact", "#schema-Problem", "#auth-bearer"] {
            assert!(browser.has(operation).await, "{url} has {operation}");
        }
        // By keyboard: a contents entry, then Enter, reaches the operation.
        browser
            .press_enter(Locator::Css(".reference-toc a[href='#create_contact']"))
            .await;
        let hash = browser.run_script("return location.hash").await;
        assert_eq!(hash, "#create_contact");
        assert_eq!(
            browser.console_errors().await,
            Vec::<String>::new(),
            "{url} loads under the CSP without a console error"
        );
    }
    // The document it is rendered from is one link away.
    browser
        .click(".reference .lead a[href='/api/v1/openapi.json']")
        .await;
    let document = browser
        .run_script("return JSON.parse(document.body.innerText).openapi")
        .await;
    assert_eq!(document, "3.1.0");
    browser.close().await;
}

#[tokio::test]
async fn the_dashboard_fits_a_small_phone() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    crate::dashboard::seed(&db).await;
    let browser = Browser::start(320).await;
    for who in ["manager", "rep"] {
        browser
            .sign_in_to_acme(&app, &format!("{who}@acme.example"))
            .await;
        browser
            .expect_heading(&format!(
                "Welcome, {}",
                if who == "manager" {
                    "Max Manager"
                } else {
                    "Rita Rep"
                }
            ))
            .await;
        // Open every chart's table too: the widest the page gets.
        browser
            .run_script("document.querySelectorAll('details').forEach(d => d.open = true)")
            .await;
        let widths = browser
            .run_script(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth, document.querySelectorAll('svg.chart-svg').length]",
            )
            .await;
        let widths: Vec<i64> = widths
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert!(
            widths[1] <= 320,
            "{who}: the window is 320 px wide: {widths:?}"
        );
        assert!(
            widths[0] <= 320,
            "{who}: the dashboard overflows 320 px: {widths:?}"
        );
        assert_eq!(widths[2], 3, "{who}: three charts");
        browser.sign_out().await;
    }
    browser.close().await;
}

#[tokio::test]
async fn stages_reorder_by_keyboard_and_by_dragging_on_a_phone_sized_screen() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let api = Api::sign_in(&app, "acme", "admin").await;
    let process = api.process("Enterprise").await;
    let process_id = id(&process);
    let browser = Browser::start(320).await;
    browser.sign_in_to_acme(&app, "admin@acme.example").await;
    browser
        .open(&app.workspace_url("acme", &format!("/settings/processes/{process_id}")))
        .await;
    browser
        .until("return !!document.querySelector('[data-sortable-ready]')")
        .await;
    assert!(
        !browser.overflows_horizontally().await,
        "no sideways scrolling at 320 px"
    );
    if let Ok(folder) = std::env::var("AURA_SCREENSHOTS") {
        let png = browser.client.screenshot().await.unwrap();
        std::fs::write(format!("{folder}/process-320.png"), png).unwrap();
        browser
            .run_script("document.querySelector('.stage-list li:nth-child(5)').scrollIntoView(); return true")
            .await;
        let png = browser.client.screenshot().await.unwrap();
        std::fs::write(format!("{folder}/stages-320.png"), png).unwrap();
    }

    // Keyboard: Move down on the first stage, pressed with Enter; announced, focus kept.
    let prospect = crate::processes::stage(&process, "Prospect");
    browser
        .press_enter(Locator::Css(&format!(
            "#stage-{prospect} input[value=down] + button"
        )))
        .await;
    browser
        .until("return document.getElementById('stage-status').textContent.includes('Moved “Prospect” down: it is now stage 2 of 6.')")
        .await;
    browser
        .until(&format!(
            "return document.activeElement.closest('li') === document.getElementById('stage-{prospect}') && document.activeElement.textContent.startsWith('Move down')"
        ))
        .await;
    let (_, now) = api.get(&format!("/api/v1/processes/{process_id}")).await;
    assert_eq!(
        crate::processes::stage_names(&now)[..2],
        ["Qualified", "Prospect"]
    );

    // Drag: Lost's handle onto the stage above it (Won), both on screen.
    browser
        .until("return !!document.querySelector('[data-sortable-ready]')")
        .await;
    let lost = crate::processes::stage(&process, "Lost");
    let won = crate::processes::stage(&process, "Won");
    browser
        .run_script(&format!(
            "document.getElementById('stage-{lost}').scrollIntoView({{block: 'center'}}); return true"
        ))
        .await;
    let handle = browser
        .find(Locator::Css(&format!("#stage-{lost} .drag-handle")))
        .await;
    let above = browser
        .find(Locator::Css(&format!("#stage-{won} .drag-handle")))
        .await;
    browser
        .drag(handle, (0.0, -8.0), above, [40.0, 10.0, -5.0])
        .await;
    browser
        .until("return document.getElementById('stage-status').textContent.includes('Stage order saved')")
        .await;
    let (_, dragged) = api.get(&format!("/api/v1/processes/{process_id}")).await;
    assert_eq!(
        crate::processes::stage_names(&dragged),
        [
            "Qualified",
            "Prospect",
            "Proposal",
            "Negotiation",
            "Lost",
            "Won"
        ],
        "{dragged}"
    );
    browser.close().await;
}
