//! The page furniture every HTML page shares: the layout's navigation and account menu
//! (`Chrome`), rendering, and serving a page and its htmx fragment from one handler.

use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};

use aura_platform::auth::apex::ApexSignedIn;
use aura_platform::permissions::Permission;
use aura_platform::tenants::Workspace;

use crate::session::Member;
use crate::time::Zone;
use crate::{assets, WebError};

/// Which navigation entry a page belongs to (marked `aria-current` in the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Pricing,
    About,
    SignIn,
    SignUp,
    Account,
    Outbox,
    Workspaces,
    Health,
    Members,
    Settings,
    Audit,
    Contacts,
    Organizations,
    Deals,
    Processes,
    Products,
    Board,
    Search,
    None,
}

/// A navigation entry only some members get (by role, or for operators).
#[derive(Clone)]
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub section: Section,
}

const MEMBERS_LINK: NavLink = NavLink {
    href: "/members",
    label: "Members",
    section: Section::Members,
};
const AUDIT_LINK: NavLink = NavLink {
    href: "/audit",
    label: "Audit log",
    section: Section::Audit,
};

const BOARD_LINK: NavLink = NavLink {
    href: "/board",
    label: "Board",
    section: Section::Board,
};

const CONTACTS_LINK: NavLink = NavLink {
    href: "/contacts",
    label: "Contacts",
    section: Section::Contacts,
};
const ORGANIZATIONS_LINK: NavLink = NavLink {
    href: "/organizations",
    label: "Organizations",
    section: Section::Organizations,
};

const DEALS_LINK: NavLink = NavLink {
    href: "/deals",
    label: "Deals",
    section: Section::Deals,
};

const PRODUCTS_LINK: NavLink = NavLink {
    href: "/products",
    label: "Products",
    section: Section::Products,
};

const PROCESSES_LINK: NavLink = NavLink {
    href: "/settings/processes",
    label: "Processes",
    section: Section::Processes,
};

const SETTINGS_LINK: NavLink = NavLink {
    href: "/settings",
    label: "Settings",
    section: Section::Settings,
};

/// What the layout needs from every page.
#[derive(Clone)]
pub struct Chrome {
    pub section: Section,
    pub script: String,
    pub stylesheet: String,
    pub favicon: String,
    /// The workspace's name on a tenant's host; `None` on the apex.
    pub workspace: Option<String>,
    /// The signed-in member, for the account menu and the sign-out form.
    pub member: Option<MemberChrome>,
    /// The time zone the page shows times in: the member's (their own choice, else the
    /// workspace's); on the apex, the user's own choice, else UTC, and the pages say which.
    pub zone: Zone,
}

#[derive(Clone)]
pub struct MemberChrome {
    pub name: String,
    pub role: &'static str,
    pub csrf_token: String,
    pub links: Vec<NavLink>,
}

impl Chrome {
    /// A page of the apex site.
    pub fn new(section: Section) -> Self {
        Self {
            section,
            script: assets::script_url(),
            stylesheet: assets::stylesheet_url(),
            favicon: assets::favicon_url(),
            workspace: None,
            member: None,
            zone: Zone::default(),
        }
    }

    /// A page of the apex, for a signed-in operator or prospect.
    pub fn for_apex_member(section: Section, signed_in: &ApexSignedIn) -> Self {
        Self {
            member: Some(MemberChrome {
                name: signed_in.display_name.clone(),
                role: if signed_in.is_platform_admin {
                    "Platform operator"
                } else {
                    "Account"
                },
                csrf_token: signed_in.csrf_token.clone(),
                links: if signed_in.is_platform_admin {
                    vec![
                        NavLink {
                            href: "/workspaces",
                            label: "Workspaces",
                            section: Section::Workspaces,
                        },
                        NavLink {
                            href: "/outbox",
                            label: "Outbox",
                            section: Section::Outbox,
                        },
                        NavLink {
                            href: "/platform",
                            label: "Health",
                            section: Section::Health,
                        },
                    ]
                } else {
                    Vec::new()
                },
            }),
            zone: signed_in
                .time_zone
                .as_deref()
                .map_or_else(Zone::default, Zone::named),
            ..Self::new(section)
        }
    }

    /// A page of a workspace, before sign-in.
    pub fn for_workspace(section: Section, workspace: &Workspace) -> Self {
        Self {
            workspace: Some(workspace.name.clone()),
            ..Self::new(section)
        }
    }

    /// A page of a workspace, for a signed-in member.
    pub fn for_member(section: Section, member: &Member) -> Self {
        let signed_in = &member.signed_in;
        Self {
            member: Some(MemberChrome {
                name: signed_in.display_name.clone(),
                role: signed_in.context.role.label(),
                csrf_token: signed_in.csrf_token.clone(),
                links: [
                    (BOARD_LINK, Permission::UseWorkspace),
                    (CONTACTS_LINK, Permission::UseWorkspace),
                    (ORGANIZATIONS_LINK, Permission::UseWorkspace),
                    (DEALS_LINK, Permission::UseWorkspace),
                    (PRODUCTS_LINK, Permission::ReadCatalog),
                    (PROCESSES_LINK, Permission::ReadCatalog),
                    (MEMBERS_LINK, Permission::SeeMembers),
                    (AUDIT_LINK, Permission::ReadAuditLog),
                    (SETTINGS_LINK, Permission::EditSettings),
                ]
                .into_iter()
                .filter(|(_, permission)| member.may(*permission))
                .map(|(link, _)| link)
                .collect(),
            }),
            zone: member.zone(),
            ..Self::for_workspace(section, &member.workspace)
        }
    }
}

/// Whether htmx asked for a fragment (not when it restores history: that needs the page). One
/// handler serves both: htmx gets the rows to put in place, a browser the whole page.
pub(crate) fn wants_fragment(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request") && !headers.contains_key("hx-history-restore-request")
}

/// A page and its htmx fragment share a URL: caches must keep them apart.
pub(crate) fn vary_on_htmx(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("HX-Request"));
    response
}

/// Renders a page; a template that fails to render is a bug, logged and answered with 500.
pub fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "template rendering failed");
            WebError::Internal.into_response()
        }
    }
}
