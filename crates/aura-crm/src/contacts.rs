//! Contacts (F7) and their ownership (F9). A contact is assigned to one member: sales reps see,
//! search and edit only their own (the policies enforce it; the queries here also filter by
//! owner for speed), managers and admins the whole tenant, and only they reassign, audited.
//! One live contact per email address in a tenant (F7.7).

use aura_platform::audit;
use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::ids::UserId;
use aura_platform::permissions::Permission;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::custom_fields::{self, Entity};
use crate::fields::{Check, FieldError, WriteError};
use crate::ids::{ContactId, OrganizationId};
use crate::organizations::prefix_range;
use crate::paging::{page_size, text_position, time_position, Cursor, ListOrder, Page};

/// What a user submits to create or edit a contact. Empty optional text means none.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ContactInput {
    #[serde(default)]
    pub first_name: String,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<OrganizationId>,
    /// The owner. A new contact defaults to its creator; an edit without it keeps the owner.
    /// Only managers and admins give a contact to someone else.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub assigned_to: Option<UserId>,
    /// Values of the workspace's custom contact fields, by key (F7.6). An edit changes only the
    /// keys it gives (null or "" clears one).
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

pub(crate) struct ValidInput {
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    pub(crate) email: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) custom_fields: serde_json::Value,
    /// The keys of the live custom fields, whose values the input replaces.
    pub(crate) custom_keys: Vec<String>,
}

impl ContactInput {
    /// Checks the input; the custom fields against the workspace's definitions, read in `tx`.
    async fn validate(&self, tx: &mut TenantTx) -> Result<ValidInput, WriteError<Contact>> {
        let definitions = custom_fields::definitions(tx, Entity::Contact).await?;
        self.check(&definitions)
    }

    /// Checks the input against the custom field `definitions` (an import checks each of its
    /// rows so, with the definitions read once).
    pub(crate) fn check(
        &self,
        definitions: &[custom_fields::Definition],
    ) -> Result<ValidInput, WriteError<Contact>> {
        let mut check = Check::new();
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let first_name = check.required("first_name", "First name", &self.first_name, 100);
        let last_name = check
            .optional("last_name", "Last name", &text(&self.last_name), 100)
            .unwrap_or_default();
        let email = check
            .optional_email("email", &text(&self.email))
            .map(|e| e.as_str().to_owned());
        let phone = check.optional_phone("phone", &text(&self.phone));
        let title = check.optional("title", "Title", &text(&self.title), 200);
        let custom = custom_fields::validate(definitions, self.custom_fields.as_ref(), &mut check);
        check.finish()?;
        Ok(ValidInput {
            first_name,
            last_name,
            email,
            phone,
            title,
            custom_fields: serde_json::Value::Object(custom),
            custom_keys: custom_fields::keys(self.custom_fields.as_ref()),
        })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Contact {
    #[schema(value_type = uuid::Uuid)]
    pub id: ContactId,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<OrganizationId>,
    pub organization_name: Option<String>,
    #[schema(value_type = uuid::Uuid)]
    pub assigned_to: UserId,
    pub assigned_to_name: Option<String>,
    /// Values of custom fields, by key.
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Value,
    /// Set while the contact is deleted; it can be restored.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Send it back with an edit: a save over a newer version is refused (409).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
    /// The earliest open follow-up on the contact that the caller may see: when it is due.
    pub next_follow_up_at: Option<DateTime<Utc>>,
    /// What that follow-up is.
    pub next_follow_up: Option<String>,
    /// When the latest activity on the contact happened.
    pub last_activity_at: Option<DateTime<Utc>>,
}

impl Contact {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_owned()
    }

    /// The phone number as a `tel:` link (RFC 3966): its digits, and a leading `+` if it has
    /// one, so a tap on a phone dials it whatever spaces or dashes it was typed with.
    pub fn tel_uri(&self) -> Option<String> {
        let phone = self.phone.as_deref()?.trim();
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return None;
        }
        let plus = if phone.starts_with('+') { "+" } else { "" };
        Some(format!("tel:{plus}{digits}"))
    }
}

pub type ContactPage = Page<Contact, ContactId>;

#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// Search: contacts whose first or last name, full name, email, phone digits or company
    /// name starts with this (any case). Ignored for the deleted list.
    pub search: Option<String>,
    /// Only this member's contacts (a rep's list is always only their own).
    pub assigned_to: Option<UserId>,
    pub organization_id: Option<OrganizationId>,
    /// The order of the list (not of search results, which are by name).
    pub order: ListOrder,
    /// The deleted ones (to restore them), most recently deleted first.
    pub deleted: bool,
    pub after: Option<Cursor<ContactId>>,
    pub limit: Option<i64>,
}

/// A page of contacts. `similar` says the search found no contact starting with the text, and
/// these are names like it instead (typo tolerance, first page only).
#[derive(Debug, Clone)]
pub struct ContactList {
    pub page: ContactPage,
    pub similar: bool,
}

/// The problems of `input` as a contact, saving nothing: for a form that found one of its own
/// (a name that matches no organization) and shows every problem at once.
pub async fn problems(
    pool: &AppPool,
    context: TenantContext,
    input: &ContactInput,
) -> Result<Vec<FieldError>, DbError> {
    let mut tx = pool.begin(context).await?;
    match input.validate(&mut tx).await {
        Err(WriteError::Invalid(problems)) => Ok(problems),
        Err(WriteError::Db(err)) => Err(err),
        _ => Ok(Vec::new()),
    }
}

pub async fn create(
    pool: &AppPool,
    context: TenantContext,
    input: &ContactInput,
) -> Result<ContactId, WriteError<Contact>> {
    let owner = input.assigned_to.unwrap_or(context.user_id);
    if owner != context.user_id && !context.role.may(Permission::AssignContacts) {
        return Err(WriteError::NotAllowed);
    }
    let mut tx = pool.begin(context).await?;
    let valid = input.validate(&mut tx).await?;
    check_owner(&mut tx, owner).await?;
    check_organization(&mut tx, input.organization_id).await?;
    let id = sqlx::query_scalar!(
        r#"insert into contacts (tenant_id, first_name, last_name, email, phone, title,
                                 organization_id, assigned_to, custom_fields, created_by,
                                 updated_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $10, $9, $9)
           returning id as "id: ContactId""#,
        context.tenant_id.as_uuid(),
        valid.first_name,
        valid.last_name,
        valid.email,
        valid.phone,
        valid.title,
        input.organization_id as Option<OrganizationId>,
        owner as UserId,
        context.user_id as UserId,
        valid.custom_fields,
    )
    .fetch_one(tx.conn())
    .await;
    let id = match id {
        Ok(id) => id,
        Err(err) => {
            drop(tx);
            return Err(email_taken(pool, context, DbError::from(err), valid.email).await);
        }
    };
    tx.commit().await?;
    Ok(id)
}

/// The contact, deleted or not; `None` if there is none the caller may see.
pub async fn get(
    pool: &AppPool,
    context: TenantContext,
    id: ContactId,
) -> Result<Option<Contact>, DbError> {
    let mut tx = pool.begin(context).await?;
    Ok(fetch(&mut tx, &[id]).await?.pop())
}

/// Saves `input` over version `version` of the contact. A change of owner is a reassignment:
/// managers and admins only, and audited.
pub async fn update(
    pool: &AppPool,
    context: TenantContext,
    id: ContactId,
    version: i64,
    input: &ContactInput,
) -> Result<Contact, WriteError<Contact>> {
    let mut tx = pool.begin(context).await?;
    let valid = input.validate(&mut tx).await?;
    let Some(current) = fetch(&mut tx, &[id]).await?.pop() else {
        return Err(WriteError::NotFound);
    };
    if current.deleted_at.is_some() {
        return Err(WriteError::NotFound);
    }
    let owner = input.assigned_to.unwrap_or(current.assigned_to);
    if owner != current.assigned_to {
        if !context.role.may(Permission::AssignContacts) {
            return Err(WriteError::NotAllowed);
        }
        check_owner(&mut tx, owner).await?;
    }
    check_organization(&mut tx, input.organization_id).await?;
    let saved = sqlx::query_scalar!(
        "update contacts
         set first_name = $4, last_name = $5, email = $6, phone = $7, title = $8,
             organization_id = $9, assigned_to = $10,
             custom_fields = (custom_fields - $12::text[]) || $13,
             version = version + 1, updated_at = now(), updated_by = $11
         where tenant_id = $1 and id = $2 and version = $3 and deleted_at is null
         returning id",
        context.tenant_id.as_uuid(),
        id as ContactId,
        version,
        valid.first_name,
        valid.last_name,
        valid.email,
        valid.phone,
        valid.title,
        input.organization_id as Option<OrganizationId>,
        owner as UserId,
        context.user_id as UserId,
        &valid.custom_keys,
        valid.custom_fields,
    )
    .fetch_optional(tx.conn())
    .await;
    match saved {
        Ok(Some(_)) => {}
        Ok(None) => {
            // The version moved on since the caller read it (the row was read above).
            let current = fetch(&mut tx, &[id]).await?.pop();
            return Err(current.map_or(WriteError::NotFound, |c| WriteError::Stale(Box::new(c))));
        }
        Err(err) => {
            drop(tx);
            return Err(email_taken(pool, context, DbError::from(err), valid.email).await);
        }
    }
    if owner != current.assigned_to {
        audit_reassignment(&mut tx, id, current.assigned_to, owner).await?;
    }
    // Read in the same transaction: the caller gets this save, not a later one.
    let saved = fetch(&mut tx, &[id])
        .await?
        .pop()
        .ok_or(WriteError::NotFound)?;
    tx.commit().await?;
    Ok(saved)
}

/// Gives the listed contacts to `owner` (F9.5 bulk reassign); managers and admins only. Each
/// contact that changes hands gets its own audit entry. Returns how many changed.
pub async fn reassign(
    pool: &AppPool,
    context: TenantContext,
    ids: &[ContactId],
    owner: UserId,
) -> Result<u64, WriteError<Contact>> {
    WriteError::unless_may(&context, Permission::AssignContacts)?;
    let ids = crate::bulk_ids(ids.iter().map(ContactId::as_uuid).collect(), "contacts")?;
    let mut tx = pool.begin(context).await?;
    check_owner(&mut tx, owner).await?;
    // All or nothing: an id the caller cannot see (another member's or workspace's, or none)
    // refuses the whole request, so that it is answered, and recorded, as a refusal.
    let visible = sqlx::query_scalar!(
        r#"select count(*) as "count!" from contacts where tenant_id = $1 and id = any($2)"#,
        context.tenant_id.as_uuid(),
        &ids,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    if visible < ids.len() as i64 {
        return Err(WriteError::NotFound);
    }
    let changed = sqlx::query!(
        r#"with previous as (
               select id, assigned_to from contacts
               where tenant_id = $1 and id = any($2) and deleted_at is null and assigned_to <> $3
               for update
           )
           update contacts c
           set assigned_to = $3, version = c.version + 1, updated_at = now(), updated_by = $4
           from previous p
           where c.tenant_id = $1 and c.id = p.id
           returning c.id as "id: ContactId", p.assigned_to as "previous: UserId""#,
        context.tenant_id.as_uuid(),
        &ids,
        owner as UserId,
        context.user_id as UserId,
    )
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?;
    for row in &changed {
        audit_reassignment(&mut tx, row.id, row.previous, owner).await?;
    }
    tx.commit().await?;
    Ok(changed.len() as u64)
}

/// Soft-deletes the contact (F7.5), or restores it; audited. Reps may do this to their own.
/// Restoring fails if another live contact took its email meanwhile.
pub async fn set_deleted(
    pool: &AppPool,
    context: TenantContext,
    id: ContactId,
    deleted: bool,
) -> Result<(), WriteError<Contact>> {
    let mut tx = pool.begin(context).await?;
    let Some(current) = fetch(&mut tx, &[id]).await?.pop() else {
        return Err(WriteError::NotFound);
    };
    if current.deleted_at.is_some() == deleted {
        return Ok(());
    }
    let changed = sqlx::query!(
        "update contacts
         set deleted_at = (select now() where $3), version = version + 1,
             updated_at = now(), updated_by = $4
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as ContactId,
        deleted,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await;
    if let Err(err) = changed {
        drop(tx);
        return Err(email_taken(pool, context, DbError::from(err), current.email).await);
    }
    let action = if deleted {
        "contact.deleted"
    } else {
        "contact.restored"
    };
    audit::record(&mut tx, action, "contact", id.as_uuid(), None, None).await?;
    tx.commit().await?;
    Ok(())
}

/// A page of contacts: the list by name (optionally one owner's, or one organization's), a
/// search, or the deleted ones. Each query yields the page's positions (sort key and id) in
/// order; one more query reads those rows.
pub async fn list(
    pool: &AppPool,
    context: TenantContext,
    filter: &ContactFilter,
) -> Result<ContactList, DbError> {
    let size = page_size(filter.limit);
    let owner = if context.role.may(Permission::AllContacts) {
        filter.assigned_to
    } else {
        Some(context.user_id)
    };
    let search = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut tx = pool.begin(context).await?;
    let mut similar = false;
    let after = filter.after.as_ref();
    let mut positions = match search {
        _ if filter.deleted => deleted_ids(&mut tx, after, size).await?,
        Some(text) => search_ids(&mut tx, text, owner, after, size).await?,
        None if filter.order == ListOrder::RecentlyChanged => {
            recent_ids(&mut tx, owner, filter.organization_id, after, size).await?
        }
        None => listed_ids(&mut tx, owner, filter.organization_id, after, size).await?,
    };
    if let (Some(text), true, None, false) = (search, positions.is_empty(), after, filter.deleted) {
        positions = similar_ids(&mut tx, text, owner).await?;
        similar = !positions.is_empty();
    }
    let positions = Page::from_rows(
        positions,
        if similar { i64::MAX } else { size },
        Cursor::clone,
    );
    let ids: Vec<ContactId> = positions.items.iter().map(|p| p.id).collect();
    Ok(ContactList {
        page: Page {
            items: fetch(&mut tx, &ids).await?,
            next: positions.next,
        },
        similar,
    })
}

/// The list by name. Plan (as `aura_app`, tenant context, 50k contacts in the tenant among
/// 100k): an index scan of `contacts_sort_idx` (`contacts_assigned_idx` for one owner,
/// `contacts_organization_idx` for one organization) with the cursor as an index condition,
/// stopping after a page: 0.15 ms on any page.
async fn listed_ids(
    tx: &mut TenantTx,
    owner: Option<UserId>,
    organization: Option<OrganizationId>,
    after: Option<&Cursor<ContactId>>,
    size: i64,
) -> Result<Vec<Cursor<ContactId>>, DbError> {
    let tenant = tx.context().tenant_id;
    let (key, id) = text_position(after);
    let rows = sqlx::query!(
        r#"select id as "id: ContactId", sort_key from contacts
           where tenant_id = $1 and deleted_at is null
             and ($2::uuid is null or assigned_to = $2)
             and ($3::uuid is null or organization_id = $3)
             and (sort_key, id) > ($4, $5)
           order by sort_key, id
           limit $6"#,
        tenant.as_uuid(),
        owner as Option<UserId>,
        organization as Option<OrganizationId>,
        key,
        id as ContactId,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Cursor::text(row.sort_key, row.id))
        .collect())
}

/// The list by last change, newest first. Plan (as `aura_app`, tenant context, 50k contacts in
/// the tenant among 100k): an index scan of `contacts_recent_idx` (`contacts_assigned_recent_idx`
/// for one owner) with the cursor as an index condition, stopping after a page; an
/// organization's contacts are filtered on the way (measured in BENCHMARKS.md).
async fn recent_ids(
    tx: &mut TenantTx,
    owner: Option<UserId>,
    organization: Option<OrganizationId>,
    after: Option<&Cursor<ContactId>>,
    size: i64,
) -> Result<Vec<Cursor<ContactId>>, DbError> {
    let tenant = tx.context().tenant_id;
    let (at, id) = time_position(after);
    let rows = sqlx::query!(
        r#"select id as "id: ContactId", updated_at from contacts
           where tenant_id = $1 and deleted_at is null
             and ($2::uuid is null or assigned_to = $2)
             and ($3::uuid is null or organization_id = $3)
             and (updated_at, id) < ($4, $5)
           order by updated_at desc, id desc
           limit $6"#,
        tenant.as_uuid(),
        owner as Option<UserId>,
        organization as Option<OrganizationId>,
        at,
        id as ContactId,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Cursor::time(row.updated_at, row.id))
        .collect())
}

/// Search as you type (F7.3): prefix matches on stored, lower-cased keys, each branch a range
/// scan of its own index: `contacts_sort_idx` (last name; `contacts_assigned_idx` for a rep),
/// `contacts_name_idx` (first name), `contacts_email_key`, `contacts_phone_idx`, and
/// `organizations_name_key` joined to `contacts_organization_idx` (company), each with the tenant
/// and the range as index conditions. The union is deduplicated, sorted and cut to a page.
/// Measured as `aura_app` with tenant context, 50k contacts in the tenant among 100k: "smith"
/// (6k matches) 3 ms for a rep, 25 ms for a manager; one letter 7 ms for a rep. `LIKE`, `^@`
/// or trigram operators would not be index conditions under RLS (ARCHITECTURE.md, known traps):
/// every row of the tenant would be filtered.
async fn search_ids(
    tx: &mut TenantTx,
    text: &str,
    owner: Option<UserId>,
    after: Option<&Cursor<ContactId>>,
    size: i64,
) -> Result<Vec<Cursor<ContactId>>, DbError> {
    let tenant = tx.context().tenant_id;
    let (from, to) = prefix_range(Some(text));
    // Phone digits only when the text is a number: "+1 555" searches "1555".
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let is_number = digits.len() >= 3
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    // Not a number: an empty range, which the phone index answers at once. (A null bound
    // would make the branch constant-false, and the planner then launches parallel workers
    // for a scan it never runs.)
    let (digits_from, digits_to) = if is_number {
        prefix_range(Some(&digits))
    } else {
        (String::new(), String::new())
    };
    let (key, id) = text_position(after);
    let rows = sqlx::query!(
        r#"with matches (id, sort_key, assigned_to) as (
               select id, sort_key, assigned_to from contacts
               where tenant_id = $1 and deleted_at is null and sort_key >= $3 and sort_key < $4
               union
               select id, sort_key, assigned_to from contacts
               where tenant_id = $1 and deleted_at is null and name_key >= $3 and name_key < $4
               union
               select id, sort_key, assigned_to from contacts
               where tenant_id = $1 and deleted_at is null and email_key >= $3 and email_key < $4
               union
               select id, sort_key, assigned_to from contacts
               where tenant_id = $1 and deleted_at is null and phone_key >= $5 and phone_key < $6
               union
               select c.id, c.sort_key, c.assigned_to from organizations o
               join contacts c on c.tenant_id = o.tenant_id and c.organization_id = o.id
               where o.tenant_id = $1 and o.deleted_at is null
                 and o.name_key >= $3 and o.name_key < $4 and c.deleted_at is null
           )
           select id as "id!: ContactId", sort_key as "sort_key!" from matches
           where ($2::uuid is null or assigned_to = $2) and (sort_key, id) > ($7, $8)
           order by sort_key, id
           limit $9"#,
        tenant.as_uuid(),
        owner as Option<UserId>,
        from,
        to,
        digits_from,
        digits_to,
        key,
        id as ContactId,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Cursor::text(row.sort_key, row.id))
        .collect())
}

/// Typo tolerance, when a search found nothing: the ten names most like the text by trigram
/// similarity. Under RLS no index can serve this (the operator is not leakproof), so it reads
/// every live contact of the tenant: 150 ms at 50k contacts (a parallel sequential scan),
/// which is why it runs only as the fallback of an empty first page.
async fn similar_ids(
    tx: &mut TenantTx,
    text: &str,
    owner: Option<UserId>,
) -> Result<Vec<Cursor<ContactId>>, DbError> {
    // Names are letters: a phone number or a short fragment resembles nothing worth the scan.
    if text.chars().filter(|c| c.is_alphabetic()).count() < 3 {
        return Ok(Vec::new());
    }
    let tenant = tx.context().tenant_id;
    let rows = sqlx::query!(
        r#"select id as "id: ContactId", sort_key from contacts
           where tenant_id = $1 and deleted_at is null
             and ($2::uuid is null or assigned_to = $2)
             and aura.word_similarity(lower($3), name_key) >= 0.5
           order by aura.word_similarity(lower($3), name_key) desc, sort_key, id
           limit 10"#,
        tenant.as_uuid(),
        owner as Option<UserId>,
        text,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Cursor::text(row.sort_key, row.id))
        .collect())
}

/// Deleted contacts, most recently deleted first: `contacts_deleted_idx`.
async fn deleted_ids(
    tx: &mut TenantTx,
    after: Option<&Cursor<ContactId>>,
    size: i64,
) -> Result<Vec<Cursor<ContactId>>, DbError> {
    let tenant = tx.context().tenant_id;
    let (at, id) = time_position(after);
    let rows = sqlx::query!(
        r#"select id as "id: ContactId", deleted_at as "deleted_at!" from contacts
           where tenant_id = $1 and deleted_at is not null and (deleted_at, id) < ($2, $3)
           order by deleted_at desc, id desc
           limit $4"#,
        tenant.as_uuid(),
        at,
        id as ContactId,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Cursor::time(row.deleted_at, row.id))
        .collect())
}

/// The statement [`fetch`] runs, for tools that EXPLAIN it (the benchmark program).
pub const FETCH_SQL: &str = include_str!("contacts/fetch.sql");

/// The contacts with these ids that the caller may see, in the order given.
async fn fetch(tx: &mut TenantTx, ids: &[ContactId]) -> Result<Vec<Contact>, DbError> {
    let tenant = tx.context().tenant_id;
    let ids: Vec<uuid::Uuid> = ids.iter().map(ContactId::as_uuid).collect();
    let contacts = sqlx::query_file_as!(Contact, "src/contacts/fetch.sql", tenant.as_uuid(), &ids,)
        .fetch_all(tx.conn())
        .await?;
    Ok(contacts)
}

/// A contact's owner must be an active member of the tenant.
async fn check_owner(tx: &mut TenantTx, owner: UserId) -> Result<(), WriteError<Contact>> {
    let tenant = tx.context().tenant_id;
    let active = sqlx::query_scalar!(
        r#"select true as "active!" from tenant_members
           where tenant_id = $1 and user_id = $2 and deactivated_at is null"#,
        tenant.as_uuid(),
        owner as UserId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    if active.is_none() {
        return Err(WriteError::invalid(
            "assigned_to",
            "Assign the contact to an active member of this workspace.",
        ));
    }
    Ok(())
}

async fn check_organization(
    tx: &mut TenantTx,
    organization: Option<OrganizationId>,
) -> Result<(), WriteError<Contact>> {
    let Some(organization) = organization else {
        return Ok(());
    };
    let tenant = tx.context().tenant_id;
    let live = sqlx::query_scalar!(
        r#"select true as "live!" from organizations
           where tenant_id = $1 and id = $2 and deleted_at is null"#,
        tenant.as_uuid(),
        organization as OrganizationId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    if live.is_none() {
        return Err(WriteError::invalid(
            "organization_id",
            "That organization does not exist or was deleted.",
        ));
    }
    Ok(())
}

/// Turns the email uniqueness violation into a `Duplicate` naming the live contact that has the
/// address, if the caller may see it (looked up in a fresh transaction: the failed one is
/// aborted). Any other error passes through.
async fn email_taken(
    pool: &AppPool,
    context: TenantContext,
    err: DbError,
    email: Option<String>,
) -> WriteError<Contact> {
    let is_email_clash = err.unique_violation() == Some("contacts_email_key");
    let (true, Some(email)) = (is_email_clash, email) else {
        return WriteError::Db(err);
    };
    let existing = async {
        let mut tx = pool.begin(context).await?;
        let id = sqlx::query_scalar!(
            "select id from contacts
             where tenant_id = $1 and email_key = lower($2) and deleted_at is null",
            context.tenant_id.as_uuid(),
            email,
        )
        .fetch_optional(tx.conn())
        .await?;
        Ok::<_, DbError>(id)
    };
    WriteError::Duplicate {
        field: "email",
        existing: existing.await.ok().flatten(),
    }
}

async fn audit_reassignment(
    tx: &mut TenantTx,
    id: ContactId,
    from: UserId,
    to: UserId,
) -> Result<(), DbError> {
    audit::record(
        tx,
        "contact.reassigned",
        "contact",
        id.as_uuid(),
        Some(serde_json::json!({ "assigned_to": from })),
        Some(serde_json::json!({ "assigned_to": to })),
    )
    .await
}
