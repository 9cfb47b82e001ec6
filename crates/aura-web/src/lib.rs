//! Aura's HTTP surface. [`router`] builds the whole application; [`serve`] runs it until a
//! shutdown signal, finishing the requests already in flight.

mod account;
mod api;
mod api_keys;
mod assets;
mod audit_log;
pub(crate) mod board;
mod bulk;
mod charts;
mod contacts;
mod custom_fields;
mod dashboard;
mod deals;
mod error;
mod exports;
mod extract;
mod follow_ups;
mod forms;
mod health;
mod imports;
mod layout;
mod metrics;
mod middleware;
mod nul_bytes;
mod operations;
mod organizations;
mod password_reset;
mod preferences;
mod processes;
mod products;
mod public;
mod quick_log;
pub mod rate_limit;
mod records;
mod reference;
mod refusals;
mod removal;
mod search;
mod session;
mod settings;
mod sign_in;
mod site;
mod snapshot;
mod team;
mod time;
mod webhooks;
mod workspace;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use aura_platform::auth::api::TokenKeys;
use aura_platform::auth::LoginSource;
use aura_platform::db::AppPool;
use aura_platform::members;
use aura_platform::outbox::Mailer;
use aura_platform::step_up::Proof;
use aura_platform::webhooks::worker::{Worker, WorkerSettings};
use aura_platform::webhooks::NetworkGuard;
use axum::extract::{Request, State};
use axum::Router;
use tokio::net::TcpListener;

pub use error::WebError;
pub use metrics::Metrics;
use rate_limit::RateLimiter;

/// What every handler may use. The database is reachable only as [`AppPool`], which hands out
/// nothing but tenant-scoped transactions.
#[derive(Clone)]
pub struct AppState {
    pub db: AppPool,
    pub site: SiteConfig,
    /// Signs and checks API access tokens.
    pub tokens: TokenKeys,
    pub limiter: Arc<RateLimiter>,
    /// The key the external contract-signing system presents; `None` disables its endpoint.
    pub platform_api_key: Option<String>,
    pub mailer: Arc<Mailer>,
    pub metrics: Arc<Metrics>,
    /// Where webhooks may be sent (checked at registration and at every delivery).
    pub webhook_guard: NetworkGuard,
    /// How the webhook delivery worker that [`serve`] starts paces itself.
    pub webhook_worker: WorkerSettings,
}

impl AppState {
    /// What proves a member is who they say before a dangerous change (step-up): the emailed
    /// one-time code where mail is delivered, else their password, checked as a sign-in from
    /// `source`.
    pub(crate) fn step_up_proof<'a>(
        &self,
        code: &'a str,
        password: &'a str,
        source: &'a LoginSource,
    ) -> Proof<'a> {
        if self.mailer.delivers() {
            Proof::Code(code)
        } else {
            Proof::Password { password, source }
        }
    }
}

/// Where Aura is reached.
#[derive(Clone, Debug)]
pub struct SiteConfig {
    /// The apex's host as browsers send it in `Host` (`localhost:3000`, `crm.example.com`);
    /// workspaces are its subdomains.
    pub base_host: String,
    /// Aura is reached over HTTPS (cookies are then marked `Secure`).
    pub https: bool,
}

impl SiteConfig {
    /// An address on the apex.
    pub fn apex_url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.base_host)
    }

    /// The address of the workspace at `slug`.
    pub fn workspace_url(&self, slug: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{slug}.{}/", self.base_host)
    }
}

pub fn router(state: AppState) -> Router {
    let sites = site::Sites {
        apex: Router::new()
            .merge(public::routes())
            .merge(account::routes())
            .merge(operations::routes())
            .merge(password_reset::routes())
            .merge(api::platform_routes())
            .merge(metrics::routes())
            .merge(reference::routes())
            .route_layer(axum::middleware::from_fn_with_state(
                metrics::Site::Apex,
                metrics::mark_route,
            ))
            .fallback(error::not_found)
            .with_state(state.clone()),
        workspace: Router::new()
            .merge(workspace::routes())
            .merge(api::routes().layer(axum::middleware::from_fn_with_state(
                state.clone(),
                api::idempotency::layer,
            )))
            .merge(team::routes())
            .merge(audit_log::routes())
            .merge(settings::routes())
            .merge(exports::routes())
            .merge(webhooks::routes())
            .merge(preferences::routes())
            .merge(api_keys::routes())
            .merge(custom_fields::routes())
            .merge(imports::routes())
            .merge(contacts::routes())
            .merge(quick_log::routes())
            .merge(follow_ups::routes())
            .merge(organizations::routes())
            .merge(processes::routes())
            .merge(deals::routes())
            .merge(products::routes())
            .merge(board::routes())
            .merge(snapshot::routes())
            .merge(reference::routes())
            .merge(search::routes())
            .route_layer(axum::middleware::from_fn_with_state(
                metrics::Site::Workspace,
                metrics::mark_route,
            ))
            .fallback(error::not_found)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                refusals::record,
            ))
            .with_state(state.clone()),
    };
    let https = state.site.https;
    // Probes and assets answer on every host; everything else is the apex's or a workspace's.
    let routes = Router::new()
        .merge(health::routes())
        .merge(assets::routes())
        .route("/api/v1/openapi.json", axum::routing::get(api::openapi))
        .route_layer(axum::middleware::from_fn_with_state(
            metrics::Site::Any,
            metrics::mark_route,
        ))
        .fallback(move |State(state): State<AppState>, request: Request| {
            site::dispatch(state, sites.clone(), request)
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .with_state(state);
    middleware::wrap(routes, https)
}

/// How often each server mends the memberships' copies a dead server may have left stale.
const MEMBER_OF_RECONCILE_PERIOD: std::time::Duration = std::time::Duration::from_secs(600);

/// Serves `router(state)` on `listener` until `shutdown` completes; then stops accepting
/// connections and returns once the requests in flight have been answered. The webhook delivery
/// worker, the export and import workers and the memberships' reconciler run beside it meanwhile
/// (an attempt or an export cut short is taken up again after its lease).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let worker = Worker::new(
        state.db.clone(),
        state.webhook_guard.clone(),
        state.mailer.clone(),
        state.webhook_worker.clone(),
    );
    let worker = tokio::spawn(worker.run());
    // Workspace exports: claimed across servers, so each export is written by one of them.
    let exporter = tokio::spawn(
        aura_crm::export::Worker::new(state.db.clone(), std::time::Duration::from_secs(1)).run(),
    );
    let importer = tokio::spawn(imports::work(state.db.clone()));
    let reconciler = tokio::spawn(members::keep_member_of_reconciled(
        state.db.clone(),
        MEMBER_OF_RECONCILE_PERIOD,
    ));
    // Connection info: the anonymous endpoints' rate limit counts per client address.
    let served = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    worker.abort();
    exporter.abort();
    importer.abort();
    reconciler.abort();
    served
}
