//! Tenants as the rest of the platform sees them.

use crate::db::{AppPool, DbError};
use crate::ids::{TenantId, TenantSlug};

/// A tenant's lifecycle state. Mirrors `aura.tenant_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "aura.tenant_status", rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Suspended,
    Deleted,
}

/// The tenant a request's host names.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: TenantId,
    pub slug: TenantSlug,
    pub name: String,
    pub status: TenantStatus,
}

/// The tenant whose subdomain is `slug`, if any. Runs before any tenant context exists, through
/// the one narrow `security definer` function made for it (migration 0002).
pub async fn find_by_slug(pool: &AppPool, slug: &TenantSlug) -> Result<Option<Workspace>, DbError> {
    let row = sqlx::query!(
        r#"select id as "id!: TenantId", name as "name!", status as "status!: TenantStatus"
           from aura.tenant_by_slug($1)"#,
        slug.as_str()
    )
    .fetch_optional(pool.pool())
    .await?;
    Ok(row.map(|row| Workspace {
        id: row.id,
        slug: slug.clone(),
        name: row.name,
        status: row.status,
    }))
}
