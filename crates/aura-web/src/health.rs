//! Probes for load balancers and orchestrators.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up and serving HTTP. Touches nothing else, so a database outage does not get
/// a healthy server restarted.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The server can do its work: the database answers.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, WebError> {
    state.db.ping().await?;
    Ok(Json(json!({ "status": "ready" })))
}
