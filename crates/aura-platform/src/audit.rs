//! Reading a workspace's audit trail (F14.5): newest first, filtered, a page at a time.

pub mod retention;

use chrono::{DateTime, Utc};

use crate::db::{set_context, AppPool, DbError, TenantContext, TenantTx};
use crate::ids::{TenantId, UserId};
use crate::permissions::Permission;

/// Actions the trail records, for filtering (the UI offers exactly these).
pub const ACTIONS: &[&str] = &[
    "tenant.provisioned",
    "tenant.suspended",
    "tenant.reactivated",
    "tenant.deleted",
    "workspace.updated",
    "workspace.export_started",
    "workspace.export_downloaded",
    "member.invited",
    "member.joined",
    "member.role_changed",
    "member.deactivated",
    "member.reactivated",
    "member.removed",
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "organization.restored",
    "contact.created",
    "contact.updated",
    "contact.reassigned",
    "contact.deleted",
    "contact.restored",
    "activity.deleted",
    "custom_field.created",
    "custom_field.updated",
    "process.created",
    "process.renamed",
    "process.archived",
    "process.unarchived",
    "process.default_changed",
    "process.deleted",
    "product.created",
    "product.updated",
    "product.blueprint_changed",
    "deal.line_added",
    "deal.line_quantity_changed",
    "deal.line_price_overridden",
    "deal.line_removed",
    "stage.added",
    "stage.updated",
    "stage.reordered",
    "stage.deleted",
    "deal.stage_changed",
    "deal.created",
    "deal.updated",
    "deal.reassigned",
    "deal.deleted",
    "deal.restored",
    "webhook.created",
    "webhook.enabled",
    "webhook.disabled",
    "webhook.deleted",
    "api_key.created",
    "api_key.revoked",
    "access.refused",
    "import.finished",
];

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    /// The actor's name if they are a member here; operators acting on a workspace are not.
    pub actor: Option<String>,
    pub action: String,
    pub entity_type: String,
    /// The record the entry is about, if it is one.
    pub entity_id: Option<uuid::Uuid>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Where a page ends: the next page starts after this entry (its time and id).
pub type Cursor = crate::cursor::Cursor<i64>;

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// One of [`ACTIONS`].
    pub action: Option<&'static str>,
    pub actor: Option<UserId>,
    pub after: Option<Cursor>,
}

pub struct Page {
    pub entries: Vec<Entry>,
    /// Where the next page starts, if there is one.
    pub next: Option<Cursor>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("only admins read the audit log")]
    NotAdmin,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Most entries a page holds.
pub const PAGE_SIZE: i64 = 25;

/// A page of the workspace's audit trail, newest first. Keyset pagination on
/// `(occurred_at, id)`, served by the `(tenant_id, occurred_at desc, id desc)` index.
///
/// Plan (checked as `aura_app` with an admin's tenant context, 1M entries, 50k in the tenant):
/// an index scan on `audit_log_recent_idx` with `tenant_id` and `occurred_at <= cursor` as index
/// conditions, stopping after `PAGE_SIZE + 1` rows: 0.2-0.4 ms on the first page and three days
/// deep alike. The cursor is written as two plain comparisons, not a row comparison: under RLS
/// a condition with a function that is not leakproof (`record_lt` is not; `timestamptz_le` and
/// `int8lt` are) runs only after the policy's, as a filter, which read 13k rows (180 ms) three
/// days deep. The first page compares against `'infinity'` rather than skipping the condition.
/// The action and actor filters are row filters on that scan; selective ones read more of the
/// index before 25 rows match, still bounded by the tenant's range.
///
/// Partitioned by month (0050), measured again as `aura_app` with an admin's context: 1M entries
/// over 25 months, 20 workspaces (50k each), 29 partitions (25 months, three ahead, the default).
/// The first page is a Merge Append of an index scan on each partition's
/// `(tenant_id, occurred_at desc, id desc)` index (tenant_id and `occurred_at <= 'infinity'` as
/// index conditions, the role check a one-time filter), each stopping after a row or two: 26
/// rows, 134 buffers, 1.1-1.5 ms to execute and 4-16 ms to plan (the planner opens every
/// partition; no bound prunes any). A page 400 days deep prunes at plan time the months after
/// the cursor (13 scans left): 0.4-0.6 ms to execute, 1.5-2.5 ms to plan. (Ranges: a shared,
/// busy 2-core machine.) Fewer months kept means fewer partitions to plan over.
pub async fn page(
    pool: &AppPool,
    context: TenantContext,
    filter: &Filter,
) -> Result<Page, AuditError> {
    if !context.role.may(Permission::ReadAuditLog) {
        return Err(AuditError::NotAdmin);
    }
    // A cursor of another list's kind starts from the newest entry.
    let after = filter.after.as_ref().and_then(Cursor::time_position);
    let mut tx = pool.begin(context).await?;
    let mut entries = sqlx::query_as!(
        Entry,
        r#"select a.id, a.occurred_at, u.display_name as "actor?", a.action, a.entity_type,
                  a.entity_id, a.before, a.after
           from audit_log a left join users u on u.id = a.actor_user_id
           where a.tenant_id = $1
             and ($2::text is null or a.action = $2)
             and ($3::uuid is null or a.actor_user_id = $3)
             and a.occurred_at <= coalesce($4, 'infinity'::timestamptz)
             and (a.occurred_at < coalesce($4, 'infinity'::timestamptz) or a.id < $5)
           order by a.occurred_at desc, a.id desc
           limit $6"#,
        context.tenant_id.as_uuid(),
        filter.action,
        filter.actor.map(|u| u.as_uuid()),
        after.map(|(at, _)| at),
        after.map_or(i64::MAX, |(_, id)| id),
        PAGE_SIZE + 1,
    )
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?;
    let next = if entries.len() as i64 > PAGE_SIZE {
        entries.truncate(PAGE_SIZE as usize);
        entries.last().map(|e| Cursor::time(e.occurred_at, e.id))
    } else {
        None
    };
    Ok(Page { entries, next })
}

/// Appends an entry to the trail inside the caller's transaction, so it commits or rolls back
/// with the change it describes; the actor is the context's user (the policy insists).
pub async fn record(
    tx: &mut TenantTx,
    action: &'static str,
    entity_type: &'static str,
    entity_id: uuid::Uuid,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), DbError> {
    debug_assert!(ACTIONS.contains(&action), "unlisted audit action {action}");
    let context = *tx.context();
    sqlx::query!(
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, before, after)
         values ($1, $2, $3, $4, $5, $6, $7)",
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
        action,
        entity_type,
        entity_id,
        before,
        after,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Why a request was refused a record it named (F5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The record belongs to another workspace.
    OtherWorkspace,
    /// A sales rep named a contact, or its activity, assigned to someone else.
    NotOwner,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OtherWorkspace => "other_workspace",
            Self::NotOwner => "not_owner",
        }
    }
}

/// The most distinct ids of one refused request that are looked up (a bulk body may name
/// hundreds); the database function caps them at the same number.
pub const MAX_REFUSED_IDS: usize = 100;

/// After a request naming `ids` was answered 403 or 404: for each id that is a record the
/// caller was refused (another workspace's, or another member's contact for a rep), writes
/// `access.refused` to the trail of the workspace holding it; returns why, one reason per
/// refused record. Each distinct id once, at most [`MAX_REFUSED_IDS`]. One call, in a
/// transaction of its own, so the entries outlive the refused request's. See
/// `aura.record_refused_access`.
pub async fn record_refused_access(
    pool: &AppPool,
    context: TenantContext,
    ids: &[uuid::Uuid],
) -> Result<Vec<Refusal>, DbError> {
    let mut distinct: Vec<uuid::Uuid> = Vec::with_capacity(ids.len().min(MAX_REFUSED_IDS));
    for id in ids {
        if distinct.len() == MAX_REFUSED_IDS {
            break;
        }
        if !distinct.contains(id) {
            distinct.push(*id);
        }
    }
    // The server's own record of the attempt, written for a read-only key's request too.
    let context = TenantContext {
        read_only: false,
        ..context
    };
    let mut tx = pool.begin(context).await?;
    let reasons = sqlx::query_scalar!(
        r#"select reason as "reason!" from aura.record_refused_access($1) reason"#,
        &distinct,
    )
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(reasons
        .iter()
        .filter_map(|reason| match reason.as_str() {
            "other_workspace" => Some(Refusal::OtherWorkspace),
            "not_owner" => Some(Refusal::NotOwner),
            _ => None,
        })
        .collect())
}

/// A genuine API token of `token_tenant` was presented on `host_tenant`'s host: writes
/// `access.refused` to the host workspace's trail, in a transaction of its own set to the
/// token's own context, which is where the database takes who tried from. See
/// `aura.record_foreign_token`.
pub async fn record_foreign_token(
    pool: &AppPool,
    host_tenant: TenantId,
    user: UserId,
    token_tenant: TenantId,
) -> Result<(), DbError> {
    let mut tx = pool.begin_tenant_scope(token_tenant).await?;
    set_context(&mut tx, None, Some(user), None).await?;
    sqlx::query!(
        "select aura.record_foreign_token($1)",
        host_tenant as TenantId
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
