//! Webhooks (issue 14): a workspace's admins register HTTPS endpoints for the events they want;
//! the database writes each event, in the transaction of its cause, for every enabled endpoint
//! that subscribes to it (migration 0036), and [`worker`] posts them, signed in the "Standard
//! Webhooks" layout. This module is the admins' side: endpoints, their delivery log, and the
//! test event.

mod guard;
pub mod worker;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::Url;
use uuid::Uuid;

pub use guard::{NetworkGuard, Refusal};

use crate::audit;
use crate::db::{AppPool, DbError, TenantContext};
use crate::permissions::Permission;

/// The events an endpoint may subscribe to, with what the settings page calls them.
pub const EVENT_TYPES: &[(&str, &str)] = &[
    ("contact.created", "Contact created"),
    ("contact.updated", "Contact updated"),
    ("contact.deleted", "Contact deleted"),
    ("organization.created", "Organization created"),
    ("organization.updated", "Organization updated"),
    ("organization.deleted", "Organization deleted"),
    ("deal.created", "Deal created"),
    ("deal.updated", "Deal updated"),
    ("deal.deleted", "Deal deleted"),
    ("deal.stage_changed", "Deal stage changed"),
    ("deal.won", "Deal won"),
    ("deal.lost", "Deal lost"),
    ("deal.line_item_added", "Deal line item added"),
    ("deal.line_item_changed", "Deal line item changed"),
    ("deal.line_item_removed", "Deal line item removed"),
    ("member.joined", "Member joined"),
];

/// The event "Send test event" sends, to one endpoint whatever it subscribes to.
pub const TEST_EVENT: &str = "webhook.test";

/// Most endpoints a workspace may register.
pub const MAX_ENDPOINTS: i64 = 20;

/// A registered endpoint, as admins see it (never its secret).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failure_streak: i32,
    pub created_at: DateTime<Utc>,
}

/// An endpoint as typed into the form.
#[derive(Debug, Clone, Default)]
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
}

/// A new endpoint and its signing secret, which is shown this once: the database does not let
/// the app read it back.
#[derive(Debug, Clone)]
pub struct Created {
    pub endpoint: Endpoint,
    pub secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("only admins manage webhooks")]
    NotAdmin,
    /// Each field's problem, worded for the form.
    #[error("the endpoint is not valid")]
    Invalid(Vec<(&'static str, String)>),
    #[error("no such endpoint")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for WebhookError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err.into())
    }
}

fn require_admin(context: &TenantContext) -> Result<(), WebhookError> {
    if context.role.may(Permission::EditSettings) {
        Ok(())
    } else {
        Err(WebhookError::NotAdmin)
    }
}

/// The workspace's endpoints, oldest first (at most [`MAX_ENDPOINTS`]).
pub async fn list(pool: &AppPool, context: TenantContext) -> Result<Vec<Endpoint>, WebhookError> {
    require_admin(&context)?;
    let mut tx = pool.begin(context).await?;
    let endpoints = sqlx::query_as!(
        Endpoint,
        "select id, url, description, event_types, enabled, disabled_reason, failure_streak,
                created_at
         from webhook_endpoints where tenant_id = $1 order by created_at, id",
        context.tenant_id.as_uuid()
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(endpoints)
}

pub async fn get(
    pool: &AppPool,
    context: TenantContext,
    id: Uuid,
) -> Result<Endpoint, WebhookError> {
    require_admin(&context)?;
    let mut tx = pool.begin(context).await?;
    sqlx::query_as!(
        Endpoint,
        "select id, url, description, event_types, enabled, disabled_reason, failure_streak,
                created_at
         from webhook_endpoints where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or(WebhookError::NotFound)
}

/// A new signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks has it.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// Registers an endpoint if its URL passes the guard now (it is checked again at every
/// delivery) and its events are known; audited without the secret.
pub async fn create(
    pool: &AppPool,
    context: TenantContext,
    guard: &NetworkGuard,
    input: &NewEndpoint,
) -> Result<Created, WebhookError> {
    require_admin(&context)?;
    let mut errors = Vec::new();
    let url = input.url.trim();
    match Url::parse(url) {
        Err(_) => errors.push(("url", "Enter the endpoint's full address, https://…".into())),
        Ok(_) if url.len() > 2000 => errors.push(("url", "Use at most 2000 characters.".into())),
        Ok(parsed) => {
            if let Err(refusal) = guard.check_url(&parsed).await {
                errors.push(("url", format!("Aura will not send there: {refusal}.")));
            }
        }
    }
    let description = input.description.trim();
    if description.chars().count() > 200 {
        errors.push(("description", "Use at most 200 characters.".into()));
    }
    let mut event_types: Vec<String> = Vec::new();
    for wanted in &input.event_types {
        if !EVENT_TYPES.iter().any(|(name, _)| name == wanted) {
            errors.push((
                "event_types",
                format!("“{wanted}” is not an event Aura sends."),
            ));
        } else if !event_types.contains(wanted) {
            event_types.push(wanted.clone());
        }
    }
    if input.event_types.is_empty() {
        errors.push(("event_types", "Choose at least one event.".into()));
    }
    if !errors.is_empty() {
        return Err(WebhookError::Invalid(errors));
    }
    let mut tx = pool.begin(context).await?;
    let count = sqlx::query_scalar!(
        r#"select count(*) as "count!" from webhook_endpoints where tenant_id = $1"#,
        context.tenant_id.as_uuid()
    )
    .fetch_one(tx.conn())
    .await?;
    if count >= MAX_ENDPOINTS {
        return Err(WebhookError::Invalid(vec![(
            "url",
            format!("A workspace has at most {MAX_ENDPOINTS} endpoints; delete one first."),
        )]));
    }
    let secret = new_secret();
    let endpoint = sqlx::query_as!(
        Endpoint,
        "insert into webhook_endpoints (tenant_id, url, description, event_types, secret, created_by)
         values ($1, $2, $3, $4, $5, $6)
         returning id, url, description, event_types, enabled, disabled_reason, failure_streak,
                   created_at",
        context.tenant_id.as_uuid(),
        url,
        description,
        &event_types[..],
        secret,
        context.user_id.as_uuid(),
    )
    .fetch_one(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        "webhook.created",
        "webhook_endpoint",
        endpoint.id,
        None,
        Some(serde_json::json!({ "url": endpoint.url, "event_types": endpoint.event_types })),
    )
    .await?;
    tx.commit().await?;
    Ok(Created { endpoint, secret })
}

/// Switches an endpoint on or off; switching on clears the failure run and the reason it was
/// switched off. Audited.
pub async fn set_enabled(
    pool: &AppPool,
    context: TenantContext,
    id: Uuid,
    enabled: bool,
) -> Result<(), WebhookError> {
    require_admin(&context)?;
    let mut tx = pool.begin(context).await?;
    let changed = sqlx::query_scalar!(
        "update webhook_endpoints
         set enabled = $3, updated_at = now(),
             disabled_reason = case when $3 then null else disabled_reason end,
             failure_streak = case when $3 then 0 else failure_streak end
         where tenant_id = $1 and id = $2
         returning url",
        context.tenant_id.as_uuid(),
        id,
        enabled
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or(WebhookError::NotFound)?;
    audit::record(
        &mut tx,
        if enabled {
            "webhook.enabled"
        } else {
            "webhook.disabled"
        },
        "webhook_endpoint",
        id,
        None,
        Some(serde_json::json!({ "url": changed })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes an endpoint and its delivery log (its events stay until a retention job exists).
/// Audited.
pub async fn delete(pool: &AppPool, context: TenantContext, id: Uuid) -> Result<(), WebhookError> {
    require_admin(&context)?;
    let mut tx = pool.begin(context).await?;
    let url = sqlx::query_scalar!(
        "delete from webhook_endpoints where tenant_id = $1 and id = $2 returning url",
        context.tenant_id.as_uuid(),
        id
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or(WebhookError::NotFound)?;
    audit::record(
        &mut tx,
        "webhook.deleted",
        "webhook_endpoint",
        id,
        Some(serde_json::json!({ "url": url })),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Queues a [`TEST_EVENT`] for one endpoint, enabled or not subscribed; the worker sends it
/// like any other (an endpoint switched off gets it once switched on).
/// (`returning`: on Citus an insert from a query's rows then reaches the shards as inserts, not
/// as the `COPY` that row-level security refuses.)
pub async fn send_test(
    pool: &AppPool,
    context: TenantContext,
    id: Uuid,
) -> Result<(), WebhookError> {
    require_admin(&context)?;
    let mut tx = pool.begin(context).await?;
    let inserted = sqlx::query!(
        "with event as (
             insert into webhook_events (tenant_id, event_type, payload)
             select $1, $3, jsonb_build_object('endpoint_id', e.id, 'message', 'A test event from Aura.')
             from webhook_endpoints e where e.tenant_id = $1 and e.id = $2
             returning id)
         insert into webhook_deliveries (tenant_id, endpoint_id, event_id)
         select $1, $2, id from event
         returning id",
        context.tenant_id.as_uuid(),
        id,
        TEST_EVENT,
    )
    .fetch_optional(tx.conn())
    .await?;
    if inserted.is_none() {
        return Err(WebhookError::NotFound);
    }
    tx.commit().await?;
    Ok(())
}

/// One delivery of one event to an endpoint, for the log.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    pub response_code: Option<i32>,
    pub error: Option<String>,
}

/// Where a page of the log ends.
pub type Cursor = crate::cursor::Cursor<Uuid>;

pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    pub next: Option<Cursor>,
}

/// Deliveries in the log per page.
pub const LOG_PAGE_SIZE: i64 = 25;

/// A page of an endpoint's delivery log, newest first: keyset on `(created_at, id)` over
/// `webhook_deliveries_log_idx`, which holds tenant, endpoint and that order.
pub async fn deliveries(
    pool: &AppPool,
    context: TenantContext,
    endpoint: Uuid,
    after: Option<&Cursor>,
) -> Result<DeliveryPage, WebhookError> {
    require_admin(&context)?;
    let after = after.and_then(Cursor::time_position);
    let mut tx = pool.begin(context).await?;
    let mut deliveries = sqlx::query_as!(
        Delivery,
        "select d.id, d.event_id, v.event_type, d.status, d.attempts, d.created_at,
                d.last_attempt_at, d.next_attempt_at, d.response_code, d.error
         from webhook_deliveries d
         join webhook_events v on v.tenant_id = d.tenant_id and v.id = d.event_id
         where d.tenant_id = $1 and d.endpoint_id = $2
           and (d.created_at, d.id) < (coalesce($3, 'infinity'::timestamptz), $4)
         order by d.created_at desc, d.id desc
         limit $5",
        context.tenant_id.as_uuid(),
        endpoint,
        after.map(|(at, _)| at),
        after.map_or(Uuid::max(), |(_, id)| id),
        LOG_PAGE_SIZE + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    let next = if deliveries.len() as i64 > LOG_PAGE_SIZE {
        deliveries.truncate(LOG_PAGE_SIZE as usize);
        deliveries.last().map(|d| Cursor::time(d.created_at, d.id))
    } else {
        None
    };
    Ok(DeliveryPage { deliveries, next })
}

/// The `webhook-signature` value for a message: `v1,` and the base64 HMAC-SHA256, keyed with
/// the secret's decoded bytes, of `{id}.{timestamp}.{body}` (Standard Webhooks).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example from the Standard Webhooks specification's test vectors.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_whsec_and_32_random_bytes() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        let bytes = STANDARD.decode(a.strip_prefix("whsec_").unwrap()).unwrap();
        assert_eq!(bytes.len(), 32);
    }
}
