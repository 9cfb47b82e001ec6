//! The delivery worker: a task in every server. Each round it claims due deliveries of any
//! workspace through `aura.claim_webhook_deliveries` (a conditional update per row plus a
//! lease, so with several servers each delivery is sent by one of them), posts them, and records
//! each outcome in that delivery's own workspace context, where row-level security confines the
//! update to it.
//!
//! Failures are retried with exponential backoff and jitter for a day after the event; an
//! endpoint that fails [`WorkerSettings::disable_after`] attempts in a row is switched off and its
//! workspace's admins are told by email.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use chrono::{DateTime, Utc};
use url::Url;
use uuid::Uuid;

use super::guard::GuardedResolver;
use super::NetworkGuard;
use crate::db::{set_context, AppPool, DbError};
use crate::ids::{TenantId, UserId};
use crate::outbox::{self, Mailer};

/// How the worker paces itself. The defaults are production's; tests shorten them.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How long an idle worker waits before looking for due deliveries again.
    pub poll: Duration,
    /// The first retry's delay; each further one doubles it (with jitter), up to `max_backoff`.
    pub retry_base: Duration,
    pub max_backoff: Duration,
    /// How long after its event a delivery is still retried.
    pub give_up_after: Duration,
    /// Failed attempts in a row (across an endpoint's deliveries) that switch it off.
    pub disable_after: i32,
    /// A receiver must answer within this.
    pub timeout: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(2),
            retry_base: Duration::from_secs(30),
            max_backoff: Duration::from_secs(4 * 60 * 60),
            give_up_after: Duration::from_secs(24 * 60 * 60),
            disable_after: 50,
            timeout: Duration::from_secs(15),
        }
    }
}

/// Deliveries claimed per round.
const BATCH: i32 = 20;

/// A claim holds a delivery this long; a server that dies mid-attempt leaves it to another one
/// after it. Longer than any attempt (the client's timeout).
const LEASE: Duration = Duration::from_secs(120);

/// What the worker needs: the app pool, the guard, and the mailer for admins' notices.
#[derive(Clone)]
pub struct Worker {
    pool: AppPool,
    guard: NetworkGuard,
    mailer: Arc<Mailer>,
    settings: WorkerSettings,
    client: reqwest::Client,
}

/// A claimed delivery, with what sending it takes.
struct Claimed {
    tenant_id: Uuid,
    delivery_id: Uuid,
    endpoint_id: Uuid,
    url: String,
    secret: String,
    event_id: Uuid,
    event_type: String,
    payload: serde_json::Value,
    event_created_at: DateTime<Utc>,
    attempt: i32,
}

/// How one attempt went.
enum Outcome {
    Delivered(u16),
    Failed { code: Option<u16>, error: String },
}

impl Worker {
    pub fn new(
        pool: AppPool,
        guard: NetworkGuard,
        mailer: Arc<Mailer>,
        settings: WorkerSettings,
    ) -> Self {
        let client = reqwest::Client::builder()
            // Every name is resolved and checked by the guard; IP literals are checked before
            // sending. No proxy from the environment (it would resolve names itself), and no
            // redirects (a receiver could point Aura anywhere).
            .dns_resolver(Arc::new(GuardedResolver(guard.clone())))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent("Aura-Webhooks/1")
            .build()
            .expect("the webhook client's settings are valid");
        Self {
            pool,
            guard,
            mailer,
            settings,
            client,
        }
    }

    /// Runs until the task is dropped: rounds back to back while there is work, else a pause.
    pub async fn run(self) {
        loop {
            match self.round().await {
                Ok(0) => tokio::time::sleep(self.settings.poll).await,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "webhook delivery round failed");
                    tokio::time::sleep(self.settings.poll).await;
                }
            }
        }
    }

    /// Claims a batch and delivers it, the attempts side by side. Answers how many it claimed.
    pub async fn round(&self) -> Result<usize, DbError> {
        let claimed = self.claim().await?;
        let count = claimed.len();
        let mut attempts = tokio::task::JoinSet::new();
        for delivery in claimed {
            let worker = self.clone();
            attempts.spawn(async move { worker.deliver(delivery).await });
        }
        while let Some(done) = attempts.join_next().await {
            if let Ok(Err(err)) = done {
                tracing::warn!(error = %err, "a webhook outcome was not recorded; it is retried after its lease");
            }
        }
        Ok(count)
    }

    async fn claim(&self) -> Result<Vec<Claimed>, DbError> {
        // No context: the claim function is the one thing this transaction can do.
        let mut tx = self.pool.begin_unscoped().await?;
        let claimed = sqlx::query_as!(
            Claimed,
            r#"select tenant_id as "tenant_id!", delivery_id as "delivery_id!",
                      endpoint_id as "endpoint_id!", url as "url!", secret as "secret!",
                      event_id as "event_id!", event_type as "event_type!", payload as "payload!",
                      event_created_at as "event_created_at!", attempt as "attempt!"
               from aura.claim_webhook_deliveries($1, $2)"#,
            BATCH,
            LEASE.as_secs() as i32,
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn deliver(&self, delivery: Claimed) -> Result<(), DbError> {
        let outcome = self.post(&delivery).await;
        self.record(&delivery, outcome).await
    }

    /// One attempt: the URL checked again (DNS can change), the body signed, no redirect.
    async fn post(&self, delivery: &Claimed) -> Outcome {
        let failed = |error: String| Outcome::Failed { code: None, error };
        let url = match Url::parse(&delivery.url) {
            Ok(url) => url,
            Err(_) => return failed("the address is not a URL".into()),
        };
        if let Err(refusal) = self.guard.check_url(&url).await {
            return failed(format!("refused: {refusal}"));
        }
        let body = serde_json::json!({
            "type": delivery.event_type,
            "timestamp": delivery.event_created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "data": delivery.payload,
        })
        .to_string();
        let id = format!("msg_{}", delivery.event_id.simple());
        let timestamp = Utc::now().timestamp();
        let signature = super::sign(&delivery.secret, &id, timestamp, body.as_bytes());
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                Outcome::Delivered(response.status().as_u16())
            }
            Ok(response) => Outcome::Failed {
                code: Some(response.status().as_u16()),
                error: format!("the receiver answered {}", response.status()),
            },
            Err(err) => failed(describe(&err)),
        }
    }

    /// Records the outcome as the delivery's workspace (tenant in context, no user).
    async fn record(&self, delivery: &Claimed, outcome: Outcome) -> Result<(), DbError> {
        let tenant = TenantId::from(delivery.tenant_id);
        let mut tx = self.pool.begin_tenant_scope(tenant).await?;
        let (status, code, error, next_attempt) = match &outcome {
            Outcome::Delivered(code) => ("delivered", Some(*code), None, Utc::now()),
            Outcome::Failed { code, error } => {
                let next = Utc::now() + self.backoff(delivery.attempt);
                let deadline = delivery.event_created_at
                    + chrono::Duration::from_std(self.settings.give_up_after).unwrap_or_default();
                let status = if next > deadline { "failed" } else { "pending" };
                (status, *code, Some(truncate(error, 500)), next)
            }
        };
        sqlx::query!(
            "update webhook_deliveries
             set status = $3, response_code = $4, error = $5, last_attempt_at = now(),
                 next_attempt_at = $6
             where tenant_id = $1 and id = $2",
            delivery.tenant_id,
            delivery.delivery_id,
            status,
            code.map(i32::from),
            error,
            next_attempt,
        )
        .execute(&mut *tx)
        .await?;
        let delivered = matches!(outcome, Outcome::Delivered(_));
        // Switched off by this attempt: the streak reached the limit just now and the reason
        // is ours (set only when an enabled endpoint crosses it; switching on clears it).
        let switched_off = sqlx::query_scalar!(
            r#"update webhook_endpoints e
               set failure_streak = case when $3 then 0 else e.failure_streak + 1 end,
                   enabled = e.enabled and ($3 or e.failure_streak + 1 < $4),
                   disabled_reason = case when e.enabled and not ($3 or e.failure_streak + 1 < $4)
                                          then $5 else e.disabled_reason end
               where e.tenant_id = $1 and e.id = $2
               returning coalesce(not e.enabled and e.failure_streak = $4
                                  and e.disabled_reason = $5, false) as "switched_off!""#,
            delivery.tenant_id,
            delivery.endpoint_id,
            delivered,
            self.settings.disable_after,
            format!(
                "Switched off after {} failed attempts in a row.",
                self.settings.disable_after
            ),
        )
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(false);
        let notices = if switched_off {
            tracing::warn!(tenant_id = %delivery.tenant_id, endpoint_id = %delivery.endpoint_id,
                           "webhook endpoint switched off after a run of failures");
            notify_admins(&mut tx, tenant, &delivery.url).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        for notice in &notices {
            self.mailer.deliver(&self.pool, notice).await;
        }
        Ok(())
    }

    /// The delay before retry number `attempt`: `retry_base` doubled per attempt, capped, with
    /// up to a quarter of it added at random so a recovering receiver is not hit all at once.
    fn backoff(&self, attempt: i32) -> chrono::Duration {
        let doubled = self
            .settings
            .retry_base
            .saturating_mul(1u32 << attempt.clamp(1, 20).saturating_sub(1));
        let delay = doubled.min(self.settings.max_backoff);
        let jitter = delay.mul_f64(f64::from(OsRng.next_u32()) / f64::from(u32::MAX) / 4.0);
        chrono::Duration::from_std(delay + jitter).unwrap_or_else(|_| chrono::Duration::days(1))
    }
}

/// A client error as the log shows it: what failed, never a secret (the URL is the admin's own).
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// Queues an email to each active admin of the workspace saying the endpoint was switched off,
/// each written as that admin (the outbox takes a message only from the user in context). The
/// URL is redacted in the operators' copy: receivers often carry a token in it.
async fn notify_admins(
    tx: &mut sqlx::PgConnection,
    tenant: TenantId,
    url: &str,
) -> Result<Vec<outbox::QueuedEmail>, DbError> {
    let admins = sqlx::query!(
        r#"select u.id as "id: UserId", u.email
           from tenant_members m join users u on u.id = m.user_id
           where m.tenant_id = $1 and m.role = 'admin' and m.deactivated_at is null"#,
        tenant.as_uuid()
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut queued = Vec::new();
    for admin in admins {
        set_context(tx, None, Some(admin.id), None).await?;
        let body = format!(
            "Aura switched off the webhook endpoint {url} after a run of failed deliveries.\n\n\
             Its deliveries wait while it is off. Check the receiver, then switch it on again in \
             Settings -> Webhooks, where its delivery log shows what went wrong.\n"
        );
        queued.push(
            outbox::enqueue(
                tx,
                admin.id,
                &admin.email,
                "A webhook endpoint was switched off",
                &body,
                url,
            )
            .await?,
        );
    }
    Ok(queued)
}
