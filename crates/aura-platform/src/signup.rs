//! Signing up before any tenant exists (F1.1-F1.3): a prospect becomes a user with no
//! membership, plus a request for a workspace that operators take through contract and approval
//! once the prospect has proved their email address by an emailed link.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::apex::{self, ApexSignedIn, ApexToken};
use crate::auth::Secret;
use crate::db::{set_context, AppPool, DbError};
use crate::ids::{Email, UserId};
use crate::outbox::{self, QueuedEmail};
use crate::password;

pub const VERIFICATION_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// What the signup form sends, as typed.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct SignupInput {
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub company_name: String,
    #[serde(default)]
    pub password: String,
}

/// A signup that passed validation.
#[derive(Debug)]
pub struct NewSignup {
    display_name: String,
    email: Email,
    company_name: String,
    password: String,
}

/// Each field's problem, in the form's order, worded for the person filling it in.
pub type FieldErrors = Vec<(&'static str, String)>;

impl SignupInput {
    pub fn validate(&self) -> Result<NewSignup, FieldErrors> {
        let mut errors = FieldErrors::new();
        let display_name = self.display_name.trim();
        if display_name.is_empty() {
            errors.push(("display_name", "Enter your name.".into()));
        } else if display_name.chars().count() > 200 {
            errors.push((
                "display_name",
                "Your name can be at most 200 characters.".into(),
            ));
        }
        let email = match self.email.parse::<Email>() {
            Ok(email) => Some(email),
            Err(_) if self.email.trim().is_empty() => {
                errors.push(("email", "Enter your work email address.".into()));
                None
            }
            Err(_) => {
                errors.push((
                    "email",
                    "Enter an email address like name@company.com.".into(),
                ));
                None
            }
        };
        let company_name = self.company_name.trim();
        if company_name.is_empty() {
            errors.push(("company_name", "Enter your company's name.".into()));
        } else if company_name.chars().count() > 200 {
            errors.push((
                "company_name",
                "The company name can be at most 200 characters.".into(),
            ));
        }
        let related = [self.email.as_str(), display_name, company_name];
        if let Some(problem) = password::weakness(&self.password, &related) {
            errors.push(("password", problem));
        }
        match (errors.is_empty(), email) {
            (true, Some(email)) => Ok(NewSignup {
                display_name: display_name.to_owned(),
                email,
                company_name: company_name.to_owned(),
                password: self.password.clone(),
            }),
            _ => Err(errors),
        }
    }
}

/// A verification link's secret part: `<user id>.<secret>`.
#[derive(Debug, Clone)]
pub struct VerificationToken {
    user_id: UserId,
    secret: Secret,
}

impl VerificationToken {
    pub fn parse(value: &str) -> Option<Self> {
        let (user, secret) = value.split_once('.')?;
        Some(Self {
            user_id: UserId::from(user.parse::<Uuid>().ok()?),
            secret: Secret::parse(secret)?,
        })
    }
}

/// Creates the user (with no membership: "pre-tenant"), their workspace request and the link
/// that verifies their email, in one transaction with the new user in context, so the row
/// policies check even this. An email that already has an account gets nothing: the caller
/// answers alike either way (and before this runs, so its time tells nothing either).
/// `link_base` is the apex's address. Returns the message for the mailer, if one was written.
pub async fn sign_up(
    pool: &AppPool,
    signup: &NewSignup,
    link_base: &str,
) -> Result<Option<QueuedEmail>, DbError> {
    let user_id = UserId::new();
    let plaintext = signup.password.clone();
    let turn = password::turn().await;
    let password_hash = password::off_executor(move || password::hash(&plaintext)).await;
    drop(turn);
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(user_id), None).await?;
    let inserted = sqlx::query!(
        "select aura.create_account($1, $2, $3, $4)",
        user_id as UserId,
        signup.email.as_str(),
        signup.display_name,
        password_hash,
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from);
    match inserted {
        Err(err) if err.unique_violation() == Some("users_email_norm_key") => return Ok(None),
        other => other?,
    };
    sqlx::query!(
        "insert into signups (user_id, company_name) values ($1, $2)",
        user_id as UserId,
        signup.company_name,
    )
    .execute(&mut *tx)
    .await?;
    let secret = Secret::generate();
    sqlx::query!(
        "insert into email_verifications (user_id, token_hash, expires_at)
         values ($1, $2, now() + make_interval(secs => $3))",
        user_id as UserId,
        secret.sha256(),
        VERIFICATION_LIFETIME.as_secs_f64(),
    )
    .execute(&mut *tx)
    .await?;
    let link = format!(
        "{}/signup/verify/{user_id}.{}",
        link_base.trim_end_matches('/'),
        secret.as_str()
    );
    let body = format!(
        "Welcome to Aura, {name}.\n\n\
         To confirm that this address is yours, open this link within a day (it works once and\n\
         signs you in):\n{link}\n\n\
         Our team can activate the workspace for {company} only once you have.\n\
         If you did not sign up, ignore this message.\n",
        name = signup.display_name,
        company = signup.company_name,
    );
    let message = outbox::enqueue(
        &mut tx,
        user_id,
        signup.email.as_str(),
        "Confirm your email for Aura",
        &body,
        secret.as_str(),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(message))
}

/// Verifies the email of the account `token` names (once, unexpired) and signs it in: the
/// link proved the address, as a password-reset link would. `None` for a dead link.
pub async fn verify_email(
    pool: &AppPool,
    token: &VerificationToken,
) -> Result<Option<(ApexToken, ApexSignedIn)>, DbError> {
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(token.user_id), None).await?;
    let verified = sqlx::query!(
        "update email_verifications set verified_at = now()
         where user_id = $1 and token_hash = $2 and verified_at is null and expires_at > now()",
        token.user_id as UserId,
        token.secret.sha256(),
    )
    .execute(&mut *tx)
    .await?;
    if verified.rows_affected() == 0 {
        return Ok(None);
    }
    let opened = apex::open_session(&mut tx, token.user_id).await?;
    tx.commit().await?;
    Ok(Some(opened))
}

/// Where a workspace request stands. Mirrors `aura.signup_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "aura.signup_status", rename_all = "snake_case")]
pub enum SignupStatus {
    /// Signed up; the contract is not signed yet.
    Prospect,
    /// Contract signed; waiting for an operator's approval.
    Pending,
    /// The workspace exists.
    Activated,
}

impl SignupStatus {
    pub fn label(self) -> &'static str {
        match self {
            SignupStatus::Prospect => "Awaiting contract",
            SignupStatus::Pending => "Contract signed, awaiting activation",
            SignupStatus::Activated => "Activated",
        }
    }
}

/// A workspace request as its owner or an operator sees it.
#[derive(Debug, Clone)]
pub struct Signup {
    pub id: uuid::Uuid,
    pub company_name: String,
    pub status: SignupStatus,
    pub requested_by: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
    /// The workspace's subdomain, once activated.
    pub workspace_slug: Option<String>,
    /// The requester opened the link sent to their email (needed before activation).
    pub email_verified: bool,
}

/// The user's own workspace request, if they made one.
pub async fn own(pool: &AppPool, user: UserId) -> Result<Option<Signup>, DbError> {
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(user), None).await?;
    let row = sqlx::query_as!(
        Signup,
        r#"select s.id, s.company_name, s.status as "status: SignupStatus",
                  u.display_name as requested_by, u.email, s.created_at, s.workspace_slug,
                  exists (select 1 from email_verifications v
                          where v.user_id = s.user_id and v.verified_at is not null)
                      as "email_verified!"
           from signups s join users u on u.id = s.user_id
           where s.user_id = $1"#,
        user as UserId
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row)
}

/// One workspace request, if `viewer` may see it (its requester, or an operator).
pub async fn by_id(
    pool: &AppPool,
    viewer: UserId,
    id: uuid::Uuid,
) -> Result<Option<Signup>, DbError> {
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(viewer), None).await?;
    let row = sqlx::query_as!(
        Signup,
        r#"select s.id, s.company_name, s.status as "status: SignupStatus",
                  u.display_name as requested_by, u.email, s.created_at, s.workspace_slug,
                  exists (select 1 from email_verifications v
                          where v.user_id = s.user_id and v.verified_at is not null)
                      as "email_verified!"
           from signups s join users u on u.id = s.user_id
           where s.id = $1"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row)
}

/// The most recent workspace requests, newest first, for a platform operator (the policy shows
/// anyone else only their own). At most `limit` (1-100).
pub async fn recent(pool: &AppPool, operator: UserId, limit: i64) -> Result<Vec<Signup>, DbError> {
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(operator), None).await?;
    let rows = sqlx::query_as!(
        Signup,
        r#"select s.id, s.company_name, s.status as "status: SignupStatus",
                  u.display_name as requested_by, u.email, s.created_at, s.workspace_slug,
                  exists (select 1 from email_verifications v
                          where v.user_id = s.user_id and v.verified_at is not null)
                      as "email_verified!"
           from signups s join users u on u.id = s.user_id
           order by s.created_at desc, s.id desc
           limit $1"#,
        limit.clamp(1, 100)
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SignupInput {
        SignupInput {
            display_name: "Pat Prospect".into(),
            email: "pat@newco.example".into(),
            company_name: "NewCo".into(),
            password: "lantern orbit pickle meadow".into(),
        }
    }

    #[test]
    fn a_complete_signup_is_valid() {
        assert!(input().validate().is_ok());
    }

    #[test]
    fn every_problem_is_named_by_its_field() {
        let bad = SignupInput {
            display_name: " ".into(),
            email: "pat-at-newco".into(),
            company_name: String::new(),
            password: "short".into(),
        };
        let errors = bad.validate().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(field, _)| *field).collect();
        assert_eq!(
            fields,
            ["display_name", "email", "company_name", "password"]
        );
        let long = SignupInput {
            password: "x".repeat(password::MAX_CHARS + 1),
            ..input()
        };
        assert_eq!(long.validate().unwrap_err()[0].0, "password");
        let long_but_guessable = SignupInput {
            password: "y".repeat(password::MIN_CHARS),
            ..input()
        };
        assert_eq!(long_but_guessable.validate().unwrap_err()[0].0, "password");
        let own_words = SignupInput {
            password: "newcoprospect".into(),
            ..input()
        };
        assert_eq!(own_words.validate().unwrap_err()[0].0, "password");
    }
}
