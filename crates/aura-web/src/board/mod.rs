//! The pipeline board pages (issue 12): `/board` (the member's last chosen process, else the
//! default) and `/board/{process_id}`, with an always-visible process switcher, filters, one
//! column per open stage with its totals and first cards ("Show more" loads the next ones in
//! place), and the won and lost stages as drop targets. A card moves by drag and drop
//! (SortableJS fills and posts the board's move form) or by its "Move to" control; both post to
//! the same handler, which moves with the deal's version through `deals::move_to_stage` and
//! answers with the board as it now is: a refused move (missing fields, stale version, no
//! permission) leaves the card where it was, marked, with the reason and a link to the deal's
//! form, and the result is announced in a live region. A move to a lost stage without a reason
//! is refused the same way and answered with a form that asks for the reason (its field takes
//! the focus) and posts the move again with it. The organization filter is a picker: a name
//! typed with suggestions from `/organizations/options`, kept by id across moves and pages.

use askama::Template;
use aura_crm::board::{self, Board, BoardFilter, Card};
use aura_crm::deals::{self, Stage, StageMoveInput};
use aura_crm::ids::{DealId, OrganizationId, ProcessId, StageId};
use aura_crm::paging::Cursor;
use aura_crm::{organizations, WriteError};
use aura_platform::ids::UserId;
use aura_platform::members;
use aura_platform::permissions::Permission;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::extract::{Id, Ids, MemberForm};
use crate::layout::{render, vary_on_htmx, wants_fragment, Chrome, Section};
use crate::session::Member;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/board", get(chosen_board))
        .route("/board/{id}", get(board_page))
        .route("/board/{id}/move", post(move_card))
        .route("/board/{id}/stages/{stage_id}", get(more_cards))
}

/// The board's filters as the query string carries them; what does not parse is left out.
#[derive(Deserialize, Default, Clone)]
struct FilterQuery {
    #[serde(default)]
    owner: String,
    /// The organization filter as the board's links carry it (canonical: an id).
    #[serde(default)]
    organization_id: String,
    /// The organization picker's input: a name typed (or chosen from its suggestions), or an id.
    #[serde(default)]
    organization: String,
    #[serde(default)]
    close_from: String,
    #[serde(default)]
    close_to: String,
    after: Option<String>,
}

/// An organization named in the filter that does not exist (for the caller): its deals are
/// none, and the picker says so.
const NO_ORGANIZATION: uuid::Uuid = uuid::Uuid::nil();

impl FilterQuery {
    /// Resolves the organization picker's input to the canonical `organization_id` (and the
    /// organization's name for the picker), so the filter is kept by id across moves and
    /// "Show more". A name that names no organization the caller may see filters to nothing
    /// and is reported.
    async fn resolve_organization(
        &mut self,
        state: &AppState,
        member: &Member,
    ) -> Result<Option<String>, WebError> {
        let context = member.signed_in.context;
        let typed = self.organization.trim().to_owned();
        let id: Option<OrganizationId> = if typed.is_empty() {
            match self.organization_id.trim() {
                "" => return Ok(None),
                raw => raw.parse().ok(),
            }
        } else if let Ok(id) = typed.parse() {
            Some(id)
        } else {
            organizations::find_by_name(&state.db, context, &typed).await?
        };
        let found = match id {
            Some(id) => organizations::get(&state.db, context, id).await?,
            None => None,
        };
        match found {
            Some(organization) => {
                self.organization_id = organization.id.to_string();
                self.organization = organization.name;
                Ok(None)
            }
            None => {
                self.organization_id = NO_ORGANIZATION.to_string();
                let shown = if typed.is_empty() {
                    "that organization".to_owned()
                } else {
                    format!("“{typed}”")
                };
                Ok(Some(format!(
                    "There is no organization {shown} to filter by: no deals are shown."
                )))
            }
        }
    }

    fn filter(&self) -> BoardFilter {
        BoardFilter {
            owner: self
                .owner
                .trim()
                .parse::<uuid::Uuid>()
                .ok()
                .map(UserId::from),
            organization: self.organization_id.trim().parse().ok(),
            close_from: self.close_from.trim().parse().ok(),
            close_to: self.close_to.trim().parse().ok(),
        }
    }

    /// The filters as a query string (without `after`), to keep them across moves and pages.
    fn query(&self) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("owner", &self.owner),
            ("organization_id", &self.organization_id),
            ("close_from", &self.close_from),
            ("close_to", &self.close_to),
        ] {
            if !value.trim().is_empty() {
                pairs.append_pair(key, value.trim());
            }
        }
        pairs.finish()
    }
}

/// A card as the page shows it, with its money formatted and the stages it may move to.
struct CardView {
    card: Card,
    amount: String,
    /// Marked after a move: the card that moved, or that a refused move left in place.
    marked: bool,
}

struct ColumnView {
    stage: Stage,
    count: i64,
    amount: String,
    weighted: String,
    cards: Vec<CardView>,
    more: Option<String>,
}

/// What a move's answer says: announced in the live region; a refusal also shown as an alert
/// with a link to the deal's form, or, for a move to a lost stage without a reason, the form
/// that asks for it.
#[derive(Default)]
struct Outcome {
    status: Option<String>,
    refusal: Option<String>,
    deal: Option<DealId>,
    lost: Option<LostPrompt>,
}

/// The board's question when a card was dropped on (or moved to) a lost stage without a
/// reason: the move again, with a lost reason field. The card meanwhile stays where it was.
struct LostPrompt {
    deal: DealId,
    deal_name: String,
    version: i64,
    stage: StageId,
    stage_name: String,
    /// What was typed (kept when refused again).
    reason: String,
    /// The field's error: set when the question was answered without a (valid) reason.
    error: Option<String>,
}

struct BoardView {
    process_id: ProcessId,
    process_name: String,
    columns: Vec<ColumnView>,
    closing: Vec<Stage>,
    /// Every stage, open ones first, for the "Move to" control.
    targets: Vec<Stage>,
    csrf_token: String,
    filter_query: String,
    outcome: Outcome,
}

#[derive(Template)]
#[template(path = "board/page.html")]
struct BoardPage {
    chrome: Chrome,
    processes: Vec<deals::ProcessChoice>,
    current: Option<ProcessId>,
    may_filter_owner: bool,
    owners: Vec<members::Member>,
    filters: FilterQuery,
    /// The organization picker's input named no organization.
    organization_error: Option<String>,
    board: Option<BoardView>,
    status: String,
}

#[derive(Template)]
#[template(path = "board/fragment.html")]
struct BoardFragment {
    board: BoardView,
    status: String,
}

#[derive(Template)]
#[template(path = "board/more.html")]
struct MoreCards {
    column: ColumnView,
    board: BoardView,
}

pub(crate) fn money(value: rust_decimal::Decimal) -> String {
    let mut value = value.round_dp(2);
    value.rescale(2);
    let text = value.to_string();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, "00"));
    let digits: Vec<char> = whole.chars().collect();
    let mut grouped = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(*c);
    }
    format!("{grouped}.{fraction}")
}

fn card_view(card: Card, outcome: &Outcome) -> CardView {
    CardView {
        amount: card.amount.map(money).unwrap_or_default(),
        marked: outcome.deal == Some(card.id),
        card,
    }
}

fn view(board: Board, member: &Member, filters: &FilterQuery, outcome: Outcome) -> BoardView {
    let mut targets: Vec<Stage> = board.columns.iter().map(|c| c.stage.clone()).collect();
    targets.extend(board.closing.iter().cloned());
    let columns = board
        .columns
        .into_iter()
        .map(|column| ColumnView {
            count: column.totals.count,
            amount: money(column.totals.amount),
            weighted: money(column.totals.weighted),
            more: column.cards.next.map(|cursor| cursor.to_string()),
            cards: column
                .cards
                .items
                .into_iter()
                .map(|card| card_view(card, &outcome))
                .collect(),
            stage: column.stage,
        })
        .collect();
    BoardView {
        process_id: board.process.id,
        process_name: board.process.name,
        columns,
        closing: board.closing,
        targets,
        csrf_token: member.signed_in.csrf_token.clone(),
        filter_query: filters.query(),
        outcome,
    }
}

async fn load(
    state: &AppState,
    member: &Member,
    process: ProcessId,
    filters: &FilterQuery,
    outcome: Outcome,
) -> Result<BoardView, WebError> {
    let board = board::board(
        &state.db,
        member.signed_in.context,
        process,
        &filters.filter(),
        None,
    )
    .await?
    .ok_or(WebError::NotFound)?;
    Ok(view(board, member, filters, outcome))
}

async fn respond(
    state: &AppState,
    headers: &HeaderMap,
    member: &Member,
    board: Option<BoardView>,
    filters: FilterQuery,
    organization_error: Option<String>,
) -> Result<Response, WebError> {
    let status = board
        .as_ref()
        .and_then(|b| b.outcome.status.clone())
        .unwrap_or_default();
    let board = match (wants_fragment(headers), board) {
        (true, Some(board)) => return Ok(vary_on_htmx(render(&BoardFragment { board, status }))),
        (_, board) => board,
    };
    let context = member.signed_in.context;
    let may_filter_owner = member.may(Permission::AllDeals);
    let owners = if may_filter_owner {
        members::list(&state.db, context)
            .await?
            .into_iter()
            .filter(|m| m.active)
            .collect()
    } else {
        Vec::new()
    };
    Ok(vary_on_htmx(render(&BoardPage {
        chrome: Chrome::for_member(Section::Board, member),
        processes: deals::processes(&state.db, context).await?,
        current: board.as_ref().map(|b| b.process_id),
        may_filter_owner,
        owners,
        filters,
        organization_error,
        board,
        status,
    })))
}

/// `/board`: the process the member chose last (NFR-U6), else the default.
async fn chosen_board(
    State(state): State<AppState>,
    headers: HeaderMap,
    member: Member,
    Query(mut filters): Query<FilterQuery>,
) -> Result<Response, WebError> {
    let organization_error = filters.resolve_organization(&state, &member).await?;
    let board = match board::chosen_process(&state.db, member.signed_in.context).await? {
        Some(process) => Some(load(&state, &member, process, &filters, Outcome::default()).await?),
        None => None,
    };
    respond(
        &state,
        &headers,
        &member,
        board,
        filters,
        organization_error,
    )
    .await
}

/// `/board/{id}`: that process's board, remembered as the member's choice.
async fn board_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    member: Member,
    Id(process): Id<ProcessId>,
    Query(mut filters): Query<FilterQuery>,
) -> Result<Response, WebError> {
    let organization_error = filters.resolve_organization(&state, &member).await?;
    let board = load(&state, &member, process, &filters, Outcome::default()).await?;
    board::remember(&state.db, member.signed_in.context, process).await?;
    respond(
        &state,
        &headers,
        &member,
        Some(board),
        filters,
        organization_error,
    )
    .await
}

#[derive(Deserialize)]
struct MoveForm {
    #[serde(default)]
    deal_id: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    stage_id: String,
    /// Sent by the board's lost reason form (a drop or "Move to" on a lost stage asks for it).
    #[serde(default)]
    lost_reason: String,
    /// Set by that form: the member was asked, so an empty reason is an error on its field.
    #[serde(default)]
    asked: String,
}

/// A move from the board, by drag and drop or by the "Move to" control: answered with the
/// board as it now is, the result announced.
async fn move_card(
    State(state): State<AppState>,
    headers: HeaderMap,
    Id(process): Id<ProcessId>,
    Query(filters): Query<FilterQuery>,
    MemberForm { member, form }: MemberForm<MoveForm>,
) -> Result<Response, WebError> {
    let deal: Option<DealId> = form.deal_id.trim().parse().ok();
    let target: Option<StageId> = form.stage_id.trim().parse().ok();
    let version: Option<i64> = form.version.trim().parse().ok();
    let outcome = match (deal, target, version) {
        (Some(deal), Some(target), Some(version)) => {
            let typed = form.lost_reason.trim();
            let input = StageMoveInput {
                stage_id: Some(target),
                version,
                lost_reason: (!typed.is_empty()).then(|| typed.to_owned()),
            };
            let context = member.signed_in.context;
            match deals::move_to_stage(&state.db, context, deal, &input).await {
                Ok(moved) => Outcome {
                    status: Some(format!("Moved “{}” to {}.", moved.name, moved.stage_name)),
                    deal: Some(deal),
                    ..Outcome::default()
                },
                Err(WriteError::Invalid(list)) if list.iter().any(|e| e.field == "lost_reason") => {
                    lost_prompt(&state, &member, deal, version, target, &form, list).await?
                }
                Err(err) => {
                    let reason = match err {
                        WriteError::Invalid(list) => list
                            .into_iter()
                            .map(|e| e.message)
                            .collect::<Vec<_>>()
                            .join(" "),
                        WriteError::Stale(current) => format!(
                            "“{}” changed since the board was loaded (it is in {} now): look again and move it once more.",
                            current.name, current.stage_name
                        ),
                        WriteError::NotFound | WriteError::NotAllowed => {
                            "You may not move this deal.".to_owned()
                        }
                        other => return Err(other.into()),
                    };
                    Outcome {
                        status: Some(format!("Not moved: {reason}")),
                        refusal: Some(reason),
                        deal: Some(deal),
                        lost: None,
                    }
                }
            }
        }
        _ => Outcome {
            status: Some("Not moved: choose a deal and a stage.".to_owned()),
            refusal: Some("Choose a deal and a stage.".to_owned()),
            deal,
            lost: None,
        },
    };
    let board = load(&state, &member, process, &filters, outcome).await?;
    respond(&state, &headers, &member, Some(board), filters, None).await
}

/// A move to a lost stage refused for its reason (missing, or too long): the card stays, and
/// the board asks why the deal was lost, with the move's deal, version and stage. Other missing
/// fields are named too (the deal's form completes them).
async fn lost_prompt(
    state: &AppState,
    member: &Member,
    deal: DealId,
    version: i64,
    stage: StageId,
    form: &MoveForm,
    problems: Vec<aura_crm::FieldError>,
) -> Result<Outcome, WebError> {
    let context = member.signed_in.context;
    let Some(current) = deals::get(&state.db, context, deal).await? else {
        return Err(WebError::NotFound);
    };
    let stage_name = current
        .stages
        .iter()
        .find(|s| s.id == stage)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let current = current.deal;
    let asked = !form.asked.trim().is_empty();
    let (reason_problems, others): (Vec<_>, Vec<_>) =
        problems.into_iter().partition(|e| e.field == "lost_reason");
    let error = (asked || !form.lost_reason.trim().is_empty()).then(|| {
        reason_problems
            .into_iter()
            .map(|e| e.message)
            .collect::<Vec<_>>()
            .join(" ")
    });
    let refusal = (!others.is_empty()).then(|| {
        others
            .into_iter()
            .map(|e| e.message)
            .collect::<Vec<_>>()
            .join(" ")
    });
    let status = match &error {
        Some(error) => format!("Not moved: {error}"),
        None => format!(
            "Not moved yet: a lost reason is needed to close “{}” as lost. Say why it was lost.",
            current.name
        ),
    };
    Ok(Outcome {
        status: Some(status),
        refusal,
        deal: Some(deal),
        lost: Some(LostPrompt {
            deal,
            deal_name: current.name,
            version,
            stage,
            stage_name,
            reason: form.lost_reason.clone(),
            error,
        }),
    })
}

/// The next cards of a column, for "Show more" (htmx puts them in place); a browser without
/// htmx goes back to the board.
async fn more_cards(
    State(state): State<AppState>,
    headers: HeaderMap,
    member: Member,
    Ids(process, stage): Ids<ProcessId, StageId>,
    Query(filters): Query<FilterQuery>,
) -> Result<Response, WebError> {
    if !wants_fragment(&headers) {
        let query = filters.query();
        return Ok(Redirect::to(&format!("/board/{process}?{query}")).into_response());
    }
    let after = filters.after.as_deref().and_then(Cursor::parse);
    let (stage, page) = board::cards(
        &state.db,
        member.signed_in.context,
        process,
        stage,
        &filters.filter(),
        after.as_ref(),
        None,
    )
    .await?
    .ok_or(WebError::NotFound)?;
    // What the cards' forms need, without the board's totals.
    let stages = deals::stages(&state.db, member.signed_in.context, process).await?;
    let mut targets: Vec<Stage> = stages
        .iter()
        .filter(|s| s.outcome == deals::Outcome::Open)
        .cloned()
        .collect();
    targets.extend(
        stages
            .into_iter()
            .filter(|s| s.outcome != deals::Outcome::Open),
    );
    let board = BoardView {
        process_id: process,
        process_name: String::new(),
        columns: Vec::new(),
        closing: Vec::new(),
        targets,
        csrf_token: member.signed_in.csrf_token.clone(),
        filter_query: filters.query(),
        outcome: Outcome::default(),
    };
    let column = ColumnView {
        count: 0,
        amount: String::new(),
        weighted: String::new(),
        more: page.next.map(|cursor| cursor.to_string()),
        cards: page
            .items
            .into_iter()
            .map(|card| card_view(card, &Outcome::default()))
            .collect(),
        stage,
    };
    Ok(vary_on_htmx(render(&MoreCards { column, board })))
}
