//! API keys for integrations (issue 14): created and revoked by a workspace's admins, presented
//! as `Authorization: Bearer aura_live_...` on that workspace's host only. Each key acts as its
//! own identity (a user made for it by the database, member of nothing), so what it writes is
//! attributed to it in the audit log and in `created_by`; see `migrations/0034_api_keys.sql`.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit;
use crate::auth::Secret;
use crate::db::{AppPool, DbError, TenantContext};
use crate::ids::{MemberRole, TenantId, UserId};
use crate::permissions::Permission;

crate::id_type!(
    /// An API key.
    ApiKeyId
);

/// What every key's secret starts with, so a leaked one is recognisable (secret scanners,
/// logs) and cannot be mistaken for an access token.
pub const PREFIX: &str = "aura_live_";

/// Longest key name.
pub const MAX_NAME_CHARS: usize = 100;

/// What a key may do. Mirrors `aura.api_key_role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "aura.api_key_role", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum KeyRole {
    /// Reads everything a manager sees; the database refuses its writes.
    ReadOnly,
    /// Reads and writes as a manager would.
    Manager,
}

impl KeyRole {
    pub const ALL: [KeyRole; 2] = [KeyRole::ReadOnly, KeyRole::Manager];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "read_only",
            Self::Manager => "manager",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::ReadOnly => "Read-only",
            Self::Manager => "Acts as a manager",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// The context a request made with a key of this role runs in: a manager's view of the
    /// workspace, read-only for a read-only key.
    fn context(self, tenant_id: TenantId, user_id: UserId) -> TenantContext {
        TenantContext {
            tenant_id,
            user_id,
            role: MemberRole::Manager,
            read_only: self == Self::ReadOnly,
        }
    }
}

/// A key as its workspace's admins see it: never its secret.
#[derive(Debug, Clone)]
pub struct KeySummary {
    pub id: ApiKeyId,
    pub name: String,
    pub role: KeyRole,
    /// The secret's last four characters.
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_from: Option<String>,
}

impl KeySummary {
    /// Accepted now: neither revoked nor expired.
    pub fn live(&self) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > Utc::now())
    }
}

/// A new key's settings.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub role: KeyRole,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key just created: its secret, shown to its creator once and stored nowhere.
#[derive(Debug)]
pub struct CreatedKey {
    pub id: ApiKeyId,
    pub secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("only admins manage API keys")]
    NotAdmin,
    /// Which field is wrong, and why, in words for the form.
    #[error("invalid {0}: {1}")]
    Invalid(&'static str, String),
    #[error("no such key")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

fn require_admin(context: &TenantContext) -> Result<(), KeyError> {
    if context.role.may(Permission::EditSettings) && !context.read_only {
        Ok(())
    } else {
        Err(KeyError::NotAdmin)
    }
}

/// Creates a key (audited as `api_key.created`) and returns its secret.
pub async fn create(
    pool: &AppPool,
    context: TenantContext,
    key: &NewKey,
) -> Result<CreatedKey, KeyError> {
    require_admin(&context)?;
    let name = key.name.trim();
    if name.is_empty() {
        return Err(KeyError::Invalid("name", "Give the key a name.".into()));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(KeyError::Invalid(
            "name",
            format!("At most {MAX_NAME_CHARS} characters."),
        ));
    }
    if key.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(KeyError::Invalid(
            "expires_at",
            "The expiry must be in the future.".into(),
        ));
    }
    let secret = Secret::generate();
    let hint: String = secret.as_str().chars().skip(39).collect();
    let id = ApiKeyId::new();
    let mut tx = pool.begin(context).await?;
    // The workspace and the creator come from the context, and the function writes the audit
    // entry too (migration 0060).
    sqlx::query!(
        "select aura.create_api_key($1, $2, $3, $4, $5, $6)",
        id as ApiKeyId,
        name,
        key.role as KeyRole,
        secret.sha256(),
        hint,
        key.expires_at,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(CreatedKey {
        id,
        secret: format!("{PREFIX}{}", secret.as_str()),
    })
}

/// The workspace's keys, newest first (a workspace has a handful: one page).
///
/// Plan (as `aura_app` with an admin's context): an index scan of `api_keys_list_idx` on
/// `tenant_id`, each creator an index probe of `users_pkey`.
pub async fn list(pool: &AppPool, context: TenantContext) -> Result<Vec<KeySummary>, KeyError> {
    require_admin(&context)?;
    let mut tx = pool.begin(context).await?;
    let keys = sqlx::query_as!(
        KeySummary,
        r#"select k.id as "id: ApiKeyId", k.name, k.role as "role: KeyRole", k.hint,
                  k.created_at, u.display_name as "created_by?", k.expires_at, k.revoked_at,
                  k.last_used_at, host(k.last_used_from) as last_used_from
           from api_keys k left join users u on u.id = k.created_by
           where k.tenant_id = $1
           order by k.created_at desc, k.id desc"#,
        context.tenant_id.as_uuid(),
    )
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?;
    Ok(keys)
}

/// Revokes a key at once (audited as `api_key.revoked`); revoking a revoked key changes nothing.
pub async fn revoke(pool: &AppPool, context: TenantContext, id: ApiKeyId) -> Result<(), KeyError> {
    require_admin(&context)?;
    let mut tx = pool.begin(context).await?;
    let revoked = sqlx::query_scalar!(
        "update api_keys set revoked_at = now(), revoked_by = $3
         where tenant_id = $1 and id = $2 and revoked_at is null
         returning name",
        context.tenant_id.as_uuid(),
        id as ApiKeyId,
        context.user_id as UserId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    let Some(name) = revoked else {
        let exists = sqlx::query_scalar!(
            r#"select exists (select 1 from api_keys where tenant_id = $1 and id = $2) as "exists!""#,
            context.tenant_id.as_uuid(),
            id as ApiKeyId,
        )
        .fetch_one(tx.conn())
        .await
        .map_err(DbError::from)?;
        return if exists {
            Ok(())
        } else {
            Err(KeyError::NotFound)
        };
    };
    audit::record(
        &mut tx,
        "api_key.revoked",
        "api_key",
        id.as_uuid(),
        None,
        Some(serde_json::json!({ "name": name })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What a presented key amounts to on a workspace's host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// A live key of this workspace: the context its requests run in.
    Valid(TenantContext),
    /// A key this host refuses that names a real key: another workspace's, revoked or expired.
    /// The attempt belongs in this workspace's audit log ([`record_refused`]).
    Refused { other_workspace: bool },
    /// Not a key at all, or no key of any workspace.
    Unknown,
}

/// Checks `presented` (the bearer value, prefix included) on `tenant`'s host, and notes the
/// key's last use from `from`.
pub async fn authenticate(
    pool: &AppPool,
    tenant: TenantId,
    presented: &str,
    from: IpAddr,
) -> Result<KeyCheck, DbError> {
    let Some(secret) = presented.strip_prefix(PREFIX).and_then(Secret::parse) else {
        return Ok(KeyCheck::Unknown);
    };
    let mut tx = pool.begin_tenant_scope(tenant).await?;
    let found = sqlx::query!(
        r#"select state as "state!", user_id as "user_id: UserId", role as "role: KeyRole"
           from aura.use_api_key($1, $2::text::inet)"#,
        secret.sha256(),
        from.to_canonical().to_string(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(match found {
        None => KeyCheck::Unknown,
        Some(key) => match (key.state.as_str(), key.user_id, key.role) {
            ("valid", Some(user), Some(role)) => KeyCheck::Valid(role.context(tenant, user)),
            (state, ..) => KeyCheck::Refused {
                other_workspace: state == "other_workspace",
            },
        },
    })
}

/// Writes the refusal of `presented` on `tenant`'s host to that workspace's audit log (F5.6),
/// in a transaction of its own. See `aura.record_refused_api_key`.
pub async fn record_refused(
    pool: &AppPool,
    tenant: TenantId,
    presented: &str,
) -> Result<(), DbError> {
    let Some(secret) = presented.strip_prefix(PREFIX).and_then(Secret::parse) else {
        return Ok(());
    };
    let mut tx = pool.begin_tenant_scope(tenant).await?;
    sqlx::query!("select aura.record_refused_api_key($1)", secret.sha256())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
