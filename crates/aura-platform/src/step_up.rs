//! Step-up verification for sensitive operations (NFR-S8): before one, the member asks for a
//! one-time code, sent to their email; the operation then runs only with that code, in the same
//! transaction that consumes it. Where no mail server carries codes, the member gives their
//! password again instead ([`Proof::Password`]): a code shown on the page would prove nothing
//! about who holds the session.

use std::time::Duration;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::auth::LoginSource;
use crate::db::{DbError, TenantTx};
use crate::ids::UserId;
use crate::outbox;

pub const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
pub const MAX_ATTEMPTS: i32 = 5;

/// What a code authorises: one operation on one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    RemoveMember(UserId),
    /// Deleting a sales process (its id).
    DeleteProcess(uuid::Uuid),
    /// Changing a product's pricing blueprint (its id, F12.3).
    ChangeBlueprint(uuid::Uuid),
    /// Exporting the whole workspace (NFR-D2).
    ExportWorkspace,
}

impl Purpose {
    fn key(&self) -> String {
        match self {
            Purpose::RemoveMember(user) => format!("member.remove:{user}"),
            Purpose::DeleteProcess(process) => format!("process.delete:{process}"),
            Purpose::ChangeBlueprint(product) => format!("product.blueprint:{product}"),
            Purpose::ExportWorkspace => "workspace.export".to_owned(),
        }
    }

    fn description(&self) -> &'static str {
        match self {
            Purpose::RemoveMember(_) => "remove a member from your workspace",
            Purpose::DeleteProcess(_) => "delete a sales process",
            Purpose::ChangeBlueprint(_) => "change a product's pricing",
            Purpose::ExportWorkspace => "export all of your workspace's data",
        }
    }
}

/// What the member gives to prove it is them.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// The one-time code emailed to them.
    Code(&'a str),
    /// Their password, checked as at a sign-in from `source` (failures count toward the
    /// lockout there).
    Password {
        password: &'a str,
        source: &'a LoginSource,
    },
}

/// A code just issued, and the message carrying it (never shown to anyone: it leaves by mail).
#[derive(Debug, Clone)]
pub struct IssuedCode {
    pub code: String,
    pub message: outbox::QueuedEmail,
}

/// Issues a code for `purpose` to the member in context, emailed through the outbox.
pub async fn issue(tx: &mut TenantTx, purpose: &Purpose) -> Result<IssuedCode, DbError> {
    let context = *tx.context();
    let code = format!("{:06}", OsRng.next_u32() % 1_000_000);
    sqlx::query!(
        "insert into step_up_codes (tenant_id, user_id, purpose, code_hash, expires_at)
         values ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
        purpose.key(),
        hash(&code),
        CODE_LIFETIME.as_secs_f64(),
    )
    .execute(tx.conn())
    .await?;
    let email = sqlx::query_scalar!(
        "select email from users where id = $1",
        context.user_id as UserId
    )
    .fetch_one(tx.conn())
    .await?;
    let body = format!(
        "Your Aura verification code is {code}.\n\n\
         It lets you {} and works once, for ten minutes. If you did not ask for it, someone may\n\
         be using your session: sign out everywhere by resetting your password.\n",
        purpose.description()
    );
    let message = outbox::enqueue(
        tx.conn(),
        context.user_id,
        &email,
        "Your Aura verification code",
        &body,
        &code,
    )
    .await?;
    Ok(IssuedCode { code, message })
}

#[derive(Debug, thiserror::Error)]
pub enum StepUpError {
    #[error("the code is wrong")]
    Wrong,
    #[error("there is no usable code: it expired, was used, or had too many wrong attempts")]
    NoCode,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Consumes the member's newest open code for `purpose` if `code` matches it. Either way the
/// attempt is counted in `tx`: the caller commits it on a wrong code too (with nothing else
/// done), so guessing costs attempts.
pub async fn consume(tx: &mut TenantTx, purpose: &Purpose, code: &str) -> Result<(), StepUpError> {
    let context = *tx.context();
    let open = sqlx::query!(
        "select id, code_hash from step_up_codes
         where tenant_id = $1 and user_id = $2 and purpose = $3
           and used_at is null and expires_at > now() and attempts < $4
         order by created_at desc limit 1
         for update",
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
        purpose.key(),
        MAX_ATTEMPTS,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?
    .ok_or(StepUpError::NoCode)?;
    let matches = open.code_hash == hash(code.trim());
    sqlx::query!(
        "update step_up_codes
         set attempts = attempts + 1, used_at = (select now() where $3)
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        open.id,
        matches,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    if matches {
        Ok(())
    } else {
        Err(StepUpError::Wrong)
    }
}

fn hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.as_bytes()).to_vec()
}
