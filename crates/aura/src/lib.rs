//! The `aura` binary's logic: commands, configuration and wiring. Kept thin: the work happens
//! in `aura-platform` and `aura-web`.

pub mod cli;
mod database;
mod doctor;
pub mod telemetry;

use anyhow::Context;
use aura_platform::audit::retention::{self, RetentionPeriod};
use aura_platform::auth::api::TokenKeys;
use aura_platform::db::{backup, migrate, AppPool, PoolSettings};
use aura_platform::demo::{self, DemoPlatform, SeedError};
use aura_platform::outbox::Mailer;
use aura_platform::termination;
use aura_platform::webhooks::worker::WorkerSettings;
use aura_platform::webhooks::NetworkGuard;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use aura_web::rate_limit::{RateLimiter, TrustedProxies};
use aura_web::{AppState, SiteConfig};
use tokio::net::TcpListener;
use url::Url;

use crate::cli::{AuditCommand, Cli, Command, ServeArgs};
use crate::database::Database;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let database = Database::open(&cli.database).await?;
    let outcome = match cli.command {
        Command::Serve(args) => serve(&database, *args).await,
        Command::Migrate => migrate_command(&database).await,
        Command::SeedDemo => seed_demo_command(&database).await,
        Command::Backup { file } => {
            backup_command(&database, cli.database.pg_bin_dir.as_deref(), &file).await
        }
        Command::Restore { file } => {
            restore_command(&database, cli.database.pg_bin_dir.as_deref(), &file).await
        }
        Command::Doctor(args) => doctor::run(&database, &args).await,
        Command::TerminateDue => terminate_due_command(&database).await,
        Command::Audit(AuditCommand::Prune { older_than }) => {
            audit_prune_command(&database, older_than).await
        }
    };
    database.close().await?;
    outcome
}

async fn migrate_command(database: &Database) -> anyhow::Result<()> {
    let owner = database.owner_pool().await?;
    migrate(&owner, database.app_password())
        .await
        .context("migration failed")?;
    owner.close().await;
    eprintln!("Schema is up to date; role `aura_app` is ready.");
    Ok(())
}

async fn backup_command(
    database: &Database,
    pg_bin_dir: Option<&Path>,
    file: &Path,
) -> anyhow::Result<()> {
    let owner = database.owner_pool().await?;
    let made = backup::backup(
        &owner,
        database.owner_url(),
        &database.client_tools(pg_bin_dir),
        file,
        env!("CARGO_PKG_VERSION"),
    )
    .await;
    owner.close().await;
    let manifest = made.context("backup failed")?;
    eprintln!(
        "Backed up to {} ({} migrations applied, PostgreSQL {}); manifest: {}",
        file.display(),
        manifest.migrations.len(),
        manifest.server_version,
        backup::manifest_path(file).display()
    );
    Ok(())
}

async fn restore_command(
    database: &Database,
    pg_bin_dir: Option<&Path>,
    file: &Path,
) -> anyhow::Result<()> {
    let owner = database.owner_pool().await?;
    let restored = backup::restore(
        &owner,
        database.owner_url(),
        &database.client_tools(pg_bin_dir),
        file,
        env!("CARGO_PKG_VERSION"),
        database.app_password(),
    )
    .await;
    owner.close().await;
    let restored = restored.context("restore failed")?;
    eprintln!(
        "Restored {} (made by Aura {} at {}, {} migrations).",
        file.display(),
        restored.manifest.aura_version,
        restored.manifest.created_at.to_rfc3339(),
        restored.manifest.migrations.len()
    );
    if restored.pending_migrations > 0 {
        eprintln!(
            "This Aura has {} newer migrations: run `aura migrate` before `aura serve`.",
            restored.pending_migrations
        );
    }
    Ok(())
}

async fn audit_prune_command(
    database: &Database,
    older_than: RetentionPeriod,
) -> anyhow::Result<()> {
    let owner = database.owner_pool().await?;
    let pruned = retention::prune(&owner, older_than).await;
    owner.close().await;
    let pruned = pruned.context("pruning the audit log failed")?;
    if pruned.dropped.is_empty() {
        eprintln!("No month of the audit log is older than {older_than}; nothing dropped.");
    }
    for month in &pruned.dropped {
        eprintln!("Dropped {} ({} entries).", month.partition, month.entries);
    }
    eprintln!(
        "Recorded in the platform audit log; {} partitions made for the coming months.",
        pruned.created
    );
    Ok(())
}

async fn terminate_due_command(database: &Database) -> anyhow::Result<()> {
    let owner = database.owner_pool().await?;
    let done = termination::terminate_due(&owner).await;
    owner.close().await;
    let done = done.context("terminating due workspaces failed")?;
    if done.is_empty() {
        eprintln!("No workspace is due for deletion.");
    }
    for workspace in &done {
        eprintln!(
            "Deleted workspace {} ({}): {} rows.",
            workspace.slug,
            workspace.tenant_id,
            workspace.rows.values().sum::<i64>()
        );
    }
    Ok(())
}

async fn seed_demo_command(database: &Database) -> anyhow::Result<()> {
    let owner = database.owner_pool().await?;
    if database.is_embedded() {
        migrate(&owner, database.app_password()).await?;
    }
    let seeded = demo::seed(&owner).await;
    owner.close().await;
    match seeded {
        Ok(platform) => {
            let app = AppPool::connect_lazy(database.app_url(), PoolSettings::default())?;
            seed_demo_records(&app, &platform).await?;
            app.close().await;
            eprintln!("Seeded the demo platform.");
            eprint!("{}", logins(&platform, &default_public_url(3000)));
            Ok(())
        }
        Err(SeedError::NotEmpty) => anyhow::bail!(
            "refusing to seed: the database already holds tenants (seed-demo fills only an empty database)"
        ),
        Err(err) => Err(err).context("seeding failed (has `aura migrate` been run?)"),
    }
}

/// The demo workspaces' organizations, contacts and activities, written by their members.
async fn seed_demo_records(app: &AppPool, platform: &DemoPlatform) -> anyhow::Result<()> {
    aura_crm::demo::seed(app, platform)
        .await
        .map_err(|err| anyhow::anyhow!(err))
        .context("seeding the demo records failed")
}

async fn serve(database: &Database, args: ServeArgs) -> anyhow::Result<()> {
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| default_public_url(args.listen.port()));
    let demo_seeding = DemoSeeding::decide(database.is_embedded(), args.listen, args.demo);
    let mut demo_platform = None;
    let mut freshly_seeded = None;
    if database.is_embedded() {
        let owner = database.owner_pool().await?;
        migrate(&owner, database.app_password()).await?;
        if demo_seeding.allowed() {
            match demo::seed(&owner).await {
                Ok(seeded) => freshly_seeded = Some(seeded),
                Err(SeedError::NotEmpty) => {}
                Err(err) => return Err(err).context("seeding the demo platform failed"),
            }
            demo_platform = Some(demo::platform());
        }
        owner.close().await;
    }

    let settings = PoolSettings {
        max_connections: args.db_pool_size,
        ..PoolSettings::default()
    };
    let app = AppPool::connect_lazy(database.app_url(), settings)?;
    app.verify_role()
        .await
        .context("checking the server's database role")?;
    if let Some(seeded) = &freshly_seeded {
        seed_demo_records(&app, seeded).await?;
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;

    eprintln!(
        "Aura is running at {public_url} (listening on {}).",
        args.listen
    );
    eprintln!(
        "Demo data: {}",
        demo_seeding.describe(freshly_seeded.is_some(), args.listen)
    );
    if let Some(platform) = &demo_platform {
        eprint!("{}", logins(platform, &public_url));
    }
    if database.is_embedded() {
        eprintln!(
            "Database: private PostgreSQL cluster in {}; data is kept across restarts.",
            database
                .data_folder()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    eprintln!("Press Ctrl-C to stop.");
    tracing::info!(listen = %args.listen, public_url = %public_url, "serving");

    let tokens = match &args.jwt_secret {
        Some(secret) => TokenKeys::from_secret(secret.as_bytes())?,
        None => {
            tracing::warn!("AURA_JWT_SECRET is not set: API tokens are signed with a key that lasts until this server stops");
            TokenKeys::generate()
        }
    };
    let mailer = match &args.smtp_url {
        Some(url) => {
            let host = public_url.host_str().unwrap_or("localhost");
            let from = args
                .mail_from
                .clone()
                .unwrap_or_else(|| format!("Aura <no-reply@{host}>"));
            Mailer::smtp(url, &from).context("the mail settings (AURA_SMTP_URL, AURA_MAIL_FROM)")?
        }
        None => Mailer::OutboxOnly,
    };
    let limiter = match &args.redis_url {
        Some(url) => RateLimiter::redis(url)
            .await
            .context("cannot connect to the Redis in AURA_REDIS_URL")?,
        None => RateLimiter::local(),
    }
    .with_limit(args.rate_limit_per_minute)
    .with_trusted_proxies(TrustedProxies::new(args.trusted_proxies.clone()));
    let state = AppState {
        db: app.clone(),
        site: site_config(&public_url),
        tokens,
        limiter: Arc::new(limiter),
        platform_api_key: args.platform_api_key.clone(),
        mailer: Arc::new(mailer),
        metrics: Arc::default(),
        webhook_guard: NetworkGuard::new(args.webhook_allow_networks.clone()),
        webhook_worker: WorkerSettings::default(),
    };
    aura_web::serve(listener, state, shutdown_signal())
        .await
        .context("the HTTP server failed")?;
    tracing::info!("shut down cleanly");
    app.close().await;
    Ok(())
}

/// Whether `serve` seeds the demo platform, whose passwords are published (README), and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DemoSeeding {
    /// A configured database gets the demo only from `aura seed-demo`.
    ConfiguredDatabase,
    /// Listening on loopback: only this machine can use the published logins.
    Loopback,
    /// `--demo` / `AURA_DEMO` asked for it.
    Asked,
    /// Listening where other machines reach it.
    Exposed,
}

impl DemoSeeding {
    fn decide(embedded: bool, listen: SocketAddr, asked: bool) -> Self {
        if !embedded {
            Self::ConfiguredDatabase
        } else if listen.ip().to_canonical().is_loopback() {
            Self::Loopback
        } else if asked {
            Self::Asked
        } else {
            Self::Exposed
        }
    }

    fn allowed(self) -> bool {
        matches!(self, Self::Loopback | Self::Asked)
    }

    /// What `serve` did about the demo, for its start-up message.
    fn describe(self, seeded_now: bool, listen: SocketAddr) -> String {
        let done = if seeded_now {
            "seeded"
        } else {
            "not seeded (the database already holds workspaces)"
        };
        match self {
            Self::ConfiguredDatabase => {
                "not seeded (a configured database gets it only from `aura seed-demo`).".into()
            }
            Self::Loopback => {
                format!("{done}; Aura listens on loopback ({listen}), so only this machine can use the published logins.")
            }
            Self::Asked => format!(
                "{done}, as --demo (AURA_DEMO) asks, although Aura listens on {listen}: \
                 anyone who reaches it can use the published logins."
            ),
            Self::Exposed => format!(
                "not seeded: Aura listens on {listen}, beyond loopback, and the demo's \
                 passwords are published. Pass --demo (AURA_DEMO=true) to seed it anyway."
            ),
        }
    }
}

/// The apex host as browsers send it in `Host` (the port only when not the scheme's default).
fn site_config(public_url: &Url) -> SiteConfig {
    let host = public_url
        .host_str()
        .unwrap_or("localhost")
        .to_ascii_lowercase();
    SiteConfig {
        base_host: match public_url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        },
        https: public_url.scheme() == "https",
    }
}

fn default_public_url(port: u16) -> Url {
    Url::parse(&format!("http://localhost:{port}")).expect("a valid URL")
}

/// `public_url` with the tenant's slug prefixed to its host.
fn tenant_url(public_url: &Url, slug: &str) -> String {
    let mut url = public_url.clone();
    let host = format!("{slug}.{}", public_url.host_str().unwrap_or("localhost"));
    url.set_host(Some(&host))
        .expect("a slug is a valid host label");
    url.into()
}

fn logins(platform: &DemoPlatform, public_url: &Url) -> String {
    let mut out = format!("\nDemo logins (every password: {}):\n", demo::DEMO_PASSWORD);
    out.push_str(&format!(
        "  Platform admin  {:<24} {}\n",
        platform.platform_admin_email, public_url
    ));
    for tenant in &platform.tenants {
        out.push_str(&format!(
            "  {} ({})\n",
            tenant.name,
            tenant_url(public_url, &tenant.slug)
        ));
        for user in &tenant.users {
            out.push_str(&format!("    {:<13} {}\n", user.role.label(), user.email));
        }
        if tenant.slug == demo::DEMO_API_KEY_SLUG {
            out.push_str(&format!("    {:<13} {}\n", "API key", demo::DEMO_API_KEY));
        }
    }
    out.push('\n');
    out
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate.recv() => {},
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_host_is_what_browsers_send_in_the_host_header() {
        let site = site_config(&Url::parse("https://CRM.example.com").unwrap());
        assert_eq!(site.base_host, "crm.example.com");
        assert!(site.https);
        let site = site_config(&default_public_url(3000));
        assert_eq!(site.base_host, "localhost:3000");
        assert!(!site.https);
    }

    #[test]
    fn the_demo_is_seeded_on_loopback_or_when_asked() {
        let at = |address: &str| address.parse::<SocketAddr>().unwrap();
        for loopback in ["127.0.0.1:3000", "127.0.0.2:80", "[::1]:3000"] {
            assert_eq!(
                DemoSeeding::decide(true, at(loopback), false),
                DemoSeeding::Loopback
            );
        }
        for exposed in ["0.0.0.0:3000", "[::]:3000", "192.0.2.10:3000"] {
            assert_eq!(
                DemoSeeding::decide(true, at(exposed), false),
                DemoSeeding::Exposed
            );
            assert!(!DemoSeeding::Exposed.allowed());
            assert_eq!(
                DemoSeeding::decide(true, at(exposed), true),
                DemoSeeding::Asked
            );
        }
        assert_eq!(
            DemoSeeding::decide(false, at("127.0.0.1:3000"), true),
            DemoSeeding::ConfiguredDatabase
        );
        assert!(!DemoSeeding::ConfiguredDatabase.allowed());
    }

    #[test]
    fn tenant_urls_are_subdomains_of_the_public_url() {
        let public = Url::parse("https://crm.example.com").unwrap();
        assert_eq!(tenant_url(&public, "acme"), "https://acme.crm.example.com/");
        assert_eq!(
            tenant_url(&default_public_url(3000), "acme"),
            "http://acme.localhost:3000/"
        );
    }
}
