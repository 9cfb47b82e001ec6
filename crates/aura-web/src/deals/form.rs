//! The forms to create and edit a deal. A new deal's process is chosen here (the default one
//! pre-selected, F11.14) and never changes; its stage choices follow the process chosen (htmx
//! swaps them). An edit changes the deal's fields; its stage moves on the deal's page.
//!
//! A new deal can carry products from the start (F13): a few line rows, each a product picker
//! (a search field that filters the row's product select as you type with htmx; without
//! script, submitting with search text and no product chosen shows the row's matches, the
//! input kept) and a quantity. The deal and its lines are created in one transaction, and the
//! deal's amount is then their total.

use std::collections::BTreeMap;

use askama::Template;
use aura_crm::contacts::{self, Contact, ContactFilter};
use aura_crm::custom_fields::{self, Definition, Entity};
use aura_crm::deals::{
    self, ContactRole, Deal, DealContactInput, DealInput, Outcome, ProcessChoice, Stage,
};
use aura_crm::ids::{ProcessId, ProductId, StageId};
use aura_crm::line_items::AddLine;
use aura_crm::products::{self, Product, ProductFilter};
use aura_crm::{FieldError, WriteError};
use aura_platform::members::Member as TeamMember;
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{contact_named, currency, money, parse_date, parse_decimal, percent, visible_deal};
use crate::extract::{Id, MemberForm};
use crate::forms::{optional_id, version, write_unless, CustomField, Errors};
use crate::layout::{render, Chrome, Section};
use crate::records::owner_choices;
use crate::session::Member;
use crate::{AppState, WebError};

/// How many contact rows the new-deal form offers; more are linked on the deal's page.
const CONTACT_ROWS: usize = 3;
/// How many product rows the new-deal form offers; more are added on the deal's page.
const LINE_ROWS: usize = 3;
/// How many products a row's picker lists at once (its search narrows them).
const PICKER_SIZE: i64 = 50;

/// The form as sent: strings only, so that whatever was typed can be shown again.
#[derive(Deserialize, Default, Clone)]
pub(super) struct DealForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    probability: String,
    #[serde(default)]
    expected_close_date: String,
    /// The organization's name.
    #[serde(default)]
    organization: String,
    #[serde(default)]
    assigned_to: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    lost_reason: String,
    #[serde(default)]
    process_id: String,
    #[serde(default)]
    stage_id: String,
    #[serde(default)]
    version: String,
    /// The custom fields' inputs (`custom_fields.<key>`), the contact rows (`contact_<n>`,
    /// `role_<n>`), and any other input.
    #[serde(flatten)]
    extra: BTreeMap<String, String>,
}

/// One product row of the new-deal form: a search, the product chosen, and a quantity.
pub(super) struct LineRow {
    /// The row's number, from 0.
    n: usize,
    /// The inputs' names: `line_q_<n>`, `line_product_<n>`, `line_quantity_<n>`.
    q_field: String,
    product_field: String,
    quantity_field: String,
    q: String,
    product_id: String,
    quantity: String,
    /// The active products the picker offers (matching `q`), the chosen one included.
    choices: Vec<Product>,
}

impl LineRow {
    fn is_chosen(&self, product: &Product) -> bool {
        product.id.to_string() == self.product_id
    }
}

/// One contact row of the new-deal form: an email or a name, and a role.
pub(super) struct ContactRow {
    name: String,
    contact: String,
    role_name: String,
    role: String,
}

impl DealForm {
    fn of(deal: &Deal) -> Self {
        Self {
            name: deal.name.clone(),
            amount: deal.amount.as_ref().map(money).unwrap_or_default(),
            // A probability that follows the stage is left empty, so it keeps following.
            probability: if deal.probability_set {
                percent(&deal.probability)
            } else {
                String::new()
            },
            expected_close_date: deal
                .expected_close_date
                .map(|d| d.to_string())
                .unwrap_or_default(),
            organization: deal.organization_name.clone().unwrap_or_default(),
            assigned_to: deal.assigned_to.to_string(),
            notes: deal.notes.clone().unwrap_or_default(),
            lost_reason: deal.lost_reason.clone().unwrap_or_default(),
            process_id: deal.process_id.to_string(),
            stage_id: deal.stage_id.to_string(),
            version: deal.version.to_string(),
            extra: CustomField::stored(&deal.custom_fields),
        }
    }

    fn contact_rows(&self) -> Vec<ContactRow> {
        (0..CONTACT_ROWS)
            .map(|n| {
                let get = |name: &str| self.extra.get(name).cloned().unwrap_or_default();
                ContactRow {
                    name: format!("contact_{n}"),
                    contact: get(&format!("contact_{n}")),
                    role_name: format!("role_{n}"),
                    role: get(&format!("role_{n}")),
                }
            })
            .collect()
    }

    fn extra(&self, name: &str) -> String {
        self.extra.get(name).cloned().unwrap_or_default()
    }

    /// The product rows as typed, without their choices.
    fn line_rows(&self) -> Vec<LineRow> {
        (0..LINE_ROWS)
            .map(|n| LineRow {
                n,
                q_field: format!("line_q_{n}"),
                product_field: format!("line_product_{n}"),
                quantity_field: format!("line_quantity_{n}"),
                q: self.extra(&format!("line_q_{n}")),
                product_id: self.extra(&format!("line_product_{n}")),
                quantity: Some(self.extra(&format!("line_quantity_{n}")))
                    .filter(|q| !q.is_empty())
                    .unwrap_or_else(|| "1".to_owned()),
                choices: Vec::new(),
            })
            .collect()
    }

    /// The lines to create, and the form row each came from; a row searched but with no
    /// product chosen is noted in `errors` (without script, that is how its search runs).
    fn lines(&self, errors: &mut Errors) -> (Vec<AddLine>, Vec<usize>) {
        let mut lines = Vec::new();
        let mut rows = Vec::new();
        for row in self.line_rows() {
            if row.product_id.trim().is_empty() {
                if !row.q.trim().is_empty() {
                    errors.add(
                        &row.product_field,
                        format!(
                            "Choose one of the products matching “{}”, or clear the search.",
                            row.q.trim()
                        ),
                    );
                }
                continue;
            }
            lines.push(AddLine {
                product_id: row.product_id.clone(),
                quantity: row.quantity.clone(),
                ..AddLine::default()
            });
            rows.push(row.n);
        }
        (lines, rows)
    }

    /// The input for the domain layer; what the form itself cannot read is noted in `errors`.
    async fn input(
        &self,
        state: &AppState,
        member: &Member,
        definitions: &[Definition],
        new: bool,
        errors: &mut Errors,
    ) -> Result<DealInput, WebError> {
        let context = member.signed_in.context;
        if self.name.trim().is_empty() {
            errors.add("name", "Name is required.");
        }
        let amount = parse_decimal(&self.amount, "amount", "The amount", errors);
        let probability =
            parse_decimal(&self.probability, "probability", "The probability", errors);
        let expected_close_date =
            parse_date(&self.expected_close_date, "expected_close_date", errors);
        let organization_id =
            crate::organizations::named(state, context, &self.organization, "organization", errors)
                .await?;
        let contacts = if new {
            let mut links = Vec::new();
            for row in self.contact_rows() {
                if row.contact.trim().is_empty() {
                    continue;
                }
                match contact_named(state, context, &row.contact).await? {
                    Some(contact_id) => links.push(DealContactInput {
                        contact_id,
                        role: ContactRole::parse(&row.role).unwrap_or_default(),
                    }),
                    None => errors.add(
                        &row.name,
                        format!(
                            "No contact of yours has the email or name “{}”.",
                            row.contact.trim()
                        ),
                    ),
                }
            }
            Some(links)
        } else {
            // Links change on the deal's page; an edit keeps them.
            None
        };
        Ok(DealInput {
            name: self.name.clone(),
            amount,
            process_id: if new {
                optional_id(Some(&self.process_id))
            } else {
                None
            },
            stage_id: if new {
                optional_id(Some(&self.stage_id))
            } else {
                None
            },
            probability,
            expected_close_date,
            organization_id,
            // Reps have no owner select: their deals stay theirs.
            assigned_to: if member.may(Permission::AssignDeals) {
                optional_id(Some(&self.assigned_to))
            } else {
                None
            },
            notes: Some(self.notes.clone()),
            custom_fields: Some(CustomField::submitted(definitions, &self.extra)),
            contacts,
            lost_reason: Some(self.lost_reason.clone()),
            lines: None,
        })
    }
}

/// The domain's problems with the form's names: `lines[i].quantity` is the quantity of the
/// `i`-th line sent, which came from form row `rows[i]`; "at least one product" (a stage's
/// requirement) is said at the products.
fn line_fields(found: Vec<FieldError>, rows: &[usize]) -> Vec<FieldError> {
    found
        .into_iter()
        .map(|problem| {
            let field = match problem.field.strip_prefix("lines[") {
                Some(rest) => rest
                    .split_once("].")
                    .and_then(|(i, field)| Some((rows.get(i.parse::<usize>().ok()?)?, field)))
                    .map(|(n, field)| match field {
                        "quantity" => format!("line_quantity_{n}"),
                        _ => format!("line_product_{n}"),
                    })
                    .unwrap_or_else(|| "lines".to_owned()),
                None if problem.field == "line_items" => "lines".to_owned(),
                None => problem.field,
            };
            FieldError {
                field,
                message: problem.message,
            }
        })
        .collect()
}

/// Active products whose name or SKU starts with `q`, for a picker; `chosen` stays listed.
async fn product_choices(
    state: &AppState,
    member: &Member,
    q: &str,
    chosen: &str,
) -> Result<Vec<Product>, WebError> {
    let context = member.signed_in.context;
    let filter = ProductFilter {
        query: Some(q.trim().to_owned()).filter(|q| !q.is_empty()),
        category: None,
        active: Some(true),
    };
    let mut choices = products::list(&state.db, context, &filter, None, Some(PICKER_SIZE))
        .await?
        .items;
    if let Some(id) = optional_id::<ProductId>(Some(chosen)) {
        if !choices.iter().any(|p| p.id == id) {
            if let Some(product) = products::get(&state.db, context, id).await? {
                choices.insert(0, product);
            }
        }
    }
    Ok(choices)
}

#[derive(Template)]
#[template(path = "deals/form.html")]
struct DealFormPage {
    chrome: Chrome,
    csrf_token: String,
    heading: String,
    /// The deal being edited; none for a new one.
    deal: Option<Deal>,
    form: DealForm,
    custom_fields: Vec<CustomField>,
    errors: Errors,
    owners: Vec<TeamMember>,
    processes: Vec<ProcessChoice>,
    stages: Vec<Stage>,
    contact_rows: Vec<ContactRow>,
    line_rows: Vec<LineRow>,
    roles: [ContactRole; 5],
    currency: String,
    unknown_organization: bool,
    /// Someone saved the deal first: what it is now.
    stale: Option<Deal>,
}

impl DealFormPage {
    async fn new(
        state: &AppState,
        member: &Member,
        deal: Option<&Deal>,
        definitions: Vec<Definition>,
        form: DealForm,
    ) -> Result<Self, WebError> {
        let context = member.signed_in.context;
        let owners = if member.may(Permission::AssignDeals) {
            owner_choices(state, context, deal.map(|d| d.assigned_to)).await?
        } else {
            Vec::new()
        };
        let (processes, stages) = match deal {
            Some(_) => (Vec::new(), Vec::new()),
            None => {
                let processes = deals::processes(&state.db, context).await?;
                let chosen = optional_id::<ProcessId>(Some(&form.process_id))
                    .filter(|id| processes.iter().any(|p| p.id == *id))
                    .or_else(|| processes.first().map(|p| p.id));
                let stages = match chosen {
                    Some(process) => deals::stages(&state.db, context, process).await?,
                    None => Vec::new(),
                };
                (processes, stages)
            }
        };
        let mut line_rows = Vec::new();
        if deal.is_none() && member.may(Permission::ReadCatalog) {
            for mut row in form.line_rows() {
                row.choices = product_choices(state, member, &row.q, &row.product_id).await?;
                line_rows.push(row);
            }
        }
        Ok(Self {
            line_rows,
            chrome: Chrome::for_member(Section::Deals, member),
            csrf_token: member.signed_in.csrf_token.clone(),
            heading: match deal {
                Some(deal) => format!("Edit {}", deal.name),
                None => "New deal".to_owned(),
            },
            deal: deal.cloned(),
            custom_fields: CustomField::all(definitions, &form.extra),
            contact_rows: form.contact_rows(),
            form,
            errors: Errors::default(),
            owners,
            processes,
            stages,
            roles: ContactRole::ALL,
            currency: currency(state, context).await?,
            unknown_organization: false,
            stale: None,
        })
    }

    /// The page again after a refused save: the input kept, each problem at its field.
    fn refused(mut self, error: WriteError<Deal>, errors: Errors) -> Result<Response, WebError> {
        self.unknown_organization = errors.get("organization").is_some();
        self.errors = errors;
        let status = match error {
            WriteError::Invalid(found) => {
                self.errors.extend(found, DEAL_FIELDS);
                StatusCode::UNPROCESSABLE_ENTITY
            }
            WriteError::Stale(current) => {
                // Keep the user's input; saving again applies it over the newer version.
                self.form.version = current.version.to_string();
                self.stale = Some(*current);
                StatusCode::CONFLICT
            }
            WriteError::NotAllowed => {
                self.errors.add(
                    "assigned_to",
                    "Only managers and admins give a deal to someone else.",
                );
                StatusCode::FORBIDDEN
            }
            other => return Err(other.into()),
        };
        Ok((status, render(&self)).into_response())
    }

    /// A lost deal's edit asks why it was lost; a new one only once a lost stage needs it.
    fn shows_lost_reason(&self) -> bool {
        self.deal
            .as_ref()
            .is_some_and(|d| d.outcome == Outcome::Lost)
            || self.errors.get("lost_reason").is_some()
            || !self.form.lost_reason.is_empty()
    }
}

/// The domain's field names that the form calls otherwise.
const DEAL_FIELDS: &[(&str, &str)] = &[("organization_id", "organization")];

#[derive(Deserialize, Default)]
pub(super) struct NewQuery {
    organization: Option<String>,
    process: Option<String>,
}

pub(super) async fn new_page(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<NewQuery>,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let organization =
        crate::organizations::prefilled_name(&state, &member, query.organization.as_deref())
            .await?;
    // The default process is listed first, so it is the one pre-selected (F11.14).
    let processes = deals::processes(&state.db, context).await?;
    let process = optional_id::<ProcessId>(query.process.as_deref())
        .filter(|id| processes.iter().any(|p| p.id == *id))
        .or_else(|| processes.first().map(|p| p.id));
    let stage = match process {
        Some(process) => deals::stages(&state.db, context, process)
            .await?
            .into_iter()
            .find(|s| s.outcome == Outcome::Open)
            .map(|s| s.id.to_string()),
        None => None,
    };
    let form = DealForm {
        organization,
        assigned_to: context.user_id.to_string(),
        process_id: process.map(|p| p.to_string()).unwrap_or_default(),
        stage_id: stage.unwrap_or_default(),
        ..DealForm::default()
    };
    let definitions = custom_fields::list(&state.db, context, Entity::Deal).await?;
    Ok(render(
        &DealFormPage::new(&state, &member, None, definitions, form).await?,
    ))
}

pub(super) async fn create(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<DealForm>,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let definitions = custom_fields::list(&state.db, context, Entity::Deal).await?;
    let mut errors = Errors::default();
    let mut input = form
        .input(&state, &member, &definitions, true, &mut errors)
        .await?;
    let (lines, rows) = form.lines(&mut errors);
    input.lines = Some(lines);
    let created = write_unless(&errors, deals::create(&state.db, context, &input), async {
        Ok(Vec::new())
    })
    .await?
    .map_err(|error| match error {
        WriteError::Invalid(found) => WriteError::Invalid(line_fields(found, &rows)),
        other => other,
    });
    match created {
        Ok(id) => Ok(Redirect::to(&format!("/deals/{id}?notice=created")).into_response()),
        Err(error) => DealFormPage::new(&state, &member, None, definitions, form)
            .await?
            .refused(error, errors),
    }
}

pub(super) async fn edit_page(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<aura_crm::ids::DealId>,
) -> Result<Response, WebError> {
    let detail = visible_deal(&state, &member, id).await?;
    let deal = detail.deal;
    if deal.deleted_at.is_some() {
        return Ok(Redirect::to(&format!("/deals/{}", deal.id)).into_response());
    }
    let form = DealForm::of(&deal);
    let definitions =
        custom_fields::list(&state.db, member.signed_in.context, Entity::Deal).await?;
    Ok(render(
        &DealFormPage::new(&state, &member, Some(&deal), definitions, form).await?,
    ))
}

pub(super) async fn update(
    State(state): State<AppState>,
    Id(id): Id<aura_crm::ids::DealId>,
    MemberForm { member, form }: MemberForm<DealForm>,
) -> Result<Response, WebError> {
    let deal = visible_deal(&state, &member, id).await?.deal;
    let context = member.signed_in.context;
    let definitions = custom_fields::list(&state.db, context, Entity::Deal).await?;
    let mut errors = Errors::default();
    let input = form
        .input(&state, &member, &definitions, false, &mut errors)
        .await?;
    let saved = write_unless(
        &errors,
        deals::update(&state.db, context, deal.id, version(&form.version), &input),
        // The form's own problems are all there is to show: a deal's are read by saving.
        async { Ok(Vec::new()) },
    )
    .await?;
    match saved {
        Ok(_) => Ok(Redirect::to(&format!("/deals/{}?notice=saved", deal.id)).into_response()),
        Err(error) => DealFormPage::new(&state, &member, Some(&deal), definitions, form)
            .await?
            .refused(error, errors),
    }
}

#[derive(Deserialize, Default)]
pub(super) struct StagesQuery {
    process_id: Option<String>,
}

/// The stage select of the new-deal form for the process chosen (htmx swaps it in).
#[derive(Template)]
#[template(path = "deals/stage_select.html")]
struct StageSelect {
    stages: Vec<Stage>,
    form: DealForm,
    errors: Errors,
}

pub(super) async fn stage_choices(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<StagesQuery>,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let processes = deals::processes(&state.db, context).await?;
    // A process that is not one of the workspace's live ones offers no stages.
    let stages = match optional_id::<ProcessId>(query.process_id.as_deref())
        .filter(|id| processes.iter().any(|p| p.id == *id))
    {
        Some(process) => deals::stages(&state.db, context, process).await?,
        None => Vec::new(),
    };
    let first_open: Option<StageId> = stages
        .iter()
        .find(|s| s.outcome == Outcome::Open)
        .map(|s| s.id);
    let form = DealForm {
        stage_id: first_open.map(|s| s.to_string()).unwrap_or_default(),
        ..DealForm::default()
    };
    Ok(crate::layout::vary_on_htmx(render(&StageSelect {
        stages,
        form,
        errors: Errors::default(),
    })))
}

/// `<option>`s of the contacts whose name or email starts with what was typed, for the
/// `<datalist>` of a contact input.
#[derive(Template)]
#[template(path = "deals/contact_options.html")]
struct ContactOptions {
    contacts: Vec<Contact>,
}

pub(super) async fn contact_options(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    // Whichever contact input asked: its value is the one parameter sent.
    let typed = query
        .values()
        .find(|v| !v.trim().is_empty())
        .cloned()
        .unwrap_or_default();
    let contacts = if typed.trim().is_empty() {
        Vec::new()
    } else {
        let filter = ContactFilter {
            search: Some(typed),
            limit: Some(10),
            ..ContactFilter::default()
        };
        contacts::list(&state.db, member.signed_in.context, &filter)
            .await?
            .page
            .items
    };
    Ok(render(&ContactOptions { contacts }))
}

/// The `<option>`s of a new deal's product row for what was typed in its search field (htmx
/// swaps them into the row's select).
#[derive(Template)]
#[template(path = "products/new_deal_options.html")]
struct ProductOptions {
    q: String,
    choices: Vec<Product>,
}

pub(super) async fn product_options(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    member.require(Permission::ReadCatalog)?;
    // Whichever row's search asked: its value is the one parameter sent.
    let q = query.into_values().next().unwrap_or_default();
    let choices = product_choices(&state, &member, &q, "").await?;
    Ok(crate::layout::vary_on_htmx(render(&ProductOptions {
        q,
        choices,
    })))
}
