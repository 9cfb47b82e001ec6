//! What a workspace export holds, and the worker that writes it (NFR-D2, issue 15).
//!
//! Streaming all the way: each record type is one query read row by row from PostgreSQL
//! (sqlx's `fetch` stream: rows are decoded as they arrive, none are collected), each row is
//! written as a CSV record straight into the zip writer (or as a JSON line), and the zip's
//! output is cut into 1 MiB chunks stored as they fill. So memory holds one row, the
//! compressor's window and at most one chunk, whatever the workspace's size.
//!
//! The run reads in one `repeatable read, read only` transaction in the requesting admin's
//! context (a consistent snapshot across the files, under row-level security, never as the
//! owner); chunks and progress are written in short transactions of their own, so the page
//! sees the progress while the run goes on.
//!
//! The CSV layout is the contract the import reads (README, "Workspace export"): built-in
//! columns headed by the field's API key, custom fields as `custom:<key>` in their text form,
//! organizations named by name and owners by email.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::exports::{self, Claimed, ExportFormat, Progress, RunError};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use futures_util::TryStreamExt;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use sqlx::Executor;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

use crate::custom_fields::{self, Definition, Entity};

/// The size of a stored chunk of the file.
const CHUNK: usize = 1 << 20;
/// How long a claim holds an export without news from its run; each report renews it. A
/// server that dies mid-run leaves the export to another one (or itself, restarted) after it.
pub const LEASE: Duration = Duration::from_secs(60);
/// Records between progress reports when no chunk filled up meanwhile.
const REPORT_EVERY: i64 = 2_000;

/// The export worker: a task in every server. Each round it deletes expired files, claims one
/// waiting export (or one whose server died) and runs it; idle, it waits `poll`.
#[derive(Clone)]
pub struct Worker {
    pool: AppPool,
    poll: Duration,
}

impl Worker {
    pub fn new(pool: AppPool, poll: Duration) -> Self {
        Self { pool, poll }
    }

    /// Runs until the task is dropped.
    pub async fn run(self) {
        loop {
            match self.round().await {
                Ok(true) => {}
                Ok(false) => tokio::time::sleep(self.poll).await,
                Err(err) => {
                    tracing::warn!(error = %err, "export round failed");
                    tokio::time::sleep(self.poll).await;
                }
            }
        }
    }

    /// One round; answers whether it ran an export.
    pub async fn round(&self) -> Result<bool, DbError> {
        let expired = exports::expire(&self.pool).await?;
        if expired > 0 {
            tracing::info!(expired, "expired export files deleted");
        }
        let Some(job) = exports::claim(&self.pool, LEASE).await? else {
            return Ok(false);
        };
        if job.attempts > exports::MAX_ATTEMPTS {
            exports::fail(
                &self.pool,
                &job,
                "The export was interrupted too many times. Start a new one.",
            )
            .await?;
            return Ok(true);
        }
        match run(&self.pool, &job).await {
            Ok(()) => {
                tracing::info!(export_id = %job.id, tenant_id = %job.tenant_id, "export finished");
            }
            Err(RunError::ClaimLost) => {
                tracing::warn!(export_id = %job.id, "export claim lost to another server");
            }
            Err(RunError::Db(DbError::Unavailable(err))) => {
                // The lease runs out and the export is claimed again once the database is back.
                tracing::warn!(export_id = %job.id, error = %err, "export interrupted: database unavailable");
            }
            Err(err) => {
                tracing::warn!(export_id = %job.id, error = %err, "export failed");
                let message = match &err {
                    RunError::NotAdmin | RunError::Failed(_) => err.to_string(),
                    _ => "The export failed on the server. Start a new one.".to_owned(),
                };
                exports::fail(&self.pool, &job, &message).await?;
            }
        }
        Ok(true)
    }
}

/// Writes the whole workspace for `job`.
pub async fn run(pool: &AppPool, job: &Claimed) -> Result<(), RunError> {
    let reading = TenantContext {
        read_only: true,
        ..job.context()
    };
    let mut read = pool.begin(reading).await?;
    // Before the first query: one snapshot for every file, so a contact created mid-export
    // is in contacts.csv and its organization in organizations.csv, or in neither.
    read.conn()
        .execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await
        .map_err(DbError::from)?;
    let total = count(&mut read).await?;
    exports::begin_run(pool, job, total).await?;
    let mut run = Run::new(pool, job);
    organizations(&mut read, &mut run).await?;
    contacts(&mut read, &mut run).await?;
    deals(&mut read, &mut run).await?;
    line_items(&mut read, &mut run).await?;
    products(&mut read, &mut run).await?;
    activities(&mut read, &mut run).await?;
    follow_ups(&mut read, &mut run).await?;
    drop(read);
    run.finish().await
}

/// What the zip writer writes into: the run takes full chunks out of it between records (the
/// zip crate's streaming writer keeps its inner writer to itself until it finishes).
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    /// The bytes written so far if there are at least `min`, leaving it empty.
    fn take(&self, min: usize) -> Option<Vec<u8>> {
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (buffer.len() >= min.max(1))
            .then(|| std::mem::replace(&mut *buffer, Vec::with_capacity(CHUNK)))
    }
}

type Zip = ZipWriter<StreamWriter<Sink>>;

/// The zip between files, or the open CSV file's writer (which owns the zip) while one is
/// written.
struct CsvFiles {
    zip: Option<Zip>,
    file: Option<csv::Writer<Zip>>,
}

/// Turns records into the file's bytes.
enum Encoder {
    /// One CSV file per record type in a zip (boxed: the zip writer is large).
    Csv(Box<CsvFiles>),
    /// One JSON object per line; `header` names the current record type's fields.
    Jsonl {
        out: Sink,
        part: &'static str,
        header: Vec<String>,
    },
}

fn failed(what: &str, err: impl std::fmt::Display) -> RunError {
    RunError::Failed(format!("Writing the file failed ({what}: {err})."))
}

impl Encoder {
    fn new(format: ExportFormat, sink: &Sink) -> Self {
        match format {
            ExportFormat::Csv => Self::Csv(Box::new(CsvFiles {
                zip: Some(ZipWriter::new_stream(sink.clone())),
                file: None,
            })),
            ExportFormat::Jsonl => Self::Jsonl {
                out: sink.clone(),
                part: "",
                header: Vec::new(),
            },
        }
    }

    fn begin_part(&mut self, part: &'static str, header: Vec<String>) -> Result<(), RunError> {
        match self {
            Self::Csv(files) => {
                let CsvFiles { zip, file } = &mut **files;
                let mut archive = match file.take() {
                    Some(open) => open.into_inner().map_err(|e| failed("csv", e.error()))?,
                    None => zip
                        .take()
                        .ok_or_else(|| failed("zip", "already finished"))?,
                };
                let options = SimpleFileOptions::default()
                    .compression_method(CompressionMethod::Deflated)
                    // A workspace's contacts.csv may pass 4 GiB.
                    .large_file(true);
                archive
                    .start_file(format!("{part}.csv"), options)
                    .map_err(|e| failed("zip", e))?;
                let mut writer = csv::Writer::from_writer(archive);
                writer.write_record(&header).map_err(|e| failed("csv", e))?;
                *file = Some(writer);
            }
            Self::Jsonl {
                part: current,
                header: names,
                ..
            } => {
                *current = part;
                *names = header;
            }
        }
        Ok(())
    }

    fn record(&mut self, fields: &[String]) -> Result<(), RunError> {
        match self {
            Self::Csv(files) => files
                .file
                .as_mut()
                .ok_or_else(|| failed("csv", "no file open"))?
                .write_record(fields)
                .map_err(|e| failed("csv", e)),
            Self::Jsonl { out, part, header } => {
                let mut object = Map::with_capacity(fields.len() + 1);
                object.insert("record_type".into(), Value::String((*part).into()));
                for (name, value) in header.iter().zip(fields) {
                    let value = if value.is_empty() {
                        Value::Null
                    } else {
                        Value::String(value.clone())
                    };
                    object.insert(name.clone(), value);
                }
                serde_json::to_writer(&mut *out, &object).map_err(|e| failed("json", e))?;
                out.write_all(b"\n").map_err(|e| failed("json", e))
            }
        }
    }

    /// Writes what closes the file (the zip's central directory).
    fn finish(&mut self) -> Result<(), RunError> {
        if let Self::Csv(files) = self {
            let CsvFiles { zip, file } = &mut **files;
            let archive = match file.take() {
                Some(open) => open.into_inner().map_err(|e| failed("csv", e.error()))?,
                None => zip
                    .take()
                    .ok_or_else(|| failed("zip", "already finished"))?,
            };
            archive.finish().map_err(|e| failed("zip", e))?;
        }
        Ok(())
    }
}

/// A run in progress: the encoder, and what has been stored and reported.
struct Run<'a> {
    pool: &'a AppPool,
    job: &'a Claimed,
    sink: Sink,
    encoder: Encoder,
    part: &'static str,
    next_seq: i32,
    records: i64,
    bytes: i64,
    unreported: i64,
}

impl<'a> Run<'a> {
    fn new(pool: &'a AppPool, job: &'a Claimed) -> Self {
        let sink = Sink::default();
        Self {
            pool,
            job,
            encoder: Encoder::new(job.format, &sink),
            sink,
            part: "",
            next_seq: 0,
            records: 0,
            bytes: 0,
            unreported: 0,
        }
    }

    fn begin_part(&mut self, part: &'static str, header: Vec<String>) -> Result<(), RunError> {
        self.part = part;
        self.encoder.begin_part(part, header)
    }

    async fn record(&mut self, fields: &[String]) -> Result<(), RunError> {
        self.encoder.record(fields)?;
        self.records += 1;
        self.unreported += 1;
        self.store(CHUNK).await
    }

    /// Stores the sink's bytes as the next chunk if there are at least `min`, and reports
    /// progress when a chunk was stored or enough records went by.
    async fn store(&mut self, min: usize) -> Result<(), RunError> {
        let chunk = self.sink.take(min);
        if chunk.is_none() && self.unreported < REPORT_EVERY {
            return Ok(());
        }
        let seq = self.next_seq;
        if let Some(data) = &chunk {
            self.bytes += data.len() as i64;
            self.next_seq += 1;
        }
        exports::report(
            self.pool,
            self.job,
            LEASE,
            Progress {
                chunk: chunk.as_deref().map(|data| (seq, data)),
                records_done: self.records,
                bytes: self.bytes,
                part: self.part,
            },
        )
        .await?;
        self.unreported = 0;
        Ok(())
    }

    async fn finish(mut self) -> Result<(), RunError> {
        self.encoder.finish()?;
        self.unreported = REPORT_EVERY;
        self.store(1).await?;
        exports::finish(self.pool, self.job, self.records, self.bytes).await
    }
}

// Field text forms ----------------------------------------------------------------------------

fn text(value: Option<String>) -> String {
    value.unwrap_or_default()
}

fn time(value: DateTime<Utc>) -> String {
    value.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn optional_time(value: Option<DateTime<Utc>>) -> String {
    value.map(time).unwrap_or_default()
}

fn date(value: Option<NaiveDate>) -> String {
    value
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn decimal(value: Option<Decimal>) -> String {
    value.map(|d| d.normalize().to_string()).unwrap_or_default()
}

/// Writes one record type's file: the header (the listed columns, then a `custom:<key>` column
/// per custom field), then each row the query streams, as the listed columns' text and, after
/// `+`, the custom field values in their text form. Each column's name stands beside its value,
/// so the header and the rows cannot drift apart. (A macro: each `query!` has its own row type.)
macro_rules! write_part {
    ($run:ident, $read:ident, $part:literal, $custom:expr, $query:expr,
     |$row:ident| [$($column:literal => $value:expr),+ $(,)?] $(+ $values:expr)?) => {{
        let custom: &[Definition] = $custom;
        let header = [$($column),+]
            .into_iter()
            .map(str::to_owned)
            .chain(custom.iter().map(|d| format!("custom:{}", d.key)))
            .collect();
        $run.begin_part($part, header)?;
        let mut rows = $query.fetch($read.conn());
        while let Some($row) = rows.try_next().await.map_err(DbError::from)? {
            #[allow(unused_mut)]
            let mut fields = vec![$($value),+];
            $(fields.extend(custom.iter().map(|d| d.value_text($values)));)?
            $run.record(&fields).await?;
        }
        Ok(())
    }};
}

// The record types ----------------------------------------------------------------------------

/// Every record the export writes, for the progress bar's total.
async fn count(read: &mut TenantTx) -> Result<i64, DbError> {
    let tenant = read.context().tenant_id;
    Ok(sqlx::query_scalar!(
        r#"select (select count(*) from organizations where tenant_id = $1 and deleted_at is null)
                + (select count(*) from contacts where tenant_id = $1 and deleted_at is null)
                + (select count(*) from deals where tenant_id = $1 and deleted_at is null)
                + (select count(*) from deal_line_items l
                   join deals d on d.tenant_id = l.tenant_id and d.id = l.deal_id
                   where l.tenant_id = $1 and l.deleted_at is null and d.deleted_at is null)
                + (select count(*) from products where tenant_id = $1)
                + (select count(*) from activities where tenant_id = $1 and deleted_at is null)
                + (select count(*) from follow_ups where tenant_id = $1 and deleted_at is null)
           as "total!""#,
        tenant.as_uuid(),
    )
    .fetch_one(read.conn())
    .await?)
}

/// `organizations.csv`: live organizations by name; `parent` by the parent's name.
async fn organizations(read: &mut TenantTx, run: &mut Run<'_>) -> Result<(), RunError> {
    let tenant = read.context().tenant_id;
    let custom = custom_fields::definitions(read, Entity::Organization).await?;
    write_part!(
        run,
        read,
        "organizations",
        &custom,
        sqlx::query!(
            r#"select o.id, o.name, o.industry, o.size_band::text as size, o.location, o.website,
                      p.name as "parent?", o.custom_fields, o.created_at, o.updated_at
               from organizations o
               left join organizations p on p.tenant_id = o.tenant_id and p.id = o.parent_id
               where o.tenant_id = $1 and o.deleted_at is null
               order by o.name_key, o.id"#,
            tenant.as_uuid(),
        ),
        |row| [
            "id" => row.id.to_string(),
            "name" => row.name,
            "industry" => text(row.industry),
            "size" => text(row.size),
            "location" => text(row.location),
            "website" => text(row.website),
            "parent" => text(row.parent),
            "created_at" => time(row.created_at),
            "updated_at" => time(row.updated_at),
        ] + &row.custom_fields
    )
}

/// `contacts.csv`: live contacts in the list's order; `organization` by name, the owner by
/// email.
///
/// Plan measured as `aura_app` in an admin's context, one workspace of 50,000 contacts and
/// 10,000 organizations (PostgreSQL 15, `explain analyze`): a sequential scan of the tenant's
/// contacts, hash left joins to organizations (10,000 rows hashed, 840 kB) and to users,
/// then a sort by (sort_key, id) that spills to disk (external merge, 7 MB: PostgreSQL's
/// `work_mem` bounds it, not Aura's memory); 517 ms in all, the first row after the sort.
/// The whole workspace is read, so a scan beats an index walk; the order makes the file read
/// like the contact list.
async fn contacts(read: &mut TenantTx, run: &mut Run<'_>) -> Result<(), RunError> {
    let tenant = read.context().tenant_id;
    let custom = custom_fields::definitions(read, Entity::Contact).await?;
    write_part!(
        run,
        read,
        "contacts",
        &custom,
        sqlx::query!(
            r#"select c.id, c.first_name, c.last_name, c.email, c.phone, c.title,
                      o.name as "organization?", u.email as "owner_email?", c.custom_fields,
                      c.created_at, c.updated_at
               from contacts c
               left join organizations o on o.tenant_id = c.tenant_id and o.id = c.organization_id
               left join users u on u.id = c.assigned_to
               where c.tenant_id = $1 and c.deleted_at is null
               order by c.sort_key, c.id"#,
            tenant.as_uuid(),
        ),
        |row| [
            "id" => row.id.to_string(),
            "first_name" => row.first_name,
            "last_name" => row.last_name,
            "email" => text(row.email),
            "phone" => text(row.phone),
            "title" => text(row.title),
            "organization" => text(row.organization),
            "owner_email" => text(row.owner_email),
            "created_at" => time(row.created_at),
            "updated_at" => time(row.updated_at),
        ] + &row.custom_fields
    )
}

/// `deals.csv`: live deals with their process and stage by name.
async fn deals(read: &mut TenantTx, run: &mut Run<'_>) -> Result<(), RunError> {
    let tenant = read.context().tenant_id;
    let custom = custom_fields::definitions(read, Entity::Deal).await?;
    write_part!(
        run,
        read,
        "deals",
        &custom,
        sqlx::query!(
            r#"select d.id, d.name, d.amount, p.name as "process?", s.name as "stage?",
                      d.outcome::text as "outcome!", d.probability, d.expected_close_date,
                      o.name as "organization?", u.email as "owner_email?", d.notes, d.closed_at,
                      d.lost_reason, d.custom_fields, d.created_at, d.updated_at
               from deals d
               left join sales_processes p on p.tenant_id = d.tenant_id and p.id = d.process_id
               left join deal_stages s on s.tenant_id = d.tenant_id and s.id = d.stage_id
               left join organizations o on o.tenant_id = d.tenant_id and o.id = d.organization_id
               left join users u on u.id = d.assigned_to
               where d.tenant_id = $1 and d.deleted_at is null
               order by d.created_at, d.id"#,
            tenant.as_uuid(),
        ),
        |row| [
            "id" => row.id.to_string(),
            "name" => row.name,
            "amount" => decimal(row.amount),
            "process" => text(row.process),
            "stage" => text(row.stage),
            "outcome" => row.outcome,
            "probability" => decimal(Some(row.probability)),
            "expected_close_date" => date(row.expected_close_date),
            "organization" => text(row.organization),
            "owner_email" => text(row.owner_email),
            "notes" => text(row.notes),
            "closed_at" => optional_time(row.closed_at),
            "lost_reason" => text(row.lost_reason),
            "created_at" => time(row.created_at),
            "updated_at" => time(row.updated_at),
        ] + &row.custom_fields
    )
}

/// `deal_line_items.csv`: the live lines of live deals, by deal.
async fn line_items(read: &mut TenantTx, run: &mut Run<'_>) -> Result<(), RunError> {
    let tenant = read.context().tenant_id;
    write_part!(
        run,
        read,
        "deal_line_items",
        &[],
        sqlx::query!(
            r#"select l.id, l.deal_id, d.name as deal, p.sku as "product_sku?",
                      p.name as "product?", l.quantity, l.list_price, l.unit_cost, l.unit_price,
                      l.override_reason, l.extended_price, l.created_at, l.updated_at
               from deal_line_items l
               join deals d on d.tenant_id = l.tenant_id and d.id = l.deal_id
               left join products p on p.tenant_id = l.tenant_id and p.id = l.product_id
               where l.tenant_id = $1 and l.deleted_at is null and d.deleted_at is null
               order by l.deal_id, l.created_at, l.id"#,
            tenant.as_uuid(),
        ),
        |row| [
            "id" => row.id.to_string(),
            "deal_id" => row.deal_id.to_string(),
            "deal" => row.deal,
            "product_sku" => text(row.product_sku),
            "product" => text(row.product),
            "quantity" => row.quantity.to_string(),
            "list_price" => decimal(Some(row.list_price)),
            "unit_cost" => decimal(Some(row.unit_cost)),
            "unit_price" => decimal(Some(row.unit_price)),
            "override_reason" => text(row.override_reason),
            "extended_price" => decimal(Some(row.extended_price)),
            "created_at" => time(row.created_at),
            "updated_at" => time(row.updated_at),
        ]
    )
}

/// `products.csv`: the catalog, archived products too (deals' lines name them).
async fn products(read: &mut TenantTx, run: &mut Run<'_>) -> Result<(), RunError> {
    let tenant = read.context().tenant_id;
    let custom = custom_fields::definitions(read, Entity::Product).await?;
    write_part!(
        run,
        read,
        "products",
        &custom,
        sqlx::query!(
            r#"select id, sku, name, description, category, unit_price, unit_cost, active,
                      archived_at, custom_fields, created_at, updated_at
               from products
               where tenant_id = $1
               order by lower(sku), id"#,
            tenant.as_uuid(),
        ),
        |row| [
            "id" => row.id.to_string(),
            "sku" => row.sku,
            "name" => row.name,
            "description" => text(row.description),
            "category" => text(row.category),
            "unit_price" => decimal(Some(row.unit_price)),
            "unit_cost" => decimal(Some(row.unit_cost)),
            "active" => row.active.to_string(),
            "archived_at" => optional_time(row.archived_at),
            "created_at" => time(row.created_at),
            "updated_at" => time(row.updated_at),
        ] + &row.custom_fields
    )
}

/// `activities.csv`: the live timeline entries, oldest first.
async fn activities(read: &mut TenantTx, run: &mut Run<'_>) -> Result<(), RunError> {
    let tenant = read.context().tenant_id;
    write_part!(
        run,
        read,
        "activities",
        &[],
        sqlx::query!(
            r#"select a.id, a.kind::text as "kind!", a.occurred_at, a.contact_id,
                      c.email as "contact_email?", o.name as "organization?",
                      u.email as "participant_email?", a.description, a.created_at
               from activities a
               left join contacts c on c.tenant_id = a.tenant_id and c.id = a.contact_id
               left join organizations o on o.tenant_id = a.tenant_id and o.id = a.organization_id
               left join users u on u.id = a.participant_id
               where a.tenant_id = $1 and a.deleted_at is null
               order by a.occurred_at, a.id"#,
            tenant.as_uuid(),
        ),
        |row| [
            "id" => row.id.to_string(),
            "kind" => row.kind,
            "occurred_at" => time(row.occurred_at),
            "contact_id" => row.contact_id.map(|id| id.to_string()).unwrap_or_default(),
            "contact_email" => text(row.contact_email),
            "organization" => text(row.organization),
            "participant_email" => text(row.participant_email),
            "description" => row.description,
            "created_at" => time(row.created_at),
        ]
    )
}

/// `follow_ups.csv`: the live follow-ups, by due time.
async fn follow_ups(read: &mut TenantTx, run: &mut Run<'_>) -> Result<(), RunError> {
    let tenant = read.context().tenant_id;
    write_part!(
        run,
        read,
        "follow_ups",
        &[],
        sqlx::query!(
            r#"select f.id, f.kind::text as "kind!", f.subject, f.due_at,
                      u.email as "owner_email?", f.contact_id, f.deal_id, f.done_at, f.created_at,
                      f.updated_at
               from follow_ups f
               left join users u on u.id = f.owner_id
               where f.tenant_id = $1 and f.deleted_at is null
               order by f.due_at, f.id"#,
            tenant.as_uuid(),
        ),
        |row| [
            "id" => row.id.to_string(),
            "kind" => row.kind,
            "subject" => row.subject,
            "due_at" => time(row.due_at),
            "owner_email" => text(row.owner_email),
            "contact_id" => row.contact_id.map(|id| id.to_string()).unwrap_or_default(),
            "deal_id" => row.deal_id.map(|id| id.to_string()).unwrap_or_default(),
            "done_at" => optional_time(row.done_at),
            "created_at" => time(row.created_at),
            "updated_at" => time(row.updated_at),
        ]
    )
}
