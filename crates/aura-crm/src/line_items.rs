//! Line items on deals (F13): a product, a whole quantity, and a unit price copied from the
//! product's blueprint when the line is added. The deal's amount is the sum of its live lines:
//! the database keeps it so in the line change's transaction (0026), so nothing here adds up
//! money. Rounding (half-even, the currency's minor unit) happens at each line's extension, in
//! SQL, and nowhere else.
//!
//! Who may do what: whoever may change the deal changes its lines (a rep only on their own
//! deals, by RLS). A price under the list price is a discount: a rep gives at most the
//! product's `max_discount_percent`; members who oversee every deal (`Permission::AllDeals`:
//! managers and admins) up to 100 %. Every change is audited on the deal with before/after,
//! and is in the deal's own line history (`deal_line_history`, written by a trigger on the
//! lines, 0029), which the deal page shows to whoever sees the deal.

use aura_platform::audit;
use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::ids::UserId;
use aura_platform::permissions::Permission;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::fields::{Check, WriteError};
use crate::ids::{DealId, LineItemId, ProductId};
use crate::paging::{page_size, time_position, Cursor, Page};
use crate::products::{self, parse_price};

aura_platform::id_type!(
    /// One row of a deal's line history.
    LineChangeId
);

/// The most live lines a deal carries.
pub const MAX_LINES: i64 = 500;
pub const MAX_QUANTITY: i32 = 1_000_000;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineItem {
    #[schema(value_type = uuid::Uuid)]
    pub id: LineItemId,
    #[schema(value_type = uuid::Uuid)]
    pub product_id: ProductId,
    pub sku: String,
    pub product_name: String,
    pub quantity: i32,
    #[schema(value_type = String)]
    pub list_price: Decimal,
    #[schema(value_type = String)]
    pub unit_price: Decimal,
    #[schema(value_type = String)]
    pub unit_cost: Decimal,
    pub override_reason: Option<String>,
    /// quantity x unit price, rounded half-even to the currency's minor unit.
    #[schema(value_type = String)]
    pub extended_price: Decimal,
    /// (list price - unit price) / list price, in percent, two decimals; 0 at list price.
    #[schema(value_type = String)]
    pub discount_percent: Decimal,
    /// extended price - quantity x unit cost.
    #[schema(value_type = String)]
    pub margin: Decimal,
    /// margin / extended price in percent; none for a free line.
    #[schema(value_type = Option<String>)]
    pub margin_percent: Option<Decimal>,
    /// The product's margin target, when it has one.
    #[schema(value_type = Option<String>)]
    pub margin_target_percent: Option<Decimal>,
    /// Under the product's margin target.
    pub under_margin_target: bool,
    pub version: i64,
}

/// A deal's live lines and their totals.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DealLines {
    #[schema(value_type = uuid::Uuid)]
    pub deal_id: DealId,
    pub items: Vec<LineItem>,
    /// The deal's amount as stored: the lines' sum when there are lines.
    #[schema(value_type = Option<String>)]
    pub amount: Option<Decimal>,
    #[schema(value_type = String)]
    pub total_margin: Decimal,
    pub currency: String,
    pub deal_version: i64,
}

/// A line to add, as typed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct AddLine {
    pub product_id: String,
    pub quantity: String,
    /// Empty: the list price.
    #[serde(default)]
    pub unit_price: String,
    #[serde(default)]
    pub override_reason: String,
}

/// A change to a line, as typed; `version` is the line's version the caller read.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct EditLine {
    pub version: i64,
    #[serde(default)]
    pub quantity: Option<String>,
    #[serde(default)]
    pub unit_price: Option<String>,
    #[serde(default)]
    pub override_reason: Option<String>,
}

/// What happened to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineChangeKind {
    Added,
    /// Its quantity, unit price or the price's reason changed.
    Changed,
    Removed,
}

impl LineChangeKind {
    fn parse(value: &str) -> Self {
        match value {
            "added" => Self::Added,
            "removed" => Self::Removed,
            _ => Self::Changed,
        }
    }
}

/// A line as it was before or after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LineState {
    pub quantity: i32,
    #[schema(value_type = String)]
    pub unit_price: Decimal,
    pub override_reason: Option<String>,
    #[schema(value_type = String)]
    pub extended_price: Decimal,
}

/// One row of a deal's line history (F13.6): what changed on which line, before and after,
/// who and when. The product's SKU and name are as they were then.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineChange {
    #[schema(value_type = uuid::Uuid)]
    pub id: LineChangeId,
    #[schema(value_type = uuid::Uuid)]
    pub line_id: LineItemId,
    #[schema(value_type = uuid::Uuid)]
    pub product_id: ProductId,
    pub sku: String,
    pub product_name: String,
    pub change: LineChangeKind,
    /// None for an addition.
    pub before: Option<LineState>,
    /// None for a removal.
    pub after: Option<LineState>,
    pub changed_at: DateTime<Utc>,
    #[schema(value_type = uuid::Uuid)]
    pub changed_by: UserId,
    pub changed_by_name: Option<String>,
}

pub type LineHistoryPage = Page<LineChange, LineChangeId>;

/// A page of the deal's line history, newest first; `None` if there is no deal the caller may
/// see (deleted deals included: their history stays readable). Plan:
/// `deal_line_history_deal_idx` with the tenant, the deal and the cursor as index conditions,
/// stopping after a page.
pub async fn history(
    pool: &AppPool,
    context: TenantContext,
    id: DealId,
    after: Option<&Cursor<LineChangeId>>,
    limit: Option<i64>,
) -> Result<Option<LineHistoryPage>, DbError> {
    let size = page_size(limit);
    let tenant = context.tenant_id;
    let mut tx = pool.begin(context).await?;
    let visible = sqlx::query_scalar!(
        r#"select count(*) as "count!" from deals where tenant_id = $1 and id = $2"#,
        tenant.as_uuid(),
        id as DealId,
    )
    .fetch_one(tx.conn())
    .await?;
    if visible == 0 {
        return Ok(None);
    }
    let (at, after_id) = time_position(after);
    let rows = sqlx::query!(
        r#"select h.id as "id: LineChangeId", h.line_id as "line_id: LineItemId",
                  h.product_id as "product_id: ProductId", h.sku, h.product_name, h.change,
                  h.before, h.after, h.changed_at, h.changed_by as "changed_by: UserId",
                  u.display_name as "changed_by_name?"
           from deal_line_history h
           left join users u on u.id = h.changed_by
           where h.tenant_id = $1 and h.deal_id = $2 and (h.changed_at, h.id) < ($3, $4)
           order by h.changed_at desc, h.id desc
           limit $5"#,
        tenant.as_uuid(),
        id as DealId,
        at,
        after_id as LineChangeId,
        size + 1,
    )
    .fetch_all(tx.conn())
    .await?;
    let state = |value: Option<serde_json::Value>| {
        value
            .and_then(|v| serde_json::from_value::<LineState>(v).ok())
            .map(|s| LineState {
                unit_price: products::price(s.unit_price),
                ..s
            })
    };
    let rows = rows
        .into_iter()
        .map(|r| LineChange {
            id: r.id,
            line_id: r.line_id,
            product_id: r.product_id,
            sku: r.sku,
            product_name: r.product_name,
            change: LineChangeKind::parse(&r.change),
            before: state(r.before),
            after: state(r.after),
            changed_at: r.changed_at,
            changed_by: r.changed_by,
            changed_by_name: r.changed_by_name,
        })
        .collect();
    Ok(Some(Page::from_rows(rows, size, |c| {
        Cursor::time(c.changed_at, c.id)
    })))
}

/// A whole quantity from 1 to 1,000,000.
pub fn parse_quantity(check: &mut Check, value: &str) -> Option<i32> {
    let value = value.trim();
    if value.is_empty() {
        check.refuse("quantity", "The quantity is required.");
        return None;
    }
    let digits = value.strip_prefix('-').unwrap_or(value);
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        check.refuse(
            "quantity",
            format!("The quantity “{value}” is not a whole number: use digits only, like 3."),
        );
        return None;
    }
    match value.parse::<i64>() {
        Ok(q) if q < 1 => {
            check.refuse(
                "quantity",
                format!("The quantity “{value}” must be at least 1."),
            );
            None
        }
        Ok(q) if q <= i64::from(MAX_QUANTITY) => i32::try_from(q).ok(),
        _ => {
            check.refuse(
                "quantity",
                format!("The quantity “{value}” is too large: at most 1,000,000."),
            );
            None
        }
    }
}

fn discount_percent(list: Decimal, price: Decimal) -> Decimal {
    if list.is_zero() || price >= list {
        return Decimal::ZERO;
    }
    ((list - price) * Decimal::from(100) / list)
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven)
}

/// Refuses a price under the list price beyond what the caller's role may give, naming the
/// limit; and a price other than the list price without a reason.
fn check_price(
    check: &mut Check,
    context: TenantContext,
    product: &products::Product,
    list_price: Decimal,
    price: Decimal,
    reason: Option<&str>,
) {
    let discount = discount_percent(list_price, price);
    if !context.role.may(Permission::AllDeals) && discount > product.max_discount_percent {
        check.refuse(
            "unit_price",
            format!(
                "A discount of {discount} % is over your limit of {} % for {}: a manager can give more.",
                product.max_discount_percent.normalize(),
                product.name
            ),
        );
    }
    if price != list_price && reason.is_none_or(|r| r.trim().is_empty()) {
        check.refuse(
            "override_reason",
            "Say why the price differs from the list price.",
        );
    }
}

fn refusal<T>(err: DbError) -> WriteError<T> {
    let DbError::Constraint { constraint, .. } = &err else {
        return WriteError::Db(err);
    };
    match constraint.as_str() {
        "deal_line_items_discount_limit" => WriteError::invalid(
            "unit_price",
            "The discount is over your limit for this product: a manager can give more.",
        ),
        "deal_line_items_product_active" => WriteError::invalid(
            "product_id",
            "This product is inactive: inactive products cannot be added to deals.",
        ),
        "deals_amount_bounds" => WriteError::invalid(
            "quantity",
            "The deal's total would be too large: at most 999,999,999,999,999.",
        ),
        _ => WriteError::Db(err),
    }
}

/// The deal's owner and amount, if the caller may see the deal; locks it when changing.
async fn deal(tx: &mut TenantTx, id: DealId) -> Result<Option<(UserId, i64)>, DbError> {
    let tenant = tx.context().tenant_id;
    Ok(sqlx::query!(
        r#"select assigned_to as "assigned_to: UserId", version from deals
           where tenant_id = $1 and id = $2 and deleted_at is null"#,
        tenant.as_uuid(),
        id as DealId,
    )
    .fetch_optional(tx.conn())
    .await?
    .map(|r| (r.assigned_to, r.version)))
}

async fn read(tx: &mut TenantTx, id: DealId) -> Result<Option<DealLines>, DbError> {
    let tenant = tx.context().tenant_id;
    let Some(head) = sqlx::query!(
        r#"select d.amount, d.version, t.currency as "currency: String"
           from deals d join tenants t on t.id = d.tenant_id
           where d.tenant_id = $1 and d.id = $2 and d.deleted_at is null"#,
        tenant.as_uuid(),
        id as DealId,
    )
    .fetch_optional(tx.conn())
    .await?
    else {
        return Ok(None);
    };
    let rows = sqlx::query!(
        r#"select l.id as "id: LineItemId", l.product_id as "product_id: ProductId", p.sku,
                  p.name, l.quantity, l.list_price, l.unit_price, l.unit_cost,
                  l.override_reason, l.extended_price, p.margin_target_percent, l.version
           from deal_line_items l
           join products p on p.tenant_id = l.tenant_id and p.id = l.product_id
           where l.tenant_id = $1 and l.deal_id = $2 and l.deleted_at is null
           order by l.created_at, l.id
           limit $3"#,
        tenant.as_uuid(),
        id as DealId,
        MAX_LINES,
    )
    .fetch_all(tx.conn())
    .await?;
    let mut total_margin = Decimal::ZERO;
    let items = rows
        .into_iter()
        .map(|r| {
            let margin = r.extended_price - Decimal::from(r.quantity) * r.unit_cost;
            total_margin += margin;
            let margin_percent = (!r.extended_price.is_zero()).then(|| {
                (margin * Decimal::from(100) / r.extended_price)
                    .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven)
            });
            let under = match (margin_percent, r.margin_target_percent) {
                (Some(m), Some(t)) => m < t,
                (None, Some(t)) => t > Decimal::ZERO,
                _ => false,
            };
            LineItem {
                id: r.id,
                product_id: r.product_id,
                sku: r.sku,
                product_name: r.name,
                quantity: r.quantity,
                list_price: products::price(r.list_price),
                unit_price: products::price(r.unit_price),
                unit_cost: products::price(r.unit_cost),
                override_reason: r.override_reason,
                extended_price: r.extended_price,
                discount_percent: discount_percent(r.list_price, r.unit_price),
                margin,
                margin_percent,
                margin_target_percent: r.margin_target_percent,
                under_margin_target: under,
                version: r.version,
            }
        })
        .collect();
    Ok(Some(DealLines {
        deal_id: id,
        items,
        amount: head.amount,
        total_margin,
        currency: head.currency.trim().to_owned(),
        deal_version: head.version,
    }))
}

/// The deal's live lines with their totals; none if the caller may not see the deal.
pub async fn list(
    pool: &AppPool,
    context: TenantContext,
    id: DealId,
) -> Result<Option<DealLines>, DbError> {
    let mut tx = pool.begin(context).await?;
    read(&mut tx, id).await
}

/// How many live lines the deal has (for the "at least one product" stage requirement).
pub async fn count(tx: &mut TenantTx, id: DealId) -> Result<i64, DbError> {
    let tenant = tx.context().tenant_id;
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "count!" from deal_line_items
           where tenant_id = $1 and deal_id = $2 and deleted_at is null"#,
        tenant.as_uuid(),
        id as DealId,
    )
    .fetch_one(tx.conn())
    .await?)
}

fn line_json(line: &LineItem) -> serde_json::Value {
    json!({
        "line_id": line.id, "product_id": line.product_id, "sku": line.sku,
        "quantity": line.quantity, "list_price": line.list_price, "unit_price": line.unit_price,
        "override_reason": line.override_reason, "extended_price": line.extended_price,
    })
}

/// A line checked and ready to insert: an active product of the catalog, a whole quantity, and
/// a unit price within the caller's discount limit (with its reason when it is not the list
/// price).
pub(crate) struct NewLine {
    product: products::Product,
    quantity: i32,
    price: Decimal,
    reason: Option<String>,
}

/// Checks a line as typed, refusing each problem at its field (`product_id`, `quantity`,
/// `unit_price`, `override_reason`); `None` if anything is wrong.
async fn check_line(
    tx: &mut TenantTx,
    check: &mut Check,
    input: &AddLine,
) -> Result<Option<NewLine>, DbError> {
    let context = *tx.context();
    let product_id = input
        .product_id
        .trim()
        .parse::<uuid::Uuid>()
        .ok()
        .map(ProductId::from);
    if product_id.is_none() {
        check.refuse("product_id", "Choose a product from the catalog.");
    }
    let quantity = parse_quantity(check, &input.quantity);
    let product = match product_id {
        Some(p) => products::fetch(tx, p, false).await?,
        None => None,
    };
    if product_id.is_some() && product.is_none() {
        check.refuse("product_id", "Choose a product from the catalog.");
    }
    if let Some(product) = &product {
        if !product.active {
            check.refuse(
                "product_id",
                format!(
                    "{} is inactive: inactive products cannot be added to deals.",
                    product.name
                ),
            );
        }
    }
    let reason = check.optional("override_reason", "The reason", &input.override_reason, 500);
    let price = product.as_ref().and_then(|p| {
        parse_price(
            check,
            "unit_price",
            "The unit price",
            &input.unit_price,
            Some(p.list_price),
        )
    });
    if let (Some(product), Some(price)) = (&product, price) {
        check_price(
            check,
            context,
            product,
            product.list_price,
            price,
            reason.as_deref(),
        );
    }
    Ok(match (product, quantity, price) {
        (Some(product), Some(quantity), Some(price)) if product.active => {
            let reason = reason.filter(|_| price != product.list_price);
            Some(NewLine {
                product,
                quantity,
                price,
                reason,
            })
        }
        _ => None,
    })
}

/// Inserts a checked line on the deal (owned by `owner`) and audits it; returns its id.
async fn insert_line<T>(
    tx: &mut TenantTx,
    id: DealId,
    owner: UserId,
    line: &NewLine,
) -> Result<LineItemId, WriteError<T>> {
    let context = *tx.context();
    let line_id = sqlx::query_scalar!(
        r#"insert into deal_line_items (tenant_id, deal_id, deal_owner, product_id, quantity,
                                        list_price, unit_cost, unit_price, override_reason,
                                        extended_price, created_by, updated_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $10)
           returning id as "id: LineItemId""#,
        context.tenant_id.as_uuid(),
        id as DealId,
        owner as UserId,
        line.product.id as ProductId,
        line.quantity,
        line.product.list_price,
        line.product.unit_cost,
        line.price,
        line.reason,
        context.user_id as UserId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(|err| refusal(err.into()))?;
    Ok(line_id)
}

/// The lines of a deal being created (`deals::create`), checked in the deal's transaction:
/// each problem is refused at `lines[i].<field>`, so a form can show it at that line's field.
pub(crate) async fn check_new(
    tx: &mut TenantTx,
    check: &mut Check,
    inputs: &[AddLine],
) -> Result<Vec<NewLine>, DbError> {
    if inputs.len() > MAX_LINES as usize {
        check.refuse(
            "lines",
            format!("A deal carries at most {MAX_LINES} lines."),
        );
        return Ok(Vec::new());
    }
    let mut lines = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let mut own = Check::new();
        let line = check_line(tx, &mut own, input).await?;
        if let Err(WriteError::Invalid(problems)) = own.finish::<()>() {
            for problem in problems {
                check.refuse(&format!("lines[{i}].{}", problem.field), problem.message);
            }
        }
        lines.extend(line);
    }
    Ok(lines)
}

/// Adds the checked lines of a new deal, in the deal's transaction: the database sets the
/// deal's amount to their sum (0026) and writes each to the line history (0029); each is
/// audited on the deal as on the deal page.
pub(crate) async fn insert_new<T>(
    tx: &mut TenantTx,
    id: DealId,
    owner: UserId,
    lines: &[NewLine],
) -> Result<(), WriteError<T>> {
    let mut added = Vec::new();
    for line in lines {
        added.push(insert_line(tx, id, owner, line).await?);
    }
    if added.is_empty() {
        return Ok(());
    }
    let now = read(tx, id).await?.ok_or(WriteError::NotFound)?;
    for line in now.items.iter().filter(|l| added.contains(&l.id)) {
        audit::record(
            tx,
            "deal.line_added",
            "deal",
            id.as_uuid(),
            None,
            Some(line_json(line)),
        )
        .await?;
    }
    Ok(())
}

/// Adds an active product to the deal at its list price (or `unit_price` with a reason, within
/// the caller's discount limit). Returns the deal's lines as they are now.
pub async fn add(
    pool: &AppPool,
    context: TenantContext,
    id: DealId,
    input: &AddLine,
) -> Result<DealLines, WriteError<DealLines>> {
    let mut check = Check::new();
    let mut tx = pool.begin(context).await?;
    let Some((owner, _)) = deal(&mut tx, id).await? else {
        return Err(WriteError::NotFound);
    };
    let line = check_line(&mut tx, &mut check, input).await?;
    if count(&mut tx, id).await? >= MAX_LINES {
        check.refuse(
            "product_id",
            format!("A deal carries at most {MAX_LINES} lines."),
        );
    }
    check.finish()?;
    let line = line.ok_or_else(|| WriteError::invalid("product_id", "Choose a product."))?;
    let line_id = insert_line(&mut tx, id, owner, &line).await?;
    let lines = read(&mut tx, id).await?.ok_or(WriteError::NotFound)?;
    if let Some(line) = lines.items.iter().find(|l| l.id == line_id) {
        audit::record(
            &mut tx,
            "deal.line_added",
            "deal",
            id.as_uuid(),
            None,
            Some(line_json(line)),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(lines)
}

/// Changes a line's quantity and/or unit price (with a reason). A stale `version` gets the
/// deal's lines as they are now.
pub async fn edit(
    pool: &AppPool,
    context: TenantContext,
    id: DealId,
    line: LineItemId,
    input: &EditLine,
) -> Result<DealLines, WriteError<DealLines>> {
    let mut check = Check::new();
    let quantity = input
        .quantity
        .as_deref()
        .map(|q| parse_quantity(&mut check, q));
    let mut tx = pool.begin(context).await?;
    if deal(&mut tx, id).await?.is_none() {
        return Err(WriteError::NotFound);
    }
    let lines = read(&mut tx, id).await?.ok_or(WriteError::NotFound)?;
    let Some(current) = lines.items.iter().find(|l| l.id == line).cloned() else {
        return Err(WriteError::NotFound);
    };
    let product = products::fetch(&mut tx, current.product_id, false).await?;
    let reason = input
        .override_reason
        .as_deref()
        .and_then(|r| check.optional("override_reason", "The reason", r, 500))
        .or_else(|| current.override_reason.clone());
    let price = input.unit_price.as_deref().and_then(|p| {
        parse_price(
            &mut check,
            "unit_price",
            "The unit price",
            p,
            Some(current.list_price),
        )
    });
    if let (Some(price), Some(product)) = (price, &product) {
        if price != current.unit_price {
            check_price(
                &mut check,
                context,
                product,
                current.list_price,
                price,
                reason.as_deref(),
            );
        }
    }
    check.finish()?;
    if current.version != input.version {
        return Err(WriteError::Stale(Box::new(lines)));
    }
    let quantity = quantity.flatten().unwrap_or(current.quantity);
    let price = price.unwrap_or(current.unit_price);
    let reason = reason.filter(|_| price != current.list_price);
    sqlx::query!(
        "update deal_line_items
         set quantity = $3, unit_price = $4, override_reason = $5, version = version + 1,
             updated_at = now(), updated_by = $6
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        line as LineItemId,
        quantity,
        price,
        reason,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(|err| refusal(err.into()))?;
    let after = read(&mut tx, id).await?.ok_or(WriteError::NotFound)?;
    let changed = after.items.iter().find(|l| l.id == line).cloned();
    if let Some(changed) = changed {
        if changed.quantity != current.quantity {
            audit::record(
                &mut tx,
                "deal.line_quantity_changed",
                "deal",
                id.as_uuid(),
                Some(line_json(&current)),
                Some(line_json(&changed)),
            )
            .await?;
        }
        if changed.unit_price != current.unit_price
            || changed.override_reason != current.override_reason
        {
            audit::record(
                &mut tx,
                "deal.line_price_overridden",
                "deal",
                id.as_uuid(),
                Some(line_json(&current)),
                Some(line_json(&changed)),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(after)
}

/// Removes a line (soft: it stays in the history and the audit trail); `version` is the
/// line's as read, required.
pub async fn remove(
    pool: &AppPool,
    context: TenantContext,
    id: DealId,
    line: LineItemId,
    version: Option<i64>,
) -> Result<DealLines, WriteError<DealLines>> {
    let mut tx = pool.begin(context).await?;
    if deal(&mut tx, id).await?.is_none() {
        return Err(WriteError::NotFound);
    }
    let lines = read(&mut tx, id).await?.ok_or(WriteError::NotFound)?;
    let Some(current) = lines.items.iter().find(|l| l.id == line).cloned() else {
        return Err(WriteError::NotFound);
    };
    // Asked only of who may see the line: anyone else learns nothing, not even what to send.
    let Some(version) = version else {
        return Err(WriteError::invalid(
            "version",
            "Send the line's `version` as read.",
        ));
    };
    if current.version != version {
        return Err(WriteError::Stale(Box::new(lines)));
    }
    sqlx::query!(
        "update deal_line_items
         set deleted_at = now(), version = version + 1, updated_at = now(), updated_by = $3
         where tenant_id = $1 and id = $2",
        context.tenant_id.as_uuid(),
        line as LineItemId,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(|err| refusal(err.into()))?;
    audit::record(
        &mut tx,
        "deal.line_removed",
        "deal",
        id.as_uuid(),
        Some(line_json(&current)),
        None,
    )
    .await?;
    let after = read(&mut tx, id).await?.ok_or(WriteError::NotFound)?;
    tx.commit().await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_whole_numbers_from_one_to_a_million() {
        let mut check = Check::new();
        assert_eq!(parse_quantity(&mut check, " 3 "), Some(3));
        assert_eq!(parse_quantity(&mut check, "1000000"), Some(1_000_000));
        for bad in [
            "0",
            "-2",
            "1.5",
            "1000001",
            "99999999999999999999",
            "",
            "three",
        ] {
            assert_eq!(parse_quantity(&mut check, bad), None, "{bad}");
        }
    }

    #[test]
    fn the_discount_is_a_percentage_of_the_list_price() {
        assert_eq!(
            discount_percent(Decimal::from(200), Decimal::from(150)),
            Decimal::from(25)
        );
        assert_eq!(
            discount_percent(Decimal::from(100), Decimal::from(120)),
            Decimal::ZERO
        );
        assert_eq!(
            discount_percent(Decimal::ZERO, Decimal::ZERO),
            Decimal::ZERO
        );
    }
}
