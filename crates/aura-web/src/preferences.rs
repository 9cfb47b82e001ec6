//! A member's own settings in a workspace (issue 18): the time zone they read and write times
//! in, or the workspace's.

use askama::Template;
use aura_platform::tenants;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::extract::MemberForm;
use crate::layout::{render, Chrome, Section};
use crate::session::Member;
use crate::time::zone_names;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/preferences", get(page).post(save))
}

#[derive(Template)]
#[template(path = "preferences/page.html")]
struct PreferencesPage {
    chrome: Chrome,
    /// The member's own zone; empty: the workspace's.
    time_zone: String,
    workspace_zone: String,
    zones: Vec<&'static str>,
    saved: bool,
    error: Option<&'static str>,
}

impl PreferencesPage {
    async fn new(state: &AppState, member: &Member, time_zone: String) -> Result<Self, WebError> {
        let context = member.signed_in.context;
        Ok(Self {
            chrome: Chrome::for_member(Section::Account, member),
            time_zone,
            workspace_zone: tenants::settings(&state.db, context).await?.timezone,
            zones: zone_names(),
            saved: false,
            error: None,
        })
    }
}

#[derive(Deserialize)]
struct SavedQuery {
    saved: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<SavedQuery>,
) -> Result<Response, WebError> {
    let own = tenants::own_time_zone(&state.db, member.signed_in.context).await?;
    let mut page = PreferencesPage::new(&state, &member, own.unwrap_or_default()).await?;
    page.saved = query.saved.is_some();
    Ok(render(&page))
}

#[derive(Deserialize)]
struct PreferencesForm {
    #[serde(default)]
    time_zone: String,
}

async fn save(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<PreferencesForm>,
) -> Result<Response, WebError> {
    let zone = Some(form.time_zone.trim()).filter(|z| !z.is_empty());
    if tenants::set_own_time_zone(&state.db, member.signed_in.context, zone).await? {
        return Ok(Redirect::to("/preferences?saved=1").into_response());
    }
    let mut page = PreferencesPage::new(&state, &member, form.time_zone).await?;
    page.error = Some(tenants::UNKNOWN_TIMEZONE);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}
