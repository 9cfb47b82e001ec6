//! Tenants as the rest of the platform sees them.

use chrono::{DateTime, Utc};

use crate::currency::WorkspaceCurrency;
use crate::db::{AppPool, DbError, TenantContext, TenantTx};
use crate::ids::{TenantId, TenantSlug, UserId};
use crate::permissions::Permission;

/// A tenant's lifecycle state. Mirrors `aura.tenant_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize)]
#[sqlx(type_name = "aura.tenant_status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Suspended,
    Deleted,
}

/// The tenant a request's host names.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: TenantId,
    pub slug: TenantSlug,
    pub name: String,
    pub status: TenantStatus,
    /// When a suspended workspace is deleted for good, if an operator scheduled it (F1.8):
    /// until then its admins may still sign in and export.
    pub termination_due_at: Option<DateTime<Utc>>,
}

impl Workspace {
    /// Suspended with its deletion scheduled: open only for its admins' export.
    pub fn is_closing(&self) -> bool {
        self.status == TenantStatus::Suspended && self.termination_due_at.is_some()
    }
}

/// The tenant whose subdomain is `slug`, if any. Runs before any tenant context exists, through
/// the one narrow `security definer` function made for it (migration 0002).
pub async fn find_by_slug(pool: &AppPool, slug: &TenantSlug) -> Result<Option<Workspace>, DbError> {
    let row = sqlx::query!(
        r#"select id as "id!: TenantId", name as "name!", status as "status!: TenantStatus",
                  termination_due_at
           from aura.tenant_by_slug($1)"#,
        slug.as_str()
    )
    .fetch_optional(pool.pool())
    .await?;
    Ok(row.map(|row| Workspace {
        id: row.id,
        slug: slug.clone(),
        name: row.name,
        status: row.status,
        termination_due_at: row.termination_due_at,
    }))
}

/// A workspace's metadata as its admin edits it (F1.6-F1.7).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub name: String,
    pub logo_url: String,
    pub industry: String,
    pub timezone: String,
    pub currency: String,
    /// The version the form was loaded at: a save against a newer one is refused (409).
    pub version: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("only admins change the workspace's settings")]
    NotAdmin,
    #[error("someone else saved the settings meanwhile")]
    Stale { current: Box<Settings> },
    #[error("some settings are not valid")]
    Invalid(Vec<(&'static str, String)>),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The workspace's current settings.
pub async fn settings(pool: &AppPool, context: TenantContext) -> Result<Settings, DbError> {
    let mut tx = pool.begin(context).await?;
    load_settings(&mut tx).await
}

async fn load_settings(tx: &mut TenantTx) -> Result<Settings, DbError> {
    let tenant = tx.context().tenant_id;
    let row = sqlx::query!(
        "select name, logo_url, industry, timezone, currency, version from tenants where id = $1",
        tenant.as_uuid()
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(Settings {
        name: row.name,
        logo_url: row.logo_url.unwrap_or_default(),
        industry: row.industry.unwrap_or_default(),
        timezone: row.timezone,
        currency: row.currency,
        version: row.version,
    })
}

/// Saves `input` if it is valid and was made from the current version; audited with the
/// settings before and after.
pub async fn update_settings(
    pool: &AppPool,
    context: TenantContext,
    input: &Settings,
) -> Result<(), SettingsError> {
    if !context.role.may(Permission::EditSettings) {
        return Err(SettingsError::NotAdmin);
    }
    let mut tx = pool.begin(context).await?;
    let mut errors = metadata_problems(
        &input.name,
        &input.industry,
        &input.currency,
        &input.logo_url,
    );
    if !known_timezone(tx.conn(), input.timezone.trim()).await? {
        errors.push(("timezone", UNKNOWN_TIMEZONE.to_owned()));
    }
    if !errors.is_empty() {
        return Err(SettingsError::Invalid(errors));
    }

    let (name, logo_url, industry, timezone) = (
        input.name.trim(),
        input.logo_url.trim(),
        input.industry.trim(),
        input.timezone.trim(),
    );
    let currency = input.currency.trim().to_ascii_uppercase();
    let before = load_settings(&mut tx).await?;
    let updated = sqlx::query!(
        "update tenants set name = $2, logo_url = nullif($3, ''), industry = nullif($4, ''),
                timezone = $5, currency = $6, version = version + 1, updated_at = now(), updated_by = $7
         where id = $1 and version = $8",
        context.tenant_id.as_uuid(),
        name,
        logo_url,
        industry,
        timezone,
        currency,
        context.user_id as UserId,
        input.version,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    if updated.rows_affected() == 0 {
        return Err(SettingsError::Stale {
            current: Box::new(before),
        });
    }
    let snapshot = |s: &Settings| {
        serde_json::json!({ "name": s.name, "logo_url": s.logo_url, "industry": s.industry,
                            "timezone": s.timezone, "currency": s.currency })
    };
    let after = load_settings(&mut tx).await?;
    sqlx::query!(
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, before, after)
         values ($1, $2, 'workspace.updated', 'tenant', $1, $3, $4)",
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
        snapshot(&before),
        snapshot(&after),
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(())
}

/// What to tell someone whose time zone PostgreSQL does not know.
pub const UNKNOWN_TIMEZONE: &str =
    "Enter a time zone name such as Europe/Berlin or America/New_York.";

/// The problems with workspace metadata as typed (at activation and in settings), each named by
/// its field and worded for the form. The time zone is checked by [`known_timezone`].
pub fn metadata_problems(
    name: &str,
    industry: &str,
    currency: &str,
    logo_url: &str,
) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        problems.push((
            "name",
            "Enter the company's name (at most 200 characters).".to_owned(),
        ));
    }
    let logo_url = logo_url.trim();
    let logo_ok = logo_url.is_empty()
        || (logo_url.len() <= 2000
            && url::Url::parse(logo_url)
                .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some()));
    if !logo_ok {
        problems.push((
            "logo_url",
            "Enter an https:// address of an image, or leave it empty.".to_owned(),
        ));
    }
    if industry.trim().chars().count() > 100 {
        problems.push(("industry", "Use at most 100 characters.".to_owned()));
    }
    if WorkspaceCurrency::parse(currency).is_none() {
        problems.push((
            "currency",
            "Choose a currency in circulation from the list (ISO 4217, such as USD or EUR)."
                .to_owned(),
        ));
    }
    problems
}

/// Whether PostgreSQL knows the time zone `name` (the same list the server converts times with).
pub(crate) async fn known_timezone(
    conn: &mut sqlx::PgConnection,
    name: &str,
) -> Result<bool, DbError> {
    let known = sqlx::query_scalar!(
        r#"select exists (select 1 from pg_timezone_names where name = $1) as "known!""#,
        name
    )
    .fetch_one(conn)
    .await?;
    Ok(known)
}

/// The member's own time zone, if they chose one (else they read times in the workspace's).
pub async fn own_time_zone(
    pool: &AppPool,
    context: TenantContext,
) -> Result<Option<String>, DbError> {
    let mut tx = pool.begin(context).await?;
    let zone = sqlx::query_scalar!(
        "select time_zone from users where id = $1",
        context.user_id as UserId,
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(zone)
}

/// Sets the member's own time zone; `None` goes back to the workspace's. `Ok(false)`: the
/// name is not one PostgreSQL knows (see [`UNKNOWN_TIMEZONE`]), and nothing changed. The users
/// policy lets a user change only their own row.
pub async fn set_own_time_zone(
    pool: &AppPool,
    context: TenantContext,
    zone: Option<&str>,
) -> Result<bool, DbError> {
    let mut tx = pool.begin(context).await?;
    if let Some(zone) = zone {
        if !known_timezone(tx.conn(), zone).await? {
            return Ok(false);
        }
    }
    sqlx::query!(
        "update users set time_zone = $2 where id = $1",
        context.user_id as UserId,
        zone,
    )
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(true)
}
