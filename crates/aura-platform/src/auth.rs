//! Signing in to a tenant's workspace with email and password, and the browser sessions that
//! follow. Everything here runs inside the tenant named by the request's host, so an account,
//! a membership or a session of another tenant simply does not exist for it.

use std::time::Duration;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::{set_context, AppPool, DbError, TenantContext};
use crate::ids::{MemberRole, TenantId, UserId};
use crate::password;

/// Failed attempts after which an account is locked for [`LOCKOUT`].
pub const MAX_FAILED_LOGINS: i32 = 5;
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// A session unused this long is over (F2.5).
pub const SESSION_IDLE_LIMIT: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// `last_seen_at` is refreshed at most this often, so reads do not each cost a write.
const LAST_SEEN_GRANULARITY: Duration = Duration::from_secs(5 * 60);

/// A random 256-bit secret, URL-safe base64: a session cookie's value or a CSRF token.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts a value presented by a client only if it has the shape of one we issued.
    pub fn parse(value: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        (bytes.len() == 32).then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn sha256(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)") // never in logs
    }
}

/// Who a valid session belongs to.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session_id: Uuid,
    pub context: TenantContext,
    pub display_name: String,
    pub email: String,
    /// Must accompany every state-changing form this session submits.
    pub csrf_token: String,
    /// The session was used after a pause, and its cookie should be re-issued to extend it.
    pub refreshed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong email or password, a locked account, or a deactivated membership: one answer for
    /// all, so the response does not tell whether an email has an account here.
    #[error("the email or password is wrong, or the account is temporarily locked")]
    Rejected,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Signs `email` in to `tenant` if `password` matches, opening a new session (a fresh secret at
/// every sign-in). Failed attempts count toward a temporary lockout.
pub async fn log_in(
    pool: &AppPool,
    tenant: TenantId,
    email: &str,
    password: &str,
) -> Result<(Secret, SignedIn), LoginError> {
    let mut tx = pool.begin_tenant_scope(tenant).await?;
    let candidate = sqlx::query!(
        r#"select u.id as "id: UserId", u.password_hash, u.display_name, u.email,
                  coalesce(u.locked_until > now(), false) as "locked!",
                  m.role as "role: MemberRole", m.deactivated_at is not null as "deactivated!"
           from tenant_members m
           join users u on u.id = m.user_id
           where m.tenant_id = $1 and u.email_norm = lower($2)"#,
        tenant.as_uuid(),
        email.trim(),
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(DbError::from)?;

    // Verify against a real hash even when there is no account, so timing tells nothing.
    let stored_hash = candidate
        .as_ref()
        .and_then(|c| c.password_hash.clone())
        .unwrap_or_else(|| UNKNOWN_ACCOUNT_HASH.clone());
    let attempt = password.to_owned();
    let matches = tokio::task::spawn_blocking(move || password::verify(&attempt, &stored_hash))
        .await
        .unwrap_or(false);

    let Some(user) = candidate else {
        return Err(LoginError::Rejected);
    };
    // The user's own row may now be updated: the failure count, or its reset.
    set_context(&mut tx, None, Some(user.id), None).await?;
    if !matches {
        sqlx::query!(
            "update users set failed_logins = failed_logins + 1,
                 locked_until = case when failed_logins + 1 >= $2
                                     then now() + make_interval(secs => $3) end
             where id = $1",
            user.id as UserId,
            MAX_FAILED_LOGINS,
            LOCKOUT.as_secs_f64(),
        )
        .execute(&mut *tx)
        .await
        .map_err(DbError::from)?;
        tx.commit().await.map_err(DbError::from)?;
        return Err(LoginError::Rejected);
    }
    if user.locked || user.deactivated {
        return Err(LoginError::Rejected);
    }

    sqlx::query!(
        "update users set failed_logins = 0, locked_until = null where id = $1",
        user.id as UserId
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    let token = Secret::generate();
    let csrf_token = Secret::generate().as_str().to_owned();
    let session_id = sqlx::query_scalar!(
        "insert into tenant_sessions (tenant_id, token_hash, user_id, csrf_token)
         values ($1, $2, $3, $4) returning id",
        tenant.as_uuid(),
        token.sha256(),
        user.id as UserId,
        csrf_token,
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(DbError::from)?;
    tx.commit().await.map_err(DbError::from)?;

    let signed_in = SignedIn {
        session_id,
        context: TenantContext {
            tenant_id: tenant,
            user_id: user.id,
            role: user.role,
        },
        display_name: user.display_name,
        email: user.email,
        csrf_token,
        refreshed: false,
    };
    Ok((token, signed_in))
}

/// The session `token` opens in `tenant`, if it exists, has not been idle too long, and its
/// member is still active: a deactivated member is out at their next request.
pub async fn authenticate(
    pool: &AppPool,
    tenant: TenantId,
    token: &Secret,
) -> Result<Option<SignedIn>, DbError> {
    let mut tx = pool.begin_tenant_scope(tenant).await?;
    let session = sqlx::query!(
        r#"select s.id, s.csrf_token, u.id as "user_id: UserId", u.display_name, u.email,
                  m.role as "role: MemberRole",
                  s.last_seen_at < now() - make_interval(secs => $4) as "stale!"
           from tenant_sessions s
           join tenant_members m on m.tenant_id = s.tenant_id and m.user_id = s.user_id
           join users u on u.id = s.user_id
           where s.tenant_id = $1 and s.token_hash = $2
             and m.deactivated_at is null
             and s.last_seen_at > now() - make_interval(secs => $3)"#,
        tenant.as_uuid(),
        token.sha256(),
        SESSION_IDLE_LIMIT.as_secs_f64(),
        LAST_SEEN_GRANULARITY.as_secs_f64(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(session) = session else {
        return Ok(None);
    };
    if session.stale {
        sqlx::query!(
            "update tenant_sessions set last_seen_at = now() where tenant_id = $1 and id = $2",
            tenant.as_uuid(),
            session.id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(Some(SignedIn {
        session_id: session.id,
        context: TenantContext {
            tenant_id: tenant,
            user_id: session.user_id,
            role: session.role,
        },
        display_name: session.display_name,
        email: session.email,
        csrf_token: session.csrf_token,
        refreshed: session.stale,
    }))
}

/// Ends the session.
pub async fn log_out(pool: &AppPool, signed_in: &SignedIn) -> Result<(), DbError> {
    let mut tx = pool.begin(signed_in.context).await?;
    sqlx::query!(
        "delete from tenant_sessions where tenant_id = $1 and id = $2",
        signed_in.context.tenant_id.as_uuid(),
        signed_in.session_id
    )
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// A hash of a random password, verified against when an email has no account here.
static UNKNOWN_ACCOUNT_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| password::hash(Secret::generate().as_str()));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_foreign_values_are_refused() {
        let secret = Secret::generate();
        assert_eq!(Secret::parse(secret.as_str()), Some(secret.clone()));
        assert_ne!(Secret::generate(), secret);
        for forged in ["", "short", "not base64 !!", &"A".repeat(200)] {
            assert_eq!(Secret::parse(forged), None, "{forged}");
        }
        assert_eq!(format!("{secret:?}"), "Secret(..)");
    }
}
