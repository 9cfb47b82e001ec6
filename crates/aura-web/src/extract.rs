//! Typed extractors: a handler states what it needs, and whatever is not that is refused here,
//! the same way on every route.

use std::str::FromStr;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, RawForm, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::Form;
use serde::de::DeserializeOwned;

use crate::session::{check_csrf, Member, Session};
use crate::{AppState, WebError};

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

/// The two record ids of a nested path (`/deals/{id}/lines/{line_id}`), each as its id type;
/// refused like [`Id`]: 404 when either does not parse.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ids<A, B>(pub A, pub B);

impl<S: Send + Sync, A: FromStr, B: FromStr> FromRequestParts<S> for Ids<A, B> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        let Path((first, second)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| WebError::NotFound)?;
        match (first.parse(), second.parse()) {
            (Ok(first), Ok(second)) => Ok(Self(first, second)),
            _ => Err(WebError::NotFound),
        }
    }
}

/// A form posted in a signed-in session, with that session's member: extracting it checks the
/// form's `csrf_token` against the session's, so a handler that takes the form cannot skip the
/// check. It reads the body, so it comes last among a handler's extractors. Refused, before the
/// handler runs: no session as `M` refuses it, a body that is not a form as axum's `Form` does
/// (after the session is checked, as always), a token that is not the session's as
/// `WebError::CsrfRejected`. `T` is the form without its token.
pub(crate) struct MemberForm<T, M = Member> {
    pub member: M,
    pub form: T,
}

impl<T, M> FromRequest<AppState> for MemberForm<T, M>
where
    T: DeserializeOwned + Send,
    M: Session,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let member = M::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        // The body is read once; the form's fields and its token are read from the same bytes.
        let request = Request::from_parts(parts.clone(), body);
        let RawForm(bytes) = RawForm::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let request = Request::from_parts(parts, Body::from(bytes.clone()));
        let Form(form) = Form::<T>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let token = url::form_urlencoded::parse(&bytes)
            .find_map(|(name, value)| (name == "csrf_token").then_some(value))
            .unwrap_or_default();
        check_csrf(member.csrf_token(), &token).map_err(IntoResponse::into_response)?;
        Ok(Self { member, form })
    }
}
