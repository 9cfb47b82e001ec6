//! Signing in with email and password, and the browser sessions that follow: on a workspace's
//! host ([`workspace`], inside that tenant) and on the apex ([`apex`], for platform operators and
//! users who have no workspace yet).

pub mod apex;
pub mod api;
pub mod handoff;
mod workspace;

pub(crate) use workspace::open_session;
pub use workspace::{authenticate, log_in, log_out, SignedIn};

use std::net::IpAddr;
use std::time::Duration;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use sqlx::{Postgres, Transaction};

use crate::db::{set_context, AppPool, DbError};
use crate::ids::UserId;
use crate::password;

/// Failed attempts from one place after which the account is locked there for [`LOCKOUT`],
/// doubled at every further failure up to [`MAX_LOCKOUT`].
pub const MAX_FAILED_LOGINS: i32 = 5;
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
pub const MAX_LOCKOUT: Duration = Duration::from_secs(24 * 60 * 60);
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

    pub(crate) fn sha256(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)") // never in logs
    }
}

/// Where a sign-in attempt comes from: an IPv4 address, or an IPv6 address's /64 (one
/// subscriber's network). Failures lock an account for their source only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSource(String);

impl From<IpAddr> for LoginSource {
    fn from(address: IpAddr) -> Self {
        Self(match address.to_canonical() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !(u128::MAX >> 64);
                format!("{}/64", std::net::Ipv6Addr::from(network))
            }
        })
    }
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

/// What checking a password needs to know about the account an email names.
pub(crate) struct Candidate {
    pub(crate) id: UserId,
    pub(crate) password_hash: Option<String>,
    /// Deactivated where the sign-in happens: the password may be right, the door stays shut.
    pub(crate) barred: bool,
}

/// The account `email` names, through the narrow lookup that answers before anyone is known
/// (the only way `aura_app` reaches a password hash).
pub(crate) async fn candidate_by_email(
    tx: &mut Transaction<'static, Postgres>,
    email: &str,
) -> Result<Option<Candidate>, DbError> {
    let candidate = sqlx::query!(
        r#"select id as "id!: UserId", password_hash from aura.apex_login_candidate($1)"#,
        email
    )
    .fetch_optional(&mut **tx)
    .await?
    .map(|row| Candidate {
        id: row.id,
        password_hash: row.password_hash,
        barred: false,
    });
    Ok(candidate)
}

/// Checks a signed-in user's password again (re-authentication before a sensitive operation)
/// exactly as a sign-in from `source` does: a failure counts toward the lockout there, and a
/// locked account is refused.
pub async fn confirm_password(
    pool: &AppPool,
    user: UserId,
    password: &str,
    source: &LoginSource,
) -> Result<(), LoginError> {
    // Password work waits for its turn before it takes a connection (`password::turn`).
    let _turn = password::turn().await;
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(user), None).await?;
    let email = sqlx::query_scalar!("select email from users where id = $1", user as UserId)
        .fetch_one(&mut *tx)
        .await
        .map_err(DbError::from)?;
    let candidate = candidate_by_email(&mut tx, &email)
        .await?
        .filter(|candidate| candidate.id == user);
    let (tx, _) = check_password(tx, candidate, password, source).await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}

/// Verifies `password` for `candidate`, or with no candidate against a throwaway hash, so the
/// time taken does not tell whether the email has an account. A failure counts toward the
/// lockout at `source` (committed at once); success resets that count and hands the
/// transaction back, with the user in context, for the caller to open a session in.
pub(crate) async fn check_password(
    mut tx: Transaction<'static, Postgres>,
    candidate: Option<Candidate>,
    password: &str,
    source: &LoginSource,
) -> Result<(Transaction<'static, Postgres>, UserId), LoginError> {
    let stored_hash = candidate
        .as_ref()
        .and_then(|c| c.password_hash.clone())
        .unwrap_or_else(|| UNKNOWN_ACCOUNT_HASH.clone());
    let attempt = password.to_owned();
    let matches = password::off_executor(move || password::verify(&attempt, &stored_hash)).await;

    let Some(user) = candidate else {
        return Err(LoginError::Rejected);
    };
    // The user's own failure counts may now be read and written.
    set_context(&mut tx, None, Some(user.id), None).await?;
    if !matches {
        sqlx::query!(
            "insert into login_failures as f (user_id, source, failures, last_failed_at)
             values ($1, $2, 1, now())
             on conflict (user_id, source) do update
             set failures = f.failures + 1, last_failed_at = excluded.last_failed_at,
                 locked_until = case when f.failures + 1 >= $3
                     then excluded.last_failed_at + make_interval(
                         secs => least($4 * power(2, f.failures + 1 - $3), $5)) end",
            user.id as UserId,
            source.0,
            MAX_FAILED_LOGINS,
            LOCKOUT.as_secs_f64(),
            MAX_LOCKOUT.as_secs_f64(),
        )
        .execute(&mut *tx)
        .await
        .map_err(DbError::from)?;
        tx.commit().await.map_err(DbError::from)?;
        return Err(LoginError::Rejected);
    }
    let locked = sqlx::query_scalar!(
        r#"select exists (select 1 from login_failures
                          where user_id = $1 and source = $2 and locked_until > now()) as "locked!""#,
        user.id as UserId,
        source.0,
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(DbError::from)?;
    if locked || user.barred {
        return Err(LoginError::Rejected);
    }
    sqlx::query!(
        "delete from login_failures where user_id = $1 and source = $2",
        user.id as UserId,
        source.0,
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    Ok((tx, user.id))
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

    #[test]
    fn an_ipv6_source_is_its_64_network() {
        let source = |text: &str| LoginSource::from(text.parse::<IpAddr>().unwrap());
        assert_eq!(source("203.0.113.7"), LoginSource("203.0.113.7".into()));
        assert_eq!(source("::ffff:203.0.113.7"), source("203.0.113.7"));
        assert_eq!(
            source("2001:db8:1:2:aaaa::1"),
            LoginSource("2001:db8:1:2::/64".into())
        );
        assert_eq!(source("2001:db8:1:2::9"), source("2001:db8:1:2:ffff::1"));
        assert_ne!(source("2001:db8:1:2::9"), source("2001:db8:1:3::9"));
    }
}
