//! Keeps the schema distributable by workspace (issue #17, ARCHITECTURE.md: scale-out on Citus,
//! distributed by `tenant_id`). It runs on plain PostgreSQL, so a migration that would stop the
//! schema from distributing fails here, long before anyone tries it on a Citus cluster.
//!
//! The layout it holds the schema to: every table with a `tenant_id` is distributed by it and
//! co-located with the others; the global tables are either reference tables (copied to every
//! node, because tenant tables point at them) or local to the coordinator (platform tables no
//! tenant table points at).
//!
//! Every catalog query reaches its tables through `pg_class`: on a Citus coordinator (these
//! tests run there too, SCALING.md) Citus hides the shards it holds from `pg_class`, and only
//! from it.

use aura_platform::db::distribution::REFERENCE_TABLES;
use aura_platform::db::testing::TestDatabase;
use sqlx::PgPool;

/// Global tables kept on the coordinator only: sign-up, sign-in on the apex, mail and the
/// operators' audit, which no tenant table references and no tenant query joins.
const LOCAL_TABLES: [&str; 8] = [
    "_sqlx_migrations",
    "email_outbox",
    "email_verifications",
    "login_failures",
    "password_resets",
    "platform_audit_log",
    "platform_sessions",
    "signups",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Placement {
    Distributed,
    Reference,
    Local,
    Unlisted,
}

/// Where each table of the public schema goes, from its columns and the lists above.
async fn placements(db: &PgPool) -> Vec<(String, Placement)> {
    let tables: Vec<(String, bool)> = sqlx::query_as(
        "select c.oid::regclass::text,
                exists (select 1 from pg_attribute a
                        where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
         order by 1",
    )
    .fetch_all(db)
    .await
    .expect("read the catalog");
    tables
        .into_iter()
        .map(|(name, has_tenant)| {
            let placement = if has_tenant {
                Placement::Distributed
            } else if REFERENCE_TABLES.contains(&name.as_str()) {
                Placement::Reference
            } else if LOCAL_TABLES.contains(&name.as_str()) {
                Placement::Local
            } else {
                Placement::Unlisted
            };
            (name, placement)
        })
        .collect()
}

/// Every way the schema would refuse to distribute, as readable sentences; empty when it holds.
async fn distribution_violations(db: &PgPool) -> Vec<String> {
    let placements = placements(db).await;
    let placement_of = |table: &str| {
        placements
            .iter()
            .find(|(name, _)| name == table)
            .map_or(Placement::Unlisted, |(_, placement)| *placement)
    };
    let mut violations = Vec::new();

    for (table, placement) in &placements {
        if *placement == Placement::Unlisted {
            violations.push(format!(
                "{table} has no tenant_id and is not listed as a reference or a local table"
            ));
        }
    }
    for listed in REFERENCE_TABLES.iter().chain(&LOCAL_TABLES) {
        if !placements.iter().any(|(name, _)| name == listed) {
            violations.push(format!("{listed} is listed but no longer exists"));
        }
    }

    // Citus enforces uniqueness per shard, so a distributed table's unique keys must hold the
    // distribution column.
    let unique_keys: Vec<(String, String)> = sqlx::query_as(
        "select i.indrelid::regclass::text, i.indexrelid::regclass::text
         from pg_index i join pg_class r on r.oid = i.indrelid
         where i.indisunique
           and exists (select 1 from pg_attribute a
                       where a.attrelid = i.indrelid and a.attname = 'tenant_id')
           and not exists (select 1 from pg_attribute a
                           where a.attrelid = i.indrelid and a.attname = 'tenant_id'
                             and a.attnum = any (i.indkey))
         order by 1, 2",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (table, index) in unique_keys {
        violations.push(format!(
            "{table}: unique index {index} leaves out tenant_id"
        ));
    }

    let foreign_keys: Vec<(String, String, String, bool, bool)> = sqlx::query_as(
        "select c.conrelid::regclass::text, c.conname::text, c.confrelid::regclass::text,
                exists (select 1 from pg_attribute a
                        where a.attrelid = c.conrelid and a.attname = 'tenant_id'
                          and a.attnum = any (c.conkey)),
                c.confupdtype in ('c', 'n', 'd')
         from pg_constraint c join pg_namespace n on n.oid = c.connamespace
         join pg_class r on r.oid = c.conrelid
         where c.contype = 'f' and n.nspname = 'public'
         order by 1, 2",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (table, constraint, target, holds_tenant, acts_on_update) in foreign_keys {
        use Placement::*;
        // Citus refuses CASCADE, SET NULL and SET DEFAULT on update in a key that holds the
        // distribution column (0058 keeps the owner copies by trigger instead).
        if acts_on_update && placement_of(&table) == Distributed && holds_tenant {
            violations.push(format!(
                "{table}.{constraint} -> {target} acts on update (ON UPDATE CASCADE, SET NULL \
                 or SET DEFAULT): keep the columns in step with a trigger"
            ));
        }
        let allowed = match (placement_of(&table), placement_of(&target)) {
            // Co-located joins only: a key between tenant tables carries the workspace.
            (Distributed, Distributed) => holds_tenant,
            // Citus keeps keys to a reference table, from anywhere (local tables included,
            // once the coordinator is in the metadata).
            (_, Reference) => true,
            (Local, Local) => true,
            _ => false,
        };
        if !allowed {
            violations.push(format!(
                "{table}.{constraint} -> {target} cannot be kept by a distributed schema \
                 ({:?} -> {:?}{})",
                placement_of(&table),
                placement_of(&target),
                if holds_tenant {
                    ""
                } else {
                    ", without tenant_id"
                }
            ));
        }
    }

    // On Citus a violation names the shard's copy of a constraint (`name_102041`), and `DbError`
    // strips a trailing `_` and digits to get the schema's name back: no name of ours may end so.
    let shard_like: Vec<String> = sqlx::query_scalar(
        r"select c.conname::text from pg_constraint c
          join pg_class t on t.oid = c.conrelid
          join pg_namespace n on n.oid = t.relnamespace
          where n.nspname = 'public' and c.conname ~ '_[0-9]+$'
          union
          select i.relname::text from pg_class i join pg_namespace n on n.oid = i.relnamespace
          where n.nspname = 'public' and i.relkind in ('i', 'I') and i.relname ~ '_[0-9]+$'
          order by 1",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for name in shard_like {
        violations.push(format!(
            "{name} ends in _ and digits, as a shard's copy does (rename it)"
        ));
    }

    let identities: Vec<(String, String)> = sqlx::query_as(
        "select a.attrelid::regclass::text, a.attname::text
         from pg_attribute a join pg_class c on c.oid = a.attrelid
         join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and a.attidentity <> '' and not a.attisdropped
         order by 1, 2",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (table, column) in identities {
        if placement_of(&table) != Placement::Local {
            violations.push(format!(
                "{table}.{column} is an identity column (use a sequence default)"
            ));
        }
    }

    // Citus refuses a policy with a subquery on a distributed or reference table; a function
    // that runs the query is accepted.
    let policies: Vec<(String, String, String)> = sqlx::query_as(
        "select tablename::text, policyname::text,
                coalesce(qual, '') || ' ' || coalesce(with_check, '')
         from pg_policies where schemaname = 'public'
         order by 1, 2",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (table, policy, expressions) in policies {
        if placement_of(&table) != Placement::Local && holds_subquery(&expressions) {
            violations.push(format!(
                "{table}: policy {policy} holds a subquery (move it into a function)"
            ));
        }
    }

    // Found on a cluster (SCALING.md): a trigger on a distributed table runs on the shard and
    // may not write a table of another placement there.
    let trigger_writes: Vec<(String, String, String)> = sqlx::query_as(
        r"select distinct t.tgrelid::regclass::text, p.oid::regprocedure::text, w[1]
          from pg_trigger t join pg_proc p on p.oid = t.tgfoid
          cross join lateral regexp_matches(
              p.prosrc, '(?:insert\s+into|update|delete\s+from)\s+public\.(\w+)', 'gi') w
          where not t.tgisinternal
          order by 1, 2, 3",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (table, function, written) in trigger_writes {
        if placement_of(&table) == Placement::Distributed
            && placement_of(&written) != Placement::Distributed
        {
            violations.push(format!(
                "trigger {function} on {table} writes {written} (call a function instead)"
            ));
        }
    }
    // Function bodies Citus cannot run as written, each with what to do instead.
    let rules = [
        // It cannot plan a query with parameters inside a `language sql` function.
        (
            r"p.pronargs > 0 and p.prosrc ~* '\mpublic\.'
              and p.prolang = (select oid from pg_language where lanname = 'sql')",
            "is language sql and reads tables (make it PL/pgSQL)",
        ),
        // It takes no row locks in a query over several shards: a queue claimed with `skip
        // locked` across workspaces claims nothing there (0061 claims row by row instead).
        (
            r"p.prosrc ~* '\mskip\s+locked\M'",
            "locks with skip locked (claim row by row)",
        ),
        // On a shard a trigger's `tg_table_name` is the shard's name (`deals_102040`).
        (
            r"p.prosrc ~* '\mtg_table_name\M'",
            "asks tg_table_name (use a trigger argument)",
        ),
    ];
    for (condition, problem) in rules {
        let functions: Vec<String> = sqlx::query_scalar(&format!(
            "select p.oid::regprocedure::text
             from pg_proc p join pg_namespace n on n.oid = p.pronamespace
             where n.nspname = 'aura' and {condition}
             order by 1"
        ))
        .fetch_all(db)
        .await
        .unwrap();
        for function in functions {
            violations.push(format!("function {function} {problem}"));
        }
    }
    violations
}

/// Whether a policy expression, as PostgreSQL deparses it (keywords in capitals), runs a query.
fn holds_subquery(expression: &str) -> bool {
    expression.contains("SELECT ")
}

#[tokio::test]
async fn the_schema_stays_distributable_by_workspace() {
    let db = TestDatabase::new().await;
    let violations = distribution_violations(&db.owner).await;
    assert!(
        violations.is_empty(),
        "the schema would not distribute by workspace:\n{}",
        violations.join("\n")
    );
}

/// The check itself is tested: each way a future migration could stop the schema from
/// distributing is caught.
#[tokio::test]
async fn the_distribution_check_catches_every_kind_of_undistributable_table() {
    let db = TestDatabase::new().await;
    sqlx::raw_sql(
        "create table rogue_unlisted (note text);
         create table rogue_unique (tenant_id uuid not null, code text unique);
         create table rogue_parent (tenant_id uuid not null, id uuid primary key);
         create table rogue_child (tenant_id uuid not null,
                                   parent_id uuid references rogue_parent (id));
         create table rogue_counted (tenant_id uuid not null,
                                     id bigint generated always as identity);
         create table rogue_points_at_local (tenant_id uuid not null,
                                             signup_id uuid references signups (id));
         create table rogue_cascade (tenant_id uuid not null, parent_id uuid,
                                     foreign key (tenant_id, parent_id)
                                     references organizations (tenant_id, id) on update cascade);
         create table rogue_policed (tenant_id uuid not null);
         create unique index rogue_policed_2024 on rogue_policed (tenant_id);
         create policy subquery on rogue_policed using (
             exists (select 1 from tenant_members m where m.tenant_id = rogue_policed.tenant_id));
         create function aura.rogue_touch() returns trigger language plpgsql as $$
             begin update public.users set display_name = display_name where false;
                   return null; end $$;
         create trigger rogue_touch after insert on rogue_policed
             for each row execute function aura.rogue_touch();
         create function aura.rogue_lookup(p_tenant uuid) returns bigint language sql as $$
             select count(*) from public.contacts where tenant_id = p_tenant $$;
         create function aura.rogue_claim() returns uuid language plpgsql as $$
             begin return (select id from public.exports limit 1 for update skip locked); end $$;
         create function aura.rogue_which() returns trigger language plpgsql as $$
             begin if tg_table_name = 'deals' then return new; end if; return null; end $$;",
    )
    .execute(&db.owner)
    .await
    .unwrap();

    let violations = distribution_violations(&db.owner).await.join("\n");
    for expected in [
        "rogue_unlisted has no tenant_id and is not listed",
        "rogue_unique: unique index rogue_unique_code_key leaves out tenant_id",
        "rogue_parent: unique index rogue_parent_pkey leaves out tenant_id",
        "rogue_child.rogue_child_parent_id_fkey -> rogue_parent cannot be kept",
        "rogue_counted.id is an identity column",
        "rogue_points_at_local.rogue_points_at_local_signup_id_fkey -> signups cannot be kept",
        "rogue_policed: policy subquery holds a subquery",
        "rogue_cascade.rogue_cascade_tenant_id_parent_id_fkey -> organizations acts on update",
        "trigger aura.rogue_touch() on rogue_policed writes users",
        "function aura.rogue_lookup(uuid) is language sql and reads tables",
        "function aura.rogue_claim() locks with skip locked",
        "function aura.rogue_which() asks tg_table_name",
        "rogue_policed_2024 ends in _ and digits",
    ] {
        assert!(
            violations.contains(expected),
            "missed `{expected}` in:\n{violations}"
        );
    }
    assert!(
        !violations.contains("tenant_members") && !violations.contains("audit_log"),
        "false alarm:\n{violations}"
    );
}

/// On a Citus cluster (the suites run there with `AURA_TEST_CITUS_URL`, SCALING.md), `migrate`
/// placed every table as the layout says: tenant tables hash-distributed by `tenant_id` in one
/// co-location group, the reference tables copied to every node, and the local tables on the
/// coordinator. On plain PostgreSQL there is nothing placed; the test says so and stops.
#[tokio::test]
async fn on_citus_migrate_places_every_table_as_the_layout_says() {
    let db = TestDatabase::new().await;
    let citus: bool =
        sqlx::query_scalar("select exists (select from pg_extension where extname = 'citus')")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    if !citus {
        eprintln!("not a Citus cluster: no placement to check");
        return;
    }
    // partmethod 'h' is hash distribution; 'n' with replication model 't' a reference table.
    let placed: Vec<(String, String, String, i32)> = sqlx::query_as(
        "select logicalrelid::regclass::text, partmethod::text, repmodel::text, colocationid
         from pg_dist_partition",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    let placement_in_citus = |table: &str| placed.iter().find(|(name, ..)| name == table);
    let mut groups = std::collections::BTreeSet::new();
    for (table, placement) in placements(&db.owner).await {
        let found = placement_in_citus(&table);
        match placement {
            Placement::Distributed => {
                let (_, method, _, group) =
                    found.unwrap_or_else(|| panic!("{table} is not distributed"));
                assert_eq!(method, "h", "{table} is not distributed by hash");
                groups.insert(*group);
            }
            Placement::Reference => {
                let (_, method, model, _) =
                    found.unwrap_or_else(|| panic!("{table} is not a reference table"));
                assert_eq!((method.as_str(), model.as_str()), ("n", "t"), "{table}");
            }
            Placement::Local => assert!(
                found.is_none_or(|(_, method, model, _)| method == "n" && model != "t"),
                "{table} left the coordinator"
            ),
            Placement::Unlisted => panic!("{table} has no placement"),
        }
    }
    assert_eq!(
        groups.len(),
        1,
        "tenant tables in several co-location groups"
    );
    let by_another_column: i64 = sqlx::query_scalar(
        "select count(*) from pg_dist_partition
         where partmethod = 'h' and column_to_column_name(logicalrelid, partkey) <> 'tenant_id'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        by_another_column, 0,
        "a table distributed by another column"
    );
}
