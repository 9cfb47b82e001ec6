//! `/metrics` in the Prometheus text format, on the apex, for the platform's monitoring: it
//! answers only to the platform API key (the same one the signing system uses), and not at
//! all when none is configured.
//!
//! Requests are counted by route template (axum's `MatchedPath`, never the raw path, so the
//! number of series stays bounded whatever clients send), method and status. The pool and the
//! queues are read at scrape time.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use aura_platform::audit::Refusal;
use aura_platform::console;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::api::check_platform_key;
use crate::{AppState, WebError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

/// Which of Aura's sites a route belongs to: the same template (`/`) is a different page on
/// the apex and in a workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Site {
    /// Probes and assets, on every host.
    Any,
    Apex,
    Workspace,
}

impl Site {
    fn label(self) -> &'static str {
        match self {
            Site::Any => "any",
            Site::Apex => "apex",
            Site::Workspace => "workspace",
        }
    }
}

/// The route that answered a request, left on the response for [`record`].
#[derive(Clone, Debug)]
struct RouteTemplate {
    site: Site,
    path: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    /// `any`, `apex`, `workspace`, or `none` for what no route answered.
    site: &'static str,
    /// The template (`/contacts/{id}`), or `unmatched` for what no route answered.
    route: Arc<str>,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    site: &'static str,
    route: Arc<str>,
    method: &'static str,
    status: u16,
    /// `2xx` .. `5xx`, to sum over without a regex.
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RateLimitLabels {
    /// `client_address` (anonymous forms and token endpoints) or `user`.
    scope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
}

/// Where a rate limit counted the refused request.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LimitScope {
    ClientAddress,
    User,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The server's metrics. One per server (not process-global), so tests can read their own.
pub struct Metrics {
    registry: Registry,
    refused_access: Family<RefusalLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    latency: Latency,
    rate_limited: Family<RateLimitLabels, Counter>,
    pool_connections: Family<PoolLabels, Gauge>,
    pool_max: Gauge,
    database_up: Gauge,
    queue_depth: Family<QueueLabels, Gauge>,
    queue_oldest_age: Family<QueueLabels, Gauge<f64, AtomicU64>>,
}

/// 1 ms to 16 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
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
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "aura_http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        let latency: Latency = Family::new_with_constructor(latency_histogram);
        registry.register(
            "aura_http_request_duration_seconds",
            "Time to answer an HTTP request (to the response's head), by route template",
            latency.clone(),
        );
        let rate_limited = Family::<RateLimitLabels, Counter>::default();
        registry.register(
            "aura_rate_limited",
            "Requests refused with 429 by the rate limit (NFR-S7)",
            rate_limited.clone(),
        );
        let pool_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "aura_db_pool_connections",
            "The server's database connections, idle or in use, at scrape time",
            pool_connections.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "aura_db_pool_max_connections",
            "The most database connections the server opens",
            pool_max.clone(),
        );
        let database_up = Gauge::default();
        registry.register(
            "aura_database_up",
            "1 when the database answered the scrape's backlog query, else 0",
            database_up.clone(),
        );
        let queue_depth = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "aura_queue_depth",
            "Items waiting in a platform queue (unsent email, pending webhook deliveries, jobs)",
            queue_depth.clone(),
        );
        let queue_oldest_age = Family::<QueueLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "aura_queue_oldest_age_seconds",
            "How long the oldest waiting item of a platform queue has waited (0 when empty)",
            queue_oldest_age.clone(),
        );
        Self {
            registry,
            refused_access,
            requests,
            latency,
            rate_limited,
            pool_connections,
            pool_max,
            database_up,
            queue_depth,
            queue_oldest_age,
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

    pub(crate) fn count_rate_limited(&self, scope: LimitScope) {
        let scope = match scope {
            LimitScope::ClientAddress => "client_address",
            LimitScope::User => "user",
        };
        self.rate_limited
            .get_or_create(&RateLimitLabels { scope })
            .inc();
    }

    /// Reads the pool and the queues into their gauges. A database that does not answer
    /// leaves the queues at their last values and says so in `aura_database_up`.
    async fn refresh(&self, state: &AppState) {
        let pool = state.db.stats();
        for (label, value) in [("idle", pool.idle), ("in_use", pool.in_use())] {
            self.pool_connections
                .get_or_create(&PoolLabels { state: label })
                .set(i64::from(value));
        }
        self.pool_max.set(i64::from(pool.max));
        match console::queue_backlog(&state.db).await {
            Ok(queues) => {
                self.database_up.set(1);
                let now = chrono::Utc::now();
                for backlog in queues {
                    let labels = QueueLabels {
                        queue: backlog.queue.as_str().to_owned(),
                    };
                    self.queue_depth.get_or_create(&labels).set(backlog.depth);
                    self.queue_oldest_age
                        .get_or_create(&labels)
                        .set(backlog.oldest_age_seconds(now));
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "metrics: the queue backlog is unavailable");
                self.database_up.set(0);
            }
        }
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
    state.metrics.refresh(&state).await;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response())
}

/// Leaves the route that answered on the response (a `route_layer` of each site's router, so
/// it runs only for a matched route).
pub(crate) async fn mark_route(
    State(site): State<Site>,
    path: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    response.extensions_mut().insert(RouteTemplate {
        site,
        path: Arc::from(path.as_str()),
    });
    response
}

/// Counts and times every request, by the route [`mark_route`] left (or `unmatched`).
pub(crate) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let (site, route) = match response.extensions().get::<RouteTemplate>() {
        Some(template) => (template.site.label(), template.path.clone()),
        None => ("none", Arc::from("unmatched")),
    };
    let status = response.status().as_u16();
    let metrics = &state.metrics;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            site,
            route: route.clone(),
            method,
        })
        .observe(elapsed);
    metrics
        .requests
        .get_or_create(&RequestLabels {
            site,
            route,
            method,
            status,
            class: status_class(status),
        })
        .inc();
    response
}

/// The standard methods by name; anything else (clients may send any token) as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_methods_and_statuses_fall_in_a_few_labels() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(599), "5xx");
    }
}
