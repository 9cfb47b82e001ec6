//! The export scenario (issue 15): the large workspace exported whole by the server's export
//! worker, timed from the moment the export is queued until its file is stored, with the
//! server process's resident memory sampled meanwhile. The export
//! is queued as the owner, as an admin's one-time code would have queued it: the code is
//! step-up's business, not the export's cost.

use std::time::{Duration, Instant};

use anyhow::bail;
use aura_platform::db::testing::TestDatabase;

use crate::report::RssSampler;

/// One export of the large workspace.
pub struct ExportRun {
    pub format: &'static str,
    pub seconds: f64,
    pub records: i64,
    pub bytes: i64,
    /// The server's resident memory just before, and the most seen during the export, MiB.
    pub rss_before: f64,
    pub rss_peak: f64,
}

/// Exports the workspace `tenant` in `format` (`csv` or `jsonl`) and waits for the file.
pub async fn run(
    db: &TestDatabase,
    tenant: uuid::Uuid,
    format: &'static str,
    rss: &RssSampler,
) -> anyhow::Result<ExportRun> {
    let admin: uuid::Uuid = sqlx::query_scalar(
        "select user_id from tenant_members where tenant_id = $1 and role = 'admin'
         order by user_id limit 1",
    )
    .bind(tenant)
    .fetch_one(&db.owner)
    .await?;
    let rss_before = rss.take();
    let started = Instant::now();
    let id: uuid::Uuid = sqlx::query_scalar(
        "insert into exports (tenant_id, format, requested_by)
         values ($1, $2::aura.export_format, $3) returning id",
    )
    .bind(tenant)
    .bind(format)
    .bind(admin)
    .fetch_one(&db.owner)
    .await?;
    loop {
        let (status, records, bytes, error): (String, i64, i64, Option<String>) = sqlx::query_as(
            "select status::text, records_done, bytes, error from exports where id = $1",
        )
        .bind(id)
        .fetch_one(&db.owner)
        .await?;
        match status.as_str() {
            "done" => {
                return Ok(ExportRun {
                    format,
                    seconds: started.elapsed().as_secs_f64(),
                    records,
                    bytes,
                    rss_before,
                    rss_peak: rss.take(),
                })
            }
            "failed" => bail!("the export failed: {}", error.unwrap_or_default()),
            _ if started.elapsed() > Duration::from_secs(600) => {
                bail!("the export did not finish in 10 minutes")
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The section of BENCHMARKS.md.
pub fn print(runs: &[ExportRun]) {
    println!("| format | records | file | time | records/s | RSS before | RSS peak during |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for run in runs {
        println!(
            "| {} | {} | {:.1} MiB | {:.1} s | {:.0} | {:.0} MiB | {:.0} MiB |",
            run.format,
            run.records,
            run.bytes as f64 / (1024.0 * 1024.0),
            run.seconds,
            run.records as f64 / run.seconds,
            run.rss_before,
            run.rss_peak,
        );
    }
}
