//! `aura doctor`: checks a live deployment the way the catalog test checks a test database (the
//! same queries, from `aura_platform::db::catalog`), and prints a report an operator can hand to
//! an auditor. Any failed check makes the command fail.

use std::fmt::Write as _;

use aura_platform::db::{catalog, AppPool, DbError, OwnerPool, PoolSettings, APP_ROLE};
use aura_platform::outbox::Mailer;
use aura_web::rate_limit::RateLimiter;
use url::Url;

use crate::cli::DoctorArgs;
use crate::database::Database;

/// How long Redis or the SMTP server may take to answer (a client may otherwise retry for ever).
const REACH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

enum Outcome {
    Pass(String),
    Fail(Vec<String>),
    Skip(String),
}

struct Check {
    title: &'static str,
    outcome: Outcome,
}

impl Check {
    /// Passes with `detail` when the catalog query found no violation.
    fn from_violations(
        title: &'static str,
        found: Result<Vec<String>, DbError>,
        detail: impl FnOnce() -> String,
    ) -> Self {
        let outcome = match found {
            Ok(violations) if violations.is_empty() => Outcome::Pass(detail()),
            Ok(violations) => Outcome::Fail(violations),
            Err(err) => Outcome::Fail(vec![format!("could not check: {err}")]),
        };
        Self { title, outcome }
    }
}

/// Runs every check, prints the report on stdout, and fails when any check failed.
pub async fn run(database: &Database, args: &DoctorArgs) -> anyhow::Result<()> {
    let owner = database.owner_pool().await?;
    let checks = checks(database, &owner, args).await;
    // `current_setting` rather than `show`: the same value, and a statement the macro can check.
    let server_version: String =
        sqlx::query_scalar!(r#"select current_setting('server_version') as "server_version!""#)
            .fetch_one(owner.pool())
            .await
            .unwrap_or_else(|err| format!("unknown ({err})"));
    owner.close().await;
    let report = report(database, &server_version, &checks);
    print!("{report}");
    let failed = checks
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Fail(_)))
        .count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} checks failed", checks.len());
    }
    Ok(())
}

async fn checks(database: &Database, owner: &OwnerPool, args: &DoctorArgs) -> Vec<Check> {
    let db = owner.pool();
    let tenant_tables = catalog::tenant_tables(db).await.unwrap_or_default();
    let definers = catalog::definer_functions(db).await.unwrap_or_default();
    let mut checks = vec![
        Check::from_violations(
            "The server's role cannot bypass row level security and owns nothing",
            catalog::app_role_violations(db).await,
            || format!("{APP_ROLE}: not superuser, no BYPASSRLS, CREATEROLE or CREATEDB, owns no relation, member of no role"),
        ),
        app_connection(database).await,
        Check::from_violations(
            "Every table with tenant_id forces row level security and confines each command to the workspace",
            catalog::isolation_violations(db).await,
            || format!("{} tables with tenant_id: {}", tenant_tables.len(), tenant_tables.join(", ")),
        ),
        Check::from_violations(
            "References to users from workspace tables keep the workspace",
            catalog::user_references_without_tenant(db).await,
            || "none leaves the workspace out".into(),
        ),
        Check::from_violations(
            "Every security definer function pins search_path and is not executable by PUBLIC",
            catalog::definer_function_violations(db).await,
            || format!("{} functions: {}", definers.len(), definers.join(", ")),
        ),
        Check::from_violations(
            "Migrations are current",
            catalog::migration_violations(db).await,
            || format!("{} migrations applied, as this Aura ({}) has them", aura_platform::db::MIGRATOR.iter().count(), env!("CARGO_PKG_VERSION")),
        ),
        Check::from_violations(
            "The audit log has its partitions ahead of time",
            catalog::audit_partition_violations(db).await,
            || "next month's partition exists; the default partition is empty".into(),
        ),
    ];
    checks.push(Check {
        title: "Redis (shared rate limits) is reachable",
        outcome: match &args.redis_url {
            None => {
                Outcome::Skip("AURA_REDIS_URL is not set: limits are counted per server".into())
            }
            Some(url) => match tokio::time::timeout(REACH_TIMEOUT, RateLimiter::redis(url)).await {
                Ok(Ok(_)) => Outcome::Pass(format!("connected to {}", redacted(url))),
                Ok(Err(err)) => Outcome::Fail(vec![format!("{}: {err}", redacted(url))]),
                Err(_) => Outcome::Fail(vec![format!(
                    "{}: no answer within {} s",
                    redacted(url),
                    REACH_TIMEOUT.as_secs()
                )]),
            },
        },
    });
    checks.push(Check {
        title: "SMTP (outgoing email) is reachable",
        outcome: match &args.smtp_url {
            None => Outcome::Skip("AURA_SMTP_URL is not set: messages stay in the outbox".into()),
            Some(url) => match tokio::time::timeout(REACH_TIMEOUT, Mailer::check_smtp(url)).await {
                Ok(Ok(())) => Outcome::Pass(format!("a session opened on {}", redacted(url))),
                Ok(Err(err)) => Outcome::Fail(vec![format!("{}: {err}", redacted(url))]),
                Err(_) => Outcome::Fail(vec![format!(
                    "{}: no answer within {} s",
                    redacted(url),
                    REACH_TIMEOUT.as_secs()
                )]),
            },
        },
    });
    checks
}

/// Connects as the server does and lets the pool check its own role, as `aura serve` does at
/// start.
async fn app_connection(database: &Database) -> Check {
    let title = "The server connects as its role and that role passes the server's own check";
    let outcome = match AppPool::connect_lazy(database.app_url(), PoolSettings::default()) {
        Err(err) => Outcome::Fail(vec![err.to_string()]),
        Ok(app) => {
            let checked = app.verify_role().await;
            app.close().await;
            match checked {
                Ok(()) => Outcome::Pass(format!("as {}", redacted(database.app_url()))),
                Err(err) => Outcome::Fail(vec![err.to_string()]),
            }
        }
    };
    Check { title, outcome }
}

/// A URL without its password.
fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut url) => {
            if url.password().is_some() {
                url.set_password(Some("****")).ok();
            }
            url.into()
        }
        Err(_) => "(an unparsable URL)".into(),
    }
}

fn report(database: &Database, server_version: &str, checks: &[Check]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Aura doctor report");
    let _ = writeln!(out, "  Aura version:   {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(
        out,
        "  Checked at:     {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    );
    let _ = writeln!(out, "  Database:       {}", redacted(database.owner_url()));
    let _ = writeln!(out, "  PostgreSQL:     {server_version}");
    let _ = writeln!(out, "  Server's role:  {APP_ROLE}");
    let _ = writeln!(out);
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for check in checks {
        match &check.outcome {
            Outcome::Pass(detail) => {
                passed += 1;
                let _ = writeln!(out, "PASS  {}\n      {detail}", check.title);
            }
            Outcome::Skip(reason) => {
                skipped += 1;
                let _ = writeln!(out, "SKIP  {}\n      {reason}", check.title);
            }
            Outcome::Fail(problems) => {
                failed += 1;
                let _ = writeln!(out, "FAIL  {}", check.title);
                for problem in problems {
                    let _ = writeln!(out, "      - {problem}");
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "\nResult: {passed} passed, {failed} failed, {skipped} skipped."
    );
    out
}
