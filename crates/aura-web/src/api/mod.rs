//! The JSON API under `/api/v1` on each workspace's host, described by an OpenAPI document
//! (`/api/v1/openapi.json`) so any client can generate its types. Clients authenticate with
//! `Authorization: Bearer <access token or API key>`; cookies play no part, so CSRF does not
//! apply.

use std::str::FromStr;
use std::sync::LazyLock;

use aura_platform::api_keys::{self, KeyCheck};
use aura_platform::audit::{self, Refusal};
use aura_platform::auth::api::{self as tokens, RefreshError, TokenCheck};
use aura_platform::auth::{LoginError, LoginSource};
use aura_platform::db::TenantContext;
use aura_platform::ids::MemberRole;
use aura_platform::provisioning::{self, LifecycleError};
use aura_platform::tenants::Workspace;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::http::{header, Method};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

mod activities;
mod board;
mod contacts;
mod custom_fields;
mod deals;
mod document;
mod exports;
mod follow_ups;
pub(crate) mod idempotency;
mod organizations;
mod processes;
mod products;
mod snapshot;

use crate::error::Problem;
use crate::extract::Id;
use crate::rate_limit::{self, ClientAddress};
use crate::{refusals, session};
use crate::{AppState, WebError};

#[derive(OpenApi)]
#[openapi(
    info(title = "Aura CRM API", version = "1", description = include_str!("overview.md")),
    components(schemas(Problem)),
    tags(
        (name = "auth", description = "Access tokens, and who the caller is."),
        (name = "organizations", description = "Companies, with their parent and subsidiaries."),
        (name = "contacts", description = "People, their owner, and the activities logged with them. A rep reaches only their own."),
        (name = "deals", description = "Deals in a sales process: stage moves, contacts, line items and history. A rep reaches only their own."),
        (name = "board", description = "A sales process's pipeline board and snapshot."),
        (name = "processes", description = "Sales processes and their stages: every member reads them, admins change them."),
        (name = "products", description = "The product catalog and its pricing: every member reads it, admins change it."),
        (name = "custom fields", description = "The extra fields admins define for organizations, contacts and deals."),
        (name = "exports", description = "The whole workspace as CSV or JSON lines, made in the background: admins only, with a one-time code."),
        (name = "platform", description = "The platform's own integrations, on the apex only."),
    ),
)]
struct ApiDoc;

/// The API's routes and its document, built together from the handlers' `#[utoipa::path]`
/// attributes, so no route can go undocumented (the attack suite attacks what is documented).
struct Api {
    workspace: Router<AppState>,
    platform: Router<AppState>,
    document: utoipa::openapi::OpenApi,
}

fn api() -> Api {
    let (workspace, workspace_doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(issue_token))
        .routes(routes!(refresh_token))
        .routes(routes!(me))
        .merge(organizations::routes())
        .merge(contacts::routes())
        .merge(activities::routes())
        .merge(custom_fields::routes())
        .merge(processes::routes())
        .merge(deals::routes())
        .merge(follow_ups::routes())
        .merge(products::routes())
        .merge(board::routes())
        .merge(snapshot::routes())
        .merge(exports::routes())
        .split_for_parts();
    let (platform, platform_doc) = OpenApiRouter::new()
        .routes(routes!(contract_signed))
        .split_for_parts();
    let mut document = workspace_doc;
    document.merge(platform_doc);
    idempotency::Documented.modify(&mut document);
    document::finish(&mut document);
    Api {
        workspace,
        platform,
        document,
    }
}

/// Routes of the workspace hosts.
pub fn routes() -> Router<AppState> {
    api().workspace
}

/// Routes of the apex: the platform's integrations.
pub fn platform_routes() -> Router<AppState> {
    api().platform
}

/// The OpenAPI document of every route above.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| api().document);
    &DOCUMENT
}

/// The OpenAPI document, served on every host.
pub async fn openapi() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(document())
}

/// The paging parameters of every list: keyset pages, `limit` rows at a time, continued from
/// the previous page's `next`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next` of the previous page: an opaque cursor, sent back as it came. Anything else
    /// is refused (422); a cursor from another list (another `sort`, or `deleted`) starts from
    /// the first page.
    after: Option<String>,
    /// Rows per page: 25 unless given, at most 100 (more is read as 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, example = 25)]
    limit: Option<String>,
}

impl PageQuery {
    /// The cursor and the page size, each refused by name when it does not parse.
    pub fn parse<C: FromStr>(&self) -> Result<(Option<C>, Option<i64>), WebError> {
        Ok((
            param("after", self.after.as_deref())?,
            param("limit", self.limit.as_deref())?,
        ))
    }
}

/// One page of a list.
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    items: Vec<T>,
    /// Pass as `after` for the next page (an opaque cursor); null on the last page.
    next: Option<String>,
}

impl<T, Id> From<aura_crm::paging::Page<T, Id>> for Page<T>
where
    aura_crm::paging::Cursor<Id>: std::fmt::Display,
{
    fn from(page: aura_crm::paging::Page<T, Id>) -> Self {
        Self {
            items: page.items,
            next: page.next.map(|cursor| cursor.to_string()),
        }
    }
}

/// A query parameter that does not parse is refused by name (422), not ignored.
fn param<T: FromStr>(name: &str, raw: Option<&str>) -> Result<Option<T>, WebError> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(value) => value.parse().map(Some).map_err(|_| {
            aura_crm::WriteError::<()>::invalid(name, format!("`{value}` is not valid here."))
                .into()
        }),
    }
}

/// 201 with the new record and its address.
fn created(location: String, body: impl Serialize) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = header::HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A JSON body; a malformed one is answered with a problem document, not plain text.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(WebError::UnsupportedMediaType),
            Err(_) => Err(WebError::MalformedBody),
        }
    }
}

/// A query string; one that does not parse is answered with a problem document, not plain text.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(_) => Err(WebError::MalformedQuery),
        }
    }
}

/// An API caller, authenticated by their bearer token (an access token or an API key) and
/// re-checked against the database.
#[derive(Clone)]
pub struct ApiCaller {
    pub context: TenantContext,
    pub workspace: Workspace,
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Authenticated already by a layer (`idempotency`): once per request, once counted.
        if let Some(caller) = parts.extensions.get::<Self>() {
            return Ok(caller.clone());
        }
        let workspace = session::workspace(parts)?;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(WebError::Unauthorized)?
            .trim()
            .to_owned();
        let context = if token.starts_with(api_keys::PREFIX) {
            key_context(parts, state, &workspace, &token).await?
        } else {
            match tokens::authenticate(&state.db, &state.tokens, workspace.id, &token).await? {
                TokenCheck::Member(context) => context,
                TokenCheck::OtherWorkspace { user, tenant } => {
                    // Counted against the user first, so refusals cannot flood the trail.
                    rate_limit::per_user(state, user).await?;
                    audit::record_foreign_token(&state.db, workspace.id, user, tenant).await?;
                    state.metrics.count_refusal(Refusal::OtherWorkspace);
                    return Err(WebError::Unauthorized);
                }
                TokenCheck::Refused => return Err(WebError::Unauthorized),
            }
        };
        // A key's identity is its own user: a key counts against the limit as one caller.
        rate_limit::per_user(state, context.user_id).await?;
        // A read-only key is refused any write here; its transactions refuse them too.
        if context.read_only && !matches!(parts.method, Method::GET | Method::HEAD) {
            return Err(WebError::Forbidden);
        }
        refusals::Caller::note(parts, context);
        Ok(Self { context, workspace })
    }
}

/// The context of an API key presented on `workspace`'s host. A key that names a real key this
/// host refuses (another workspace's, revoked, expired) is written to this workspace's audit
/// log, after counting against the client's address so refusals cannot flood the trail.
async fn key_context(
    parts: &mut Parts,
    state: &AppState,
    workspace: &Workspace,
    key: &str,
) -> Result<TenantContext, WebError> {
    let client = ClientAddress::from_request_parts(parts, state).await?;
    match api_keys::authenticate(&state.db, workspace.id, key, client.ip()).await? {
        KeyCheck::Valid(context) => Ok(context),
        KeyCheck::Refused { other_workspace } => {
            rate_limit::per_client_address(state, &client).await?;
            api_keys::record_refused(&state.db, workspace.id, key).await?;
            if other_workspace {
                state.metrics.count_refusal(Refusal::OtherWorkspace);
            }
            Err(WebError::Unauthorized)
        }
        KeyCheck::Unknown => Err(WebError::Unauthorized),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// Single use: exchange it at `/api/v1/auth/refresh` for the next pair.
    refresh_token: String,
}

impl From<tokens::Tokens> for TokenResponse {
    fn from(t: tokens::Tokens) -> Self {
        Self {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in.as_secs(),
            refresh_token: t.refresh_token,
        }
    }
}

/// Exchanges a member's email and password for an access token and a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/token", request_body = TokenRequest, tag = "auth",
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse),
        (status = 401, description = "Wrong email or password, locked account, or not an active member here"),
    ))]
async fn issue_token(
    State(state): State<AppState>,
    client: ClientAddress,
    parts: Parts,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<Json<TokenResponse>, WebError> {
    rate_limit::per_client_address(&state, &client).await?;
    let workspace = session::workspace(&parts)?;
    match tokens::issue(
        &state.db,
        &state.tokens,
        workspace.id,
        &request.email,
        &request.password,
        &LoginSource::from(client.ip()),
    )
    .await
    {
        Ok(issued) => Ok(Json(issued.into())),
        Err(LoginError::Rejected) => Err(WebError::Unauthorized),
        Err(LoginError::Db(err)) => Err(err.into()),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Exchanges a refresh token (once) for a new access token and refresh token.
#[utoipa::path(post, path = "/api/v1/auth/refresh", request_body = RefreshRequest, tag = "auth",
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse),
        (status = 401, description = "Unknown, used or expired refresh token, or a deactivated member"),
    ))]
async fn refresh_token(
    State(state): State<AppState>,
    client: ClientAddress,
    parts: Parts,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, WebError> {
    rate_limit::per_client_address(&state, &client).await?;
    let workspace = session::workspace(&parts)?;
    match tokens::refresh(
        &state.db,
        &state.tokens,
        workspace.id,
        &request.refresh_token,
    )
    .await
    {
        Ok(issued) => Ok(Json(issued.into())),
        Err(RefreshError::Invalid) => Err(WebError::Unauthorized),
        Err(RefreshError::Db(err)) => Err(err.into()),
    }
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    user_id: Uuid,
    role: MemberRole,
    workspace_id: Uuid,
    workspace_slug: String,
    workspace_name: String,
}

/// The caller: who they are in this workspace, as the database says now.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "Missing, invalid or expired token, or no longer an active member"),
    ))]
async fn me(caller: ApiCaller) -> Json<Me> {
    Json(Me {
        user_id: caller.context.user_id.as_uuid(),
        role: caller.context.role,
        workspace_id: caller.workspace.id.as_uuid(),
        workspace_slug: caller.workspace.slug.to_string(),
        workspace_name: caller.workspace.name,
    })
}

/// Records that a prospect signed their contract (journey 1, step 2), for the external
/// contract-signing system. Served on the apex; authenticated by the platform API key.
#[utoipa::path(post, path = "/api/v1/platform/signups/{id}/contract-signed", tag = "platform",
    security(("platform_key" = [])),
    params(("id" = Uuid, Path, description = "The workspace request")),
    responses(
        (status = 204, description = "Recorded: the request awaits an operator's approval"),
        (status = 401, description = "Missing or wrong platform API key"),
        (status = 404, description = "No such request, or the endpoint is not enabled (no key configured)"),
        (status = 409, description = "The request is not awaiting a contract"),
    ))]
async fn contract_signed(
    State(state): State<AppState>,
    client: ClientAddress,
    Id(id): Id<Uuid>,
    headers: axum::http::HeaderMap,
) -> Result<StatusCode, WebError> {
    rate_limit::per_client_address(&state, &client).await?;
    check_platform_key(&state, &headers)?;
    provisioning::mark_contract_signed_by_integration(&state.db, id)
        .await
        .map_err(|err| match err {
            LifecycleError::NoSuchRequest => WebError::NotFound,
            LifecycleError::WrongStep(_) => WebError::Conflict {
                constraint: "signup_status".into(),
            },
            LifecycleError::Db(err) => err.into(),
            _ => WebError::Internal,
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// The platform's own integrations present the platform API key as a bearer token. Without a
/// configured key their endpoints do not exist (404); a wrong or missing key is 401.
pub(crate) fn check_platform_key(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<(), WebError> {
    let Some(expected) = &state.platform_api_key else {
        return Err(WebError::NotFound);
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if session::constant_time_eq(expected.as_bytes(), presented.trim().as_bytes()) {
        Ok(())
    } else {
        Err(WebError::Unauthorized)
    }
}
