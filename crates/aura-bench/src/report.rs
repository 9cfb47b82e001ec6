//! What the run prints for BENCHMARKS.md: the machine, the dataset, the scenario tables, the
//! targets of issue 16 met or missed, and the server's memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aura_platform::db::testing::TestDatabase;

use crate::load::Outcome;

/// The machine the run was on.
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub memory_gib: f64,
    pub postgres: String,
    pub settings: Vec<(String, String)>,
}

pub async fn machine(db: &TestDatabase) -> anyhow::Result<Machine> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0.0);
    let postgres: String = sqlx::query_scalar("select version()")
        .fetch_one(&db.owner)
        .await?;
    let settings: Vec<(String, String)> = sqlx::query_as(
        "select name, setting || coalesce(' ' || unit, '') from pg_settings
         where name in ('max_connections', 'shared_buffers', 'work_mem', 'effective_cache_size',
                        'synchronous_commit', 'fsync', 'jit', 'max_parallel_workers_per_gather',
                        'random_page_cost')
         order by name",
    )
    .fetch_all(&db.owner)
    .await?;
    Ok(Machine {
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        memory_gib: memory_kib / 1024.0 / 1024.0,
        postgres: postgres
            .split(" on ")
            .next()
            .unwrap_or(&postgres)
            .to_owned(),
        settings,
    })
}

/// The resident memory (`VmRSS`) of process `pid` and its peak (`VmHWM`), in MiB; zeros once
/// it is gone.
pub fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|l| l.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Samples the server's `VmRSS` every 50 ms; `take` gives the largest since the last `take`.
#[derive(Clone)]
pub struct RssSampler {
    pid: u32,
    max_kib: Arc<AtomicU64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let sampler = Self {
            pid,
            max_kib: Arc::default(),
        };
        let max = Arc::clone(&sampler.max_kib);
        tokio::spawn(async move {
            loop {
                let kib = (rss_mib(pid).0 * 1024.0) as u64;
                max.fetch_max(kib, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        sampler
    }

    /// The largest RSS seen since the last call, in MiB.
    pub fn take(&self) -> f64 {
        let now = (rss_mib(self.pid).0 * 1024.0) as u64;
        self.max_kib.swap(now, Ordering::Relaxed).max(now) as f64 / 1024.0
    }

    /// The server's peak RSS over its whole life, in MiB.
    pub fn peak(&self) -> f64 {
        rss_mib(self.pid).1
    }
}

/// One scenario at one number of users: over HTTP, and its baselines.
pub struct Row {
    pub scenario: &'static str,
    pub http: Outcome,
    pub app: Option<Outcome>,
    pub owner: Option<Outcome>,
    /// The server's largest resident memory during the HTTP run, MiB.
    pub rss: f64,
}

fn cell(o: &Outcome) -> String {
    format!(
        "{:.0} | {:.1} | {:.1} | {:.1} | {}",
        o.throughput(),
        o.ms(0.5),
        o.ms(0.95),
        o.ms(0.99),
        o.errors
    )
}

fn short(o: Option<&Outcome>) -> String {
    o.map_or("- | -".into(), |o| {
        format!("{:.0} | {:.1}", o.throughput(), o.ms(0.99))
    })
}

/// The scenario table: HTTP beside both baselines, per number of users.
pub fn scenarios(rows: &[Row]) {
    println!(
        "| scenario | users | req/s | p50 ms | p95 ms | p99 ms | errors | SQL as `aura_app` req/s | p99 ms | SQL as owner req/s | p99 ms | HTTP / `aura_app` | RLS cost |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in rows {
        let ratio = row.app.as_ref().map_or("-".into(), |a| {
            format!("{:.0} %", 100.0 * row.http.throughput() / a.throughput())
        });
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.scenario,
            row.http.users,
            cell(&row.http),
            short(row.app.as_ref()),
            short(row.owner.as_ref()),
            ratio,
            rls_cost(row).map_or("-".into(), |c| format!("{c:+.0} %")),
        )
    }
    let failing: Vec<_> = rows
        .iter()
        .flat_map(|r| [Some(&r.http), r.app.as_ref(), r.owner.as_ref()].map(|o| (r.scenario, o)))
        .filter_map(|(name, o)| Some((name, o?)))
        .filter_map(|(name, o)| Some((name, o.users, o.first_error.as_ref()?)))
        .collect();
    if !failing.is_empty() {
        println!();
        println!("First error of each run that had one:");
        println!();
        for (name, users, error) in failing {
            println!("- {name}, {users} users: `{}`", error.replace('`', "'"));
        }
    }
}

/// How much slower the SQL is under RLS than as the owner, by throughput.
fn rls_cost(row: &Row) -> Option<f64> {
    let (app, owner) = (row.app.as_ref()?, row.owner.as_ref()?);
    Some(100.0 * (owner.throughput() / app.throughput() - 1.0))
}

/// The reads' p99 at 16 users with the large workspace alone, then among all of them.
pub fn workspaces(one: &[(&'static str, Outcome)], rows: &[Row], all: usize) {
    println!(
        "| read scenario, 16 users | p99 ms, 1 workspace | p99 ms, {all} workspaces | change |"
    );
    println!("| --- | ---: | ---: | ---: |");
    for (name, alone) in one {
        let Some(among) = rows
            .iter()
            .find(|r| r.scenario == *name && r.http.users == 16)
        else {
            continue;
        };
        println!(
            "| {name} | {:.1} | {:.1} | {:+.0} % |",
            alone.ms(0.99),
            among.http.ms(0.99),
            100.0 * (among.http.ms(0.99) / alone.ms(0.99) - 1.0)
        );
    }
}

/// Issue 16's targets at 16 users, each met or missed by how much.
pub fn targets(rows: &[Row], one: &[(&'static str, Outcome)], rss_64: f64) {
    println!("| target (16 users) | scenario | measured | met |");
    println!("| --- | --- | ---: | :---: |");
    let mark = |ok: bool| if ok { "yes" } else { "**no**" };
    for row in rows.iter().filter(|r| r.http.users == 16) {
        if row.scenario.starts_with("`/healthz`") || row.scenario.starts_with("sign-in") {
            continue;
        }
        let limit = if row.scenario.starts_with("dashboard") {
            100.0
        } else {
            50.0
        };
        let p99 = row.http.ms(0.99);
        println!(
            "| p99 under {limit:.0} ms | {} | {p99:.1} ms | {} |",
            row.scenario,
            mark(p99 < limit && row.http.errors == 0)
        );
        if let Some(app) = &row.app {
            let share = row.http.throughput() / app.throughput();
            println!(
                "| HTTP throughput at least half the SQL's as `aura_app` | {} | {:.0} % | {} |",
                row.scenario,
                100.0 * share,
                mark(share >= 0.5)
            );
        }
        if let Some(cost) = rls_cost(row) {
            println!(
                "| RLS costs at most 20 % over the owner | {} | {cost:+.0} % | {} |",
                row.scenario,
                mark(cost <= 20.0)
            );
        }
        if let Some((_, alone)) = one.iter().find(|(n, _)| *n == row.scenario) {
            let change = 100.0 * (row.http.ms(0.99) / alone.ms(0.99) - 1.0);
            println!(
                "| 1 to all workspaces moves p99 by at most 25 % | {} | {change:+.0} % | {} |",
                row.scenario,
                mark(change <= 25.0)
            );
        }
    }
    println!(
        "| server RSS under 200 MB during the 64-user runs | all but sign-in | {rss_64:.0} MiB | {} |",
        mark(rss_64 < 200.0)
    );
}
