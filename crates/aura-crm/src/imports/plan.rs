//! What an import does with each row (the preview shows it, the run does it), and the batch
//! writes. Each row is checked by the forms' own input types; what only an import can find out
//! (an organization, contact, owner, process or stage named but unknown, a duplicate, a parent
//! loop) is checked here, against the workspace's records read once for the whole file.
//!
//! The entities share the per-row loop (`plan_rows`: each gives a closure that turns a row's
//! cells into an outcome and its values, or its problems), the name and email lookups
//! (`lower_cells` and `ids_named`), the duplicate rules (`Seen`, `outcome_of`) and the split of
//! a batch into creates and updates (`Columns::of`); what is left per entity is its input type,
//! its values and its SQL (static, so that `sqlx` checks it).
//!
//! Each `insert ... select` from arrays ends in `returning`: on Citus that makes the
//! coordinator hand the rows to the shards as inserts, where without it Citus would use
//! `COPY`, which row-level security refuses (SCALING.md).

use std::collections::{HashMap, HashSet};

use aura_platform::db::{DbError, TenantTx};
use aura_platform::ids::UserId;
use aura_platform::permissions::Permission;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::csv_file::Table;
use super::{Builtin, Counts, Duplicates, ImportEntity, Loaded, Target};
use crate::contacts::ContactInput;
use crate::deals::{self, Deal, DealInput, Outcome as DealOutcome, Stage};
use crate::fields::{Check, FieldError, WriteError};
use crate::ids::{DealId, ProcessId, StageId};
use crate::organizations::OrganizationInput;

/// What happens to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Create,
    /// It updates this existing record (duplicates: update).
    Update(Uuid),
    /// It is this existing record's duplicate, and is skipped (duplicates: skip).
    Duplicate(Uuid),
    Rejected,
}

/// A row of the file and what the import does with it.
#[derive(Debug, Clone)]
pub struct PlannedRow {
    /// The row's number among the file's data rows, from 1.
    pub number: usize,
    /// The row as it is in the file.
    pub fields: Vec<String>,
    pub outcome: Outcome,
    /// Why it is rejected: each problem under the key of the field (`email`, `custom:tier`),
    /// or `row` for the row as a whole.
    pub errors: Vec<FieldError>,
    record: Option<Record>,
}

impl PlannedRow {
    /// The problem of the field with this key, if it has one.
    pub fn error_for(&self, key: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == key)
            .map(|e| e.message.as_str())
    }

    /// The cell of `column` as the file has it ("" past the row's end).
    pub fn cell(&self, column: &usize) -> &str {
        self.fields.get(*column).map_or("", String::as_str)
    }

    /// Problems that belong to no mapped column.
    pub fn row_errors(&self) -> impl Iterator<Item = &FieldError> {
        self.errors.iter().filter(|e| e.field == "row")
    }

    /// Problems under none of the `placed` keys (the mapped columns' fields): the row's own,
    /// and those of a field no column goes to (a name required but not mapped, an amount the
    /// stage asks for).
    pub fn unplaced_errors<'a>(
        &'a self,
        placed: &'a [String],
    ) -> impl Iterator<Item = &'a FieldError> + 'a {
        self.errors
            .iter()
            .filter(move |e| e.field == "row" || !placed.contains(&e.field))
    }

    /// Every problem, in a sentence, for the rejected rows' report.
    pub fn reason(&self) -> String {
        self.errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn rejected(number: usize, fields: Vec<String>, errors: Vec<FieldError>) -> Self {
        Self {
            number,
            fields,
            outcome: Outcome::Rejected,
            errors,
            record: None,
        }
    }
}

#[derive(Debug, Clone)]
enum Record {
    Contact(ContactValues),
    Organization(OrganizationValues),
    Deal(DealValues),
}

#[derive(Debug, Clone)]
struct ContactValues {
    first_name: String,
    last_name: String,
    email: Option<String>,
    phone: Option<String>,
    title: Option<String>,
    organization_id: Option<Uuid>,
    owner: UserId,
    custom_fields: Value,
}

#[derive(Debug, Clone)]
struct OrganizationValues {
    name: String,
    key: String,
    industry: Option<String>,
    size_band: Option<&'static str>,
    location: Option<String>,
    website: Option<String>,
    /// The parent's name, lower-cased, when the parent column is mapped ("" for none).
    parent: Option<String>,
    custom_fields: Value,
}

#[derive(Debug, Clone)]
struct DealValues {
    name: String,
    amount: Option<Decimal>,
    process_id: ProcessId,
    stage_id: StageId,
    stage_name: String,
    outcome: DealOutcome,
    probability: Decimal,
    probability_set: bool,
    expected_close_date: Option<NaiveDate>,
    organization_id: Option<Uuid>,
    /// A contact to put on the deal (role "other").
    contact_id: Option<Uuid>,
    owner: UserId,
    notes: Option<String>,
    lost_reason: Option<String>,
    custom_fields: Value,
}

fn problem(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// A row's cells by field.
struct Cells<'a> {
    loaded: &'a Loaded,
    fields: &'a [String],
}

impl Cells<'_> {
    /// The trimmed cell of the column mapped to `field`; "" if none is.
    fn get(&self, field: Builtin) -> String {
        self.cell(&Target::Builtin(field))
    }

    fn cell(&self, target: &Target) -> String {
        self.loaded
            .mapping
            .column_of(target)
            .and_then(|column| self.fields.get(column))
            .map(|cell| cell.trim().to_owned())
            .unwrap_or_default()
    }

    fn optional(&self, field: Builtin) -> Option<String> {
        Some(self.get(field)).filter(|v| !v.is_empty())
    }

    /// The mapped custom fields' cells, by key, as the forms submit them.
    fn custom_fields(&self) -> Map<String, Value> {
        self.loaded
            .mapping
            .0
            .values()
            .filter_map(|target| match target {
                Target::Custom(key) => Some((key.clone(), Value::String(self.cell(target)))),
                Target::Builtin(_) => None,
            })
            .collect()
    }
}

/// An input's problems under the import's field keys.
fn field_errors<T>(err: WriteError<T>, entity: ImportEntity) -> Result<Vec<FieldError>, DbError> {
    match err {
        WriteError::Invalid(problems) => Ok(problems
            .into_iter()
            .map(|p| {
                let field = match p.field.strip_prefix("custom_fields.") {
                    Some(key) => format!("custom:{key}"),
                    None => entity
                        .builtins()
                        .iter()
                        .find(|b| b.input_field() == p.field)
                        .map_or_else(|| "row".to_owned(), |b| b.key().to_owned()),
                };
                FieldError {
                    field,
                    message: p.message,
                }
            })
            .collect()),
        WriteError::Db(err) => Err(err),
        _ => Ok(vec![problem("row", "The row cannot be imported.")]),
    }
}

/// What the import does with each row of `table`.
pub(super) async fn plan(
    tx: &mut TenantTx,
    loaded: &Loaded,
    table: &Table,
) -> Result<Vec<PlannedRow>, DbError> {
    match loaded.entity {
        ImportEntity::Contact => plan_contacts(tx, loaded, table).await,
        ImportEntity::Organization => plan_organizations(tx, loaded, table).await,
        ImportEntity::Deal => plan_deals(tx, loaded, table).await,
    }
}

/// A row with more cells than the header has columns is refused as it is: its cells would go
/// to the wrong fields.
fn too_long(table: &Table, fields: &[String]) -> Option<FieldError> {
    (fields.len() > table.headers.len()).then(|| {
        problem(
            "row",
            format!(
                "The row has {} fields; the header names {} columns.",
                fields.len(),
                table.headers.len()
            ),
        )
    })
}

/// What an entity's planner makes of one row: what happens to it and the values to write, or
/// its problems.
type Planned = Result<(Outcome, Record), Vec<FieldError>>;

/// The per-row loop every entity shares: a row too long is refused as it is; each other row
/// goes to `each` with its cells (and its number), which checks it.
fn plan_rows(
    loaded: &Loaded,
    table: &Table,
    mut each: impl FnMut(&Cells<'_>, usize) -> Result<Planned, DbError>,
) -> Result<Vec<PlannedRow>, DbError> {
    let mut planned = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let fields = row.fields.clone();
        if let Some(error) = too_long(table, &fields) {
            planned.push(PlannedRow::rejected(row.number, fields, vec![error]));
            continue;
        }
        let cells = Cells {
            loaded,
            fields: &row.fields,
        };
        planned.push(match each(&cells, row.number)? {
            Ok((outcome, record)) => PlannedRow {
                number: row.number,
                fields,
                outcome,
                errors: Vec::new(),
                record: Some(record),
            },
            Err(errors) => PlannedRow::rejected(row.number, fields, errors),
        });
    }
    Ok(planned)
}

/// The distinct non-empty cells of the column mapped to `field`, lower-cased: the keys to look
/// up once for the whole file.
fn lower_cells(loaded: &Loaded, table: &Table, field: Builtin) -> Vec<String> {
    let mut values: Vec<String> = table
        .rows
        .iter()
        .map(|row| {
            Cells {
                loaded,
                fields: &row.fields,
            }
            .get(field)
            .to_lowercase()
        })
        .filter(|v| !v.is_empty())
        .collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// What a file's cell may name, by its lower-cased text.
#[derive(Debug, Clone, Copy)]
enum Named {
    /// A live contact, by email.
    ContactEmail,
    /// A live organization, by name.
    OrganizationName,
    /// An active member of the workspace, by email.
    MemberEmail,
}

/// The ids of the records `keys` (lower-cased) name, by key. One index probe per distinct
/// value: contacts_email_key, organizations_name_key, users_email_norm_key.
async fn ids_named(
    tx: &mut TenantTx,
    named: Named,
    keys: &[String],
) -> Result<HashMap<String, Uuid>, DbError> {
    let tenant = tx.context().tenant_id;
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let found: Vec<(String, Uuid)> = match named {
        Named::ContactEmail => sqlx::query!(
            r#"select id, email_key as "email_key!" from contacts
               where tenant_id = $1 and deleted_at is null and email_key = any($2)"#,
            tenant.as_uuid(),
            keys,
        )
        .fetch_all(tx.conn())
        .await?
        .into_iter()
        .map(|row| (row.email_key, row.id))
        .collect(),
        Named::OrganizationName => sqlx::query!(
            "select id, name_key from organizations
             where tenant_id = $1 and deleted_at is null and name_key = any($2)",
            tenant.as_uuid(),
            keys,
        )
        .fetch_all(tx.conn())
        .await?
        .into_iter()
        .map(|row| (row.name_key, row.id))
        .collect(),
        Named::MemberEmail => sqlx::query!(
            r#"select m.user_id, u.email_norm as "email_norm!" from tenant_members m
               join users u on u.id = m.user_id
               where m.tenant_id = $1 and m.deactivated_at is null and u.email_norm = any($2)"#,
            tenant.as_uuid(),
            keys,
        )
        .fetch_all(tx.conn())
        .await?
        .into_iter()
        .map(|row| (row.email_norm, row.user_id))
        .collect(),
    };
    Ok(found.into_iter().collect())
}

/// The record the cell of `field` names in `ids`: `Some(None)` for an empty cell, `None` (and
/// the problem `unknown(cell)` under the field's key) for a name that is not there.
fn look_up(
    cells: &Cells<'_>,
    field: Builtin,
    ids: &HashMap<String, Uuid>,
    errors: &mut Vec<FieldError>,
    unknown: impl FnOnce(&str) -> String,
) -> Option<Option<Uuid>> {
    let cell = cells.get(field);
    if cell.is_empty() {
        return Some(None);
    }
    let found = ids.get(&cell.to_lowercase()).copied();
    if found.is_none() {
        errors.push(problem(field.key(), unknown(&cell)));
    }
    found.map(Some)
}

/// The owner a row names by `owner_email`, or the importer if it names none.
fn owner_of(
    cells: &Cells<'_>,
    members: &HashMap<String, Uuid>,
    importer: UserId,
    errors: &mut Vec<FieldError>,
) -> Option<UserId> {
    look_up(cells, Builtin::OwnerEmail, members, errors, |email| {
        format!("No active member of this workspace has the email “{email}”.")
    })
    .map(|owner| owner.map_or(importer, UserId::from))
}

/// A row whose key a live record has: a duplicate to skip or to update.
fn outcome_of(existing: Option<&Uuid>, duplicates: Duplicates) -> Outcome {
    match existing {
        None => Outcome::Create,
        Some(id) if duplicates == Duplicates::Update => Outcome::Update(*id),
        Some(id) => Outcome::Duplicate(*id),
    }
}

/// The rows of the file by their key (email, name), to refuse a second row with the same one.
#[derive(Default)]
struct Seen(HashMap<String, usize>);

impl Seen {
    /// The problem of a row whose `key` an earlier row of the file has.
    fn earlier(&self, key: &str, field: &str, what: &str) -> Option<FieldError> {
        self.0.get(key).map(|earlier| {
            problem(
                field,
                format!("Row {earlier} of the file has the same {what}."),
            )
        })
    }

    fn insert(&mut self, key: String, number: usize) {
        self.0.insert(key, number);
    }
}

async fn plan_contacts(
    tx: &mut TenantTx,
    loaded: &Loaded,
    table: &Table,
) -> Result<Vec<PlannedRow>, DbError> {
    let importer = tx.context().user_id;
    let keys = |field| lower_cells(loaded, table, field);
    let existing = ids_named(tx, Named::ContactEmail, &keys(Builtin::Email)).await?;
    let organizations =
        ids_named(tx, Named::OrganizationName, &keys(Builtin::Organization)).await?;
    let members = ids_named(tx, Named::MemberEmail, &keys(Builtin::OwnerEmail)).await?;

    let mut seen = Seen::default();
    plan_rows(loaded, table, |cells, number| {
        let input = ContactInput {
            first_name: cells.get(Builtin::FirstName),
            last_name: cells.optional(Builtin::LastName),
            email: cells.optional(Builtin::Email),
            phone: cells.optional(Builtin::Phone),
            title: cells.optional(Builtin::Title),
            organization_id: None,
            assigned_to: None,
            custom_fields: Some(cells.custom_fields()),
        };
        let mut errors = Vec::new();
        let valid = match input.check(&loaded.definitions) {
            Ok(valid) => Some(valid),
            Err(err) => {
                errors = field_errors(err, ImportEntity::Contact)?;
                None
            }
        };
        let organization_id = look_up(
            cells,
            Builtin::Organization,
            &organizations,
            &mut errors,
            |name| format!("No organization named “{name}”: import organizations first."),
        )
        .flatten();
        let owner = owner_of(cells, &members, importer, &mut errors);
        let email_key = valid
            .as_ref()
            .and_then(|v| v.email.as_deref())
            .map(str::to_lowercase);
        if let Some(error) = email_key
            .as_ref()
            .and_then(|key| seen.earlier(key, "email", "email"))
        {
            errors.push(error);
        }
        let (Some(valid), Some(owner), true) = (valid, owner, errors.is_empty()) else {
            return Ok(Err(errors));
        };
        if let Some(key) = &email_key {
            seen.insert(key.clone(), number);
        }
        let outcome = outcome_of(
            email_key.as_ref().and_then(|key| existing.get(key)),
            loaded.duplicates,
        );
        Ok(Ok((
            outcome,
            Record::Contact(ContactValues {
                first_name: valid.first_name,
                last_name: valid.last_name,
                email: valid.email,
                phone: valid.phone,
                title: valid.title,
                organization_id,
                owner,
                custom_fields: valid.custom_fields,
            }),
        )))
    })
}

async fn plan_organizations(
    tx: &mut TenantTx,
    loaded: &Loaded,
    table: &Table,
) -> Result<Vec<PlannedRow>, DbError> {
    let tenant = tx.context().tenant_id;
    // Every live organization, with its parent's name: duplicates, parents and loops are all
    // decided by name. (A workspace has thousands of organizations, not millions.)
    let existing = sqlx::query!(
        r#"select o.id, o.name_key, p.name_key as "parent_key?" from organizations o
           left join organizations p on p.tenant_id = o.tenant_id and p.id = o.parent_id
           where o.tenant_id = $1 and o.deleted_at is null"#,
        tenant.as_uuid(),
    )
    .fetch_all(tx.conn())
    .await?;
    let ids: HashMap<&str, Uuid> = existing
        .iter()
        .map(|row| (row.name_key.as_str(), row.id))
        .collect();
    let mut parents: HashMap<String, String> = existing
        .iter()
        .filter_map(|row| Some((row.name_key.clone(), row.parent_key.clone()?)))
        .collect();

    let mut seen = Seen::default();
    let mut planned = plan_rows(loaded, table, |cells, number| {
        let input = OrganizationInput {
            name: cells.get(Builtin::Name),
            industry: cells.optional(Builtin::Industry),
            size_band: cells.optional(Builtin::Size),
            location: cells.optional(Builtin::Location),
            website: cells.optional(Builtin::Website),
            parent_id: None,
            custom_fields: Some(cells.custom_fields()),
        };
        let valid = match input.check(&loaded.definitions) {
            Ok(valid) => valid,
            Err(err) => return Ok(Err(field_errors(err, ImportEntity::Organization)?)),
        };
        let key = valid.name.to_lowercase();
        if let Some(error) = seen.earlier(&key, "name", "name") {
            return Ok(Err(vec![error]));
        }
        seen.insert(key.clone(), number);
        let outcome = outcome_of(ids.get(key.as_str()), loaded.duplicates);
        let parent = loaded
            .mapping
            .column_of(&Target::Builtin(Builtin::Parent))
            .map(|_| cells.get(Builtin::Parent).to_lowercase());
        Ok(Ok((
            outcome,
            Record::Organization(OrganizationValues {
                name: valid.name,
                key,
                industry: valid.industry,
                size_band: valid.size_band.map(|s| s.as_str()),
                location: valid.location,
                website: valid.website,
                parent,
                custom_fields: valid.custom_fields,
            }),
        )))
    })?;

    // Parents: an organization that exists or that a row of the file creates, and no loop.
    // Rejecting a row can orphan a row naming it, so this repeats until nothing changes.
    loop {
        let known: HashSet<&str> = ids
            .keys()
            .copied()
            .chain(
                planned
                    .iter()
                    .filter_map(|row| match (&row.record, row.outcome) {
                        (Some(Record::Organization(values)), Outcome::Create) => {
                            Some(values.key.as_str())
                        }
                        _ => None,
                    }),
            )
            .collect();
        for row in &planned {
            if let (Some(Record::Organization(values)), Outcome::Create | Outcome::Update(_)) =
                (&row.record, row.outcome)
            {
                match values.parent.as_deref() {
                    Some("") => {
                        parents.remove(&values.key);
                    }
                    Some(parent) => {
                        parents.insert(values.key.clone(), parent.to_owned());
                    }
                    None => {}
                }
            }
        }
        let mut refused: Vec<(usize, FieldError)> = Vec::new();
        for (index, row) in planned.iter().enumerate() {
            let (Some(Record::Organization(values)), Outcome::Create | Outcome::Update(_)) =
                (&row.record, row.outcome)
            else {
                continue;
            };
            let Some(parent) = values.parent.as_deref().filter(|p| !p.is_empty()) else {
                continue;
            };
            let cell = Cells {
                loaded,
                fields: &row.fields,
            }
            .get(Builtin::Parent);
            if !known.contains(parent) {
                refused.push((
                    index,
                    problem("parent", format!("No organization named “{cell}”.")),
                ));
                continue;
            }
            // Up the chain from the parent: reaching the row itself is a loop.
            let mut at = Some(parent);
            let mut steps = 0;
            while let Some(name) = at {
                if name == values.key || steps > parents.len() {
                    refused.push((
                        index,
                        problem(
                            "parent",
                            "An organization cannot be its own parent, nor the parent of its parent.",
                        ),
                    ));
                    break;
                }
                at = parents.get(name).map(String::as_str);
                steps += 1;
            }
        }
        if refused.is_empty() {
            break;
        }
        for (index, error) in refused {
            let row = &mut planned[index];
            if let Some(Record::Organization(values)) = &row.record {
                parents.remove(&values.key);
            }
            row.outcome = Outcome::Rejected;
            row.record = None;
            row.errors.push(error);
        }
    }
    Ok(planned)
}

/// A sales process a new deal may go into, with its live stages in order.
struct ProcessStages {
    id: ProcessId,
    name: String,
    is_default: bool,
    stages: Vec<Stage>,
}

/// The processes that take new deals (not archived, not deleted), each with its live stages.
/// (A workspace has a few processes of a few stages.)
async fn deal_processes(tx: &mut TenantTx) -> Result<Vec<ProcessStages>, DbError> {
    let tenant = tx.context().tenant_id;
    let rows = sqlx::query!(
        r#"select p.id as "process_id: ProcessId", p.name as process_name, p.is_default,
                  s.id as "id: StageId", s.name, s.position, s.outcome as "outcome: DealOutcome",
                  s.win_probability, s.rotting_days, s.requires_amount, s.requires_close_date,
                  s.requires_contact, s.requires_product
           from sales_processes p
           join deal_stages s on s.tenant_id = p.tenant_id and s.process_id = p.id
                              and s.archived_at is null
           where p.tenant_id = $1 and p.archived_at is null and p.deleted_at is null
           order by p.id, s.position, s.id"#,
        tenant.as_uuid(),
    )
    .fetch_all(tx.conn())
    .await?;
    let mut processes: Vec<ProcessStages> = Vec::new();
    for row in rows {
        if processes.last().is_none_or(|p| p.id != row.process_id) {
            processes.push(ProcessStages {
                id: row.process_id,
                name: row.process_name,
                is_default: row.is_default,
                stages: Vec::new(),
            });
        }
        let mut win_probability = row.win_probability;
        win_probability.rescale(2);
        if let Some(process) = processes.last_mut() {
            process.stages.push(Stage {
                id: row.id,
                name: row.name,
                position: row.position,
                outcome: row.outcome,
                win_probability,
                rotting_days: row.rotting_days,
                requires_amount: row.requires_amount,
                requires_close_date: row.requires_close_date,
                requires_contact: row.requires_contact,
                requires_product: row.requires_product,
            });
        }
    }
    Ok(processes)
}

/// A number in a cell (`1250.00`, `1,250.00`, `50 %` for a percentage); empty is none. Text
/// that is not one is a problem under the field's key. A comma is a thousands separator only
/// beside a decimal point: `1250,50` is refused rather than read as 125050.
fn decimal_cell(
    cells: &Cells<'_>,
    field: Builtin,
    label: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Decimal> {
    let text = cells.get(field);
    let mut cleaned: String = text
        .trim_end_matches('%')
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
        .collect();
    if cleaned.is_empty() {
        return None;
    }
    if cleaned.contains('.') {
        cleaned.retain(|c| c != ',');
    }
    match cleaned.parse::<Decimal>() {
        Ok(value) => Some(value),
        Err(_) => {
            errors.push(problem(
                field.key(),
                format!("{label} “{text}” is not a number: write it like 1250.00."),
            ));
            None
        }
    }
}

/// A date in a cell (`2026-03-31`); empty is none.
fn date_cell(cells: &Cells<'_>, field: Builtin, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let text = cells.get(field);
    if text.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        Ok(date) => Some(date),
        Err(_) => {
            errors.push(problem(
                field.key(),
                format!("“{text}” is not a date: write it like 2026-03-31."),
            ));
            None
        }
    }
}

/// Deals: each row is checked as the deal form's input is (`DealInput`, and what a new deal
/// needs in its stage), its process and stage found by name (the default process and its first
/// open stage if the cells are empty), its organization by name, its contact and owner by
/// email. A deal has no key to find a duplicate by: every valid row creates a deal.
async fn plan_deals(
    tx: &mut TenantTx,
    loaded: &Loaded,
    table: &Table,
) -> Result<Vec<PlannedRow>, DbError> {
    let context = *tx.context();
    let keys = |field| lower_cells(loaded, table, field);
    let processes = deal_processes(tx).await?;
    let organizations =
        ids_named(tx, Named::OrganizationName, &keys(Builtin::Organization)).await?;
    let contacts = ids_named(tx, Named::ContactEmail, &keys(Builtin::ContactEmail)).await?;
    let members = ids_named(tx, Named::MemberEmail, &keys(Builtin::OwnerEmail)).await?;

    plan_rows(loaded, table, |cells, _| {
        let mut errors = Vec::new();
        let amount = decimal_cell(cells, Builtin::Amount, "The amount", &mut errors);
        let probability = decimal_cell(cells, Builtin::Probability, "The probability", &mut errors);
        let expected_close_date = date_cell(cells, Builtin::ExpectedCloseDate, &mut errors);
        let unreadable = !errors.is_empty();
        let input = DealInput {
            name: cells.get(Builtin::Name),
            amount,
            probability,
            expected_close_date,
            notes: cells.optional(Builtin::Notes),
            lost_reason: cells.optional(Builtin::LostReason),
            custom_fields: Some(cells.custom_fields()),
            ..DealInput::default()
        };
        let mut check = Check::new();
        let valid = input.check_fields(&loaded.definitions, &mut check);

        let process_name = cells.get(Builtin::Process);
        let process = if process_name.is_empty() {
            let default = processes.iter().find(|p| p.is_default);
            if default.is_none() {
                errors.push(problem(
                    "process",
                    "This workspace has no sales process yet: an admin sets one up first.",
                ));
            }
            default
        } else {
            let found = processes
                .iter()
                .find(|p| p.name.to_lowercase() == process_name.to_lowercase());
            if found.is_none() {
                errors.push(problem(
                    "process",
                    format!(
                        "No sales process named “{process_name}” takes new deals: an admin \
                         creates it and its stages first."
                    ),
                ));
            }
            found
        };
        let stage_name = cells.get(Builtin::Stage);
        let stage = process.and_then(|process| {
            let found = if stage_name.is_empty() {
                process
                    .stages
                    .iter()
                    .find(|s| s.outcome == DealOutcome::Open)
            } else {
                process
                    .stages
                    .iter()
                    .find(|s| s.name.to_lowercase() == stage_name.to_lowercase())
            };
            if found.is_none() {
                errors.push(problem(
                    "stage",
                    if stage_name.is_empty() {
                        format!("The sales process “{}” has no open stage.", process.name)
                    } else {
                        format!(
                            "The sales process “{}” has no stage named “{stage_name}”.",
                            process.name
                        )
                    },
                ));
            }
            found
        });
        let organization_id = look_up(
            cells,
            Builtin::Organization,
            &organizations,
            &mut errors,
            |name| format!("No organization named “{name}”: import organizations first."),
        );
        let contact_id = look_up(
            cells,
            Builtin::ContactEmail,
            &contacts,
            &mut errors,
            |email| format!("No contact has the email “{email}”: import contacts first."),
        );
        let owner = owner_of(cells, &members, context.user_id, &mut errors);
        if owner.is_some_and(|owner| owner != context.user_id)
            && !context.role.may(Permission::AssignDeals)
        {
            errors.push(problem(
                "owner_email",
                "Only managers and admins give deals to others.",
            ));
        }
        // What the stage asks of a new deal, unless a cell could not be read at all.
        if let (Some(stage), false) = (stage, unreadable) {
            let contacts = i64::from(matches!(contact_id, Some(Some(_))));
            deals::check_new_in_stage(
                stage,
                &valid,
                valid.amount,
                expected_close_date,
                contacts,
                0,
                &mut check,
            );
        }
        if let Err(err) = check.finish::<Deal>() {
            errors.extend(field_errors(err, ImportEntity::Deal)?);
        }
        let (Some(process), Some(stage), Some(organization_id), Some(contact_id), Some(owner)) =
            (process, stage, organization_id, contact_id, owner)
        else {
            return Ok(Err(errors));
        };
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        let (probability, probability_set) = deals::probability_in(stage, valid.probability);
        Ok(Ok((
            Outcome::Create,
            Record::Deal(DealValues {
                name: valid.name,
                amount: valid.amount,
                process_id: process.id,
                stage_id: stage.id,
                stage_name: stage.name.clone(),
                outcome: stage.outcome,
                probability,
                probability_set,
                expected_close_date,
                organization_id,
                contact_id,
                owner,
                notes: valid.notes,
                lost_reason: valid
                    .lost_reason
                    .filter(|_| stage.outcome == DealOutcome::Lost),
                custom_fields: valid.custom_fields,
            }),
        )))
    })
}

/// Writes one batch of planned rows: one insert of the new records, one update of the
/// duplicates to update.
pub(super) async fn write(
    tx: &mut TenantTx,
    loaded: &Loaded,
    rows: &[PlannedRow],
    counts: &mut Counts,
) -> Result<(), DbError> {
    match loaded.entity {
        ImportEntity::Contact => write_contacts(tx, loaded, rows, counts).await,
        ImportEntity::Organization => write_organizations(tx, loaded, rows, counts).await,
        ImportEntity::Deal => write_deals(tx, rows, counts).await,
    }
}

/// Column arrays of a batch of one record type, for `unnest`.
trait Columns: Default {
    type Values;

    /// The values of `record`, if it is of this type.
    fn values(record: &Record) -> Option<&Self::Values>;

    fn push(&mut self, id: Uuid, values: &Self::Values);

    /// The batch's records of this type: those to create (each with `new_id()`), and those to
    /// update (each with the record it updates).
    fn of(rows: &[PlannedRow], mut new_id: impl FnMut() -> Uuid) -> (Self, Self) {
        let mut creates = Self::default();
        let mut updates = Self::default();
        for row in rows {
            let Some(values) = row.record.as_ref().and_then(Self::values) else {
                continue;
            };
            match row.outcome {
                Outcome::Create => creates.push(new_id(), values),
                Outcome::Update(id) => updates.push(id, values),
                Outcome::Duplicate(_) | Outcome::Rejected => {}
            }
        }
        (creates, updates)
    }
}

/// The mapped custom fields' keys: an update replaces their values and keeps the others.
fn custom_keys(loaded: &Loaded) -> Vec<String> {
    loaded
        .mapping
        .0
        .values()
        .filter_map(|t| match t {
            Target::Custom(key) => Some(key.clone()),
            Target::Builtin(_) => None,
        })
        .collect()
}

fn mapped(loaded: &Loaded, field: Builtin) -> bool {
    loaded.mapping.column_of(&Target::Builtin(field)).is_some()
}

/// Column arrays of a batch of contacts, for `unnest`. Absent values travel as "" (and the nil
/// uuid), turned back into nulls in SQL.
#[derive(Default)]
struct ContactColumns {
    ids: Vec<Uuid>,
    first_names: Vec<String>,
    last_names: Vec<String>,
    emails: Vec<String>,
    phones: Vec<String>,
    titles: Vec<String>,
    organizations: Vec<Uuid>,
    owners: Vec<Uuid>,
    custom_fields: Vec<String>,
}

impl Columns for ContactColumns {
    type Values = ContactValues;

    fn values(record: &Record) -> Option<&ContactValues> {
        match record {
            Record::Contact(values) => Some(values),
            _ => None,
        }
    }

    fn push(&mut self, id: Uuid, values: &ContactValues) {
        self.ids.push(id);
        self.first_names.push(values.first_name.clone());
        self.last_names.push(values.last_name.clone());
        self.emails.push(values.email.clone().unwrap_or_default());
        self.phones.push(values.phone.clone().unwrap_or_default());
        self.titles.push(values.title.clone().unwrap_or_default());
        self.organizations
            .push(values.organization_id.unwrap_or_else(Uuid::nil));
        self.owners.push(values.owner.as_uuid());
        self.custom_fields.push(values.custom_fields.to_string());
    }
}

async fn write_contacts(
    tx: &mut TenantTx,
    loaded: &Loaded,
    rows: &[PlannedRow],
    counts: &mut Counts,
) -> Result<(), DbError> {
    let tenant = tx.context().tenant_id;
    let user = tx.context().user_id;
    let (creates, updates) = ContactColumns::of(rows, Uuid::nil);
    if !creates.ids.is_empty() {
        let created = sqlx::query!(
            "insert into contacts (tenant_id, first_name, last_name, email, phone, title,
                                   organization_id, assigned_to, custom_fields, created_by,
                                   updated_by)
             select $1, u.first_name, u.last_name, nullif(u.email, ''), nullif(u.phone, ''),
                    nullif(u.title, ''), nullif(u.organization_id, '00000000-0000-0000-0000-000000000000'),
                    u.owner, u.custom_fields::jsonb, $2, $2
             from unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::uuid[],
                         $9::uuid[], $10::text[])
                  as u (first_name, last_name, email, phone, title, organization_id, owner,
                        custom_fields)
             returning id",
            tenant.as_uuid(),
            user as UserId,
            &creates.first_names,
            &creates.last_names,
            &creates.emails,
            &creates.phones,
            &creates.titles,
            &creates.organizations,
            &creates.owners,
            &creates.custom_fields,
        )
        .fetch_all(tx.conn())
        .await?;
        counts.created += created.len();
    }
    if !updates.ids.is_empty() {
        let updated = sqlx::query!(
            "update contacts c
             set first_name = case when $3 then u.first_name else c.first_name end,
                 last_name = case when $4 then u.last_name else c.last_name end,
                 email = case when $5 then nullif(u.email, '') else c.email end,
                 phone = case when $6 then nullif(u.phone, '') else c.phone end,
                 title = case when $7 then nullif(u.title, '') else c.title end,
                 organization_id = case when $8
                     then nullif(u.organization_id, '00000000-0000-0000-0000-000000000000')
                     else c.organization_id end,
                 custom_fields = (c.custom_fields - $9::text[]) || u.custom_fields::jsonb,
                 version = c.version + 1, updated_at = now(), updated_by = $2
             from unnest($10::uuid[], $11::text[], $12::text[], $13::text[], $14::text[],
                         $15::text[], $16::uuid[], $17::text[])
                  as u (id, first_name, last_name, email, phone, title, organization_id,
                        custom_fields)
             where c.tenant_id = $1 and c.id = u.id and c.deleted_at is null",
            tenant.as_uuid(),
            user as UserId,
            mapped(loaded, Builtin::FirstName),
            mapped(loaded, Builtin::LastName),
            mapped(loaded, Builtin::Email),
            mapped(loaded, Builtin::Phone),
            mapped(loaded, Builtin::Title),
            mapped(loaded, Builtin::Organization),
            &custom_keys(loaded),
            &updates.ids,
            &updates.first_names,
            &updates.last_names,
            &updates.emails,
            &updates.phones,
            &updates.titles,
            &updates.organizations,
            &updates.custom_fields,
        )
        .execute(tx.conn())
        .await?;
        counts.updated += updated.rows_affected() as usize;
    }
    Ok(())
}

#[derive(Default)]
struct OrganizationColumns {
    ids: Vec<Uuid>,
    names: Vec<String>,
    industries: Vec<String>,
    sizes: Vec<String>,
    locations: Vec<String>,
    websites: Vec<String>,
    custom_fields: Vec<String>,
}

impl Columns for OrganizationColumns {
    type Values = OrganizationValues;

    fn values(record: &Record) -> Option<&OrganizationValues> {
        match record {
            Record::Organization(values) => Some(values),
            _ => None,
        }
    }

    fn push(&mut self, id: Uuid, values: &OrganizationValues) {
        self.ids.push(id);
        self.names.push(values.name.clone());
        self.industries
            .push(values.industry.clone().unwrap_or_default());
        self.sizes
            .push(values.size_band.unwrap_or_default().to_owned());
        self.locations
            .push(values.location.clone().unwrap_or_default());
        self.websites
            .push(values.website.clone().unwrap_or_default());
        self.custom_fields.push(values.custom_fields.to_string());
    }
}

async fn write_organizations(
    tx: &mut TenantTx,
    loaded: &Loaded,
    rows: &[PlannedRow],
    counts: &mut Counts,
) -> Result<(), DbError> {
    let tenant = tx.context().tenant_id;
    let user = tx.context().user_id;
    let (creates, updates) = OrganizationColumns::of(rows, Uuid::nil);
    if !creates.ids.is_empty() {
        let created = sqlx::query!(
            "insert into organizations (tenant_id, name, industry, size_band, location, website,
                                        custom_fields, created_by, updated_by)
             select $1, u.name, nullif(u.industry, ''),
                    nullif(u.size_band, '')::aura.organization_size, nullif(u.location, ''),
                    nullif(u.website, ''), u.custom_fields::jsonb, $2, $2
             from unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
                  as u (name, industry, size_band, location, website, custom_fields)
             returning id",
            tenant.as_uuid(),
            user as UserId,
            &creates.names,
            &creates.industries,
            &creates.sizes,
            &creates.locations,
            &creates.websites,
            &creates.custom_fields,
        )
        .fetch_all(tx.conn())
        .await?;
        counts.created += created.len();
    }
    if !updates.ids.is_empty() {
        let updated = sqlx::query!(
            "update organizations o
             set name = u.name,
                 industry = case when $3 then nullif(u.industry, '') else o.industry end,
                 size_band = case when $4 then nullif(u.size_band, '')::aura.organization_size
                             else o.size_band end,
                 location = case when $5 then nullif(u.location, '') else o.location end,
                 website = case when $6 then nullif(u.website, '') else o.website end,
                 custom_fields = (o.custom_fields - $7::text[]) || u.custom_fields::jsonb,
                 version = o.version + 1, updated_at = now(), updated_by = $2
             from unnest($8::uuid[], $9::text[], $10::text[], $11::text[], $12::text[],
                         $13::text[], $14::text[])
                  as u (id, name, industry, size_band, location, website, custom_fields)
             where o.tenant_id = $1 and o.id = u.id and o.deleted_at is null",
            tenant.as_uuid(),
            user as UserId,
            mapped(loaded, Builtin::Industry),
            mapped(loaded, Builtin::Size),
            mapped(loaded, Builtin::Location),
            mapped(loaded, Builtin::Website),
            &custom_keys(loaded),
            &updates.ids,
            &updates.names,
            &updates.industries,
            &updates.sizes,
            &updates.locations,
            &updates.websites,
            &updates.custom_fields,
        )
        .execute(tx.conn())
        .await?;
        counts.updated += updated.rows_affected() as usize;
    }
    Ok(())
}

/// Column arrays of a batch of deals, for `unnest`: absent text travels as "" and an absent
/// organization as the nil uuid, turned back into nulls in SQL; the amount, the probability and
/// the date travel as text ("" for none) and are cast there.
#[derive(Default)]
struct DealColumns {
    ids: Vec<Uuid>,
    names: Vec<String>,
    amounts: Vec<String>,
    processes: Vec<Uuid>,
    stages: Vec<Uuid>,
    stage_names: Vec<String>,
    outcomes: Vec<String>,
    probabilities: Vec<String>,
    probabilities_set: Vec<bool>,
    close_dates: Vec<String>,
    organizations: Vec<Uuid>,
    owners: Vec<Uuid>,
    notes: Vec<String>,
    lost_reasons: Vec<String>,
    custom_fields: Vec<String>,
    /// The deals with a contact to put on them, and the contacts.
    linked_deals: Vec<Uuid>,
    linked_contacts: Vec<Uuid>,
}

impl Columns for DealColumns {
    type Values = DealValues;

    fn values(record: &Record) -> Option<&DealValues> {
        match record {
            Record::Deal(values) => Some(values),
            _ => None,
        }
    }

    fn push(&mut self, id: Uuid, values: &DealValues) {
        self.ids.push(id);
        self.names.push(values.name.clone());
        self.amounts
            .push(values.amount.map(|a| a.to_string()).unwrap_or_default());
        self.processes.push(values.process_id.as_uuid());
        self.stages.push(values.stage_id.as_uuid());
        self.stage_names.push(values.stage_name.clone());
        self.outcomes.push(values.outcome.as_str().to_owned());
        self.probabilities.push(values.probability.to_string());
        self.probabilities_set.push(values.probability_set);
        self.close_dates.push(
            values
                .expected_close_date
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
        );
        self.organizations
            .push(values.organization_id.unwrap_or_else(Uuid::nil));
        self.owners.push(values.owner.as_uuid());
        self.notes.push(values.notes.clone().unwrap_or_default());
        self.lost_reasons
            .push(values.lost_reason.clone().unwrap_or_default());
        self.custom_fields.push(values.custom_fields.to_string());
        if let Some(contact) = values.contact_id {
            self.linked_deals.push(id);
            self.linked_contacts.push(contact);
        }
    }
}

/// Creates a batch of deals as `deals::create` creates one: a won or lost deal closed now in
/// its stage, its contact linked with the deal's and the contact's owners, a `deal.created`
/// audit entry each. The database writes the first stage history row and the webhook events
/// (triggers on `deals`), and checks the stage against the process (`deals_stage_fkey`) and
/// the process against new deals (`deals_process_live`).
async fn write_deals(
    tx: &mut TenantTx,
    rows: &[PlannedRow],
    counts: &mut Counts,
) -> Result<(), DbError> {
    let tenant = tx.context().tenant_id;
    let user = tx.context().user_id;
    // The ids are made here, so that the contact links know their deals.
    let (creates, _) = DealColumns::of(rows, Uuid::new_v4);
    if creates.ids.is_empty() {
        return Ok(());
    }
    let created = sqlx::query!(
        "insert into deals (tenant_id, id, name, amount, process_id, stage_id, outcome,
                            probability, probability_set, expected_close_date, organization_id,
                            assigned_to, notes, custom_fields, closed_at, closed_stage_name,
                            lost_reason, created_by, updated_by)
         select $1, u.id, u.name, nullif(u.amount, '')::numeric, u.process_id, u.stage_id,
                u.outcome::aura.stage_outcome, u.probability::numeric, u.probability_set,
                nullif(u.close_date, '')::date,
                nullif(u.organization_id, '00000000-0000-0000-0000-000000000000'), u.owner,
                nullif(u.notes, ''), u.custom_fields::jsonb,
                case when u.outcome <> 'open' then now() end,
                case when u.outcome <> 'open' then u.stage_name end,
                nullif(u.lost_reason, ''), $2, $2
         from unnest($3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::uuid[], $8::text[],
                     $9::text[], $10::text[], $11::bool[], $12::text[], $13::uuid[],
                     $14::uuid[], $15::text[], $16::text[], $17::text[])
              as u (id, name, amount, process_id, stage_id, stage_name, outcome, probability,
                    probability_set, close_date, organization_id, owner, notes, lost_reason,
                    custom_fields)
         returning id",
        tenant.as_uuid(),
        user as UserId,
        &creates.ids,
        &creates.names,
        &creates.amounts,
        &creates.processes,
        &creates.stages,
        &creates.stage_names,
        &creates.outcomes,
        &creates.probabilities,
        &creates.probabilities_set,
        &creates.close_dates,
        &creates.organizations,
        &creates.owners,
        &creates.notes,
        &creates.lost_reasons,
        &creates.custom_fields,
    )
    .fetch_all(tx.conn())
    .await?;
    counts.created += created.len();
    if !creates.linked_deals.is_empty() {
        // As `deals::create` links a contact: both owners ride along for the policies.
        sqlx::query!(
            "insert into deal_contacts (tenant_id, deal_id, contact_id, role, deal_owner,
                                        contact_owner, created_by)
             select $1, d.id, c.id, 'other', d.assigned_to, c.assigned_to, $2
             from unnest($3::uuid[], $4::uuid[]) as l (deal_id, contact_id)
             join deals d on d.tenant_id = $1 and d.id = l.deal_id
             join contacts c on c.tenant_id = $1 and c.id = l.contact_id
                            and c.deleted_at is null
             returning deal_id",
            tenant.as_uuid(),
            user as UserId,
            &creates.linked_deals,
            &creates.linked_contacts,
        )
        .fetch_all(tx.conn())
        .await?;
    }
    let ids: Vec<DealId> = creates.ids.iter().copied().map(DealId::from).collect();
    deals::audit_created(tx, &ids).await
}

/// Sets the parents the file names, once every organization of the file exists (a parent may
/// come after its subsidiary in the file).
pub(super) async fn link_parents(tx: &mut TenantTx, planned: &[PlannedRow]) -> Result<(), DbError> {
    let tenant = tx.context().tenant_id;
    let mut children = Vec::new();
    let mut parents = Vec::new();
    for row in planned {
        if let (Some(Record::Organization(values)), Outcome::Create | Outcome::Update(_)) =
            (&row.record, row.outcome)
        {
            if let Some(parent) = &values.parent {
                children.push(values.key.clone());
                parents.push(parent.clone());
            }
        }
    }
    if children.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "update organizations o
         set parent_id = p.id
         from unnest($2::text[], $3::text[]) as u (child, parent)
         left join organizations p
                on p.tenant_id = $1 and p.name_key = u.parent and p.deleted_at is null
         where o.tenant_id = $1 and o.name_key = u.child and o.deleted_at is null
           and o.parent_id is distinct from p.id",
        tenant.as_uuid(),
        &children,
        &parents,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
