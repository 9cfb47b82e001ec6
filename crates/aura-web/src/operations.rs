//! Platform operators' actions on workspace requests (journey 1, steps 4-6): record the signed
//! contract, then approve, which provisions the workspace.

use std::time::{Duration, Instant};

use askama::Template;
use aura_platform::console::{self, WorkspaceOverview, WorkspaceSearch};
use aura_platform::cursor::Cursor;
use aura_platform::ids::{TenantId, TenantSlug};
use aura_platform::outbox::{self, OutboxMessage};
use aura_platform::provisioning::{self, Activation, LifecycleError};
use aura_platform::signup::{self, Signup};
use aura_platform::tenants::{self, TenantStatus};
use aura_platform::termination::{self, GracePeriod};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::extract::{Id, MemberForm};
use crate::forms::{self, NoFields};
use crate::layout::{render, Chrome, Section};
use crate::session::ApexMember;
use crate::time::{currency_choices, zone_choices, Choice};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/account/requests/{id}/contract-signed",
            post(mark_contract_signed),
        )
        .route(
            "/account/requests/{id}/activate",
            get(activation_form).post(activate),
        )
        .route("/outbox", get(outbox_page))
        .route("/workspaces", get(workspaces_page))
        .route("/platform", get(health_page))
        .route("/workspaces/{id}/suspend", post(suspend))
        .route("/workspaces/{id}/reactivate", post(reactivate))
        .route("/workspaces/{id}/delete", post(delete))
        .route(
            "/workspaces/{id}/schedule-deletion",
            post(schedule_deletion),
        )
        .route("/workspaces/{id}/cancel-deletion", post(cancel_deletion))
}

#[derive(Template)]
#[template(path = "operations/workspaces.html")]
struct WorkspacesPage {
    chrome: Chrome,
    /// Each workspace, its address, and when its scheduled deletion is due.
    workspaces: Vec<(WorkspaceOverview, String, Option<DateTime<Utc>>)>,
    /// The search as typed.
    q: String,
    next_query: Option<String>,
    /// The first page's address, on every later page.
    first_href: Option<String>,
    default_grace_days: u16,
    max_grace_days: u16,
}

#[derive(Debug, Default, Deserialize)]
struct WorkspacesQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
}

/// The operators' list (003 "Super Admin"): every workspace with its members, records and last
/// activity, a page at a time, searchable by the start of its name or subdomain.
async fn workspaces_page(
    State(state): State<AppState>,
    member: ApexMember,
    Query(query): Query<WorkspacesQuery>,
) -> Result<Response, WebError> {
    if !member.signed_in.is_platform_admin {
        return Err(WebError::Forbidden);
    }
    let search = WorkspaceSearch::new(&query.q);
    let after = query.after.as_deref().and_then(Cursor::parse);
    let page = console::workspace_page(
        &state.db,
        member.signed_in.user_id,
        search.as_ref(),
        after.as_ref(),
    )
    .await?;
    let next_query = page.next.map(|cursor| match &search {
        Some(search) => format!("q={}&after={cursor}", forms::encode(search.as_str())),
        None => format!("after={cursor}"),
    });
    let scheduled = termination::scheduled(&state.db, member.signed_in.user_id).await?;
    let workspaces = page
        .workspaces
        .into_iter()
        .map(|w| {
            let url = state.site.workspace_url(&w.slug);
            let due = scheduled
                .iter()
                .find(|s| s.tenant_id == w.id)
                .map(|s| s.due_at);
            (w, url, due)
        })
        .collect();
    Ok(render(&WorkspacesPage {
        chrome: Chrome::for_apex_member(Section::Workspaces, &member.signed_in),
        workspaces,
        first_href: after.is_some().then(|| match &search {
            Some(search) => format!("/workspaces?q={}", forms::encode(search.as_str())),
            None => "/workspaces".to_owned(),
        }),
        q: query.q,
        next_query,
        default_grace_days: GracePeriod::DEFAULT.as_days(),
        max_grace_days: GracePeriod::MAX_DAYS,
    }))
}

/// How long the health page waits for Redis before calling it unreachable.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// One line of the health panel.
struct Check {
    name: &'static str,
    healthy: bool,
    detail: String,
}

#[derive(Template)]
#[template(path = "operations/health.html")]
struct HealthPage {
    chrome: Chrome,
    checks: Vec<Check>,
    /// Queue, depth, and how long the oldest item has waited.
    queues: Vec<(String, i64, String)>,
}

/// The platform's health for operators (003 "Monitoring"): the database and Redis, with their
/// latency, and the work waiting in the outbox, the webhook deliveries and the job queues.
async fn health_page(
    State(state): State<AppState>,
    member: ApexMember,
) -> Result<Response, WebError> {
    if !member.signed_in.is_platform_admin {
        return Err(WebError::Forbidden);
    }
    let started = Instant::now();
    let database = state.db.ping().await;
    let mut checks = vec![Check {
        name: "Database",
        healthy: database.is_ok(),
        detail: match &database {
            Ok(()) => format!("answers in {:.1} ms", millis(started.elapsed())),
            Err(_) => "does not answer".into(),
        },
    }];
    let pool = state.db.stats();
    checks.push(Check {
        name: "Connection pool",
        healthy: pool.in_use() < pool.max,
        detail: format!(
            "{} of at most {} open, {} in use",
            pool.size,
            pool.max,
            pool.in_use()
        ),
    });
    match tokio::time::timeout(REDIS_TIMEOUT, state.limiter.ping_redis()).await {
        Ok(None) => checks.push(Check {
            name: "Redis",
            healthy: true,
            detail: "not configured (the rate limit counts in this server)".into(),
        }),
        Ok(Some(Ok(latency))) => checks.push(Check {
            name: "Redis",
            healthy: true,
            detail: format!("answers in {:.1} ms", millis(latency)),
        }),
        Ok(Some(Err(_))) | Err(_) => checks.push(Check {
            name: "Redis",
            healthy: false,
            detail: "does not answer (the rate limit lets requests through)".into(),
        }),
    }
    let now = chrono::Utc::now();
    let queues = match database {
        Ok(()) => console::queue_backlog(&state.db)
            .await?
            .into_iter()
            .map(|backlog| {
                let waited = match backlog.oldest {
                    Some(_) => waited(backlog.oldest_age_seconds(now)),
                    None => "nothing waits".into(),
                };
                (backlog.queue.as_str().to_owned(), backlog.depth, waited)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    Ok(render(&HealthPage {
        chrome: Chrome::for_apex_member(Section::Health, &member.signed_in),
        checks,
        queues,
    }))
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

/// A wait in words an operator reads at a glance.
fn waited(seconds: f64) -> String {
    let seconds = seconds.round() as i64;
    match seconds {
        s if s < 120 => format!("oldest waiting {s} s"),
        s if s < 7200 => format!("oldest waiting {} min", s / 60),
        s if s < 172_800 => format!("oldest waiting {} h", s / 3600),
        s => format!("oldest waiting {} days", s / 86_400),
    }
}

/// Scheduling a deletion: the grace period in days, and the operator's confirmation.
#[derive(Deserialize)]
struct ScheduleDeletion {
    grace_days: String,
    confirm: Option<String>,
}

async fn schedule_deletion(
    State(state): State<AppState>,
    Id(id): Id<TenantId>,
    MemberForm { member, form }: MemberForm<ScheduleDeletion, ApexMember>,
) -> Result<Response, WebError> {
    let grace = form
        .grace_days
        .trim()
        .parse()
        .ok()
        .and_then(GracePeriod::days)
        .ok_or_else(|| WebError::Invalid {
            constraint: "grace_days".into(),
        })?;
    if form.confirm.is_none() {
        return Err(WebError::Invalid {
            constraint: "confirm".into(),
        });
    }
    let messages = termination::schedule(&state.db, member.signed_in.user_id, id, grace)
        .await
        .map_err(lifecycle_error)?;
    for message in &messages {
        state.mailer.deliver(&state.db, message).await;
    }
    Ok(Redirect::to("/workspaces").into_response())
}

async fn cancel_deletion(
    State(state): State<AppState>,
    Id(id): Id<TenantId>,
    MemberForm { member, .. }: MemberForm<NoFields, ApexMember>,
) -> Result<Response, WebError> {
    termination::cancel(&state.db, member.signed_in.user_id, id)
        .await
        .map_err(lifecycle_error)?;
    Ok(Redirect::to("/workspaces").into_response())
}

async fn suspend(
    State(state): State<AppState>,
    Id(id): Id<TenantId>,
    MemberForm { member, .. }: MemberForm<NoFields, ApexMember>,
) -> Result<Response, WebError> {
    set_status(state, member, id, TenantStatus::Suspended).await
}

async fn reactivate(
    State(state): State<AppState>,
    Id(id): Id<TenantId>,
    MemberForm { member, .. }: MemberForm<NoFields, ApexMember>,
) -> Result<Response, WebError> {
    set_status(state, member, id, TenantStatus::Active).await
}

async fn delete(
    State(state): State<AppState>,
    Id(id): Id<TenantId>,
    MemberForm { member, .. }: MemberForm<NoFields, ApexMember>,
) -> Result<Response, WebError> {
    set_status(state, member, id, TenantStatus::Deleted).await
}

async fn set_status(
    state: AppState,
    member: ApexMember,
    id: TenantId,
    status: TenantStatus,
) -> Result<Response, WebError> {
    provisioning::set_status(&state.db, member.signed_in.user_id, id, status)
        .await
        .map_err(lifecycle_error)?;
    Ok(Redirect::to("/workspaces").into_response())
}

#[derive(Template)]
#[template(path = "operations/outbox.html")]
struct OutboxPage {
    chrome: Chrome,
    messages: Vec<OutboxMessage>,
}

/// Most messages the outbox page shows.
const OUTBOX_PAGE: i64 = 50;

async fn outbox_page(
    State(state): State<AppState>,
    member: ApexMember,
) -> Result<Response, WebError> {
    if !member.signed_in.is_platform_admin {
        return Err(WebError::Forbidden);
    }
    let messages = outbox::recent(&state.db, member.signed_in.user_id, OUTBOX_PAGE).await?;
    Ok(render(&OutboxPage {
        chrome: Chrome::for_apex_member(Section::Outbox, &member.signed_in),
        messages,
    }))
}

async fn mark_contract_signed(
    State(state): State<AppState>,
    Id(id): Id<Uuid>,
    MemberForm { member, .. }: MemberForm<NoFields, ApexMember>,
) -> Result<Response, WebError> {
    provisioning::mark_contract_signed(&state.db, member.signed_in.user_id, id)
        .await
        .map_err(lifecycle_error)?;
    Ok(Redirect::to("/account").into_response())
}

/// What the activation form sends, as typed.
#[derive(Debug, Default, Clone, Deserialize)]
struct ActivationInput {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    company_name: String,
    #[serde(default)]
    industry: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    currency: String,
}

#[derive(Template)]
#[template(path = "operations/activate.html")]
struct ActivationPage {
    chrome: Chrome,
    request: Signup,
    input: ActivationInput,
    base_host: String,
    slug_error: Option<String>,
    name_error: Option<String>,
    industry_error: Option<String>,
    timezone_error: Option<String>,
    currency_error: Option<String>,
    zones: Vec<Choice>,
    currencies: Vec<Choice>,
}

impl ActivationPage {
    fn new(state: &AppState, member: &ApexMember, request: Signup, input: ActivationInput) -> Self {
        Self {
            chrome: Chrome::for_apex_member(Section::Account, &member.signed_in),
            request,
            zones: zone_choices(&input.timezone),
            currencies: currency_choices(&input.currency),
            input,
            base_host: state.site.base_host.clone(),
            slug_error: None,
            name_error: None,
            industry_error: None,
            timezone_error: None,
            currency_error: None,
        }
    }

    fn has_errors(&self) -> bool {
        [
            &self.slug_error,
            &self.name_error,
            &self.industry_error,
            &self.timezone_error,
            &self.currency_error,
        ]
        .iter()
        .any(|e| e.is_some())
    }
}

/// The request, if this operator may act on it.
async fn request_for(state: &AppState, member: &ApexMember, id: Uuid) -> Result<Signup, WebError> {
    if !member.signed_in.is_platform_admin {
        return Err(WebError::Forbidden);
    }
    signup::by_id(&state.db, member.signed_in.user_id, id)
        .await?
        .ok_or(WebError::NotFound)
}

async fn activation_form(
    State(state): State<AppState>,
    member: ApexMember,
    Id(id): Id<Uuid>,
) -> Result<Response, WebError> {
    let request = request_for(&state, &member, id).await?;
    let input = ActivationInput {
        slug: suggest_slug(&request.company_name),
        company_name: request.company_name.clone(),
        timezone: "UTC".into(),
        currency: "USD".into(),
        ..ActivationInput::default()
    };
    Ok(render(&ActivationPage::new(
        &state, &member, request, input,
    )))
}

async fn activate(
    State(state): State<AppState>,
    Id(id): Id<Uuid>,
    MemberForm {
        member,
        form: input,
    }: MemberForm<ActivationInput, ApexMember>,
) -> Result<Response, WebError> {
    let request = request_for(&state, &member, id).await?;
    let mut page = ActivationPage::new(&state, &member, request, input.clone());
    let slug = input
        .slug
        .trim()
        .parse::<TenantSlug>()
        .map_err(|err| page.slug_error = Some(format!("{err}.")));
    // The same rules, and words, as the workspace's own settings page.
    for (field, problem) in
        tenants::metadata_problems(&input.company_name, &input.industry, &input.currency, "")
    {
        let slot = match field {
            "name" => &mut page.name_error,
            "industry" => &mut page.industry_error,
            _ => &mut page.currency_error,
        };
        *slot = Some(problem);
    }
    let (company_name, industry) = (input.company_name.trim(), input.industry.trim());
    let currency = input.currency.trim().to_ascii_uppercase();
    let (Ok(slug), false) = (slug, page.has_errors()) else {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response());
    };
    let activation = Activation {
        signup_id: id,
        slug: slug.clone(),
        company_name: company_name.to_owned(),
        industry: (!industry.is_empty()).then(|| industry.to_owned()),
        timezone: input.timezone.trim().to_owned(),
        currency,
    };

    let provisioned = async {
        let mut provisioning =
            provisioning::begin(&state.db, member.signed_in.user_id, &activation).await?;
        aura_crm::workspace_defaults::seed(provisioning.tx()).await?;
        provisioning.finish().await
    }
    .await;
    match provisioned {
        Ok(_) => Ok(Redirect::to(&format!("/account?activated={slug}")).into_response()),
        Err(LifecycleError::SlugTaken) => {
            page.slug_error = Some(format!(
                "{slug} is already another workspace's address; choose another."
            ));
            Ok((StatusCode::CONFLICT, render(&page)).into_response())
        }
        Err(LifecycleError::UnknownTimezone) => {
            page.timezone_error = Some(tenants::UNKNOWN_TIMEZONE.into());
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        // The page says why (the request shows as unverified).
        Err(LifecycleError::EmailUnverified) => {
            page.request.email_verified = false;
            Ok((StatusCode::CONFLICT, render(&page)).into_response())
        }
        Err(other) => Err(lifecycle_error(other)),
    }
}

fn lifecycle_error(err: LifecycleError) -> WebError {
    match err {
        LifecycleError::NotOperator => WebError::Forbidden,
        LifecycleError::NoSuchRequest | LifecycleError::NoSuchWorkspace => WebError::NotFound,
        LifecycleError::WrongWorkspaceStatus(_) => WebError::Conflict {
            constraint: "tenant_status".into(),
        },
        LifecycleError::WrongStep(_) => WebError::Conflict {
            constraint: "signup_status".into(),
        },
        LifecycleError::EmailUnverified => WebError::Conflict {
            constraint: "email_verified".into(),
        },
        LifecycleError::SlugTaken => WebError::Conflict {
            constraint: "tenants_slug_key".into(),
        },
        LifecycleError::UnknownTimezone => WebError::Invalid {
            constraint: "timezone".into(),
        },
        LifecycleError::Db(err) => err.into(),
    }
}

/// A subdomain made from a company name: lowercase letters and digits, words joined by hyphens.
fn suggest_slug(company_name: &str) -> String {
    let mut slug = String::new();
    for c in company_name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(40);
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::suggest_slug;

    #[test]
    fn waits_read_in_the_unit_that_fits() {
        use super::waited;
        assert_eq!(waited(5.4), "oldest waiting 5 s");
        assert_eq!(waited(600.0), "oldest waiting 10 min");
        assert_eq!(waited(3.0 * 3600.0), "oldest waiting 3 h");
        assert_eq!(waited(3.0 * 86_400.0), "oldest waiting 3 days");
    }

    #[test]
    fn slugs_are_suggested_from_company_names() {
        assert_eq!(suggest_slug("NewCo Ltd."), "newco-ltd");
        assert_eq!(suggest_slug("  Über & Söhne GmbH "), "ber-s-hne-gmbh");
        assert_eq!(suggest_slug("A".repeat(60).as_str()).len(), 40);
        assert!(suggest_slug("Acme")
            .parse::<aura_platform::ids::TenantSlug>()
            .is_ok());
    }
}
