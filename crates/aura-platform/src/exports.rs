//! Workspace exports (NFR-D2): the job records behind Settings -> Export. An admin starts one
//! with a fresh one-time code (step-up, NFR-S8); a worker in any server claims it, writes the
//! file in chunks stored in the database (migration 0046 says why there), and the admin
//! downloads it until it expires. What goes into the file is the CRM's (`aura_crm::export`);
//! this module keeps the job: its state, its progress, its chunks, the audit.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::audit;
use crate::auth::{self, LoginError};
use crate::db::{AppPool, DbError, TenantContext, TenantTx};
use crate::ids::{MemberRole, TenantId, UserId};
use crate::permissions::Permission;
use crate::step_up::{self, IssuedCode, Proof, Purpose, StepUpError};

crate::id_type!(
    /// A workspace export.
    ExportId
);

/// How long a finished export can be downloaded; then its file is deleted.
pub const DOWNLOAD_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// The file's layout. Mirrors `aura.export_format`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::Type, ToSchema,
)]
#[sqlx(type_name = "aura.export_format", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// A zip of one CSV file per record type.
    Csv,
    /// One JSON object per line, each naming its record type.
    Jsonl,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Csv, Self::Jsonl]
            .into_iter()
            .find(|f| f.as_str() == value.trim())
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Csv => "CSV files in a zip",
            Self::Jsonl => "JSON lines",
        }
    }

    /// The downloaded file's extension and media type.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "zip",
            Self::Jsonl => "jsonl",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Self::Csv => "application/zip",
            Self::Jsonl => "application/jsonl",
        }
    }
}

/// Mirrors `aura.export_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "aura.export_status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    Queued,
    Running,
    Done,
    Failed,
    Expired,
}

impl ExportStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::Queued => "Waiting to start",
            Self::Running => "Running",
            Self::Done => "Ready",
            Self::Failed => "Failed",
            Self::Expired => "Expired",
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Export {
    #[schema(value_type = uuid::Uuid)]
    pub id: ExportId,
    pub format: ExportFormat,
    pub status: ExportStatus,
    /// Who asked for it.
    pub requested_by_name: String,
    /// Records written so far, of `records_total` (counted when the run began).
    pub records_done: i64,
    pub records_total: Option<i64>,
    /// The record type being written (`contacts`).
    pub current_part: Option<String>,
    /// The file's size so far, in bytes.
    pub bytes: i64,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When the download link stops working (set once it is ready).
    pub expires_at: Option<DateTime<Utc>>,
}

impl Export {
    /// Still waiting or being written: the page keeps polling.
    pub fn in_progress(&self) -> bool {
        matches!(self.status, ExportStatus::Queued | ExportStatus::Running)
    }

    /// Ready and not yet expired.
    pub fn downloadable(&self) -> bool {
        self.status == ExportStatus::Done && self.expires_at.is_some_and(|at| at > Utc::now())
    }

    /// Done but past its expiry (the sweep may not have deleted it yet), or deleted already.
    pub fn expired(&self) -> bool {
        self.status == ExportStatus::Expired
            || (self.status == ExportStatus::Done && !self.downloadable())
    }

    /// Progress in whole percent, when the total is known.
    pub fn percent(&self) -> Option<i64> {
        self.records_total.map(|total| {
            if total == 0 {
                100
            } else {
                (self.records_done * 100 / total).clamp(0, 100)
            }
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("only admins export the workspace")]
    NotAdmin,
    #[error("no such export")]
    NotFound,
    #[error("the export is not finished")]
    NotReady,
    #[error("the export's file has expired")]
    Expired,
    #[error("the code is wrong")]
    WrongCode,
    #[error("there is no usable code")]
    NoCode,
    #[error("the password is wrong or the account is locked")]
    WrongPassword,
    #[error("an export is already waiting or running")]
    AlreadyRunning,
    #[error(transparent)]
    Db(#[from] DbError),
}

fn admin_only(context: TenantContext) -> Result<(), ExportError> {
    if context.role.may(Permission::ExportWorkspace) {
        Ok(())
    } else {
        Err(ExportError::NotAdmin)
    }
}

/// Sends the admin in context a one-time code to export the workspace.
pub async fn request_code(
    pool: &AppPool,
    context: TenantContext,
) -> Result<IssuedCode, ExportError> {
    admin_only(context)?;
    let mut tx = pool.begin(context).await?;
    let code = step_up::issue(&mut tx, &Purpose::ExportWorkspace).await?;
    tx.commit().await?;
    Ok(code)
}

/// Queues an export of the whole workspace once the admin has proved it is them (`proof`).
/// One at a time per workspace: while one waits or runs, another is refused. Audited.
pub async fn start(
    pool: &AppPool,
    context: TenantContext,
    format: ExportFormat,
    proof: Proof<'_>,
) -> Result<ExportId, ExportError> {
    admin_only(context)?;
    if let Proof::Password { password, source } = proof {
        // Before the transaction: hashing is slow.
        auth::confirm_password(pool, context.user_id, password, source)
            .await
            .map_err(|err| match err {
                LoginError::Rejected => ExportError::WrongPassword,
                LoginError::Db(err) => err.into(),
            })?;
    }
    let mut tx = pool.begin(context).await?;
    // Before the code is consumed: a refusal here leaves it usable.
    let busy = sqlx::query_scalar!(
        r#"select exists (select 1 from exports
                          where tenant_id = $1 and status in ('queued', 'running')) as "busy!""#,
        context.tenant_id.as_uuid(),
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    if busy {
        return Err(ExportError::AlreadyRunning);
    }
    if let Proof::Code(code) = proof {
        if let Err(err) = step_up::consume(&mut tx, &Purpose::ExportWorkspace, code).await {
            tx.commit().await?; // the counted attempt
            return Err(match err {
                StepUpError::Wrong => ExportError::WrongCode,
                StepUpError::NoCode => ExportError::NoCode,
                StepUpError::Db(err) => err.into(),
            });
        }
    }
    let id = ExportId::new();
    sqlx::query!(
        "insert into exports (tenant_id, id, format, requested_by) values ($1, $2, $3, $4)",
        context.tenant_id.as_uuid(),
        id as ExportId,
        format as ExportFormat,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(|err| match DbError::from(err) {
        // Another start won the race since the check above (`exports_one_at_a_time`).
        err if err.unique_violation() == Some("exports_one_at_a_time") => {
            ExportError::AlreadyRunning
        }
        err => err.into(),
    })?;
    audit::record(
        &mut tx,
        "workspace.export_started",
        "export",
        id.as_uuid(),
        None,
        Some(json!({ "format": format.as_str() })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// How many of the newest exports the page lists.
const LISTED: i64 = 10;

/// The workspace's newest exports, newest first (admins).
pub async fn list(pool: &AppPool, context: TenantContext) -> Result<Vec<Export>, ExportError> {
    admin_only(context)?;
    let mut tx = pool.begin(context).await?;
    let exports = sqlx::query_as!(
        Export,
        r#"select e.id as "id: ExportId", e.format as "format: ExportFormat",
                  e.status as "status: ExportStatus",
                  coalesce(u.display_name, 'a former member') as "requested_by_name!",
                  e.records_done, e.records_total, e.current_part, e.bytes, e.error,
                  e.created_at, e.finished_at, e.expires_at
           from exports e left join users u on u.id = e.requested_by
           where e.tenant_id = $1
           order by e.created_at desc, e.id desc
           limit $2"#,
        context.tenant_id.as_uuid(),
        LISTED,
    )
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?;
    Ok(exports)
}

/// One export (admins).
pub async fn get(
    pool: &AppPool,
    context: TenantContext,
    id: ExportId,
) -> Result<Export, ExportError> {
    admin_only(context)?;
    let mut tx = pool.begin(context).await?;
    find(&mut tx, id).await
}

async fn find(tx: &mut TenantTx, id: ExportId) -> Result<Export, ExportError> {
    let tenant = tx.context().tenant_id;
    sqlx::query_as!(
        Export,
        r#"select e.id as "id: ExportId", e.format as "format: ExportFormat",
                  e.status as "status: ExportStatus",
                  coalesce(u.display_name, 'a former member') as "requested_by_name!",
                  e.records_done, e.records_total, e.current_part, e.bytes, e.error,
                  e.created_at, e.finished_at, e.expires_at
           from exports e left join users u on u.id = e.requested_by
           where e.tenant_id = $1 and e.id = $2"#,
        tenant.as_uuid(),
        id as ExportId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?
    .ok_or(ExportError::NotFound)
}

/// A finished export about to be downloaded: what the response needs, and its chunks.
pub struct Download {
    pub export: Export,
    pub chunks: i32,
}

/// Opens a finished, unexpired export for download (admins), and audits the download.
pub async fn open_download(
    pool: &AppPool,
    context: TenantContext,
    id: ExportId,
) -> Result<Download, ExportError> {
    admin_only(context)?;
    let mut tx = pool.begin(context).await?;
    let export = find(&mut tx, id).await?;
    if export.expired() {
        return Err(ExportError::Expired);
    }
    if !export.downloadable() {
        return Err(ExportError::NotReady);
    }
    let chunks = sqlx::query_scalar!(
        r#"select count(*)::integer as "count!" from export_chunks
           where tenant_id = $1 and export_id = $2"#,
        context.tenant_id.as_uuid(),
        id as ExportId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    audit::record(
        &mut tx,
        "workspace.export_downloaded",
        "export",
        id.as_uuid(),
        None,
        Some(json!({ "format": export.format.as_str(), "bytes": export.bytes })),
    )
    .await?;
    tx.commit().await?;
    Ok(Download { export, chunks })
}

/// The file's bytes, one stored chunk at a time, each read in its own short transaction: a
/// download of any size holds one chunk in memory and no transaction open while the client
/// reads slowly.
pub fn stream(
    pool: AppPool,
    context: TenantContext,
    download: &Download,
) -> impl Stream<Item = Result<Vec<u8>, DbError>> + Send + 'static {
    let id = download.export.id;
    let count = download.chunks;
    futures_util::stream::try_unfold(0, move |seq| {
        let pool = pool.clone();
        async move {
            if seq >= count {
                return Ok(None);
            }
            let mut tx = pool.begin(context).await?;
            let data = sqlx::query_scalar!(
                "select data from export_chunks
                 where tenant_id = $1 and export_id = $2 and seq = $3",
                context.tenant_id.as_uuid(),
                id as ExportId,
                seq,
            )
            .fetch_one(tx.conn())
            .await?;
            tx.commit().await?;
            Ok(Some((data, seq + 1)))
        }
    })
}

// The worker's side --------------------------------------------------------------------------

/// An export a worker claimed: it runs in the requesting admin's context.
#[derive(Debug, Clone, Copy)]
pub struct Claimed {
    pub tenant_id: TenantId,
    pub id: ExportId,
    pub requested_by: UserId,
    pub format: ExportFormat,
    /// Runs begun, this one included.
    pub attempts: i32,
}

impl Claimed {
    /// The requesting admin's context, in which the whole run reads and writes. Whether they
    /// are still an admin is checked by [`begin_run`].
    pub fn context(&self) -> TenantContext {
        TenantContext {
            tenant_id: self.tenant_id,
            user_id: self.requested_by,
            role: MemberRole::Admin,
            read_only: false,
        }
    }
}

/// Runs of one export before it is given up (each interrupted by a server's death).
pub const MAX_ATTEMPTS: i32 = 3;

/// Claims the oldest waiting export of any workspace, or one whose server died mid-run (its
/// lease ran out), holding it for `lease`.
pub async fn claim(pool: &AppPool, lease: Duration) -> Result<Option<Claimed>, DbError> {
    // No context: the claim function is the one thing this transaction can do.
    let mut tx = pool.begin_unscoped().await?;
    let claimed = sqlx::query!(
        r#"select tenant_id as "tenant_id!: TenantId", export_id as "export_id!: ExportId",
                  requested_by as "requested_by!: UserId",
                  format as "format!: ExportFormat", attempts as "attempts!"
           from aura.claim_export($1)"#,
        lease.as_secs() as i32,
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(claimed.map(|row| Claimed {
        tenant_id: row.tenant_id,
        id: row.export_id,
        requested_by: row.requested_by,
        format: row.format,
        attempts: row.attempts,
    }))
}

/// Deletes the files of exports past their expiry, in every workspace. Answers how many.
pub async fn expire(pool: &AppPool) -> Result<i64, DbError> {
    let mut tx = pool.begin_unscoped().await?;
    let expired = sqlx::query_scalar!(r#"select aura.expire_exports() as "count!""#)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(expired)
}

/// Why a run stopped before its file was complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The requesting admin is no longer an active admin here: the export is not made.
    #[error("the admin who asked for this export is no longer an active admin")]
    NotAdmin,
    /// Another server holds the export now (this one's lease ran out): this run stops quietly.
    #[error("the export's claim was lost")]
    ClaimLost,
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Starts a run: checks that the requesting admin still is one, deletes what an interrupted
/// earlier run stored, and records the total the progress counts toward.
pub async fn begin_run(pool: &AppPool, job: &Claimed, total: i64) -> Result<(), RunError> {
    let mut tx = pool.begin(job.context()).await?;
    let still_admin = sqlx::query_scalar!(
        r#"select exists (select 1 from tenant_members
                          where tenant_id = $1 and user_id = $2 and role = 'admin'
                            and deactivated_at is null) as "admin!""#,
        job.tenant_id.as_uuid(),
        job.requested_by as UserId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    if !still_admin {
        return Err(RunError::NotAdmin);
    }
    sqlx::query!(
        "delete from export_chunks where tenant_id = $1 and export_id = $2",
        job.tenant_id.as_uuid(),
        job.id as ExportId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    sqlx::query!(
        "update exports set records_total = $4
         where tenant_id = $1 and id = $2 and status = 'running' and attempts = $3",
        job.tenant_id.as_uuid(),
        job.id as ExportId,
        job.attempts,
        total,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(())
}

/// Progress made since the last report: a chunk of the file to store (if one filled up), the
/// records written so far and the part being written.
pub struct Progress<'a> {
    pub chunk: Option<(i32, &'a [u8])>,
    pub records_done: i64,
    pub bytes: i64,
    pub part: &'a str,
}

/// Stores a chunk and the progress, and renews the lease, in one transaction: a chunk is
/// stored only while this run still holds the export.
pub async fn report(
    pool: &AppPool,
    job: &Claimed,
    lease: Duration,
    progress: Progress<'_>,
) -> Result<(), RunError> {
    let mut tx = pool.begin(job.context()).await?;
    let held = sqlx::query!(
        "update exports
         set records_done = $4, bytes = $5, current_part = $6,
             lease_until = now() + make_interval(secs => $7)
         where tenant_id = $1 and id = $2 and status = 'running' and attempts = $3",
        job.tenant_id.as_uuid(),
        job.id as ExportId,
        job.attempts,
        progress.records_done,
        progress.bytes,
        progress.part,
        lease.as_secs_f64(),
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    if held == 0 {
        return Err(RunError::ClaimLost);
    }
    if let Some((seq, data)) = progress.chunk {
        sqlx::query!(
            "insert into export_chunks (tenant_id, export_id, seq, data) values ($1, $2, $3, $4)",
            job.tenant_id.as_uuid(),
            job.id as ExportId,
            seq,
            data,
        )
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    }
    tx.commit().await?;
    Ok(())
}

/// Marks the run's export ready for [`DOWNLOAD_LIFETIME`].
pub async fn finish(
    pool: &AppPool,
    job: &Claimed,
    records: i64,
    bytes: i64,
) -> Result<(), RunError> {
    let mut tx = pool.begin(job.context()).await?;
    let held = sqlx::query!(
        "update exports
         set status = 'done', records_done = $4, bytes = $5, current_part = null,
             lease_until = null, finished_at = now(),
             expires_at = now() + make_interval(secs => $6)
         where tenant_id = $1 and id = $2 and status = 'running' and attempts = $3",
        job.tenant_id.as_uuid(),
        job.id as ExportId,
        job.attempts,
        records,
        bytes,
        DOWNLOAD_LIFETIME.as_secs_f64(),
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    if held == 0 {
        return Err(RunError::ClaimLost);
    }
    tx.commit().await?;
    Ok(())
}

/// Marks the run's export failed with `error` (shown to the admins) and deletes what it
/// stored. Written with the workspace in context and no user: the requesting admin may be the
/// reason it failed.
pub async fn fail(pool: &AppPool, job: &Claimed, error: &str) -> Result<(), DbError> {
    let mut tx = pool.begin_tenant_scope(job.tenant_id).await?;
    sqlx::query!(
        "delete from export_chunks where tenant_id = $1 and export_id = $2",
        job.tenant_id.as_uuid(),
        job.id as ExportId,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "update exports
         set status = 'failed', error = $4, lease_until = null, finished_at = now()
         where tenant_id = $1 and id = $2 and status = 'running' and attempts = $3",
        job.tenant_id.as_uuid(),
        job.id as ExportId,
        job.attempts,
        error.chars().take(500).collect::<String>(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
