//! Sessions on the apex domain: platform operators, and users who signed up and have no
//! workspace yet. No tenant is in context here; the user is. The cookie carries
//! `<user id>.<secret>`: the id only chooses whose sessions the row policy lets the lookup see,
//! and the secret's hash must still match one of them.

use uuid::Uuid;

use super::{
    candidate_by_email, check_password, LoginError, LoginSource, Secret, LAST_SEEN_GRANULARITY,
    SESSION_IDLE_LIMIT,
};
use crate::db::{set_context, AppPool, DbError};
use crate::ids::UserId;

/// The apex session cookie's value.
#[derive(Debug, Clone)]
pub struct ApexToken {
    user_id: UserId,
    secret: Secret,
}

impl ApexToken {
    pub fn parse(value: &str) -> Option<Self> {
        let (user, secret) = value.split_once('.')?;
        Some(Self {
            user_id: UserId::from(user.parse::<Uuid>().ok()?),
            secret: Secret::parse(secret)?,
        })
    }

    pub fn cookie_value(&self) -> String {
        format!("{}.{}", self.user_id, self.secret.as_str())
    }
}

/// Who a valid apex session belongs to.
#[derive(Debug, Clone)]
pub struct ApexSignedIn {
    pub session_id: Uuid,
    pub user_id: UserId,
    pub display_name: String,
    pub email: String,
    pub is_platform_admin: bool,
    /// The user's own time zone, chosen in a workspace's preferences; `None`: not chosen.
    pub time_zone: Option<String>,
    pub csrf_token: String,
    /// The session was used after a pause, and its cookie should be re-issued to extend it.
    pub refreshed: bool,
}

/// Signs `email` in on the apex if `password` matches, with the same lockout as workspaces.
pub async fn log_in(
    pool: &AppPool,
    email: &str,
    password: &str,
    source: &LoginSource,
) -> Result<(ApexToken, ApexSignedIn), LoginError> {
    // Password work waits for its turn before it takes a connection (`password::turn`).
    let _turn = crate::password::turn().await;
    let mut tx = pool.begin_unscoped().await?;
    let candidate = candidate_by_email(&mut tx, email.trim()).await?;
    let (mut tx, user_id) = check_password(tx, candidate, password, source).await?;
    let opened = open_session(&mut tx, user_id).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(opened)
}

/// Opens an apex session for `user` (in context) inside `tx`, committed by the caller.
pub(crate) async fn open_session(
    tx: &mut sqlx::PgConnection,
    user_id: UserId,
) -> Result<(ApexToken, ApexSignedIn), DbError> {
    let secret = Secret::generate();
    let csrf_token = Secret::generate().as_str().to_owned();
    let session = sqlx::query!(
        r#"with opened as (
               insert into platform_sessions (user_id, token_hash, csrf_token)
               values ($1, $2, $3) returning id)
           select opened.id, u.display_name, u.email, u.is_platform_admin, u.time_zone
           from opened, users u where u.id = $1"#,
        user_id as UserId,
        secret.sha256(),
        csrf_token,
    )
    .fetch_one(tx)
    .await?;
    let signed_in = ApexSignedIn {
        session_id: session.id,
        user_id,
        display_name: session.display_name,
        email: session.email,
        is_platform_admin: session.is_platform_admin,
        time_zone: session.time_zone,
        csrf_token,
        refreshed: false,
    };
    Ok((ApexToken { user_id, secret }, signed_in))
}

/// The apex session `token` opens, if it exists and has not been idle too long.
pub async fn authenticate(
    pool: &AppPool,
    token: &ApexToken,
) -> Result<Option<ApexSignedIn>, DbError> {
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(token.user_id), None).await?;
    let session = sqlx::query!(
        r#"select s.id, u.display_name, u.email, u.is_platform_admin, u.time_zone, s.csrf_token,
                  s.last_seen_at < now() - make_interval(secs => $4) as "stale!"
           from platform_sessions s join users u on u.id = s.user_id
           where s.user_id = $1 and s.token_hash = $2
             and s.last_seen_at > now() - make_interval(secs => $3)
             and s.created_at > u.sessions_valid_after"#,
        token.user_id as UserId,
        token.secret.sha256(),
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
            "update platform_sessions set last_seen_at = now() where id = $1",
            session.id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(Some(ApexSignedIn {
        session_id: session.id,
        user_id: token.user_id,
        display_name: session.display_name,
        email: session.email,
        is_platform_admin: session.is_platform_admin,
        time_zone: session.time_zone,
        csrf_token: session.csrf_token,
        refreshed: session.stale,
    }))
}

/// Ends the session.
pub async fn log_out(pool: &AppPool, signed_in: &ApexSignedIn) -> Result<(), DbError> {
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(signed_in.user_id), None).await?;
    sqlx::query!(
        "delete from platform_sessions where id = $1",
        signed_in.session_id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
