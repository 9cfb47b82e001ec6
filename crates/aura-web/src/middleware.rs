//! The layers every response passes through, outermost first: request id, access log, timeout,
//! security headers, error rendering, the refusal of NUL characters.

use std::borrow::Cow;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::{wants_html, WebError};
use crate::layout::Chrome;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The Content-Security-Policy of every page: only Aura's own scripts, styles and frames. Forms
/// post to Aura's own origin, and to the `form_targets` origins a page names (a form whose
/// answer redirects to another host needs that host here, or the browser stops it).
pub(crate) fn content_security_policy(form_targets: &[String]) -> HeaderValue {
    let mut policy = String::from(
        "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    );
    for origin in form_targets {
        policy.push(' ');
        policy.push_str(origin);
    }
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

/// Wraps the application. `https`: Aura is reached over HTTPS, so browsers are told to use
/// nothing else for a year (HSTS), workspace subdomains included.
pub fn wrap(routes: Router, https: bool) -> Router {
    let security_headers = ServiceBuilder::new()
        .option_layer(https.then(|| {
            SetResponseHeaderLayer::overriding(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000; includeSubDomains"),
            )
        }))
        // A handler may widen `form-action` for its page (`content_security_policy`).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(&[]),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ));
    routes.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                // The path only, never the query string: queries can carry search terms (PII);
                // and not the secrets some paths carry.
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request| {
                        let request_id = request
                            .extensions()
                            .get::<RequestId>()
                            .and_then(|id| id.header_value().to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", request_id, method = %request.method(),
                                            path = %loggable_path(request.uri().path()))
                    })
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                REQUEST_TIMEOUT,
            ))
            .layer(security_headers)
            .layer(middleware::from_fn(render_errors))
            .layer(middleware::from_fn(crate::nul_bytes::refuse)),
    )
}

/// Path segments that are secrets (the links in password-reset and invitation emails), by
/// the segment before them.
const SECRET_AFTER: [&str; 2] = ["password-reset", "invitations"];

/// `path` as the access log writes it: each secret segment `[redacted]`, since logs are read
/// and kept more widely than the secrets they would hand out.
fn loggable_path(path: &str) -> Cow<'_, str> {
    let segments: Vec<&str> = path.split('/').collect();
    let secret = |i: usize| i > 0 && SECRET_AFTER.contains(&segments[i - 1]);
    if !(0..segments.len()).any(secret) {
        return Cow::Borrowed(path);
    }
    let redacted: Vec<&str> = segments
        .iter()
        .enumerate()
        .map(|(i, segment)| if secret(i) { "[redacted]" } else { segment })
        .collect();
    Cow::Owned(redacted.join("/"))
}

async fn render_errors(request: Request, next: Next) -> Response {
    let html = wants_html(request.headers());
    let mut response = next.run(request).await;
    // A workspace's error carries its header (`site::dispatch`).
    let chrome = response.extensions_mut().remove::<Chrome>();
    match response.extensions_mut().remove::<WebError>() {
        Some(error) => error.render_in(html, chrome),
        None => response,
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{header, Request};
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn headers(https: bool) -> axum::http::HeaderMap {
        let app = super::wrap(Router::new().route("/", get(|| async { "ok" })), https);
        let request = Request::get("/").body(Body::empty()).unwrap();
        app.oneshot(request).await.unwrap().headers().clone()
    }

    #[test]
    fn secrets_in_paths_are_redacted_for_the_log() {
        use super::loggable_path;
        assert_eq!(
            loggable_path("/password-reset/s3cr3t-Tok_en"),
            "/password-reset/[redacted]"
        );
        assert_eq!(
            loggable_path("/invitations/s3cr3t"),
            "/invitations/[redacted]"
        );
        assert_eq!(
            loggable_path("/invitations/s3cr3t/"),
            "/invitations/[redacted]/"
        );
        for kept in [
            "/",
            "/members/invitations",
            "/password-reset",
            "/contacts/42",
            "",
        ] {
            assert_eq!(loggable_path(kept), kept);
        }
    }

    #[tokio::test]
    async fn hsts_is_sent_only_when_served_over_https() {
        let over_tls = headers(true).await;
        assert_eq!(
            over_tls[header::STRICT_TRANSPORT_SECURITY],
            "max-age=31536000; includeSubDomains"
        );
        assert!(over_tls.contains_key(header::CONTENT_SECURITY_POLICY));
        let plain = headers(false).await;
        assert!(!plain.contains_key(header::STRICT_TRANSPORT_SECURITY));
    }
}
