//! CSV import of organizations, contacts and deals (issue 15, NFR-D1). A manager or an admin
//! (`AssignContacts`: an import assigns contacts to members and creates records in bulk)
//! uploads a file (kept in the workspace's `imports` row, so any server's worker can run it), maps its
//! columns to fields (remembered per workspace and record type for the same headers), previews
//! what would happen to each row, chooses what to do with duplicates, and starts it. A worker
//! in every server claims started imports (`aura.claim_import`) and runs each in one
//! transaction, in the context of the member who started it: it lands whole or not at all, and
//! a finished one is audited with its counts and keeps a report of its rejected rows.
//!
//! Every row is checked by the same code as the forms (`ContactInput`/`OrganizationInput`/
//! `DealInput`, and what a new deal needs in its stage), and written in batches (one `unnest`
//! statement per thousand rows). Deals have no duplicates: every valid row creates a deal, in
//! the process and stage it names (which must exist first), with the audit entry, contact link
//! and stage history a deal created by its form gets.

pub mod csv_file;
mod plan;

use std::collections::BTreeMap;

use aura_platform::audit;
use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::ids::{MemberRole, TenantId, UserId};
use aura_platform::permissions::Permission;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::custom_fields::{self, Definition, Entity};
use crate::fields::{FieldError, WriteError};
pub use plan::{Outcome, PlannedRow};

aura_platform::id_type!(
    /// An import of a CSV file.
    ImportId
);

/// Largest file an import takes.
pub const MAX_FILE_BYTES: usize = 20 * 1024 * 1024;

/// Rows a preview shows.
pub const PREVIEW_ROWS: usize = 20;

/// Rows written per statement.
const BATCH: usize = 1000;

/// How long a worker's claim on a running import lasts; each batch renews it.
const LEASE_SECONDS: i32 = 120;

/// Which records a file holds. Mirrors `aura.import_entity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "aura.import_entity", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ImportEntity {
    Organization,
    Contact,
    Deal,
}

impl ImportEntity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Contact => "contact",
            Self::Deal => "deal",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Self::Organization => "organizations",
            Self::Contact => "contacts",
            Self::Deal => "deals",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Organization, Self::Contact, Self::Deal]
            .into_iter()
            .find(|e| e.as_str() == value.trim())
    }

    fn custom_entity(self) -> Entity {
        match self {
            Self::Organization => Entity::Organization,
            Self::Contact => Entity::Contact,
            Self::Deal => Entity::Deal,
        }
    }

    /// The built-in fields a column may go to.
    pub fn builtins(self) -> &'static [Builtin] {
        match self {
            Self::Organization => &[
                Builtin::Name,
                Builtin::Industry,
                Builtin::Size,
                Builtin::Location,
                Builtin::Website,
                Builtin::Parent,
            ],
            Self::Contact => &[
                Builtin::FirstName,
                Builtin::LastName,
                Builtin::Email,
                Builtin::Phone,
                Builtin::Title,
                Builtin::Organization,
                Builtin::OwnerEmail,
            ],
            // The columns of an export's `deals.csv` (its `outcome` and `closed_at` follow from
            // the stage), and the email of a contact to put on the deal.
            Self::Deal => &[
                Builtin::Name,
                Builtin::Amount,
                Builtin::Process,
                Builtin::Stage,
                Builtin::Probability,
                Builtin::ExpectedCloseDate,
                Builtin::Organization,
                Builtin::ContactEmail,
                Builtin::OwnerEmail,
                Builtin::Notes,
                Builtin::LostReason,
            ],
        }
    }

    /// Whether a row may duplicate an existing record (by email or name). A deal has no such
    /// key: every valid row creates a deal.
    pub fn has_duplicates(self) -> bool {
        !matches!(self, Self::Deal)
    }
}

/// Mirrors `aura.import_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "aura.import_status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Uploaded: being mapped and previewed.
    Uploaded,
    /// Started, waiting for a worker.
    Queued,
    Running,
    Finished,
    Failed,
}

impl ImportStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::Uploaded => "Not started",
            Self::Queued => "Waiting to run",
            Self::Running => "Running",
            Self::Finished => "Finished",
            Self::Failed => "Failed",
        }
    }

    /// Whether a worker still has it to do.
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

/// What an import does with a row whose email (contact) or name (organization) is already a
/// live record's. Mirrors `aura.import_duplicates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "aura.import_duplicates", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Duplicates {
    /// Leave the existing record as it is.
    Skip,
    /// Overwrite the existing record's mapped fields with the row's.
    Update,
}

impl Duplicates {
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "skip" => Some(Self::Skip),
            "update" => Some(Self::Update),
            _ => None,
        }
    }
}

/// A built-in field a column may be mapped to, headed by its API key in an export (the CSV
/// contract shared with export).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Builtin {
    Name,
    Industry,
    Size,
    Location,
    Website,
    Parent,
    FirstName,
    LastName,
    Email,
    Phone,
    Title,
    Organization,
    OwnerEmail,
    Amount,
    Process,
    Stage,
    Probability,
    ExpectedCloseDate,
    ContactEmail,
    Notes,
    LostReason,
}

impl Builtin {
    pub fn key(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Industry => "industry",
            Self::Size => "size",
            Self::Location => "location",
            Self::Website => "website",
            Self::Parent => "parent",
            Self::FirstName => "first_name",
            Self::LastName => "last_name",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Title => "title",
            Self::Organization => "organization",
            Self::OwnerEmail => "owner_email",
            Self::Amount => "amount",
            Self::Process => "process",
            Self::Stage => "stage",
            Self::Probability => "probability",
            Self::ExpectedCloseDate => "expected_close_date",
            Self::ContactEmail => "contact_email",
            Self::Notes => "notes",
            Self::LostReason => "lost_reason",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Name => "Name",
            Self::Industry => "Industry",
            Self::Size => "Size",
            Self::Location => "Location",
            Self::Website => "Website",
            Self::Parent => "Parent organization",
            Self::FirstName => "First name",
            Self::LastName => "Last name",
            Self::Email => "Email",
            Self::Phone => "Phone",
            Self::Title => "Title",
            Self::Organization => "Organization",
            Self::OwnerEmail => "Owner email",
            Self::Amount => "Amount",
            Self::Process => "Sales process",
            Self::Stage => "Stage",
            Self::Probability => "Probability (%)",
            Self::ExpectedCloseDate => "Expected close date",
            Self::ContactEmail => "Contact email",
            Self::Notes => "Notes",
            Self::LostReason => "Lost reason",
        }
    }

    /// The input field whose problems a form reports under another name than this key.
    fn input_field(self) -> &'static str {
        match self {
            Self::Size => "size_band",
            Self::Parent => "parent_id",
            Self::Organization => "organization_id",
            Self::OwnerEmail => "assigned_to",
            Self::Process => "process_id",
            Self::Stage => "stage_id",
            Self::ContactEmail => "contacts",
            other => other.key(),
        }
    }
}

/// Where a column goes: a built-in field or a custom field (by key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Builtin(Builtin),
    Custom(String),
}

impl Target {
    /// `first_name`, or `custom:<key>` for a custom field: the export's column header.
    pub fn key(&self) -> String {
        match self {
            Self::Builtin(field) => field.key().to_owned(),
            Self::Custom(key) => format!("custom:{key}"),
        }
    }

    /// A target by its key, if `entity` has such a field.
    pub fn parse(entity: ImportEntity, key: &str, definitions: &[Definition]) -> Option<Self> {
        if let Some(custom) = key.strip_prefix("custom:") {
            return definitions
                .iter()
                .any(|d| d.key == custom)
                .then(|| Self::Custom(custom.to_owned()));
        }
        entity
            .builtins()
            .iter()
            .find(|b| b.key() == key)
            .map(|b| Self::Builtin(*b))
    }
}

/// Which column goes to which field, by column index (a column left out is ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping(pub BTreeMap<usize, Target>);

impl Mapping {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(column, target)| (column.to_string(), target.key().into()))
                .collect(),
        )
    }

    /// The stored mapping, keeping only what still names a column and a live field.
    fn from_json(
        value: &serde_json::Value,
        entity: ImportEntity,
        columns: usize,
        definitions: &[Definition],
    ) -> Self {
        let mut mapping = BTreeMap::new();
        for (column, key) in value.as_object().into_iter().flatten() {
            let (Ok(column), Some(key)) = (column.parse::<usize>(), key.as_str()) else {
                continue;
            };
            if let (true, Some(target)) =
                (column < columns, Target::parse(entity, key, definitions))
            {
                mapping.insert(column, target);
            }
        }
        Self(mapping)
    }

    /// The column mapped to `target`, if one is.
    pub fn column_of(&self, target: &Target) -> Option<usize> {
        self.0.iter().find(|(_, t)| *t == target).map(|(c, _)| *c)
    }

    /// The mapping the contract implies: a header equal, ignoring case, spaces, `_` and `-`,
    /// to a field's key or label (`custom:<key>` for a custom field's key); `id`,
    /// `created_at` and `updated_at` are left out. Each field takes the first such column.
    pub fn automatic(entity: ImportEntity, headers: &[String], definitions: &[Definition]) -> Self {
        let mut mapping = BTreeMap::new();
        for (column, header) in headers.iter().enumerate() {
            let header = normalize(header);
            let builtin = entity
                .builtins()
                .iter()
                .find(|b| normalize(b.key()) == header || normalize(b.label()) == header)
                .map(|b| Target::Builtin(*b));
            let custom = || {
                definitions
                    .iter()
                    .find(|d| {
                        normalize(&format!("custom:{}", d.key)) == header
                            || normalize(&d.label) == header
                    })
                    .map(|d| Target::Custom(d.key.clone()))
            };
            if let Some(target) = builtin.or_else(custom) {
                if !mapping.values().any(|t| *t == target) {
                    mapping.insert(column, target);
                }
            }
        }
        Self(mapping)
    }
}

/// A header as mapping compares it: lower case, without spaces, `_` or `-`.
fn normalize(header: &str) -> String {
    header
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The key a confirmed mapping is remembered under: the normalized headers.
fn headers_key(headers: &[String]) -> String {
    headers
        .iter()
        .map(|h| normalize(h))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A field a column can be mapped to, for the mapping form.
#[derive(Debug, Clone)]
pub struct FieldChoice {
    pub target: Target,
    pub label: String,
}

/// An import as its page shows it (serializable: a refused write's error carries its type).
#[derive(Debug, Clone, Serialize)]
pub struct Import {
    pub id: ImportId,
    pub entity: ImportEntity,
    pub status: ImportStatus,
    pub file_name: String,
    /// The encoding the file is read with.
    pub encoding: String,
    /// The column delimiter.
    pub delimiter: String,
    pub headers: Vec<String>,
    /// The field of each mapped column, by column index (`first_name`, `custom:tier`).
    pub mapping: serde_json::Value,
    pub duplicates: Duplicates,
    pub total_rows: i32,
    pub processed_rows: i32,
    pub created_count: i32,
    pub updated_count: i32,
    pub rejected_count: i32,
    pub duplicate_count: i32,
    /// Why it failed, if it did.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Import {
    /// Progress in percent.
    pub fn percent(&self) -> i32 {
        if self.total_rows == 0 {
            return 100;
        }
        (i64::from(self.processed_rows) * 100 / i64::from(self.total_rows)) as i32
    }

    /// The delimiter as a page names it.
    pub fn delimiter_name(&self) -> &'static str {
        match self.delimiter.as_str() {
            ";" => "semicolon",
            "\t" => "tab",
            "|" => "vertical bar",
            _ => "comma",
        }
    }
}

/// What the member uploads.
pub struct Upload<'a> {
    pub entity: ImportEntity,
    pub file_name: &'a str,
    pub bytes: &'a [u8],
    /// The encoding chosen by label; `None` detects it.
    pub encoding: Option<&'a str>,
}

/// The preview: the first rows as they would be imported, and the counts of the whole file.
#[derive(Debug, Clone, Default)]
pub struct Preview {
    pub rows: Vec<PlannedRow>,
    pub create: usize,
    pub update: usize,
    pub duplicate: usize,
    pub rejected: usize,
}

/// Stores an uploaded file for import, read as its encoding and delimiter are detected (or the
/// encoding as chosen), with the mapping remembered for the same headers or else the automatic
/// one. Refuses a file too large, unreadable, or without a header row.
pub async fn upload(
    pool: &AppPool,
    context: TenantContext,
    upload: &Upload<'_>,
) -> Result<ImportId, WriteError<Import>> {
    WriteError::unless_may(&context, Permission::AssignContacts)?;
    if upload.bytes.len() > MAX_FILE_BYTES {
        return Err(WriteError::invalid(
            "file",
            "The file is larger than 20 MB: split it into several files.",
        ));
    }
    if upload.bytes.is_empty() {
        return Err(WriteError::invalid("file", "Choose a CSV file to upload."));
    }
    let chosen = match upload.encoding.map(str::trim).filter(|e| !e.is_empty()) {
        None => None,
        Some(label) => Some(csv_file::encoding_named(label).ok_or_else(|| {
            WriteError::invalid("encoding", "Choose one of the listed encodings.")
        })?),
    };
    let (text, encoding) =
        csv_file::decode(upload.bytes, chosen).map_err(|e| WriteError::invalid("file", e))?;
    let delimiter = csv_file::detect_delimiter(&text);
    let table = csv_file::parse(&text, delimiter).map_err(|e| WriteError::invalid("file", e))?;
    let file_name: String = upload.file_name.trim().chars().take(255).collect();
    let file_name = if file_name.is_empty() {
        "upload.csv".to_owned()
    } else {
        file_name
    };
    let mut tx = pool.begin(context).await?;
    let definitions = custom_fields::definitions(&mut tx, upload.entity.custom_entity()).await?;
    let remembered = sqlx::query_scalar!(
        "select mapping from import_mappings
         where tenant_id = $1 and entity = $2 and headers_key = $3",
        context.tenant_id.as_uuid(),
        upload.entity as ImportEntity,
        headers_key(&table.headers),
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    let mapping = match remembered {
        Some(json) => Mapping::from_json(&json, upload.entity, table.headers.len(), &definitions),
        None => Mapping::automatic(upload.entity, &table.headers, &definitions),
    };
    let id = sqlx::query_scalar!(
        r#"insert into imports (tenant_id, entity, file_name, content, encoding, delimiter,
                                headers, mapping, total_rows, created_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           returning id as "id: ImportId""#,
        context.tenant_id.as_uuid(),
        upload.entity as ImportEntity,
        file_name,
        upload.bytes,
        encoding.name(),
        (delimiter as char).to_string(),
        &table.headers,
        mapping.to_json(),
        table.rows.len() as i32,
        context.user_id as UserId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(id)
}

/// The import, if the caller may see it.
pub async fn get(
    pool: &AppPool,
    context: TenantContext,
    id: ImportId,
) -> Result<Option<Import>, DbError> {
    let mut tx = pool.begin(context).await?;
    fetch(&mut tx, id).await
}

async fn fetch(tx: &mut TenantTx, id: ImportId) -> Result<Option<Import>, DbError> {
    let tenant = tx.context().tenant_id;
    let import = sqlx::query_as!(
        Import,
        r#"select id as "id: ImportId", entity as "entity: ImportEntity",
                  status as "status: ImportStatus", file_name, encoding, delimiter, headers,
                  mapping, duplicates as "duplicates: Duplicates", total_rows, processed_rows,
                  created_count, updated_count, rejected_count, duplicate_count, error,
                  created_at, finished_at
           from imports where tenant_id = $1 and id = $2"#,
        tenant.as_uuid(),
        id as ImportId,
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(import)
}

/// The workspace's latest imports, newest first, at most 20. Plan (as `aura_app`, a manager's
/// context, 1,000 imports in the workspace among 50,000): a bitmap scan of
/// `imports_recent_idx` on the tenant, the role check as a filter, a top-N sort: 2.6 ms (the
/// planner expects the role filter to keep 1% and so does not walk the index in order; a
/// workspace has a few imports a month).
pub async fn recent(pool: &AppPool, context: TenantContext) -> Result<Vec<Import>, DbError> {
    if !context.role.may(Permission::AssignContacts) {
        return Ok(Vec::new());
    }
    let mut tx = pool.begin(context).await?;
    let imports = sqlx::query_as!(
        Import,
        r#"select id as "id: ImportId", entity as "entity: ImportEntity",
                  status as "status: ImportStatus", file_name, encoding, delimiter, headers,
                  mapping, duplicates as "duplicates: Duplicates", total_rows, processed_rows,
                  created_count, updated_count, rejected_count, duplicate_count, error,
                  created_at, finished_at
           from imports where tenant_id = $1
           order by created_at desc, id desc
           limit 20"#,
        context.tenant_id.as_uuid(),
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(imports)
}

/// The fields a column of `entity` can go to: the built-in ones, then the live custom fields.
pub async fn field_choices(
    pool: &AppPool,
    context: TenantContext,
    entity: ImportEntity,
) -> Result<Vec<FieldChoice>, DbError> {
    let mut tx = pool.begin(context).await?;
    let definitions = custom_fields::definitions(&mut tx, entity.custom_entity()).await?;
    Ok(choices(entity, &definitions))
}

fn choices(entity: ImportEntity, definitions: &[Definition]) -> Vec<FieldChoice> {
    entity
        .builtins()
        .iter()
        .map(|b| FieldChoice {
            target: Target::Builtin(*b),
            label: b.label().to_owned(),
        })
        .chain(definitions.iter().map(|d| FieldChoice {
            target: Target::Custom(d.key.clone()),
            label: format!("{} (custom)", d.label),
        }))
        .collect()
}

/// The import's mapping, as targets by column.
pub async fn mapping(
    pool: &AppPool,
    context: TenantContext,
    import: &Import,
) -> Result<Mapping, DbError> {
    let mut tx = pool.begin(context).await?;
    let definitions = custom_fields::definitions(&mut tx, import.entity.custom_entity()).await?;
    Ok(Mapping::from_json(
        &import.mapping,
        import.entity,
        import.headers.len(),
        &definitions,
    ))
}

/// Saves the mapping a member confirmed, given as a field key (or "") per column, and
/// remembers it for files with the same headers. Only before the import starts.
pub async fn set_mapping(
    pool: &AppPool,
    context: TenantContext,
    id: ImportId,
    columns: &[String],
) -> Result<(), WriteError<Import>> {
    WriteError::unless_may(&context, Permission::AssignContacts)?;
    let mut tx = pool.begin(context).await?;
    let Some(import) = fetch(&mut tx, id).await? else {
        return Err(WriteError::NotFound);
    };
    if import.status != ImportStatus::Uploaded {
        return Err(WriteError::invalid(
            "mapping",
            "The import has started: its mapping can no longer change.",
        ));
    }
    let definitions = custom_fields::definitions(&mut tx, import.entity.custom_entity()).await?;
    let mut mapping = BTreeMap::new();
    let mut problems = Vec::new();
    for (column, key) in columns.iter().enumerate().take(import.headers.len()) {
        let key = key.trim();
        if key.is_empty() {
            continue;
        }
        let field = format!("column_{column}");
        match Target::parse(import.entity, key, &definitions) {
            None => problems.push(FieldError {
                field,
                message: "Choose one of the listed fields.".into(),
            }),
            Some(target) if mapping.values().any(|t| *t == target) => problems.push(FieldError {
                field,
                message: "Another column already goes to this field.".into(),
            }),
            Some(target) => {
                mapping.insert(column, target);
            }
        }
    }
    if !problems.is_empty() {
        return Err(WriteError::Invalid(problems));
    }
    let mapping = Mapping(mapping).to_json();
    sqlx::query!(
        "update imports set mapping = $3, updated_at = now() where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as ImportId,
        mapping,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    sqlx::query!(
        "insert into import_mappings (tenant_id, entity, headers_key, mapping, updated_by,
                                      updated_at)
         values ($1, $2, $3, $4, $5, now())
         on conflict (tenant_id, entity, headers_key)
         do update set mapping = excluded.mapping, updated_by = excluded.updated_by,
                       updated_at = excluded.updated_at",
        context.tenant_id.as_uuid(),
        import.entity as ImportEntity,
        headers_key(&import.headers),
        mapping,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(())
}

/// What importing the file with its current mapping would do: the first rows, with each
/// row's problems by field, and the counts over the whole file. Writes nothing.
pub async fn preview(
    pool: &AppPool,
    context: TenantContext,
    id: ImportId,
) -> Result<Option<Preview>, WriteError<Import>> {
    WriteError::unless_may(&context, Permission::AssignContacts)?;
    let mut tx = pool.begin(context).await?;
    let Some(loaded) = load(&mut tx, id).await? else {
        return Ok(None);
    };
    let Some(content) = loaded.content.as_deref() else {
        return Ok(None);
    };
    let table = loaded
        .table(content)
        .map_err(|e| WriteError::invalid("file", e))?;
    let planned = plan::plan(&mut tx, &loaded, &table).await?;
    let mut preview = Preview::default();
    for row in &planned {
        match row.outcome {
            Outcome::Create => preview.create += 1,
            Outcome::Update(_) => preview.update += 1,
            Outcome::Duplicate(_) => preview.duplicate += 1,
            Outcome::Rejected => preview.rejected += 1,
        }
    }
    preview.rows = planned.into_iter().take(PREVIEW_ROWS).collect();
    Ok(Some(preview))
}

/// Starts the import: a worker runs it soon after. `duplicates` says what to do with rows
/// whose email (contacts) or name (organizations) a live record already has.
pub async fn start(
    pool: &AppPool,
    context: TenantContext,
    id: ImportId,
    duplicates: Duplicates,
) -> Result<(), WriteError<Import>> {
    WriteError::unless_may(&context, Permission::AssignContacts)?;
    let mut tx = pool.begin(context).await?;
    let started = sqlx::query!(
        "update imports set status = 'queued', duplicates = $3, updated_at = now()
         where tenant_id = $1 and id = $2 and status = 'uploaded' and content is not null",
        context.tenant_id.as_uuid(),
        id as ImportId,
        duplicates as Duplicates,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    if started.rows_affected() == 0 {
        return Err(match fetch(&mut tx, id).await? {
            None => WriteError::NotFound,
            Some(_) => WriteError::invalid("duplicates", "The import has already started."),
        });
    }
    tx.commit().await?;
    Ok(())
}

/// The report of a finished import's rejected rows, as CSV: the file's columns and `reason`.
pub async fn rejected_report(
    pool: &AppPool,
    context: TenantContext,
    id: ImportId,
) -> Result<Option<String>, DbError> {
    let mut tx = pool.begin(context).await?;
    let report = sqlx::query_scalar!(
        "select rejected_report from imports where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as ImportId,
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(report.flatten())
}

/// An import as the planner and the writer need it.
pub(crate) struct Loaded {
    pub(crate) entity: ImportEntity,
    pub(crate) content: Option<Vec<u8>>,
    encoding: String,
    delimiter: String,
    pub(crate) mapping: Mapping,
    pub(crate) duplicates: Duplicates,
    pub(crate) definitions: Vec<Definition>,
}

impl Loaded {
    fn table(&self, content: &[u8]) -> Result<csv_file::Table, String> {
        let encoding = csv_file::encoding_named(&self.encoding);
        let (text, _) = csv_file::decode(content, encoding)?;
        let delimiter = self.delimiter.bytes().next().unwrap_or(b',');
        csv_file::parse(&text, delimiter)
    }
}

async fn load(tx: &mut TenantTx, id: ImportId) -> Result<Option<Loaded>, DbError> {
    let tenant = tx.context().tenant_id;
    let Some(row) = sqlx::query!(
        r#"select entity as "entity: ImportEntity", content, encoding, delimiter, headers,
                  mapping, duplicates as "duplicates: Duplicates"
           from imports where tenant_id = $1 and id = $2"#,
        tenant.as_uuid(),
        id as ImportId,
    )
    .fetch_optional(tx.conn())
    .await?
    else {
        return Ok(None);
    };
    let definitions = custom_fields::definitions(tx, row.entity.custom_entity()).await?;
    let mapping = Mapping::from_json(&row.mapping, row.entity, row.headers.len(), &definitions);
    Ok(Some(Loaded {
        entity: row.entity,
        content: row.content,
        encoding: row.encoding,
        delimiter: row.delimiter,
        mapping,
        duplicates: row.duplicates,
        definitions,
    }))
}

/// What a worker's round did.
#[derive(Debug)]
pub enum Ran {
    /// No import was waiting.
    Idle,
    Finished(ImportId),
    /// The import failed and was rolled back; the member sees why on its page. The error is
    /// for the operator's log (it may name database details the member must not see).
    Failed(ImportId, String),
}

/// Claims one started import of any workspace and runs it. A failure rolls the whole import
/// back and is recorded on the import.
pub async fn run_next(pool: &AppPool) -> Result<Ran, DbError> {
    let mut claim = pool.begin_claim().await?;
    let claimed = sqlx::query!(
        r#"select tenant_id as "tenant_id!", import_id as "import_id!: ImportId",
                  user_id as "user_id!", role as "role!: MemberRole"
           from aura.claim_import($1)"#,
        LEASE_SECONDS,
    )
    .fetch_optional(claim.conn())
    .await?;
    claim.commit().await?;
    let Some(claimed) = claimed else {
        return Ok(Ran::Idle);
    };
    let context = TenantContext {
        tenant_id: TenantId::from(claimed.tenant_id),
        user_id: UserId::from(claimed.user_id),
        role: claimed.role,
        read_only: false,
    };
    let id = claimed.import_id;
    let err = match run(pool, context, id).await {
        Ok(()) => return Ok(Ran::Finished(id)),
        Err(err) => err,
    };
    let (message, detail) = match err {
        RunError::Unreadable(message) => (message.clone(), message),
        RunError::Db(err) => (
            "The import failed and nothing was imported; upload the file again to retry."
                .to_owned(),
            err.to_string(),
        ),
    };
    let mut tx = pool.begin(context).await?;
    sqlx::query!(
        "update imports
         set status = 'failed', error = $3, content = null, claimed_until = null,
             finished_at = now(), updated_at = now()
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as ImportId,
        message,
    )
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(Ran::Failed(id, detail))
}

#[derive(Debug)]
enum RunError {
    /// The stored file cannot be read (it could at upload: a changed encoding choice).
    Unreadable(String),
    Db(DbError),
}

impl From<DbError> for RunError {
    fn from(err: DbError) -> Self {
        Self::Db(err)
    }
}

impl From<sqlx::Error> for RunError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err.into())
    }
}

/// Runs the import in one transaction: plans every row, writes the batches (reporting progress
/// in short transactions of their own, which also renew the claim), audits the counts and
/// clears the file.
async fn run(pool: &AppPool, context: TenantContext, id: ImportId) -> Result<(), RunError> {
    let mut tx = pool.begin(context).await?;
    let Some(loaded) = load(&mut tx, id).await? else {
        return Ok(());
    };
    let Some(content) = loaded.content.as_deref() else {
        return Err(RunError::Unreadable("The uploaded file is gone.".into()));
    };
    let table = loaded.table(content).map_err(RunError::Unreadable)?;
    let planned = plan::plan(&mut tx, &loaded, &table).await?;
    let total = planned.len();
    let mut counts = Counts::default();
    for (done, chunk) in planned.chunks(BATCH).enumerate() {
        plan::write(&mut tx, &loaded, chunk, &mut counts).await?;
        progress(pool, context, id, ((done + 1) * BATCH).min(total)).await?;
    }
    if loaded.entity == ImportEntity::Organization {
        plan::link_parents(&mut tx, &planned).await?;
    }
    for row in &planned {
        match row.outcome {
            Outcome::Rejected => counts.rejected += 1,
            Outcome::Duplicate(_) => counts.duplicate += 1,
            Outcome::Create | Outcome::Update(_) => {}
        }
    }
    let report = report(&table.headers, &planned);
    sqlx::query!(
        "update imports
         set status = 'finished', processed_rows = $3, created_count = $4, updated_count = $5,
             rejected_count = $6, duplicate_count = $7, rejected_report = $8, content = null,
             claimed_until = null, finished_at = now(), updated_at = now()
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as ImportId,
        total as i32,
        counts.created as i32,
        counts.updated as i32,
        counts.rejected as i32,
        counts.duplicate as i32,
        report,
    )
    .execute(tx.conn())
    .await?;
    audit::record(
        &mut tx,
        "import.finished",
        "import",
        id.as_uuid(),
        None,
        Some(serde_json::json!({
            "entity": loaded.entity.as_str(),
            "rows": total,
            "created": counts.created,
            "updated": counts.updated,
            "duplicates": counts.duplicate,
            "duplicates_were": loaded.duplicates,
            "rejected": counts.rejected,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) created: usize,
    pub(crate) updated: usize,
    rejected: usize,
    duplicate: usize,
}

/// Records how far the import got, and renews the worker's claim, in a transaction of its own
/// (the import's is not visible until it commits).
async fn progress(
    pool: &AppPool,
    context: TenantContext,
    id: ImportId,
    processed: usize,
) -> Result<(), DbError> {
    let mut tx = pool.begin(context).await?;
    sqlx::query!(
        "update imports
         set processed_rows = $3, claimed_until = now() + make_interval(secs => $4),
             updated_at = now()
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as ImportId,
        processed as i32,
        f64::from(LEASE_SECONDS),
    )
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// The rejected rows as CSV: each row's original fields under the file's headers, and why.
fn report(headers: &[String], planned: &[PlannedRow]) -> Option<String> {
    let rejected: Vec<&PlannedRow> = planned
        .iter()
        .filter(|r| r.outcome == Outcome::Rejected)
        .collect();
    if rejected.is_empty() {
        return None;
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = headers.iter().map(String::as_str).collect();
    header.push("reason");
    writer.write_record(&header).ok()?;
    for row in rejected {
        let mut record: Vec<String> = row.fields.clone();
        record.resize(headers.len().max(record.len()), String::new());
        record.push(row.reason());
        writer.write_record(&record).ok()?;
    }
    String::from_utf8(writer.into_inner().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_fields::{DefinitionId, Kind};

    fn definition(key: &str, label: &str) -> Definition {
        Definition {
            id: DefinitionId::new(),
            entity: Entity::Contact,
            key: key.into(),
            label: label.into(),
            kind: Kind::Text,
            options: Vec::new(),
        }
    }

    #[test]
    fn headers_map_by_key_or_label_ignoring_case_spaces_and_dashes() {
        let headers: Vec<String> = [
            "id",
            "First Name",
            "last-name",
            "E-Mail",
            "custom:linkedin",
            "Tier",
            "created_at",
            "email",
            "Owner_Email",
        ]
        .map(String::from)
        .to_vec();
        let definitions = [
            definition("linkedin", "LinkedIn"),
            definition("tier", "Tier"),
        ];
        let mapping = Mapping::automatic(ImportEntity::Contact, &headers, &definitions);
        let keys: Vec<(usize, String)> = mapping.0.iter().map(|(c, t)| (*c, t.key())).collect();
        assert_eq!(
            keys,
            [
                (1, "first_name".to_owned()),
                (2, "last_name".to_owned()),
                (3, "email".to_owned()),
                (4, "custom:linkedin".to_owned()),
                (5, "custom:tier".to_owned()),
                (8, "owner_email".to_owned()),
            ]
        );
        // Stored and read back, it is the same; a column or field that is gone is dropped.
        let json = mapping.to_json();
        assert_eq!(
            Mapping::from_json(&json, ImportEntity::Contact, headers.len(), &definitions),
            mapping
        );
        assert_eq!(
            Mapping::from_json(&json, ImportEntity::Contact, 5, &definitions[..1])
                .0
                .len(),
            4
        );
    }

    #[test]
    fn an_exported_deals_header_maps_to_the_deal_fields() {
        let headers: Vec<String> = [
            "id",
            "name",
            "amount",
            "process",
            "stage",
            "outcome",
            "probability",
            "expected_close_date",
            "organization",
            "owner_email",
            "notes",
            "closed_at",
            "lost_reason",
            "created_at",
            "updated_at",
            "custom:region",
            "Contact email",
        ]
        .map(String::from)
        .to_vec();
        let definitions = [definition("region", "Region")];
        let mapping = Mapping::automatic(ImportEntity::Deal, &headers, &definitions);
        let keys: Vec<(usize, String)> = mapping.0.iter().map(|(c, t)| (*c, t.key())).collect();
        let expected: Vec<(usize, String)> = [
            (1, "name"),
            (2, "amount"),
            (3, "process"),
            (4, "stage"),
            (6, "probability"),
            (7, "expected_close_date"),
            (8, "organization"),
            (9, "owner_email"),
            (10, "notes"),
            (12, "lost_reason"),
            (15, "custom:region"),
            (16, "contact_email"),
        ]
        .map(|(c, k)| (c, k.to_owned()))
        .to_vec();
        // The outcome and the closing time follow from the stage: left out, with the ids and times.
        assert_eq!(keys, expected);
    }
}
