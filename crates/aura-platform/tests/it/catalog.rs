//! The catalog test: reads the schema from PostgreSQL's catalog, so a table added by a future
//! migration is checked without anyone remembering to list it.

use aura_platform::db::testing::TestDatabase;
use aura_platform::db::APP_ROLE;
use sqlx::PgPool;

/// A table-like relation as the catalog describes it; `tenant_id_*` are NULL without that column.
#[derive(sqlx::FromRow)]
struct Relation {
    name: String,
    kind: String,
    rls: bool,
    forced: bool,
    tenant_id_type: Option<String>,
    tenant_id_not_null: Option<bool>,
}

const COMMANDS: [&str; 4] = ["SELECT", "INSERT", "UPDATE", "DELETE"];

/// Every way the schema breaks the isolation rules, as readable sentences; empty when it holds.
///
/// - Every table with a `tenant_id` column: `tenant_id` is `uuid not null`; RLS is enabled and
///   forced; and for each of select/insert/update/delete, either `aura_app` lacks the privilege
///   or a policy for that command checks `aura.current_tenant_id()`.
/// - Every other table, view or sequence `aura_app` can reach: RLS enabled and forced, with a
///   policy for each granted command (tables), and views run as the invoker.
async fn isolation_violations(db: &PgPool) -> Vec<String> {
    let mut violations = Vec::new();
    let tables: Vec<Relation> = sqlx::query_as(
        "select c.oid::regclass::text as name, c.relkind::text as kind,
                c.relrowsecurity as rls, c.relforcerowsecurity as forced,
                format_type(a.atttypid, a.atttypmod) as tenant_id_type,
                a.attnotnull as tenant_id_not_null
         from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         left join pg_attribute a
                on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
         where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
           and c.relkind in ('r', 'p', 'v', 'm', 'f')
         order by 1",
    )
    .fetch_all(db)
    .await
    .expect("read the catalog");

    for Relation {
        name: table,
        kind,
        rls,
        forced,
        tenant_id_type,
        tenant_id_not_null,
    } in tables
    {
        let granted = granted_commands(db, &table).await;
        let tenant_scoped = tenant_id_type.is_some();
        if !tenant_scoped && granted.is_empty() {
            continue; // out of aura_app's reach, e.g. the migrations bookkeeping table
        }
        if kind == "v" {
            let invoker: bool = sqlx::query_scalar(
                "select coalesce('security_invoker=true' = any(reloptions), false)
                 from pg_class where oid = $1::regclass",
            )
            .bind(&table)
            .fetch_one(db)
            .await
            .unwrap();
            if !invoker {
                violations.push(format!("view {table} is not security_invoker"));
            }
            continue;
        }
        if kind == "m" || kind == "f" {
            violations.push(format!(
                "{table}: materialized views and foreign tables bypass RLS"
            ));
            continue;
        }
        if tenant_scoped
            && (tenant_id_type.as_deref() != Some("uuid") || tenant_id_not_null != Some(true))
        {
            violations.push(format!("{table}.tenant_id is not `uuid not null`"));
        }
        if !rls {
            violations.push(format!("{table} does not ENABLE row level security"));
        }
        if !forced {
            violations.push(format!("{table} does not FORCE row level security"));
        }
        for command in COMMANDS {
            if !granted.iter().any(|g| g == command) {
                continue;
            }
            let policies: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
                "select qual, with_check from pg_policies
                 where format('%I.%I', schemaname, tablename)::regclass = $1::regclass
                   and cmd in ($2, 'ALL')",
            )
            .bind(&table)
            .bind(command)
            .fetch_all(db)
            .await
            .unwrap();
            if policies.is_empty() {
                violations.push(format!(
                    "{table} has no {command} policy though {APP_ROLE} may {command}"
                ));
                continue;
            }
            if tenant_scoped {
                let checks_tenant =
                    |expr: &Option<String>| expr.as_deref().is_some_and(confines_to_tenant);
                let ok = policies.iter().all(|(using, check)| match command {
                    "INSERT" => checks_tenant(check),
                    "UPDATE" => checks_tenant(using) && checks_tenant(check),
                    _ => checks_tenant(using),
                });
                if !ok {
                    violations.push(format!(
                        "{table}: a {command} policy does not confine rows to aura.current_tenant_id()"
                    ));
                }
            }
        }
    }
    violations
}

/// Whether a policy expression, as PostgreSQL deparses it, has `tenant_id =
/// aura.current_tenant_id()` as one of its top-level conjuncts, so no other part of it (an
/// `OR`, say) can let another tenant's row through.
fn confines_to_tenant(expression: &str) -> bool {
    top_level_conjuncts(expression).contains(&"tenant_id = aura.current_tenant_id()")
}

/// `((a) AND (b OR c))` -> `["a", "b OR c"]`; an expression that is not a conjunction is its
/// own one part.
fn top_level_conjuncts(expression: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    let expression = strip_parentheses(expression);
    let bytes = expression.as_bytes();
    for (i, byte) in bytes.iter().enumerate() {
        match byte {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b' ' if depth == 0 && expression[i..].starts_with(" AND ") => {
                parts.push(strip_parentheses(&expression[start..i]));
                start = i + " AND ".len();
            }
            _ => {}
        }
    }
    parts.push(strip_parentheses(&expression[start..]));
    parts
}

/// Removes parentheses that enclose the whole expression.
fn strip_parentheses(mut expression: &str) -> &str {
    loop {
        expression = expression.trim();
        let Some(inner) = expression
            .strip_prefix('(')
            .and_then(|e| e.strip_suffix(')'))
        else {
            return expression;
        };
        // `(a) AND (b)` starts and ends with parentheses that are not one pair.
        let mut depth = 0;
        let encloses = inner.bytes().all(|byte| {
            match byte {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
            depth >= 0
        });
        if !encloses {
            return expression;
        }
        expression = inner;
    }
}

/// Columns of tenant tables that may reference `users (id)` alone, not a membership of the
/// row's own workspace: they record who did something, are set from the context, and outlive
/// the membership (F3.5). Whom a record belongs to must reference the membership instead.
const HISTORY_COLUMNS: [&str; 10] = [
    "created_by",
    "revoked_by",
    "updated_by",
    "deleted_by",
    "invited_by",
    "accepted_by",
    // An audit entry of a refused attempt names someone of another workspace.
    "actor_user_id",
    // Who took part in an activity: checked to be a member by a trigger when it is logged.
    "participant_id",
    // Who moved a deal to another stage: the insert policy holds it to the context's user.
    "moved_by",
    // Who changed a product's pricing blueprint: the insert policy holds it to the context's user.
    "changed_by",
];

/// Columns naming a principal that has no membership, or the context's own user: an API key's
/// identity (a user without a membership, made by the key's insert), the caller an idempotency
/// record belongs to (a member or a key), and a member's own dismissal of the onboarding list
/// (their policies hold each to the context's user), and whom an apex hand-off code signs in
/// (issued only for an active member, by `aura.issue_workspace_handoff`).
const PRINCIPAL_COLUMNS: [(&str, &str); 4] = [
    ("api_keys", "user_id"),
    ("idempotency_keys", "user_id"),
    ("onboarding_dismissals", "user_id"),
    ("workspace_handoffs", "user_id"),
];

/// Foreign keys from a table with a `tenant_id` to `users` that leave the tenant out.
async fn user_references_without_tenant(db: &PgPool) -> Vec<String> {
    let references: Vec<(String, String)> = sqlx::query_as(
        "select c.conrelid::regclass::text, a.attname::text
         from pg_constraint c
         join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey)
         where c.contype = 'f' and c.confrelid = 'users'::regclass
           and exists (select 1 from pg_attribute t
                       where t.attrelid = c.conrelid and t.attname = 'tenant_id'
                         and not t.attisdropped)
         order by 1, 2",
    )
    .fetch_all(db)
    .await
    .unwrap();
    references
        .into_iter()
        // A membership is the one row that names a user as such.
        .filter(|(table, column)| !(table == "tenant_members" && column == "user_id"))
        .filter(|(_, column)| !HISTORY_COLUMNS.contains(&column.as_str()))
        .filter(|(table, column)| !PRINCIPAL_COLUMNS.contains(&(table.as_str(), column.as_str())))
        .map(|(table, column)| {
            format!("{table}.{column} references users without its tenant (use the membership)")
        })
        .collect()
}

async fn granted_commands(db: &PgPool, table: &str) -> Vec<String> {
    let mut granted = Vec::new();
    for command in COMMANDS {
        let has: bool = sqlx::query_scalar("select has_table_privilege($1, $2::regclass, $3)")
            .bind(APP_ROLE)
            .bind(table)
            .bind(command)
            .fetch_one(db)
            .await
            .unwrap();
        if has {
            granted.push(command.to_owned());
        }
    }
    granted
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

#[test]
fn a_policy_confines_to_the_tenant_only_through_a_top_level_conjunct() {
    for confined in [
        "(tenant_id = aura.current_tenant_id())",
        "((tenant_id = aura.current_tenant_id()) AND (aura.current_member_role() = 'admin'::aura.member_role))",
        "((a OR b) AND (tenant_id = aura.current_tenant_id()))",
    ] {
        assert!(confines_to_tenant(confined), "{confined}");
    }
    for open in [
        "((tenant_id = aura.current_tenant_id()) OR true)",
        "(((tenant_id = aura.current_tenant_id()) AND a) OR b)",
        "(tenant_id = aura.current_tenant_id()) OR (tenant_id = aura.current_tenant_id())",
        "(tenant_id <> aura.current_tenant_id())",
        "true",
    ] {
        assert!(!confines_to_tenant(open), "{open}");
    }
}

/// Column grants that keep a member's context from raising its privileges, whatever the
/// policies say: nobody sets the operator flag or reads a password hash, memberships,
/// sessions, tokens and codes are never re-pointed, and history is never rewritten.
#[tokio::test]
async fn the_app_role_cannot_reach_the_columns_that_carry_power() {
    let db = TestDatabase::new().await;
    let forbidden = [
        ("users", "is_platform_admin", "INSERT"),
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
    let (superuser, bypass, create_role, create_db, owned): (bool, bool, bool, bool, i64) =
        sqlx::query_as(
            "select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb,
                    (select count(*) from pg_class where relowner = r.oid)
             from pg_roles r where rolname = $1",
        )
        .bind(APP_ROLE)
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert!(!superuser && !bypass && !create_role && !create_db);
    assert_eq!(owned, 0, "{APP_ROLE} must own no relation");
    let members_of: i64 = sqlx::query_scalar(
        "select count(*) from pg_auth_members m join pg_roles r on r.oid = m.member where r.rolname = $1",
    )
    .bind(APP_ROLE)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(members_of, 0, "{APP_ROLE} must be a member of no role");
}

/// `security definer` functions run as their owner and skip row-level security: each must pin
/// an empty search_path (so no object of the caller's can stand in for one of ours), must not be
/// callable by PUBLIC, and must be one we know, each covered by a test in the isolation suite.
#[tokio::test]
async fn security_definer_functions_are_few_known_and_hardened() {
    let db = TestDatabase::new().await;
    let functions: Vec<(String, Option<Vec<String>>, bool)> = sqlx::query_as(
        "select p.oid::regprocedure::text, p.proconfig,
                has_function_privilege('public', p.oid, 'execute')
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
         order by 1",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    let names: Vec<&str> = functions.iter().map(|(name, ..)| name.as_str()).collect();
    // Each is attacked in the isolation suite (`isolation.rs`), or, as a trigger function, is
    // tested through the writes that fire it (`deals.rs`).
    assert_eq!(
        names,
        [
            "aura.apex_login_candidate(text)",
            // An API key's identity, made by the key's insert: `aura/tests/it/api_keys.rs`,
            // as are the two key functions below (another workspace's, revoked, expired keys).
            "aura.api_key_identity()",
            // The import worker's claim: `isolation.rs`.
            "aura.claim_import(integer)",
            // The webhook worker's claim: `isolation.rs`.
            "aura.claim_webhook_deliveries(integer,integer)",
            "aura.current_user_is_platform_admin()",
            // The apex's doors into workspaces: `isolation.rs` (the hand-off test).
            "aura.issue_workspace_handoff(text,bytea)",
            "aura.keep_member_of()",
            "aura.own_workspaces()",
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
            "aura.tenant_by_slug(text)",
            "aura.use_api_key(bytea,inet)",
        ],
        "a new definer function needs a test"
    );
    for (name, config, public) in &functions {
        let pinned = config.as_ref().is_some_and(|c| {
            c.iter()
                .any(|s| s == "search_path=\"\"" || s == "search_path=")
        });
        assert!(pinned, "{name} does not pin search_path: {config:?}");
        assert!(!public, "{name} is executable by PUBLIC");
    }
}
