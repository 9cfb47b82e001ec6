//! `/metrics` in the Prometheus text format, on the apex, for the platform's monitoring: it
//! answers only to the platform API key (the same one the signing system uses), and not at
//! all when none is configured.

use aura_platform::audit::Refusal;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::api::check_platform_key;
use crate::{AppState, WebError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

/// The server's counters. One per server (not process-global), so tests can read their own.
pub struct Metrics {
    registry: Registry,
    refused_access: Family<RefusalLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let refused_access = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "aura_refused_access",
            "Requests refused a record of another workspace or another member (F5.6)",
            refused_access.clone(),
        );
        Self {
            registry,
            refused_access,
        }
    }
}

impl Metrics {
    pub fn count_refusal(&self, reason: Refusal) {
        self.refused_access
            .get_or_create(&RefusalLabels {
                reason: reason.as_str(),
            })
            .inc();
    }

    fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String does not fail");
        text
    }
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    check_platform_key(&state, &headers)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response())
}
