//! Journeys in a real browser: headless Chromium (Debian's `chromium`), driven over WebDriver
//! by Debian's `chromedriver`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aura_platform::demo::DEMO_PASSWORD;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::workspace::demo_app;

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
    assert_eq!(browser.text_of("h1").await, "Welcome, Rita Rep");
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
