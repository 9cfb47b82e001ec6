//! Workspace termination (F1.8, NFR-D3): scheduled by an operator for a suspended workspace,
//! cancellable during the grace period, then every row of the workspace deleted from every
//! table with a `tenant_id` (found in the catalog), the other workspace untouched.

use aura_platform::db::testing::TestDatabase;
use aura_platform::db::OwnerPool;
use aura_platform::ids::{TenantId, UserId};
use aura_platform::provisioning::{self, LifecycleError};
use aura_platform::tenants::TenantStatus;
use aura_platform::termination::{self, GracePeriod};
use sqlx::PgPool;

use crate::isolation::two_tenants;

async fn operator(owner: &PgPool) -> UserId {
    let id = UserId::new();
    sqlx::query(
        "insert into users (id, email, display_name, is_platform_admin)
         values ($1, 'ops@aura.example', 'Ops', true)",
    )
    .bind(id.as_uuid())
    .execute(owner)
    .await
    .unwrap();
    id
}

/// Rows of `tenant` in every table (partitions included) that has a `tenant_id` column, as the
/// catalog lists them: `(table, rows)`.
async fn rows_of(owner: &PgPool, tenant: TenantId) -> Vec<(String, i64)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select c.oid::regclass::text from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
         where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
         order by 1",
    )
    .fetch_all(owner)
    .await
    .unwrap();
    let mut rows = Vec::new();
    for table in tables {
        let count: i64 = sqlx::query_scalar(&format!(
            "select count(*) from {table} where tenant_id = $1"
        ))
        .bind(tenant.as_uuid())
        .fetch_one(owner)
        .await
        .unwrap();
        rows.push((table, count));
    }
    rows
}

#[tokio::test]
async fn a_terminated_workspace_leaves_no_row_in_any_table_and_the_other_is_untouched() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let operator = operator(&db.owner).await;
    let (a, b) = (t.a.tenant_id, t.b.tenant_id);
    let owner = OwnerPool::connect(&db.owner_url).await.unwrap();

    // Only a suspended workspace, only by an operator.
    assert!(matches!(
        termination::schedule(&db.app, operator, a, GracePeriod::DEFAULT).await,
        Err(LifecycleError::WrongWorkspaceStatus(TenantStatus::Active))
    ));
    provisioning::set_status(&db.app, operator, a, TenantStatus::Suspended)
        .await
        .unwrap();
    assert!(matches!(
        termination::schedule(&db.app, t.a.user_id, a, GracePeriod::DEFAULT).await,
        Err(LifecycleError::NotOperator)
    ));

    // Scheduled: the admins are written to; nothing is deleted before it is due; it can be
    // cancelled, and a reactivation needs the cancellation first.
    let messages = termination::schedule(&db.app, operator, a, GracePeriod::DEFAULT)
        .await
        .unwrap();
    assert_eq!(
        messages.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(),
        ["tenant-a@example.com"]
    );
    assert!(messages[0].body.contains("will be deleted for good on"));
    let due = termination::scheduled(&db.app, operator).await.unwrap();
    assert_eq!(due.len(), 1);
    assert!(due[0].due_at > chrono::Utc::now() + chrono::Duration::days(29));
    assert!(termination::scheduled(&db.app, t.a.user_id)
        .await
        .unwrap()
        .is_empty());
    assert!(
        provisioning::set_status(&db.app, operator, a, TenantStatus::Active)
            .await
            .is_err()
    );
    assert!(termination::terminate_due(&owner).await.unwrap().is_empty());
    termination::cancel(&db.app, operator, a).await.unwrap();
    assert!(termination::scheduled(&db.app, operator)
        .await
        .unwrap()
        .is_empty());
    termination::schedule(&db.app, operator, a, GracePeriod::days(1).unwrap())
        .await
        .unwrap();

    // The grace period passes.
    sqlx::query(
        "update tenants set termination_due_at = now() - interval '1 second' where id = $1",
    )
    .bind(a.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap();
    let a_before = rows_of(&db.owner, a).await;
    let b_before = rows_of(&db.owner, b).await;
    assert!(
        a_before.iter().filter(|(_, n)| *n > 0).count() > 20,
        "the fixture fills every table: {a_before:?}"
    );

    // The server's role cannot do it: run as aura_app the job finds nothing due (no context,
    // no rows), and even in the workspace's context as an admin it may not delete its trail.
    let app_as_owner = OwnerPool::connect(&db.app_url).await.unwrap();
    assert!(termination::terminate_due(&app_as_owner)
        .await
        .unwrap()
        .is_empty());
    let mut tx = db.app.begin(t.a).await.unwrap();
    let refused = sqlx::query("delete from audit_log where tenant_id = $1")
        .bind(a.as_uuid())
        .execute(tx.conn())
        .await
        .expect_err("aura_app deleted a workspace's audit trail");
    assert!(crate::isolation::refused_by_privilege_or_policy(&refused));
    drop(tx);
    assert_eq!(rows_of(&db.owner, a).await, a_before);

    let done = termination::terminate_due(&owner).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].slug, "tenant-a");
    let left: Vec<(String, i64)> = rows_of(&db.owner, a)
        .await
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(
        left.is_empty(),
        "rows of the terminated workspace remain: {left:?}"
    );
    assert_eq!(
        rows_of(&db.owner, b).await,
        b_before,
        "the other workspace changed"
    );

    // The tombstone: the tenants row (its slug stays taken) and the platform audit entry.
    let (status, slug): (TenantStatus, String) =
        sqlx::query_as("select status, slug from tenants where id = $1")
            .bind(a.as_uuid())
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!((status, slug.as_str()), (TenantStatus::Deleted, "tenant-a"));
    let tombstone: serde_json::Value = sqlx::query_scalar(
        "select after from platform_audit_log where action = 'tenant.terminated' and entity_id = $1",
    )
    .bind(a.as_uuid())
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(tombstone["slug"], "tenant-a");
    let deleted: i64 = a_before.iter().map(|(_, n)| n).sum::<i64>()
        // A partitioned table's rows are counted once, under its own name.
        - a_before
            .iter()
            .filter(|(table, _)| table.starts_with("audit_log_"))
            .map(|(_, n)| n)
            .sum::<i64>();
    assert_eq!(tombstone["total"], deleted, "{tombstone}");
    assert!(termination::terminate_due(&owner).await.unwrap().is_empty());
}
