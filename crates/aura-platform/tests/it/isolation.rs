//! The isolation matrix: for every table with a `tenant_id` column (found in the catalog, so new
//! tables join automatically), as `aura_app` with tenant A's context, tenant B's rows cannot be
//! seen, changed, deleted or created; without context nothing is visible; and `aura_app` cannot
//! switch row-level security off by any route.

use aura_platform::db::testing::TestDatabase;
use aura_platform::db::{DbError, TenantContext, TenantTx};
use aura_platform::ids::{MemberRole, TenantId, UserId};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

/// Two tenants with a row in every tenant table each (member, audit entry, session, process,
/// stage, product, invitation, API refresh token, step-up code, hand-off code, checklist
/// dismissal, custom field, organization, contact with the same email in both, activity,
/// webhook endpoint, event and delivery, export and a chunk of its file, import and remembered
/// import mapping),
/// created as the owner.
pub(crate) struct TwoTenants {
    pub(crate) a: TenantContext,
    pub(crate) b: TenantContext,
}

pub(crate) async fn two_tenants(owner: &PgPool) -> TwoTenants {
    let mut contexts = Vec::new();
    for slug in ["tenant-a", "tenant-b"] {
        let tenant_id = TenantId::new();
        let user_id = UserId::new();
        sqlx::query(
            "insert into users (id, email, display_name) values ($1, $2 || '@example.com', $2);
             ",
        )
        .bind(user_id.as_uuid())
        .bind(slug)
        .execute(owner)
        .await
        .unwrap();
        sqlx::query("insert into tenants (id, slug, name) values ($1, $2, $2)")
            .bind(tenant_id.as_uuid())
            .bind(slug)
            .execute(owner)
            .await
            .unwrap();
        sqlx::raw_sql(&format!(
            "insert into tenant_members (tenant_id, user_id, role)
                 values ('{tenant_id}', '{user_id}', 'admin');
             select aura.sync_member_of('{tenant_id}', '{user_id}');"
        ))
        .execute(owner)
        .await
        .unwrap();
        sqlx::query(
            "insert into audit_log (tenant_id, actor_user_id, action, entity_type, entity_id)
             values ($1, $2, 'test.created', 'tenant', $1)",
        )
        .bind(tenant_id.as_uuid())
        .bind(user_id.as_uuid())
        .execute(owner)
        .await
        .unwrap();
        sqlx::query(
            "insert into tenant_sessions (tenant_id, token_hash, user_id, csrf_token)
             values ($1, sha256(gen_random_uuid()::text::bytea), $2, repeat('c', 43))",
        )
        .bind(tenant_id.as_uuid())
        .bind(user_id.as_uuid())
        .execute(owner)
        .await
        .unwrap();
        sqlx::raw_sql(&format!(
            "with process as (
                 insert into sales_processes (tenant_id, name, is_default)
                 values ('{tenant_id}', 'Sales', true) returning id)
             insert into deal_stages (tenant_id, process_id, name, position, outcome, win_probability)
             select '{tenant_id}', id, stage.name, stage.position, stage.outcome::aura.stage_outcome,
                    stage.probability
             from process, (values ('Prospect', 0, 'open', 10), ('Won', 1, 'won', 100),
                                   ('Lost', 2, 'lost', 0)) as stage (name, position, outcome, probability);
             insert into products (tenant_id, sku, name, unit_price)
             values ('{tenant_id}', 'SKU-1', 'Widget', 10.00);
             insert into board_choices (tenant_id, user_id, process_id)
             select '{tenant_id}', '{user_id}', id from sales_processes
             where tenant_id = '{tenant_id}';
             insert into invitations (tenant_id, email, role, token_hash, invited_by, expires_at)
             values ('{tenant_id}', 'new@example.com', 'sales_rep',
                     sha256(gen_random_uuid()::text::bytea), '{user_id}', now() + interval '7 days');
             insert into api_refresh_tokens (tenant_id, user_id, token_hash, expires_at)
             values ('{tenant_id}', '{user_id}', sha256(gen_random_uuid()::text::bytea),
                     now() + interval '30 days');
             insert into step_up_codes (tenant_id, user_id, purpose, code_hash, expires_at)
             values ('{tenant_id}', '{user_id}', 'member.remove:x', sha256('123456'),
                     now() + interval '10 minutes');
             insert into workspace_handoffs (tenant_id, code_hash, user_id, expires_at)
             values ('{tenant_id}', sha256(gen_random_uuid()::text::bytea), '{user_id}',
                     now() + interval '1 minute');
             insert into onboarding_dismissals (tenant_id, user_id)
             values ('{tenant_id}', '{user_id}');
             insert into custom_field_definitions (tenant_id, entity, key, label, kind)
             values ('{tenant_id}', 'contact', 'linkedin', 'LinkedIn', 'url');
             with key as (select gen_random_uuid() as id)
             insert into api_keys (tenant_id, id, user_id, name, role, secret_hash, hint,
                                   created_by)
             select '{tenant_id}', id, aura.new_api_key_identity('{tenant_id}', id, 'Integration'),
                    'Integration', 'manager', sha256(gen_random_uuid()::text::bytea), 'abcd',
                    '{user_id}'
             from key;
             insert into idempotency_keys (tenant_id, user_id, key, request_hash, status, body)
             values ('{tenant_id}', '{user_id}', 'retry-1', sha256('request'::bytea), 201,
                     'answer'::bytea);
             with org as (
                 insert into organizations (tenant_id, name) values ('{tenant_id}', 'Client Co')
                 returning id),
             contact as (
                 insert into contacts (tenant_id, first_name, email, organization_id, assigned_to)
                 select '{tenant_id}', 'Client', 'client@example.com', id, '{user_id}' from org
                 returning id, organization_id, assigned_to)
             insert into activities (tenant_id, kind, description, occurred_at, participant_id,
                                     contact_id, contact_owner, organization_id, created_by)
             select '{tenant_id}', 'call', 'Called', now(), '{user_id}', id, assigned_to, organization_id,
                    '{user_id}'
             from contact;
             insert into follow_ups (tenant_id, kind, subject, due_at, owner_id, contact_id,
                                     contact_owner, created_by)
             select '{tenant_id}', 'call', 'Call back', now() + interval '1 day', '{user_id}', id,
                    assigned_to, '{user_id}'
             from contacts where tenant_id = '{tenant_id}';
             with deal as (
                 insert into deals (tenant_id, name, process_id, stage_id, outcome, probability,
                                    assigned_to)
                 select '{tenant_id}', 'Big deal', s.process_id, s.id, s.outcome, s.win_probability,
                        '{user_id}'
                 from deal_stages s where s.tenant_id = '{tenant_id}' and s.outcome = 'open'
                 returning id, process_id, stage_id, assigned_to)
             -- The deal's first stage history row is the database's own (0033).
             insert into deal_contacts (tenant_id, deal_id, contact_id, role, deal_owner,
                                        contact_owner, created_by)
             select '{tenant_id}', deal.id, c.id, 'decision_maker', deal.assigned_to,
                    c.assigned_to, '{user_id}'
             from deal, contacts c where c.tenant_id = '{tenant_id}';
             insert into product_price_history (tenant_id, product_id, before, after, reason,
                                                changed_by)
             select '{tenant_id}', id, '{{\"list_price\": \"9.00\"}}',
                    '{{\"list_price\": \"10.00\"}}', 'Yearly increase', '{user_id}'
             from products where tenant_id = '{tenant_id}';
             insert into deal_line_items (tenant_id, deal_id, deal_owner, product_id, quantity,
                                          list_price, unit_cost, unit_price, extended_price,
                                          created_by, updated_by)
             select '{tenant_id}', d.id, d.assigned_to, p.id, 2, p.unit_price, p.unit_cost,
                    p.unit_price, 0, '{user_id}', '{user_id}'
             from deals d, products p where d.tenant_id = '{tenant_id}' and p.tenant_id = '{tenant_id}';
             with endpoint as (
                 insert into webhook_endpoints (tenant_id, url, event_types, secret, created_by)
                 values ('{tenant_id}', 'https://hooks.example.com/{slug}', array['deal.won'],
                         'whsec_' || repeat('A', 44), '{user_id}')
                 returning id),
             event as (
                 insert into webhook_events (tenant_id, event_type, payload)
                 values ('{tenant_id}', 'deal.won', '{{}}') returning id)
             insert into webhook_deliveries (tenant_id, endpoint_id, event_id)
             select '{tenant_id}', endpoint.id, event.id from endpoint, event;
             with export as (
                 insert into exports (tenant_id, format, requested_by)
                 values ('{tenant_id}', 'csv', '{user_id}') returning id)
             insert into export_chunks (tenant_id, export_id, seq, data)
             select '{tenant_id}', export.id, 0, 'PK' from export;
             insert into imports (tenant_id, entity, file_name, content, encoding, delimiter,
                                  headers, total_rows, created_by)
             values ('{tenant_id}', 'contact', 'contacts.csv', 'email\nada@example.com\n',
                     'UTF-8', ',', array['email'], 1, '{user_id}');
             insert into import_mappings (tenant_id, entity, headers_key, mapping, updated_by)
             values ('{tenant_id}', 'contact', 'email', '{{\"0\": \"email\"}}', '{user_id}');"
        ))
        .execute(owner)
        .await
        .unwrap();
        contexts.push(TenantContext {
            tenant_id,
            user_id,
            role: MemberRole::Admin,
            read_only: false,
        });
    }
    TwoTenants {
        a: contexts[0],
        b: contexts[1],
    }
}

/// Tables with a `tenant_id` column, and the columns `aura_app` may name in an insert.
/// Partitions are attacked on their own (`no_partition_is_reachable_but_through_its_table`):
/// the app reaches them only through their partitioned table, which stands here for them.
async fn tenant_tables(owner: &PgPool) -> Vec<(String, Vec<String>)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select c.oid::regclass::text from pg_class c
         join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id'
         join pg_namespace n on n.oid = c.relnamespace
         where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
           and not c.relispartition
         order by 1",
    )
    .fetch_all(owner)
    .await
    .unwrap();
    assert!(
        tables.len() >= 2,
        "expected tenant tables, found {tables:?}"
    );
    let mut out = Vec::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar(
            "select attname::text from pg_attribute
             where attrelid = $1::regclass and attnum > 0 and not attisdropped
               and attgenerated = '' and attidentity <> 'a'
               and has_column_privilege('aura_app', attrelid, attnum, 'INSERT')
             order by attnum",
        )
        .bind(&table)
        .fetch_all(owner)
        .await
        .unwrap();
        out.push((table, columns));
    }
    out
}

pub(crate) fn refused_by_privilege_or_policy(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.code().as_deref() == Some("42501"))
}

/// Citus refuses, before any policy is asked, a statement that would move a row to another
/// workspace or join two workspaces' rows: a refusal too, on a cluster only.
fn refused_by_citus_distribution(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|e| {
        e.code().as_deref() == Some("0A000")
            && (e
                .message()
                .contains("modifying the partition value of rows")
                || e.message().contains("cannot perform distributed planning"))
    })
}

#[tokio::test]
async fn tenant_a_cannot_see_change_delete_or_create_tenant_b_rows_in_any_table() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let b_id = t.b.tenant_id.as_uuid();

    for (table, columns) in tenant_tables(&db.owner).await {
        let b_rows: i64 = sqlx::query_scalar(&format!(
            "select count(*) from {table} where tenant_id = $1"
        ))
        .bind(b_id)
        .fetch_one(&db.owner)
        .await
        .unwrap();
        assert!(
            b_rows > 0,
            "{table}: the fixture must give tenant B rows to attack"
        );

        let mut tx = db.app.begin(t.a).await.unwrap();
        let seen: i64 = sqlx::query_scalar(&format!(
            "select count(*) from {table} where tenant_id = $1"
        ))
        .bind(b_id)
        .fetch_one(tx.conn())
        .await
        .unwrap();
        assert_eq!(seen, 0, "{table}: tenant A sees tenant B's rows");
        let others: i64 = sqlx::query_scalar(&format!(
            "select count(*) from {table} where tenant_id <> $1"
        ))
        .bind(t.a.tenant_id.as_uuid())
        .fetch_one(tx.conn())
        .await
        .unwrap();
        assert_eq!(others, 0, "{table}: tenant A sees rows of another tenant");
        drop(tx);

        for statement in [
            format!("update {table} set tenant_id = tenant_id where tenant_id = $1"),
            format!(
                "update {table} set tenant_id = '{}' where tenant_id = $1",
                t.a.tenant_id
            ),
            format!("delete from {table} where tenant_id = $1"),
        ] {
            let mut tx = db.app.begin(t.a).await.unwrap();
            match sqlx::query(&statement).bind(b_id).execute(tx.conn()).await {
                Ok(done) => assert_eq!(done.rows_affected(), 0, "{table}: `{statement}` reached B"),
                Err(err) => assert!(
                    refused_by_privilege_or_policy(&err) || refused_by_citus_distribution(&err),
                    "{table}: {err}"
                ),
            }
        }

        // Insert a copy of one of B's rows (fresh id) while in A's context: refused by policy.
        let row: serde_json::Value = sqlx::query_scalar(&format!(
            "select to_jsonb(t) from {table} t where tenant_id = $1 limit 1"
        ))
        .bind(b_id)
        .fetch_one(&db.owner)
        .await
        .unwrap();
        let mut row = row;
        if row.get("id").is_some_and(|id| id.is_string()) {
            row["id"] = serde_json::Value::String(Uuid::new_v4().to_string());
        }
        // A table only the database writes (stage and line history) refuses every insert by
        // privilege; the others take the columns the app may write and refuse by policy.
        let only_the_database_writes = columns.is_empty();
        let list = if only_the_database_writes {
            "tenant_id".to_owned()
        } else {
            columns.join(", ")
        };
        // `values`, as the app inserts: Citus sends an `insert ... select` through COPY, which
        // it refuses under row-level security before any policy is asked.
        let values = list
            .split(", ")
            .map(|column| format!("(jsonb_populate_record(null::{table}, $1)).{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut tx = db.app.begin(t.a).await.unwrap();
        let err = sqlx::query(&format!("insert into {table} ({list}) values ({values})"))
            .bind(&row)
            .execute(tx.conn())
            .await
            .expect_err(&format!("{table}: tenant A inserted a row for tenant B"));
        assert!(refused_by_privilege_or_policy(&err), "{table}: {err}");
        let reason = if only_the_database_writes {
            "permission denied"
        } else {
            "row-level security"
        };
        assert!(err.to_string().contains(reason), "{table}: {err}");
    }
}

/// The other side of the matrix: in its own context a tenant does see its rows, in every table
/// it may read. Without it the matrix would pass on a database where the context never reached
/// the rows at all (on Citus: a worker that did not get `SET LOCAL`, issue 17).
#[tokio::test]
async fn tenant_a_sees_its_own_rows_in_every_table_it_may_read() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let a_id = t.a.tenant_id.as_uuid();
    let mut readable = 0;
    for (table, _) in tenant_tables(&db.owner).await {
        let may_read: bool =
            sqlx::query_scalar("select has_table_privilege('aura_app', $1, 'select')")
                .bind(&table)
                .fetch_one(&db.owner)
                .await
                .unwrap();
        if !may_read {
            continue;
        }
        readable += 1;
        let mut tx = db.app.begin(t.a).await.unwrap();
        let seen: i64 = sqlx::query_scalar(&format!(
            "select count(*) from {table} where tenant_id = $1"
        ))
        .bind(a_id)
        .fetch_one(tx.conn())
        .await
        .unwrap();
        assert!(seen > 0, "{table}: tenant A does not see its own rows");
    }
    assert!(readable > 20, "only {readable} tenant tables are readable");
}

#[tokio::test]
async fn without_tenant_context_every_table_is_empty() {
    let db = TestDatabase::new().await;
    two_tenants(&db.owner).await;
    let mut tables: Vec<String> = tenant_tables(&db.owner)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    tables.extend(
        [
            "tenants",
            "users",
            "signups",
            "platform_sessions",
            "platform_audit_log",
        ]
        .map(String::from),
    );
    let mut conn = db.raw_app_connection().await;
    for table in &tables {
        // Never set, then set to empty: both mean "no tenant", never an error, never all rows.
        for setup in [
            "",
            "set local app.current_tenant_id = ''; set local app.current_user_id = '';",
        ] {
            let mut tx = conn.begin().await.unwrap();
            sqlx::raw_sql(setup).execute(&mut *tx).await.unwrap();
            let count: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            assert_eq!(
                count, 0,
                "{table} shows rows without a tenant context ({setup:?})"
            );
        }
    }
}

#[tokio::test]
async fn tenant_context_ends_with_its_transaction() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let mut conn = db.raw_app_connection().await;
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(&format!(
        "set local app.current_tenant_id = '{}'",
        t.a.tenant_id
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    let inside: i64 = sqlx::query_scalar("select count(*) from tenants")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let after: i64 = sqlx::query_scalar("select count(*) from tenants")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        (inside, after),
        (1, 0),
        "the setting outlived its transaction"
    );
}

#[tokio::test]
async fn a_tenant_transaction_sees_its_own_tenant_members_and_users_only() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let mut tx: TenantTx = db.app.begin(t.a).await.unwrap();
    let tenants: Vec<Uuid> = sqlx::query_scalar("select id from tenants")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    assert_eq!(tenants, [t.a.tenant_id.as_uuid()]);
    let users: Vec<Uuid> = sqlx::query_scalar("select id from users")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    // The member, and the identity of their workspace's API key (a user with no membership).
    let key_identity: Uuid =
        sqlx::query_scalar("select user_id from api_keys where tenant_id = $1")
            .bind(t.a.tenant_id.as_uuid())
            .fetch_one(&db.owner)
            .await
            .unwrap();
    let mut expected = vec![t.a.user_id.as_uuid(), key_identity];
    let mut users = users;
    expected.sort();
    users.sort();
    assert_eq!(users, expected);
    // Another tenant's user cannot be edited, even by id.
    let changed = sqlx::query("update users set display_name = 'pwned' where id = $1")
        .bind(t.b.user_id.as_uuid())
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    let (user, role): (Uuid, String) =
        sqlx::query_as("select aura.current_user_id(), aura.current_member_role()::text")
            .fetch_one(tx.conn())
            .await
            .unwrap();
    assert_eq!((user, role.as_str()), (t.a.user_id.as_uuid(), "admin"));
}

#[tokio::test]
async fn the_audit_log_is_append_only_for_the_app() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let mut tx = db.app.begin(t.a).await.unwrap();
    sqlx::query(
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type)
         values ($1, $2, 'test.appended', 'tenant')",
    )
    .bind(t.a.tenant_id.as_uuid())
    .bind(t.a.user_id.as_uuid())
    .execute(tx.conn())
    .await
    .expect("the app may append to its tenant's audit log");
    tx.commit().await.unwrap();

    for statement in [
        "update audit_log set action = 'rewritten'",
        "delete from audit_log",
        "truncate audit_log",
    ] {
        let mut tx = db.app.begin(t.a).await.unwrap();
        let err = sqlx::raw_sql(statement)
            .execute(tx.conn())
            .await
            .expect_err(&format!("`{statement}` must be refused"));
        assert!(refused_by_privilege_or_policy(&err), "`{statement}`: {err}");
    }

    // Nor may an entry name someone else as its actor.
    let mut tx = db.app.begin(t.a).await.unwrap();
    let err = sqlx::query(
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type)
         values ($1, $2, 'test.forged', 'tenant')",
    )
    .bind(t.a.tenant_id.as_uuid())
    .bind(t.b.user_id.as_uuid())
    .execute(tx.conn())
    .await
    .expect_err("a forged actor must be refused");
    assert!(refused_by_privilege_or_policy(&err));

    let entries: i64 = sqlx::query_scalar("select count(*) from audit_log where tenant_id = $1")
        .bind(t.a.tenant_id.as_uuid())
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(
        entries, 2,
        "the original entry and the appended one, untouched"
    );
}

/// A partition queried by name does not apply its parent's policies (ARCHITECTURE.md, "Known
/// traps"), so `aura_app` may not touch one at all: every partition of every partitioned tenant
/// table (the audit log's months and its default), in tenant B's context and in tenant A's, with
/// and without a tenant filter. Through the partitioned table B's entries stay B's.
#[tokio::test]
async fn no_partition_is_reachable_but_through_its_table() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let partitions: Vec<(String, String)> = sqlx::query_as(
        "select c.oid::regclass::text, i.inhparent::regclass::text
         from pg_inherits i join pg_class c on c.oid = i.inhrelid
         join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id'
         where c.relispartition and c.relkind in ('r', 'p') order by 1",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert!(
        partitions.iter().any(|(p, _)| p == "audit_log_default") && partitions.len() > 4,
        "expected the audit log's partitions: {partitions:?}"
    );
    // The fixture's entries sit in this month's partition, the one worth attacking most: asked
    // of each partition (on Citus a row's `tableoid` names a worker's shard, not a partition).
    let mut holding = Vec::new();
    for (partition, _) in &partitions {
        let rows: i64 = sqlx::query_scalar(&format!(
            "select count(*) from {partition} where tenant_id = $1"
        ))
        .bind(t.b.tenant_id.as_uuid())
        .fetch_one(&db.owner)
        .await
        .unwrap();
        if rows > 0 {
            holding.push(partition.clone());
        }
    }
    assert_eq!(
        holding.len(),
        1,
        "B's entries in one partition: {holding:?}"
    );

    for (partition, parent) in &partitions {
        for context in [t.a, t.b] {
            for statement in [
                format!("select count(*) from {partition}"),
                format!(
                    "select count(*) from {partition} where tenant_id = '{}'",
                    t.b.tenant_id
                ),
                format!(
                    "insert into {partition} (tenant_id, actor_user_id, action, entity_type)
                     values ('{}', '{}', 'test.smuggled', 'tenant')",
                    context.tenant_id,
                    context.user_id.as_uuid()
                ),
                format!("update {partition} set action = 'rewritten'"),
                format!("delete from {partition}"),
                format!("truncate {partition}"),
            ] {
                let mut tx = db.app.begin(context).await.unwrap();
                let err = sqlx::raw_sql(&statement)
                    .execute(tx.conn())
                    .await
                    .expect_err(&format!(
                        "aura_app ran `{statement}` on a partition of {parent}"
                    ));
                assert!(refused_by_privilege_or_policy(&err), "`{statement}`: {err}");
            }
        }
    }
    let mut tx = db.app.begin(t.a).await.unwrap();
    let seen: i64 = sqlx::query_scalar("select count(*) from audit_log where tenant_id = $1")
        .bind(t.b.tenant_id.as_uuid())
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(seen, 0, "tenant A reads tenant B's audit entries");
}

#[tokio::test]
async fn the_app_role_cannot_switch_isolation_off() {
    let db = TestDatabase::new().await;
    let owner_role: String = sqlx::query_scalar("select current_user::text")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    let attacks = [
        "alter table tenant_members disable row level security".to_owned(),
        "alter table tenant_members no force row level security".to_owned(),
        "drop policy tenant_members_select on tenant_members".to_owned(),
        "create policy open_door on tenant_members using (true)".to_owned(),
        "alter policy tenant_members_select on tenant_members using (true)".to_owned(),
        "alter role aura_app bypassrls".to_owned(),
        format!("set role \"{owner_role}\""),
        format!("set session authorization \"{owner_role}\""),
        "create or replace function aura.current_tenant_id() returns uuid language sql as $$ select null::uuid $$"
            .to_owned(),
        "create table public.smuggled (tenant_id uuid)".to_owned(),
    ];
    let mut conn: PgConnection = db.raw_app_connection().await;
    for attack in attacks {
        let err = sqlx::raw_sql(&attack)
            .execute(&mut conn)
            .await
            .expect_err(&format!("aura_app could run `{attack}`"));
        let code = err
            .as_database_error()
            .and_then(|e| e.code())
            .unwrap_or_default();
        assert!(
            matches!(code.as_ref(), "42501" | "0LP01"),
            "`{attack}` failed for the wrong reason: {err}"
        );
    }
    // A GRANT by a non-owner only warns; what matters is that it grants nothing.
    sqlx::raw_sql("grant update, delete on audit_log to aura_app")
        .execute(&mut conn)
        .await
        .ok();
    let can_rewrite: bool = sqlx::query_scalar(
        "select has_table_privilege('aura_app', 'audit_log', 'UPDATE')
             or has_table_privilege('aura_app', 'audit_log', 'DELETE')",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert!(
        !can_rewrite,
        "aura_app granted itself the right to rewrite the audit log"
    );
}

#[tokio::test]
async fn a_write_refused_by_policy_maps_to_forbidden() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let mut tx = db.app.begin(t.a).await.unwrap();
    let err = sqlx::query(
        "insert into tenant_members (tenant_id, user_id, role) values ($1, $2, 'admin')",
    )
    .bind(t.b.tenant_id.as_uuid())
    .bind(t.a.user_id.as_uuid())
    .execute(tx.conn())
    .await
    .unwrap_err();
    assert!(matches!(DbError::from(err), DbError::Forbidden(_)));
}

#[tokio::test]
async fn the_slug_lookup_reveals_one_exact_tenant_and_nothing_else() {
    let db = TestDatabase::new().await;
    two_tenants(&db.owner).await;
    let mut conn = db.raw_app_connection().await;
    let found: Vec<(Uuid, String)> =
        sqlx::query_as("select id, name from aura.tenant_by_slug('tenant-a')")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1, "tenant-a");
    for probe in ["tenant-%", "tenant-a' or '1'='1", "TENANT-A", "", "tenant"] {
        let rows: i64 = sqlx::query_scalar("select count(*) from aura.tenant_by_slug($1)")
            .bind(probe)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(rows, 0, "{probe:?} matched");
    }
    // The function opens no other door: the table itself stays invisible without context.
    let visible: i64 = sqlx::query_scalar("select count(*) from tenants")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(visible, 0);
}

/// A user's own platform rows (signup, apex sessions), as the user in context.
async fn user_scoped(db: &TestDatabase, user: UserId) -> (i64, i64, i64) {
    let mut conn = db.raw_app_connection().await;
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(&format!("set local app.current_user_id = '{user}'"))
        .execute(&mut *tx)
        .await
        .unwrap();
    let count = |table: &str| format!("select count(*) from {table}");
    let signups: i64 = sqlx::query_scalar(&count("signups"))
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let sessions: i64 = sqlx::query_scalar(&count("platform_sessions"))
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let users: i64 = sqlx::query_scalar(&count("users"))
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    (signups, sessions, users)
}

#[tokio::test]
async fn a_prospect_sees_only_their_own_signup_and_sessions_and_operators_see_all_signups() {
    let db = TestDatabase::new().await;
    let mut prospects = Vec::new();
    for name in ["pat", "quinn"] {
        let id = UserId::new();
        sqlx::query(
            "insert into users (id, email, display_name) values ($1, $2 || '@newco.example', $2);
             ",
        )
        .bind(id.as_uuid())
        .bind(name)
        .execute(&db.owner)
        .await
        .unwrap();
        sqlx::query("insert into signups (user_id, company_name) values ($1, $2)")
            .bind(id.as_uuid())
            .bind(name)
            .execute(&db.owner)
            .await
            .unwrap();
        sqlx::query(
            "insert into platform_sessions (user_id, token_hash, csrf_token)
             values ($1, sha256(gen_random_uuid()::text::bytea), repeat('c', 43))",
        )
        .bind(id.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
        prospects.push(id);
    }
    let operator = UserId::new();
    sqlx::query(
        "insert into users (id, email, display_name, is_platform_admin)
         values ($1, 'ops@aura.example', 'Ops', true)",
    )
    .bind(operator.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap();

    assert_eq!(
        user_scoped(&db, prospects[0]).await,
        (1, 1, 1),
        "a prospect sees their own rows only"
    );
    assert_eq!(
        user_scoped(&db, operator).await,
        (2, 0, 3),
        "an operator sees every signup and user, no one's sessions"
    );

    // A prospect cannot advance their own request (only operators update signups), nor touch
    // another's session.
    let mut conn = db.raw_app_connection().await;
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(&format!(
        "set local app.current_user_id = '{}'",
        prospects[0]
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    let advanced = sqlx::query("update signups set status = 'pending'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(advanced.rows_affected(), 0);
    let ended = sqlx::query("delete from platform_sessions where user_id = $1")
        .bind(prospects[1].as_uuid())
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(ended.rows_affected(), 0);
    let err = sqlx::query("insert into signups (user_id, company_name) values ($1, 'Forged')")
        .bind(prospects[1].as_uuid())
        .execute(&mut *tx)
        .await
        .expect_err("a signup for someone else must be refused");
    assert!(refused_by_privilege_or_policy(&err));
}

#[tokio::test]
async fn the_apex_login_lookup_answers_one_exact_email_only() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let mut conn = db.raw_app_connection().await;
    let found: Vec<Uuid> =
        sqlx::query_scalar("select id from aura.apex_login_candidate('Tenant-A@Example.com')")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        found,
        [t.a.user_id.as_uuid()],
        "exact email, case-insensitively"
    );
    for probe in [
        "%",
        "tenant-%@example.com",
        "tenant-a@example.com' or '1'='1",
        "",
    ] {
        let rows: i64 = sqlx::query_scalar("select count(*) from aura.apex_login_candidate($1)")
            .bind(probe)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(rows, 0, "{probe:?} matched");
    }
}

#[tokio::test]
async fn only_an_operator_in_context_is_a_platform_admin() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    sqlx::query("update users set is_platform_admin = true where id = $1")
        .bind(t.b.user_id.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    let mut conn = db.raw_app_connection().await;
    for (context, expected) in [
        (None, false),
        (Some(t.a.user_id), false),
        (Some(t.b.user_id), true),
    ] {
        let mut tx = conn.begin().await.unwrap();
        if let Some(user) = context {
            sqlx::raw_sql(&format!("set local app.current_user_id = '{user}'"))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let is_admin: bool = sqlx::query_scalar("select aura.current_user_is_platform_admin()")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(is_admin, expected, "{context:?}");
    }
}

#[tokio::test]
async fn only_admins_change_processes_stages_and_products() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    for role in [MemberRole::Manager, MemberRole::SalesRep] {
        let context = TenantContext { role, ..t.a };
        for statement in [
            "insert into products (tenant_id, sku, name, unit_price) values (aura.current_tenant_id(), 'X', 'X', 1)",
            "insert into sales_processes (tenant_id, name) values (aura.current_tenant_id(), 'Shadow')",
        ] {
            let mut tx = db.app.begin(context).await.unwrap();
            let err = sqlx::query(statement).execute(tx.conn()).await.expect_err(statement);
            assert!(refused_by_privilege_or_policy(&err), "{role:?}: {err}");
        }
        let mut tx = db.app.begin(context).await.unwrap();
        for statement in [
            "update products set unit_price = 0",
            "delete from deal_stages",
            "update sales_processes set name = 'Renamed'",
        ] {
            let done = sqlx::query(statement).execute(tx.conn()).await.unwrap();
            assert_eq!(
                done.rows_affected(),
                0,
                "{role:?}: `{statement}` changed rows"
            );
        }
        // Reading is everyone's.
        let visible: i64 = sqlx::query_scalar("select count(*) from products")
            .fetch_one(tx.conn())
            .await
            .unwrap();
        assert_eq!(visible, 1, "{role:?}");
    }
    let mut tx = db.app.begin(t.a).await.unwrap();
    let changed = sqlx::query("update products set unit_price = 12.50")
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(
        changed.rows_affected(),
        1,
        "an admin changes their own tenant's catalog"
    );
}

#[tokio::test]
async fn the_platform_audit_log_is_for_operators_and_append_only() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    sqlx::query("update users set is_platform_admin = true where id = $1")
        .bind(t.b.user_id.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    let mut conn = db.raw_app_connection().await;
    for (user, may_read) in [(t.a.user_id, false), (t.b.user_id, true)] {
        let mut tx = conn.begin().await.unwrap();
        sqlx::raw_sql(&format!("set local app.current_user_id = '{user}'"))
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("insert into platform_audit_log (actor_user_id, action, entity_type) values ($1, 'test', 'signup')")
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await
            .expect("anyone acting may append under their own name");
        let seen: i64 = sqlx::query_scalar("select count(*) from platform_audit_log")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(seen > 0, may_read, "{user}");
        tx.commit().await.unwrap();
        // Each attempt in a transaction of its own: a refusal aborts the transaction.
        for statement in [
            "update platform_audit_log set action = 'x'",
            "delete from platform_audit_log",
        ] {
            let mut tx = conn.begin().await.unwrap();
            sqlx::raw_sql(&format!("set local app.current_user_id = '{user}'"))
                .execute(&mut *tx)
                .await
                .unwrap();
            let err = sqlx::raw_sql(statement)
                .execute(&mut *tx)
                .await
                .expect_err(statement);
            assert!(refused_by_privilege_or_policy(&err), "{statement}: {err}");
        }
    }
}

#[tokio::test]
async fn the_outbox_shows_creators_their_own_messages_and_operators_all() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    sqlx::query("update users set is_platform_admin = true where id = $1")
        .bind(t.b.user_id.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    let insert =
        "insert into email_outbox (to_address, subject, body_text, body_redacted, created_by)
                  values ('x@example.com', 'Hello', 'Code 123456', 'Code [redacted]', $1)";
    let mut conn = db.raw_app_connection().await;
    for (user, sees_all) in [(t.a.user_id, false), (t.b.user_id, true)] {
        let mut tx = conn.begin().await.unwrap();
        sqlx::raw_sql(&format!("set local app.current_user_id = '{user}'"))
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(insert)
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await
            .unwrap();
        let seen: i64 = sqlx::query_scalar("select count(*) from email_outbox")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        // A member sees the one message they wrote; the operator sees everyone's (here: both).
        assert_eq!(seen, if sees_all { 2 } else { 1 }, "{user}");
        tx.commit().await.unwrap();
        let other = if user == t.a.user_id {
            t.b.user_id
        } else {
            t.a.user_id
        };
        let mut tx = conn.begin().await.unwrap();
        sqlx::raw_sql(&format!("set local app.current_user_id = '{user}'"))
            .execute(&mut *tx)
            .await
            .unwrap();
        let err = sqlx::query(insert)
            .bind(other.as_uuid())
            .execute(&mut *tx)
            .await
            .expect_err("a message under someone else's name");
        assert!(refused_by_privilege_or_policy(&err));
    }
}

/// A message's secret is for its recipient: nobody reads it through `aura_app`, not even an
/// operator or the message's creator, and it cannot outlive the message's delivery.
#[tokio::test]
async fn no_one_reads_a_messages_secret_and_delivery_drops_it() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    sqlx::query("update users set is_platform_admin = true where id = $1")
        .bind(t.b.user_id.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    let mut conn = db.raw_app_connection().await;
    let as_user = |user: UserId| format!("set local app.current_user_id = '{user}'");
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(&as_user(t.a.user_id))
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "insert into email_outbox (to_address, subject, body_text, body_redacted, created_by)
         values ('x@example.com', 'Hello', 'Code 123456', 'Code [redacted]', $1)",
    )
    .bind(t.a.user_id.as_uuid())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for user in [t.a.user_id, t.b.user_id] {
        for statement in [
            "select body_text from email_outbox",
            "select * from email_outbox",
            "update email_outbox set sent_at = sent_at returning body_text",
        ] {
            let mut tx = conn.begin().await.unwrap();
            sqlx::raw_sql(&as_user(user))
                .execute(&mut *tx)
                .await
                .unwrap();
            let err = sqlx::raw_sql(statement)
                .execute(&mut *tx)
                .await
                .expect_err(statement);
            assert!(refused_by_privilege_or_policy(&err), "{statement}: {err}");
        }
    }
    let redacted: String = {
        let mut tx = conn.begin().await.unwrap();
        sqlx::raw_sql(&as_user(t.b.user_id))
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query_scalar("select body_redacted from email_outbox")
            .fetch_one(&mut *tx)
            .await
            .unwrap()
    };
    assert_eq!(redacted, "Code [redacted]");

    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(&as_user(t.a.user_id))
        .execute(&mut *tx)
        .await
        .unwrap();
    let kept = sqlx::query("update email_outbox set sent_at = now()")
        .execute(&mut *tx)
        .await
        .expect_err("a sent message keeping its secret");
    // Through `DbError`, which reads a shard's copy of the constraint (Citus) as the schema's.
    assert!(matches!(
        DbError::from(kept),
        DbError::Constraint { constraint, .. } if constraint == "email_outbox_sent_holds_no_secret"
    ));
}

/// Sign-in failure counts are the account's own: with one user in context, another's counts
/// are invisible and cannot be written, raised or cleared.
#[tokio::test]
async fn login_failures_are_reached_only_as_their_own_user() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    for user in [t.a.user_id, t.b.user_id] {
        sqlx::query(
            "insert into login_failures (user_id, source, failures) values ($1, '192.0.2.1', 3)",
        )
        .bind(user.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    }
    let mut conn = db.raw_app_connection().await;
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(&format!(
        "set local app.current_user_id = '{}'",
        t.a.user_id
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    let seen: Vec<Uuid> = sqlx::query_scalar("select user_id from login_failures")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, [t.a.user_id.as_uuid()]);
    let b = t.b.user_id.as_uuid();
    for statement in [
        "update login_failures set failures = 100 where user_id = $1",
        "delete from login_failures where user_id = $1",
    ] {
        let done = sqlx::query(statement)
            .bind(b)
            .execute(&mut *tx)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 0, "{statement}");
    }
    let err = sqlx::query(
        "insert into login_failures (user_id, source, failures) values ($1, '192.0.2.2', 5)",
    )
    .bind(b)
    .execute(&mut *tx)
    .await
    .expect_err("a count under someone else's name");
    assert!(refused_by_privilege_or_policy(&err), "{err}");
}

/// An email verification is its account's own: with one user in context, another's is
/// invisible and cannot be written or marked done; one's own cannot be re-pointed, given a
/// new token, or marked again. Operators read them all (their queue shows who verified).
#[tokio::test]
async fn email_verifications_are_reached_only_as_their_own_user_and_by_operators() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    for user in [t.a.user_id, t.b.user_id] {
        sqlx::query(
            "insert into email_verifications (user_id, token_hash, expires_at)
             values ($1, sha256(gen_random_uuid()::text::bytea), now() + interval '1 day')",
        )
        .bind(user.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    }
    let (a, b) = (t.a.user_id.as_uuid(), t.b.user_id.as_uuid());
    let mut conn = db.raw_app_connection().await;
    let as_user = |user: Uuid| format!("set local app.current_user_id = '{user}'");

    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(&as_user(a)).execute(&mut *tx).await.unwrap();
    let seen: Vec<Uuid> = sqlx::query_scalar("select user_id from email_verifications")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, [a]);
    let done = sqlx::query("update email_verifications set verified_at = now() where user_id = $1")
        .bind(b)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        done.rows_affected(),
        0,
        "another's verification marked done"
    );
    drop(tx);
    for statement in [
        format!(
            "insert into email_verifications (user_id, token_hash, expires_at)
             values ('{b}', sha256('known'), now() + interval '1 day')"
        ),
        "update email_verifications set token_hash = sha256('known')".to_owned(),
        format!("update email_verifications set user_id = '{b}'"),
    ] {
        let mut tx = conn.begin().await.unwrap();
        sqlx::raw_sql(&as_user(a)).execute(&mut *tx).await.unwrap();
        let err = sqlx::raw_sql(&statement)
            .execute(&mut *tx)
            .await
            .expect_err(&statement);
        assert!(refused_by_privilege_or_policy(&err), "`{statement}`: {err}");
    }
    // Marked done once; a second marking finds nothing to mark.
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(&as_user(a)).execute(&mut *tx).await.unwrap();
    let mark = "update email_verifications set verified_at = now()";
    assert_eq!(
        sqlx::query(mark)
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected(),
        1
    );
    assert_eq!(
        sqlx::query(mark)
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected(),
        0
    );
    drop(tx);

    sqlx::query("update users set is_platform_admin = true where id = $1")
        .bind(b)
        .execute(&db.owner)
        .await
        .unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(&as_user(b)).execute(&mut *tx).await.unwrap();
    let all: i64 = sqlx::query_scalar("select count(*) from email_verifications")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(all, 2);
}

/// Operators see and may change every tenant's own row (to suspend it), and nothing more: with
/// no tenant in context, no tenant data at all.
#[tokio::test]
async fn operators_reach_tenant_rows_but_no_tenant_data() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let operator = UserId::new();
    sqlx::query(
        "insert into users (id, email, display_name, is_platform_admin) values ($1, 'ops@aura.example', 'Ops', true)",
    )
    .bind(operator.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap();
    let mut conn = db.raw_app_connection().await;
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(&format!("set local app.current_user_id = '{operator}'"))
        .execute(&mut *tx)
        .await
        .unwrap();
    let tenants: i64 = sqlx::query_scalar("select count(*) from tenants")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(tenants, 2);
    for table in tenant_tables(&db.owner).await.into_iter().map(|(t, _)| t) {
        let rows: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(
            rows, 0,
            "an operator without tenant context sees {table} rows"
        );
    }
    drop(tx);
    // A member (not an operator) still sees only their own tenant's row.
    let mut tx = db.app.begin(t.a).await.unwrap();
    let visible: i64 = sqlx::query_scalar("select count(*) from tenants")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(visible, 1);
}

/// The contract-signing integration reads and advances workspace requests, and nothing else.
#[tokio::test]
async fn the_contract_signing_integration_reaches_signups_only() {
    let db = TestDatabase::new().await;
    two_tenants(&db.owner).await;
    let prospect = UserId::new();
    sqlx::query(
        "insert into users (id, email, display_name) values ($1, 'pat@newco.example', 'Pat')",
    )
    .bind(prospect.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap();
    sqlx::query("insert into signups (user_id, company_name) values ($1, 'NewCo')")
        .bind(prospect.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    let mut conn = db.raw_app_connection().await;
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql("set local app.current_integration = 'contract_signing'")
        .execute(&mut *tx)
        .await
        .unwrap();
    let advanced = sqlx::query("update signups set status = 'pending' where status = 'prospect'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(advanced.rows_affected(), 1);
    let mut tables: Vec<String> = tenant_tables(&db.owner)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    tables.extend(
        [
            "tenants",
            "users",
            "platform_sessions",
            "platform_audit_log",
            "email_outbox",
        ]
        .map(String::from),
    );
    for table in tables {
        let rows: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(rows, 0, "the integration sees {table} rows");
    }
}

/// Within a tenant, a sales rep's reach is the contacts assigned to them and the activities on
/// those (F9.4), whatever the query asks: the policies decide, not the application.
#[tokio::test]
async fn a_rep_reaches_only_their_own_contacts_and_their_activities() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let tenant = t.a.tenant_id;
    let rep = UserId::new();
    sqlx::raw_sql(&format!(
        "insert into users (id, email, display_name) values ('{rep}', 'rep@example.com', 'Rep');
         insert into tenant_members (tenant_id, user_id, role) values ('{tenant}', '{rep}', 'sales_rep');
         select aura.sync_member_of('{tenant}', '{rep}');
         insert into contacts (tenant_id, first_name, assigned_to) values ('{tenant}', 'Mine', '{rep}');"
    ))
    .execute(&db.owner)
    .await
    .unwrap();
    let as_rep = TenantContext {
        tenant_id: tenant,
        user_id: rep,
        role: MemberRole::SalesRep,
        read_only: false,
    };
    let others_contact: Uuid = sqlx::query_scalar(
        "select id from contacts where tenant_id = $1 and first_name = 'Client'",
    )
    .bind(tenant.as_uuid())
    .fetch_one(&db.owner)
    .await
    .unwrap();

    let mut tx = db.app.begin(as_rep).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar("select first_name from contacts")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    assert_eq!(names, ["Mine"]);
    let activities: i64 = sqlx::query_scalar("select count(*) from activities")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(
        activities, 0,
        "the admin's contact's call is not the rep's to see"
    );
    let changed = sqlx::query("update contacts set first_name = 'Taken' where id = $1")
        .bind(others_contact)
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    drop(tx);

    // Neither creating a contact for someone else, nor handing one's own away, nor logging an
    // activity on a contact one cannot see.
    for statement in [
        format!(
            "insert into contacts (tenant_id, first_name, assigned_to) values ('{tenant}', 'Gift', '{}')",
            t.a.user_id
        ),
        format!(
            "update contacts set assigned_to = '{}' where first_name = 'Mine'",
            t.a.user_id
        ),
        format!(
            "insert into activities (tenant_id, kind, description, occurred_at, participant_id,
                                     contact_id, contact_owner, created_by)
             values ('{tenant}', 'note', 'x', now(), '{rep}', '{others_contact}', '{}', '{rep}')",
            t.a.user_id
        ),
    ] {
        let mut tx = db.app.begin(as_rep).await.unwrap();
        let err = sqlx::raw_sql(&statement)
            .execute(tx.conn())
            .await
            .expect_err(&format!("a rep could run `{statement}`"));
        assert!(refused_by_privilege_or_policy(&err), "`{statement}`: {err}");
    }
}

/// The one function that looks past row-level security for refused requests (F5.6) writes one
/// entry to the holder's trail for a record the caller may not reach, returns nothing of it,
/// and writes nothing for records the caller may see, unknown ids, or a caller without context.
/// The entry holds neither the caller's workspace nor their request's text.
#[tokio::test]
async fn a_refused_access_is_recorded_with_the_holder_and_reveals_nothing() {
    use aura_platform::audit::{self, Refusal};
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let contact_of = |tenant: TenantId| {
        let owner = db.owner.clone();
        async move {
            sqlx::query_scalar::<_, Uuid>("select id from contacts where tenant_id = $1")
                .bind(tenant.as_uuid())
                .fetch_one(&owner)
                .await
                .unwrap()
        }
    };
    let (a_contact, b_contact) = (
        contact_of(t.a.tenant_id).await,
        contact_of(t.b.tenant_id).await,
    );
    let entries = |tenant: TenantId| {
        let owner = db.owner.clone();
        async move {
            sqlx::query_as::<_, (Option<Uuid>, serde_json::Value)>(
                "select actor_user_id, after from audit_log
                 where tenant_id = $1 and action = 'access.refused'",
            )
            .bind(tenant.as_uuid())
            .fetch_all(&owner)
            .await
            .unwrap()
        }
    };

    let refused = audit::record_refused_access(&db.app, t.a, &[b_contact])
        .await
        .unwrap();
    assert_eq!(refused, [Refusal::OtherWorkspace]);
    assert_eq!(
        entries(t.b.tenant_id).await,
        [(
            Some(t.a.user_id.as_uuid()),
            serde_json::json!({ "reason": "other_workspace" })
        )]
    );
    assert!(entries(t.a.tenant_id).await.is_empty());

    // Not refused: one's own record, an id of nothing; all in one call.
    let refused = audit::record_refused_access(&db.app, t.a, &[a_contact, Uuid::new_v4()])
        .await
        .unwrap();
    assert!(refused.is_empty());
    assert_eq!(
        entries(t.a.tenant_id).await.len() + entries(t.b.tenant_id).await.len(),
        1
    );

    // The entry is B's to read, not A's, even though A's request wrote it.
    let mut tx = db.app.begin(t.a).await.unwrap();
    let visible: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'access.refused'")
            .fetch_one(tx.conn())
            .await
            .unwrap();
    assert_eq!(visible, 0);
    drop(tx);

    // Without a user in context (no one signed in), nothing is written.
    let mut conn = PgConnection::connect(&db.app_url).await.unwrap();
    let reasons: Vec<String> = sqlx::query_scalar("select aura.record_refused_access($1)")
        .bind(vec![b_contact])
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(reasons.is_empty());
    assert_eq!(entries(t.b.tenant_id).await.len(), 1);
}

/// One request's ids are looked up once each and at most `MAX_REFUSED_IDS` of them, by the
/// server and by the database function alike, so a bulk body of repeated or random ids cannot
/// hold a connection (each lookup is an index scan: BENCHMARKS.md has the worst case).
#[tokio::test]
async fn a_refused_request_s_ids_are_deduplicated_and_capped() {
    use aura_platform::audit::{self, MAX_REFUSED_IDS};
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let b_contact: Uuid = sqlx::query_scalar("select id from contacts where tenant_id = $1")
        .bind(t.b.tenant_id.as_uuid())
        .fetch_one(&db.owner)
        .await
        .unwrap();
    let count = || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from audit_log where action = 'access.refused'",
        )
        .fetch_one(&db.owner)
        .await
        .unwrap()
    };

    let repeated = vec![b_contact; 500];
    let refused = audit::record_refused_access(&db.app, t.a, &repeated)
        .await
        .unwrap();
    assert_eq!(refused.len(), 1, "one entry for one record named 500 times");
    assert_eq!(count().await, 1);

    // Past the cap, ids are not looked up: not by the server...
    let mut flood: Vec<Uuid> = (0..MAX_REFUSED_IDS).map(|_| Uuid::new_v4()).collect();
    flood.push(b_contact);
    let refused = audit::record_refused_access(&db.app, t.a, &flood)
        .await
        .unwrap();
    assert!(refused.is_empty());
    // ...nor by the function, called directly.
    let mut tx = db.app.begin(t.a).await.unwrap();
    let reasons: Vec<String> = sqlx::query_scalar("select aura.record_refused_access($1)")
        .bind(&flood)
        .fetch_all(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(reasons.is_empty());
    assert_eq!(count().await, 1);

    // Each lookup is an index scan, not a scan of the table.
    let mut conn = PgConnection::connect(&db.owner_url).await.unwrap();
    sqlx::raw_sql("set enable_seqscan = off; set enable_bitmapscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    for table in [
        "contacts",
        "activities",
        "organizations",
        "custom_field_definitions",
        "tenant_members",
        "invitations",
        "sales_processes",
        "deal_stages",
        "products",
        "product_price_history",
        "deal_line_items",
    ] {
        let plan: Vec<String> = sqlx::query_scalar(&format!(
            "explain select tenant_id from {table} where id = '{b_contact}'"
        ))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains(&format!("{table}_id_idx")),
            "{table} is not looked up by an index on id:\n{plan}"
        );
    }
}

/// The recorder of foreign API tokens writes one entry to the called workspace's trail, naming
/// the member in context; nothing for a token of the same workspace, a user who is not an
/// active member of the token's workspace, an unknown workspace, or a caller without context:
/// nobody can write an entry naming someone else, or into a trail from nowhere.
#[tokio::test]
async fn a_foreign_token_is_recorded_with_the_workspace_it_was_shown_to() {
    use aura_platform::audit;
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    audit::record_foreign_token(&db.app, t.b.tenant_id, t.a.user_id, t.a.tenant_id)
        .await
        .unwrap();
    for (host, user, token_tenant) in [
        (t.b.tenant_id, t.b.user_id, t.b.tenant_id),
        (t.b.tenant_id, UserId::new(), t.a.tenant_id),
        // B's admin is no member of A: a context claiming otherwise writes nothing.
        (t.a.tenant_id, t.b.user_id, t.a.tenant_id),
        (t.b.tenant_id, t.b.user_id, t.a.tenant_id),
        (TenantId::new(), t.a.user_id, t.a.tenant_id),
    ] {
        audit::record_foreign_token(&db.app, host, user, token_tenant)
            .await
            .unwrap();
    }
    // Forging from psql: no context, or a deactivated member's.
    let mut conn = PgConnection::connect(&db.app_url).await.unwrap();
    sqlx::query("select aura.record_foreign_token($1)")
        .bind(t.b.tenant_id.as_uuid())
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("update tenant_members set deactivated_at = now() where user_id = $1")
        .bind(t.a.user_id.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    audit::record_foreign_token(&db.app, t.b.tenant_id, t.a.user_id, t.a.tenant_id)
        .await
        .unwrap();

    let entries: Vec<(Uuid, Option<Uuid>, serde_json::Value)> = sqlx::query_as(
        "select tenant_id, actor_user_id, after from audit_log
         where action = 'access.refused'",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        entries,
        [(
            t.b.tenant_id.as_uuid(),
            Some(t.a.user_id.as_uuid()),
            serde_json::json!({ "reason": "other_workspace_token" })
        )]
    );
}

/// The webhook worker's claim is its one reach across workspaces: it hands each due delivery of
/// an enabled endpoint to one caller, with its own workspace's endpoint and event (the composite
/// keys allow nothing else). The functions that write events are the triggers' alone.
#[tokio::test]
async fn the_webhook_claim_hands_each_delivery_out_once_within_its_workspace() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let mut conn = db.raw_app_connection().await;
    let claimed: Vec<(Uuid, String, String)> = sqlx::query_as(
        "select tenant_id, url, event_type from aura.claim_webhook_deliveries(10, 60)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    // Each with its own workspace's endpoint and event, as the owner sees them.
    for (tenant, url, event_type) in &claimed {
        let own: bool = sqlx::query_scalar(
            "select exists (select 1 from webhook_endpoints e join webhook_deliveries d
                              on d.tenant_id = e.tenant_id and d.endpoint_id = e.id
                            join webhook_events v on v.tenant_id = d.tenant_id and v.id = d.event_id
                            where e.tenant_id = $1 and e.url = $2 and v.event_type = $3)",
        )
        .bind(tenant)
        .bind(url)
        .bind(event_type)
        .fetch_one(&db.owner)
        .await
        .unwrap();
        assert!(own);
    }
    let mut tenants: Vec<Uuid> = claimed.iter().map(|(tenant, _, _)| *tenant).collect();
    tenants.sort();
    let mut expected = vec![t.a.tenant_id.as_uuid(), t.b.tenant_id.as_uuid()];
    expected.sort();
    assert_eq!(tenants, expected);
    let again: i64 =
        sqlx::query_scalar("select count(*) from aura.claim_webhook_deliveries(10, 60)")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(again, 0, "a claimed delivery is not handed out twice");
    // A delivery cannot pair one workspace's event with another's endpoint.
    let err = sqlx::query(
        "insert into webhook_deliveries (tenant_id, endpoint_id, event_id)
         select a.tenant_id, a.id, b.id from webhook_endpoints a, webhook_events b
         where a.tenant_id = $1 and b.tenant_id = $2",
    )
    .bind(t.a.tenant_id.as_uuid())
    .bind(t.b.tenant_id.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("webhook_deliveries_event_fkey")
            || refused_by_citus_distribution(&err),
        "{err}"
    );
    let err = sqlx::query("select aura.enqueue_webhook_event(gen_random_uuid(), 'deal.won', '{}')")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(refused_by_privilege_or_policy(&err), "{err}");
}

/// The export worker's claim and expiry are its reach across workspaces (0046): the claim hands
/// each waiting export to one caller with its own workspace and requesting admin, and takes
/// back one whose lease ran out; the expiry deletes only expired files.
#[tokio::test]
async fn the_export_claim_hands_each_export_out_once_within_its_workspace() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let mut conn = db.raw_app_connection().await;
    let mut claimed: Vec<(Uuid, Uuid)> = Vec::new();
    for _ in 0..3 {
        if let Some(row) = sqlx::query_as::<_, (Uuid, Uuid)>(
            "select tenant_id, requested_by from aura.claim_export(60)",
        )
        .fetch_optional(&mut conn)
        .await
        .unwrap()
        {
            claimed.push(row);
        }
    }
    claimed.sort();
    let mut expected = vec![
        (t.a.tenant_id.as_uuid(), t.a.user_id.as_uuid()),
        (t.b.tenant_id.as_uuid(), t.b.user_id.as_uuid()),
    ];
    expected.sort();
    assert_eq!(
        claimed, expected,
        "each once, with its own workspace's admin"
    );
    // A's run died: once its lease is past, A's export (and only it) is claimed again.
    sqlx::query(
        "update exports set lease_until = now() - interval '1 second' where tenant_id = $1",
    )
    .bind(t.a.tenant_id.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap();
    let again: Vec<(Uuid, i32)> =
        sqlx::query_as("select tenant_id, attempts from aura.claim_export(60)")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(again, vec![(t.a.tenant_id.as_uuid(), 2)]);
    // Expiry deletes the files of finished exports past their time, and nothing else.
    sqlx::query(
        "update exports set status = 'done', expires_at = now() - interval '1 second'
         where tenant_id = $1",
    )
    .bind(t.b.tenant_id.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap();
    let expired: i64 = sqlx::query_scalar("select aura.expire_exports()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(expired, 1);
    let chunks: Vec<Uuid> = sqlx::query_scalar("select tenant_id from export_chunks")
        .fetch_all(&db.owner)
        .await
        .unwrap();
    assert_eq!(chunks, vec![t.a.tenant_id.as_uuid()]);
    // A chunk cannot belong to another workspace's export.
    let err = sqlx::query(
        "insert into export_chunks (tenant_id, export_id, seq, data)
         select $1, id, 5, 'x' from exports where tenant_id = $2",
    )
    .bind(t.a.tenant_id.as_uuid())
    .bind(t.b.tenant_id.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("export_chunks_export_fkey"),
        "{err}"
    );
}

/// The apex's two narrow doors into workspaces (migration 0042): the list of one's own
/// workspaces and the hand-off code. Each answers only for the user in context, only for an
/// active membership of an active workspace; and a code lives in the one tenant it was issued
/// for, where only that tenant's context can spend it.
#[tokio::test]
async fn the_workspace_hand_off_answers_only_for_the_user_in_context_and_its_own_tenant() {
    use aura_platform::auth::handoff;
    use aura_platform::ids::TenantSlug;

    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let slug = |s: &str| s.parse::<TenantSlug>().unwrap();
    let listed = |user: UserId| {
        let app = db.app.clone();
        async move {
            handoff::own_workspaces(&app, user)
                .await
                .unwrap()
                .into_iter()
                .map(|w| w.slug)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(t.a.user_id).await, ["tenant-a"]);
    assert_eq!(listed(UserId::new()).await, Vec::<String>::new());
    // No user in context: nothing, from either function.
    let mut conn = db.raw_app_connection().await;
    let rows: i64 = sqlx::query_scalar("select count(*) from aura.own_workspaces()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    let issued: bool =
        sqlx::query_scalar("select aura.issue_workspace_handoff('tenant-a', sha256('x'::bytea))")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!issued, "a code was issued for no one");

    // A's admin gets no code into B, and B's table is no larger for the attempt.
    let before: i64 = sqlx::query_scalar("select count(*) from workspace_handoffs")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert!(handoff::issue(&db.app, t.a.user_id, &slug("tenant-b"))
        .await
        .unwrap()
        .is_none());
    let after: i64 = sqlx::query_scalar("select count(*) from workspace_handoffs")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(before, after);

    // A code into A: spent on B's side it opens nothing (and stays unspent for A); on A's side
    // it opens a session once.
    let code = handoff::issue(&db.app, t.a.user_id, &slug("tenant-a"))
        .await
        .unwrap()
        .expect("a code for A's own member");
    assert!(handoff::peek(&db.app, t.b.tenant_id, &code)
        .await
        .unwrap()
        .is_none());
    assert!(handoff::redeem(&db.app, t.b.tenant_id, &code)
        .await
        .unwrap()
        .is_none());
    let (_, signed_in) = handoff::redeem(&db.app, t.a.tenant_id, &code)
        .await
        .unwrap()
        .expect("A's code opens a session in A");
    assert_eq!(signed_in.context.user_id, t.a.user_id);
    assert_eq!(signed_in.context.tenant_id, t.a.tenant_id);
    assert!(
        handoff::redeem(&db.app, t.a.tenant_id, &code)
            .await
            .unwrap()
            .is_none(),
        "a code worked twice"
    );

    // An expired code, and a deactivated member's, open nothing.
    let code = handoff::issue(&db.app, t.a.user_id, &slug("tenant-a"))
        .await
        .unwrap()
        .unwrap();
    sqlx::query("update workspace_handoffs set expires_at = now() - interval '1 second'")
        .execute(&db.owner)
        .await
        .unwrap();
    assert!(handoff::redeem(&db.app, t.a.tenant_id, &code)
        .await
        .unwrap()
        .is_none());
    let code = handoff::issue(&db.app, t.a.user_id, &slug("tenant-a"))
        .await
        .unwrap()
        .unwrap();
    sqlx::query("update tenant_members set deactivated_at = now() where user_id = $1")
        .bind(t.a.user_id.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    assert!(handoff::redeem(&db.app, t.a.tenant_id, &code)
        .await
        .unwrap()
        .is_none());
    assert!(handoff::issue(&db.app, t.a.user_id, &slug("tenant-a"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(listed(t.a.user_id).await, Vec::<String>::new());
}

/// The operators' per-workspace counts (0053) answer numbers to an operator in context and
/// nothing to anyone else: not to a member, even about their own workspace, and not without
/// context. They count what each workspace holds, and the function returns no other column.
#[tokio::test]
async fn workspace_counts_are_numbers_for_operators_and_nothing_for_members() {
    use aura_platform::console;

    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let operator = UserId::new();
    sqlx::query(
        "insert into users (id, email, display_name, is_platform_admin)
         values ($1, 'ops@aura.example', 'Ops', true)",
    )
    .bind(operator.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap();
    let ids = vec![t.a.tenant_id.as_uuid(), t.b.tenant_id.as_uuid()];
    let counts = "select tenant_id, members, organizations, contacts, deals,
                         last_activity is not null
                  from aura.workspace_counts($1) order by tenant_id";
    type Counts = (Uuid, i64, i64, i64, i64, bool);

    // An admin of A, in A's context.
    let mut tx = db.app.begin(t.a).await.unwrap();
    let seen: Vec<Counts> = sqlx::query_as(counts)
        .bind(&ids)
        .fetch_all(tx.conn())
        .await
        .unwrap();
    assert!(seen.is_empty(), "a member's context got counts: {seen:?}");
    drop(tx);

    let mut conn = db.raw_app_connection().await;
    for user in [None, Some(t.b.user_id), Some(operator)] {
        let mut tx = conn.begin().await.unwrap();
        if let Some(user) = user {
            sqlx::raw_sql(&format!("set local app.current_user_id = '{user}'"))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let seen: Vec<Counts> = sqlx::query_as(counts)
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        if user == Some(operator) {
            let mut expected: Vec<Counts> = ids.iter().map(|id| (*id, 1, 1, 1, 1, true)).collect();
            expected.sort();
            assert_eq!(seen, expected);
            // More than a page at once: nothing.
            let many: Vec<Uuid> = (0..101).map(|_| Uuid::new_v4()).collect();
            let seen: Vec<Counts> = sqlx::query_as(counts)
                .bind(&many)
                .fetch_all(&mut *tx)
                .await
                .unwrap();
            assert!(seen.is_empty());
        } else {
            assert!(seen.is_empty(), "{user:?} got counts: {seen:?}");
        }
    }
    let result: String = sqlx::query_scalar(
        "select pg_get_function_result('aura.workspace_counts(uuid[])'::regprocedure)",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        result,
        "TABLE(tenant_id uuid, members bigint, organizations bigint, contacts bigint, \
         deals bigint, last_activity timestamp with time zone)"
    );

    // Through the console's page: an operator gets both workspaces with their counts, a
    // member none (and no counts).
    let page = console::workspace_page(&db.app, operator, None, None)
        .await
        .unwrap();
    let listed: Vec<(&str, i64, i64)> = page
        .workspaces
        .iter()
        .map(|w| (w.slug.as_str(), w.members, w.contacts))
        .collect();
    assert_eq!(listed, [("tenant-a", 1, 1), ("tenant-b", 1, 1)]);
    let page = console::workspace_page(&db.app, t.a.user_id, None, None)
        .await
        .unwrap();
    assert!(page.workspaces.is_empty());
}

/// The queue backlog (0053) is for `/metrics`, which has no one in context: it answers each
/// queue's count and oldest time over every workspace, the same in any context, and no row,
/// id or workspace.
#[tokio::test]
async fn the_queue_backlog_counts_every_workspace_and_names_none() {
    use aura_platform::console;

    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    sqlx::query(
        "insert into email_outbox (to_address, subject, body_text, body_redacted, created_by)
         values ('x@example.com', 'Hello', 'Code 123456', 'Code [redacted]', $1),
                ('y@example.com', 'Sent', 'Sent', 'Sent', $1)",
    )
    .bind(t.a.user_id.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap();
    sqlx::query("update email_outbox set sent_at = now(), body_text = null where subject = 'Sent'")
        .execute(&db.owner)
        .await
        .unwrap();
    // The fixture's imports are only uploaded: one is started (queued), the other is not.
    sqlx::query("update imports set status = 'queued' where tenant_id = $1")
        .bind(t.a.tenant_id.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    let backlog = |rows: Vec<console::QueueBacklog>| -> Vec<(String, i64, bool)> {
        rows.into_iter()
            .map(|b| (b.queue.as_str().to_owned(), b.depth, b.oldest.is_some()))
            .collect()
    };
    let expected = vec![
        ("email_outbox".to_owned(), 1, true),
        // The fixture's waiting export in each workspace.
        ("exports".to_owned(), 2, true),
        ("imports".to_owned(), 1, true),
        // One pending delivery in each workspace.
        ("webhook_deliveries".to_owned(), 2, true),
    ];
    assert_eq!(
        backlog(console::queue_backlog(&db.app).await.unwrap()),
        expected
    );
    // In a workspace's context the numbers are the platform's, not the workspace's view.
    let mut tx = db.app.begin(t.a).await.unwrap();
    let seen: Vec<(String, i64)> =
        sqlx::query_as("select queue, depth from aura.queue_backlog() order by queue")
            .fetch_all(tx.conn())
            .await
            .unwrap();
    assert_eq!(
        seen,
        [
            ("email_outbox".to_owned(), 1),
            ("exports".to_owned(), 2),
            ("imports".to_owned(), 1),
            ("webhook_deliveries".to_owned(), 2)
        ]
    );
    drop(tx);
    let result: String =
        sqlx::query_scalar("select pg_get_function_result('aura.queue_backlog()'::regprocedure)")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(
        result,
        "TABLE(queue text, depth bigint, oldest timestamp with time zone)"
    );
}

/// The operators' search is a prefix of the name or the subdomain, and the list pages by name.
#[tokio::test]
async fn operators_search_workspaces_by_name_or_slug_prefix_a_page_at_a_time() {
    use aura_platform::console::{self, WorkspaceSearch, WORKSPACES_PER_PAGE};

    let db = TestDatabase::new().await;
    let operator = UserId::new();
    sqlx::query(
        "insert into users (id, email, display_name, is_platform_admin)
         values ($1, 'ops@aura.example', 'Ops', true)",
    )
    .bind(operator.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap();
    sqlx::raw_sql(
        "insert into tenants (slug, name)
         select 'shop-' || g, 'Zeta Shop ' || lpad(g::text, 2, '0') from generate_series(1, 30) g;
         insert into tenants (slug, name) values ('acme', 'Acme Corporation'),
                                                  ('initech', 'Zeta Initech');",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    let names = |page: &console::WorkspacePage| -> Vec<String> {
        page.workspaces.iter().map(|w| w.name.clone()).collect()
    };
    let first = console::workspace_page(&db.app, operator, None, None)
        .await
        .unwrap();
    assert_eq!(first.workspaces.len() as i64, WORKSPACES_PER_PAGE);
    assert_eq!(names(&first)[0], "Acme Corporation");
    let second = console::workspace_page(&db.app, operator, None, first.next.as_ref())
        .await
        .unwrap();
    assert_eq!(second.workspaces.len(), 32 - WORKSPACES_PER_PAGE as usize);
    assert!(second.next.is_none());
    assert_eq!(names(&second).last().unwrap(), "Zeta Shop 30");

    let search = |typed: &str| WorkspaceSearch::new(typed).unwrap();
    let found = console::workspace_page(&db.app, operator, Some(&search(" ACME")), None)
        .await
        .unwrap();
    assert_eq!(names(&found), ["Acme Corporation"]);
    // By subdomain: `initech` is the slug of "Zeta Initech".
    let found = console::workspace_page(&db.app, operator, Some(&search("init")), None)
        .await
        .unwrap();
    assert_eq!(names(&found), ["Zeta Initech"]);
    // A prefix, not a substring.
    let found = console::workspace_page(&db.app, operator, Some(&search("corp")), None)
        .await
        .unwrap();
    assert!(found.workspaces.is_empty());
    let found = console::workspace_page(&db.app, operator, Some(&search("zeta shop 1")), None)
        .await
        .unwrap();
    assert_eq!(found.workspaces.len(), 10);
}

/// The import worker's claim is its one reach across workspaces: it hands a queued import to one
/// caller with the workspace and the member who started it (the worker runs it in that
/// context), never one that is not queued, and never the same one twice while claimed.
#[tokio::test]
async fn the_import_claim_hands_each_queued_import_out_once_with_its_own_member() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let mut conn = db.raw_app_connection().await;
    let none: i64 = sqlx::query_scalar("select count(*) from aura.claim_import(60)")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        none, 0,
        "an uploaded import is not claimed before it is started"
    );
    sqlx::query("update imports set status = 'queued' where tenant_id = $1")
        .bind(t.b.tenant_id.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    let claimed: Vec<(Uuid, Uuid, Uuid, String)> = sqlx::query_as(
        "select tenant_id, import_id, user_id, role::text from aura.claim_import(60)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(claimed.len(), 1);
    let (tenant, import, user, role) = &claimed[0];
    assert_eq!(*tenant, t.b.tenant_id.as_uuid());
    assert_eq!(*user, t.b.user_id.as_uuid());
    assert_eq!(role, "admin");
    let own: bool = sqlx::query_scalar(
        "select exists (select 1 from imports where tenant_id = $1 and id = $2)",
    )
    .bind(tenant)
    .bind(import)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert!(own);
    let again: i64 = sqlx::query_scalar("select count(*) from aura.claim_import(60)")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(again, 0, "a claimed import is not handed out twice");
    // Without context the claim's caller sees no import itself.
    let seen: i64 = sqlx::query_scalar("select count(*) from imports")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(seen, 0);
}
