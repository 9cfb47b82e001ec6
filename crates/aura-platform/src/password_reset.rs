//! Resetting a forgotten password by an emailed, single-use link (F2.3). Setting the new
//! password signs the account out everywhere: every session, refresh token and access token
//! issued before it stops working.

use std::time::Duration;

use uuid::Uuid;

use crate::auth::Secret;
use crate::db::{set_context, AppPool, DbError};
use crate::ids::UserId;
use crate::outbox::{self, QueuedEmail};
use crate::password;

pub const LINK_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// A reset link's secret part: `<user id>.<secret>`.
#[derive(Debug, Clone)]
pub struct ResetToken {
    user_id: UserId,
    secret: Secret,
}

impl ResetToken {
    pub fn parse(value: &str) -> Option<Self> {
        let (user, secret) = value.split_once('.')?;
        Some(Self {
            user_id: UserId::from(user.parse::<Uuid>().ok()?),
            secret: Secret::parse(secret)?,
        })
    }

    fn to_link_part(&self) -> String {
        format!("{}.{}", self.user_id, self.secret.as_str())
    }
}

/// Queues a reset link for `email` if it has an account; does nothing otherwise. The caller says
/// the same either way, so the form tells no one whether an email is registered.
/// `link_base` is the apex's address. Returns the message for the mailer, if one was written.
pub async fn request(
    pool: &AppPool,
    email: &str,
    link_base: &str,
) -> Result<Option<QueuedEmail>, DbError> {
    let mut tx = pool.begin_unscoped().await?;
    let account = sqlx::query_scalar!(
        r#"select id as "id!: UserId" from aura.apex_login_candidate($1)"#,
        email.trim()
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user) = account else {
        return Ok(None);
    };
    set_context(&mut tx, None, Some(user), None).await?;
    let token = ResetToken {
        user_id: user,
        secret: Secret::generate(),
    };
    sqlx::query!(
        "insert into password_resets (user_id, token_hash, expires_at)
         values ($1, $2, now() + make_interval(secs => $3))",
        user as UserId,
        token.secret.sha256(),
        LINK_LIFETIME.as_secs_f64(),
    )
    .execute(&mut *tx)
    .await?;
    let link = format!(
        "{}/password-reset/{}",
        link_base.trim_end_matches('/'),
        token.to_link_part()
    );
    let to = sqlx::query_scalar!("select email from users where id = $1", user as UserId)
        .fetch_one(&mut *tx)
        .await?;
    let body = format!(
        "Someone asked to reset the password of your Aura account.\n\n\
         To choose a new password, open this link within the hour (it works once):\n{link}\n\n\
         If it was not you, ignore this message: your password stays as it is.\n"
    );
    let message = outbox::enqueue(
        &mut tx,
        user,
        &to,
        "Reset your Aura password",
        &body,
        token.secret.as_str(),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(message))
}

/// Whether `token` is an open reset link (unused, unexpired).
pub async fn is_open(pool: &AppPool, token: &ResetToken) -> Result<bool, DbError> {
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(token.user_id), None).await?;
    let open = sqlx::query_scalar!(
        r#"select exists (select 1 from password_resets
                          where user_id = $1 and token_hash = $2 and used_at is null
                            and expires_at > now()) as "open!""#,
        token.user_id as UserId,
        token.secret.sha256(),
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(open)
}

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("the link has been used or has expired")]
    Gone,
    #[error("the password is not acceptable")]
    WeakPassword(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Sets the new password through the link (once), unlocks the account, and signs it out
/// everywhere. Every other open link of the account dies with it.
pub async fn complete(
    pool: &AppPool,
    token: &ResetToken,
    new_password: &str,
) -> Result<(), ResetError> {
    // Password work waits for its turn before it takes a connection (`password::turn`).
    let _turn = password::turn().await;
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(token.user_id), None).await?;
    let used = sqlx::query!(
        "update password_resets set used_at = now()
         where user_id = $1 and token_hash = $2 and used_at is null and expires_at > now()",
        token.user_id as UserId,
        token.secret.sha256(),
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    if used.rows_affected() == 0 {
        return Err(ResetError::Gone);
    }
    // The account's own words, which a guesser tries first (as at signup).
    let account = sqlx::query!(
        r#"select u.email, u.display_name,
                  (select s.company_name from signups s where s.user_id = u.id) as company
           from users u where u.id = $1"#,
        token.user_id as UserId,
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(DbError::from)?;
    let related = [
        account.email.as_str(),
        account.display_name.as_str(),
        account.company.as_deref().unwrap_or_default(),
    ];
    // Refused, the transaction rolls back and the link stays open for a better password.
    if let Some(problem) = password::weakness(new_password, &related) {
        return Err(ResetError::WeakPassword(problem));
    }
    sqlx::query!(
        "update password_resets set used_at = now() where user_id = $1 and used_at is null",
        token.user_id as UserId,
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    let plaintext = new_password.to_owned();
    let hash = password::off_executor(move || password::hash(&plaintext)).await;
    sqlx::query!(
        "update users set password_hash = $2, sessions_valid_after = now(),
                version = version + 1, updated_at = now()
         where id = $1",
        token.user_id as UserId,
        hash,
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    sqlx::query!(
        "delete from login_failures where user_id = $1",
        token.user_id as UserId
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}
