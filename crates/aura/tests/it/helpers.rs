use std::net::SocketAddr;
use std::process::Command;

use aura_platform::db::testing::TestDatabase;
use aura_platform::db::AppPool;
use aura_web::AppState;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The real server, on a random port of 127.0.0.1, serving until dropped.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

/// A server over a fresh database of its own.
pub async fn spawn_app() -> (TestApp, TestDatabase) {
    let db = TestDatabase::new().await;
    let app = spawn_app_with(db.app.clone()).await;
    (app, db)
}

/// A server over the given pool.
pub async fn spawn_app_with(pool: AppPool) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a random port");
    let address: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(aura_web::serve(listener, AppState { db: pool }, async {
        stopped.await.ok();
    }));
    TestApp {
        address: format!("http://{address}"),
        client: reqwest::Client::new(),
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
