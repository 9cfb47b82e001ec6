//! Which site a request is for. The apex (`<base host>`) serves the public pages; each tenant's
//! workspace lives at `<slug>.<base host>`. Only the `Host` header as sent to Aura decides
//! (no `X-Forwarded-Host`: a client can set that to anything).

use aura_platform::auth::{self, Secret};
use aura_platform::ids::TenantSlug;
use aura_platform::tenants::{self, TenantStatus, Workspace};
use axum::extract::Request;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Router;
use axum_extra::extract::CookieJar;
use tower::ServiceExt;

use crate::layout::{Chrome, Section};
use crate::session::{Member, SESSION_COOKIE};
use crate::{AppState, WebError};

#[derive(Debug, PartialEq, Eq)]
pub enum HostKind {
    Apex,
    Workspace(TenantSlug),
    /// Not an address Aura serves.
    Foreign,
}

/// Classifies `host` (as in the `Host` header: name and optional port) against `base_host`.
pub fn classify(host: &str, base_host: &str) -> HostKind {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == base_host {
        return HostKind::Apex;
    }
    match host
        .strip_suffix(base_host)
        .and_then(|rest| rest.strip_suffix('.'))
    {
        Some(label) if !label.contains('.') => label
            .parse::<TenantSlug>()
            .map(HostKind::Workspace)
            .unwrap_or(HostKind::Foreign),
        _ => HostKind::Foreign,
    }
}

/// The apex and workspace routers, chosen per request by its host.
#[derive(Clone)]
pub struct Sites {
    pub apex: Router,
    pub workspace: Router,
}

pub async fn dispatch(state: AppState, sites: Sites, mut request: Request) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default();
    let workspace = match classify(&host, &state.site.base_host) {
        HostKind::Apex => {
            return match sites.apex.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
        HostKind::Workspace(slug) => match tenants::find_by_slug(&state.db, &slug).await {
            Ok(Some(workspace)) if workspace.status == TenantStatus::Active => {
                request.extensions_mut().insert(workspace.clone());
                workspace
            }
            Ok(Some(workspace)) if workspace.is_closing() => {
                if !open_while_closing(request.uri().path()) {
                    return WebError::WorkspaceClosing.into_response();
                }
                request.extensions_mut().insert(workspace.clone());
                workspace
            }
            Ok(Some(workspace)) if workspace.status == TenantStatus::Suspended => {
                return WebError::WorkspaceSuspended.into_response();
            }
            // Deleted: as if it never existed.
            Ok(Some(_)) => return WebError::NotFound.into_response(),
            Ok(None) => return WebError::NotFound.into_response(),
            Err(err) => return WebError::from(err).into_response(),
        },
        HostKind::Foreign => return WebError::NotFound.into_response(),
    };
    let html = crate::error::wants_html(request.headers());
    let cookies = CookieJar::from_headers(request.headers());
    let mut response = match sites.workspace.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let error = response.extensions().get::<WebError>().cloned();
    if let Some(error) = error.filter(|_| html) {
        let chrome = error_chrome(&state, &error, &workspace, &cookies).await;
        response.extensions_mut().insert(chrome);
    }
    response
}

/// What a workspace awaiting its deletion still answers (F1.8: its admins are told they can
/// export meanwhile): signing in and out, and the export's pages and API, whose handlers admit
/// only admins. Everything else is refused as for any suspended workspace.
fn open_while_closing(path: &str) -> bool {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    matches!(
        path,
        "/login" | "/logout" | "/api/v1/auth/token" | "/api/v1/auth/refresh"
    ) || under("/settings/export")
        || under("/api/v1/exports")
}

/// The header of an error page inside a workspace: the workspace's, with the member's navigation
/// when the request came from a signed-in member, so the page leads back into the workspace.
async fn error_chrome(
    state: &AppState,
    error: &WebError,
    workspace: &Workspace,
    cookies: &CookieJar,
) -> Chrome {
    let plain = Chrome::for_workspace(Section::None, workspace);
    // No second look at a database that is down or a caller that is flooding.
    if matches!(
        error,
        WebError::Unavailable | WebError::RateLimited { .. } | WebError::Internal
    ) {
        return plain;
    }
    let Some(token) = cookies
        .get(SESSION_COOKIE)
        .and_then(|cookie| Secret::parse(cookie.value()))
    else {
        return plain;
    };
    match auth::authenticate(&state.db, workspace.id, &token).await {
        Ok(Some(signed_in)) => Chrome::for_member(
            Section::None,
            &Member {
                signed_in,
                workspace: workspace.clone(),
                renewed_cookie: None,
            },
        ),
        _ => plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_classified_against_the_base_host() {
        let base = "localhost:3000";
        assert_eq!(classify("localhost:3000", base), HostKind::Apex);
        assert_eq!(classify("LOCALHOST:3000.", base), HostKind::Apex);
        assert_eq!(
            classify("acme.localhost:3000", base),
            HostKind::Workspace("acme".parse().unwrap())
        );
        for foreign in [
            "evil.example",
            "localhost:3001",
            "a.b.localhost:3000",
            "www.localhost:3000",
            "-x.localhost:3000",
            ".localhost:3000",
            "xlocalhost:3000",
            "",
        ] {
            assert_eq!(classify(foreign, base), HostKind::Foreign, "{foreign}");
        }
    }
}
