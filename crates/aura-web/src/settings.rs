//! The workspace's settings, for its admins (F1.7): name, logo, industry, time zone, currency.

use askama::Template;
use aura_platform::permissions::Permission;
use aura_platform::tenants::{self, Settings, SettingsError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::extract::MemberForm;
use crate::forms::version;
use crate::layout::{render, Chrome, Section};
use crate::session::Member;
use crate::time::{currency_choices, zone_choices, Choice};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/settings", get(settings_page).post(save))
}

#[derive(Template)]
#[template(path = "settings/page.html")]
struct SettingsPage {
    chrome: Chrome,
    input: Settings,
    saved: bool,
    /// Someone else saved first: what they saved, shown beside the user's own input.
    stale: Option<Settings>,
    name_error: Option<String>,
    logo_url_error: Option<String>,
    industry_error: Option<String>,
    timezone_error: Option<String>,
    currency_error: Option<String>,
    /// The pickers' choices: IANA time zones and ISO 4217 currencies.
    zones: Vec<Choice>,
    currencies: Vec<Choice>,
}

impl SettingsPage {
    fn new(member: &Member, input: Settings) -> Self {
        Self {
            chrome: Chrome::for_member(Section::Settings, member),
            zones: zone_choices(&input.timezone),
            currencies: currency_choices(&input.currency),
            input,
            saved: false,
            stale: None,
            name_error: None,
            logo_url_error: None,
            industry_error: None,
            timezone_error: None,
            currency_error: None,
        }
    }
}

#[derive(Deserialize)]
struct SavedQuery {
    saved: Option<String>,
}

async fn settings_page(
    State(state): State<AppState>,
    member: Member,
    axum::extract::Query(query): axum::extract::Query<SavedQuery>,
) -> Result<Response, WebError> {
    member.require(Permission::EditSettings)?;
    let current = tenants::settings(&state.db, member.signed_in.context).await?;
    let mut page = SettingsPage::new(&member, current);
    page.saved = query.saved.is_some();
    Ok(render(&page))
}

/// The form as sent. Not `#[serde(flatten)]` over `Settings`: flattened URL-encoded fields
/// arrive as strings only, so the numeric version would fail to parse.
#[derive(Deserialize)]
struct SettingsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    logo_url: String,
    #[serde(default)]
    industry: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    version: String,
}

impl SettingsForm {
    fn into_settings(self) -> Settings {
        Settings {
            name: self.name,
            logo_url: self.logo_url,
            industry: self.industry,
            timezone: self.timezone,
            currency: self.currency,
            version: version(&self.version),
        }
    }
}

async fn save(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<SettingsForm>,
) -> Result<Response, WebError> {
    member.require(Permission::EditSettings)?;
    let input = form.into_settings();
    match tenants::update_settings(&state.db, member.signed_in.context, &input).await {
        Ok(()) => Ok(Redirect::to("/settings?saved=1").into_response()),
        Err(SettingsError::Invalid(errors)) => {
            let mut page = SettingsPage::new(&member, input);
            for (field, message) in errors {
                let slot = match field {
                    "name" => &mut page.name_error,
                    "logo_url" => &mut page.logo_url_error,
                    "industry" => &mut page.industry_error,
                    "timezone" => &mut page.timezone_error,
                    _ => &mut page.currency_error,
                };
                *slot = Some(message);
            }
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(SettingsError::Stale { current }) => {
            // Keep what the user typed; saving again applies it over the newer version.
            let mut input = input;
            input.version = current.version;
            let mut page = SettingsPage::new(&member, input);
            page.stale = Some(*current);
            Ok((StatusCode::CONFLICT, render(&page)).into_response())
        }
        Err(SettingsError::NotAdmin) => Err(WebError::Forbidden),
        Err(SettingsError::Db(err)) => Err(err.into()),
    }
}
