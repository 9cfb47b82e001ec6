//! Follow-ups (issue 18): a planned call, meeting or task with a due time and an owner, on a
//! contact or a deal. While open it may be rescheduled; completing it logs an ordinary,
//! immutable activity and marks the follow-up done with that activity, after which the database
//! refuses any change to it (migration 0038). A rep plans only for themself on their own
//! records, and sees and completes only their own follow-ups: the policies hold it, and the
//! functions here say so kindly first.
//!
//! "Today" and "overdue" are the member's: the day in their own time zone, or else the
//! workspace's. Plans, checked with EXPLAIN ANALYZE as `aura_app` with a rep's tenant context
//! (PostgreSQL 15; two workspaces of 50,000 contacts, 100,000 activities and 25,000 open
//! follow-ups each, 50 members; the machine shared): a member's overdue or due-today list is an
//! index-only range scan of `follow_ups_owner_due_idx` (tenant, owner and both ends of the due
//! range as index conditions) stopping after the page, 0.15-0.3 ms; its count the same range,
//! 0.5 ms for a member's 242 overdue ones. A contact's open follow-ups are a range of
//! `follow_ups_contact_due_idx`. The bounds are `coalesce`d, not `$3 is null or ...`, so they
//! stay index conditions in a generic plan.

use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::ids::UserId;
use aura_platform::permissions::Permission;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::activities::{self, ActivityKind, NewActivity};
use crate::fields::{Check, WriteError};
use crate::ids::{ActivityId, ContactId, DealId, FollowUpId, OrganizationId};
use crate::paging::page_size;

/// Mirrors `aura.follow_up_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "aura.follow_up_kind", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum FollowUpKind {
    Call,
    Meeting,
    Task,
}

impl FollowUpKind {
    pub const ALL: [Self; 3] = [Self::Call, Self::Meeting, Self::Task];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Meeting => "meeting",
            Self::Task => "task",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Call => "Call",
            Self::Meeting => "Meeting",
            Self::Task => "Task",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value.trim())
    }

    /// What the activity logged on completion is: a done task is a note of it.
    pub fn activity_kind(self) -> ActivityKind {
        match self {
            Self::Call => ActivityKind::Call,
            Self::Meeting => ActivityKind::Meeting,
            Self::Task => ActivityKind::Note,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct FollowUpInput {
    /// `call`, `meeting` or `task`.
    #[serde(default)]
    pub kind: String,
    /// What to do: "Call back about the renewal".
    #[serde(default)]
    pub subject: String,
    /// When it is due.
    pub due_at: Option<DateTime<Utc>>,
    /// Who is to do it; the caller, if not given. A sales rep plans only for themself.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub owner_id: Option<UserId>,
    /// The contact it is about (a contact, a deal, or both).
    #[schema(value_type = Option<uuid::Uuid>)]
    pub contact_id: Option<ContactId>,
    /// The deal it is about.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub deal_id: Option<DealId>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowUp {
    #[schema(value_type = uuid::Uuid)]
    pub id: FollowUpId,
    pub kind: FollowUpKind,
    pub subject: String,
    pub due_at: DateTime<Utc>,
    #[schema(value_type = uuid::Uuid)]
    pub owner_id: UserId,
    pub owner_name: Option<String>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub contact_id: Option<ContactId>,
    /// The contact's name, if the caller may see the contact.
    pub contact_name: Option<String>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub deal_id: Option<DealId>,
    /// The deal's name, if the caller may see the deal.
    pub deal_name: Option<String>,
    /// Set once done; the activity that records it is `done_activity_id`.
    pub done_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub done_activity_id: Option<ActivityId>,
    pub created_at: DateTime<Utc>,
}

/// Which of the caller's open follow-ups to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Due {
    /// Due before today began (in the member's time zone).
    Overdue,
    /// Due today.
    Today,
    /// Every open one, the earliest first.
    Open,
}

/// A short list and how many there are in all.
#[derive(Debug, Clone, Default)]
pub struct DueList {
    pub items: Vec<FollowUp>,
    pub total: i64,
}

/// The member's overdue and due-today follow-ups, for the dashboard.
#[derive(Debug, Clone, Default)]
pub struct Agenda {
    pub overdue: DueList,
    pub today: DueList,
}

/// Plans a follow-up on a contact, a deal or both (a deal's contact).
pub async fn plan(
    pool: &AppPool,
    context: TenantContext,
    input: &FollowUpInput,
) -> Result<FollowUpId, WriteError<FollowUp>> {
    let mut check = Check::new();
    let kind = FollowUpKind::parse(&input.kind);
    if kind.is_none() {
        check.refuse("kind", "Choose call, meeting or task.");
    }
    let subject = check.required("subject", "What to do", &input.subject, 500);
    if input.due_at.is_none() {
        check.refuse("due_at", "Say when it is due.");
    }
    if input.contact_id.is_none() && input.deal_id.is_none() {
        check.refuse("contact_id", "Plan it on a contact or a deal.");
    }
    check.finish()?;
    // Planning for someone else is for managers and admins, as giving a contact away is.
    let owner = input.owner_id.unwrap_or(context.user_id);
    if owner != context.user_id && !context.role.may(Permission::AssignContacts) {
        return Err(WriteError::NotAllowed);
    }
    let mut tx = pool.begin(context).await?;
    let member = sqlx::query_scalar!(
        r#"select true as "active!" from tenant_members
           where tenant_id = $1 and user_id = $2 and deactivated_at is null"#,
        context.tenant_id.as_uuid(),
        owner as UserId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    if member.is_none() {
        return Err(WriteError::invalid(
            "owner_id",
            "Give it to an active member of this workspace.",
        ));
    }
    // The records are read under their own policies: one the caller may not see is "not found".
    let contact_owner = match input.contact_id {
        None => None,
        Some(contact) => Some(
            sqlx::query_scalar!(
                r#"select assigned_to as "owner: UserId" from contacts
                   where tenant_id = $1 and id = $2 and deleted_at is null"#,
                context.tenant_id.as_uuid(),
                contact as ContactId,
            )
            .fetch_optional(tx.conn())
            .await
            .map_err(DbError::from)?
            .ok_or_else(|| WriteError::invalid("contact_id", "No such contact."))?,
        ),
    };
    let deal_owner = match input.deal_id {
        None => None,
        Some(deal) => Some(
            sqlx::query_scalar!(
                r#"select assigned_to as "owner: UserId" from deals
                   where tenant_id = $1 and id = $2 and deleted_at is null"#,
                context.tenant_id.as_uuid(),
                deal as DealId,
            )
            .fetch_optional(tx.conn())
            .await
            .map_err(DbError::from)?
            .ok_or_else(|| WriteError::invalid("deal_id", "No such deal."))?,
        ),
    };
    let id = sqlx::query_scalar!(
        r#"insert into follow_ups (tenant_id, kind, subject, due_at, owner_id, contact_id,
                                   contact_owner, deal_id, deal_owner, created_by, updated_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
           returning id as "id: FollowUpId""#,
        context.tenant_id.as_uuid(),
        kind.unwrap_or(FollowUpKind::Task) as FollowUpKind,
        subject,
        input.due_at,
        owner as UserId,
        input.contact_id as Option<ContactId>,
        contact_owner as Option<UserId>,
        input.deal_id as Option<DealId>,
        deal_owner as Option<UserId>,
        context.user_id as UserId,
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(id)
}

/// Moves an open follow-up to another due time. `NotFound` if the caller may not see it or it
/// is done (a done one is history).
pub async fn reschedule(
    pool: &AppPool,
    context: TenantContext,
    id: FollowUpId,
    due_at: DateTime<Utc>,
) -> Result<(), WriteError<FollowUp>> {
    let mut tx = pool.begin(context).await?;
    let moved = sqlx::query_scalar!(
        r#"update follow_ups set due_at = $3, version = version + 1, updated_at = now(),
                                 updated_by = $4
           where tenant_id = $1 and id = $2 and done_at is null and deleted_at is null
           returning true as "moved!""#,
        context.tenant_id.as_uuid(),
        id as FollowUpId,
        due_at,
        context.user_id as UserId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    if moved.is_none() {
        return Err(WriteError::NotFound);
    }
    tx.commit().await?;
    Ok(())
}

/// Completes an open follow-up: logs what was done as an activity (the subject, and `note` if
/// given) on the same contact and deal, taken part in by the caller, now; and marks the
/// follow-up done with it, in one transaction. `NotFound` if the caller may not see it or it is
/// already done.
pub async fn complete(
    pool: &AppPool,
    context: TenantContext,
    id: FollowUpId,
    note: Option<&str>,
) -> Result<ActivityId, WriteError<FollowUp>> {
    let mut check = Check::new();
    let note = check.optional("note", "The note", note.unwrap_or(""), 9_000);
    check.finish()?;
    let mut tx = pool.begin(context).await?;
    let open = sqlx::query!(
        r#"select f.kind as "kind: FollowUpKind", f.subject,
                  f.contact_id as "contact_id: ContactId",
                  f.contact_owner as "contact_owner: UserId",
                  f.deal_id as "deal_id: DealId", f.deal_owner as "deal_owner: UserId",
                  coalesce(c.organization_id, d.organization_id)
                      as "organization_id: OrganizationId"
           from follow_ups f
           left join contacts c on c.tenant_id = f.tenant_id and c.id = f.contact_id
           left join deals d on d.tenant_id = f.tenant_id and d.id = f.deal_id
           where f.tenant_id = $1 and f.id = $2 and f.done_at is null and f.deleted_at is null
           for update of f"#,
        context.tenant_id.as_uuid(),
        id as FollowUpId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    let Some(open) = open else {
        return Err(WriteError::NotFound);
    };
    let description = match note {
        Some(note) => format!("{}\n\n{note}", open.subject),
        None => open.subject,
    };
    let activity = activities::insert(
        &mut tx,
        &NewActivity {
            kind: open.kind.activity_kind(),
            description,
            occurred_at: Utc::now(),
            participant: context.user_id,
            contact: open.contact_id,
            contact_owner: open.contact_owner,
            deal: open.deal_id,
            deal_owner: open.deal_owner,
            organization: open.organization_id,
        },
    )
    .await
    .map_err(|err| match err {
        // A rep's follow-up on a record since given to someone else: the record is not theirs
        // to log on any more.
        DbError::Forbidden(_) => WriteError::NotAllowed,
        err => WriteError::Db(err),
    })?;
    sqlx::query!(
        r#"update follow_ups set done_at = now(), done_activity_id = $3,
                                 version = version + 1, updated_at = now(), updated_by = $4
           where tenant_id = $1 and id = $2"#,
        context.tenant_id.as_uuid(),
        id as FollowUpId,
        activity as ActivityId,
        context.user_id as UserId,
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(activity)
}

/// One follow-up, if the caller may see it.
pub async fn get(
    pool: &AppPool,
    context: TenantContext,
    id: FollowUpId,
) -> Result<Option<FollowUp>, DbError> {
    let mut tx = pool.begin(context).await?;
    Ok(fetch(&mut tx, &[id]).await?.pop())
}

/// Where the member's today begins and ends, in their own time zone or else the workspace's.
async fn member_day(tx: &mut TenantTx) -> Result<(DateTime<Utc>, DateTime<Utc>), DbError> {
    let context = *tx.context();
    let day = sqlx::query!(
        r#"select date_trunc('day', now() at time zone z.zone) at time zone z.zone as "start!",
                  (date_trunc('day', now() at time zone z.zone) + interval '1 day')
                      at time zone z.zone as "end!"
           from (select coalesce(u.time_zone, t.timezone) as zone
                 from tenants t, users u where t.id = $1 and u.id = $2) z"#,
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
    )
    .fetch_one(tx.conn())
    .await?;
    Ok((day.start, day.end))
}

/// The caller's own open follow-ups that are `due`, the earliest first, at most `limit`, and
/// how many there are in all.
pub async fn mine(
    pool: &AppPool,
    context: TenantContext,
    due: Due,
    limit: Option<i64>,
) -> Result<DueList, DbError> {
    let mut tx = pool.begin(context).await?;
    due_list(&mut tx, due, page_size(limit)).await
}

/// The dashboard's two lists, `limit` of each.
pub async fn agenda(pool: &AppPool, context: TenantContext, limit: i64) -> Result<Agenda, DbError> {
    let mut tx = pool.begin(context).await?;
    Ok(Agenda {
        overdue: due_list(&mut tx, Due::Overdue, limit).await?,
        today: due_list(&mut tx, Due::Today, limit).await?,
    })
}

/// Plan: a range scan of `follow_ups_owner_due_idx` (tenant, owner, due) for the list, stopping
/// after `limit`, and an index-only count of the same range.
async fn due_list(tx: &mut TenantTx, due: Due, limit: i64) -> Result<DueList, DbError> {
    let context = *tx.context();
    let (start, end) = member_day(tx).await?;
    let (from, before) = match due {
        Due::Overdue => (None, Some(start)),
        Due::Today => (Some(start), Some(end)),
        Due::Open => (None, None),
    };
    let ids = sqlx::query_scalar!(
        r#"select id as "id: FollowUpId" from follow_ups
           where tenant_id = $1 and owner_id = $2 and done_at is null and deleted_at is null
             and due_at >= coalesce($3::timestamptz, '-infinity')
             and due_at < coalesce($4::timestamptz, 'infinity')
           order by due_at, id
           limit $5"#,
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
        from,
        before,
        limit,
    )
    .fetch_all(tx.conn())
    .await?;
    let total = sqlx::query_scalar!(
        r#"select count(*) as "total!" from follow_ups
           where tenant_id = $1 and owner_id = $2 and done_at is null and deleted_at is null
             and due_at >= coalesce($3::timestamptz, '-infinity')
             and due_at < coalesce($4::timestamptz, 'infinity')"#,
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
        from,
        before,
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(DueList {
        items: fetch(tx, &ids).await?,
        total,
    })
}

/// A contact's open follow-ups that the caller may see, the earliest first (at most a page).
pub async fn of_contact(
    pool: &AppPool,
    context: TenantContext,
    contact: ContactId,
) -> Result<Vec<FollowUp>, DbError> {
    let mut tx = pool.begin(context).await?;
    let ids = sqlx::query_scalar!(
        r#"select id as "id: FollowUpId" from follow_ups
           where tenant_id = $1 and contact_id = $2 and done_at is null and deleted_at is null
           order by due_at, id
           limit $3"#,
        context.tenant_id.as_uuid(),
        contact as ContactId,
        page_size(None),
    )
    .fetch_all(tx.conn())
    .await?;
    fetch(&mut tx, &ids).await
}

async fn fetch(tx: &mut TenantTx, ids: &[FollowUpId]) -> Result<Vec<FollowUp>, DbError> {
    let tenant = tx.context().tenant_id;
    let ids: Vec<uuid::Uuid> = ids.iter().map(FollowUpId::as_uuid).collect();
    let rows = sqlx::query_as!(
        FollowUp,
        r#"select f.id as "id: FollowUpId", f.kind as "kind: FollowUpKind", f.subject, f.due_at,
                  f.owner_id as "owner_id: UserId", o.display_name as "owner_name?",
                  f.contact_id as "contact_id: ContactId",
                  trim(c.first_name || ' ' || c.last_name) as "contact_name?",
                  f.deal_id as "deal_id: DealId", d.name as "deal_name?",
                  f.done_at, f.done_activity_id as "done_activity_id: ActivityId", f.created_at
           from unnest($2::uuid[]) with ordinality as wanted (id, position)
           join follow_ups f on f.tenant_id = $1 and f.id = wanted.id
           left join contacts c on c.tenant_id = f.tenant_id and c.id = f.contact_id
           left join deals d on d.tenant_id = f.tenant_id and d.id = f.deal_id
           left join users o on o.id = f.owner_id
           order by wanted.position"#,
        tenant.as_uuid(),
        &ids,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows)
}
