//! Settings → Sales processes (F11, journey 4): the list of processes and one page per process
//! with its stages. Admins (`ChangeCatalog`) get the forms; everyone else (`ReadCatalog`) the
//! same pages without them. Stages reorder by drag and drop (SortableJS posts the new order
//! through the hidden order form) and by keyboard (Move up / Move down buttons, announced in a
//! live region); both answer htmx with the stages section and a browser with the whole page,
//! from the same handler. Every refusal is shown at its field, with the input kept.

use askama::Template;
use aura_crm::ids::{ProcessId, StageId};
use aura_crm::processes::{
    self, OpenDealsChoice, Outcome, Process, ProcessInput, Stage, StageInput,
};
use aura_crm::WriteError;
use aura_platform::auth::LoginSource;
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::extract::{Id, MemberForm};
use crate::forms::{self, optional_id, version, Errors, NoFields};
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::rate_limit::ClientAddress;
use crate::session::Member;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings/processes", get(list_page).post(create))
        .route("/settings/processes/{id}", get(process_page).post(rename))
        .route("/settings/processes/{id}/default", post(make_default))
        .route("/settings/processes/{id}/archive", post(archive))
        .route("/settings/processes/{id}/unarchive", post(unarchive))
        .route(
            "/settings/processes/{id}/delete",
            get(deletion_page).post(delete),
        )
        .route("/settings/processes/{id}/delete/code", post(send_code))
        .route("/settings/processes/{id}/stages", post(add_stage))
        .route("/settings/processes/{id}/stages/order", post(reorder))
        .route("/settings/stages/{id}", post(edit_stage))
        .route("/settings/stages/{id}/move", post(move_stage))
        .route("/settings/stages/{id}/delete", post(delete_stage))
}

fn notice(key: Option<&str>) -> Option<&'static str> {
    Some(match key? {
        "created" => "Process created, with the standard stages to adapt.",
        "saved" => "Process saved.",
        "default" => "This is now the default process for new deals.",
        "archived" => "Process archived: its deals stay, no new deal goes into it.",
        "unarchived" => "Process brought back.",
        "deleted" => "Process deleted.",
        "stage_added" => "Stage added at the end: move it where it belongs.",
        "stage_saved" => "Stage saved.",
        "stage_deleted" => "Stage deleted.",
        "reordered" => "Stage order saved.",
        _ => return None,
    })
}

#[derive(Deserialize, Default)]
struct NoticeQuery {
    notice: Option<String>,
}

// The list --------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "processes/list.html")]
struct ListPage {
    chrome: Chrome,
    csrf_token: String,
    can_change: bool,
    processes: Vec<Process>,
    form: ProcessForm,
    errors: Errors,
    notice: Option<&'static str>,
}

impl ListPage {
    async fn load(state: &AppState, member: &Member) -> Result<Self, WebError> {
        member.require(Permission::ReadCatalog)?;
        Ok(Self {
            chrome: Chrome::for_member(Section::Processes, member),
            csrf_token: member.signed_in.csrf_token.clone(),
            can_change: member.may(Permission::ChangeCatalog),
            processes: processes::list(&state.db, member.signed_in.context).await?,
            form: ProcessForm::default(),
            errors: Errors::default(),
            notice: None,
        })
    }
}

async fn list_page(
    State(state): State<AppState>,
    member: Member,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let mut page = ListPage::load(&state, &member).await?;
    page.notice = notice(query.notice.as_deref());
    Ok(render(&page))
}

#[derive(Deserialize, Default, Clone)]
struct ProcessForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    version: String,
}

impl ProcessForm {
    fn input(&self) -> ProcessInput {
        ProcessInput {
            name: self.name.clone(),
            description: Some(self.description.clone()),
        }
    }

    fn of(process: &Process) -> Self {
        Self {
            name: process.name.clone(),
            description: process.description.clone().unwrap_or_default(),
            version: process.version.to_string(),
        }
    }
}

/// A refused write's problems by field, with the status to answer; anything else is passed on.
fn problems<T: serde::Serialize>(
    err: WriteError<T>,
) -> Result<(StatusCode, Errors, Option<T>), WebError> {
    forms::write_problems(
        err,
        "Another one already has this name: choose another.",
        None,
    )
}

async fn create(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<ProcessForm>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    match processes::create(&state.db, member.signed_in.context, &form.input()).await {
        Ok(id) => {
            Ok(Redirect::to(&format!("/settings/processes/{id}?notice=created")).into_response())
        }
        Err(err) => {
            let (status, errors, _) = problems(err)?;
            let mut page = ListPage::load(&state, &member).await?;
            page.form = form;
            page.errors = errors;
            Ok((status, render(&page)).into_response())
        }
    }
}

// One process ------------------------------------------------------------------------------------

/// A stage form as sent (text, kept as typed when refused).
#[derive(Deserialize, Default, Clone)]
struct StageForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    win_probability: String,
    #[serde(default)]
    rotting_days: String,
    requires_amount: Option<String>,
    requires_close_date: Option<String>,
    requires_contact: Option<String>,
    requires_product: Option<String>,
    #[serde(default)]
    version: String,
}

fn flag(on: bool) -> Option<String> {
    on.then(|| "on".to_owned())
}

impl StageForm {
    fn of(stage: &Stage) -> Self {
        Self {
            name: stage.name.clone(),
            outcome: stage.outcome.as_str().to_owned(),
            win_probability: stage.win_probability.to_string(),
            rotting_days: stage
                .rotting_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
            requires_amount: flag(stage.requires_amount),
            requires_close_date: flag(stage.requires_close_date),
            requires_contact: flag(stage.requires_contact),
            requires_product: flag(stage.requires_product),
            version: stage.version.to_string(),
        }
    }

    fn blank() -> Self {
        Self {
            outcome: "open".to_owned(),
            ..Self::default()
        }
    }

    fn checked(value: &Option<String>) -> bool {
        value.is_some()
    }

    /// The input for the domain, or the problems of the text that does not parse.
    fn input(&self) -> Result<StageInput, Errors> {
        let mut errors = Errors::default();
        let outcome = Outcome::parse(&self.outcome);
        if outcome.is_none() {
            errors.add("outcome", "Choose open, won or lost.");
        }
        let probability = match processes::parse_percent("win_probability", &self.win_probability) {
            Ok(p) => p,
            Err(e) => {
                errors.add("win_probability", e.message);
                None
            }
        };
        let rotting = self.rotting_days.trim();
        let rotting_days = if rotting.is_empty() {
            None
        } else {
            match rotting.parse::<i32>() {
                Ok(days) => Some(days),
                Err(_) => {
                    errors.add(
                        "rotting_days",
                        "Rotting days is a number of days from 1 to 3650, or empty for never.",
                    );
                    None
                }
            }
        };
        match outcome {
            Some(outcome) if errors.is_empty() => Ok(StageInput {
                name: self.name.clone(),
                outcome,
                win_probability: probability,
                rotting_days,
                requires_amount: Self::checked(&self.requires_amount),
                requires_close_date: Self::checked(&self.requires_close_date),
                requires_contact: Self::checked(&self.requires_contact),
                requires_product: Self::checked(&self.requires_product),
            }),
            _ => Err(errors),
        }
    }
}

/// One stage on the page: its settings form (as stored, or as the admin sent it when
/// refused), its place, and where its deals may go when it is deleted.
struct StageRow {
    stage: Stage,
    form: StageForm,
    errors: Errors,
    /// Someone saved the stage first: theirs, beside the admin's kept input.
    stale: Option<Stage>,
    first: bool,
    last: bool,
    position: usize,
    /// The other stages, for the deals of this one.
    targets: Vec<(StageId, String)>,
    /// The control to focus after a keyboard move: "up" or "down".
    focus: &'static str,
}

/// The stages section: its own fragment for htmx, and part of the page.
struct StagesView {
    process_id: ProcessId,
    can_change: bool,
    csrf_token: String,
    rows: Vec<StageRow>,
    new_stage: StageForm,
    new_errors: Errors,
    /// What a move or reorder did, for the live region.
    status: Option<String>,
    /// A refusal about the whole list (reorder).
    alert: Option<String>,
    outcomes: [Outcome; 3],
}

impl StagesView {
    fn new(process: &Process, member: &Member) -> Self {
        let count = process.stages.len();
        let rows = process
            .stages
            .iter()
            .enumerate()
            .map(|(at, stage)| StageRow {
                stage: stage.clone(),
                form: StageForm::of(stage),
                errors: Errors::default(),
                stale: None,
                first: at == 0,
                last: at + 1 == count,
                position: at + 1,
                targets: process
                    .stages
                    .iter()
                    .filter(|s| s.id != stage.id)
                    .map(|s| (s.id, s.name.clone()))
                    .collect(),
                focus: "",
            })
            .collect();
        Self {
            process_id: process.id,
            can_change: member.may(Permission::ChangeCatalog),
            csrf_token: member.signed_in.csrf_token.clone(),
            rows,
            new_stage: StageForm::blank(),
            new_errors: Errors::default(),
            status: None,
            alert: None,
            outcomes: Outcome::ALL,
        }
    }

    fn row(&mut self, id: StageId) -> Option<&mut StageRow> {
        self.rows.iter_mut().find(|r| r.stage.id == id)
    }
}

#[derive(Template)]
#[template(path = "processes/process.html")]
struct ProcessPage {
    chrome: Chrome,
    csrf_token: String,
    process: Process,
    details: ProcessForm,
    details_errors: Errors,
    details_stale: Option<Process>,
    /// A refusal of make-default or archive.
    action_error: Option<String>,
    notice: Option<&'static str>,
    view: StagesView,
}

#[derive(Template)]
#[template(path = "processes/stages.html")]
struct StagesFragment {
    view: StagesView,
}

async fn load_process(
    state: &AppState,
    member: &Member,
    id: ProcessId,
) -> Result<Process, WebError> {
    member.require(Permission::ReadCatalog)?;
    processes::get(&state.db, member.signed_in.context, id)
        .await?
        .ok_or(WebError::NotFound)
}

impl ProcessPage {
    fn new(member: &Member, process: Process) -> Self {
        Self {
            chrome: Chrome::for_member(Section::Processes, member),
            csrf_token: member.signed_in.csrf_token.clone(),
            details: ProcessForm::of(&process),
            details_errors: Errors::default(),
            details_stale: None,
            action_error: None,
            notice: None,
            view: StagesView::new(&process, member),
            process,
        }
    }
}

async fn process_page(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<ProcessId>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let process = load_process(&state, &member, id).await?;
    let mut page = ProcessPage::new(&member, process);
    page.notice = notice(query.notice.as_deref());
    Ok(render(&page))
}

fn to_process(id: ProcessId, notice: &str) -> Response {
    Redirect::to(&format!("/settings/processes/{id}?notice={notice}")).into_response()
}

async fn rename(
    State(state): State<AppState>,
    Id(id): Id<ProcessId>,
    MemberForm { member, form }: MemberForm<ProcessForm>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    let version = version(&form.version);
    let context = member.signed_in.context;
    match processes::update(&state.db, context, id, version, &form.input()).await {
        Ok(_) => Ok(to_process(id, "saved")),
        Err(err) => {
            let (status, errors, stale) = problems(err)?;
            let process = load_process(&state, &member, id).await?;
            let mut page = ProcessPage::new(&member, process);
            page.details = form;
            page.details_errors = errors;
            if let Some(current) = stale {
                // Keep what the admin typed; saving again applies it over the newer version.
                page.details.version = current.version.to_string();
                page.details_stale = Some(current);
            }
            Ok((status, render(&page)).into_response())
        }
    }
}

/// Runs a process-wide action (default, archive), answering a refusal on the page.
async fn process_action(
    state: &AppState,
    member: &Member,
    id: ProcessId,
    done: &str,
    result: Result<(), WriteError<Process>>,
) -> Result<Response, WebError> {
    match result {
        Ok(()) => Ok(to_process(id, done)),
        Err(err) => {
            let (status, errors, _) = problems(err)?;
            let process = load_process(state, member, id).await?;
            let mut page = ProcessPage::new(member, process);
            page.action_error = ["is_default", "name"]
                .iter()
                .find_map(|f| errors.get(f))
                .map(str::to_owned);
            Ok((status, render(&page)).into_response())
        }
    }
}

async fn make_default(
    State(state): State<AppState>,
    Id(id): Id<ProcessId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    let result = processes::make_default(&state.db, member.signed_in.context, id).await;
    process_action(&state, &member, id, "default", result).await
}

async fn archive(
    State(state): State<AppState>,
    Id(id): Id<ProcessId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    let result = processes::set_archived(&state.db, member.signed_in.context, id, true).await;
    process_action(&state, &member, id, "archived", result).await
}

async fn unarchive(
    State(state): State<AppState>,
    Id(id): Id<ProcessId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    let result = processes::set_archived(&state.db, member.signed_in.context, id, false).await;
    process_action(&state, &member, id, "unarchived", result).await
}

// Deleting a process -----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "processes/delete.html")]
struct DeletionPage {
    chrome: Chrome,
    csrf_token: String,
    process: Process,
    /// No mail server carries codes: the admin gives their password again instead.
    by_password: bool,
    code_sent: bool,
    form: DeletionForm,
    errors: Errors,
}

#[derive(Deserialize, Default)]
struct DeletionForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    lost_stage_id: String,
    #[serde(default)]
    lost_reason: String,
}

impl DeletionPage {
    async fn load(state: &AppState, member: &Member, id: ProcessId) -> Result<Self, WebError> {
        member.require(Permission::ChangeCatalog)?;
        let process = load_process(state, member, id).await?;
        Ok(Self {
            chrome: Chrome::for_member(Section::Processes, member),
            csrf_token: member.signed_in.csrf_token.clone(),
            process,
            by_password: !state.mailer.delivers(),
            code_sent: false,
            form: DeletionForm::default(),
            errors: Errors::default(),
        })
    }
}

async fn deletion_page(
    State(state): State<AppState>,
    member: Member,
    Id(id): Id<ProcessId>,
) -> Result<Response, WebError> {
    Ok(render(&DeletionPage::load(&state, &member, id).await?))
}

async fn send_code(
    State(state): State<AppState>,
    Id(id): Id<ProcessId>,
    MemberForm { member, form }: MemberForm<DeletionForm>,
) -> Result<Response, WebError> {
    // Without a mail server no code is issued: only the page could show it, and a code on the
    // page proves nothing about who holds the session.
    if !state.mailer.delivers() {
        return Err(WebError::NotFound);
    }
    let mut page = DeletionPage::load(&state, &member, id).await?;
    let issued = processes::request_deletion_code(&state.db, member.signed_in.context, id).await?;
    state.mailer.deliver(&state.db, &issued.message).await;
    page.code_sent = true;
    // The choice for open deals made before asking for the code stays.
    page.form = DeletionForm {
        code: String::new(),
        password: String::new(),
        ..form
    };
    Ok(render(&page))
}

async fn delete(
    State(state): State<AppState>,
    client: ClientAddress,
    Id(id): Id<ProcessId>,
    MemberForm { member, form }: MemberForm<DeletionForm>,
) -> Result<Response, WebError> {
    let mut page = DeletionPage::load(&state, &member, id).await?;
    let source = LoginSource::from(client.ip());
    let proof = state.step_up_proof(&form.code, &form.password, &source);
    let choice = OpenDealsChoice {
        lost_stage_id: optional_id(Some(&form.lost_stage_id)),
        lost_reason: Some(form.lost_reason.clone()),
    };
    match processes::delete(&state.db, member.signed_in.context, id, proof, &choice).await {
        Ok(_) => Ok(Redirect::to("/settings/processes?notice=deleted").into_response()),
        Err(err) => {
            let (status, errors, _) = problems(err)?;
            page.errors = errors;
            page.form = DeletionForm {
                code: String::new(),
                password: String::new(),
                ..form
            };
            Ok((status, render(&page)).into_response())
        }
    }
}

// Stages -----------------------------------------------------------------------------------------

/// Answers a stage action: the stages section for htmx, else the page (with `status`).
fn stages_response(
    headers: &HeaderMap,
    member: &Member,
    process: Process,
    status: StatusCode,
    adjust: impl FnOnce(&mut StagesView),
) -> Response {
    let mut page = ProcessPage::new(member, process);
    adjust(&mut page.view);
    if wants_fragment(headers) {
        return vary_on_htmx((status, render(&StagesFragment { view: page.view })).into_response());
    }
    vary_on_htmx((status, render(&page)).into_response())
}

async fn add_stage(
    State(state): State<AppState>,
    headers: HeaderMap,
    Id(id): Id<ProcessId>,
    MemberForm { member, form }: MemberForm<StageForm>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    let refused = match form.input() {
        Err(errors) => (StatusCode::UNPROCESSABLE_ENTITY, errors),
        Ok(input) => {
            match processes::add_stage(&state.db, member.signed_in.context, id, &input).await {
                Ok(stage) => {
                    return Ok(Redirect::to(&format!(
                        "/settings/processes/{id}?notice=stage_added#stage-{stage}"
                    ))
                    .into_response())
                }
                Err(err) => {
                    let (status, errors, _) = problems(err)?;
                    (status, errors)
                }
            }
        }
    };
    let process = load_process(&state, &member, id).await?;
    Ok(stages_response(
        &headers,
        &member,
        process,
        refused.0,
        |view| {
            view.new_stage = form;
            view.new_errors = refused.1;
        },
    ))
}

async fn edit_stage(
    State(state): State<AppState>,
    headers: HeaderMap,
    Id(id): Id<StageId>,
    MemberForm { member, form }: MemberForm<StageForm>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    let context = member.signed_in.context;
    let process = processes::process_of_stage(&state.db, context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let version = version(&form.version);
    let (status, errors, stale) = match form.input() {
        Err(errors) => (StatusCode::UNPROCESSABLE_ENTITY, errors, None),
        Ok(input) => match processes::update_stage(&state.db, context, id, version, &input).await {
            Ok(_) => {
                return Ok(Redirect::to(&format!(
                    "/settings/processes/{}?notice=stage_saved#stage-{id}",
                    process.id
                ))
                .into_response())
            }
            Err(err) => problems(err)?,
        },
    };
    let process = load_process(&state, &member, process.id).await?;
    Ok(stages_response(
        &headers,
        &member,
        process,
        status,
        |view| {
            if let Some(row) = view.row(id) {
                row.form = form;
                row.errors = errors;
                if let Some(current) = stale {
                    row.form.version = current.version.to_string();
                    row.stale = Some(current);
                }
            }
        },
    ))
}

#[derive(Deserialize)]
struct MoveForm {
    #[serde(default)]
    direction: String,
}

async fn move_stage(
    State(state): State<AppState>,
    headers: HeaderMap,
    Id(id): Id<StageId>,
    MemberForm { member, form }: MemberForm<MoveForm>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    let up = match form.direction.as_str() {
        "up" => true,
        "down" => false,
        _ => {
            // A stage the member cannot see is not found, whatever the form says.
            processes::process_of_stage(&state.db, member.signed_in.context, id)
                .await?
                .ok_or(WebError::NotFound)?;
            return Err(WriteError::<()>::invalid("direction", "Say up or down.").into());
        }
    };
    let process = processes::move_stage(&state.db, member.signed_in.context, id, up).await?;
    let position = process.stages.iter().position(|s| s.id == id);
    let name = position.map(|p| process.stages[p].name.clone());
    let count = process.stages.len();
    Ok(stages_response(
        &headers,
        &member,
        process,
        StatusCode::OK,
        |view| {
            if let (Some(at), Some(name)) = (position, name) {
                view.status = Some(format!(
                    "Moved “{name}” {}: it is now stage {} of {count}.",
                    if up { "up" } else { "down" },
                    at + 1
                ));
                if let Some(row) = view.rows.get_mut(at) {
                    // Keep focus on the control used, or on the other one at the end of the list.
                    row.focus = match (up, row.first, row.last) {
                        (true, true, _) => "down",
                        (false, _, true) => "up",
                        (true, _, _) => "up",
                        (false, _, _) => "down",
                    };
                }
            }
        },
    ))
}

#[derive(Deserialize)]
struct OrderForm {
    #[serde(default)]
    stage_ids: Vec<String>,
}

async fn reorder(
    State(state): State<AppState>,
    headers: HeaderMap,
    Id(id): Id<ProcessId>,
    MemberForm { member, form }: MemberForm<OrderForm>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    let order: Vec<StageId> = form
        .stage_ids
        .iter()
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let context = member.signed_in.context;
    match processes::reorder(&state.db, context, id, &order).await {
        Ok(process) => {
            let names: Vec<String> = process.stages.iter().map(|s| s.name.clone()).collect();
            Ok(stages_response(
                &headers,
                &member,
                process,
                StatusCode::OK,
                |view| {
                    view.status = Some(format!("Stage order saved: {}.", names.join(", ")));
                },
            ))
        }
        Err(err) => {
            let (status, errors, _) = problems(err)?;
            let process = load_process(&state, &member, id).await?;
            let message = errors.get("stage_ids").map(str::to_owned);
            Ok(stages_response(
                &headers,
                &member,
                process,
                status,
                |view| {
                    view.alert = message;
                },
            ))
        }
    }
}

#[derive(Deserialize)]
struct StageDeletionForm {
    #[serde(default)]
    target_stage_id: String,
}

async fn delete_stage(
    State(state): State<AppState>,
    headers: HeaderMap,
    Id(id): Id<StageId>,
    MemberForm { member, form }: MemberForm<StageDeletionForm>,
) -> Result<Response, WebError> {
    member.require(Permission::ChangeCatalog)?;
    let context = member.signed_in.context;
    let process = processes::process_of_stage(&state.db, context, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let target = optional_id(Some(&form.target_stage_id));
    match processes::delete_stage(&state.db, context, id, target).await {
        Ok(_) => Ok(to_process(process.id, "stage_deleted")),
        Err(err) => {
            let (status, errors, _) = problems(err)?;
            Ok(stages_response(
                &headers,
                &member,
                process,
                status,
                |view| {
                    if let Some(row) = view.row(id) {
                        // The shape rule is about the whole process; it shows at the stage.
                        let message = ["target_stage_id", "stages"]
                            .iter()
                            .find_map(|f| errors.get(f))
                            .unwrap_or("This stage cannot be deleted.");
                        row.errors.add("delete", message);
                    }
                },
            ))
        }
    }
}
