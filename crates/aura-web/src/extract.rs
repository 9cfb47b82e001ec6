//! Typed extractors: a handler states what it needs, and whatever is not that is refused here,
//! the same way on every route.

use std::str::FromStr;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::WebError;

/// The record id in the path (`/contacts/{id}`), as its id type. One that does not parse names
/// nothing: 404, exactly like an id of another workspace, rendered as a page or a problem
/// document as the client asked (never axum's plain-text 400).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Id<T>(pub T);

impl<S: Send + Sync, T: FromStr> FromRequestParts<S> for Id<T> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| WebError::NotFound)?;
        raw.parse().map(Self).map_err(|_| WebError::NotFound)
    }
}
