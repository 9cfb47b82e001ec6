//! The product catalog, pricing blueprints and deals' line items over the API (F12, F13): the
//! same repository functions as the pages, so the same rules. Everyone reads the catalog;
//! admins change it, and a blueprint change needs the step-up proof. A deal's lines are
//! reached through the deal: a rep only on their own deals (anything else is 404). Invalid
//! input is 422 naming every field (a discount over the limit names the limit), a stale
//! `version` is 409 with the current record.

use aura_crm::ids::{DealId, LineItemId, ProductId};
use aura_crm::line_items::{self, AddLine, DealLines, EditLine, LineChange};
use aura_crm::products::{self, BlueprintInput, PriceChange, Product, ProductFilter, ProductInput};
use aura_platform::auth::LoginSource;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{created, param, ApiCaller, ApiJson, ApiQuery, Page, PageQuery};
use crate::extract::{Id, Ids};
use crate::rate_limit::ClientAddress;
use crate::{AppState, WebError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product))
        .routes(routes!(change_blueprint))
        .routes(routes!(request_blueprint_code))
        .routes(routes!(price_history))
        .routes(routes!(deal_lines, add_line))
        .routes(routes!(line_history))
        .routes(routes!(edit_line, remove_line))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Products whose name or SKU starts with this (any case).
    search: Option<String>,
    category: Option<String>,
    /// `true` only active products, `false` only inactive ones; both if left out.
    #[param(value_type = Option<bool>)]
    active: Option<String>,
}

/// The catalog by name, a page at a time, searched by name or SKU prefix and filtered by
/// category and active flag (everyone).
#[utoipa::path(get, path = "/api/v1/products", tag = "products",
    security(("bearer" = [])), params(ProductQuery, PageQuery),
    responses((status = 200, body = Page<Product>), (status = 401), (status = 422)))]
async fn list_products(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(query): ApiQuery<ProductQuery>,
    ApiQuery(paging): ApiQuery<PageQuery>,
) -> Result<Json<Page<Product>>, WebError> {
    let filter = ProductFilter {
        query: query.search,
        category: query.category,
        active: param("active", query.active.as_deref())?,
    };
    let (after, limit) = paging.parse()?;
    let page = products::list(&state.db, caller.context, &filter, after.as_ref(), limit).await?;
    Ok(Json(page.into()))
}

/// A new product with its first pricing blueprint.
#[derive(Deserialize, ToSchema)]
pub struct ProductCreate {
    #[serde(flatten)]
    product: ProductInput,
    #[serde(flatten)]
    blueprint: BlueprintInput,
}

/// Creates a product with its first blueprint (admins); the price history starts with it.
#[utoipa::path(post, path = "/api/v1/products", tag = "products",
    security(("bearer" = [])), request_body = ProductCreate,
    responses((status = 201, body = Product), (status = 403),
              (status = 409, description = "Another product has this SKU"),
              (status = 422, description = "Invalid fields")))]
async fn create_product(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(input): ApiJson<ProductCreate>,
) -> Result<Response, WebError> {
    let product =
        products::create(&state.db, caller.context, &input.product, &input.blueprint).await?;
    Ok(created(format!("/api/v1/products/{}", product.id), product))
}

/// One product with its blueprint.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Product), (status = 404)))]
async fn get_product(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ProductId>,
) -> Result<Json<Product>, WebError> {
    products::get(&state.db, caller.context, id)
        .await?
        .map(Json)
        .ok_or(WebError::NotFound)
}

#[derive(Deserialize, ToSchema)]
pub struct ProductUpdate {
    /// The `version` read with the product.
    version: i64,
    #[serde(flatten)]
    product: ProductInput,
}

/// Replaces the catalog fields (admins) if `version` is still current; the blueprint changes
/// only through `PUT /api/v1/products/{id}/blueprint`.
#[utoipa::path(put, path = "/api/v1/products/{id}", tag = "products",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ProductUpdate,
    responses((status = 200, body = Product), (status = 403), (status = 404),
              (status = 409, description = "Stale version, or another product has this SKU"),
              (status = 422, description = "Invalid fields")))]
async fn update_product(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ProductId>,
    ApiJson(input): ApiJson<ProductUpdate>,
) -> Result<Json<Product>, WebError> {
    Ok(Json(
        products::update(&state.db, caller.context, id, input.version, &input.product).await?,
    ))
}

/// Emails the admin a one-time code for a blueprint change (where a mail server carries codes;
/// 404 elsewhere: there, the password is the proof).
#[utoipa::path(post, path = "/api/v1/products/{id}/blueprint-code", tag = "products",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
async fn request_blueprint_code(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ProductId>,
) -> Result<StatusCode, WebError> {
    if !state.mailer.delivers() {
        return Err(WebError::NotFound);
    }
    let issued = products::request_blueprint_code(&state.db, caller.context, id).await?;
    state.mailer.deliver(&state.db, &issued.message).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct BlueprintChange {
    /// The `version` read with the product.
    version: i64,
    #[serde(flatten)]
    blueprint: BlueprintInput,
    /// Why the pricing changes: kept in the price history.
    #[serde(default)]
    reason: String,
    /// The one-time code emailed by `blueprint-code` (where a mail server carries codes).
    #[serde(default)]
    code: String,
    /// The admin's password (where no mail server carries codes).
    #[serde(default)]
    password: String,
}

/// Changes the product's pricing blueprint (admins, step-up) and records it in the price
/// history with `reason`. Lines already on deals keep their prices.
#[utoipa::path(put, path = "/api/v1/products/{id}/blueprint", tag = "products",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = BlueprintChange,
    responses((status = 200, body = Product), (status = 403), (status = 404),
              (status = 409, description = "Stale version"),
              (status = 422, description = "Invalid prices, no reason, or a wrong or missing code or password")))]
async fn change_blueprint(
    State(state): State<AppState>,
    client: ClientAddress,
    caller: ApiCaller,
    Id(id): Id<ProductId>,
    ApiJson(input): ApiJson<BlueprintChange>,
) -> Result<Json<Product>, WebError> {
    let source = LoginSource::from(client.ip());
    let proof = state.step_up_proof(&input.code, &input.password, &source);
    Ok(Json(
        products::change_blueprint(
            &state.db,
            caller.context,
            id,
            input.version,
            &input.blueprint,
            &input.reason,
            proof,
        )
        .await?,
    ))
}

/// The product's blueprint changes, newest first: before, after, who, when and why.
#[utoipa::path(get, path = "/api/v1/products/{id}/price-history", tag = "products",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<PriceChange>), (status = 404)))]
async fn price_history(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<ProductId>,
) -> Result<Json<Vec<PriceChange>>, WebError> {
    products::price_history(&state.db, caller.context, id)
        .await?
        .map(Json)
        .ok_or(WebError::NotFound)
}

/// The deal's live lines with extended prices, discounts, margins and the deal's amount.
#[utoipa::path(get, path = "/api/v1/deals/{id}/lines", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = DealLines), (status = 404)))]
async fn deal_lines(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<DealId>,
) -> Result<Json<DealLines>, WebError> {
    line_items::list(&state.db, caller.context, id)
        .await?
        .map(Json)
        .ok_or(WebError::NotFound)
}

/// Adds an active product with a whole quantity (1 to 1,000,000) at its list price, or at
/// `unit_price` with `override_reason` within the caller's discount limit. The deal's amount
/// becomes the sum of its lines in the same transaction.
#[utoipa::path(post, path = "/api/v1/deals/{id}/lines", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = AddLine,
    responses((status = 201, body = DealLines), (status = 404),
              (status = 422, description = "Invalid quantity or price, an inactive product, or a discount over the caller's limit (named)")))]
async fn add_line(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<DealId>,
    ApiJson(input): ApiJson<AddLine>,
) -> Result<Response, WebError> {
    let lines = line_items::add(&state.db, caller.context, id, &input).await?;
    Ok(created(format!("/api/v1/deals/{id}/lines"), lines))
}

/// Changes a line's quantity and/or unit price (with a reason), over the line's `version`.
#[utoipa::path(patch, path = "/api/v1/deals/{id}/lines/{line_id}", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path), ("line_id" = Uuid, Path)),
    request_body = EditLine,
    responses((status = 200, body = DealLines), (status = 404),
              (status = 409, description = "Stale version: `current` is the deal's lines as they are now"),
              (status = 422, description = "Invalid quantity or price, or a discount over the caller's limit (named)")))]
async fn edit_line(
    State(state): State<AppState>,
    caller: ApiCaller,
    Ids(id, line): Ids<DealId, LineItemId>,
    ApiJson(input): ApiJson<EditLine>,
) -> Result<Json<DealLines>, WebError> {
    Ok(Json(
        line_items::edit(&state.db, caller.context, id, line, &input).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LineVersion {
    /// The line's `version` as read.
    #[param(value_type = Option<i64>)]
    version: Option<String>,
}

/// Removes a line (soft: kept in the deal's history), over the line's `version`.
#[utoipa::path(delete, path = "/api/v1/deals/{id}/lines/{line_id}", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path), ("line_id" = Uuid, Path), LineVersion),
    responses((status = 200, body = DealLines), (status = 404),
              (status = 409, description = "Stale version"), (status = 422)))]
async fn remove_line(
    State(state): State<AppState>,
    caller: ApiCaller,
    Ids(id, line): Ids<DealId, LineItemId>,
    ApiQuery(query): ApiQuery<LineVersion>,
) -> Result<Json<DealLines>, WebError> {
    let version = param::<i64>("version", query.version.as_deref())?;
    Ok(Json(
        line_items::remove(&state.db, caller.context, id, line, version).await?,
    ))
}

/// The deal's line changes, newest first (F13.6): each addition, removal, quantity change and
/// price override with the line before and after, who and when.
#[utoipa::path(get, path = "/api/v1/deals/{id}/line-history", tag = "deals",
    security(("bearer" = [])), params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = Page<LineChange>), (status = 404), (status = 422)))]
async fn line_history(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(id): Id<DealId>,
    ApiQuery(paging): ApiQuery<PageQuery>,
) -> Result<Json<Page<LineChange>>, WebError> {
    let (after, limit) = paging.parse()?;
    let page = line_items::history(&state.db, caller.context, id, after.as_ref(), limit)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(Json(page.into()))
}
