//! The database's own cost of each read scenario: the repository functions the scenario's
//! handler calls, called directly (no HTTP, no session lookup, no template), each user over a
//! pool of one connection of its own:
//!
//! - as `aura_app`, each transaction opened with the member's tenant context
//!   (`AppPool::begin`), so row-level security applies: our floor;
//! - as the owner (a superuser: no row-level security), the same functions and statements,
//!   whose context settings then filter nothing: the difference is the cost of RLS itself.
//!
//! Calling the functions rather than copies of their SQL keeps the baseline the same SQL as
//! the server's by construction; what it adds to the database's time is decoding the rows.
//! The writes' baselines write as their HTTP scenarios do (new contacts, lines removed after
//! each run, stage moves back and forth), so their effects stay in bounds the same way.

use aura_crm::board::{self, BoardFilter};
use aura_crm::contacts::{self, ContactFilter, ContactInput};
use aura_crm::custom_fields::{self, Entity};
use aura_crm::deals::StageMoveInput;
use aura_crm::ids::{ContactId, DealId, ProcessId, StageId};
use aura_crm::line_items::{self, AddLine};
use aura_crm::organizations::{self, OrganizationFilter};
use aura_crm::{activities, dashboard, deals, follow_ups, onboarding, snapshot};
use aura_platform::db::{AppPool, PoolSettings, TenantContext};
use aura_platform::ids::UserId;
use aura_platform::permissions::Permission;
use aura_platform::tenants;
use uuid::Uuid;

/// One user of a baseline: a pool of one connection (`aura_app`'s or the owner's), the
/// member's number and context, and for a stage move the deal it moves, with that deal's version
/// and stage.
pub struct User {
    pub pool: AppPool,
    pub index: usize,
    pub context: TenantContext,
    pub moving: Option<(Uuid, i64, Uuid)>,
}

impl User {
    /// A user connecting to `url` (at its first transaction) as the member of `context`.
    pub fn connect(url: &str, index: usize, context: TenantContext) -> anyhow::Result<Self> {
        let settings = PoolSettings {
            max_connections: 1,
            ..PoolSettings::default()
        };
        Ok(Self {
            pool: AppPool::connect_lazy(url, settings)?,
            index,
            context,
            moving: None,
        })
    }
}

/// `GET /api/v1/deals` with a process, a stage and an owner: `deals::list` (a rep's owner is
/// themself, whatever is asked).
pub async fn deal_list(
    user: &User,
    process: Uuid,
    stage: Uuid,
    owner: Option<Uuid>,
) -> anyhow::Result<usize> {
    let filter = deals::DealFilter {
        process_id: Some(ProcessId::from(process)),
        stage_id: Some(StageId::from(stage)),
        assigned_to: owner.map(UserId::from),
        ..deals::DealFilter::default()
    };
    let page = deals::list(&user.pool, user.context, &filter).await?;
    Ok(page.items.len())
}

/// `GET /api/v1/processes/{id}/board`, no filter (a rep's cards are their own): `board::board`.
pub async fn board(user: &User, process: Uuid) -> anyhow::Result<usize> {
    let board = board::board(
        &user.pool,
        user.context,
        ProcessId::from(process),
        &BoardFilter::default(),
        None,
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("no board"))?;
    Ok(board.columns.iter().map(|c| c.cards.items.len()).sum())
}

/// `GET /api/v1/contacts?search=`: `contacts::list` with a search text.
pub async fn contact_search(user: &User, text: &str) -> anyhow::Result<usize> {
    let filter = ContactFilter {
        search: Some(text.to_owned()),
        ..ContactFilter::default()
    };
    Ok(contacts::list(&user.pool, user.context, &filter)
        .await?
        .page
        .items
        .len())
}

/// The contact page (`aura_web::contacts::page`): the contact, its timeline's first page, the
/// contact fields' definitions and its follow-ups.
pub async fn contact_page(user: &User, contact: Uuid) -> anyhow::Result<usize> {
    let (pool, context) = (&user.pool, user.context);
    let id = ContactId::from(contact);
    contacts::get(pool, context, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no contact"))?;
    let timeline =
        activities::timeline(pool, context, activities::Timeline::Contact(id), None, None).await?;
    custom_fields::list(pool, context, Entity::Contact).await?;
    follow_ups::of_contact(pool, context, id).await?;
    Ok(timeline.items.len())
}

/// The header's search (`aura_web::search`): the first few contacts, organizations and deals
/// whose names start with `text`, through the lists' own search.
pub async fn global_search(user: &User, text: &str) -> anyhow::Result<usize> {
    let (pool, context) = (&user.pool, user.context);
    const PER_KIND: i64 = 5;
    let contacts = contacts::list(
        pool,
        context,
        &ContactFilter {
            search: Some(text.to_owned()),
            limit: Some(PER_KIND),
            ..ContactFilter::default()
        },
    )
    .await?;
    let organizations = organizations::list(
        pool,
        context,
        &OrganizationFilter {
            name_prefix: Some(text.to_owned()),
            limit: Some(PER_KIND),
            ..OrganizationFilter::default()
        },
    )
    .await?;
    let deals = deals::list(
        pool,
        context,
        &deals::DealFilter {
            search: Some(text.to_owned()),
            limit: Some(PER_KIND),
            ..deals::DealFilter::default()
        },
    )
    .await?;
    Ok(contacts.page.items.len() + organizations.items.len() + deals.items.len())
}

/// The dashboard `/` (`aura_web::dashboard::home`): the workspace's settings, the processes,
/// the numbers (with the team table for a manager), the member's pipeline, what needs
/// attention and the agenda; the onboarding checklist for an admin.
pub async fn dashboard(user: &User) -> anyhow::Result<usize> {
    let (pool, context) = (&user.pool, user.context);
    tenants::settings(pool, context).await?;
    deals::processes(pool, context).await?;
    dashboard::numbers(pool, context, None).await?;
    board::my_pipeline(pool, context).await?;
    let attention = dashboard::attention(pool, context).await?;
    follow_ups::agenda(pool, context, dashboard::SHORT_LIST).await?;
    if context.role.may(Permission::ManageMembers) {
        onboarding::checklist(pool, context).await?;
    }
    Ok(attention.recent_activity.len())
}

/// The pipeline snapshot page of `process` for this quarter (`aura_web::snapshot`): the
/// workspace's today, then the snapshot of everyone's deals (a rep's are their own).
pub async fn snapshot(user: &User, process: Uuid) -> anyhow::Result<usize> {
    let (pool, context) = (&user.pool, user.context);
    let (today, _) = snapshot::workspace_today(pool, context).await?;
    let period = snapshot::Preset::Quarter.period(today);
    let snapshot = snapshot::snapshot(pool, context, ProcessId::from(process), period, None)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no snapshot"))?;
    Ok(snapshot.stages.len())
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the first page of the workspace's contacts as
/// `contacts::list` reads them (`contacts::fetch`'s own statement), in the member's context:
/// where the joins to `users` (owner, created by, updated by) spend their time under the users
/// policy.
pub async fn explain_contacts_fetch(user: &User) -> anyhow::Result<Vec<String>> {
    let mut tx = user.pool.begin(user.context).await?;
    let tenant = user.context.tenant_id.as_uuid();
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "select id from contacts where tenant_id = $1 and deleted_at is null
         order by sort_key, id limit 25",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    // The server's own statement (aura-crm's `contacts/fetch.sql`), so the plan cannot drift.
    Ok(sqlx::query_scalar(&format!(
        "explain (analyze, buffers, costs off) {}",
        contacts::FETCH_SQL
    ))
    .bind(tenant)
    .bind(&ids)
    .fetch_all(tx.conn())
    .await?)
}

/// `POST /api/v1/deals/{id}/stage`: `deals::move_to_stage`; gives the deal's new version.
pub async fn move_stage(user: &User, deal: Uuid, version: i64, to: Uuid) -> anyhow::Result<i64> {
    let input = StageMoveInput {
        stage_id: Some(StageId::from(to)),
        version,
        lost_reason: None,
    };
    let moved = deals::move_to_stage(&user.pool, user.context, DealId::from(deal), &input).await?;
    Ok(moved.version)
}

/// `POST /api/v1/deals/{id}/lines`: `line_items::add`.
pub async fn add_line(
    user: &User,
    deal: Uuid,
    product: Uuid,
    quantity: &str,
) -> anyhow::Result<usize> {
    let input = AddLine {
        product_id: product.to_string(),
        quantity: quantity.to_owned(),
        unit_price: String::new(),
        override_reason: String::new(),
    };
    let lines = line_items::add(&user.pool, user.context, DealId::from(deal), &input).await?;
    Ok(lines.items.len())
}

/// `POST /api/v1/contacts`: `contacts::create`, then `contacts::get` for the answer.
pub async fn create_contact(user: &User, n: u64) -> anyhow::Result<usize> {
    let input = ContactInput {
        first_name: "Baseline".to_owned(),
        last_name: Some(format!("Person {n}")),
        email: Some(format!("baseline{n}@bench.example")),
        ..ContactInput::default()
    };
    let id = contacts::create(&user.pool, user.context, &input).await?;
    contacts::get(&user.pool, user.context, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no contact"))?;
    Ok(1)
}
