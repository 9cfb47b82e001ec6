//! Aura's benchmark program (ARCHITECTURE.md: speed is measured here, never by a timed test;
//! issue 16: benchmarks at scale).
//!
//! It builds a fresh database (on `AURA_TEST_DATABASE_URL`, or a private cluster), seeds one
//! large workspace (`seed`), starts the release `aura serve` in its own process on a random
//! port (`server`), signs the workspace's 50 members in, and then:
//!
//! 1. runs the read scenarios at 16 users with the large workspace alone;
//! 2. seeds the other 99 workspaces and runs every scenario (`scenarios`) at 1, 16 and 64
//!    concurrent users over HTTP (`load`), and the reads' SQL directly as `aura_app` with
//!    tenant context and as the owner (`baselines`);
//! 3. times each route one request at a time (`routes`);
//!
//! and prints the Markdown of BENCHMARKS.md (`report`).
//!
//! `cargo build --release -p aura -p aura-bench && target/release/aura-bench` (it runs the
//! `aura` built beside it; a debug build measures the debug server); `--quick` for a small
//! dataset and 2 s a run, to check that the program works.

mod baselines;
mod export;
mod import;
mod load;
mod report;
mod routes;
mod scenarios;
mod seed;
mod server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use aura_platform::db::testing::TestDatabase;
use clap::Parser;

use crate::load::Outcome;
use crate::report::{Row, RssSampler};
use crate::scenarios::{HttpUser, Scenario};
use crate::seed::Size;

/// Concurrent users of each run.
const LEVELS: [usize; 3] = [1, 16, 64];

#[derive(Parser)]
#[command(about = "Aura's benchmark program; prints the Markdown of BENCHMARKS.md")]
struct Args {
    /// A small dataset (a tenth of the large workspace, 10 workspaces) and 2 s a run.
    #[arg(long)]
    quick: bool,
    /// The seed number the dataset is made from.
    #[arg(long, default_value_t = 16)]
    seed: u64,
    /// Seconds of each run (default 5, or 2 with --quick).
    #[arg(long)]
    seconds: Option<u64>,
    /// Workspaces in all: the large one and the small ones (default 100, or 10 with --quick).
    #[arg(long)]
    workspaces: Option<usize>,
    /// Only the large workspace and its export (issue 15): prints that section alone.
    #[arg(long)]
    export_only: bool,
    /// Contacts the import scenario imports (issue 15).
    #[arg(long, default_value_t = 50_000)]
    import_rows: usize,
    /// Only the import scenario, after seeding the large workspace.
    #[arg(long)]
    import_only: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let run = Duration::from_secs(args.seconds.unwrap_or(if args.quick { 2 } else { 5 }));
    let workspaces = args
        .workspaces
        .unwrap_or(if args.quick { 10 } else { 100 })
        .max(1);
    let started = Instant::now();
    let db = TestDatabase::new().await;
    let machine = report::machine(&db).await?;

    eprintln!("seeding the large workspace in {} ...", db.name);
    let large = Size::large(args.quick);
    let hash = seed::password_hash();
    let seeding = Instant::now();
    let tenant = seed::workspace(&db, seed::LARGE, large, args.seed, &hash)
        .await
        .context("seeding the large workspace")?;
    seed::analyze(&db).await?;
    let large_seconds = seeding.elapsed().as_secs_f64();
    eprintln!("seeded in {large_seconds:.1} s");

    let server = server::Server::start(&db).await?;
    let address = server.address;
    let rss = RssSampler::start(server.pid);
    let rss_idle = rss.take();
    // The export first, on a server that has served nothing yet: its memory is the export's.
    let mut exports = Vec::new();
    for format in ["csv", "jsonl"] {
        eprintln!("exporting the large workspace as {format} ...");
        exports.push(export::run(&db, tenant, format, &rss).await?);
    }
    if args.export_only {
        print_export(&exports, large, rss_idle);
        return Ok(());
    }
    let http = Arc::new(scenarios::sign_in(&db, address, tenant).await?);
    let fx = Arc::new(scenarios::fixture(&db, tenant).await?);
    let list = scenarios::all(&http, &fx);
    if args.import_only {
        import::print(&import::run(&http, args.import_rows).await?);
        return Ok(());
    }

    // The large workspace alone: the reads at 16 users.
    let mut alone = Vec::new();
    for scenario in list.iter().filter(|s| s.read && !is_floor(s)) {
        eprintln!("1 workspace: {}", scenario.name);
        warm_up(&db, &http, &fx, scenario).await?;
        alone.push((
            scenario.name,
            http_run(&db, &http, &fx, scenario, 16, run).await?,
        ));
    }

    eprintln!("seeding {} small workspaces ...", workspaces - 1);
    let seeding = Instant::now();
    let small = Size::small();
    for n in 1..workspaces {
        seed::workspace(
            &db,
            &format!("small-{n}"),
            small,
            args.seed + n as u64,
            &hash,
        )
        .await
        .with_context(|| format!("seeding small-{n}"))?;
    }
    seed::analyze(&db).await?;
    seed::check_amounts(&db).await?;
    let small_seconds = seeding.elapsed().as_secs_f64();
    eprintln!("seeded in {small_seconds:.1} s");

    let mut rows = Vec::new();
    let mut rss_by_level = [0.0f64; 3];
    for index in 0..list.len() {
        // The API's access tokens last 15 minutes, less than this loop: each scenario signs
        // every member in afresh.
        let http = Arc::new(scenarios::sign_in(&db, address, tenant).await?);
        let scenario = &scenarios::all(&http, &fx)[index];
        warm_up(&db, &http, &fx, scenario).await?;
        for (level, users) in LEVELS.into_iter().enumerate() {
            eprintln!("{} users: {}", users, scenario.name);
            rss.take();
            let http_outcome = http_run(&db, &http, &fx, scenario, users, run).await?;
            let rss_run = rss.take();
            if !is_sign_in(scenario) {
                rss_by_level[level] = rss_by_level[level].max(rss_run);
            }
            let (mut app, mut owner) = (None, None);
            if let Some(step) = &scenario.baseline {
                for rls in [true, false] {
                    let mut states =
                        scenarios::baseline_users(&db, &http, scenario.role, users, rls)?;
                    if scenario.moves_deals {
                        let movers = scenarios::movers(&db, &http, &fx, users).await?;
                        for (state, mover) in states.iter_mut().zip(movers) {
                            state.moving = mover.moving;
                        }
                    }
                    let outcome = load::run(states, run, scenario.cap, Arc::clone(step)).await;
                    if scenario.cap.is_some() {
                        scenarios::reset_long_deal(&db, &fx).await?;
                    }
                    if rls {
                        app = Some(outcome);
                    } else {
                        owner = Some(outcome);
                    }
                }
            }
            rows.push(Row {
                scenario: scenario.name,
                http: http_outcome,
                app,
                owner,
                rss: rss_run,
            });
        }
    }
    // Last: its contacts would change the large workspace that the reads are measured on.
    eprintln!("importing {} contacts ...", args.import_rows);
    let imported = import::run(&http, args.import_rows).await?;
    let rss_peak = rss.peak();

    print_report(&Printed {
        args: &args,
        machine: &machine,
        large,
        workspaces,
        large_seconds,
        small_seconds,
        run,
        rows: &rows,
        alone: &alone,
        rss_idle,
        rss_by_level,
        rss_peak,
    });
    println!();
    print_export(&exports, large, rss_idle);
    println!();
    println!("### The joins to `users` under RLS (the lead in issue 16)");
    print_plans(&db, &http).await?;
    println!();
    import::print(&imported);
    println!();
    println!("### Per route, one request at a time");
    println!();
    // The API's access tokens last 15 minutes, less than the run so far: sign in again.
    let http = scenarios::sign_in(&db, address, tenant).await?;
    routes::print(&db, &http, &fx).await?;
    eprintln!(
        "the whole run took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn print_export(runs: &[export::ExportRun], large: Size, rss_idle: f64) {
    println!("### Workspace export (issue 15)");
    println!();
    println!(
        "The large workspace ({} organizations, {} contacts, {} activities, {} deals, {} line \
         items) exported whole by the server's worker, from queued to stored (the worker looks \
         for work every second, so up to a second of it is waiting); the server's resident \
         memory when it had started was {rss_idle:.0} MiB.",
        large.organizations,
        large.contacts,
        large.activities,
        large.deals(),
        large.lines(),
    );
    println!();
    export::print(runs);
}

fn is_floor(scenario: &Scenario) -> bool {
    scenario.name.starts_with("`/healthz`")
}

fn is_sign_in(scenario: &Scenario) -> bool {
    scenario.name.starts_with("sign-in")
}

/// A second at 4 users, so no run starts on cold caches or unopened connections.
async fn warm_up(
    db: &TestDatabase,
    http: &Arc<scenarios::Http>,
    fx: &Arc<scenarios::Fixture>,
    scenario: &Scenario,
) -> anyhow::Result<()> {
    http_run(db, http, fx, scenario, 4, Duration::from_secs(1)).await?;
    Ok(())
}

/// One run over HTTP; the 200-line deal gets back its 200 lines after it.
async fn http_run(
    db: &TestDatabase,
    http: &Arc<scenarios::Http>,
    fx: &Arc<scenarios::Fixture>,
    scenario: &Scenario,
    users: usize,
    run: Duration,
) -> anyhow::Result<Outcome> {
    let states = if scenario.moves_deals {
        scenarios::movers(db, http, fx, users).await?
    } else {
        (0..users)
            .map(|index| HttpUser {
                index,
                moving: None,
            })
            .collect()
    };
    let outcome = load::run(states, run, scenario.cap, Arc::clone(&scenario.http)).await;
    if scenario.cap.is_some() {
        scenarios::reset_long_deal(db, fx).await?;
    }
    Ok(outcome)
}

struct Printed<'a> {
    args: &'a Args,
    machine: &'a report::Machine,
    large: Size,
    workspaces: usize,
    large_seconds: f64,
    small_seconds: f64,
    run: Duration,
    rows: &'a [Row],
    alone: &'a [(&'static str, Outcome)],
    rss_idle: f64,
    rss_by_level: [f64; 3],
    rss_peak: f64,
}

fn print_report(p: &Printed) {
    let m = p.machine;
    let command = if p.args.quick {
        "cargo build --release -p aura -p aura-bench && target/release/aura-bench --quick"
    } else {
        "cargo build --release -p aura -p aura-bench && target/release/aura-bench"
    };
    println!(
        "## Run of {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!();
    println!(
        "`{command}` (seed {}, {} s a run).",
        p.args.seed,
        p.run.as_secs()
    );
    println!();
    println!(
        "Machine: {} cores ({}), {:.0} GiB; {} on the same machine; the release `aura serve` \
         in its own process beside the load driver, `aura_app`'s pool 10 connections.",
        m.cores, m.cpu, m.memory_gib, m.postgres
    );
    println!(
        "PostgreSQL settings: {}.",
        m.settings
            .iter()
            .map(|(k, v)| format!("`{k}` {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    let l = p.large;
    println!(
        "Dataset: {} workspaces. The large one: {} members ({} admins, {} managers, {} reps), \
         {} organizations, {} contacts, {} activities (200 on one contact), {} deals ({} in \
         \"Sales\", eight in nine open; {} in each of two more processes), {} products, {} line \
         items ({} a deal, one deal of {}), seeded in {:.1} s. {} small ones of {} members, \
         {} organizations, {} contacts, {} activities, {} deals and {} lines each, seeded in \
         {:.1} s.",
        p.workspaces,
        l.members(),
        l.admins,
        l.managers,
        l.reps,
        l.organizations,
        l.contacts,
        l.activities,
        l.deals(),
        l.sales_deals,
        l.other_deals,
        l.products,
        l.lines(),
        l.lines_per_deal,
        l.long_deal_lines,
        p.large_seconds,
        p.workspaces - 1,
        Size::small().members(),
        Size::small().organizations,
        Size::small().contacts,
        Size::small().activities,
        Size::small().deals(),
        Size::small().lines(),
        p.small_seconds,
    );
    println!();
    println!("### Scenarios at 1, 16 and 64 concurrent users");
    println!();
    report::scenarios(p.rows);
    println!();
    println!("### One workspace or {}", p.workspaces);
    println!();
    report::workspaces(p.alone, p.rows, p.workspaces);
    println!();
    println!("### Memory");
    println!();
    let sign_in: Vec<String> = p
        .rows
        .iter()
        .filter(|r| r.scenario.starts_with("sign-in"))
        .map(|r| format!("{} users {:.0} MiB", r.http.users, r.rss))
        .collect();
    println!(
        "Resident memory of the `aura serve` process (the allocator keeps what it once took, \
         so the sign-ins run last): {:.0} MiB after seeding; largest during the \
         other scenarios' 1-user runs {:.0} MiB, 16-user {:.0} MiB, 64-user {:.0} MiB; during \
         the sign-ins {}; peak (`VmHWM`) {:.0} MiB.",
        p.rss_idle,
        p.rss_by_level[0],
        p.rss_by_level[1],
        p.rss_by_level[2],
        sign_in.join(", "),
        p.rss_peak
    );
    println!();
    println!("### Targets (issue 16)");
    println!();
    report::targets(p.rows, p.alone, p.rss_by_level[2]);
}

/// The plan of the contacts' fetch (25 contacts, three joins to `users`) as a manager under
/// RLS and as the owner, at the large workspace among all the others.
async fn print_plans(db: &TestDatabase, http: &scenarios::Http) -> anyhow::Result<()> {
    for rls in [true, false] {
        let users = scenarios::baseline_users(db, http, scenarios::Role::Manager, 1, rls)?;
        let plan = baselines::explain_contacts_fetch(&users[0]).await?;
        println!();
        println!(
            "{}:",
            if rls {
                "As `aura_app` with a manager's context"
            } else {
                "As the owner (no RLS)"
            }
        );
        println!();
        println!("```");
        for line in plan {
            println!("{line}");
        }
        println!("```");
    }
    Ok(())
}
