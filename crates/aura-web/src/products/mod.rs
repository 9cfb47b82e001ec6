//! The product catalog pages (F12) and a deal's line items as a self-contained htmx partial
//! (F13). Everyone reads the catalog; admins (`ChangeCatalog`) get the forms, and a blueprint
//! change asks for the step-up proof (the emailed code where a mail server carries codes, the
//! password elsewhere). The lines partial (`/deals/{id}/lines`) is meant to be included in the
//! deal page with `hx-get ... hx-trigger="load"`; it answers htmx with itself (errors inline,
//! status 200 so htmx swaps it in) and a browser without JavaScript with a page around it.

use std::collections::BTreeMap;

use askama::Template;
use aura_crm::custom_fields::{self, Definition, Entity};
use aura_crm::ids::{DealId, LineItemId, ProductId};
use aura_crm::line_items::{
    self, AddLine, DealLines, EditLine, LineChange, LineChangeId, LineChangeKind, LineItem,
    LineState,
};
use aura_crm::paging::Cursor;
use aura_crm::products::{self, BlueprintInput, PriceChange, Product, ProductFilter, ProductInput};
use aura_crm::WriteError;
use aura_platform::auth::LoginSource;
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::extract::{Id, Ids, MemberForm};
use crate::forms::{self, encode, version, CustomField, Errors};
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::rate_limit::ClientAddress;
use crate::session::Member;
use crate::time::Zone;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/products", get(list_page).post(create))
        .route("/products/{id}", get(product_page).post(edit))
        .route("/products/{id}/blueprint", post(change_blueprint))
        .route("/products/{id}/blueprint/code", post(send_code))
        .route("/deals/{id}/lines", get(lines_partial).post(add_line))
        .route("/deals/{id}/lines/products", get(product_options))
        .route("/deals/{id}/lines/{line_id}", post(edit_line))
        .route("/deals/{id}/lines/{line_id}/remove", post(remove_line))
}

fn notice(key: Option<&str>) -> Option<&'static str> {
    Some(match key? {
        "created" => "Product created.",
        "saved" => "Product saved.",
        "repriced" => "Pricing changed and recorded in the price history.",
        "code_sent" => "A code is on its way to your email: it works once, for ten minutes.",
        _ => return None,
    })
}

/// A refused write's problems by field, with the status to answer; anything else passed on.
fn problems<T: serde::Serialize>(
    err: WriteError<T>,
) -> Result<(StatusCode, Errors, Option<T>), WebError> {
    forms::write_problems(
        err,
        "Another product already has this SKU: choose another.",
        Some("Someone changed this since you opened it: what they saved is shown; your input is kept in the form."),
    )
}

// The catalog ----------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    category: Option<String>,
    /// "", "true" or "false".
    active: Option<String>,
    after: Option<String>,
    notice: Option<String>,
}

/// A product form as typed, catalog fields and blueprint together (kept when refused).
#[derive(Deserialize, Default, Clone)]
struct ProductForm {
    #[serde(default)]
    sku: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    category: String,
    /// A checkbox: present when checked.
    active: Option<String>,
    #[serde(default)]
    list_price: String,
    #[serde(default)]
    unit_cost: String,
    #[serde(default)]
    max_discount_percent: String,
    #[serde(default)]
    margin_target_percent: String,
    #[serde(default)]
    version: String,
    /// The custom fields' inputs (`custom_fields.<key>`), and any other input.
    #[serde(flatten)]
    extra: BTreeMap<String, String>,
}

impl ProductForm {
    fn new_product() -> Self {
        Self {
            active: Some("on".to_owned()),
            ..Self::default()
        }
    }

    fn of(product: &Product) -> Self {
        let blueprint = BlueprintInput::of(&product.blueprint());
        Self {
            sku: product.sku.clone(),
            name: product.name.clone(),
            description: product.description.clone().unwrap_or_default(),
            category: product.category.clone().unwrap_or_default(),
            active: product.active.then(|| "on".to_owned()),
            list_price: blueprint.list_price,
            unit_cost: blueprint.unit_cost,
            max_discount_percent: blueprint.max_discount_percent,
            margin_target_percent: blueprint.margin_target_percent,
            version: product.version.to_string(),
            extra: CustomField::stored(&product.custom_fields),
        }
    }

    fn product(&self, definitions: &[Definition]) -> ProductInput {
        ProductInput {
            sku: self.sku.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            category: self.category.clone(),
            active: self.active.is_some(),
            custom_fields: Some(CustomField::submitted(definitions, &self.extra)),
        }
    }

    fn blueprint(&self) -> BlueprintInput {
        BlueprintInput {
            list_price: self.list_price.clone(),
            unit_cost: self.unit_cost.clone(),
            max_discount_percent: self.max_discount_percent.clone(),
            margin_target_percent: self.margin_target_percent.clone(),
        }
    }

    fn is_active(&self) -> bool {
        self.active.is_some()
    }
}

#[derive(Template)]
#[template(path = "products/list.html")]
struct ListPage {
    chrome: Chrome,
    csrf_token: String,
    can_change: bool,
    products: Vec<Product>,
    categories: Vec<String>,
    q: String,
    category: String,
    active: String,
    next_query: Option<String>,
    form: ProductForm,
    /// The new-product form's custom field inputs.
    custom_fields: Vec<CustomField>,
    errors: Errors,
    notice: Option<&'static str>,
}

impl ListPage {
    async fn load(state: &AppState, member: &Member, query: &ListQuery) -> Result<Self, WebError> {
        member.require(Permission::ReadCatalog)?;
        let context = member.signed_in.context;
        let active = query.active.clone().unwrap_or_default();
        let filter = ProductFilter {
            query: query.q.clone().filter(|q| !q.trim().is_empty()),
            category: query.category.clone().filter(|c| !c.trim().is_empty()),
            active: match active.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
        };
        let after = query
            .after
            .as_deref()
            .and_then(|a| a.parse::<Cursor<ProductId>>().ok());
        let page = products::list(&state.db, context, &filter, after.as_ref(), None).await?;
        let q = query.q.clone().unwrap_or_default();
        let category = query.category.clone().unwrap_or_default();
        let next_query = page.next.map(|cursor| {
            format!(
                "q={}&category={}&active={}&after={}",
                encode(&q),
                encode(&category),
                encode(&active),
                encode(&cursor.to_string())
            )
        });
        Ok(Self {
            chrome: Chrome::for_member(Section::Products, member),
            csrf_token: member.signed_in.csrf_token.clone(),
            can_change: member.may(Permission::ChangeCatalog),
            products: page.items,
            categories: products::categories(&state.db, context).await?,
            q,
            category,
            active,
            next_query,
            form: ProductForm::new_product(),
            custom_fields: Vec::new(),
            errors: Errors::default(),
            notice: notice(query.notice.as_deref()),
        })
    }
}

async fn list_page(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<ListQuery>,
) -> Result<Response, WebError> {
    let mut page = ListPage::load(&state, &member, &query).await?;
    let definitions =
        custom_fields::list(&state.db, member.signed_in.context, Entity::Product).await?;
    page.custom_fields = CustomField::all(definitions, &page.form.extra);
    Ok(render(&page))
}

async fn create(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<ProductForm>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    let context = member.signed_in.context;
    let definitions = custom_fields::list(&state.db, context, Entity::Product).await?;
    let input = form.product(&definitions);
    match products::create(&state.db, context, &input, &form.blueprint()).await {
        Ok(product) => {
            Ok(Redirect::to(&format!("/products/{}?notice=created", product.id)).into_response())
        }
        Err(err) => {
            let (status, errors, _) = problems(err)?;
            let mut page = ListPage::load(&state, &member, &ListQuery::default()).await?;
            page.custom_fields = CustomField::all(definitions, &form.extra);
            page.form = form;
            page.errors = errors;
            Ok((status, render(&page)).into_response())
        }
    }
}

// One product -----------------------------------------------------------------------------------

/// The blueprint form: the new prices, why, and the proof.
#[derive(Deserialize, Default, Clone)]
struct BlueprintForm {
    #[serde(default)]
    list_price: String,
    #[serde(default)]
    unit_cost: String,
    #[serde(default)]
    max_discount_percent: String,
    #[serde(default)]
    margin_target_percent: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    version: String,
}

impl BlueprintForm {
    fn of(product: &Product) -> Self {
        let blueprint = BlueprintInput::of(&product.blueprint());
        Self {
            list_price: blueprint.list_price,
            unit_cost: blueprint.unit_cost,
            max_discount_percent: blueprint.max_discount_percent,
            margin_target_percent: blueprint.margin_target_percent,
            version: product.version.to_string(),
            ..Self::default()
        }
    }

    fn input(&self) -> BlueprintInput {
        BlueprintInput {
            list_price: self.list_price.clone(),
            unit_cost: self.unit_cost.clone(),
            max_discount_percent: self.max_discount_percent.clone(),
            margin_target_percent: self.margin_target_percent.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "products/product.html")]
struct ProductPage {
    chrome: Chrome,
    csrf_token: String,
    can_change: bool,
    /// Codes go by mail here; elsewhere the password is the proof.
    codes_by_mail: bool,
    product: Product,
    history: Vec<PriceChange>,
    form: ProductForm,
    /// The edit form's custom field inputs (as typed when refused).
    custom_fields: Vec<CustomField>,
    /// The product's custom field values as stored.
    custom_values: Vec<CustomField>,
    errors: Errors,
    blueprint: BlueprintForm,
    blueprint_errors: Errors,
    notice: Option<&'static str>,
}

impl ProductPage {
    async fn load(state: &AppState, member: &Member, id: ProductId) -> Result<Self, WebError> {
        member.require(Permission::ReadCatalog)?;
        let context = member.signed_in.context;
        let product = products::get(&state.db, context, id)
            .await?
            .ok_or(WebError::NotFound)?;
        let history = products::price_history(&state.db, context, id)
            .await?
            .unwrap_or_default();
        let definitions = custom_fields::list(&state.db, context, Entity::Product).await?;
        let stored = CustomField::stored(&product.custom_fields);
        Ok(Self {
            custom_fields: CustomField::all(definitions.clone(), &stored),
            custom_values: CustomField::all(definitions, &stored),
            chrome: Chrome::for_member(Section::Products, member),
            csrf_token: member.signed_in.csrf_token.clone(),
            can_change: member.may(Permission::ChangeCatalog),
            codes_by_mail: state.mailer.delivers(),
            form: ProductForm::of(&product),
            blueprint: BlueprintForm::of(&product),
            product,
            history,
            errors: Errors::default(),
            blueprint_errors: Errors::default(),
            notice: None,
        })
    }
}

#[derive(Deserialize, Default)]
struct NoticeQuery {
    notice: Option<String>,
}

async fn product_page(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<ProductId>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let mut page = ProductPage::load(&state, &member, id).await?;
    page.notice = notice(query.notice.as_deref());
    Ok(render(&page))
}

async fn edit(
    State(state): State<AppState>,
    Id(id): Id<ProductId>,
    MemberForm { member, form }: MemberForm<ProductForm>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    let version = version(&form.version);
    let context = member.signed_in.context;
    let definitions = custom_fields::list(&state.db, context, Entity::Product).await?;
    let input = form.product(&definitions);
    match products::update(&state.db, context, id, version, &input).await {
        Ok(_) => Ok(Redirect::to(&format!("/products/{id}?notice=saved")).into_response()),
        Err(err) => {
            let (status, errors, _) = problems(err)?;
            let mut page = ProductPage::load(&state, &member, id).await?;
            page.custom_fields = CustomField::all(definitions, &form.extra);
            let current_version = page.product.version.to_string();
            page.form = ProductForm {
                // A stale form saves over what is shown next time, knowingly.
                version: current_version,
                ..form
            };
            page.errors = errors;
            Ok((status, render(&page)).into_response())
        }
    }
}

async fn change_blueprint(
    State(state): State<AppState>,
    client: ClientAddress,
    Id(id): Id<ProductId>,
    MemberForm { member, form }: MemberForm<BlueprintForm>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    let version = version(&form.version);
    let source = LoginSource::from(client.ip());
    let proof = state.step_up_proof(&form.code, &form.password, &source);
    let context = member.signed_in.context;
    let result = products::change_blueprint(
        &state.db,
        context,
        id,
        version,
        &form.input(),
        &form.reason,
        proof,
    )
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/products/{id}?notice=repriced")).into_response()),
        Err(err) => {
            let (status, errors, _) = problems(err)?;
            let mut page = ProductPage::load(&state, &member, id).await?;
            let current_version = page.product.version.to_string();
            page.blueprint = BlueprintForm {
                // Never echoed back: a code is single-use, a password is a secret.
                code: String::new(),
                password: String::new(),
                version: current_version,
                ..form
            };
            page.blueprint_errors = errors;
            Ok((status, render(&page)).into_response())
        }
    }
}

#[derive(Deserialize)]
struct NoFields {}

async fn send_code(
    State(state): State<AppState>,
    Id(id): Id<ProductId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    if !state.mailer.delivers() {
        return Err(WebError::NotFound);
    }
    let issued = products::request_blueprint_code(&state.db, member.signed_in.context, id).await?;
    state.mailer.deliver(&state.db, &issued.message).await;
    Ok(Redirect::to(&format!("/products/{id}?notice=code_sent#blueprint")).into_response())
}

// A deal's lines ----------------------------------------------------------------------------------

/// The add form as typed.
#[derive(Deserialize, Default, Clone)]
struct AddForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    unit_price: String,
    #[serde(default)]
    override_reason: String,
}

/// A line's form as typed: which line, and its quantity, price and reason.
#[derive(Deserialize, Default, Clone)]
struct LineForm {
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    unit_price: String,
    #[serde(default)]
    override_reason: String,
    #[serde(default)]
    version: String,
}

/// One row of the deal's line history as the partial shows it.
struct HistoryRow {
    at: chrono::DateTime<chrono::Utc>,
    when: String,
    by: String,
    /// "Added", "Changed" or "Removed".
    what: &'static str,
    product_name: String,
    sku: String,
    /// Each change in words, before → after.
    details: Vec<String>,
}

impl HistoryRow {
    fn of(change: LineChange, currency: &str, zone: Zone) -> Self {
        let money = |state: &LineState| format!("{} {currency}", state.extended_price);
        let reason = |state: &LineState| {
            state
                .override_reason
                .as_deref()
                .map_or_else(|| "list price".to_owned(), |r| format!("“{r}”"))
        };
        let mut details = Vec::new();
        let what = match (change.change, &change.before, &change.after) {
            (LineChangeKind::Added, _, Some(after)) => {
                details.push(format!(
                    "{} × {} = {}",
                    after.quantity,
                    after.unit_price,
                    money(after)
                ));
                if after.override_reason.is_some() {
                    details.push(format!("Price reason: {}", reason(after)));
                }
                "Added"
            }
            (LineChangeKind::Removed, Some(before), _) => {
                details.push(format!(
                    "Was {} × {} = {}",
                    before.quantity,
                    before.unit_price,
                    money(before)
                ));
                "Removed"
            }
            (_, Some(before), Some(after)) => {
                if before.quantity != after.quantity {
                    details.push(format!("Quantity {} → {}", before.quantity, after.quantity));
                }
                if before.unit_price != after.unit_price {
                    details.push(format!(
                        "Unit price {} → {}",
                        before.unit_price, after.unit_price
                    ));
                }
                if before.override_reason != after.override_reason {
                    details.push(format!(
                        "Price reason {} → {}",
                        reason(before),
                        reason(after)
                    ));
                }
                details.push(format!("Extended {} → {}", money(before), money(after)));
                "Changed"
            }
            _ => "Changed",
        };
        Self {
            at: change.changed_at,
            when: zone.when(&change.changed_at),
            by: change
                .changed_by_name
                .unwrap_or_else(|| "a former member".to_owned()),
            what,
            product_name: change.product_name,
            sku: change.sku,
            details,
        }
    }
}

/// One line as the partial shows it, with its form (as typed when refused).
struct LineRow {
    line: LineItem,
    form: LineForm,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "products/lines.html")]
struct LinesPartial {
    csrf_token: String,
    lines: DealLines,
    rows: Vec<LineRow>,
    choices: Vec<Product>,
    add: AddForm,
    add_errors: Errors,
    /// Said to screen readers after a change (a live region).
    status: Option<String>,
    /// The deal's line history, newest first, a page at a time.
    history: Vec<HistoryRow>,
    history_older: Option<String>,
}

/// The partial in a page, for a browser without JavaScript.
#[derive(Template)]
#[template(path = "products/lines_page.html")]
struct LinesPage {
    chrome: Chrome,
    deal_id: DealId,
    /// The partial, rendered (escaped by its own template).
    partial: String,
}

impl LinesPartial {
    async fn load(
        state: &AppState,
        member: &Member,
        id: DealId,
        history_after: Option<&Cursor<LineChangeId>>,
    ) -> Result<Self, WebError> {
        let context = member.signed_in.context;
        let lines = line_items::list(&state.db, context, id)
            .await?
            .ok_or(WebError::NotFound)?;
        Self::build(state, member, lines, history_after).await
    }

    /// The partial for `lines`, with the picker's first choices and a page of the history.
    async fn build(
        state: &AppState,
        member: &Member,
        lines: DealLines,
        history_after: Option<&Cursor<LineChangeId>>,
    ) -> Result<Self, WebError> {
        let context = member.signed_in.context;
        let history = line_items::history(&state.db, context, lines.deal_id, history_after, None)
            .await?
            .ok_or(WebError::NotFound)?;
        let choices = active_products(state, member, "").await?;
        let mut partial = Self::of(member, lines, choices);
        partial.history = history
            .items
            .into_iter()
            .map(|c| HistoryRow::of(c, &partial.lines.currency, member.zone()))
            .collect();
        partial.history_older = history.next.map(|c| c.to_string());
        Ok(partial)
    }

    fn of(member: &Member, lines: DealLines, choices: Vec<Product>) -> Self {
        let rows = lines
            .items
            .iter()
            .map(|line| LineRow {
                form: LineForm {
                    quantity: line.quantity.to_string(),
                    unit_price: line.unit_price.to_string(),
                    override_reason: line.override_reason.clone().unwrap_or_default(),
                    version: line.version.to_string(),
                },
                line: line.clone(),
                errors: Errors::default(),
            })
            .collect();
        Self {
            csrf_token: member.signed_in.csrf_token.clone(),
            lines,
            rows,
            choices,
            add: AddForm {
                quantity: "1".to_owned(),
                ..AddForm::default()
            },
            add_errors: Errors::default(),
            status: None,
            history: Vec::new(),
            history_older: None,
        }
    }
}

/// Active products matching `q` (name or SKU prefix), for the picker: one page.
async fn active_products(
    state: &AppState,
    member: &Member,
    q: &str,
) -> Result<Vec<Product>, WebError> {
    let filter = ProductFilter {
        query: Some(q.to_owned()).filter(|q| !q.trim().is_empty()),
        category: None,
        active: Some(true),
    };
    Ok(products::list(
        &state.db,
        member.signed_in.context,
        &filter,
        None,
        Some(100),
    )
    .await?
    .items)
}

/// The partial for htmx (errors inline, 200 so htmx swaps it), a page for a browser.
fn answer(
    headers: &HeaderMap,
    member: &Member,
    status: StatusCode,
    partial: LinesPartial,
) -> Response {
    if wants_fragment(headers) {
        return vary_on_htmx(render(&partial));
    }
    let Ok(html) = partial.render() else {
        return WebError::Internal.into_response();
    };
    let page = LinesPage {
        chrome: Chrome::for_member(Section::Products, member),
        deal_id: partial.lines.deal_id,
        partial: html,
    };
    vary_on_htmx((status, render(&page)).into_response())
}

#[derive(Deserialize, Default)]
struct LinesQuery {
    /// Where the history continues (its "older changes" link).
    history_after: Option<String>,
}

async fn lines_partial(
    State(state): State<AppState>,
    headers: HeaderMap,
    member: Member,
    Id(id): Id<DealId>,
    Query(query): Query<LinesQuery>,
) -> Result<Response, WebError> {
    let after = query
        .history_after
        .as_deref()
        .and_then(|a| a.parse::<Cursor<LineChangeId>>().ok());
    let partial = LinesPartial::load(&state, &member, id, after.as_ref()).await?;
    Ok(answer(&headers, &member, StatusCode::OK, partial))
}

#[derive(Deserialize, Default)]
struct PickerQuery {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "products/options.html")]
struct ProductOptions {
    choices: Vec<Product>,
    selected: String,
}

/// The picker's options for what was typed in its search field.
async fn product_options(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<DealId>,
    Query(query): Query<PickerQuery>,
) -> Result<Response, WebError> {
    // Only for a deal the member may see: the picker is part of its page.
    line_items::list(&state.db, member.signed_in.context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let choices = active_products(&state, &member, &query.q).await?;
    Ok(render(&ProductOptions {
        choices,
        selected: String::new(),
    }))
}

/// After a refused change: the partial as it is now, with `fill` putting the input back.
async fn refused(
    state: &AppState,
    headers: &HeaderMap,
    member: &Member,
    id: DealId,
    err: WriteError<DealLines>,
    fill: impl FnOnce(&mut LinesPartial, Errors),
) -> Result<Response, WebError> {
    let (status, errors, current) = problems(err)?;
    let mut partial = match current {
        Some(lines) => LinesPartial::build(state, member, lines, None).await?,
        None => LinesPartial::load(state, member, id, None).await?,
    };
    fill(&mut partial, errors);
    partial.status = Some("Not saved: see the message at the field.".to_owned());
    Ok(answer(headers, member, status, partial))
}

/// After a change: the partial for htmx, the deal's page for a browser.
async fn changed(
    state: &AppState,
    headers: &HeaderMap,
    member: &Member,
    lines: DealLines,
    said: &str,
) -> Result<Response, WebError> {
    if !wants_fragment(headers) {
        return Ok(Redirect::to(&format!("/deals/{}", lines.deal_id)).into_response());
    }
    let mut partial = LinesPartial::build(state, member, lines, None).await?;
    partial.status = Some(said.to_owned());
    Ok(vary_on_htmx(render(&partial)))
}

async fn add_line(
    State(state): State<AppState>,
    headers: HeaderMap,
    Id(id): Id<DealId>,
    MemberForm { member, form }: MemberForm<AddForm>,
) -> Result<Response, WebError> {
    let input = AddLine {
        product_id: form.product_id.clone(),
        quantity: form.quantity.clone(),
        unit_price: form.unit_price.clone(),
        override_reason: form.override_reason.clone(),
    };
    match line_items::add(&state.db, member.signed_in.context, id, &input).await {
        Ok(lines) => {
            let said = format!("Added. The total is now {}.", total(&lines));
            changed(&state, &headers, &member, lines, &said).await
        }
        Err(err) => {
            refused(&state, &headers, &member, id, err, |partial, errors| {
                partial.add = form;
                partial.add_errors = errors;
            })
            .await
        }
    }
}

fn total(lines: &DealLines) -> String {
    match lines.amount {
        Some(amount) => format!("{amount} {}", lines.currency),
        None => "not set".to_owned(),
    }
}

async fn edit_line(
    State(state): State<AppState>,
    headers: HeaderMap,
    Ids(id, line): Ids<DealId, LineItemId>,
    MemberForm { member, form }: MemberForm<LineForm>,
) -> Result<Response, WebError> {
    let input = EditLine {
        version: version(&form.version),
        quantity: Some(form.quantity.clone()),
        unit_price: Some(form.unit_price.clone()),
        override_reason: Some(form.override_reason.clone()),
    };
    match line_items::edit(&state.db, member.signed_in.context, id, line, &input).await {
        Ok(lines) => {
            let said = format!("Saved. The total is now {}.", total(&lines));
            changed(&state, &headers, &member, lines, &said).await
        }
        Err(err) => {
            refused(&state, &headers, &member, id, err, |partial, errors| {
                if let Some(row) = partial.rows.iter_mut().find(|r| r.line.id == line) {
                    // The input is kept; a stale one now saves over the current version.
                    let version = row.form.version.clone();
                    row.form = LineForm { version, ..form };
                    row.errors = errors;
                }
            })
            .await
        }
    }
}

#[derive(Deserialize, Default)]
struct RemoveForm {
    #[serde(default)]
    version: String,
}

async fn remove_line(
    State(state): State<AppState>,
    headers: HeaderMap,
    Ids(id, line): Ids<DealId, LineItemId>,
    MemberForm { member, form }: MemberForm<RemoveForm>,
) -> Result<Response, WebError> {
    let version = form.version.trim().parse().ok();
    match line_items::remove(&state.db, member.signed_in.context, id, line, version).await {
        Ok(lines) => {
            let said = format!("Removed. The total is now {}.", total(&lines));
            changed(&state, &headers, &member, lines, &said).await
        }
        Err(err) => {
            refused(&state, &headers, &member, id, err, |partial, errors| {
                if let Some(row) = partial.rows.iter_mut().find(|r| r.line.id == line) {
                    row.errors = errors;
                }
            })
            .await
        }
    }
}
