//! The `aura` binary as an operator uses it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aura_platform::db::testing::{scratch_folder, TestDatabase};
use aura_platform::db::TenantContext;
use aura_platform::ids::{MemberRole, TenantId, UserId};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use aura_platform::demo::DEMO_PASSWORD;

use crate::helpers::{
    aura_command, demo_database, exit_of, free_port, ready, serving, serving_with,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(command: &mut std::process::Command) -> Output {
    command.output().expect("run the aura binary")
}

#[test]
fn help_reads_like_a_real_tool() {
    let out = run(aura_command().arg("--help"));
    assert!(out.status.success());
    let help = text(&out.stdout);
    for expected in [
        "serve",
        "migrate",
        "seed-demo",
        "backup",
        "restore",
        "audit",
        "doctor",
        "terminate-due",
        "AURA_DATABASE_URL",
        "AURA_DATA_DIR",
        "Examples:",
    ] {
        assert!(help.contains(expected), "--help lacks {expected}:\n{help}");
    }
    let out = run(aura_command().args(["serve", "--help"]));
    let help = text(&out.stdout);
    for expected in ["AURA_LISTEN", "AURA_PUBLIC_URL", "SIGTERM"] {
        assert!(
            help.contains(expected),
            "serve --help lacks {expected}:\n{help}"
        );
    }
    assert!(run(aura_command().arg("--version")).status.success());
}

#[test]
fn each_bad_setting_gets_a_clear_error() {
    let cases = [
        ("AURA_LISTEN", "nowhere", "serve", "invalid value 'nowhere'"),
        (
            "AURA_PUBLIC_URL",
            "ftp://crm.example.com",
            "serve",
            "expected an http:// or https:// URL",
        ),
        (
            "AURA_PUBLIC_URL",
            "https://crm.example.com/app",
            "serve",
            "with no path",
        ),
        ("AURA_DB_POOL_SIZE", "0", "serve", "invalid value '0'"),
        (
            "AURA_TRUSTED_PROXIES",
            "10.0.0.0/8,proxy.internal",
            "serve",
            "expected IP addresses or CIDR ranges",
        ),
        (
            "AURA_DATABASE_URL",
            "mysql://db/aura",
            "migrate",
            "expected a postgres:// or postgresql:// URL",
        ),
        ("AURA_DATABASE_URL", "not a url", "migrate", "not a URL"),
        (
            "AURA_LOG",
            "aura=loud",
            "migrate",
            "invalid AURA_LOG filter",
        ),
    ];
    for (variable, value, command, expected) in cases {
        let out = run(aura_command().env(variable, value).arg(command));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{variable}={value} should be refused"
        );
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "{variable}={value}: {stderr}");
    }
}

#[test]
fn without_postgresql_binaries_serve_says_what_to_install_and_creates_nothing() {
    let dir = scratch_folder();
    let empty_bin = dir.path().join("bin");
    std::fs::create_dir(&empty_bin).unwrap();
    let data = dir.path().join("data");
    let out = run(aura_command()
        .env("AURA_PG_BIN_DIR", &empty_bin)
        .env("AURA_DATA_DIR", &data)
        .arg("serve"));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
    assert!(!data.exists(), "nothing may be half-initialised");
}

#[tokio::test]
async fn migrate_is_idempotent_and_seed_demo_fills_only_an_empty_database() {
    let db = TestDatabase::new().await;
    let with_db = |args: &[&str]| {
        run(aura_command()
            .env("AURA_DATABASE_URL", &db.owner_url)
            .args(args))
    };
    for _ in 0..2 {
        let out = with_db(&["migrate"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    let out = with_db(&["seed-demo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stderr);
    for expected in [
        "admin@acme.example",
        "rep@globex.example",
        "ops@aura.example",
        "aura-demo-password",
    ] {
        assert!(
            printed.contains(expected),
            "seed-demo did not print {expected}:\n{printed}"
        );
    }
    let roles: Vec<(String, String, i64)> = sqlx::query_as(
        "select t.slug, m.role::text, count(*) from tenant_members m join tenants t on t.id = m.tenant_id
         group by 1, 2 order by 1, 2",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    let expected: Vec<(String, String, i64)> = ["acme", "globex"]
        .iter()
        .flat_map(|slug| {
            [("admin", 1), ("manager", 1), ("sales_rep", 2)]
                .map(|(role, n)| (slug.to_string(), role.to_string(), n))
        })
        .collect();
    assert_eq!(roles, expected);
    // Each workspace has its records, written by its members: reps own some contacts each.
    let records: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "select t.slug,
                (select count(*) from organizations o where o.tenant_id = t.id),
                (select count(*) from contacts c join tenant_members m
                   on m.tenant_id = c.tenant_id and m.user_id = c.assigned_to and m.role = 'sales_rep'
                 where c.tenant_id = t.id),
                (select count(*) from activities a where a.tenant_id = t.id)
         from tenants t order by 1",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        records,
        [("acme".to_owned(), 5, 8, 8), ("globex".to_owned(), 5, 8, 8)]
    );
    // And a living pipeline: the provisioned default process and catalog, two more processes,
    // deals open, won and lost in all three, each with its history from creation on.
    // slug, processes, default "Sales", products, processes with deals, won, lost, deals without history
    type Pipeline = (String, i64, i64, i64, i64, i64, i64, i64);
    let pipeline: Vec<Pipeline> = sqlx::query_as(
        "select t.slug,
                (select count(*) from sales_processes p where p.tenant_id = t.id),
                (select count(*) from sales_processes p where p.tenant_id = t.id and p.is_default
                   and p.name = 'Sales'),
                (select count(*) from products p where p.tenant_id = t.id),
                (select count(distinct d.process_id) from deals d where d.tenant_id = t.id),
                (select count(*) from deals d where d.tenant_id = t.id and d.outcome = 'won'),
                (select count(*) from deals d where d.tenant_id = t.id and d.outcome = 'lost'),
                (select count(*) from deals d where d.tenant_id = t.id
                   and (select count(*) from deal_stage_history h
                        where h.tenant_id = d.tenant_id and h.deal_id = d.id) < 1)
         from tenants t order by 1",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    for slug in ["acme", "globex"] {
        assert!(
            pipeline.contains(&(slug.to_owned(), 3, 1, 12, 3, 2, 2, 0)),
            "{slug}'s pipeline: {pipeline:?}"
        );
    }
    // A dozen products with blueprints, and lines on most deals (nine of twelve), some at a
    // negotiated price, each deal's amount the total of its lines.
    let priced: Vec<(i64, i64, i64)> = sqlx::query_as(
        "select count(distinct l.deal_id),
                count(*) filter (where l.unit_price <> l.list_price),
                (select count(*) from deals d where d.amount is distinct from
                   (select sum(x.extended_price) from deal_line_items x
                    where x.deal_id = d.id and x.deleted_at is null)
                   and exists (select 1 from deal_line_items x where x.deal_id = d.id))
         from deal_line_items l group by l.tenant_id",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(priced.len(), 2, "{priced:?}");
    assert!(
        priced
            .iter()
            .all(|(deals, overridden, off)| *deals == 9 && *overridden > 0 && *off == 0),
        "{priced:?}"
    );
    let platform_admins: i64 =
        sqlx::query_scalar("select count(*) from users where is_platform_admin")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(platform_admins, 1);

    // The seeded data obeys isolation: acme's context sees acme's four members only.
    let (acme, admin): (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
        "select t.id, m.user_id from tenants t join tenant_members m on m.tenant_id = t.id
         where t.slug = 'acme' and m.role = 'admin'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    let context = TenantContext {
        tenant_id: TenantId::from(acme),
        user_id: UserId::from(admin),
        role: MemberRole::Admin,
        read_only: false,
    };
    let mut tx = db.app.begin(context).await.unwrap();
    let visible: i64 = sqlx::query_scalar("select count(*) from tenant_members")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(visible, 4);
    drop(tx);

    let out = with_db(&["seed-demo"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already holds tenants"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn serve_refuses_a_database_role_that_bypasses_row_level_security() {
    let db = TestDatabase::new().await;
    // The test server's owner is a superuser: exactly what the server must never run as.
    let out = run(aura_command()
        .env("AURA_DATABASE_URL", &db.owner_url)
        .env("AURA_APP_DATABASE_URL", &db.owner_url)
        .env("AURA_LISTEN", "127.0.0.1:0")
        .arg("serve"));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("refusing to serve"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn serve_logs_json_and_exits_cleanly_on_sigterm() {
    let db = TestDatabase::new().await;
    let (mut child, port) = serving(&db).await;
    // Links carry secrets in their paths; the access log must not.
    let client = reqwest::Client::new();
    for (host, path) in [
        (
            format!("localhost:{port}"),
            "/password-reset/zqxsecret-reset-token",
        ),
        (
            format!("acme.localhost:{port}"),
            "/invitations/zqxsecret-invitation",
        ),
    ] {
        client
            .get(format!("http://127.0.0.1:{port}{path}"))
            .header("host", host)
            .send()
            .await
            .unwrap();
    }
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = exit_of(&mut child).await;
    assert!(status.success(), "exit status {status}");

    let mut logs = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let request = lines
        .iter()
        .find(|line| line["span"]["path"] == "/readyz")
        .expect("an access log line for /readyz");
    assert!(request["span"]["request_id"]
        .as_str()
        .is_some_and(|id| id.len() == 36));
    assert!(lines
        .iter()
        .any(|line| line["fields"]["message"] == "shut down cleanly"));
    assert!(
        !logs.contains("zqxsecret"),
        "a secret reached the log:\n{logs}"
    );
    for redacted in ["/password-reset/[redacted]", "/invitations/[redacted]"] {
        assert!(
            lines.iter().any(|line| line["span"]["path"] == redacted),
            "no access log line for {redacted}"
        );
    }
}

/// The server's log lines as it writes them (its stdout), read by a thread of their own.
fn log_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("the server's stdout");
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// SIGTERM under load: the requests in flight are answered in full, new connections are
/// refused, and the process exits 0. Each request holds back the end of its body, so it is
/// provably in flight (the server logs it as started, and cannot answer it yet) until the test
/// releases it after the signal.
#[tokio::test]
async fn sigterm_under_load_answers_the_requests_in_flight_and_refuses_new_ones() {
    const IN_FLIGHT: usize = 8;
    let db = demo_database().await;
    let (mut child, port) = serving_with(&db, &[("AURA_LOG", "info,tower_http=debug")]).await;
    let lines = log_lines(&mut child);
    let mut held = Vec::new();
    for n in 0..IN_FLIGHT {
        let body = serde_json::json!({ "email": format!("nobody{n}@acme.example"),
                                       "password": "not a real one" })
        .to_string();
        let (head, tail) = body.split_at(body.len() / 2);
        let mut connection = TcpStream::connect(("127.0.0.1", port)).unwrap();
        connection
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            connection,
            "POST /api/v1/auth/token HTTP/1.1\r\nHost: acme.localhost:{port}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
            body.len()
        )
        .unwrap();
        held.push((connection, tail.to_owned()));
    }
    // The server has begun every one of them: tower-http logs each request as it starts.
    let mut started = 0;
    while started < IN_FLIGHT {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the server logs each request as it starts");
        let line: serde_json::Value = serde_json::from_str(&line).unwrap();
        if line["fields"]["message"] == "started processing request"
            && line["span"]["path"] == "/api/v1/auth/token"
        {
            started += 1;
        }
    }

    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    // The signal is handled once the server says so; only then is a new connection refused.
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("the server logs the signal");
        if line.contains("shutdown signal received") {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let late = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await;
    assert!(
        late.is_err(),
        "a connection after SIGTERM was accepted: {late:?}"
    );

    for (mut connection, tail) in held {
        connection.write_all(tail.as_bytes()).unwrap();
        let mut response = String::new();
        connection
            .read_to_string(&mut response)
            .expect("a request in flight was cut off");
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        assert!(
            head.starts_with("HTTP/1.1 401") && !body.is_empty(),
            "an in-flight sign-in got: {response}"
        );
    }
    let status = exit_of(&mut child).await;
    assert!(status.success(), "exit status {status}");
}

/// `aura serve` with its private cluster in `data`, listening on `listen`; answers whether
/// the demo's admin could get a token, and what the server printed.
async fn embedded_serve(
    data: &std::path::Path,
    listen: &str,
    env: &[(&str, &str)],
) -> (bool, String) {
    let port = free_port();
    let mut child = aura_command()
        .env("AURA_DATA_DIR", data)
        .env("AURA_LISTEN", format!("{listen}:{port}"))
        .envs(env.iter().copied())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ready(port, Duration::from_secs(120)).await;
    let token = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/auth/token"))
        .header("host", format!("acme.localhost:{port}"))
        .json(&serde_json::json!({ "email": "admin@acme.example", "password": DEMO_PASSWORD }))
        .send()
        .await
        .unwrap()
        .status();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert!(exit_of(&mut child).await.success());
    let mut printed = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    (token == reqwest::StatusCode::OK, printed)
}

/// The demo's passwords are published: the private database gets it only while Aura listens
/// on loopback, or when asked for, and the start-up message says which and why.
#[tokio::test]
async fn the_demo_is_seeded_only_on_loopback_unless_asked_and_serve_says_so() {
    let dir = scratch_folder();

    let exposed = dir.path().join("exposed");
    let (demo_works, printed) = embedded_serve(&exposed, "0.0.0.0", &[]).await;
    assert!(!demo_works, "the demo admin signed in:\n{printed}");
    assert!(
        printed.contains("Demo data: not seeded: Aura listens on 0.0.0.0")
            && printed.contains("--demo"),
        "{printed}"
    );
    assert!(!printed.contains(DEMO_PASSWORD), "{printed}");

    // The README's quick start: loopback by default.
    let local = dir.path().join("local");
    let (demo_works, printed) = embedded_serve(&local, "127.0.0.1", &[]).await;
    assert!(demo_works, "{printed}");
    assert!(
        printed.contains("Demo data: seeded; Aura listens on loopback"),
        "{printed}"
    );
    assert!(
        printed.contains("ops@aura.example") && printed.contains(DEMO_PASSWORD),
        "{printed}"
    );

    let (demo_works, printed) = embedded_serve(&exposed, "0.0.0.0", &[("AURA_DEMO", "true")]).await;
    assert!(demo_works, "{printed}");
    assert!(
        printed.contains("Demo data: seeded, as --demo (AURA_DEMO) asks"),
        "{printed}"
    );
}
