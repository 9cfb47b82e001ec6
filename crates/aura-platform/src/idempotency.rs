//! Safe retries (issue 14): a creating request sent with an `Idempotency-Key` is carried out
//! once per key; a retry within [`RETENTION`] with the same request gets the first answer again,
//! another request under the same key is refused. Keys belong to one principal (a member or an
//! API key) in one workspace. See `migrations/0035_idempotency_keys.sql`.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::db::{AppPool, DbError, TenantContext, TenantTx};
use crate::ids::UserId;

/// How long a key's answer is kept for retries.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest key accepted (Stripe's and the IETF draft's clients send UUIDs or shorter).
pub const MAX_KEY_CHARS: usize = 255;

/// An answer as first given, to give again.
#[derive(Debug, Clone)]
pub struct Stored {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// What a key amounts to when a request arrives with it.
pub enum Claim {
    /// First use: run the request, then [`Pending::answer`]. Until then a concurrent request
    /// with the same key waits.
    Fresh(Pending),
    /// Used before for this same request: its answer.
    Replay(Stored),
    /// Used before for another request.
    Mismatch,
}

/// A key claimed for a request being carried out: its row, in a transaction held open until
/// the answer is stored. Dropped without an answer, the claim is undone and a retry runs anew.
pub struct Pending {
    tx: TenantTx,
    key: String,
}

/// The fingerprint of a request: its method, path and query, and body.
pub fn fingerprint(method: &str, path_and_query: &str, body: &[u8]) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update(b" ");
    hash.update(path_and_query.as_bytes());
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().to_vec()
}

/// Claims `key` for the request `fingerprint`, as the principal in `context`. Waits while a
/// request with the same key is being carried out, then replays its answer.
pub async fn claim(
    pool: &AppPool,
    context: TenantContext,
    key: &str,
    fingerprint: &[u8],
) -> Result<Claim, DbError> {
    let mut tx = pool.begin(context).await?;
    let tenant = context.tenant_id.as_uuid();
    sqlx::query!(
        "delete from idempotency_keys
         where tenant_id = $1 and user_id = $2 and key = $3
           and created_at < now() - make_interval(secs => $4)",
        tenant,
        context.user_id as UserId,
        key,
        RETENTION.as_secs_f64(),
    )
    .execute(tx.conn())
    .await?;
    let inserted = sqlx::query!(
        "insert into idempotency_keys (tenant_id, user_id, key, request_hash)
         values ($1, $2, $3, $4)
         on conflict do nothing",
        tenant,
        context.user_id as UserId,
        key,
        fingerprint,
    )
    .execute(tx.conn())
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::Fresh(Pending {
            tx,
            key: key.to_owned(),
        }));
    }
    // The row committed with its answer (an uncommitted one made the insert wait).
    let first = sqlx::query!(
        r#"select request_hash, status as "status!", content_type, location, body as "body!"
           from idempotency_keys where tenant_id = $1 and user_id = $2 and key = $3"#,
        tenant,
        context.user_id as UserId,
        key,
    )
    .fetch_one(tx.conn())
    .await?;
    if first.request_hash != fingerprint {
        return Ok(Claim::Mismatch);
    }
    Ok(Claim::Replay(Stored {
        status: first.status as u16,
        content_type: first.content_type,
        location: first.location,
        body: first.body,
    }))
}

impl Pending {
    /// Stores the answer and releases the key: retries get this answer from now on.
    pub async fn answer(mut self, answer: &Stored) -> Result<(), DbError> {
        let context = *self.tx.context();
        sqlx::query!(
            "update idempotency_keys set status = $4, content_type = $5, location = $6, body = $7
             where tenant_id = $1 and user_id = $2 and key = $3",
            context.tenant_id.as_uuid(),
            context.user_id as UserId,
            self.key,
            answer.status as i16,
            answer.content_type,
            answer.location,
            answer.body,
        )
        .execute(self.tx.conn())
        .await?;
        self.tx.commit().await
    }
}
