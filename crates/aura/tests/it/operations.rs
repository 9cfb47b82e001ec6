//! The operator's commands: backup and restore, audit retention, the deployment doctor.

use std::path::Path;
use std::process::Output;

use aura_platform::db::backup::{manifest_path, Manifest};
use aura_platform::db::testing::{scratch_folder, TestDatabase};
use aura_platform::db::MIGRATOR;
use aura_platform::demo::DEMO_PASSWORD;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sqlx::PgPool;

use crate::helpers::{audit_actions, aura_command, demo_database, exit_of, serving};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `aura <args>` against the database at `owner_url`.
fn aura_on(owner_url: &str, args: &[&str], file: Option<&Path>) -> Output {
    let mut command = aura_command();
    command.env("AURA_DATABASE_URL", owner_url).args(args);
    if let Some(file) = file {
        command.arg(file);
    }
    command.output().expect("run the aura binary")
}

/// Every table of the public schema with its row count, in name order.
async fn row_counts(db: &PgPool) -> Vec<(String, i64)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
         order by 1",
    )
    .fetch_all(db)
    .await
    .unwrap();
    let mut counts = Vec::new();
    for table in tables {
        let count: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(db)
            .await
            .unwrap();
        counts.push((table, count));
    }
    counts
}

#[tokio::test]
async fn a_backup_restores_into_an_empty_database_with_the_same_rows_and_a_working_sign_in() {
    let source = demo_database().await;
    let dir = scratch_folder();
    let archive = dir.path().join("aura.dump");

    let out = aura_on(&source.owner_url, &["backup"], Some(&archive));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(manifest_path(&archive)).unwrap()).unwrap();
    assert_eq!(manifest.aura_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest.migrations.len(), MIGRATOR.iter().count());

    // Nothing is merged into a database that holds anything: the source itself, say.
    let out = aura_on(&source.owner_url, &["restore"], Some(&archive));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("the database is not empty"),
        "{}",
        text(&out.stderr)
    );

    // A changed or truncated archive is refused before anything is written.
    let tampered = dir.path().join("tampered.dump");
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&tampered, bytes).unwrap();
    std::fs::copy(manifest_path(&archive), manifest_path(&tampered)).unwrap();
    let target = TestDatabase::empty().await;
    let out = aura_on(&target.owner_url, &["restore"], Some(&tampered));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("does not match its manifest"),
        "{}",
        text(&out.stderr)
    );

    let out = aura_on(&target.owner_url, &["restore"], Some(&archive));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = row_counts(&source.owner).await;
    assert!(before.iter().any(|(table, n)| table == "users" && *n > 0));
    assert_eq!(row_counts(&target.owner).await, before);
    let same_users: bool = sqlx::query_scalar(
        "select array_agg((id, email, password_hash) order by id)::text = $1 from users",
    )
    .bind(
        sqlx::query_scalar::<_, String>(
            "select array_agg((id, email, password_hash) order by id)::text from users",
        )
        .fetch_one(&source.owner)
        .await
        .unwrap(),
    )
    .fetch_one(&target.owner)
    .await
    .unwrap();
    assert!(same_users);

    // The server runs on the restored database as aura_app (it checks its role on start) and
    // a member signs in over HTTP.
    drop(source);
    let (mut child, port) = serving(&target).await;
    let signed_in = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/auth/token"))
        .header("host", format!("acme.localhost:{port}"))
        .json(&serde_json::json!({ "email": "admin@acme.example", "password": DEMO_PASSWORD }))
        .send()
        .await
        .unwrap()
        .status();
    let refused = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/auth/token"))
        .header("host", format!("acme.localhost:{port}"))
        .json(&serde_json::json!({ "email": "admin@acme.example", "password": "not the password" }))
        .send()
        .await
        .unwrap()
        .status();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert!(exit_of(&mut child).await.success());
    assert_eq!(signed_in, reqwest::StatusCode::OK);
    assert_eq!(refused, reqwest::StatusCode::UNAUTHORIZED);
}

/// With no database URL, backup and restore use the private cluster and its installation's
/// pg_dump and pg_restore.
#[tokio::test]
async fn the_private_cluster_is_restored_and_backed_up_with_its_own_tools() {
    let source = demo_database().await;
    let dir = scratch_folder();
    let archive = dir.path().join("aura.dump");
    let out = aura_on(&source.owner_url, &["backup"], Some(&archive));
    assert!(out.status.success(), "{}", text(&out.stderr));

    let data = dir.path().join("data");
    let embedded = |args: &[&str], file: &Path| {
        aura_command()
            .env("AURA_DATA_DIR", &data)
            .args(args)
            .arg(file)
            .output()
            .unwrap()
    };
    let out = embedded(&["restore"], &archive);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = dir.path().join("again.dump");
    let out = embedded(&["backup"], &again);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first: Manifest =
        serde_json::from_slice(&std::fs::read(manifest_path(&archive)).unwrap()).unwrap();
    let second: Manifest =
        serde_json::from_slice(&std::fs::read(manifest_path(&again)).unwrap()).unwrap();
    assert_eq!(first.migrations, second.migrations);
    // A restored private cluster is not empty: a second restore is refused.
    let out = embedded(&["restore"], &archive);
    assert!(
        text(&out.stderr).contains("not empty"),
        "{}",
        text(&out.stderr)
    );
}

/// An entry of `tenant`'s audit log, `months_ago` months old, written as the owner.
async fn audit_entry(owner: &PgPool, tenant: uuid::Uuid, months_ago: i32, action: &str) {
    sqlx::query(
        "insert into audit_log (tenant_id, occurred_at, action, entity_type)
         values ($1, now() - make_interval(months => $2), $3, 'tenant')",
    )
    .bind(tenant)
    .bind(months_ago)
    .bind(action)
    .execute(owner)
    .await
    .unwrap();
}

#[tokio::test]
async fn audit_prune_drops_whole_old_months_records_it_and_keeps_at_least_a_year() {
    let db = demo_database().await;
    let tenant: uuid::Uuid = sqlx::query_scalar("select id from tenants where slug = 'acme'")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    // Entries older than any partition land in the default partition; making the partitions
    // (as `aura migrate` does) moves each into its month's.
    for (months_ago, action) in [
        (30, "test.thirty"),
        (25, "test.twenty_five"),
        (13, "test.thirteen"),
    ] {
        audit_entry(&db.owner, tenant, months_ago, action).await;
    }
    let made: i32 = sqlx::query_scalar("select aura.create_audit_log_partitions(3)")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert!(made >= 3, "the three months were made: {made}");
    let in_default: i64 = sqlx::query_scalar("select count(*) from audit_log_default")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(in_default, 0);
    let recent: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where occurred_at > now() - interval '12 months'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();

    for too_short in ["6months", "11months"] {
        let out = aura_on(
            &db.owner_url,
            &["audit", "prune", "--older-than", too_short],
            None,
        );
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("kept at least 12 months"),
            "{}",
            text(&out.stderr)
        );
    }
    // The database refuses it too, whoever asks.
    assert!(sqlx::query("select * from aura.prune_audit_log(11)")
        .fetch_all(&db.owner)
        .await
        .is_err());

    let out = aura_on(
        &db.owner_url,
        &["audit", "prune", "--older-than", "24months"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(audit_actions(&db, "test.%").await, ["test.thirteen"]);
    let still_recent: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where occurred_at > now() - interval '12 months'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(still_recent, recent);
    let (partitions, entries): (serde_json::Value, i64) = sqlx::query_as(
        "select after->'partitions', (after->>'entries')::bigint from platform_audit_log
         where action = 'audit.pruned' and after->>'older_than_months' = '24'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(partitions.as_array().map(Vec::len), Some(2), "{partitions}");
    assert_eq!(entries, 2);
    let gone: i64 = sqlx::query_scalar(
        "select count(*) from pg_class where relname = any (
             select jsonb_array_elements_text($1))",
    )
    .bind(&partitions)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(gone, 0, "the dropped partitions are gone: {partitions}");
}

#[tokio::test]
async fn the_doctor_passes_a_sound_deployment_and_names_what_breaks_it() {
    let db = TestDatabase::new().await;
    let doctor = |env: &[(&str, &str)]| {
        aura_command()
            .env("AURA_DATABASE_URL", &db.owner_url)
            .env("AURA_APP_DATABASE_URL", &db.app_url)
            .envs(env.iter().copied())
            .arg("doctor")
            .output()
            .unwrap()
    };
    let out = doctor(&[]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}\n{}", text(&out.stderr));
    for expected in [
        "Aura doctor report",
        "PASS  The server's role cannot bypass row level security",
        "PASS  Every table with tenant_id forces row level security",
        "contacts",
        "PASS  Every security definer function pins search_path",
        "PASS  Migrations are current",
        "SKIP  Redis",
        "0 failed",
    ] {
        assert!(report.contains(expected), "lacks {expected}:\n{report}");
    }

    // Redis and SMTP are checked when configured: nothing listens on these ports.
    let nowhere = format!("127.0.0.1:{}", crate::helpers::free_port());
    let out = doctor(&[
        ("AURA_REDIS_URL", &format!("redis://{nowhere}")),
        ("AURA_SMTP_URL", &format!("smtp://{nowhere}")),
    ]);
    let report = text(&out.stdout);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("FAIL  Redis"), "{report}");
    assert!(report.contains("FAIL  SMTP"), "{report}");

    sqlx::raw_sql("alter table contacts disable row level security")
        .execute(&db.owner)
        .await
        .unwrap();
    let out = doctor(&[]);
    let report = text(&out.stdout);
    assert!(!out.status.success(), "{report}");
    assert!(
        report.contains("- contacts does not ENABLE row level security"),
        "{report}"
    );
    assert!(text(&out.stderr).contains("checks failed"));
}

/// The operator's side of termination over HTTP: a suspended workspace is scheduled only with
/// a valid grace period and the confirmation, its admins are written to, the page shows the
/// date, and the deletion can be cancelled.
#[tokio::test]
async fn an_operator_schedules_a_suspended_workspaces_deletion_and_cancels_it() {
    let (app, db) = crate::helpers::TestApp::builder().demo().spawn().await;
    let ops = crate::helpers::Member::operator(&app).await;
    let acme: uuid::Uuid = sqlx::query_scalar("select id from tenants where slug = 'acme'")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    let post = |path: String, form: Vec<(&'static str, &'static str)>| {
        let ops = &ops;
        async move { ops.submit(&path, &form).await.status() }
    };
    let schedule = format!("/workspaces/{acme}/schedule-deletion");
    let confirmed = |days| vec![("grace_days", days), ("confirm", "yes")];

    // An active workspace is suspended first.
    assert_eq!(post(schedule.clone(), confirmed("30")).await, 409);
    assert!(post(format!("/workspaces/{acme}/suspend"), vec![])
        .await
        .is_redirection());
    assert_eq!(
        post(schedule.clone(), vec![("grace_days", "30")]).await,
        422,
        "the confirmation is required"
    );
    assert_eq!(post(schedule.clone(), confirmed("0")).await, 422);
    assert!(post(schedule.clone(), confirmed("30"))
        .await
        .is_redirection());

    let (_, page) = ops.page("/workspaces").await;
    assert!(page.contains("Deletion due"), "{page}");
    assert!(page.contains(&format!("/workspaces/{acme}/cancel-deletion")));
    let told: Vec<String> = sqlx::query_scalar(
        "select to_address from email_outbox where subject like '%will be deleted' order by 1",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(told, ["admin@acme.example"]);

    assert!(post(format!("/workspaces/{acme}/cancel-deletion"), vec![])
        .await
        .is_redirection());
    let due: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select termination_due_at from tenants where id = $1")
            .bind(acme)
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert!(due.is_none());
    let trail: Vec<String> = sqlx::query_scalar(
        "select action from platform_audit_log where entity_id = $1 and action like 'tenant.termination%' order by id",
    )
    .bind(acme)
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        trail,
        [
            "tenant.termination_scheduled",
            "tenant.termination_cancelled"
        ]
    );
}

/// F1.8: the admins of a workspace awaiting deletion are told they can export meanwhile, so
/// signing in and the export (pages and API) stay open for them; every other page and route is
/// refused, as it is for a workspace that is only suspended, which opens nothing.
#[tokio::test]
async fn a_workspace_awaiting_deletion_is_open_only_for_its_admins_export() {
    use crate::helpers::{location, submit_login, unreachable_mail_server, Api, Member};
    use reqwest::StatusCode;

    let (app, db) = crate::helpers::TestApp::builder()
        .mailer(unreachable_mail_server())
        .demo()
        .spawn()
        .await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let api = Api::sign_in(&app, "acme", "admin").await;
    let close = |due: &'static str| {
        let owner = db.owner.clone();
        async move {
            sqlx::query(&format!(
                "update tenants set status = 'suspended', termination_due_at = {due}
                 where slug = 'acme'"
            ))
            .execute(&owner)
            .await
            .unwrap();
        }
    };

    close("now() + interval '30 days'").await;
    let page = admin.ok_page("/settings/export").await;
    assert!(page.contains("id=\"deletion-due\""), "{page}");
    assert!(page.contains("will be deleted for good on"), "{page}");
    let (status, page) = admin.page("/contacts").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("export its data"), "{page}");
    assert_eq!(admin.page("/").await.0, StatusCode::FORBIDDEN);
    assert_eq!(admin.page("/settings").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        manager.page("/settings/export").await.0,
        StatusCode::FORBIDDEN,
        "the export's own check still admits only admins"
    );
    let (status, _) = api
        .post("/api/v1/exports/code", serde_json::json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/api/v1/exports").await.0, StatusCode::OK);
    let (status, problem) = api.get("/api/v1/contacts").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem["code"], "workspace_closing", "{problem}");
    // Signing in leads straight to the export.
    let browser = app.browser();
    let login = app.workspace_url("acme", "/login");
    let signed_in = submit_login(&browser, &login, "admin@acme.example", DEMO_PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), "/settings/export");

    // Only suspended: nothing is open, not even signing in.
    close("null").await;
    assert_eq!(
        admin.page("/settings/export").await.0,
        StatusCode::FORBIDDEN
    );
    let login_page = app.browser().get(&login).send().await.unwrap();
    assert_eq!(login_page.status(), StatusCode::FORBIDDEN);
    assert_eq!(api.get("/api/v1/exports").await.0, StatusCode::FORBIDDEN);
}
