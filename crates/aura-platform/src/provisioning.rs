//! Turning an approved workspace request into a tenant (journey 1, steps 4-6): contract signed,
//! then approval by a platform operator, then the tenant, its first admin and its starting data,
//! all in one transaction, all audited.

use uuid::Uuid;

use crate::db::{set_context, AppPool, DbError, TenantContext, TenantTx};
use crate::ids::{MemberRole, TenantId, TenantSlug, UserId};
use crate::signup::SignupStatus;
use crate::tenants::{known_timezone, TenantStatus};

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("only platform operators may do this")]
    NotOperator,
    #[error("there is no such workspace request")]
    NoSuchRequest,
    #[error("there is no such workspace")]
    NoSuchWorkspace,
    #[error("the workspace is {0:?}, which does not allow this change")]
    WrongWorkspaceStatus(TenantStatus),
    #[error("the request is not at the step this action needs (it is {0:?})")]
    WrongStep(SignupStatus),
    #[error("the requester has not verified their email address yet")]
    EmailUnverified,
    #[error("the subdomain is taken")]
    SlugTaken,
    #[error("unknown time zone")]
    UnknownTimezone,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Records that the prospect signed the contract, as an operator: the request now awaits
/// approval (F1.3).
pub async fn mark_contract_signed(
    pool: &AppPool,
    operator: UserId,
    signup_id: Uuid,
) -> Result<(), LifecycleError> {
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(operator), None).await?;
    require_operator(&mut tx).await?;
    record_contract_signed(tx, Some(operator), signup_id, "operator").await
}

/// Records that the prospect signed the contract, as the external contract-signing system
/// (authenticated by the platform API key; see migration 0012).
pub async fn mark_contract_signed_by_integration(
    pool: &AppPool,
    signup_id: Uuid,
) -> Result<(), LifecycleError> {
    let mut tx = pool.begin_unscoped().await?;
    sqlx::query("SET LOCAL app.current_integration = 'contract_signing'")
        .execute(&mut *tx)
        .await
        .map_err(DbError::from)?;
    record_contract_signed(tx, None, signup_id, "contract-signing API").await
}

async fn record_contract_signed(
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    actor: Option<UserId>,
    signup_id: Uuid,
    via: &str,
) -> Result<(), LifecycleError> {
    let status = lock_request(&mut tx, signup_id).await?.1;
    if status != SignupStatus::Prospect {
        return Err(LifecycleError::WrongStep(status));
    }
    sqlx::query!(
        "update signups set status = 'pending', contract_signed_at = now(), updated_at = now(),
                version = version + 1
         where id = $1",
        signup_id
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    sqlx::query!(
        "insert into platform_audit_log (actor_user_id, action, entity_type, entity_id, after)
         values ($1, 'signup.contract_signed', 'signup', $2, $3)",
        actor.map(|a| a.as_uuid()),
        signup_id,
        serde_json::json!({ "status": "pending", "via": via }),
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}

/// What the operator decides when approving a request.
#[derive(Debug, Clone)]
pub struct Activation {
    pub signup_id: Uuid,
    pub slug: TenantSlug,
    pub company_name: String,
    pub industry: Option<String>,
    pub timezone: String,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
}

/// A tenant being provisioned: created, its requester made its Admin, not yet committed.
/// The caller adds the modules' starting data through [`Provisioning::tx`], then
/// [`Provisioning::finish`]es; dropping it instead leaves no trace.
pub struct Provisioning {
    tx: TenantTx,
    signup_id: Uuid,
    slug: TenantSlug,
    first_admin: UserId,
    pool: AppPool,
}

/// Creates the tenant for an approved request (a pending one: contract signed), in a
/// transaction whose context is the new tenant, acted on by the operator as its admin.
pub async fn begin(
    pool: &AppPool,
    operator: UserId,
    activation: &Activation,
) -> Result<Provisioning, LifecycleError> {
    let tenant_id = TenantId::new();
    let context = TenantContext {
        tenant_id,
        user_id: operator,
        role: MemberRole::Admin,
        read_only: false,
    };
    let mut tx = pool.begin(context).await?;
    require_operator(tx.conn()).await?;
    let (requester, status) = lock_request(tx.conn(), activation.signup_id).await?;
    if status != SignupStatus::Pending {
        return Err(LifecycleError::WrongStep(status));
    }
    // The workspace's first admin is reached at this address: it must be theirs.
    let verified = sqlx::query_scalar!(
        r#"select exists (select 1 from email_verifications
                          where user_id = $1 and verified_at is not null) as "verified!""#,
        requester as UserId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    if !verified {
        return Err(LifecycleError::EmailUnverified);
    }
    if !known_timezone(tx.conn(), &activation.timezone).await? {
        return Err(LifecycleError::UnknownTimezone);
    }

    let created = sqlx::query!(
        "insert into tenants (id, slug, name, industry, timezone, currency, created_by, updated_by)
         values ($1, $2, $3, $4, $5, $6, $7, $7)",
        tenant_id as TenantId,
        activation.slug.as_str(),
        activation.company_name,
        activation.industry,
        activation.timezone,
        activation.currency,
        operator as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from);
    match created {
        Err(err) if err.unique_violation() == Some("tenants_slug_key") => {
            return Err(LifecycleError::SlugTaken)
        }
        other => other?,
    };
    sqlx::query!(
        "insert into tenant_members (tenant_id, user_id, role, created_by, updated_by)
         values ($1, $2, 'admin', $3, $3)",
        tenant_id as TenantId,
        requester as UserId,
        operator as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    sqlx::query!(
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, after)
         values ($1, $2, 'tenant.provisioned', 'tenant', $1, $3)",
        tenant_id as TenantId,
        operator as UserId,
        serde_json::json!({
            "slug": activation.slug.as_str(),
            "name": activation.company_name,
            "industry": activation.industry,
            "timezone": activation.timezone,
            "currency": activation.currency,
            "first_admin": requester,
        }),
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    Ok(Provisioning {
        tx,
        signup_id: activation.signup_id,
        slug: activation.slug.clone(),
        first_admin: requester,
        pool: pool.clone(),
    })
}

impl Provisioning {
    /// The new tenant's transaction, for the modules' starting data.
    pub fn tx(&mut self) -> &mut TenantTx {
        &mut self.tx
    }

    /// Marks the request activated and commits everything at once; then the first admin's copy
    /// of their memberships follows (see [`crate::members::sync_member_of`]).
    pub async fn finish(mut self) -> Result<TenantId, LifecycleError> {
        let tenant_id = self.tx.context().tenant_id;
        let operator = self.tx.context().user_id;
        sqlx::query!(
            "update signups set status = 'activated', activated_at = now(), updated_at = now(),
                    provisioned_tenant_id = $2, workspace_slug = $3, version = version + 1
             where id = $1",
            self.signup_id,
            tenant_id as TenantId,
            self.slug.as_str(),
        )
        .execute(self.tx.conn())
        .await
        .map_err(DbError::from)?;
        platform_audit(
            self.tx.conn(),
            operator,
            "signup.activated",
            self.signup_id,
            serde_json::json!({ "status": "activated", "tenant_id": tenant_id, "slug": self.slug.as_str() }),
        )
        .await?;
        self.tx.commit().await?;
        crate::members::sync_member_of(&self.pool, tenant_id, self.first_admin).await;
        Ok(tenant_id)
    }
}

/// Suspends a workspace (every request to it is refused at once; its data is kept),
/// reactivates it (F1.9), or deletes a suspended one (F1.8, F1.10: it is gone for everyone,
/// its subdomain stays taken, its data is retained for the retention period). Audited in the
/// workspace's trail and the platform's.
pub async fn set_status(
    pool: &AppPool,
    operator: UserId,
    tenant: TenantId,
    status: TenantStatus,
) -> Result<(), LifecycleError> {
    let context = TenantContext {
        tenant_id: tenant,
        user_id: operator,
        role: MemberRole::Admin,
        read_only: false,
    };
    let mut tx = pool.begin(context).await?;
    require_operator(tx.conn()).await?;
    let before = sqlx::query_scalar!(
        r#"select status as "status: TenantStatus" from tenants where id = $1 for update"#,
        tenant.as_uuid()
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?
    .ok_or(LifecycleError::NoSuchWorkspace)?;
    if before == status {
        return Ok(());
    }
    // Deletion is final and only follows suspension; a deleted workspace is never revived here.
    let allowed = matches!(
        (before, status),
        (TenantStatus::Active, TenantStatus::Suspended)
            | (TenantStatus::Suspended, TenantStatus::Active)
            | (TenantStatus::Suspended, TenantStatus::Deleted)
    );
    if !allowed {
        return Err(LifecycleError::WrongWorkspaceStatus(before));
    }
    sqlx::query!(
        "update tenants set status = $2, updated_at = now(), updated_by = $3, version = version + 1
         where id = $1",
        tenant.as_uuid(),
        status as TenantStatus,
        operator as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    let action = match status {
        TenantStatus::Suspended => "tenant.suspended",
        TenantStatus::Deleted => "tenant.deleted",
        TenantStatus::Active => "tenant.reactivated",
    };
    let (before_json, after_json) = (
        serde_json::json!({ "status": before }),
        serde_json::json!({ "status": status }),
    );
    sqlx::query!(
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, before, after)
         values ($1, $2, $3, 'tenant', $1, $4, $5)",
        tenant.as_uuid(),
        operator as UserId,
        action,
        before_json,
        after_json,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    sqlx::query!(
        "insert into platform_audit_log (actor_user_id, action, entity_type, entity_id, before, after)
         values ($1, $2, 'tenant', $3, $4, $5)",
        operator as UserId,
        action,
        tenant.as_uuid(),
        before_json,
        after_json,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(())
}

async fn require_operator(conn: &mut sqlx::PgConnection) -> Result<(), LifecycleError> {
    let is_operator =
        sqlx::query_scalar!(r#"select aura.current_user_is_platform_admin() as "is!""#)
            .fetch_one(conn)
            .await
            .map_err(DbError::from)?;
    if is_operator {
        Ok(())
    } else {
        Err(LifecycleError::NotOperator)
    }
}

/// The request's requester and status, locked until the transaction ends, so two operators
/// cannot act on it at once.
async fn lock_request(
    conn: &mut sqlx::PgConnection,
    signup_id: Uuid,
) -> Result<(UserId, SignupStatus), LifecycleError> {
    let row = sqlx::query!(
        r#"select user_id as "user_id: UserId", status as "status: SignupStatus"
           from signups where id = $1 for update"#,
        signup_id
    )
    .fetch_optional(conn)
    .await
    .map_err(DbError::from)?
    .ok_or(LifecycleError::NoSuchRequest)?;
    Ok((row.user_id, row.status))
}

async fn platform_audit(
    conn: &mut sqlx::PgConnection,
    actor: UserId,
    action: &str,
    signup_id: Uuid,
    after: serde_json::Value,
) -> Result<(), DbError> {
    sqlx::query!(
        "insert into platform_audit_log (actor_user_id, action, entity_type, entity_id, after)
         values ($1, $2, 'signup', $3, $4)",
        actor as UserId,
        action,
        signup_id,
        after,
    )
    .execute(conn)
    .await?;
    Ok(())
}
