//! Aura's HTTP surface. [`router`] builds the whole application; [`serve`] runs it until a
//! shutdown signal, finishing the requests already in flight.

mod assets;
mod error;
mod health;
mod middleware;
mod pages;

use std::future::Future;

use aura_platform::db::AppPool;
use axum::Router;
use tokio::net::TcpListener;

pub use error::WebError;

/// What every handler may use. The database is reachable only as [`AppPool`], which hands out
/// nothing but tenant-scoped transactions.
#[derive(Clone)]
pub struct AppState {
    pub db: AppPool,
}

pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(health::routes())
        .merge(pages::routes())
        .merge(assets::routes())
        .fallback(error::not_found)
        .with_state(state);
    middleware::wrap(routes)
}

/// Serves `router(state)` on `listener` until `shutdown` completes; then stops accepting
/// connections and returns once the requests in flight have been answered.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
