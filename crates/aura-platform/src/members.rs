//! A workspace's members (F3, F4.2): who they are, their roles, and the admin's changes to them,
//! each audited with its before and after.

use chrono::{DateTime, Utc};

use crate::auth::{self, LoginError};
use crate::db::{AppPool, DbError, TenantContext, TenantTx};
use crate::ids::{MemberRole, TenantId, UserId};
use crate::permissions::Permission;
use crate::step_up::{self, IssuedCode, Proof, Purpose, StepUpError};

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: UserId,
    pub display_name: String,
    pub email: String,
    pub role: MemberRole,
    pub active: bool,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct PendingInvitation {
    pub email: String,
    pub role: MemberRole,
    pub expires_at: DateTime<Utc>,
}

/// Everyone in the workspace, active first, then by name. A workspace has at most a few
/// hundred members (the product's ceiling is 300 seats), so this is one page.
pub async fn list(pool: &AppPool, context: TenantContext) -> Result<Vec<Member>, DbError> {
    let mut tx = pool.begin(context).await?;
    let members = sqlx::query_as!(
        Member,
        r#"select m.user_id as "user_id: UserId", u.display_name, u.email,
                  m.role as "role: MemberRole", m.deactivated_at is null as "active!",
                  m.created_at as joined_at
           from tenant_members m join users u on u.id = m.user_id
           where m.tenant_id = $1
           order by m.deactivated_at is not null, lower(u.display_name), m.user_id"#,
        context.tenant_id.as_uuid()
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(members)
}

/// Invitations not yet accepted, withdrawn or expired, soonest to expire first.
pub async fn pending_invitations(
    pool: &AppPool,
    context: TenantContext,
) -> Result<Vec<PendingInvitation>, DbError> {
    let mut tx = pool.begin(context).await?;
    let pending = sqlx::query_as!(
        PendingInvitation,
        r#"select email, role as "role: MemberRole", expires_at from invitations
           where tenant_id = $1 and accepted_at is null and revoked_at is null and expires_at > now()
           order by expires_at"#,
        context.tenant_id.as_uuid()
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(pending)
}

#[derive(Debug, thiserror::Error)]
pub enum MemberChangeError {
    #[error("only admins change members")]
    NotAdmin,
    #[error("no such member")]
    NotFound,
    #[error("you cannot change your own role or deactivate yourself")]
    OwnAccount,
    #[error("the workspace must keep at least one active admin")]
    LastAdmin,
    #[error("the verification code is wrong")]
    WrongCode,
    #[error("there is no usable verification code; ask for a new one")]
    NoCode,
    #[error("the password is wrong, or the account is temporarily locked")]
    WrongPassword,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Gives `user` the role `role` (F4.2).
pub async fn change_role(
    pool: &AppPool,
    context: TenantContext,
    user: UserId,
    role: MemberRole,
) -> Result<(), MemberChangeError> {
    let mut tx = begin_change(pool, context, user, Permission::ManageMembers).await?;
    let (before, active) = lock_member(&mut tx, user).await?;
    if before == role {
        return Ok(());
    }
    if before == MemberRole::Admin && active {
        ensure_another_admin(&mut tx, user).await?;
    }
    sqlx::query!(
        "update tenant_members set role = $3, updated_at = now(), updated_by = $4, version = version + 1
         where tenant_id = $1 and user_id = $2",
        context.tenant_id.as_uuid(),
        user as UserId,
        role as MemberRole,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    audit(
        &mut tx,
        "member.role_changed",
        user,
        ("role", before.as_str()),
        ("role", role.as_str()),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deactivates `user` (F3.4-F3.5: they cannot sign in, their sessions end now, their records
/// stay), or reactivates them.
pub async fn set_active(
    pool: &AppPool,
    context: TenantContext,
    user: UserId,
    active: bool,
) -> Result<(), MemberChangeError> {
    let mut tx = begin_change(pool, context, user, Permission::ManageMembers).await?;
    let (role, was_active) = lock_member(&mut tx, user).await?;
    if was_active == active {
        return Ok(());
    }
    if !active && role == MemberRole::Admin {
        ensure_another_admin(&mut tx, user).await?;
    }
    sqlx::query!(
        "update tenant_members
         set deactivated_at = (select now() where not $3),
             updated_at = now(), updated_by = $4, version = version + 1
         where tenant_id = $1 and user_id = $2",
        context.tenant_id.as_uuid(),
        user as UserId,
        active,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    if !active {
        sqlx::query!(
            "delete from tenant_sessions where tenant_id = $1 and user_id = $2",
            context.tenant_id.as_uuid(),
            user as UserId,
        )
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    }
    let state = |on: bool| if on { "active" } else { "deactivated" };
    let action = if active {
        "member.reactivated"
    } else {
        "member.deactivated"
    };
    audit(
        &mut tx,
        action,
        user,
        ("status", state(was_active)),
        ("status", state(active)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sends the admin in context a one-time code to remove `user` (step-up, NFR-S8).
pub async fn request_removal_code(
    pool: &AppPool,
    context: TenantContext,
    user: UserId,
) -> Result<IssuedCode, MemberChangeError> {
    let mut tx = begin_change(pool, context, user, Permission::RemoveMembers).await?;
    lock_member(&mut tx, user).await?;
    let code = step_up::issue(&mut tx, &Purpose::RemoveMember(user)).await?;
    tx.commit().await?;
    Ok(code)
}

/// Removes `user` from the workspace once the admin has proved it is them (`proof`, step-up):
/// their membership, sessions and tokens go; what they created stays, attributed to them
/// (F3.5), and the contacts they owned pass to the admin. Audited.
pub async fn remove(
    pool: &AppPool,
    context: TenantContext,
    user: UserId,
    proof: Proof<'_>,
) -> Result<(), MemberChangeError> {
    may_change(context, user, Permission::RemoveMembers)?;
    if let Proof::Password { password, source } = proof {
        // Before the change's transaction: hashing is slow, and no row lock should wait on it.
        auth::confirm_password(pool, context.user_id, password, source)
            .await
            .map_err(|err| match err {
                LoginError::Rejected => MemberChangeError::WrongPassword,
                LoginError::Db(err) => err.into(),
            })?;
    }
    let mut tx = begin_change(pool, context, user, Permission::RemoveMembers).await?;
    let (role, active) = lock_member(&mut tx, user).await?;
    if let Proof::Code(code) = proof {
        if let Err(err) = step_up::consume(&mut tx, &Purpose::RemoveMember(user), code).await {
            tx.commit().await?; // the counted attempt
            return Err(match err {
                StepUpError::Wrong => MemberChangeError::WrongCode,
                StepUpError::NoCode => MemberChangeError::NoCode,
                StepUpError::Db(err) => err.into(),
            });
        }
    }
    if role == MemberRole::Admin && active {
        ensure_another_admin(&mut tx, user).await?;
    }
    let email = sqlx::query_scalar!("select email from users where id = $1", user as UserId)
        .fetch_one(tx.conn())
        .await
        .map_err(DbError::from)?;
    // A contact's owner is a member of its workspace (a composite key says so), so the
    // removed member's contacts, deleted ones too, pass to the admin removing them.
    let handed_on = sqlx::query!(
        "update contacts set assigned_to = $3, updated_at = now(), updated_by = $3,
                             version = version + 1
         where tenant_id = $1 and assigned_to = $2",
        context.tenant_id.as_uuid(),
        user as UserId,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    sqlx::query!(
        "delete from tenant_members where tenant_id = $1 and user_id = $2",
        context.tenant_id.as_uuid(),
        user as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    sqlx::query!(
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, before, after)
         values ($1, $2, 'member.removed', 'member', $3, $4, $5)",
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
        user as UserId,
        serde_json::json!({ "email": email, "role": role.as_str(), "active": active }),
        serde_json::json!({ "contacts_reassigned_to_remover": handed_on }),
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    sync_member_of(pool, context.tenant_id, user).await;
    Ok(())
}

/// Only a role with `permission` changes members, and never themself.
fn may_change(
    context: TenantContext,
    user: UserId,
    permission: Permission,
) -> Result<(), MemberChangeError> {
    if !context.role.may(permission) {
        return Err(MemberChangeError::NotAdmin);
    }
    if context.user_id == user {
        return Err(MemberChangeError::OwnAccount);
    }
    Ok(())
}

/// Brings the user's copy of their memberships (`users.member_of`, which the users policy reads)
/// in step with whether they are a member of `tenant` now. Every change that adds or removes a
/// `tenant_members` row is followed by this once it has committed, in a transaction of its own:
/// on Citus no trigger can do it, nor may the owner's function touch the workspace's shards in
/// the transaction where `aura_app` wrote them (migration 0060).
///
/// The change it follows has committed, so its caller reports that change's success whatever
/// happens here: a failure is logged, and the copy stays stale until
/// [`keep_member_of_reconciled`] mends it.
pub async fn sync_member_of(pool: &AppPool, tenant: TenantId, user: UserId) {
    if let Err(err) = try_sync_member_of(pool, tenant, user).await {
        tracing::warn!(%tenant, %user, error = %err, "membership copy on users not synced");
    }
}

async fn try_sync_member_of(pool: &AppPool, tenant: TenantId, user: UserId) -> Result<(), DbError> {
    let mut tx = pool.begin_unscoped().await?;
    sqlx::query!(
        "select aura.sync_member_of($1, $2)",
        tenant as TenantId,
        user as UserId
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Mends the memberships' copies on `users` that disagree with the memberships (what a server
/// that died between a change and its sync left behind), when called and then every `period`:
/// each server runs it beside its workers, so a restarted one mends at once.
pub async fn keep_member_of_reconciled(pool: AppPool, period: std::time::Duration) {
    let mut ticks = tokio::time::interval(period);
    loop {
        ticks.tick().await;
        match reconcile_member_of(&pool).await {
            Ok(0) => {}
            Ok(mended) => tracing::info!(mended, "stale membership copies on users mended"),
            Err(err) => tracing::warn!(error = %err, "membership copies on users not reconciled"),
        }
    }
}

/// One pass of [`keep_member_of_reconciled`]: how many copies it mended.
pub async fn reconcile_member_of(pool: &AppPool) -> Result<i32, DbError> {
    let mut tx = pool.begin_unscoped().await?;
    let mended = sqlx::query_scalar!(r#"select aura.reconcile_member_of() as "mended!""#)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(mended)
}

async fn begin_change(
    pool: &AppPool,
    context: TenantContext,
    user: UserId,
    permission: Permission,
) -> Result<TenantTx, MemberChangeError> {
    may_change(context, user, permission)?;
    Ok(pool.begin(context).await?)
}

/// The member's role and whether they are active, locked for the rest of the transaction.
async fn lock_member(
    tx: &mut TenantTx,
    user: UserId,
) -> Result<(MemberRole, bool), MemberChangeError> {
    let tenant = tx.context().tenant_id;
    let row = sqlx::query!(
        r#"select role as "role: MemberRole", deactivated_at is null as "active!"
           from tenant_members where tenant_id = $1 and user_id = $2 for update"#,
        tenant.as_uuid(),
        user as UserId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?
    .ok_or(MemberChangeError::NotFound)?;
    Ok((row.role, row.active))
}

/// Refuses a change that would leave no active admin besides `user`. Locks the admins' rows,
/// so two admins demoting each other at once cannot both succeed.
async fn ensure_another_admin(tx: &mut TenantTx, user: UserId) -> Result<(), MemberChangeError> {
    let tenant = tx.context().tenant_id;
    let others = sqlx::query_scalar!(
        "select user_id from tenant_members
         where tenant_id = $1 and role = 'admin' and deactivated_at is null and user_id <> $2
         for update",
        tenant.as_uuid(),
        user as UserId,
    )
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?;
    if others.is_empty() {
        Err(MemberChangeError::LastAdmin)
    } else {
        Ok(())
    }
}

async fn audit(
    tx: &mut TenantTx,
    action: &'static str,
    user: UserId,
    before: (&str, &str),
    after: (&str, &str),
) -> Result<(), DbError> {
    crate::audit::record(
        tx,
        action,
        "member",
        user.as_uuid(),
        Some(serde_json::json!({ before.0: before.1 })),
        Some(serde_json::json!({ after.0: after.1 })),
    )
    .await
}
