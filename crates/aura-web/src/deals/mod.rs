//! Deals in the browser (F8, F9, F11): the list with its process switcher, filters, search as
//! you type and bulk reassignment (`list`); the forms to create and edit a deal (`form`); the
//! deal's page with its stage bar, close actions, contacts, stage history and activities
//! (`page`). Who may see or change what is decided by `aura_crm::deals` and the database's
//! policies: a deal the member may not see is answered exactly like one that does not exist.

mod form;
mod list;
mod page;

use aura_crm::contacts::{self, ContactFilter};
use aura_crm::deals::{self, DealDetail};
use aura_crm::ids::{ContactId, DealId};
use aura_platform::db::TenantContext;
use aura_platform::tenants;
use axum::routing::{get, post};
use axum::Router;
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::forms::Errors;
use crate::removal;
use crate::session::Member;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/deals", get(list::list_page).post(form::create))
        .route("/deals/new", get(form::new_page))
        .route("/deals/stages", get(form::stage_choices))
        .route("/deals/contact-options", get(form::contact_options))
        .route("/deals/product-options", get(form::product_options))
        .route("/deals/reassign", post(list::reassign))
        .route("/deals/of-organization/{id}", get(list::of_organization))
        .route("/deals/of-contact/{id}", get(list::of_contact))
        .route("/deals/{id}", get(page::deal_page).post(form::update))
        .route("/deals/{id}/edit", get(form::edit_page))
        .route("/deals/{id}/stage", post(page::move_stage))
        .route("/deals/{id}/contacts", post(page::link_contact))
        .route("/deals/{id}/contacts/unlink", post(page::unlink_contact))
        .route("/deals/{id}/activities", post(page::log_activity))
        .route("/deals/{id}/owner", post(page::reassign_one))
        .route("/deals/{id}/delete", post(removal::delete::<page::Deals>))
        .route("/deals/{id}/restore", post(removal::restore::<page::Deals>))
}

/// The deal, if the member may see it; 404 otherwise, whether it exists or not.
async fn visible_deal(
    state: &AppState,
    member: &Member,
    id: DealId,
) -> Result<DealDetail, WebError> {
    deals::get(&state.db, member.signed_in.context, id)
        .await?
        .ok_or(WebError::NotFound)
}

/// The workspace's currency code, shown beside amounts.
async fn currency(state: &AppState, context: TenantContext) -> Result<String, WebError> {
    Ok(tenants::settings(&state.db, context).await?.currency)
}

/// An amount as the pages show it: two decimals.
pub(crate) fn money(amount: &Decimal) -> String {
    format!("{:.2}", amount.round_dp(2))
}

/// A percentage without trailing zeros: `50`, `12.5`.
pub(crate) fn percent(value: &Decimal) -> String {
    value.normalize().to_string()
}

/// A decimal typed into a form (`1 250,00` and `1,250.00` are read as 1250.00); empty is none.
/// Text that is not a number is noted in `errors` under `field`.
fn parse_decimal(text: &str, field: &str, label: &str, errors: &mut Errors) -> Option<Decimal> {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ',' && *c != '\u{a0}')
        .collect();
    if cleaned.is_empty() {
        return None;
    }
    match cleaned.parse::<Decimal>() {
        Ok(value) => Some(value),
        Err(_) => {
            errors.add(
                field,
                format!(
                    "{label} “{}” is not a number: write it like 1250.00.",
                    text.trim()
                ),
            );
            None
        }
    }
}

/// A date typed into a form (`2026-03-31`); empty is none.
fn parse_date(text: &str, field: &str, errors: &mut Errors) -> Option<NaiveDate> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(date) => Some(date),
        Err(_) => {
            errors.add(
                field,
                format!("“{text}” is not a date: use the picker, or write it like 2026-03-31."),
            );
            None
        }
    }
}

/// The contact a form names by email or full name (any case), among those the member may see.
async fn contact_named(
    state: &AppState,
    context: TenantContext,
    text: &str,
) -> Result<Option<ContactId>, WebError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let filter = ContactFilter {
        search: Some(text.to_owned()),
        limit: Some(25),
        ..ContactFilter::default()
    };
    let list = contacts::list(&state.db, context, &filter).await?;
    if list.similar {
        return Ok(None);
    }
    let wanted = text.to_lowercase();
    Ok(list
        .page
        .items
        .into_iter()
        .find(|c| {
            c.email.as_deref().map(str::to_lowercase) == Some(wanted.clone())
                || c.full_name().to_lowercase() == wanted
        })
        .map(|c| c.id))
}

/// How long a deal spent in a stage, roughly: `3 d 4 h`, `2 h 5 min`, `under a minute`.
fn duration(seconds: i64) -> String {
    let minutes = seconds / 60;
    let (days, hours, mins) = (minutes / 1440, (minutes / 60) % 24, minutes % 60);
    match (days, hours, mins) {
        (0, 0, 0) => "under a minute".to_owned(),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}
