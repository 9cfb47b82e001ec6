//! Organizations (F6): the companies a tenant sells to. Every member reads and edits them;
//! managers and admins delete and restore. A subsidiary points at its parent (F6.5), and the
//! hierarchy never loops.

use aura_platform::audit;
use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::ids::UserId;
use aura_platform::permissions::Permission;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::custom_fields::{self, Entity};
use crate::fields::{Check, FieldError, WriteError};
use crate::ids::OrganizationId;
use crate::paging::{page_size, text_position, time_position, Cursor, ListOrder, Page};

/// Head count bands (F6.1 "size"). Mirrors `aura.organization_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "aura.organization_size")]
pub enum OrganizationSize {
    #[sqlx(rename = "1-10")]
    #[serde(rename = "1-10")]
    UpTo10,
    #[sqlx(rename = "11-50")]
    #[serde(rename = "11-50")]
    UpTo50,
    #[sqlx(rename = "51-200")]
    #[serde(rename = "51-200")]
    UpTo200,
    #[sqlx(rename = "201-500")]
    #[serde(rename = "201-500")]
    UpTo500,
    #[sqlx(rename = "501-1000")]
    #[serde(rename = "501-1000")]
    UpTo1000,
    #[sqlx(rename = "1001-5000")]
    #[serde(rename = "1001-5000")]
    UpTo5000,
    #[sqlx(rename = "5001+")]
    #[serde(rename = "5001+")]
    Over5000,
}

impl OrganizationSize {
    pub const ALL: [Self; 7] = [
        Self::UpTo10,
        Self::UpTo50,
        Self::UpTo200,
        Self::UpTo500,
        Self::UpTo1000,
        Self::UpTo5000,
        Self::Over5000,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpTo10 => "1-10",
            Self::UpTo50 => "11-50",
            Self::UpTo200 => "51-200",
            Self::UpTo500 => "201-500",
            Self::UpTo1000 => "501-1000",
            Self::UpTo5000 => "1001-5000",
            Self::Over5000 => "5001+",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|size| size.as_str() == value.trim())
    }
}

impl std::str::FromStr for OrganizationSize {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        Self::parse(value).ok_or(())
    }
}

/// What a user submits to create or edit an organization. Empty optional text means none.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct OrganizationInput {
    #[serde(default)]
    pub name: String,
    pub industry: Option<String>,
    /// One of `1-10`, `11-50`, `51-200`, `201-500`, `501-1000`, `1001-5000`, `5001+`.
    pub size_band: Option<String>,
    pub location: Option<String>,
    /// `acme.example` is read as `https://acme.example/`.
    pub website: Option<String>,
    /// The parent company, for a subsidiary.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub parent_id: Option<OrganizationId>,
    /// Values of the workspace's custom organization fields, by key (F6.6). An edit changes only
    /// the keys it gives (null or "" clears one).
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

pub(crate) struct ValidInput {
    pub(crate) name: String,
    pub(crate) industry: Option<String>,
    pub(crate) size_band: Option<OrganizationSize>,
    pub(crate) location: Option<String>,
    pub(crate) website: Option<String>,
    pub(crate) parent_id: Option<OrganizationId>,
    pub(crate) custom_fields: serde_json::Value,
    /// The keys of the live custom fields, whose values the input replaces.
    pub(crate) custom_keys: Vec<String>,
}

impl OrganizationInput {
    /// Checks the input; the custom fields against the workspace's definitions, read in `tx`.
    async fn validate(&self, tx: &mut TenantTx) -> Result<ValidInput, WriteError<Organization>> {
        let definitions = custom_fields::definitions(tx, Entity::Organization).await?;
        self.check(&definitions)
    }

    /// Checks the input against the custom field `definitions` (an import checks each of its
    /// rows so, with the definitions read once).
    pub(crate) fn check(
        &self,
        definitions: &[custom_fields::Definition],
    ) -> Result<ValidInput, WriteError<Organization>> {
        let mut check = Check::new();
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let name = check.required("name", "Name", &self.name, 200);
        let industry = check.optional("industry", "Industry", &text(&self.industry), 100);
        let size_band = match self.size_band.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(value) => {
                let size = OrganizationSize::parse(value);
                if size.is_none() {
                    check.refuse("size_band", "Choose one of the listed sizes.");
                }
                size
            }
        };
        let location = check.optional("location", "Location", &text(&self.location), 200);
        let website = check.optional_url("website", "Website", &text(&self.website));
        let custom = custom_fields::validate(definitions, self.custom_fields.as_ref(), &mut check);
        check.finish()?;
        Ok(ValidInput {
            name,
            industry,
            size_band,
            location,
            website,
            parent_id: self.parent_id,
            custom_fields: serde_json::Value::Object(custom),
            custom_keys: custom_fields::keys(self.custom_fields.as_ref()),
        })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Organization {
    #[schema(value_type = uuid::Uuid)]
    pub id: OrganizationId,
    pub name: String,
    pub industry: Option<String>,
    pub size_band: Option<OrganizationSize>,
    pub location: Option<String>,
    pub website: Option<String>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub parent_id: Option<OrganizationId>,
    pub parent_name: Option<String>,
    /// Values of custom fields, by key.
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Value,
    /// Set while the organization is deleted; it can be restored.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Send it back with an edit: a save over a newer version is refused (409).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
}

/// An organization as a list shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganizationRow {
    #[schema(value_type = uuid::Uuid)]
    pub id: OrganizationId,
    pub name: String,
    pub industry: Option<String>,
    pub size_band: Option<OrganizationSize>,
    pub location: Option<String>,
    pub deleted_at: Option<DateTime<Utc>>,
}

pub type OrganizationPage = Page<OrganizationRow, OrganizationId>;

/// A row as a list reads it, with the keys a page's cursor is made of.
struct Listed {
    id: OrganizationId,
    name: String,
    industry: Option<String>,
    size_band: Option<OrganizationSize>,
    location: Option<String>,
    deleted_at: Option<DateTime<Utc>>,
    name_key: String,
    /// What a newest-first list sorts by: the deletion, or the last change.
    sorted_at: DateTime<Utc>,
}

impl Listed {
    fn row(self) -> OrganizationRow {
        OrganizationRow {
            id: self.id,
            name: self.name,
            industry: self.industry,
            size_band: self.size_band,
            location: self.location,
            deleted_at: self.deleted_at,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct OrganizationFilter {
    /// Names starting with this (any case).
    pub name_prefix: Option<String>,
    /// Only this size band.
    pub size: Option<OrganizationSize>,
    pub order: ListOrder,
    /// The deleted ones (to restore them), most recently deleted first.
    pub deleted: bool,
    pub after: Option<Cursor<OrganizationId>>,
    pub limit: Option<i64>,
}

/// The problems of `input` as an organization, saving nothing: for a form that found one of its own
/// (a parent name that matches no organization) and shows every problem at once.
pub async fn problems(
    pool: &AppPool,
    context: TenantContext,
    input: &OrganizationInput,
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
    input: &OrganizationInput,
) -> Result<OrganizationId, WriteError<Organization>> {
    let mut tx = pool.begin(context).await?;
    let input = input.validate(&mut tx).await?;
    if let Some(parent) = input.parent_id {
        check_parent(&mut tx, None, parent).await?;
    }
    let id = sqlx::query_scalar!(
        r#"insert into organizations (tenant_id, name, industry, size_band, location, website,
                                      parent_id, custom_fields, created_by, updated_by)
           values ($1, $2, $3, $4, $5, $6, $7, $9, $8, $8)
           returning id as "id: OrganizationId""#,
        context.tenant_id.as_uuid(),
        input.name,
        input.industry,
        input.size_band as Option<OrganizationSize>,
        input.location,
        input.website,
        input.parent_id as Option<OrganizationId>,
        context.user_id as UserId,
        input.custom_fields,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(name_taken)?;
    tx.commit().await?;
    Ok(id)
}

/// The organization, deleted or not; `None` if there is none such in the tenant.
pub async fn get(
    pool: &AppPool,
    context: TenantContext,
    id: OrganizationId,
) -> Result<Option<Organization>, DbError> {
    let mut tx = pool.begin(context).await?;
    fetch(&mut tx, id).await
}

async fn fetch(tx: &mut TenantTx, id: OrganizationId) -> Result<Option<Organization>, DbError> {
    let tenant = tx.context().tenant_id;
    let organization = sqlx::query_as!(
        Organization,
        r#"select o.id as "id: OrganizationId", o.name, o.industry,
                  o.size_band as "size_band: OrganizationSize", o.location, o.website,
                  o.parent_id as "parent_id: OrganizationId", p.name as "parent_name?",
                  o.custom_fields, o.deleted_at, o.version, o.created_at, o.updated_at,
                  cu.display_name as "created_by?", uu.display_name as "updated_by?"
           from organizations o
           left join organizations p on p.tenant_id = o.tenant_id and p.id = o.parent_id
           left join users cu on cu.id = o.created_by
           left join users uu on uu.id = o.updated_by
           where o.tenant_id = $1 and o.id = $2"#,
        tenant.as_uuid(),
        id as OrganizationId,
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(organization)
}

/// Saves `input` over version `version` of the organization.
pub async fn update(
    pool: &AppPool,
    context: TenantContext,
    id: OrganizationId,
    version: i64,
    input: &OrganizationInput,
) -> Result<Organization, WriteError<Organization>> {
    let mut tx = pool.begin(context).await?;
    let input = input.validate(&mut tx).await?;
    if let Some(parent) = input.parent_id {
        check_parent(&mut tx, Some(id), parent).await?;
    }
    let saved = sqlx::query_scalar!(
        "update organizations
         set name = $4, industry = $5, size_band = $6, location = $7, website = $8,
             parent_id = $9, custom_fields = (custom_fields - $11::text[]) || $12,
             version = version + 1, updated_at = now(), updated_by = $10
         where tenant_id = $1 and id = $2 and version = $3 and deleted_at is null
         returning id",
        context.tenant_id.as_uuid(),
        id as OrganizationId,
        version,
        input.name,
        input.industry,
        input.size_band as Option<OrganizationSize>,
        input.location,
        input.website,
        input.parent_id as Option<OrganizationId>,
        context.user_id as UserId,
        &input.custom_keys,
        input.custom_fields,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(name_taken)?;
    if saved.is_none() {
        return Err(match fetch(&mut tx, id).await? {
            Some(current) if current.deleted_at.is_none() => WriteError::Stale(Box::new(current)),
            _ => WriteError::NotFound,
        });
    }
    // Read in the same transaction: the caller gets this save, not a later one.
    let saved = fetch(&mut tx, id).await?.ok_or(WriteError::NotFound)?;
    tx.commit().await?;
    Ok(saved)
}

/// Soft-deletes the organization (F6.4), or restores it; managers and admins only, audited.
/// Its contacts keep pointing at it, and show it as deleted.
pub async fn set_deleted(
    pool: &AppPool,
    context: TenantContext,
    id: OrganizationId,
    deleted: bool,
) -> Result<(), WriteError<Organization>> {
    if !context.role.may(Permission::DeleteOrganizations) {
        return Err(WriteError::NotAllowed);
    }
    let mut tx = pool.begin(context).await?;
    let changed = sqlx::query_scalar!(
        "update organizations
         set deleted_at = (select now() where $3), version = version + 1,
             updated_at = now(), updated_by = $4
         where tenant_id = $1 and id = $2 and (deleted_at is null) = $3
         returning id",
        context.tenant_id.as_uuid(),
        id as OrganizationId,
        deleted,
        context.user_id as UserId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(name_taken)?;
    if changed.is_none() {
        // Already in the asked-for state, or not there at all.
        return match fetch(&mut tx, id).await? {
            Some(_) => Ok(()),
            None => Err(WriteError::NotFound),
        };
    }
    let action = if deleted {
        "organization.deleted"
    } else {
        "organization.restored"
    };
    audit::record(&mut tx, action, "organization", id.as_uuid(), None, None).await?;
    tx.commit().await?;
    Ok(())
}

/// A page of organizations by name, or of deleted ones by deletion time.
///
/// Plans (as `aura_app` with tenant context, 20k organizations in the tenant): live ones are an
/// index scan of `organizations_name_key` with `tenant_id`, the cursor and the name range as
/// index conditions, stopping after a page; deleted ones the same on `organizations_deleted_idx`.
pub async fn list(
    pool: &AppPool,
    context: TenantContext,
    filter: &OrganizationFilter,
) -> Result<OrganizationPage, DbError> {
    let size = page_size(filter.limit);
    let mut tx = pool.begin(context).await?;
    let tenant = context.tenant_id.as_uuid();
    let after = filter.after.as_ref();
    let by_name = !filter.deleted && filter.order == ListOrder::Name;
    let rows = if filter.deleted {
        let (at, id) = time_position(after);
        sqlx::query_as!(
            Listed,
            r#"select id as "id: OrganizationId", name, industry,
                      size_band as "size_band: OrganizationSize", location, deleted_at,
                      name_key, deleted_at as "sorted_at!"
               from organizations
               where tenant_id = $1 and deleted_at is not null and (deleted_at, id) < ($2, $3)
               order by deleted_at desc, id desc
               limit $4"#,
            tenant,
            at,
            id as OrganizationId,
            size + 1,
        )
        .fetch_all(tx.conn())
        .await?
    } else if filter.order == ListOrder::RecentlyChanged {
        // `organizations_recent_idx` in order; the name and size filters are checked on the rows
        // it yields (a workspace's organizations number in the thousands at most). Plan as
        // aura_app at 2,000 organizations: Index Scan on organizations_recent_idx, 0.07 ms.
        let (from, to) = prefix_range(filter.name_prefix.as_deref());
        let (at, id) = time_position(after);
        sqlx::query_as!(
            Listed,
            r#"select id as "id: OrganizationId", name, industry,
                      size_band as "size_band: OrganizationSize", location, deleted_at,
                      name_key, updated_at as sorted_at
               from organizations
               where tenant_id = $1 and deleted_at is null and (updated_at, id) < ($2, $3)
                 and name_key >= $4 and name_key < $5
                 and ($6::aura.organization_size is null or size_band = $6)
               order by updated_at desc, id desc
               limit $7"#,
            tenant,
            at,
            id as OrganizationId,
            from,
            to,
            filter.size as Option<OrganizationSize>,
            size + 1,
        )
        .fetch_all(tx.conn())
        .await?
    } else {
        // `organizations_name_key` in order, from the prefix's range; the size filter is checked
        // on the rows it yields (one band in seven: 156 rows read for a page, 0.09 ms at 2,000).
        // A live name key is unique in the tenant, so the key alone says where a page ends.
        let (from, to) = prefix_range(filter.name_prefix.as_deref());
        let (after, _) = text_position(after);
        sqlx::query_as!(
            Listed,
            r#"select id as "id: OrganizationId", name, industry,
                      size_band as "size_band: OrganizationSize", location, deleted_at,
                      name_key, updated_at as sorted_at
               from organizations
               where tenant_id = $1 and deleted_at is null
                 and name_key > $2 and name_key >= $3 and name_key < $4
                 and ($5::aura.organization_size is null or size_band = $5)
               order by name_key
               limit $6"#,
            tenant,
            after,
            from,
            to,
            filter.size as Option<OrganizationSize>,
            size + 1,
        )
        .fetch_all(tx.conn())
        .await?
    };
    let page = Page::from_rows(rows, size, |row| {
        if by_name {
            Cursor::text(row.name_key.clone(), row.id)
        } else {
            Cursor::time(row.sorted_at, row.id)
        }
    });
    Ok(Page {
        items: page.items.into_iter().map(Listed::row).collect(),
        next: page.next,
    })
}

/// The live organization named `name` (any case), for forms that pick one by name.
pub async fn find_by_name(
    pool: &AppPool,
    context: TenantContext,
    name: &str,
) -> Result<Option<OrganizationId>, DbError> {
    let mut tx = pool.begin(context).await?;
    let id = sqlx::query_scalar!(
        r#"select id as "id: OrganizationId" from organizations
           where tenant_id = $1 and name_key = lower($2) and deleted_at is null"#,
        context.tenant_id.as_uuid(),
        name.trim(),
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(id)
}

/// The organization's live subsidiaries, by name (F6.5).
pub async fn subsidiaries(
    pool: &AppPool,
    context: TenantContext,
    id: OrganizationId,
) -> Result<Vec<OrganizationRow>, DbError> {
    let mut tx = pool.begin(context).await?;
    let rows = sqlx::query_as!(
        OrganizationRow,
        r#"select id as "id: OrganizationId", name, industry,
                  size_band as "size_band: OrganizationSize", location, deleted_at
           from organizations
           where tenant_id = $1 and parent_id = $2 and deleted_at is null
           order by name_key
           limit 500"#,
        context.tenant_id.as_uuid(),
        id as OrganizationId,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows)
}

/// The range of normalized keys that start with `prefix` (lower-cased): `[prefix, successor)`,
/// where the successor is the prefix with its last character incremented. Everything, if none.
/// A range of plain comparisons rather than `LIKE`/`^@`: those are not leakproof, so under RLS
/// they would not be index conditions.
pub(crate) fn prefix_range(prefix: Option<&str>) -> (String, String) {
    let prefix = prefix.map(|p| p.trim().to_lowercase()).unwrap_or_default();
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next code point, skipping the surrogate gap; a prefix ending in the last one is
        // extended from the character before it.
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return (prefix, chars.into_iter().collect());
        }
    }
    (String::new(), char::MAX.to_string().repeat(4))
}

/// Refuses a parent that is missing, deleted, the organization itself or one of its own
/// subsidiaries (a loop). Hierarchy changes in a tenant take turns (an advisory lock), so two
/// concurrent edits cannot close a loop between them.
async fn check_parent(
    tx: &mut TenantTx,
    child: Option<OrganizationId>,
    parent: OrganizationId,
) -> Result<(), WriteError<Organization>> {
    let tenant = tx.context().tenant_id;
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('organizations.parent_id:' || $1::uuid::text, 0))",
        tenant.as_uuid(),
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    let parent_live = sqlx::query_scalar!(
        r#"select deleted_at is null as "live!" from organizations where tenant_id = $1 and id = $2"#,
        tenant.as_uuid(),
        parent as OrganizationId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    if parent_live != Some(true) {
        return Err(WriteError::invalid(
            "parent_id",
            "The parent organization does not exist or was deleted.",
        ));
    }
    let Some(child) = child else { return Ok(()) };
    let loops = sqlx::query_scalar!(
        r#"with recursive ancestors (id) as (
               select $2::uuid
               union
               select o.parent_id from organizations o join ancestors a on o.id = a.id
               where o.tenant_id = $1 and o.parent_id is not null
           )
           select exists (select 1 from ancestors where id = $3) as "loops!""#,
        tenant.as_uuid(),
        parent as OrganizationId,
        child as OrganizationId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    if loops {
        return Err(WriteError::invalid(
            "parent_id",
            "An organization cannot be its own parent, nor the parent of its parent.",
        ));
    }
    Ok(())
}

fn name_taken(err: sqlx::Error) -> WriteError<Organization> {
    WriteError::duplicate_on(err.into(), "organizations_name_key", "name")
}

#[cfg(test)]
mod tests {
    use super::prefix_range;

    #[test]
    fn a_prefix_range_holds_exactly_the_keys_with_that_prefix() {
        let (from, to) = prefix_range(Some("Ab"));
        assert_eq!((from.as_str(), to.as_str()), ("ab", "ac"));
        for key in ["ab", "abc", "ab zzz", "ab\u{10FFFF}"] {
            assert!(key >= from.as_str() && key < to.as_str(), "{key}");
        }
        for key in ["aa", "ac", "b"] {
            assert!(!(key >= from.as_str() && key < to.as_str()), "{key}");
        }
    }

    #[test]
    fn the_surrogate_gap_and_the_last_code_point_are_stepped_over() {
        assert_eq!(prefix_range(Some("a\u{D7FF}")).1, "a\u{E000}");
        assert_eq!(prefix_range(Some("a\u{10FFFF}")).1, "b");
        assert_eq!(prefix_range(None).0, "");
    }
}
