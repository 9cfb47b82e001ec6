//! Outgoing email, written to `email_outbox` in the same transaction as its cause.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{set_context, AppPool, DbError};
use crate::ids::UserId;

/// Queues a message under the name of `created_by` (the user in the transaction's context).
/// No `RETURNING`: it would need the select policy, which only operators pass.
pub(crate) async fn enqueue(
    conn: &mut sqlx::PgConnection,
    created_by: UserId,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<Uuid, DbError> {
    let id = Uuid::new_v4();
    sqlx::query!(
        "insert into email_outbox (id, to_address, subject, body_text, created_by)
         values ($1, $2, $3, $4, $5)",
        id,
        to,
        subject,
        body,
        created_by as UserId,
    )
    .execute(conn)
    .await?;
    Ok(id)
}

#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The newest messages, for a platform operator (anyone else sees none). At most `limit` (1-100).
pub async fn recent(
    pool: &AppPool,
    operator: UserId,
    limit: i64,
) -> Result<Vec<OutboxMessage>, DbError> {
    let mut tx = pool.begin_unscoped().await?;
    set_context(&mut tx, None, Some(operator), None).await?;
    let messages = sqlx::query_as!(
        OutboxMessage,
        "select id, to_address, subject, body_text, created_at, sent_at
         from email_outbox order by created_at desc, id desc limit $1",
        limit.clamp(1, 100)
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(messages)
}
