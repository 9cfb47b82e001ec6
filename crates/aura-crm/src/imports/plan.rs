//! What an import does with each row (the preview shows it, the run does it), and the batch
//! writes. Each row is checked by the forms' own input types; what only an import can find out
//! (an organization or owner named but unknown, a duplicate, a parent loop) is checked here,
//! against the workspace's records read once for the whole file.

use std::collections::{HashMap, HashSet};

use aura_platform::db::{DbError, TenantTx};
use aura_platform::ids::UserId;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::csv_file::Table;
use super::{Builtin, Counts, Duplicates, ImportEntity, Loaded, Target};
use crate::contacts::ContactInput;
use crate::fields::{FieldError, WriteError};
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

async fn plan_contacts(
    tx: &mut TenantTx,
    loaded: &Loaded,
    table: &Table,
) -> Result<Vec<PlannedRow>, DbError> {
    let tenant = tx.context().tenant_id;
    let importer = tx.context().user_id;
    let lower_cells = |field: Builtin| -> Vec<String> {
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
    };
    // One index probe per distinct value: contacts_email_key, organizations_name_key,
    // users_email_norm_key.
    let existing: HashMap<String, Uuid> = sqlx::query!(
        r#"select id, email_key as "email_key!" from contacts
           where tenant_id = $1 and deleted_at is null and email_key = any($2)"#,
        tenant.as_uuid(),
        &lower_cells(Builtin::Email),
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|row| (row.email_key, row.id))
    .collect();
    let organizations: HashMap<String, Uuid> = sqlx::query!(
        "select id, name_key from organizations
         where tenant_id = $1 and deleted_at is null and name_key = any($2)",
        tenant.as_uuid(),
        &lower_cells(Builtin::Organization),
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|row| (row.name_key, row.id))
    .collect();
    let members: HashMap<String, Uuid> = sqlx::query!(
        r#"select m.user_id, u.email_norm as "email_norm!" from tenant_members m
           join users u on u.id = m.user_id
           where m.tenant_id = $1 and m.deactivated_at is null and u.email_norm = any($2)"#,
        tenant.as_uuid(),
        &lower_cells(Builtin::OwnerEmail),
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|row| (row.email_norm, row.user_id))
    .collect();

    let mut seen: HashMap<String, usize> = HashMap::new();
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
        let organization = cells.get(Builtin::Organization);
        let organization_id = if organization.is_empty() {
            None
        } else {
            let found = organizations.get(&organization.to_lowercase()).copied();
            if found.is_none() {
                errors.push(problem(
                    "organization",
                    format!("No organization named “{organization}”: import organizations first."),
                ));
            }
            found
        };
        let owner_email = cells.get(Builtin::OwnerEmail);
        let owner = if owner_email.is_empty() {
            Some(importer)
        } else {
            let found = members
                .get(&owner_email.to_lowercase())
                .copied()
                .map(UserId::from);
            if found.is_none() {
                errors.push(problem(
                    "owner_email",
                    format!("No active member of this workspace has the email “{owner_email}”."),
                ));
            }
            found
        };
        let email_key = valid
            .as_ref()
            .and_then(|v| v.email.as_deref())
            .map(str::to_lowercase);
        if let Some(earlier) = email_key.as_ref().and_then(|key| seen.get(key)) {
            errors.push(problem(
                "email",
                format!("Row {earlier} of the file has the same email."),
            ));
        }
        let (Some(valid), Some(owner), true) = (valid, owner, errors.is_empty()) else {
            planned.push(PlannedRow::rejected(row.number, fields, errors));
            continue;
        };
        if let Some(key) = &email_key {
            seen.insert(key.clone(), row.number);
        }
        let outcome = match email_key.as_ref().and_then(|key| existing.get(key)) {
            None => Outcome::Create,
            Some(id) if loaded.duplicates == Duplicates::Update => Outcome::Update(*id),
            Some(id) => Outcome::Duplicate(*id),
        };
        planned.push(PlannedRow {
            number: row.number,
            fields,
            outcome,
            errors,
            record: Some(Record::Contact(ContactValues {
                first_name: valid.first_name,
                last_name: valid.last_name,
                email: valid.email,
                phone: valid.phone,
                title: valid.title,
                organization_id,
                owner,
                custom_fields: valid.custom_fields,
            })),
        });
    }
    Ok(planned)
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

    let mut seen: HashMap<String, usize> = HashMap::new();
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
            Err(err) => {
                let errors = field_errors(err, ImportEntity::Organization)?;
                planned.push(PlannedRow::rejected(row.number, fields, errors));
                continue;
            }
        };
        let key = valid.name.to_lowercase();
        if let Some(earlier) = seen.get(&key) {
            let errors = vec![problem(
                "name",
                format!("Row {earlier} of the file has the same name."),
            )];
            planned.push(PlannedRow::rejected(row.number, fields, errors));
            continue;
        }
        seen.insert(key.clone(), row.number);
        let outcome = match ids.get(key.as_str()) {
            None => Outcome::Create,
            Some(id) if loaded.duplicates == Duplicates::Update => Outcome::Update(*id),
            Some(id) => Outcome::Duplicate(*id),
        };
        let parent = loaded
            .mapping
            .column_of(&Target::Builtin(Builtin::Parent))
            .map(|_| cells.get(Builtin::Parent).to_lowercase());
        planned.push(PlannedRow {
            number: row.number,
            fields,
            outcome,
            errors: Vec::new(),
            record: Some(Record::Organization(OrganizationValues {
                name: valid.name,
                key,
                industry: valid.industry,
                size_band: valid.size_band.map(|s| s.as_str()),
                location: valid.location,
                website: valid.website,
                parent,
                custom_fields: valid.custom_fields,
            })),
        });
    }

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

impl ContactColumns {
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
    let mut creates = ContactColumns::default();
    let mut updates = ContactColumns::default();
    for row in rows {
        let Some(Record::Contact(values)) = &row.record else {
            continue;
        };
        match row.outcome {
            Outcome::Create => creates.push(Uuid::nil(), values),
            Outcome::Update(id) => updates.push(id, values),
            Outcome::Duplicate(_) | Outcome::Rejected => {}
        }
    }
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
                        custom_fields)",
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
        .execute(tx.conn())
        .await?;
        counts.created += created.rows_affected() as usize;
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

impl OrganizationColumns {
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
    let mut creates = OrganizationColumns::default();
    let mut updates = OrganizationColumns::default();
    for row in rows {
        let Some(Record::Organization(values)) = &row.record else {
            continue;
        };
        match row.outcome {
            Outcome::Create => creates.push(Uuid::nil(), values),
            Outcome::Update(id) => updates.push(id, values),
            Outcome::Duplicate(_) | Outcome::Rejected => {}
        }
    }
    if !creates.ids.is_empty() {
        let created = sqlx::query!(
            "insert into organizations (tenant_id, name, industry, size_band, location, website,
                                        custom_fields, created_by, updated_by)
             select $1, u.name, nullif(u.industry, ''),
                    nullif(u.size_band, '')::aura.organization_size, nullif(u.location, ''),
                    nullif(u.website, ''), u.custom_fields::jsonb, $2, $2
             from unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
                  as u (name, industry, size_band, location, website, custom_fields)",
            tenant.as_uuid(),
            user as UserId,
            &creates.names,
            &creates.industries,
            &creates.sizes,
            &creates.locations,
            &creates.websites,
            &creates.custom_fields,
        )
        .execute(tx.conn())
        .await?;
        counts.created += created.rows_affected() as usize;
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
