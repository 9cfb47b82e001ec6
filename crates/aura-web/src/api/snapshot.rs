//! The pipeline snapshot and forecast over the API (issue 12, journey 2 step 8): the same
//! repository function and period rules as `/processes/{id}/snapshot`, so the page, its CSV and
//! this JSON hold the same numbers; a rep's snapshot holds only their deals.

use aura_crm::ids::ProcessId;
use aura_crm::snapshot::{self, Snapshot};
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiCaller, ApiQuery};
use crate::extract::Id;
use crate::snapshot::{owner_of, period_of, SnapshotQuery};
use crate::{AppState, WebError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_snapshot))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotParams {
    /// First day of the period (`YYYY-MM-DD`, in the workspace's time zone); with `to`.
    #[param(value_type = Option<chrono::NaiveDate>)]
    from: Option<String>,
    /// Last day of the period, included (`YYYY-MM-DD`); with `from`, at most three years on.
    #[param(value_type = Option<chrono::NaiveDate>)]
    to: Option<String>,
    /// Without `from` and `to`: `week`, `month` (the default) or `quarter` holding today.
    period: Option<String>,
    /// Only this member's deals (managers and admins; a rep's snapshot is always their own).
    #[param(value_type = Option<uuid::Uuid>)]
    owner: Option<String>,
}

/// A sales process's pipeline snapshot for a period: per stage the open deals now (count,
/// amount, weighted) and the period's entries, conversions (went on, won) and exits with the
/// average time in the stage; the deals won and lost in the period (lost by reason); and the
/// open deals' weighted forecast by expected-close month.
#[utoipa::path(get, path = "/api/v1/processes/{id}/snapshot", tag = "board",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path), SnapshotParams),
    responses((status = 200, body = Snapshot), (status = 401), (status = 404), (status = 422)))]
async fn get_snapshot(
    State(state): State<AppState>,
    caller: ApiCaller,
    Id(process): Id<ProcessId>,
    ApiQuery(params): ApiQuery<SnapshotParams>,
) -> Result<Json<Snapshot>, WebError> {
    let query = SnapshotQuery {
        period: params.period.unwrap_or_default(),
        from: params.from.unwrap_or_default(),
        to: params.to.unwrap_or_default(),
        owner: params.owner.unwrap_or_default(),
    };
    let period = period_of(&state, caller.context, &query).await?;
    let owner = owner_of(&query)?;
    let snapshot = snapshot::snapshot(&state.db, caller.context, process, period, owner)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(Json(snapshot))
}
