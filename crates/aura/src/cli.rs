//! The command line. Every option can also be set by the environment variable named in its help.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use aura_platform::audit::retention::{RetentionError, RetentionPeriod};
use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;
use url::Url;

#[derive(Debug, Parser)]
#[command(
    name = "aura",
    version,
    about = "Aura CRM: a multi-tenant CRM whose tenant isolation PostgreSQL itself enforces",
    long_about = "Aura CRM: a multi-tenant CRM whose tenant isolation PostgreSQL itself enforces.\n\n\
        Without AURA_DATABASE_URL, Aura runs a private PostgreSQL cluster from the machine's \
        installed server binaries in its data folder, and `aura serve` seeds a demo platform \
        into it when listening on loopback only (or with --demo): the demo's passwords are \
        published. With AURA_DATABASE_URL, Aura uses that database and seeds nothing.",
    after_help = "Examples:\n  aura serve                        start with the private database and demo data\n  \
        AURA_DATABASE_URL=postgres://owner@db/aura aura migrate\n  \
        AURA_DATABASE_URL=postgres://owner@db/aura AURA_APP_PASSWORD=... aura serve\n  \
        AURA_DATABASE_URL=postgres://owner@db/aura aura backup /backups/aura-$(date +%F).dump\n  \
        AURA_DATABASE_URL=postgres://owner@db/aura_restored aura restore /backups/aura-2026-12-01.dump"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Log filter, in tracing's EnvFilter syntax (e.g. `info`, `aura_web=debug,info`).
    #[arg(long, env = "AURA_LOG", default_value = "info", global = true)]
    pub log: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web UI and API until SIGTERM or Ctrl-C, then finish requests in flight and exit.
    Serve(Box<ServeArgs>),
    /// Create or update the `aura_app` role and apply pending schema migrations.
    Migrate,
    /// Seed the demo platform (two tenants, a user of every role, a platform admin) into an empty database.
    SeedDemo,
    /// Back up the database to FILE (pg_dump's custom format) and FILE.manifest.json (Aura's
    /// version, the migrations applied, the archive's SHA-256). Uses the pg_dump of the private
    /// cluster's installation, else of AURA_PG_BIN_DIR, else on PATH.
    Backup {
        /// The archive to write; FILE.manifest.json is written beside it.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Restore a backup made by `aura backup` into an EMPTY database (refuses one that holds
    /// anything). Creates the `aura_app` role as `migrate` does, checks the manifest against this
    /// binary's migrations, and restores in one transaction.
    Restore {
        /// The archive; FILE.manifest.json must be beside it.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// The workspace audit log's retention (F14.4).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check this deployment as the catalog test checks a test database: the server's role
    /// cannot bypass row level security and owns nothing; every table with tenant_id forces
    /// RLS and has its policies; every security definer function pins search_path; migrations
    /// are current; audit partitions exist ahead; Redis and SMTP answer when configured. Prints
    /// a report for an auditor; exits non-zero when any check fails.
    Doctor(DoctorArgs),
    /// Delete for good every workspace whose scheduled deletion is due (an operator schedules
    /// it on the apex's Workspaces page, with a grace period): every row in every table with a
    /// tenant_id, leaving a tombstone in the platform audit log. Run it daily (cron, timer).
    TerminateDue,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Redis the servers share rate limits in (as `serve`); checked when set.
    #[arg(long, env = "AURA_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// SMTP server for outgoing email (as `serve`); checked when set (no message is sent).
    #[arg(long, env = "AURA_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Drop the audit log's monthly partitions whose entries are all older than the period
    /// (whole months, at least 12 months kept), record it in the platform audit log, and make
    /// the partitions of the coming months.
    Prune {
        /// Age beyond which whole months go, e.g. `24months`; at least 12 months.
        #[arg(long, value_name = "MONTHS", value_parser = parse_retention)]
        older_than: RetentionPeriod,
    },
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Database URL of the schema owner (superuser or BYPASSRLS), used by `migrate` and `seed-demo`.
    /// Unset: a private PostgreSQL cluster in --data-dir.
    #[arg(long, env = "AURA_DATABASE_URL", global = true, hide_env_values = true,
          value_parser = parse_postgres_url)]
    pub database_url: Option<Url>,

    /// Database URL `aura serve` connects with; its role must not bypass row-level security.
    /// Default: AURA_DATABASE_URL with the user `aura_app` and AURA_APP_PASSWORD.
    #[arg(long, env = "AURA_APP_DATABASE_URL", global = true, hide_env_values = true,
          value_parser = parse_postgres_url)]
    pub app_database_url: Option<Url>,

    /// Password `aura migrate` gives the `aura_app` role, and `aura serve` logs in with.
    #[arg(long, env = "AURA_APP_PASSWORD", global = true, hide_env_values = true)]
    pub app_password: Option<String>,

    /// Folder of the private PostgreSQL cluster. Default: /var/lib/aura as root, else
    /// $XDG_DATA_HOME/aura (~/.local/share/aura).
    #[arg(long, env = "AURA_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// Folder holding initdb, pg_ctl and postgres. Default: found via pg_config, /usr/lib/postgresql, PATH.
    #[arg(long, env = "AURA_PG_BIN_DIR", global = true)]
    pub pg_bin_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "AURA_LISTEN",
        default_value = "127.0.0.1:3000",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,

    /// The URL users reach Aura at; tenants live at its subdomains (`acme.<host>`).
    /// Default: http://localhost:<port of --listen>.
    #[arg(long, env = "AURA_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<Url>,

    /// Secret that signs API access tokens (at least 32 bytes). Unset: a random one per start,
    /// so tokens do not survive a restart and are not shared between servers.
    #[arg(long, env = "AURA_JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub jwt_secret: Option<String>,

    /// Key the external contract-signing system presents to record signed contracts (at least
    /// 32 bytes). Unset: that endpoint is disabled.
    #[arg(long, env = "AURA_PLATFORM_API_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub platform_api_key: Option<String>,

    /// SMTP server for outgoing email (`smtp://user:pass@host:587?tls=required`, `smtps://...`).
    /// Unset: messages stay in the outbox, the UI shows invitation links itself, and removing
    /// a member asks for the admin's password instead of an emailed code.
    #[arg(long, env = "AURA_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Sender of outgoing email. Default: `Aura <no-reply@HOST>` with the public URL's host.
    #[arg(long, env = "AURA_MAIL_FROM")]
    pub mail_from: Option<String>,

    /// Redis URL for rate-limit counts shared by all servers. Unset: counted in this process.
    #[arg(long, env = "AURA_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Load balancers or reverse proxies in front of Aura: addresses or CIDR ranges,
    /// comma-separated. Only from these is `X-Forwarded-For` believed, for the client address
    /// that anonymous rate limits count. Unset: the connecting peer is the client.
    #[arg(long, env = "AURA_TRUSTED_PROXIES", value_name = "RANGES",
          value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<IpNet>,

    /// Networks webhooks may be sent to although they are loopback, private, link-local or
    /// otherwise internal: CIDR ranges or addresses, comma-separated (e.g. a receiver on
    /// 127.0.0.1 for development; plain http is accepted only to these). Unset: none.
    #[arg(long, env = "AURA_WEBHOOK_ALLOW_NETWORKS", value_name = "RANGES",
          value_delimiter = ',', value_parser = parse_network)]
    pub webhook_allow_networks: Vec<IpNet>,

    /// Seed the demo platform (published passwords) into the private database even when
    /// listening beyond loopback. Without it, the demo is seeded only on a loopback address.
    #[arg(long, env = "AURA_DEMO")]
    pub demo: bool,

    /// Most database connections the server holds.
    #[arg(long, env = "AURA_DB_POOL_SIZE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=500))]
    pub db_pool_size: u32,

    /// Requests a minute each signed-in user, API key or anonymous client address may make
    /// before it is answered 429.
    #[arg(long, env = "AURA_RATE_LIMIT_PER_MINUTE",
          default_value_t = aura_web::rate_limit::LIMIT_PER_MINUTE,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_limit_per_minute: u64,
}

fn parse_postgres_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|err| format!("not a URL ({err})"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err("expected a postgres:// or postgresql:// URL".into());
    }
    Ok(url)
}

/// A secret of at least 32 bytes (token signing secret, platform API key).
fn parse_secret(value: &str) -> Result<String, String> {
    if value.len() < aura_platform::auth::api::MIN_SECRET_BYTES {
        return Err(format!(
            "use at least {} bytes (e.g. `openssl rand -base64 48`)",
            aura_platform::auth::api::MIN_SECRET_BYTES
        ));
    }
    Ok(value.to_owned())
}

/// A trusted proxy or an allowed webhook network: one address, or a CIDR range.
fn parse_network(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .map(|range| range.trunc())
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            "expected IP addresses or CIDR ranges such as 10.0.0.0/8, comma-separated".into()
        })
}

fn parse_retention(value: &str) -> Result<RetentionPeriod, String> {
    value.parse().map_err(|err: RetentionError| err.to_string())
}

fn parse_public_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|err| format!("not a URL ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("expected an http:// or https:// URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL needs a host name".into());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("expected a bare origin such as https://crm.example.com, with no path".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_bare_http_origins() {
        assert!(parse_public_url("https://crm.example.com").is_ok());
        assert!(parse_public_url("http://localhost:3000").is_ok());
        assert!(parse_public_url("ftp://crm.example.com").is_err());
        assert!(parse_public_url("https://crm.example.com/app").is_err());
        assert!(parse_public_url("crm.example.com").is_err());
    }

    #[test]
    fn database_urls_must_be_postgres() {
        assert!(parse_postgres_url("postgres://u@h/db").is_ok());
        assert!(parse_postgres_url("mysql://u@h/db").is_err());
        assert!(parse_postgres_url("not a url").is_err());
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        assert_eq!(
            parse_network(" 10.0.0.7 ").unwrap().to_string(),
            "10.0.0.7/32"
        );
        assert_eq!(
            parse_network("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert!(parse_network("proxy.internal").is_err());
        assert!(parse_network("10.0.0.0/33").is_err());
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
