//! Which database the commands use: the configured one, or the private embedded cluster.

use std::path::{Path, PathBuf};

use anyhow::Context;
use aura_platform::db::backup::PgClientTools;
use aura_platform::db::embedded::EmbeddedCluster;
use aura_platform::db::{app_url_from_owner_url, OwnerPool, APP_ROLE};
use sqlx::Connection;

use crate::cli::DatabaseArgs;

/// The database Aura's schema lives in, inside the embedded cluster.
const EMBEDDED_DATABASE: &str = "aura";

pub struct Database {
    owner_url: String,
    app_url: String,
    app_password: Option<String>,
    embedded: Option<EmbeddedCluster>,
}

impl Database {
    pub async fn open(args: &DatabaseArgs) -> anyhow::Result<Self> {
        let app_password = args.app_password.clone();
        if let Some(owner_url) = &args.database_url {
            let app_url = match &args.app_database_url {
                Some(url) => url.to_string(),
                None => app_url_from_owner_url(owner_url.as_str(), app_password.as_deref())
                    .context("deriving the aura_app URL from AURA_DATABASE_URL")?,
            };
            return Ok(Self {
                owner_url: owner_url.to_string(),
                app_url,
                app_password,
                embedded: None,
            });
        }
        let folder = args.data_dir.clone().unwrap_or_else(default_data_dir);
        let bin_dir = args.pg_bin_dir.clone();
        let cluster = tokio::task::spawn_blocking(move || {
            EmbeddedCluster::start(&folder, bin_dir.as_deref())
        })
        .await?
        .context("cannot start the private PostgreSQL cluster")?;
        create_database_if_missing(&cluster.owner_url("postgres")).await?;
        Ok(Self {
            owner_url: cluster.owner_url(EMBEDDED_DATABASE),
            app_url: cluster.url(APP_ROLE, EMBEDDED_DATABASE),
            app_password,
            embedded: Some(cluster),
        })
    }

    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    pub fn data_folder(&self) -> Option<&Path> {
        self.embedded.as_ref().map(EmbeddedCluster::data_folder)
    }

    pub fn owner_url(&self) -> &str {
        &self.owner_url
    }

    /// pg_dump and pg_restore: the embedded cluster's own installation's, else those in
    /// AURA_PG_BIN_DIR, else on `PATH`.
    pub fn client_tools(&self, pg_bin_dir: Option<&Path>) -> PgClientTools {
        PgClientTools {
            dir: match &self.embedded {
                Some(cluster) => Some(cluster.bin_dir().to_owned()),
                None => pg_bin_dir.map(Path::to_owned),
            },
        }
    }

    pub fn app_url(&self) -> &str {
        &self.app_url
    }

    pub fn app_password(&self) -> Option<&str> {
        self.app_password.as_deref()
    }

    pub async fn owner_pool(&self) -> anyhow::Result<OwnerPool> {
        OwnerPool::connect(&self.owner_url)
            .await
            .context("cannot connect to the database as its owner")
    }

    /// Stops the embedded cluster if this process started it; a configured database is left alone.
    pub async fn close(self) -> anyhow::Result<()> {
        if let Some(cluster) = self.embedded.filter(EmbeddedCluster::started_here) {
            tokio::task::spawn_blocking(move || cluster.stop())
                .await?
                .context("stopping the private PostgreSQL cluster")?;
        }
        Ok(())
    }
}

async fn create_database_if_missing(maintenance_url: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(maintenance_url)
        .await
        .context("cannot connect to the private PostgreSQL cluster")?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(EMBEDDED_DATABASE)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        sqlx::raw_sql(&format!("create database {EMBEDDED_DATABASE}"))
            .execute(&mut conn)
            .await?;
    }
    conn.close().await?;
    Ok(())
}

/// A system service's place as root; the user's data folder otherwise.
fn default_data_dir() -> PathBuf {
    if nix::unistd::Uid::effective().is_root() {
        return PathBuf::from("/var/lib/aura");
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data_home.join("aura")
}
