use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use aura_platform::auth::api::TokenKeys;
use aura_platform::db::testing::TestDatabase;
use aura_platform::db::AppPool;
use aura_web::rate_limit::RateLimiter;
use aura_web::{AppState, SiteConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The test server's token signing secret, so tests can forge tokens it would accept.
pub const TEST_JWT_SECRET: &[u8] = b"the test server's token signing secret, 32+ bytes";

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
}

fn client_for(address: SocketAddr, cookies: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(cookies)
        .resolve("localhost", address);
    for slug in TEST_SLUGS {
        builder = builder.resolve(&format!("{slug}.localhost"), address);
    }
    builder.build().expect("a test client")
}

/// A server over a fresh database of its own.
pub async fn spawn_app() -> (TestApp, TestDatabase) {
    let db = TestDatabase::new().await;
    let app = spawn_app_with(db.app.clone()).await;
    (app, db)
}

/// A server over the given pool, counting rate limits in this process.
pub async fn spawn_app_with(pool: AppPool) -> TestApp {
    spawn_app_with_limiter(pool, RateLimiter::local()).await
}

/// A server over the given pool and rate limiter.
pub async fn spawn_app_with_limiter(pool: AppPool, limiter: RateLimiter) -> TestApp {
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
        limiter: Arc::new(limiter),
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
