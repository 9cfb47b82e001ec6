//! From the apex into a workspace without a second password (migration 0042): the apex lists
//! the workspaces its signed-in user belongs to and issues a single-use code, good for a minute,
//! for the one chosen; that workspace's host redeems it for a session on its own host. Only the
//! code's hash is stored, and no cookie is ever shared between hosts.

use super::{open_session, Secret, SignedIn};
use crate::db::{set_context, AppPool, DbError};
use crate::ids::{MemberRole, TenantId, TenantSlug, UserId};

/// A workspace the user may enter.
#[derive(Debug, Clone)]
pub struct OwnWorkspace {
    pub slug: String,
    pub name: String,
}

/// The active workspaces `user` (signed in on the apex) is an active member of, by name.
pub async fn own_workspaces(pool: &AppPool, user: UserId) -> Result<Vec<OwnWorkspace>, DbError> {
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(user), None).await?;
    let rows = sqlx::query_as!(
        OwnWorkspace,
        r#"select slug as "slug!", name as "name!" from aura.own_workspaces()"#
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows)
}

/// A fresh hand-off code into the workspace at `slug` for `user`, or `None` when the user is
/// not an active member of an active workspace there.
pub async fn issue(
    pool: &AppPool,
    user: UserId,
    slug: &TenantSlug,
) -> Result<Option<Secret>, DbError> {
    let code = Secret::generate();
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(user), None).await?;
    let issued = sqlx::query_scalar!(
        r#"select aura.issue_workspace_handoff($1, $2) as "issued!""#,
        slug.as_str(),
        code.sha256(),
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(issued.then_some(code))
}

/// Whose unexpired code `code` is in `tenant` (their name and email), without spending it: the
/// workspace asks "continue as …?" before it opens a session, so a link someone else sent
/// cannot sign a browser into their account unnoticed, and a link previewer cannot spend it.
pub async fn peek(
    pool: &AppPool,
    tenant: TenantId,
    code: &Secret,
) -> Result<Option<(String, String)>, DbError> {
    let mut tx = pool.begin_tenant_scope(tenant).await?;
    let holder = sqlx::query!(
        "select u.display_name, u.email
         from workspace_handoffs h join users u on u.id = h.user_id
         where h.tenant_id = $1 and h.code_hash = $2 and h.expires_at > now()",
        tenant.as_uuid(),
        code.sha256(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(holder.map(|h| (h.display_name, h.email)))
}

/// Spends `code` in `tenant`: a session for its user if the code was issued for this tenant,
/// has not expired or been used, and the user is still an active member. A code is deleted
/// when it is read, whatever the outcome, so it never works twice.
pub async fn redeem(
    pool: &AppPool,
    tenant: TenantId,
    code: &Secret,
) -> Result<Option<(Secret, SignedIn)>, DbError> {
    let mut tx = pool.begin_tenant_scope(tenant).await?;
    // `now()` outside the `returning`, where Citus allows no function but an immutable one.
    let spent = sqlx::query!(
        r#"with spent as (
               delete from workspace_handoffs where tenant_id = $1 and code_hash = $2
               returning user_id, expires_at)
           select user_id as "user_id!: UserId", expires_at > now() as "live!" from spent"#,
        tenant.as_uuid(),
        code.sha256(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(spent) = spent.filter(|spent| spent.live) else {
        tx.commit().await?;
        return Ok(None);
    };
    set_context(&mut tx, None, Some(spent.user_id), None).await?;
    let member = sqlx::query!(
        r#"select m.role as "role: MemberRole", u.display_name, u.email
           from tenant_members m join users u on u.id = m.user_id
           where m.tenant_id = $1 and m.user_id = $2 and m.deactivated_at is null"#,
        tenant.as_uuid(),
        spent.user_id as UserId,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(member) = member else {
        tx.commit().await?;
        return Ok(None);
    };
    let opened = open_session(
        &mut tx,
        tenant,
        spent.user_id,
        member.role,
        member.display_name,
        member.email,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(opened))
}
