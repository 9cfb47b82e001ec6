//! The admins' page for custom fields (F6.6, F7.6): what extra fields organizations and
//! contacts have, add one, archive one.

use askama::Template;
use aura_crm::custom_fields::{self, Definition, DefinitionId, DefinitionInput, Entity, Kind};
use aura_crm::WriteError;
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::extract::{Id, MemberForm};
use crate::forms::Errors;
use crate::forms::NoFields;
use crate::layout::{render, Chrome, Section};
use crate::session::Member;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings/fields", get(fields_page).post(define))
        .route("/settings/fields/{id}/archive", post(archive))
}

#[derive(Deserialize, Default)]
struct DefinitionForm {
    #[serde(default)]
    entity: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    kind: String,
    /// One choice per line.
    #[serde(default)]
    options: String,
}

#[derive(Template)]
#[template(path = "custom_fields/page.html")]
struct FieldsPage {
    chrome: Chrome,
    csrf_token: String,
    /// Each kind of record's heading and live fields.
    sections: Vec<(&'static str, Vec<Definition>)>,
    kinds: [Kind; 5],
    form: DefinitionForm,
    errors: Errors,
    /// What was just done, for the status line.
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

async fn page(
    state: &AppState,
    member: &Member,
    form: DefinitionForm,
    errors: Errors,
) -> Result<FieldsPage, WebError> {
    let context = member.signed_in.context;
    Ok(FieldsPage {
        chrome: Chrome::for_member(Section::Settings, member),
        csrf_token: member.signed_in.csrf_token.clone(),
        sections: vec![
            (
                "Organization fields",
                custom_fields::list(&state.db, context, Entity::Organization).await?,
            ),
            (
                "Contact fields",
                custom_fields::list(&state.db, context, Entity::Contact).await?,
            ),
        ],
        kinds: Kind::ALL,
        form,
        errors,
        notice: None,
    })
}

async fn fields_page(
    State(state): State<AppState>,
    member: Member,
    Query(done): Query<Done>,
) -> Result<Response, WebError> {
    member.require(Permission::DefineCustomFields)?;
    let form = DefinitionForm {
        entity: "contact".into(),
        kind: "text".into(),
        ..DefinitionForm::default()
    };
    let mut page = page(&state, &member, form, Errors::default()).await?;
    page.notice = match done.done.as_deref() {
        Some("defined") => Some("The field was added."),
        Some("archived") => Some("The field was archived; records keep their values."),
        _ => None,
    };
    Ok(render(&page))
}

async fn define(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<DefinitionForm>,
) -> Result<Response, WebError> {
    member.require(Permission::DefineCustomFields)?;
    let input = DefinitionInput {
        entity: form.entity.clone(),
        label: form.label.clone(),
        key: Some(form.key.clone()),
        kind: form.kind.clone(),
        options: form.options.lines().map(str::to_owned).collect(),
    };
    let mut errors = Errors::default();
    let status = match custom_fields::define(&state.db, member.signed_in.context, &input).await {
        Ok(_) => return Ok(Redirect::to("/settings/fields?done=defined").into_response()),
        Err(WriteError::Invalid(found)) => {
            errors.extend(found, &[]);
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(WriteError::Duplicate { .. }) => {
            errors.add(
                "key",
                "A live field of these records already has this key; choose another.",
            );
            StatusCode::CONFLICT
        }
        Err(other) => return Err(other.into()),
    };
    let page = page(&state, &member, form, errors).await?;
    Ok((status, render(&page)).into_response())
}

async fn archive(
    State(state): State<AppState>,
    Id(id): Id<DefinitionId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    member.require(Permission::DefineCustomFields)?;
    custom_fields::archive(&state.db, member.signed_in.context, id).await?;
    Ok(Redirect::to("/settings/fields?done=archived").into_response())
}
