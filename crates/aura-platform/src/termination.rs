//! Workspace termination (F1.8, NFR-D3). An operator schedules the deletion of a suspended
//! workspace with a grace period (default 30 days) and its admins are told by email; the
//! operator may cancel until it is due. Once due, `aura terminate-due` (the schema owner, run
//! daily) deletes every row of the workspace in every table with a `tenant_id` column, found in
//! the catalog, children before parents, a batch at a time, and leaves a tombstone: the
//! `tenants` row (status `deleted`, its slug still taken) and a `tenant.terminated` entry in the
//! platform audit log with the slug, the id and the rows deleted per table.
//!
//! Why a command as the owner rather than a job in `aura serve`: deleting a whole workspace
//! needs rights the server's role must never hold (`aura_app` may not delete deals, history or
//! audit entries at all), and a `security definer` function able to delete any workspace would
//! put that power one call away from every request. The owner already holds it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};

use crate::db::{catalog, AppPool, DbError, OwnerPool, TenantContext};
use crate::ids::{MemberRole, TenantId, UserId};
use crate::outbox::{self, QueuedEmail};
use crate::provisioning::LifecycleError;
use crate::tenants::TenantStatus;

/// Rows deleted per statement: short statements, no table scanned whole per batch.
const BATCH: i64 = 5_000;

/// Days between scheduling and deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracePeriod(u16);

impl GracePeriod {
    pub const DEFAULT: Self = Self(30);
    pub const MAX_DAYS: u16 = 365;

    /// At least a day (the admins must have time to export), at most a year.
    pub fn days(days: u16) -> Option<Self> {
        (1..=Self::MAX_DAYS).contains(&days).then_some(Self(days))
    }

    pub fn as_days(self) -> u16 {
        self.0
    }
}

/// A workspace whose deletion is scheduled.
#[derive(Debug, Clone)]
pub struct Scheduled {
    pub tenant_id: TenantId,
    pub due_at: DateTime<Utc>,
}

/// The workspaces whose deletion is scheduled, for an operator (anyone else sees none).
pub async fn scheduled(pool: &AppPool, operator: UserId) -> Result<Vec<Scheduled>, DbError> {
    let mut tx = pool.begin_unscoped().await?;
    crate::db::set_context(&mut tx, None, Some(operator), None).await?;
    let rows = sqlx::query!(
        r#"select id as "id: TenantId", termination_due_at as "due_at!"
           from tenants where termination_due_at is not null"#,
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Scheduled {
            tenant_id: row.id,
            due_at: row.due_at,
        })
        .collect())
}

/// Schedules the deletion of the suspended workspace `tenant` after `grace`, as an operator;
/// audited in the workspace's trail and the platform's, and each active admin of the workspace
/// is written to (the messages, for the mailer to send once committed).
pub async fn schedule(
    pool: &AppPool,
    operator: UserId,
    tenant: TenantId,
    grace: GracePeriod,
) -> Result<Vec<QueuedEmail>, LifecycleError> {
    let mut tx = operator_tx(pool, operator, tenant).await?;
    let row = sqlx::query!(
        r#"select status as "status: TenantStatus", slug, name, termination_due_at
           from tenants where id = $1 for update"#,
        tenant as TenantId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?
    .ok_or(LifecycleError::NoSuchWorkspace)?;
    let (status, slug, name) = (row.status, row.slug, row.name);
    if status != TenantStatus::Suspended || row.termination_due_at.is_some() {
        return Err(LifecycleError::WrongWorkspaceStatus(status));
    }
    let due_at: DateTime<Utc> = sqlx::query_scalar!(
        r#"update tenants set termination_due_at = now() + make_interval(days => $2),
                updated_at = now(), updated_by = $3, version = version + 1
           where id = $1 returning termination_due_at as "termination_due_at!""#,
        tenant as TenantId,
        i32::from(grace.0),
        operator as UserId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    let after = serde_json::json!({ "termination_due_at": due_at, "grace_days": grace.0 });
    audit_both(
        &mut tx,
        operator,
        tenant,
        "tenant.termination_scheduled",
        &after,
    )
    .await?;

    let admins: Vec<String> = sqlx::query_scalar!(
        "select u.email from tenant_members m join users u on u.id = m.user_id
         where m.tenant_id = $1 and m.role = 'admin' and m.deactivated_at is null
         order by u.email",
        tenant as TenantId,
    )
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?;
    let subject = format!("{name}: your Aura workspace will be deleted");
    let body = format!(
        "The Aura workspace {name} ({slug}) is suspended and will be deleted for good on {} \
         (UTC), with every contact, organization, deal, activity and file record in it.\n\n\
         Until then an operator can cancel the deletion: reply to this message or contact \
         your Aura provider. Export what you want to keep before that date.\n",
        due_at.format("%Y-%m-%d %H:%M")
    );
    let mut messages = Vec::new();
    for to in admins {
        messages.push(outbox::enqueue_notice(tx.conn(), operator, &to, &subject, &body).await?);
    }
    tx.commit().await?;
    Ok(messages)
}

/// Cancels a scheduled deletion, as an operator; the workspace stays suspended. Audited.
pub async fn cancel(
    pool: &AppPool,
    operator: UserId,
    tenant: TenantId,
) -> Result<(), LifecycleError> {
    let mut tx = operator_tx(pool, operator, tenant).await?;
    let cancelled: Option<DateTime<Utc>> = sqlx::query_scalar!(
        r#"update tenants set termination_due_at = null,
                updated_at = now(), updated_by = $2, version = version + 1
           where id = $1 and termination_due_at is not null
           returning updated_at as "cancelled_at!""#,
        tenant as TenantId,
        operator as UserId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    if cancelled.is_none() {
        return Err(LifecycleError::NoSuchWorkspace);
    }
    audit_both(
        &mut tx,
        operator,
        tenant,
        "tenant.termination_cancelled",
        &serde_json::json!({ "termination_due_at": null }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A transaction in `tenant`'s context as the operator (whose policies let them change the
/// `tenants` row and read the admins' addresses), refused to anyone else.
async fn operator_tx(
    pool: &AppPool,
    operator: UserId,
    tenant: TenantId,
) -> Result<crate::db::TenantTx, LifecycleError> {
    let context = TenantContext {
        tenant_id: tenant,
        user_id: operator,
        role: MemberRole::Admin,
        read_only: false,
    };
    let mut tx = pool.begin(context).await?;
    let is_operator: bool =
        sqlx::query_scalar!(r#"select aura.current_user_is_platform_admin() as "is_operator!""#)
            .fetch_one(tx.conn())
            .await
            .map_err(DbError::from)?;
    if !is_operator {
        return Err(LifecycleError::NotOperator);
    }
    Ok(tx)
}

async fn audit_both(
    tx: &mut crate::db::TenantTx,
    operator: UserId,
    tenant: TenantId,
    action: &str,
    after: &serde_json::Value,
) -> Result<(), DbError> {
    sqlx::query!(
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, after)
         values ($1, $2, $3, 'tenant', $1, $4)",
        tenant as TenantId,
        operator as UserId,
        action,
        after,
    )
    .execute(tx.conn())
    .await?;
    sqlx::query!(
        "insert into platform_audit_log (actor_user_id, action, entity_type, entity_id, after)
         values ($1, $2, 'tenant', $3, $4)",
        operator as UserId,
        action,
        tenant as TenantId,
        after,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum TerminationError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the foreign keys between workspace tables form a cycle among: {0}")]
    Cycle(String),
}

impl From<sqlx::Error> for TerminationError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err.into())
    }
}

/// A workspace deleted for good.
#[derive(Debug, Clone)]
pub struct Terminated {
    pub tenant_id: TenantId,
    pub slug: String,
    /// Rows deleted per table (a partitioned table counts its partitions').
    pub rows: BTreeMap<String, i64>,
}

/// Deletes every workspace whose grace period is over, each in one transaction (a failure
/// leaves it whole and still due, for the next run). As the schema owner.
pub async fn terminate_due(owner: &OwnerPool) -> Result<Vec<Terminated>, TerminationError> {
    let mut conn = owner.pool().acquire().await.map_err(DbError::from)?;
    let order = deletion_order(&mut conn).await?;
    let due = sqlx::query!(
        r#"select id as "id: TenantId", slug from tenants
           where status = 'suspended' and termination_due_at <= now() order by termination_due_at"#,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut done = Vec::new();
    for row in due {
        done.push(terminate(&mut conn, &order, row.id, row.slug).await?);
    }
    Ok(done)
}

/// A table of the deletion order: its leaf tables (itself, or its partitions) and whether it
/// references itself (then its rows go in one statement, which checks its own foreign key once,
/// at the statement's end, rather than batch by batch).
struct Doomed {
    table: String,
    leaves: Vec<String>,
    self_referencing: bool,
}

/// The tables with `tenant_id`, every table before those it references.
async fn deletion_order(conn: &mut PgConnection) -> Result<Vec<Doomed>, TerminationError> {
    let mut pending = catalog::tenant_tables(&mut *conn).await?;
    let references: Vec<(String, String)> = sqlx::query!(
        r#"select distinct conrelid::regclass::text as "child!", confrelid::regclass::text as "parent!"
           from pg_constraint where contype = 'f' and conparentid = 0"#,
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|row| (row.child, row.parent))
    .collect();
    let mut order = Vec::new();
    while !pending.is_empty() {
        // A table no other pending table references can go now.
        let ready: Vec<String> = pending
            .iter()
            .filter(|table| {
                !references.iter().any(|(child, parent)| {
                    parent == *table && child != *table && pending.contains(child)
                })
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(TerminationError::Cycle(pending.join(", ")));
        }
        pending.retain(|table| !ready.contains(table));
        for table in ready {
            // A plain table is its own leaf (pg_partition_tree lists nothing for it). Each leaf
            // comes as `schema.name` quoted by `format('%I')`, so it is safe to splice.
            let leaves: Vec<String> = sqlx::query_scalar!(
                r#"select format('%I.%I', n.nspname, c.relname) as "leaf!"
                   from pg_class c join pg_namespace n on n.oid = c.relnamespace
                   where c.oid in (
                       select relid from pg_partition_tree($1::text::regclass) where isleaf
                       union all select $1::text::regclass
                       where not exists (select from pg_partition_tree($1::text::regclass)))
                   order by c.oid::regclass::text"#,
                table.as_str(),
            )
            .fetch_all(&mut *conn)
            .await?;
            let self_referencing = references
                .iter()
                .any(|(child, parent)| child == &table && parent == &table);
            order.push(Doomed {
                table,
                leaves,
                self_referencing,
            });
        }
    }
    Ok(order)
}

async fn terminate(
    conn: &mut PgConnection,
    order: &[Doomed],
    tenant: TenantId,
    slug: String,
) -> Result<Terminated, TerminationError> {
    let mut tx = conn.begin().await?;
    let mut rows = BTreeMap::new();
    for doomed in order {
        let mut deleted = 0;
        for leaf in &doomed.leaves {
            // Not a macro: the table is found in the catalog at run time.
            if doomed.self_referencing {
                deleted += sqlx::query(&format!("delete from {leaf} where tenant_id = $1"))
                    .bind(tenant.as_uuid())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected() as i64;
                continue;
            }
            // Not a macro: the table is found in the catalog at run time (quoted, see above).
            let statement = format!(
                "delete from {leaf} where ctid = any (array(
                     select ctid from {leaf} where tenant_id = $1 limit $2))"
            );
            loop {
                let batch = sqlx::query(&statement)
                    .bind(tenant.as_uuid())
                    .bind(BATCH)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected() as i64;
                deleted += batch;
                if batch < BATCH {
                    break;
                }
            }
        }
        rows.insert(doomed.table.clone(), deleted);
    }
    // The memberships are gone; the users' copies of them go too (no trigger keeps them, see
    // migration 0060), the workspace's API key identities' included.
    sqlx::query!(
        "update users set member_of = array_remove(member_of, $1) where $1 = any (member_of)",
        tenant as TenantId,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update tenants set status = 'deleted', termination_due_at = null, terminated_at = now(),
                updated_at = now(), version = version + 1
         where id = $1",
        tenant as TenantId,
    )
    .execute(&mut *tx)
    .await?;
    let total: i64 = rows.values().sum();
    sqlx::query!(
        "insert into platform_audit_log (actor_user_id, action, entity_type, entity_id, after)
         values (null, 'tenant.terminated', 'tenant', $1, $2)",
        tenant as TenantId,
        serde_json::json!({ "slug": slug, "id": tenant.as_uuid(), "rows": rows, "total": total }),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Terminated {
        tenant_id: tenant,
        slug,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grace_period_is_a_day_to_a_year() {
        assert_eq!(GracePeriod::DEFAULT.as_days(), 30);
        assert!(GracePeriod::days(0).is_none());
        assert_eq!(GracePeriod::days(1).map(GracePeriod::as_days), Some(1));
        assert!(GracePeriod::days(365).is_some());
        assert!(GracePeriod::days(366).is_none());
    }
}
