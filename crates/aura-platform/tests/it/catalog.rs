//! The catalog test: reads the schema from PostgreSQL's catalog, so a table added by a future
//! migration is checked without anyone remembering to list it. The checks themselves live in
//! `aura_platform::db::catalog`, which `aura doctor` runs on a live deployment.

use aura_platform::db::catalog;
use aura_platform::db::testing::TestDatabase;
use aura_platform::db::APP_ROLE;
use sqlx::PgPool;

async fn isolation_violations(db: &PgPool) -> Vec<String> {
    catalog::isolation_violations(db)
        .await
        .expect("read the catalog")
}

async fn user_references_without_tenant(db: &PgPool) -> Vec<String> {
    catalog::user_references_without_tenant(db)
        .await
        .expect("read the catalog")
}

#[tokio::test]
async fn every_table_obeys_the_isolation_rules() {
    let db = TestDatabase::new().await;
    let mut violations = isolation_violations(&db.owner).await;
    violations.extend(user_references_without_tenant(&db.owner).await);
    assert!(
        violations.is_empty(),
        "isolation rules broken:\n{}",
        violations.join("\n")
    );
}

/// The check itself is tested: each way a future migration could get RLS wrong is caught.
#[tokio::test]
async fn the_catalog_check_catches_every_kind_of_unguarded_table() {
    let db = TestDatabase::new().await;
    sqlx::raw_sql(
        "create table rogue_no_rls (tenant_id uuid not null, note text);
         create table rogue_not_forced (tenant_id uuid not null, note text);
         alter table rogue_not_forced enable row level security;
         create policy p on rogue_not_forced using (tenant_id = aura.current_tenant_id());
         create table rogue_no_delete_policy (tenant_id uuid not null, note text);
         alter table rogue_no_delete_policy enable row level security;
         alter table rogue_no_delete_policy force row level security;
         create policy s on rogue_no_delete_policy for select using (tenant_id = aura.current_tenant_id());
         create policy i on rogue_no_delete_policy for insert with check (tenant_id = aura.current_tenant_id());
         create policy u on rogue_no_delete_policy for update using (tenant_id = aura.current_tenant_id())
             with check (tenant_id = aura.current_tenant_id());
         create table rogue_open_policy (tenant_id uuid not null, note text);
         alter table rogue_open_policy enable row level security;
         alter table rogue_open_policy force row level security;
         create policy everything on rogue_open_policy using (true) with check (true);
         create table rogue_nullable (tenant_id uuid, note text);
         alter table rogue_nullable enable row level security;
         alter table rogue_nullable force row level security;
         create policy everything on rogue_nullable using (tenant_id = aura.current_tenant_id())
             with check (tenant_id = aura.current_tenant_id());
         create table rogue_or_true (tenant_id uuid not null, note text);
         alter table rogue_or_true enable row level security;
         alter table rogue_or_true force row level security;
         create policy everything on rogue_or_true
             using (tenant_id = aura.current_tenant_id() or true)
             with check ((tenant_id = aura.current_tenant_id()) or (note = 'x'));
         create table rogue_owner (tenant_id uuid not null, owner_id uuid references users (id));
         create table rogue_global (note text);
         create view rogue_view as select * from tenants;
         create table rogue_parted (tenant_id uuid not null, at date not null) partition by range (at);
         alter table rogue_parted enable row level security;
         alter table rogue_parted force row level security;
         create policy everything on rogue_parted using (tenant_id = aura.current_tenant_id())
             with check (tenant_id = aura.current_tenant_id());
         create table rogue_partition partition of rogue_parted
             for values from ('2020-01-01') to ('2021-01-01');
         grant select on rogue_parted, rogue_partition to aura_app;
         grant select, insert, update, delete on rogue_no_rls, rogue_not_forced,
             rogue_no_delete_policy, rogue_open_policy, rogue_nullable, rogue_or_true,
             rogue_global, rogue_view
             to aura_app;",
    )
    .execute(&db.owner)
    .await
    .unwrap();

    let mut violations = isolation_violations(&db.owner).await;
    violations.extend(user_references_without_tenant(&db.owner).await);
    let violations = violations.join("\n");
    for expected in [
        "rogue_no_rls does not ENABLE row level security",
        "rogue_no_rls does not FORCE row level security",
        "rogue_not_forced does not FORCE row level security",
        "rogue_no_delete_policy has no DELETE policy",
        "rogue_open_policy: a SELECT policy does not confine rows",
        "rogue_open_policy: a INSERT policy does not confine rows",
        "rogue_nullable.tenant_id is not `uuid not null`",
        "rogue_or_true: a SELECT policy does not confine rows",
        "rogue_or_true: a INSERT policy does not confine rows",
        "rogue_owner.owner_id references users without its tenant",
        "rogue_global does not ENABLE row level security",
        "view rogue_view is not security_invoker",
        "rogue_partition does not FORCE row level security",
        "aura_app may use the partition rogue_partition directly, skipping rogue_parted's policies",
    ] {
        assert!(
            violations.contains(expected),
            "missed `{expected}` in:\n{violations}"
        );
    }
    assert!(
        !violations.contains("tenant_members"),
        "false alarm:\n{violations}"
    );
}

/// Column grants that keep a member's context from raising its privileges, whatever the
/// policies say: nobody sets the operator flag or reads a password hash, memberships,
/// sessions, tokens and codes are never re-pointed, and history is never rewritten.
#[tokio::test]
async fn the_app_role_cannot_reach_the_columns_that_carry_power() {
    let db = TestDatabase::new().await;
    let forbidden = [
        ("users", "is_platform_admin", "INSERT"),
        ("users", "id", "INSERT"),
        ("users", "is_platform_admin", "UPDATE"),
        ("users", "password_hash", "SELECT"),
        ("users", "email", "UPDATE"),
        ("users", "id", "UPDATE"),
        ("tenant_members", "tenant_id", "UPDATE"),
        ("tenant_members", "user_id", "UPDATE"),
        ("tenant_sessions", "user_id", "UPDATE"),
        ("tenant_sessions", "token_hash", "UPDATE"),
        ("api_refresh_tokens", "user_id", "UPDATE"),
        ("api_refresh_tokens", "token_hash", "UPDATE"),
        ("step_up_codes", "user_id", "UPDATE"),
        ("step_up_codes", "code_hash", "UPDATE"),
        ("invitations", "role", "UPDATE"),
        ("invitations", "email", "UPDATE"),
        ("audit_log", "after", "UPDATE"),
        ("activities", "description", "UPDATE"),
        ("api_keys", "user_id", "INSERT"),
        ("api_keys", "user_id", "UPDATE"),
        ("api_keys", "secret_hash", "SELECT"),
        ("api_keys", "secret_hash", "UPDATE"),
        ("api_keys", "tenant_id", "UPDATE"),
        ("idempotency_keys", "request_hash", "UPDATE"),
        ("idempotency_keys", "user_id", "UPDATE"),
    ];
    let mut granted = Vec::new();
    for (table, column, privilege) in forbidden {
        let has: bool = sqlx::query_scalar("select has_column_privilege($1, $2, $3, $4)")
            .bind(APP_ROLE)
            .bind(table)
            .bind(column)
            .bind(privilege)
            .fetch_one(&db.owner)
            .await
            .unwrap();
        if has {
            granted.push(format!("{privilege} on {table}.{column}"));
        }
    }
    assert!(granted.is_empty(), "{APP_ROLE} may {granted:?}");
}

#[tokio::test]
async fn the_app_role_is_unprivileged_and_owns_nothing() {
    let db = TestDatabase::new().await;
    let violations = catalog::app_role_violations(&db.owner).await.unwrap();
    assert!(violations.is_empty(), "{violations:?}");
}

/// `security definer` functions run as their owner and skip row-level security: each must pin
/// an empty search_path (so no object of the caller's can stand in for one of ours), must not be
/// callable by PUBLIC, and must be one we know, each covered by a test in the isolation suite.
#[tokio::test]
async fn security_definer_functions_are_few_known_and_hardened() {
    let db = TestDatabase::new().await;
    let functions = catalog::definer_functions(&db.owner).await.unwrap();
    // Each is attacked in the isolation suite (`isolation.rs`), or, as a trigger function, is
    // tested through the writes that fire it (`deals.rs`).
    assert_eq!(
        functions,
        [
            "aura.apex_login_candidate(text)",
            // The export worker's claim and expiry: `isolation.rs`.
            "aura.claim_export(integer)",
            // The import worker's claim: `isolation.rs`.
            "aura.claim_import(integer)",
            // The webhook worker's claim: `isolation.rs`.
            "aura.claim_webhook_deliveries(integer,integer)",
            // An API key with its identity: `users_policy.rs` (only an admin, only in the
            // workspace in context, never inserted directly), and through the server in
            // `aura/tests/it/api_keys.rs`, as are `use_api_key` and `record_refused_api_key`.
            // A new account, made by itself only: `users_policy.rs`.
            "aura.create_account(uuid,text,text,text)",
            "aura.create_api_key(uuid,text,aura.api_key_role,bytea,text,timestamp with time zone)",
            "aura.current_user_is_platform_admin()",
            "aura.expire_exports()",
            // The apex's doors into workspaces: `isolation.rs` (the hand-off test).
            "aura.issue_workspace_handoff(text,bytea)",
            "aura.own_workspaces()",
            // The owner copies' triggers (0058): `deals.rs` (a reassignment moves every
            // child's copy; a copy that lies is corrected and refused).
            "aura.pass_on_owner()",
            // `/metrics`' queue counts and the operators' workspace counts: `isolation.rs`.
            "aura.queue_backlog()",
            // The memberships' copies a dead server left stale: `users_policy.rs` (mended, and
            // nothing claimed; it takes no argument).
            "aura.reconcile_member_of()",
            // The webhook triggers: the server's `webhooks.rs` (receivers get exactly the events
            // their own workspace caused).
            "aura.record_deal_webhook_event()",
            "aura.record_foreign_token(uuid)",
            // The line history's trigger: attacked in `products.rs` (no one forges or hides a row).
            "aura.record_line_change()",
            "aura.record_line_webhook_event()",
            "aura.record_member_webhook_event()",
            "aura.record_refused_access(uuid[])",
            "aura.record_refused_api_key(bytea)",
            "aura.record_stage_move()",
            "aura.record_webhook_event()",
            // Memberships' copy on `users`: `users_policy.rs` (it follows every change and
            // claims nothing the memberships do not say).
            "aura.sync_member_of(uuid,uuid)",
            "aura.take_record_owners()",
            "aura.tenant_by_slug(text)",
            "aura.use_api_key(bytea,inet)",
            "aura.workspace_counts(uuid[])",
        ],
        "a new definer function needs a test"
    );
    let violations = catalog::definer_function_violations(&db.owner)
        .await
        .unwrap();
    assert!(violations.is_empty(), "{violations:?}");
}

/// The audit log is partitioned by month (F14.4, migration 0050): the partitions exist ahead of
/// time with a default one behind them, each forces row level security, and `aura_app` holds no
/// privilege on any (it reads and writes them only through `audit_log` and its policies).
#[tokio::test]
async fn the_audit_log_is_partitioned_by_month_ahead_of_time() {
    let db = TestDatabase::new().await;
    let violations = catalog::audit_partition_violations(&db.owner)
        .await
        .unwrap();
    assert!(violations.is_empty(), "{violations:?}");
    let partitions: Vec<(String, bool, bool, bool)> = sqlx::query_as(
        "select c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
                has_table_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
         from pg_inherits i join pg_class c on c.oid = i.inhrelid
         where i.inhparent = 'audit_log'::regclass order by 1",
    )
    .bind(APP_ROLE)
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert!(partitions
        .iter()
        .any(|(name, ..)| name == "audit_log_default"));
    let months = partitions
        .iter()
        .filter(|(name, ..)| name.starts_with("audit_log_y"))
        .count();
    assert!(months >= 4, "this month and the next three: {partitions:?}");
    for (name, rls, forced, granted) in &partitions {
        assert!(*rls && *forced, "{name} does not force row level security");
        assert!(!granted, "{APP_ROLE} may use {name} directly");
    }
}
