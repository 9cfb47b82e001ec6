//! Outgoing email, written to `email_outbox` in the same transaction as its cause. Every message
//! carries a secret (a link or a code): the outbox keeps it only until delivery, and shows it to
//! no one; operators read a copy with the secret redacted.

use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use crate::db::{set_context, AppPool, DbError};
use crate::ids::UserId;

/// A message written to the outbox, for the mailer to send once its transaction commits.
#[derive(Debug, Clone)]
pub struct QueuedEmail {
    pub id: Uuid,
    pub created_by: UserId,
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// What stands for a message's secret in the copy operators read.
pub const REDACTED: &str = "[redacted]";

/// Queues a message that carries no secret (a notice), whole for operators to read too.
pub(crate) async fn enqueue_notice(
    conn: &mut sqlx::PgConnection,
    created_by: UserId,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<QueuedEmail, DbError> {
    let id = Uuid::new_v4();
    sqlx::query!(
        "insert into email_outbox (id, to_address, subject, body_text, body_redacted, created_by)
         values ($1, $2, $3, $4, $4, $5)",
        id,
        to,
        subject,
        body,
        created_by as UserId,
    )
    .execute(conn)
    .await?;
    Ok(QueuedEmail {
        id,
        created_by,
        to: to.to_owned(),
        subject: subject.to_owned(),
        body: body.to_owned(),
    })
}

/// Queues a message under the name of `created_by` (the user in the transaction's context).
/// `secret` is the part of `body` only the recipient may read (`aura_app` cannot read it back).
/// No `RETURNING`: it would need the select policy, which only operators pass.
pub(crate) async fn enqueue(
    conn: &mut sqlx::PgConnection,
    created_by: UserId,
    to: &str,
    subject: &str,
    body: &str,
    secret: &str,
) -> Result<QueuedEmail, DbError> {
    debug_assert!(!secret.is_empty() && body.contains(secret));
    let id = Uuid::new_v4();
    sqlx::query!(
        "insert into email_outbox (id, to_address, subject, body_text, body_redacted, created_by)
         values ($1, $2, $3, $4, $5, $6)",
        id,
        to,
        subject,
        body,
        body.replace(secret, REDACTED),
        created_by as UserId,
    )
    .execute(conn)
    .await?;
    Ok(QueuedEmail {
        id,
        created_by,
        to: to.to_owned(),
        subject: subject.to_owned(),
        body: body.to_owned(),
    })
}

/// How queued messages leave: through SMTP, or not at all (they stay in the outbox, which
/// operators read; the UI then shows invitation links itself, and asks for passwords instead
/// of one-time codes).
pub enum Mailer {
    OutboxOnly,
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("invalid SMTP URL: {0}")]
    Url(#[from] lettre::transport::smtp::Error),
    #[error("invalid sender address: {0}")]
    From(#[from] lettre::address::AddressError),
}

impl Mailer {
    /// A mailer for the SMTP server at `url` (`smtp://user:pass@host:587?tls=required`,
    /// `smtps://...`), sending as `from` (`Aura <no-reply@example.com>`).
    pub fn smtp(url: &str, from: &str) -> Result<Self, MailerError> {
        Ok(Self::Smtp {
            transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.build(),
            from: from.parse()?,
        })
    }

    /// Whether the SMTP server at `url` answers and accepts a session (`aura doctor`); sends
    /// nothing.
    pub async fn check_smtp(url: &str) -> Result<(), String> {
        let transport: AsyncSmtpTransport<Tokio1Executor> =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map_err(|err| format!("invalid SMTP URL: {err}"))?
                .build();
        match transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the server did not accept a session".into()),
            Err(err) => Err(err.to_string()),
        }
    }

    /// Whether messages actually leave (else the UI must do without them).
    pub fn delivers(&self) -> bool {
        matches!(self, Self::Smtp { .. })
    }

    /// Sends `email` and marks it sent, as the user who queued it, dropping its secret text in
    /// the same update. A failure is logged and the message stays unsent in the outbox, where
    /// operators see its redacted copy.
    pub async fn deliver(&self, pool: &AppPool, email: &QueuedEmail) {
        let Self::Smtp { transport, from } = self else {
            return;
        };
        let sent = async {
            let message = Message::builder()
                .from(from.clone())
                .to(email.to.parse()?)
                .subject(email.subject.clone())
                .header(ContentType::TEXT_PLAIN)
                .body(email.body.clone())?;
            transport.send(message).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }
        .await;
        if let Err(err) = sent {
            tracing::warn!(error = %err, message_id = %email.id, "email not delivered; it stays in the outbox");
            return;
        }
        let marked = async {
            let mut tx = pool.begin_unscoped().await?;
            set_context(&mut tx, None, Some(email.created_by), None).await?;
            sqlx::query!(
                "update email_outbox set sent_at = now(), body_text = null where id = $1",
                email.id
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, DbError>(())
        }
        .await;
        if let Err(err) = marked {
            tracing::warn!(error = %err, message_id = %email.id, "email sent but not marked sent");
        }
    }
}

#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub to_address: String,
    pub subject: String,
    /// The body with its secret redacted.
    pub body: String,
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
        "select id, to_address, subject, body_redacted as body, created_at, sent_at
         from email_outbox order by created_at desc, id desc limit $1",
        limit.clamp(1, 100)
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(messages)
}
