//! The front-end assets built from `web/` by build.rs, embedded in the binary and served under
//! content-addressed URLs, so browsers may cache them forever.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::{AppState, WebError};

struct Asset {
    /// The served file name, `<stem>.<content hash>.<extension>`.
    name: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

impl Asset {
    fn new(stem: &str, extension: &str, content_type: &'static str, bytes: &'static [u8]) -> Self {
        let mut hasher = DefaultHasher::new();
        bytes.hash(&mut hasher);
        Self {
            name: format!(
                "{stem}.{:012x}.{extension}",
                hasher.finish() & 0xffff_ffff_ffff
            ),
            content_type,
            bytes,
        }
    }

    fn url(&self) -> String {
        format!("/assets/{}", self.name)
    }
}

static SCRIPT: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "app",
        "js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/web/app.js")),
    )
});
static STYLESHEET: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "style",
        "css",
        "text/css; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/web/style.css")),
    )
});

/// Drawn by hand, so served as it is (esbuild has nothing to do for it).
static FAVICON: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "favicon",
        "svg",
        "image/svg+xml",
        include_bytes!("../../../web/src/favicon.svg"),
    )
});

/// The URLs pages link their assets with.
pub fn script_url() -> String {
    SCRIPT.url()
}

pub fn stylesheet_url() -> String {
    STYLESHEET.url()
}

pub fn favicon_url() -> String {
    FAVICON.url()
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/assets/{name}", get(serve_asset))
}

async fn serve_asset(Path(name): Path<String>) -> Result<Response, WebError> {
    let asset = [&*SCRIPT, &*STYLESHEET, &*FAVICON]
        .into_iter()
        .find(|asset| asset.name == name)
        .ok_or(WebError::NotFound)?;
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}
