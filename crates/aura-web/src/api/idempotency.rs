//! `Idempotency-Key` on the API's POSTs (issue 14): the layer claims the key for the caller
//! before the handler runs and stores the answer after, so a retry of the same request gets the
//! first answer and creates nothing, and another request under the same key is refused (422).
//! A request without the header is untouched. See `aura_platform::idempotency`.

use aura_platform::idempotency::{self, Claim, Stored, MAX_KEY_CHARS};
use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{Required, Type};
use utoipa::Modify;

use super::ApiCaller;
use crate::error::wants_html;
use crate::{AppState, WebError};

pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// Marks an answer given again for a retry.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Any request's body limit (the server refuses larger ones before this layer).
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The layer over the workspace's API routes.
pub(crate) async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !request.headers().contains_key(HEADER) {
        return next.run(request).await;
    }
    match claimed(&state, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn claimed(state: &AppState, request: Request, next: Next) -> Result<Response, Response> {
    let html = wants_html(request.headers());
    let refuse = |err: WebError| err.render(html);
    let key = request
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|key| !key.is_empty() && key.chars().count() <= MAX_KEY_CHARS)
        .ok_or_else(|| refuse(WebError::InvalidIdempotencyKey))?
        .to_owned();
    let (mut parts, body) = request.into_parts();
    // Whose key it is: the caller, authenticated once here and handed to the handler.
    let caller = ApiCaller::from_request_parts(&mut parts, state)
        .await
        .map_err(refuse)?;
    let body = to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| refuse(WebError::TooLarge))?;
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str());
    let fingerprint = idempotency::fingerprint(parts.method.as_str(), path, &body);
    let pending = match idempotency::claim(&state.db, caller.context, &key, &fingerprint)
        .await
        .map_err(|err| refuse(err.into()))?
    {
        Claim::Fresh(pending) => pending,
        Claim::Replay(stored) => return Ok(replay(stored)),
        Claim::Mismatch => return Err(refuse(WebError::IdempotencyKeyReused)),
    };
    parts.extensions.insert(caller);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    // Handlers leave errors for the outer layer to render: render it here, as it will be
    // rendered, so a retry gets the same document.
    let response = match response.extensions().get::<WebError>() {
        Some(err) => err.render(html),
        None => response,
    };
    let status = response.status();
    // A failure on our side, or a refusal to try later, is not an answer: the claim is undone
    // (dropped) and a retry runs anew.
    if status.is_server_error() || status.as_u16() == 429 {
        return Ok(response);
    }
    let (response_parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX)
        .await
        .map_err(|_| refuse(WebError::Internal))?;
    let header_text = |name: HeaderName| {
        response_parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let stored = Stored {
        status: status.as_u16(),
        content_type: header_text(header::CONTENT_TYPE),
        location: header_text(header::LOCATION),
        body: body.to_vec(),
    };
    if let Err(err) = pending.answer(&stored).await {
        // The request was carried out; only its replay was lost, which the log says.
        tracing::error!(error = %err, "storing an idempotent answer failed");
    }
    Ok(Response::from_parts(response_parts, Body::from(body)))
}

fn replay(stored: Stored) -> Response {
    let mut response = Body::from(stored.body).into_response();
    *response.status_mut() =
        axum::http::StatusCode::from_u16(stored.status).unwrap_or(axum::http::StatusCode::OK);
    for (name, value) in [
        (header::CONTENT_TYPE, stored.content_type),
        (header::LOCATION, stored.location),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(name, value);
        }
    }
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// Documents the header on every authenticated POST of the document. (utoipa 5 has no
/// `components.parameters` to refer to, so each operation carries the same definition.)
pub(crate) struct Documented;

impl Modify for Documented {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let Some(post) = item.post.as_mut() else {
                continue;
            };
            // The token endpoints and the platform's own are not a member's or a key's.
            let authenticated = post.security.as_ref().is_some_and(|s| {
                s.iter().any(|requirement| {
                    serde_json::to_value(requirement)
                        .ok()
                        .and_then(|v| v.as_object().map(|o| o.contains_key("bearer")))
                        .unwrap_or(false)
                })
            });
            if authenticated {
                post.parameters
                    .get_or_insert_with(Vec::new)
                    .push(parameter());
            }
        }
    }
}

fn parameter() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry safe: the same key with the same request within 24 hours answers \
             the first response again (with `Idempotent-Replayed: true`) and changes nothing; \
             the same key with another request is refused (422, code \
             `idempotency_key_reused`). Keys are per workspace and per caller (member or API \
             key); at most 255 characters, e.g. a UUID.",
        ))
        .schema(Some(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(MAX_KEY_CHARS))
                .build(),
        ))
        .build()
}
