//! The isolation rules read from PostgreSQL's catalog (ARCHITECTURE.md, rules 1, 2 and 8): one
//! place for the queries, so the catalog test (`tests/it/catalog.rs`) that checks every test
//! database and `aura doctor` that checks a live deployment cannot drift apart. Each check
//! answers readable sentences, one per broken rule, naming the table or function; none when the
//! rule holds. They only read the catalog (any role may; the owner's pool is the usual one).

use sqlx::PgPool;

use super::migrate::{APP_ROLE, MIGRATOR};
use super::DbError;

/// A table-like relation as the catalog describes it; `tenant_id_*` are NULL without that column.
struct Relation {
    name: String,
    kind: String,
    rls: bool,
    forced: bool,
    tenant_id_type: Option<String>,
    tenant_id_not_null: Option<bool>,
}

const COMMANDS: [&str; 4] = ["SELECT", "INSERT", "UPDATE", "DELETE"];

/// Every way the schema breaks the isolation rules.
///
/// - Every table with a `tenant_id` column: `tenant_id` is `uuid not null`; RLS is enabled and
///   forced; and for each of select/insert/update/delete, either `aura_app` lacks the privilege
///   or a policy for that command checks `aura.current_tenant_id()`.
/// - Every other table, view or sequence `aura_app` can reach: RLS enabled and forced, with a
///   policy for each granted command (tables), and views run as the invoker.
/// - Relations an extension installed (Citus's metadata views on a cluster) are the
///   extension's, and hold no workspace's rows: not checked.
/// - Partitions (the audit log's months): `aura_app` holds no privilege on any, because a
///   partition queried by name does not apply its parent's policies.
pub async fn isolation_violations(db: &PgPool) -> Result<Vec<String>, DbError> {
    let mut violations = Vec::new();
    let tables: Vec<Relation> = sqlx::query_as!(
        Relation,
        r#"select c.oid::regclass::text as "name!", c.relkind::text as "kind!",
                c.relrowsecurity as "rls!", c.relforcerowsecurity as "forced!",
                format_type(a.atttypid, a.atttypmod) as "tenant_id_type?",
                a.attnotnull as "tenant_id_not_null?"
         from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         left join pg_attribute a
                on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
         where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
           and c.relkind in ('r', 'p', 'v', 'm', 'f')
           -- An extension's own relations (Citus's metadata views) hold no workspace's rows.
           and not exists (select from pg_depend d
                           where d.classid = 'pg_class'::regclass and d.objid = c.oid
                             and d.deptype = 'e')
         order by 1"#,
    )
    .fetch_all(db)
    .await?;

    for Relation {
        name: table,
        kind,
        rls,
        forced,
        tenant_id_type,
        tenant_id_not_null,
    } in tables
    {
        let granted = granted_commands(db, &table).await?;
        let tenant_scoped = tenant_id_type.is_some();
        if !tenant_scoped && granted.is_empty() {
            continue; // out of aura_app's reach, e.g. the migrations bookkeeping table
        }
        if kind == "v" {
            let invoker: bool = sqlx::query_scalar!(
                r#"select coalesce('security_invoker=true' = any(reloptions), false) as "invoker!"
                   from pg_class where oid = $1::text::regclass"#,
                table.as_str(),
            )
            .fetch_one(db)
            .await?;
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
            let policies: Vec<(Option<String>, Option<String>)> = sqlx::query!(
                r#"select qual as "qual?", with_check as "with_check?" from pg_policies
                   where format('%I.%I', schemaname, tablename)::regclass = $1::text::regclass
                     and cmd in ($2::text, 'ALL')"#,
                table.as_str(),
                command,
            )
            .fetch_all(db)
            .await?
            .into_iter()
            .map(|row| (row.qual, row.with_check))
            .collect();
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
    let reachable_partitions = sqlx::query!(
        r#"select c.oid::regclass::text as "partition!", i.inhparent::regclass::text as "parent!"
           from pg_inherits i join pg_class c on c.oid = i.inhrelid
           where c.relispartition and c.relkind in ('r', 'p')
             and (has_table_privilege($1::text, c.oid, 'SELECT')
                  or has_table_privilege($1::text, c.oid, 'INSERT')
                  or has_table_privilege($1::text, c.oid, 'UPDATE')
                  or has_table_privilege($1::text, c.oid, 'DELETE'))
           order by 1"#,
        APP_ROLE,
    )
    .fetch_all(db)
    .await?;
    for row in reachable_partitions {
        let (partition, parent) = (row.partition, row.parent);
        violations.push(format!(
            "{APP_ROLE} may use the partition {partition} directly, skipping {parent}'s policies"
        ));
    }
    Ok(violations)
}

/// Every table with a `tenant_id` column (partitions aside: their parent stands for them), as
/// the catalog lists them, in name order.
pub async fn tenant_tables<'e>(db: impl sqlx::PgExecutor<'e>) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar!(
        r#"select c.oid::regclass::text as "table!"
           from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
           join pg_attribute a
                on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
           where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
             and c.relkind in ('r', 'p') and not c.relispartition
           order by 1"#,
    )
    .fetch_all(db)
    .await?)
}

/// Whether a policy expression, as PostgreSQL deparses it, has `tenant_id =
/// aura.current_tenant_id()` as one of its top-level conjuncts, so no other part of it (an
/// `OR`, say) can let another tenant's row through.
pub fn confines_to_tenant(expression: &str) -> bool {
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
const HISTORY_COLUMNS: [&str; 11] = [
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
    // Who asked for a workspace export: the insert policy holds it to the context's user (an
    // admin), and the run checks they are still an active admin.
    "requested_by",
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
pub async fn user_references_without_tenant(db: &PgPool) -> Result<Vec<String>, DbError> {
    let references = sqlx::query!(
        r#"select c.conrelid::regclass::text as "table!", a.attname::text as "column!"
         from pg_constraint c
         join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey)
         where c.contype = 'f' and c.confrelid = 'users'::regclass
           and c.conparentid = 0
           and exists (select 1 from pg_attribute t
                       where t.attrelid = c.conrelid and t.attname = 'tenant_id'
                         and not t.attisdropped)
         order by 1, 2"#,
    )
    .fetch_all(db)
    .await?;
    Ok(references
        .into_iter()
        .map(|row| (row.table, row.column))
        // A membership is the one row that names a user as such.
        .filter(|(table, column)| !(table == "tenant_members" && column == "user_id"))
        .filter(|(_, column)| !HISTORY_COLUMNS.contains(&column.as_str()))
        .filter(|(table, column)| !PRINCIPAL_COLUMNS.contains(&(table.as_str(), column.as_str())))
        .map(|(table, column)| {
            format!("{table}.{column} references users without its tenant (use the membership)")
        })
        .collect())
}

async fn granted_commands(db: &PgPool, table: &str) -> Result<Vec<String>, DbError> {
    let mut granted = Vec::new();
    for command in COMMANDS {
        let has: bool = sqlx::query_scalar!(
            r#"select has_table_privilege($1::text, $2::text::regclass, $3::text) as "has!""#,
            APP_ROLE,
            table,
            command,
        )
        .fetch_one(db)
        .await?;
        if has {
            granted.push(command.to_owned());
        }
    }
    Ok(granted)
}

/// The server's role: it exists, is not a superuser, cannot bypass RLS, create roles or
/// databases, owns no relation and is a member of no role.
pub async fn app_role_violations(db: &PgPool) -> Result<Vec<String>, DbError> {
    let role = sqlx::query!(
        r#"select rolsuper as "superuser!", rolbypassrls as "bypass!",
                  rolcreaterole as "create_role!", rolcreatedb as "create_db!",
                  (select count(*) from pg_class where relowner = r.oid) as "owned!",
                  (select count(*) from pg_auth_members m where m.member = r.oid) as "member_of!"
           from pg_roles r where rolname = $1::text"#,
        APP_ROLE,
    )
    .fetch_optional(db)
    .await?
    .map(|r| {
        (
            r.superuser,
            r.bypass,
            r.create_role,
            r.create_db,
            r.owned,
            r.member_of,
        )
    });
    let Some((superuser, bypass, create_role, create_db, owned, member_of)) = role else {
        return Ok(vec![format!(
            "the role {APP_ROLE} does not exist (run `aura migrate`)"
        )]);
    };
    let mut violations = Vec::new();
    for (broken, what) in [
        (superuser, "is a superuser"),
        (bypass, "may bypass row level security"),
        (create_role, "may create roles"),
        (create_db, "may create databases"),
        (owned > 0, "owns relations"),
        (member_of > 0, "is a member of another role"),
    ] {
        if broken {
            violations.push(format!("{APP_ROLE} {what}"));
        }
    }
    Ok(violations)
}

/// The `security definer` functions of the schema (they skip RLS), by signature.
pub async fn definer_functions(db: &PgPool) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar!(
        r#"select p.oid::regprocedure::text as "function!"
           from pg_proc p join pg_namespace n on n.oid = p.pronamespace
           where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
           order by 1"#,
    )
    .fetch_all(db)
    .await?)
}

/// Each `security definer` function pins an empty search_path (so no object of the caller's
/// can stand in for one of ours) and is not executable by PUBLIC.
pub async fn definer_function_violations(db: &PgPool) -> Result<Vec<String>, DbError> {
    let functions = sqlx::query!(
        r#"select p.oid::regprocedure::text as "name!", p.proconfig as "config?",
                  has_function_privilege('public', p.oid, 'execute') as "public!"
           from pg_proc p join pg_namespace n on n.oid = p.pronamespace
           where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
           order by 1"#,
    )
    .fetch_all(db)
    .await?;
    let mut violations = Vec::new();
    for row in functions {
        let (name, config, public) = (row.name, row.config, row.public);
        let pinned = config.as_ref().is_some_and(|c| {
            c.iter()
                .any(|s| s == "search_path=\"\"" || s == "search_path=")
        });
        if !pinned {
            violations.push(format!(
                "security definer function {name} does not pin search_path"
            ));
        }
        if public {
            violations.push(format!(
                "security definer function {name} is executable by PUBLIC"
            ));
        }
    }
    Ok(violations)
}

/// The database's migrations against this binary's: none failed, none unknown or changed, none
/// pending.
pub async fn migration_violations(db: &PgPool) -> Result<Vec<String>, DbError> {
    let applied: Vec<(i64, bool, Vec<u8>)> =
        match sqlx::query!("select version, success, checksum from _sqlx_migrations order by 1")
            .fetch_all(db)
            .await
        {
            Ok(applied) => applied
                .into_iter()
                .map(|row| (row.version, row.success, row.checksum))
                .collect(),
            Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("42P01") => {
                return Ok(vec![
                    "no migration was ever applied (run `aura migrate`)".into()
                ])
            }
            Err(err) => return Err(err.into()),
        };
    let mut violations = Vec::new();
    for (version, success, checksum) in &applied {
        match MIGRATOR.iter().find(|m| m.version == *version) {
            None => violations.push(format!(
                "migration {version} is applied but unknown to this Aura (a newer one migrated)"
            )),
            Some(known) if *known.checksum != **checksum => violations.push(format!(
                "migration {version} differs from this Aura's (checksum)"
            )),
            Some(_) if !success => violations.push(format!("migration {version} failed")),
            Some(_) => {}
        }
    }
    for known in MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
    {
        if !applied
            .iter()
            .any(|(version, ..)| *version == known.version)
        {
            violations.push(format!(
                "migration {} ({}) is pending (run `aura migrate`)",
                known.version, known.description
            ));
        }
    }
    Ok(violations)
}

/// The audit log's partitions reach into the coming month, and no entry waits in the default
/// partition (it would stop that month's partition from being made by a plain `create`).
pub async fn audit_partition_violations(db: &PgPool) -> Result<Vec<String>, DbError> {
    let row = sqlx::query!(
        r#"select to_regclass(format('public.audit_log_y%sm%s',
                    to_char(now() at time zone 'UTC' + interval '1 month', 'YYYY'),
                    to_char(now() at time zone 'UTC' + interval '1 month', 'MM'))) is not null
                    as "next_month!",
                  (select count(*) from audit_log_default) as "in_default!""#,
    )
    .fetch_one(db)
    .await?;
    let (next_month, in_default) = (row.next_month, row.in_default);
    let mut violations = Vec::new();
    if !next_month {
        violations.push(
            "the audit log has no partition for next month (run `aura migrate` or `aura audit prune`)"
                .into(),
        );
    }
    if in_default > 0 {
        violations.push(format!(
            "{in_default} audit entries sit in audit_log_default, outside any month's partition \
             (run `aura migrate` to move them into theirs)"
        ));
    }
    Ok(violations)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
