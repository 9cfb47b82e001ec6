//! The product catalog (F12): everyone reads it, admins change it. A product's pricing
//! blueprint (list price, unit cost, the discount a rep may give, the margin target) changes
//! only with the one-time code (step-up, NFR-S8) and every change is kept in
//! `product_price_history` with who, when and why (F12.5).
//!
//! Money is `Decimal` (never float): prices have at most 4 decimals and are at most
//! 10,000,000; percentages have at most 2 decimals. Rounding happens only at a line item's
//! extension, in the database (0026).

use aura_platform::audit;
use aura_platform::auth::{self, LoginError};
use aura_platform::cursor::Cursor;
use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::ids::UserId;
use aura_platform::permissions::Permission;
use aura_platform::step_up::{self, IssuedCode, Proof, Purpose, StepUpError};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::custom_fields::{self, Entity};
use crate::fields::{Check, WriteError};
use crate::ids::ProductId;
use crate::organizations::prefix_range;
use crate::paging::{page_size, text_position, Page};

/// The largest unit price or cost, in the workspace's currency.
pub const MAX_PRICE: i64 = 10_000_000;
/// Decimals a price may have (sub-cent unit prices exist).
pub const PRICE_DECIMALS: u32 = 4;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Product {
    #[schema(value_type = uuid::Uuid)]
    pub id: ProductId,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    /// Inactive products cannot be added to deals; lines that have them keep them.
    pub active: bool,
    #[schema(value_type = String, example = "1250.00")]
    pub list_price: Decimal,
    #[schema(value_type = String, example = "400.00")]
    pub unit_cost: Decimal,
    /// The largest discount in percent a sales rep may give.
    #[schema(value_type = String, example = "10.00")]
    pub max_discount_percent: Decimal,
    /// Lines with a margin under this are flagged; none: no target.
    #[schema(value_type = Option<String>, example = "30.00")]
    pub margin_target_percent: Option<Decimal>,
    /// Values of the workspace's custom product fields, by key (F12.6).
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Value,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// The catalog fields of a product, as typed (kept as typed to show again with the errors).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ProductInput {
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub category: String,
    #[serde(default = "yes")]
    pub active: bool,
    /// Values of the workspace's custom product fields, by key (F12.6). An edit changes only
    /// the keys it gives (null or "" clears one).
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

fn yes() -> bool {
    true
}

/// A pricing blueprint as typed: decimal numbers as text, so "12.5.0" comes back with its error.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct BlueprintInput {
    pub list_price: String,
    #[serde(default)]
    pub unit_cost: String,
    #[serde(default)]
    pub max_discount_percent: String,
    #[serde(default)]
    pub margin_target_percent: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Blueprint {
    #[schema(value_type = String)]
    pub list_price: Decimal,
    #[schema(value_type = String)]
    pub unit_cost: Decimal,
    #[schema(value_type = String)]
    pub max_discount_percent: Decimal,
    #[schema(value_type = Option<String>)]
    pub margin_target_percent: Option<Decimal>,
}

impl Blueprint {
    fn json(&self) -> serde_json::Value {
        json!({
            "list_price": self.list_price,
            "unit_cost": self.unit_cost,
            "max_discount_percent": self.max_discount_percent,
            "margin_target_percent": self.margin_target_percent,
        })
    }
}

impl Product {
    pub fn blueprint(&self) -> Blueprint {
        Blueprint {
            list_price: self.list_price,
            unit_cost: self.unit_cost,
            max_discount_percent: self.max_discount_percent,
            margin_target_percent: self.margin_target_percent,
        }
    }
}

/// One blueprint change (F12.5).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceChange {
    pub id: uuid::Uuid,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub reason: String,
    pub changed_at: DateTime<Utc>,
    #[schema(value_type = uuid::Uuid)]
    pub changed_by: UserId,
    pub changed_by_name: Option<String>,
}

/// A stored price as people read it: 4 stored decimals shown as at least 2 and no trailing
/// zeros beyond (1250.0000 -> 1250.00, 0.0125 stays).
pub fn price(value: Decimal) -> Decimal {
    let mut value = value.normalize();
    if value.scale() < 2 {
        value.rescale(2);
    }
    value
}

/// A money amount typed by a person: a plain decimal number from 0 to `MAX_PRICE` with at most
/// `PRICE_DECIMALS` decimals. Empty reads as `empty`.
pub fn parse_price(
    check: &mut Check,
    field: &str,
    label: &str,
    value: &str,
    empty: Option<Decimal>,
) -> Option<Decimal> {
    let value = value.trim();
    if value.is_empty() {
        if empty.is_none() {
            check.refuse(field, format!("{label} is required."));
        }
        return empty;
    }
    let parsed = value
        .parse::<Decimal>()
        .ok()
        .filter(|_| value.chars().all(|c| c.is_ascii_digit() || c == '.'));
    match parsed {
        Some(price) if price.normalize().scale() > PRICE_DECIMALS => {
            check.refuse(
                field,
                format!("{label} “{value}” has too many decimals: at most {PRICE_DECIMALS}."),
            );
            None
        }
        Some(price) if price > Decimal::from(MAX_PRICE) => {
            check.refuse(
                field,
                format!("{label} “{value}” is too large: at most 10,000,000."),
            );
            None
        }
        Some(price) => Some(price),
        None => {
            check.refuse(
                field,
                format!("{label} “{value}” is not an amount: use digits and a decimal point, like 1250.00."),
            );
            None
        }
    }
}

/// A percentage from `min` to 100 with at most two decimals; empty reads as `empty`.
fn parse_percent(
    check: &mut Check,
    field: &str,
    label: &str,
    value: &str,
    min: i64,
    empty: Option<Decimal>,
) -> Option<Decimal> {
    let value = value.trim();
    if value.is_empty() {
        return empty;
    }
    match value.trim_end_matches('%').trim().parse::<Decimal>() {
        Ok(p)
            if p >= Decimal::from(min) && p <= Decimal::from(100) && p.normalize().scale() <= 2 =>
        {
            Some(p)
        }
        _ => {
            check.refuse(
                field,
                format!("{label} “{value}” is not a percentage from {min} to 100 with at most two decimals."),
            );
            None
        }
    }
}

impl BlueprintInput {
    pub fn of(blueprint: &Blueprint) -> Self {
        Self {
            list_price: blueprint.list_price.normalize().to_string(),
            unit_cost: blueprint.unit_cost.normalize().to_string(),
            max_discount_percent: blueprint.max_discount_percent.normalize().to_string(),
            margin_target_percent: blueprint
                .margin_target_percent
                .map(|p| p.normalize().to_string())
                .unwrap_or_default(),
        }
    }

    fn check(&self, check: &mut Check) -> Option<Blueprint> {
        let list_price = parse_price(
            check,
            "list_price",
            "The list price",
            &self.list_price,
            None,
        );
        let unit_cost = parse_price(
            check,
            "unit_cost",
            "The unit cost",
            &self.unit_cost,
            Some(Decimal::ZERO),
        );
        let max_discount = parse_percent(
            check,
            "max_discount_percent",
            "The largest discount for reps",
            &self.max_discount_percent,
            0,
            Some(Decimal::ZERO),
        );
        let margin_ok = self.margin_target_percent.trim().is_empty();
        let margin = parse_percent(
            check,
            "margin_target_percent",
            "The margin target",
            &self.margin_target_percent,
            -100,
            None,
        );
        Some(Blueprint {
            list_price: list_price?,
            unit_cost: unit_cost?,
            max_discount_percent: max_discount?,
            margin_target_percent: if margin_ok { None } else { Some(margin?) },
        })
    }
}

struct ValidProduct {
    sku: String,
    name: String,
    description: Option<String>,
    category: Option<String>,
    active: bool,
    /// The custom values to store, and the keys they replace (an edit keeps the others).
    custom_fields: serde_json::Value,
    custom_keys: Vec<String>,
}

/// Checks the catalog fields, custom fields against the workspace's product definitions.
async fn check_product(
    tx: &mut TenantTx,
    input: &ProductInput,
    check: &mut Check,
) -> Result<ValidProduct, DbError> {
    let definitions = custom_fields::definitions(tx, Entity::Product).await?;
    let custom = custom_fields::validate(&definitions, input.custom_fields.as_ref(), check);
    let sku = check.required("sku", "The SKU", &input.sku, 64);
    if sku.chars().any(char::is_whitespace) {
        check.refuse("sku", format!("The SKU “{sku}” cannot contain spaces."));
    }
    Ok(ValidProduct {
        sku,
        name: check.required("name", "The name", &input.name, 200),
        description: check.optional("description", "The description", &input.description, 5000),
        category: check.optional("category", "The category", &input.category, 100),
        active: input.active,
        custom_fields: serde_json::Value::Object(custom),
        custom_keys: custom_fields::keys(input.custom_fields.as_ref()),
    })
}

fn duplicate_sku(err: DbError) -> WriteError<Product> {
    WriteError::duplicate_on(err, "products_sku_key", "sku")
}

/// What the catalog list shows.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Name or SKU prefix, any case.
    pub query: Option<String>,
    pub category: Option<String>,
    pub active: Option<bool>,
}

/// The live catalog by name, a page at a time (keyset on the stored name key and id).
pub async fn list(
    pool: &AppPool,
    context: TenantContext,
    filter: &ProductFilter,
    after: Option<&Cursor<ProductId>>,
    limit: Option<i64>,
) -> Result<Page<Product, ProductId>, DbError> {
    let size = page_size(limit);
    let (from, to) = prefix_range(filter.query.as_deref());
    let (after_key, after_id) = text_position(after);
    let category = filter
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let mut tx = pool.begin(context).await?;
    // Name or SKU in the prefix's range, both "C" keys (leakproof under RLS, 0026).
    let rows = sqlx::query!(
        r#"select id as "id: ProductId", sku, name, description, category, active,
                  unit_price, unit_cost, max_discount_percent, margin_target_percent,
                  custom_fields, version, updated_at, name_key
           from products
           where tenant_id = $1 and archived_at is null
             and (name_key, id) > ($2, $3)
             and ((name_key >= $4 and name_key < $5) or (sku_key >= $4 and sku_key < $5))
             and ($6::text is null or category = $6)
             and ($7::boolean is null or active = $7)
           order by name_key, id
           limit $8"#,
        context.tenant_id.as_uuid(),
        after_key,
        after_id as ProductId,
        from,
        to,
        category,
        filter.active,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    let rows: Vec<(String, Product)> = rows
        .into_iter()
        .map(|r| {
            (
                r.name_key,
                Product {
                    id: r.id,
                    sku: r.sku,
                    name: r.name,
                    description: r.description,
                    category: r.category,
                    active: r.active,
                    list_price: price(r.unit_price),
                    unit_cost: price(r.unit_cost),
                    max_discount_percent: r.max_discount_percent,
                    margin_target_percent: r.margin_target_percent,
                    custom_fields: r.custom_fields,
                    version: r.version,
                    updated_at: r.updated_at,
                },
            )
        })
        .collect();
    let page = Page::from_rows(rows, size, |(key, p)| Cursor::text(key.clone(), p.id));
    Ok(Page {
        items: page.items.into_iter().map(|(_, p)| p).collect(),
        next: page.next,
    })
}

/// The categories in use, for the filter.
pub async fn categories(pool: &AppPool, context: TenantContext) -> Result<Vec<String>, DbError> {
    let mut tx = pool.begin(context).await?;
    let rows = sqlx::query_scalar!(
        r#"select distinct category as "category!" from products
           where tenant_id = $1 and archived_at is null and category is not null
           order by 1 limit 200"#,
        context.tenant_id.as_uuid(),
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows)
}

pub(crate) async fn fetch(
    tx: &mut TenantTx,
    id: ProductId,
    lock: bool,
) -> Result<Option<Product>, DbError> {
    let tenant = tx.context().tenant_id;
    let row = if lock {
        sqlx::query!(
            r#"select id as "id: ProductId", sku, name, description, category, active,
                      unit_price, unit_cost, max_discount_percent, margin_target_percent,
                      custom_fields, version, updated_at
               from products where tenant_id = $1 and id = $2 and archived_at is null
               for update"#,
            tenant.as_uuid(),
            id as ProductId,
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|r| Product {
            id: r.id,
            sku: r.sku,
            name: r.name,
            description: r.description,
            category: r.category,
            active: r.active,
            list_price: price(r.unit_price),
            unit_cost: price(r.unit_cost),
            max_discount_percent: r.max_discount_percent,
            margin_target_percent: r.margin_target_percent,
            custom_fields: r.custom_fields,
            version: r.version,
            updated_at: r.updated_at,
        })
    } else {
        sqlx::query!(
            r#"select id as "id: ProductId", sku, name, description, category, active,
                      unit_price, unit_cost, max_discount_percent, margin_target_percent,
                      custom_fields, version, updated_at
               from products where tenant_id = $1 and id = $2 and archived_at is null"#,
            tenant.as_uuid(),
            id as ProductId,
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|r| Product {
            id: r.id,
            sku: r.sku,
            name: r.name,
            description: r.description,
            category: r.category,
            active: r.active,
            list_price: price(r.unit_price),
            unit_cost: price(r.unit_cost),
            max_discount_percent: r.max_discount_percent,
            margin_target_percent: r.margin_target_percent,
            custom_fields: r.custom_fields,
            version: r.version,
            updated_at: r.updated_at,
        })
    };
    Ok(row)
}

pub async fn get(
    pool: &AppPool,
    context: TenantContext,
    id: ProductId,
) -> Result<Option<Product>, DbError> {
    let mut tx = pool.begin(context).await?;
    fetch(&mut tx, id, false).await
}

/// Creates a product with its first blueprint (admins); the blueprint's first history row says
/// so. No code is asked: nothing was priced before.
pub async fn create(
    pool: &AppPool,
    context: TenantContext,
    input: &ProductInput,
    blueprint: &BlueprintInput,
) -> Result<Product, WriteError<Product>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    let mut tx = pool.begin(context).await?;
    let mut check = Check::new();
    let valid = check_product(&mut tx, input, &mut check).await?;
    let prices = blueprint.check(&mut check);
    check.finish()?;
    let prices = prices.expect("checked above");
    let id = sqlx::query_scalar!(
        r#"insert into products (tenant_id, sku, name, description, category, active, unit_price,
                                 unit_cost, max_discount_percent, margin_target_percent,
                                 custom_fields, created_by, updated_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $11, $11)
           returning id as "id: ProductId""#,
        context.tenant_id.as_uuid(),
        valid.sku,
        valid.name,
        valid.description,
        valid.category,
        valid.active,
        prices.list_price,
        prices.unit_cost,
        prices.max_discount_percent,
        prices.margin_target_percent,
        context.user_id as UserId,
        valid.custom_fields,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(|err| duplicate_sku(err.into()))?;
    record_price_change(&mut tx, id, json!({}), prices.json(), "Created").await?;
    let product = fetch(&mut tx, id, false)
        .await?
        .ok_or(WriteError::NotFound)?;
    audit::record(
        &mut tx,
        "product.created",
        "product",
        id.as_uuid(),
        None,
        Some(
            json!({ "sku": product.sku, "name": product.name, "blueprint": prices.json(),
                     "custom_fields": product.custom_fields }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(product)
}

/// Edits the catalog fields (admins); `version` is the one the caller read.
pub async fn update(
    pool: &AppPool,
    context: TenantContext,
    id: ProductId,
    version: i64,
    input: &ProductInput,
) -> Result<Product, WriteError<Product>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    let mut tx = pool.begin(context).await?;
    let mut check = Check::new();
    let valid = check_product(&mut tx, input, &mut check).await?;
    check.finish()?;
    let current = fetch(&mut tx, id, true)
        .await?
        .ok_or(WriteError::NotFound)?;
    if current.version != version {
        return Err(WriteError::Stale(Box::new(current)));
    }
    sqlx::query!(
        "update products
         set sku = $3, name = $4, description = $5, category = $6, active = $7,
             custom_fields = (custom_fields - $9::text[]) || $10,
             version = version + 1, updated_at = now(), updated_by = $8
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as ProductId,
        valid.sku,
        valid.name,
        valid.description,
        valid.category,
        valid.active,
        context.user_id as UserId,
        &valid.custom_keys,
        valid.custom_fields,
    )
    .execute(tx.conn())
    .await
    .map_err(|err| duplicate_sku(err.into()))?;
    let product = fetch(&mut tx, id, false)
        .await?
        .ok_or(WriteError::NotFound)?;
    audit::record(
        &mut tx,
        "product.updated",
        "product",
        id.as_uuid(),
        Some(
            json!({ "sku": current.sku, "name": current.name, "description": current.description,
                     "category": current.category, "active": current.active,
                     "custom_fields": current.custom_fields }),
        ),
        Some(
            json!({ "sku": product.sku, "name": product.name, "description": product.description,
                     "category": product.category, "active": product.active,
                     "custom_fields": product.custom_fields }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(product)
}

/// Emails the admin in context a one-time code to change the product's blueprint (NFR-S8).
pub async fn request_blueprint_code(
    pool: &AppPool,
    context: TenantContext,
    id: ProductId,
) -> Result<IssuedCode, WriteError<Product>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    let mut tx = pool.begin(context).await?;
    fetch(&mut tx, id, true)
        .await?
        .ok_or(WriteError::NotFound)?;
    let code = step_up::issue(&mut tx, &Purpose::ChangeBlueprint(id.as_uuid())).await?;
    tx.commit().await?;
    Ok(code)
}

/// Changes the blueprint once the admin proves it is them (`proof`: the emailed one-time code,
/// or their password where no mail server carries codes, as for deleting a process), and
/// writes the history row with `reason` in the same transaction. Lines already on deals keep
/// the prices they were added at.
pub async fn change_blueprint(
    pool: &AppPool,
    context: TenantContext,
    id: ProductId,
    version: i64,
    input: &BlueprintInput,
    reason: &str,
    proof: Proof<'_>,
) -> Result<Product, WriteError<Product>> {
    WriteError::unless_may(&context, Permission::ChangeCatalog)?;
    // A product the caller cannot see is not found, whatever came with the request.
    get(pool, context, id).await?.ok_or(WriteError::NotFound)?;
    let mut check = Check::new();
    let prices = input.check(&mut check);
    let reason = check.required("reason", "Why the price changes", reason, 500);
    match proof {
        Proof::Code(code) if code.trim().is_empty() => check.refuse(
            "code",
            "The code from the email is required: ask for one first.",
        ),
        Proof::Password { password: "", .. } => {
            check.refuse("password", "Your password is required to change prices.")
        }
        _ => {}
    }
    check.finish()?;
    let prices = prices.expect("checked above");
    if let Proof::Password { password, source } = proof {
        // Before the change's transaction: hashing is slow, and no row lock should wait on it.
        auth::confirm_password(pool, context.user_id, password, source)
            .await
            .map_err(|err| match err {
                LoginError::Rejected => WriteError::invalid(
                    "password",
                    "That is not your password, or your account is locked for a while.",
                ),
                LoginError::Db(err) => err.into(),
            })?;
    }
    let mut tx = pool.begin(context).await?;
    let current = fetch(&mut tx, id, true)
        .await?
        .ok_or(WriteError::NotFound)?;
    let consumed = match proof {
        Proof::Code(code) => {
            step_up::consume(&mut tx, &Purpose::ChangeBlueprint(id.as_uuid()), code).await
        }
        Proof::Password { .. } => Ok(()),
    };
    if let Err(err) = consumed {
        tx.commit().await?; // the counted attempt
        return Err(match err {
            StepUpError::Wrong => WriteError::invalid(
                "code",
                "That code is not right. Check the latest email and try again.",
            ),
            StepUpError::NoCode => WriteError::invalid(
                "code",
                "There is no usable code: it expired (codes last ten minutes), was used, or was \
                 guessed wrong five times. Ask for a new one.",
            ),
            StepUpError::Db(err) => err.into(),
        });
    }
    if current.version != version {
        tx.commit().await?; // the code is spent either way: a stale form asks for a new one
        return Err(WriteError::Stale(Box::new(current)));
    }
    let before = current.blueprint();
    sqlx::query!(
        "update products
         set unit_price = $3, unit_cost = $4, max_discount_percent = $5,
             margin_target_percent = $6, version = version + 1, updated_at = now(),
             updated_by = $7
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        id as ProductId,
        prices.list_price,
        prices.unit_cost,
        prices.max_discount_percent,
        prices.margin_target_percent,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    record_price_change(&mut tx, id, before.json(), prices.json(), &reason).await?;
    audit::record(
        &mut tx,
        "product.blueprint_changed",
        "product",
        id.as_uuid(),
        Some(before.json()),
        Some(json!({ "blueprint": prices.json(), "reason": reason })),
    )
    .await?;
    let product = fetch(&mut tx, id, false)
        .await?
        .ok_or(WriteError::NotFound)?;
    tx.commit().await?;
    Ok(product)
}

async fn record_price_change(
    tx: &mut TenantTx,
    id: ProductId,
    before: serde_json::Value,
    after: serde_json::Value,
    reason: &str,
) -> Result<(), DbError> {
    let context = *tx.context();
    sqlx::query!(
        "insert into product_price_history (tenant_id, product_id, before, after, reason, changed_by)
         values ($1, $2, $3, $4, $5, $6)",
        context.tenant_id.as_uuid(),
        id as ProductId,
        before,
        after,
        reason,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The product's blueprint changes, newest first (at most 100: a product is repriced rarely).
pub async fn price_history(
    pool: &AppPool,
    context: TenantContext,
    id: ProductId,
) -> Result<Option<Vec<PriceChange>>, DbError> {
    let mut tx = pool.begin(context).await?;
    if fetch(&mut tx, id, false).await?.is_none() {
        return Ok(None);
    }
    let rows = sqlx::query_as!(
        PriceChange,
        r#"select h.id, h.before, h.after, h.reason, h.changed_at,
                  h.changed_by as "changed_by: UserId", u.display_name as "changed_by_name?"
           from product_price_history h
           left join users u on u.id = h.changed_by
           where h.tenant_id = $1 and h.product_id = $2
           order by h.changed_at desc, h.id desc
           limit 100"#,
        context.tenant_id.as_uuid(),
        id as ProductId,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(Some(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_plain_decimals_within_bounds() {
        let mut check = Check::new();
        assert_eq!(
            parse_price(&mut check, "p", "Price", "0.0125", None),
            Some(Decimal::new(125, 4))
        );
        assert_eq!(
            parse_price(&mut check, "p", "Price", "10000000", None),
            Some(Decimal::from(MAX_PRICE))
        );
        for bad in ["0.00001", "10000000.01", "-1", "1e3", "abc", "1,5"] {
            assert_eq!(
                parse_price(&mut check, "p", "Price", bad, None),
                None,
                "{bad}"
            );
        }
        let Err(WriteError::<()>::Invalid(errors)) = check.finish() else {
            panic!("expected errors")
        };
        assert_eq!(errors.len(), 6);
        assert!(
            errors[0].message.contains("at most 4"),
            "{}",
            errors[0].message
        );
    }
}
