//! CSV import in the browser (issue 15): upload a file (organizations, contacts or deals), map
//! its columns, preview the rows with their problems, choose what duplicates do (deals have
//! none), start it, and watch its progress (the page polls its own fragment with htmx while a
//! worker runs it); then download the rejected rows.
//! Managers and admins only; `aura_crm::imports` and the database's policies decide that too.

use std::collections::HashMap;

use askama::Template;
use aura_crm::imports::{
    self, csv_file, Duplicates, FieldChoice, Import, ImportEntity, ImportId, ImportStatus, Mapping,
    Outcome, Preview, Ran, Upload, MAX_FILE_BYTES,
};
use aura_crm::WriteError;
use aura_platform::permissions::Permission;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::extract::{Id, MemberForm};
use crate::forms::Errors;
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::session::{check_csrf, Member, Session};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/imports",
            get(imports_page)
                .post(upload)
                // The file and the form's few other fields; a file just over the limit is
                // read whole and refused by name, a far larger body is cut off.
                .layer(DefaultBodyLimit::max(MAX_FILE_BYTES + 1024 * 1024)),
        )
        .route("/imports/{id}", get(import_page))
        .route("/imports/{id}/mapping", post(save_mapping))
        .route("/imports/{id}/start", post(start))
        .route("/imports/{id}/rejected.csv", get(rejected_report))
}

/// How long an idle import worker waits before it looks for a started import again.
const POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// The import worker that every server runs beside the web server: it runs started imports
/// of any workspace one at a time, and takes over those whose server died mid-way.
pub(crate) async fn work(db: aura_platform::db::AppPool) {
    loop {
        match imports::run_next(&db).await {
            Ok(Ran::Idle) => tokio::time::sleep(POLL).await,
            Ok(Ran::Finished(id)) => tracing::info!(import = %id, "import finished"),
            Ok(Ran::Failed(id, error)) => {
                tracing::warn!(import = %id, error = %error, "import failed and was rolled back")
            }
            Err(err) => {
                tracing::warn!(error = %err, "import round failed");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

#[derive(Template)]
#[template(path = "imports/list.html")]
struct ImportsPage {
    chrome: Chrome,
    csrf_token: String,
    imports: Vec<Import>,
    entity: String,
    encoding: String,
    encodings: [(&'static str, &'static str); 4],
    errors: Errors,
}

async fn list_page(
    state: &AppState,
    member: &Member,
    entity: String,
    encoding: String,
    errors: Errors,
) -> Result<ImportsPage, WebError> {
    Ok(ImportsPage {
        chrome: Chrome::for_member(Section::None, member),
        csrf_token: member.signed_in.csrf_token.clone(),
        imports: imports::recent(&state.db, member.signed_in.context).await?,
        entity,
        encoding,
        encodings: csv_file::ENCODINGS,
        errors,
    })
}

async fn imports_page(State(state): State<AppState>, member: Member) -> Result<Response, WebError> {
    member.require(Permission::AssignContacts)?;
    let page = list_page(
        &state,
        &member,
        "contact".into(),
        String::new(),
        Errors::default(),
    )
    .await?;
    Ok(render(&page))
}

/// The upload form's fields besides the file.
#[derive(Default)]
struct UploadForm {
    csrf_token: String,
    entity: String,
    encoding: String,
    file_name: String,
    bytes: Vec<u8>,
    too_large: bool,
}

async fn read_upload(mut multipart: Multipart) -> Result<UploadForm, WebError> {
    let mut form = UploadForm::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                form.too_large = true;
                break;
            }
            Err(_) => return Err(WebError::MalformedBody),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            form.file_name = field.file_name().unwrap_or_default().to_owned();
        }
        match field.bytes().await {
            Ok(bytes) => match name.as_str() {
                "file" => form.bytes = bytes.to_vec(),
                "csrf_token" => form.csrf_token = String::from_utf8_lossy(&bytes).into_owned(),
                "entity" => form.entity = String::from_utf8_lossy(&bytes).into_owned(),
                "encoding" => form.encoding = String::from_utf8_lossy(&bytes).into_owned(),
                _ => {}
            },
            Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                form.too_large = true;
                break;
            }
            Err(_) => return Err(WebError::MalformedBody),
        }
    }
    Ok(form)
}

async fn upload(
    State(state): State<AppState>,
    member: Member,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    member.require(Permission::AssignContacts)?;
    // A post that is not a multipart form carries no token that could be read: refused as a
    // form without one, like every other form.
    let multipart = multipart.map_err(|_| WebError::CsrfRejected)?;
    let form = read_upload(multipart).await?;
    // A body cut short by the size limit may lack the token: the size is what to say then.
    let mut errors = Errors::default();
    if form.too_large {
        errors.add(
            "file",
            "The file is larger than 20 MB: split it into several files.",
        );
    } else {
        check_csrf(member.csrf_token(), &form.csrf_token)?;
        match ImportEntity::parse(&form.entity) {
            None => errors.add("entity", "Choose organizations, contacts or deals."),
            Some(entity) => {
                let upload = Upload {
                    entity,
                    file_name: &form.file_name,
                    bytes: &form.bytes,
                    encoding: Some(form.encoding.as_str()),
                };
                match imports::upload(&state.db, member.signed_in.context, &upload).await {
                    Ok(id) => return Ok(Redirect::to(&format!("/imports/{id}")).into_response()),
                    Err(WriteError::Invalid(found)) => errors.extend(found, &[]),
                    Err(other) => return Err(other.into()),
                }
            }
        }
    }
    let status = if form.too_large {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = list_page(&state, &member, form.entity, form.encoding, errors).await?;
    Ok((status, render(&page)).into_response())
}

/// A column of the file in the mapping form.
struct Column {
    index: usize,
    header: String,
    /// The key of the field it goes to ("" for none).
    target: String,
}

#[derive(Template)]
#[template(path = "imports/import.html")]
struct ImportPage {
    chrome: Chrome,
    csrf_token: String,
    import: Import,
    columns: Vec<Column>,
    choices: Vec<FieldChoice>,
    /// The mapped columns, in order, with their field's key: the preview's columns.
    mapped: Vec<(usize, String, String)>,
    /// The keys of `mapped`: a row's problem under another key shows in its result cell.
    mapped_keys: Vec<String>,
    preview: Option<Preview>,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "imports/progress.html")]
struct ProgressFragment {
    import: Import,
}

async fn import_page(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<ImportId>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    member.require(Permission::AssignContacts)?;
    let import = imports::get(&state.db, member.signed_in.context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    if wants_fragment(&headers) {
        return Ok(vary_on_htmx(render(&ProgressFragment { import })));
    }
    let page = import_view(&state, &member, import, Errors::default()).await?;
    Ok(vary_on_htmx(render(&page)))
}

async fn import_view(
    state: &AppState,
    member: &Member,
    import: Import,
    errors: Errors,
) -> Result<ImportPage, WebError> {
    let context = member.signed_in.context;
    let (columns, choices, mapped, preview): (_, _, Vec<(usize, String, String)>, _) =
        if import.status == ImportStatus::Uploaded {
            let mapping = imports::mapping(&state.db, context, &import).await?;
            let choices = imports::field_choices(&state.db, context, import.entity).await?;
            let columns = columns(&import, &mapping);
            let mapped = mapping
                .0
                .iter()
                .map(|(column, target)| {
                    let header = import.headers.get(*column).cloned().unwrap_or_default();
                    (*column, header, target.key())
                })
                .collect();
            let preview = imports::preview(&state.db, context, import.id).await?;
            (columns, choices, mapped, preview)
        } else {
            (Vec::new(), Vec::new(), Vec::new(), None)
        };
    let mapped_keys = mapped.iter().map(|(_, _, key)| key.clone()).collect();
    Ok(ImportPage {
        chrome: Chrome::for_member(Section::None, member),
        csrf_token: member.signed_in.csrf_token.clone(),
        import,
        columns,
        choices,
        mapped,
        mapped_keys,
        preview,
        errors,
    })
}

fn columns(import: &Import, mapping: &Mapping) -> Vec<Column> {
    import
        .headers
        .iter()
        .enumerate()
        .map(|(index, header)| Column {
            index,
            header: header.clone(),
            target: mapping.0.get(&index).map(|t| t.key()).unwrap_or_default(),
        })
        .collect()
}

/// The mapping form: `column_<index>` = a field's key, or "" to leave the column out.
async fn save_mapping(
    State(state): State<AppState>,
    Id(id): Id<ImportId>,
    MemberForm { member, form }: MemberForm<HashMap<String, String>>,
) -> Result<Response, WebError> {
    member.require(Permission::AssignContacts)?;
    let context = member.signed_in.context;
    let import = imports::get(&state.db, context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let columns: Vec<String> = (0..import.headers.len())
        .map(|i| {
            form.get(&format!("column_{i}"))
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    match imports::set_mapping(&state.db, context, id, &columns).await {
        Ok(()) => Ok(Redirect::to(&format!("/imports/{id}#preview")).into_response()),
        Err(WriteError::Invalid(found)) => {
            let mut errors = Errors::default();
            errors.extend(found, &[]);
            let mut page = import_view(&state, &member, import, errors).await?;
            // Show what the member chose, not what was saved before.
            for column in &mut page.columns {
                column.target = columns[column.index].clone();
            }
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct StartForm {
    #[serde(default)]
    duplicates: String,
}

async fn start(
    State(state): State<AppState>,
    Id(id): Id<ImportId>,
    MemberForm { member, form }: MemberForm<StartForm>,
) -> Result<Response, WebError> {
    member.require(Permission::AssignContacts)?;
    let context = member.signed_in.context;
    let refused = match Duplicates::parse(&form.duplicates) {
        None => vec![aura_crm::FieldError {
            field: "duplicates".into(),
            message: "Choose whether to skip or update duplicates.".into(),
        }],
        Some(duplicates) => match imports::start(&state.db, context, id, duplicates).await {
            Ok(()) => return Ok(Redirect::to(&format!("/imports/{id}")).into_response()),
            Err(WriteError::Invalid(found)) => found,
            Err(other) => return Err(other.into()),
        },
    };
    let import = imports::get(&state.db, context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let mut errors = Errors::default();
    errors.extend(refused, &[]);
    let page = import_view(&state, &member, import, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

async fn rejected_report(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<ImportId>,
) -> Result<Response, WebError> {
    member.require(Permission::AssignContacts)?;
    let report = imports::rejected_report(&state.db, member.signed_in.context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"rejected-rows-{id}.csv\""),
            ),
        ],
        report,
    )
        .into_response())
}
