//! Settings -> Export (NFR-D2): an admin exports the whole workspace with a fresh one-time code
//! (or, where no mail server carries codes, their password, as for removing a member), watches
//! its progress (htmx polls a fragment of the same page) and downloads the file until it
//! expires. Managers and reps are refused (403).

use askama::Template;
use aura_platform::auth::LoginSource;
use aura_platform::db::TenantContext;
use aura_platform::exports::{self, Download, Export, ExportError, ExportFormat, ExportId};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::extract::{Id, MemberForm};
use crate::forms::NoFields;
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::rate_limit::ClientAddress;
use crate::session::Member;
use crate::time::Zone;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings/export", get(export_page).post(start))
        .route("/settings/export/code", post(send_code))
        .route("/settings/export/{id}/download", get(download_page))
}

#[derive(Template)]
#[template(path = "exports/page.html")]
struct ExportPage {
    chrome: Chrome,
    exports: Vec<Export>,
    zone: Zone,
    /// No mail server carries codes: the admin gives their password again instead.
    by_password: bool,
    code_sent: bool,
    format: ExportFormat,
    formats: [ExportFormat; 2],
    error: Option<&'static str>,
    started: bool,
    /// When the workspace is deleted, if it is awaiting deletion: this page is all that is
    /// left open in it.
    deletion_due: Option<String>,
}

/// The list of exports alone: what htmx polls while one is in progress.
#[derive(Template)]
#[template(path = "exports/list.html")]
struct ExportList {
    exports: Vec<Export>,
    zone: Zone,
}

impl ExportPage {
    async fn load(state: &AppState, member: &Member) -> Result<Self, WebError> {
        Ok(Self {
            chrome: Chrome::for_member(Section::Settings, member),
            exports: exports::list(&state.db, member.signed_in.context)
                .await
                .map_err(export_error)?,
            zone: member.zone(),
            by_password: !state.mailer.delivers(),
            code_sent: false,
            format: ExportFormat::Csv,
            formats: [ExportFormat::Csv, ExportFormat::Jsonl],
            error: None,
            started: false,
            deletion_due: member
                .workspace
                .termination_due_at
                .filter(|_| member.workspace.is_closing())
                .map(|at| {
                    let zone = member.zone();
                    format!("{} ({})", zone.when(&at), zone.name())
                }),
        })
    }

    /// An export is waiting or running: the list polls for its progress.
    fn polling(&self) -> bool {
        polling(&self.exports)
    }
}

impl ExportList {
    fn polling(&self) -> bool {
        polling(&self.exports)
    }
}

fn polling(exports: &[Export]) -> bool {
    exports.iter().any(Export::in_progress)
}

pub(crate) fn export_error(err: ExportError) -> WebError {
    match err {
        ExportError::NotAdmin => WebError::Forbidden,
        ExportError::NotFound | ExportError::NotReady => WebError::NotFound,
        ExportError::Expired => WebError::ExportExpired,
        ExportError::AlreadyRunning => WebError::Conflict {
            constraint: "export_running".into(),
        },
        ExportError::WrongCode | ExportError::NoCode | ExportError::WrongPassword => {
            WebError::Invalid {
                constraint: "code".into(),
            }
        }
        ExportError::Db(err) => err.into(),
    }
}

#[derive(Deserialize)]
struct StartedQuery {
    started: Option<String>,
}

async fn export_page(
    State(state): State<AppState>,
    member: Member,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<StartedQuery>,
) -> Result<Response, WebError> {
    let page = ExportPage::load(&state, &member).await?;
    if wants_fragment(&headers) {
        return Ok(vary_on_htmx(render(&ExportList {
            exports: page.exports,
            zone: page.zone,
        })));
    }
    Ok(vary_on_htmx(render(&ExportPage {
        started: query.started.is_some(),
        ..page
    })))
}

async fn send_code(
    State(state): State<AppState>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    // Without a mail server no code is issued: only the page could show it, and a code on the
    // page proves nothing about who holds the session.
    if !state.mailer.delivers() {
        return Err(WebError::NotFound);
    }
    let issued = exports::request_code(&state.db, member.signed_in.context)
        .await
        .map_err(export_error)?;
    state.mailer.deliver(&state.db, &issued.message).await;
    let page = ExportPage::load(&state, &member).await?;
    Ok(render(&ExportPage {
        code_sent: true,
        ..page
    }))
}

#[derive(Deserialize)]
struct StartForm {
    #[serde(default)]
    format: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

async fn start(
    State(state): State<AppState>,
    client: ClientAddress,
    MemberForm { member, form }: MemberForm<StartForm>,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let page = ExportPage::load(&state, &member).await?;
    let Some(format) = ExportFormat::parse(&form.format) else {
        let page = ExportPage {
            error: Some("Choose the file's format."),
            ..page
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response());
    };
    let source = LoginSource::from(client.ip());
    let proof = state.step_up_proof(&form.code, &form.password, &source);
    let (status, error) = match exports::start(&state.db, context, format, proof).await {
        Ok(_) => return Ok(Redirect::to("/settings/export?started=1").into_response()),
        Err(ExportError::WrongCode) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "That code is not right. Check the latest email and try again.",
        ),
        Err(ExportError::NoCode) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "There is no usable code: it expired (codes last ten minutes), was used, or was \
             guessed wrong five times. Ask for a new one.",
        ),
        Err(ExportError::WrongPassword) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "That is not your password, or your account is locked for a while. After 5 failed \
             attempts it is locked for 15 minutes.",
        ),
        Err(ExportError::AlreadyRunning) => (
            StatusCode::CONFLICT,
            "An export is already waiting or running: wait for it to finish, then start another.",
        ),
        Err(other) => return Err(export_error(other)),
    };
    let page = ExportPage {
        error: Some(error),
        format,
        ..page
    };
    Ok((status, render(&page)).into_response())
}

async fn download_page(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<ExportId>,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    let download = exports::open_download(&state.db, context, id)
        .await
        .map_err(export_error)?;
    Ok(file_response(
        &state,
        context,
        member.workspace.slug.as_str(),
        download,
    ))
}

/// The file as an attachment, streamed from the stored chunks.
pub(crate) fn file_response(
    state: &AppState,
    context: TenantContext,
    slug: &str,
    download: Download,
) -> Response {
    let export = &download.export;
    let name = format!(
        "aura-{slug}-{}.{}",
        export.created_at.format("%Y-%m-%d"),
        export.format.extension()
    );
    let mut response =
        Body::from_stream(exports::stream(state.db.clone(), context, &download)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(export.format.media_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(export.bytes));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
