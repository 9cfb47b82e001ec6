//! API clients (NFR-S1): a short-lived signed access token (JWT, HS256) carrying tenant, user
//! and role, and a single-use refresh token for the next one. The token's claims route a
//! request; membership and role are read from the database on every request, so a deactivated
//! or demoted member loses access at once, whatever their token says.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::workspace::verify_member;
use super::{LoginError, LoginSource, Secret};
use crate::db::{set_context, AppPool, DbError, TenantContext};
use crate::ids::{MemberRole, TenantId, UserId};

pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);
const ISSUER: &str = "aura";
/// Shortest signing secret accepted: HS256 keys need 256 bits.
pub const MIN_SECRET_BYTES: usize = 32;

/// The key access tokens are signed and checked with.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

#[derive(Debug, thiserror::Error)]
#[error("the token signing secret must be at least {MIN_SECRET_BYTES} bytes")]
pub struct WeakSecret;

impl TokenKeys {
    pub fn from_secret(secret: &[u8]) -> Result<Self, WeakSecret> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(WeakSecret);
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        })
    }

    /// A random key: tokens then last only as long as this process.
    pub fn generate() -> Self {
        Self::from_secret(Secret::generate().as_str().as_bytes())
            .expect("a generated secret is long enough")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    tenant_id: Uuid,
    role: MemberRole,
    /// Seconds since the epoch, with microseconds (RFC 7519 allows a fraction): a token issued
    /// just after a password change, in the same second, is still valid.
    iat: f64,
    exp: i64,
    iss: String,
}

/// What a client gets: the access token and its lifetime, and the refresh token.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in: Duration,
    pub refresh_token: String,
}

/// Exchanges a member's email and password for tokens (same checks and lockout as the web).
pub async fn issue(
    pool: &AppPool,
    keys: &TokenKeys,
    tenant: TenantId,
    email: &str,
    password: &str,
    source: &LoginSource,
) -> Result<Tokens, LoginError> {
    let (mut tx, member) = verify_member(pool, tenant, email, password, source).await?;
    let family = Uuid::new_v4();
    let tokens = mint(&mut tx, keys, tenant, member.user_id, member.role, family).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(tokens)
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is unknown, used, expired, or its member is deactivated")]
    Invalid,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Exchanges a refresh token for new tokens; the old one is spent. A spent one presented again
/// revokes its whole family (every token descended from the same sign-in): either its owner or
/// a thief holds the newer one, and the server cannot tell which.
pub async fn refresh(
    pool: &AppPool,
    keys: &TokenKeys,
    tenant: TenantId,
    refresh_token: &str,
) -> Result<Tokens, RefreshError> {
    let secret = Secret::parse(refresh_token).ok_or(RefreshError::Invalid)?;
    let mut tx = pool.begin_tenant_scope(tenant).await?;
    let spent = sqlx::query!(
        r#"update api_refresh_tokens r set used_at = now()
           from tenant_members m, users u
           where r.tenant_id = $1 and r.token_hash = $2 and r.used_at is null
             and r.revoked_at is null and r.expires_at > now()
             and m.tenant_id = r.tenant_id and m.user_id = r.user_id and m.deactivated_at is null
             and u.id = r.user_id and r.created_at > u.sessions_valid_after
           returning r.user_id as "user_id: UserId", m.role as "role: MemberRole", r.family_id"#,
        tenant.as_uuid(),
        secret.sha256(),
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(DbError::from)?;
    let Some(spent) = spent else {
        let reused = sqlx::query!(
            "update api_refresh_tokens set revoked_at = now()
             where tenant_id = $1 and revoked_at is null and family_id =
                 (select family_id from api_refresh_tokens
                  where tenant_id = $1 and token_hash = $2 and used_at is not null)",
            tenant.as_uuid(),
            secret.sha256(),
        )
        .execute(&mut *tx)
        .await
        .map_err(DbError::from)?;
        if reused.rows_affected() > 0 {
            tracing::warn!(tenant = %tenant.as_uuid(), "a spent refresh token was replayed; its family is revoked");
            tx.commit().await.map_err(DbError::from)?;
        }
        return Err(RefreshError::Invalid);
    };
    set_context(&mut tx, None, Some(spent.user_id), Some(spent.role)).await?;
    let tokens = mint(
        &mut tx,
        keys,
        tenant,
        spent.user_id,
        spent.role,
        spent.family_id,
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(tokens)
}

/// What an access token presented on `tenant`'s host amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// An active member of the tenant, as the database says now.
    Member(TenantContext),
    /// A genuine token of another workspace: its user tried this one (F5.6 records it).
    OtherWorkspace { user: UserId, tenant: TenantId },
    /// A bad signature, an expired token, a member no longer active, or a token issued before
    /// its user's password changed.
    Refused,
}

/// Checks an access token presented on `tenant`'s host against the database.
pub async fn authenticate(
    pool: &AppPool,
    keys: &TokenKeys,
    tenant: TenantId,
    token: &str,
) -> Result<TokenCheck, DbError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.leeway = 0;
    let Ok(decoded) = jsonwebtoken::decode::<Claims>(token, &keys.decoding, &validation) else {
        return Ok(TokenCheck::Refused);
    };
    if decoded.claims.tenant_id != tenant.as_uuid() {
        return Ok(TokenCheck::OtherWorkspace {
            user: UserId::from(decoded.claims.sub),
            tenant: TenantId::from(decoded.claims.tenant_id),
        });
    }
    let user = UserId::from(decoded.claims.sub);
    let mut tx = pool.begin_tenant_scope(tenant).await?;
    let role = sqlx::query_scalar!(
        r#"select m.role as "role: MemberRole" from tenant_members m join users u on u.id = m.user_id
           where m.tenant_id = $1 and m.user_id = $2 and m.deactivated_at is null
             and to_timestamp($3) >= u.sessions_valid_after"#,
        tenant.as_uuid(),
        user as UserId,
        decoded.claims.iat,
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(role.map_or(TokenCheck::Refused, |role| {
        TokenCheck::Member(TenantContext {
            tenant_id: tenant,
            user_id: user,
            role,
            read_only: false,
        })
    }))
}

/// Signs an access token and stores a new refresh token of `family`, in `tx`.
async fn mint(
    tx: &mut sqlx::PgConnection,
    keys: &TokenKeys,
    tenant: TenantId,
    user: UserId,
    role: MemberRole,
    family: Uuid,
) -> Result<Tokens, DbError> {
    let now = chrono::Utc::now();
    let claims = Claims {
        sub: user.as_uuid(),
        tenant_id: tenant.as_uuid(),
        role,
        iat: now.timestamp_micros() as f64 / 1e6,
        exp: now.timestamp() + ACCESS_TOKEN_LIFETIME.as_secs() as i64,
        iss: ISSUER.to_owned(),
    };
    let access_token =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)
            .expect("HS256 signing with a valid key does not fail");
    let refresh = Secret::generate();
    sqlx::query!(
        "insert into api_refresh_tokens (tenant_id, user_id, token_hash, expires_at, family_id)
         values ($1, $2, $3, now() + make_interval(secs => $4), $5)",
        tenant.as_uuid(),
        user as UserId,
        refresh.sha256(),
        REFRESH_TOKEN_LIFETIME.as_secs_f64(),
        family,
    )
    .execute(tx)
    .await?;
    Ok(Tokens {
        access_token,
        expires_in: ACCESS_TOKEN_LIFETIME,
        refresh_token: refresh.as_str().to_owned(),
    })
}
