//! The release `aura serve` in its own process (issue 16: "starts the release `aura serve`"):
//! the server measured is the one that ships, configured as an operator would, and its
//! resident memory is its own, not the load driver's.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use aura_platform::db::testing::TestDatabase;
use tokio::process::{Child, Command};

/// A running `aura serve`; it is killed when dropped.
pub struct Server {
    _child: Child,
    pub address: SocketAddr,
    pub pid: u32,
}

/// The `aura` binary built beside this program (the same profile).
fn binary() -> anyhow::Result<PathBuf> {
    let binary = std::env::current_exe()?.with_file_name("aura");
    anyhow::ensure!(
        binary.exists(),
        "no `aura` binary beside this program ({}): build both with \
         `cargo build --release -p aura -p aura-bench`",
        binary.display()
    );
    Ok(binary)
}

impl Server {
    /// Starts `aura serve` on a free loopback port over `db` (`aura_app`'s pool of 10
    /// connections, the default), with the per-user rate limit raised out of the way (it would
    /// stop a benchmark, not measure anything) and no Redis or SMTP; waits until it answers.
    pub async fn start(db: &TestDatabase) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut child = Command::new(binary()?)
            .arg("serve")
            .env("AURA_DATABASE_URL", &db.owner_url)
            .env("AURA_APP_DATABASE_URL", &db.app_url)
            .env("AURA_LISTEN", address.to_string())
            .env("AURA_PUBLIC_URL", format!("http://localhost:{port}"))
            .env(
                "AURA_JWT_SECRET",
                "the benchmark's token signing secret, 32+ bytes",
            )
            .env("AURA_RATE_LIMIT_PER_MINUTE", u64::MAX.to_string())
            .env("AURA_LOG", "warn")
            .env_remove("AURA_REDIS_URL")
            .env_remove("AURA_SMTP_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting aura serve")?;
        let pid = child.id().context("aura serve has no pid")?;
        let health = format!("http://{address}/healthz");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("aura serve exited at start ({status})");
            }
            if client
                .get(&health)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "aura serve did not answer in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self {
            _child: child,
            address,
            pid,
        })
    }
}
