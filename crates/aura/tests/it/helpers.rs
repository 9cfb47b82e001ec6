use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_platform::auth::api::TokenKeys;
use aura_platform::db::testing::TestDatabase;
use aura_platform::db::{AppPool, OwnerPool};
use aura_platform::demo::{self, DEMO_PASSWORD};
use aura_platform::outbox::Mailer;
use aura_platform::webhooks::worker::WorkerSettings;
use aura_platform::webhooks::NetworkGuard;
use aura_web::rate_limit::RateLimiter;
use aura_web::{AppState, SiteConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

mod api;
mod member;
mod records;

pub use api::{fields, id, ids, sorted_fields, Api};
pub use member::{location, option_value, record_path, version_in, Host, Member};
pub use records::*;

/// The test server's token signing secret, so tests can forge tokens it would accept.
pub const TEST_JWT_SECRET: &[u8] = b"the test server's token signing secret, 32+ bytes";

/// The key the test server expects from the contract-signing system.
pub const TEST_PLATFORM_API_KEY: &str = "the contract-signing system's key, 32+ bytes";

/// Workspace slugs the test clients can reach: `<slug>.localhost` resolves to the test server.
pub const TEST_SLUGS: [&str; 5] = ["acme", "globex", "ghost", "dormant", "newco"];

/// The real server, on a random port of 127.0.0.1, serving `localhost:<port>` as its apex until
/// dropped.
pub struct TestApp {
    pub port: u16,
    /// A client without cookies.
    pub client: reqwest::Client,
    address: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl TestApp {
    /// A URL on the apex.
    pub fn url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.port)
    }

    /// A URL on the workspace host of `slug`.
    pub fn workspace_url(&self, slug: &str, path: &str) -> String {
        format!("http://{slug}.localhost:{}{path}", self.port)
    }

    /// A client like a browser: it keeps cookies per host and does not follow redirects.
    pub fn browser(&self) -> reqwest::Client {
        client_for(self.address, true)
    }

    /// A browser connecting from another loopback address (`127.0.0.2`, ...): another place.
    pub fn browser_from(&self, source: std::net::IpAddr) -> reqwest::Client {
        builder_for(self.address, true)
            .local_address(source)
            .build()
            .expect("a test client")
    }
}

fn client_for(address: SocketAddr, cookies: bool) -> reqwest::Client {
    builder_for(address, cookies)
        .build()
        .expect("a test client")
}

fn builder_for(address: SocketAddr, cookies: bool) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(cookies)
        .resolve("localhost", address);
    for slug in TEST_SLUGS {
        builder = builder.resolve(&format!("{slug}.localhost"), address);
    }
    builder
}

/// How a test server is set up: `TestApp::builder().demo().limiter(..).mailer(..).spawn()`.
pub struct AppBuilder {
    demo: bool,
    limiter: RateLimiter,
    mailer: Mailer,
    webhook_allow: Vec<ipnet::IpNet>,
    webhook_worker: WorkerSettings,
}

impl TestApp {
    /// A server over a fresh, empty database, counting rate limits in this process and keeping
    /// mail in the outbox, unless told otherwise.
    pub fn builder() -> AppBuilder {
        AppBuilder {
            demo: false,
            limiter: RateLimiter::local(),
            mailer: Mailer::OutboxOnly,
            webhook_allow: Vec::new(),
            webhook_worker: WorkerSettings::default(),
        }
    }
}

impl AppBuilder {
    /// The database holds the demo platform (acme and globex, a member of every role).
    pub fn demo(mut self) -> Self {
        self.demo = true;
        self
    }

    pub fn limiter(mut self, limiter: RateLimiter) -> Self {
        self.limiter = limiter;
        self
    }

    pub fn mailer(mut self, mailer: Mailer) -> Self {
        self.mailer = mailer;
        self
    }

    /// Webhooks may go to these networks (`AURA_WEBHOOK_ALLOW_NETWORKS`), e.g. `127.0.0.0/8`
    /// for a receiver in the test.
    pub fn webhook_allow(mut self, networks: &[&str]) -> Self {
        self.webhook_allow = networks.iter().map(|n| n.parse().unwrap()).collect();
        self
    }

    /// How the webhook worker paces itself (tests retry in milliseconds, not minutes).
    pub fn webhook_worker(mut self, settings: WorkerSettings) -> Self {
        self.webhook_worker = settings;
        self
    }

    /// The server over a fresh database of its own.
    pub async fn spawn(self) -> (TestApp, TestDatabase) {
        let db = if self.demo {
            demo_database().await
        } else {
            TestDatabase::new().await
        };
        let app = self.serve(db.app.clone()).await;
        (app, db)
    }

    /// The server over a database the test holds (several servers on one, or one it stops).
    pub async fn serve(self, pool: AppPool) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a random port");
        let address: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let state = AppState {
            db: pool,
            site: SiteConfig {
                base_host: format!("localhost:{}", address.port()),
                https: false,
            },
            tokens: TokenKeys::from_secret(TEST_JWT_SECRET).expect("a long enough secret"),
            limiter: Arc::new(self.limiter),
            platform_api_key: Some(TEST_PLATFORM_API_KEY.to_owned()),
            mailer: Arc::new(self.mailer),
            metrics: Arc::default(),
            webhook_guard: NetworkGuard::new(self.webhook_allow.clone()),
            webhook_worker: self.webhook_worker.clone(),
        };
        tokio::spawn(aura_web::serve(listener, state, async {
            stopped.await.ok();
        }));
        TestApp {
            port: address.port(),
            client: client_for(address, false),
            address,
            _stop: stop,
        }
    }
}

/// The `aura` binary with a clean environment: no AURA_* variable leaks in from the caller.
pub fn aura_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aura"));
    command.env_clear();
    for keep in ["PATH", "HOME", "TMPDIR"] {
        if let Some(value) = std::env::var_os(keep) {
            command.env(keep, value);
        }
    }
    command
}

/// A fresh database holding the demo platform (acme and globex, a member of every role).
pub async fn demo_database() -> TestDatabase {
    let db = TestDatabase::new().await;
    let owner = OwnerPool::connect(&db.owner_url).await.unwrap();
    demo::seed(&owner).await.unwrap();
    owner.close().await;
    db
}

/// An API access token for `email` on the workspace `slug` (the demo password).
pub async fn api_token(app: &TestApp, slug: &str, email: &str) -> String {
    let response = app
        .client
        .post(app.workspace_url(slug, "/api/v1/auth/token"))
        .json(&serde_json::json!({ "email": email, "password": DEMO_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        reqwest::StatusCode::OK,
        "{email} signs in"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A new API key of the workspace `slug`, created by its admin (`admin@<slug>.example`) in
/// Settings -> API keys; `role` is `read_only` or `manager`.
pub async fn api_key(app: &TestApp, slug: &str, role: &str) -> String {
    Member::sign_in(app, slug, &format!("admin@{slug}.example"))
        .await
        .create_api_key(&format!("{role} key"), role, "")
        .await
}

/// The link emailed to `email` at signup, once the signup (done after answering) wrote it.
pub async fn verification_link(db: &TestDatabase, email: &str) -> String {
    let started = Instant::now();
    loop {
        let body: Option<String> = sqlx::query_scalar(
            "select body_text from email_outbox where to_address = $1 and subject = 'Confirm your email for Aura'",
        )
        .bind(email)
        .fetch_optional(&db.owner)
        .await
        .unwrap();
        if let Some(body) = body {
            return body
                .lines()
                .find(|line| line.contains("/signup/verify/"))
                .expect("a verification link")
                .trim()
                .to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no verification message for {email}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the hidden `csrf_token` field in a page.
pub fn csrf_token(html: &str) -> String {
    html.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a csrf_token field")
        .to_owned()
}

/// Fills in the sign-in form at `login` as a browser does (its CSRF token read from the page)
/// and answers the response, for the caller to judge.
pub async fn submit_login(
    browser: &reqwest::Client,
    login: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let page = browser.get(login).send().await.unwrap();
    let token = csrf_token(&page.text().await.unwrap());
    browser
        .post(login)
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap()
}

pub async fn signed_in(app: &TestApp, email: &str, password: &str) -> (reqwest::Client, String) {
    signed_in_to(app, "acme", email, password).await
}

/// A member signed in to the workspace `slug`: their browser and their session's CSRF token.
pub async fn signed_in_to(
    app: &TestApp,
    slug: &str,
    email: &str,
    password: &str,
) -> (reqwest::Client, String) {
    let browser = app.browser();
    let response = submit_login(
        &browser,
        &app.workspace_url(slug, "/login"),
        email,
        password,
    )
    .await;
    assert_eq!(
        response.status(),
        reqwest::StatusCode::SEE_OTHER,
        "{email} could not sign in"
    );
    let home = browser
        .get(app.workspace_url(slug, "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_token(&home);
    (browser, csrf)
}

/// The demo platform served with its mail going out by SMTP to a server on `port` of loopback.
pub async fn demo_mailing_to(port: u16) -> (TestApp, TestDatabase) {
    let (demo, db) = TestApp::builder().demo().spawn().await;
    drop(demo);
    let mailer = Mailer::smtp(
        &format!("smtp://127.0.0.1:{port}"),
        "Aura <no-reply@aura.example>",
    )
    .unwrap();
    let app = TestApp::builder()
        .mailer(mailer)
        .serve(db.app.clone())
        .await;
    (app, db)
}

/// `aura serve` on `db`, on a free port, once it answers `/readyz`.
pub async fn serving(db: &TestDatabase) -> (Child, u16) {
    serving_with(db, &[]).await
}

/// `aura serve` on `db` with more environment variables, on a free port, once it answers
/// `/readyz`.
pub async fn serving_with(db: &TestDatabase, env: &[(&str, &str)]) -> (Child, u16) {
    let port = free_port();
    let child = aura_command()
        .env("AURA_DATABASE_URL", &db.owner_url)
        .env("AURA_APP_DATABASE_URL", &db.app_url)
        .env("AURA_LISTEN", format!("127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ready(port, Duration::from_secs(20)).await;
    (child, port)
}

/// A port nothing listens on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until the server on `port` answers `/readyz`, at most `limit`.
pub async fn ready(port: u16, limit: Duration) {
    let client = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(&ready).send().await {
            assert_eq!(response.status(), 200);
            return;
        }
        assert!(started.elapsed() < limit, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the process to end, at most 10 s.
pub async fn exit_of(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "no exit within 10 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
