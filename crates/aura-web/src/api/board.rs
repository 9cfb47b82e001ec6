//! The pipeline board over the API (issue 12): a process's columns with their totals and
//! first cards, and more cards of one column. The same repository functions as the board page,
//! so a rep's board and every number on it hold only their deals. Moves are
//! `POST /api/v1/deals/{id}/stage`.

use aura_crm::board::{self, BoardFilter, Card, Totals};
use aura_crm::deals::{ProcessChoice, Stage};
use aura_crm::ids::{ProcessId, StageId};
use aura_platform::ids::UserId;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{param, ApiCaller, ApiQuery};
use crate::extract::{Id, Ids};
use crate::{AppState, WebError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_board))
        .routes(routes!(stage_cards))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BoardQuery {
    /// Only this member's deals (managers and admins; a rep's board is always their own).
    #[param(value_type = Option<Uuid>)]
    owner: Option<String>,
    #[param(value_type = Option<Uuid>)]
    organization_id: Option<String>,
    /// Expected close date on or after this (`YYYY-MM-DD`).
    #[param(value_type = Option<chrono::NaiveDate>)]
    close_from: Option<String>,
    /// Expected close date on or before this (`YYYY-MM-DD`).
    #[param(value_type = Option<chrono::NaiveDate>)]
    close_to: Option<String>,
    /// Cards per column (per page of a column): 25 unless given, at most 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

impl BoardQuery {
    fn filter(&self) -> Result<BoardFilter, WebError> {
        Ok(BoardFilter {
            owner: param::<Uuid>("owner", self.owner.as_deref())?.map(UserId::from),
            organization: param("organization_id", self.organization_id.as_deref())?,
            close_from: param("close_from", self.close_from.as_deref())?,
            close_to: param("close_to", self.close_to.as_deref())?,
        })
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CardsAfter {
    /// The column's `next`: an opaque cursor, sent back as it came.
    after: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BoardColumn {
    stage: Stage,
    /// Count, sum and weighted sum of the column's deals under the filter, computed by the
    /// database over all of them (not only the cards sent).
    totals: Totals,
    cards: Vec<Card>,
    /// More of this column: pass as `after` to the stage's cards route; null when all are here.
    next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BoardView {
    process: ProcessChoice,
    /// The processes to switch to, the default first.
    processes: Vec<ProcessChoice>,
    /// The open stages in order.
    columns: Vec<BoardColumn>,
    /// The won and lost stages: drop targets for moves, without cards.
    closing: Vec<Stage>,
}

#[derive(Serialize, ToSchema)]
pub struct BoardCards {
    stage: Stage,
    items: Vec<Card>,
    next: Option<String>,
}

/// A sales process's board: its open stages in order with each one's totals (count, sum of
/// amounts, weighted sum) and first page of cards (longest in the stage first), and its won and
/// lost stages. A rep's board holds only their deals, totals included.
#[utoipa::path(get, path = "/api/v1/processes/{id}/board", tag = "board",
    security(("bearer" = [])), params(("id" = Uuid, Path), BoardQuery),
    responses((status = 200, body = BoardView), (status = 401), (status = 404), (status = 422)))]
async fn get_board(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(process): Id<ProcessId>,
    ApiQuery(query): ApiQuery<BoardQuery>,
) -> Result<Json<BoardView>, WebError> {
    let filter = query.filter()?;
    let limit = param("limit", query.limit.as_deref())?;
    let board = board::board(&state.db, caller.context, process, &filter, limit)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(Json(BoardView {
        process: board.process,
        processes: board.processes,
        columns: board
            .columns
            .into_iter()
            .map(|column| BoardColumn {
                stage: column.stage,
                totals: column.totals,
                cards: column.cards.items,
                next: column.cards.next.map(|cursor| cursor.to_string()),
            })
            .collect(),
        closing: board.closing,
    }))
}

/// More cards of one open stage's column, after the column's `next`, with the board's filters.
#[utoipa::path(get, path = "/api/v1/processes/{id}/board/stages/{stage_id}", tag = "board",
    security(("bearer" = [])),
    params(("id" = Uuid, Path), ("stage_id" = Uuid, Path), BoardQuery, CardsAfter),
    responses((status = 200, body = BoardCards), (status = 401), (status = 404), (status = 422)))]
async fn stage_cards(
    State(state): State<AppState>,
    caller: ApiCaller,
    Ids(process, stage): Ids<ProcessId, StageId>,
    ApiQuery(query): ApiQuery<BoardQuery>,
    ApiQuery(after): ApiQuery<CardsAfter>,
) -> Result<Json<BoardCards>, WebError> {
    let filter = query.filter()?;
    let limit = param("limit", query.limit.as_deref())?;
    let after = param("after", after.after.as_deref())?;
    let (stage, page) = board::cards(
        &state.db,
        caller.context,
        process,
        stage,
        &filter,
        after.as_ref(),
        limit,
    )
    .await?
    .ok_or(WebError::NotFound)?;
    Ok(Json(BoardCards {
        stage,
        items: page.items,
        next: page.next.map(|cursor| cursor.to_string()),
    }))
}
