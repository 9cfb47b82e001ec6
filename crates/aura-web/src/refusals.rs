//! Refused attempts to reach a record (F5.6). When a workspace host answers 403 or 404 to a URL
//! whose path names an id, the id is looked up past row-level security: if it is another
//! workspace's record, or another member's contact asked for by a rep, the attempt goes to the
//! audit trail of the workspace holding it and is counted in `/metrics`. Any route that names
//! a record in its path is covered, including routes added later.

use std::sync::{Arc, Mutex};

use aura_platform::audit;
use aura_platform::db::TenantContext;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use uuid::Uuid;

use crate::AppState;

/// Where the authenticating extractor leaves who is asking, for the layer to read once the
/// handler has answered (the handler's request is not the layer's).
#[derive(Clone, Default)]
pub(crate) struct Caller(Arc<Mutex<Option<TenantContext>>>);

impl Caller {
    /// Notes the authenticated caller of the request `parts` belong to.
    pub(crate) fn note(parts: &Parts, context: TenantContext) {
        if let Some(caller) = parts.extensions.get::<Self>() {
            *caller.0.lock().expect("not poisoned") = Some(context);
        }
    }

    fn get(&self) -> Option<TenantContext> {
        *self.0.lock().expect("not poisoned")
    }
}

/// Records which of the `ids` a refused request named were records the caller was refused, and
/// counts them. For ids in a request's body (a bulk action); the layer does it for paths.
pub(crate) async fn record_named(state: &AppState, context: TenantContext, ids: &[Uuid]) {
    match audit::record_refused_access(&state.db, context, ids).await {
        Ok(reasons) => reasons
            .into_iter()
            .for_each(|reason| state.metrics.count_refusal(reason)),
        // The answer stands; the trail lost entries, which the log says.
        Err(err) => tracing::error!(error = %err, "recording a refused access failed"),
    }
}

/// The layer over the workspace routes.
pub(crate) async fn record(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let named: Vec<Uuid> = request
        .uri()
        .path()
        .split('/')
        .filter_map(|segment| segment.parse().ok())
        .collect();
    if named.is_empty() {
        return next.run(request).await;
    }
    let caller = Caller::default();
    request.extensions_mut().insert(caller.clone());
    let response = next.run(request).await;
    if matches!(response.status().as_u16(), 403 | 404) {
        if let Some(context) = caller.get() {
            record_named(&state, context, &named).await;
        }
    }
    response
}
