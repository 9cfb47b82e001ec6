//! Activities (F10): calls, emails, meetings and notes logged on a contact, on a deal, or on
//! both (a call with a contact about a deal). Immutable once
//! logged (F10.4): there is no update here, and the database refuses one (only the deletion
//! columns are granted to `aura_app`, and a trigger guards the rest). A deletion is audited.
//! A rep logs and sees activities only on contacts and deals they may see (the policy compares
//! the owner columns an activity carries, kept in step with its contact's and deal's).

use aura_platform::audit;
use aura_platform::db::{AppPool, DbError, TenantContext, TenantTx};
use aura_platform::ids::UserId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::fields::{Check, WriteError};
use crate::ids::{ActivityId, ContactId, DealId, OrganizationId};
use crate::paging::{page_size, time_position, Cursor, Page};

/// Mirrors `aura.activity_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "aura.activity_kind", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Call,
    Email,
    Meeting,
    Note,
}

impl ActivityKind {
    pub const ALL: [Self; 4] = [Self::Call, Self::Email, Self::Meeting, Self::Note];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Email => "email",
            Self::Meeting => "meeting",
            Self::Note => "note",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Call => "Call",
            Self::Email => "Email",
            Self::Meeting => "Meeting",
            Self::Note => "Note",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value.trim())
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ActivityInput {
    /// `call`, `email`, `meeting` or `note`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub description: String,
    /// When it happened; now, if not given.
    pub occurred_at: Option<DateTime<Utc>>,
    /// The member who took part; the caller, if not given.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub participant_id: Option<UserId>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Activity {
    #[schema(value_type = uuid::Uuid)]
    pub id: ActivityId,
    pub kind: ActivityKind,
    pub description: String,
    pub occurred_at: DateTime<Utc>,
    #[schema(value_type = uuid::Uuid)]
    pub participant_id: UserId,
    pub participant_name: Option<String>,
    /// The contact it was logged on, if any.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub contact_id: Option<ContactId>,
    /// The contact's name, if the caller may see the contact.
    pub contact_name: Option<String>,
    /// The deal it was logged on, if any.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub deal_id: Option<DealId>,
    /// The deal's name, if the caller may see the deal.
    pub deal_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub type ActivityPage = Page<Activity, ActivityId>;

struct ValidActivity {
    kind: ActivityKind,
    description: String,
    occurred_at: DateTime<Utc>,
    participant: UserId,
}

/// Checks the input, and that the participant is a member of the workspace.
async fn validate(
    tx: &mut TenantTx,
    input: &ActivityInput,
) -> Result<ValidActivity, WriteError<Activity>> {
    let mut check = Check::new();
    let kind = ActivityKind::parse(&input.kind);
    if kind.is_none() {
        check.refuse("kind", "Choose call, email, meeting or note.");
    }
    let description = check.required("description", "Description", &input.description, 10_000);
    let occurred_at = input.occurred_at.unwrap_or_else(Utc::now);
    if occurred_at > Utc::now() + chrono::Duration::days(366) {
        check.refuse("occurred_at", "The date is more than a year ahead.");
    }
    check.finish()?;
    let context = *tx.context();
    let participant = input.participant_id.unwrap_or(context.user_id);
    let member = sqlx::query_scalar!(
        r#"select true as "member!" from tenant_members where tenant_id = $1 and user_id = $2"#,
        context.tenant_id.as_uuid(),
        participant as UserId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    if member.is_none() {
        return Err(WriteError::invalid(
            "participant_id",
            "The participant must be a member of this workspace.",
        ));
    }
    Ok(ValidActivity {
        kind: kind.unwrap_or(ActivityKind::Note),
        description,
        occurred_at,
        participant,
    })
}

/// Logs an activity on `contact` (F10.1-F10.2). The activity also records the contact's
/// organization at this moment, for the organization's timeline.
pub async fn log(
    pool: &AppPool,
    context: TenantContext,
    contact: ContactId,
    input: &ActivityInput,
) -> Result<ActivityId, WriteError<Activity>> {
    let mut tx = pool.begin(context).await?;
    let valid = validate(&mut tx, input).await?;
    let Some(id) = insert_on_contact(&mut tx, &valid, contact, None).await? else {
        return Err(WriteError::NotFound);
    };
    tx.commit().await?;
    Ok(id)
}

/// Logs an activity from an organization's page: with `contact`, who must be one of the
/// organization's live contacts that the caller may see (refused by name otherwise).
pub async fn log_on_organization(
    pool: &AppPool,
    context: TenantContext,
    organization: OrganizationId,
    contact: Option<ContactId>,
    input: &ActivityInput,
) -> Result<ActivityId, WriteError<Activity>> {
    let mut tx = pool.begin(context).await?;
    let valid = validate(&mut tx, input).await?;
    let inserted = match contact {
        Some(contact) => insert_on_contact(&mut tx, &valid, contact, Some(organization)).await?,
        None => None,
    };
    let Some(id) = inserted else {
        return Err(WriteError::invalid(
            "contact_id",
            "Choose who it was with: one of the organization's contacts.",
        ));
    };
    tx.commit().await?;
    Ok(id)
}

/// Inserts the activity on a live contact the caller may see (the policy sees to that), if it
/// belongs to `within` when given; `None` when there is no such contact.
async fn insert_on_contact(
    tx: &mut TenantTx,
    valid: &ValidActivity,
    contact: ContactId,
    within: Option<OrganizationId>,
) -> Result<Option<ActivityId>, DbError> {
    let context = *tx.context();
    let id = sqlx::query_scalar!(
        r#"insert into activities (tenant_id, kind, description, occurred_at, participant_id,
                                   contact_id, contact_owner, organization_id, created_by)
           select $1, $2, $3, $4, $5, c.id, c.assigned_to, c.organization_id, $6
           from contacts c
           where c.tenant_id = $1 and c.id = $7 and c.deleted_at is null
             and ($8::uuid is null or c.organization_id = $8)
           returning id as "id: ActivityId""#,
        context.tenant_id.as_uuid(),
        valid.kind as ActivityKind,
        valid.description,
        valid.occurred_at,
        valid.participant as UserId,
        context.user_id as UserId,
        contact as ContactId,
        within as Option<OrganizationId>,
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(id)
}

/// Logs an activity on `deal`, optionally with one of the deal's contacts (a call with them
/// about the deal): it then shows on that contact's timeline too. The activity records the
/// organization of the contact, or else of the deal, for the organization's timeline.
/// `NotFound` if the caller may not see the deal; a contact that is not on the deal, or not
/// one the caller may see, is refused by name.
pub async fn log_on_deal(
    pool: &AppPool,
    context: TenantContext,
    deal: DealId,
    contact: Option<ContactId>,
    input: &ActivityInput,
) -> Result<ActivityId, WriteError<Activity>> {
    let mut tx = pool.begin(context).await?;
    let valid = validate(&mut tx, input).await?;
    let deal_row = sqlx::query!(
        r#"select assigned_to as "owner: UserId",
                  organization_id as "organization_id: OrganizationId"
           from deals where tenant_id = $1 and id = $2 and deleted_at is null"#,
        context.tenant_id.as_uuid(),
        deal as DealId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    let Some(deal_row) = deal_row else {
        return Err(WriteError::NotFound);
    };
    let (contact_owner, organization) = match contact {
        None => (None, deal_row.organization_id),
        Some(contact) => {
            let on_deal = sqlx::query!(
                r#"select c.assigned_to as "owner: UserId",
                          c.organization_id as "organization_id: OrganizationId"
                   from deal_contacts dc
                   join contacts c on c.tenant_id = dc.tenant_id and c.id = dc.contact_id
                   where dc.tenant_id = $1 and dc.deal_id = $2 and dc.contact_id = $3
                     and c.deleted_at is null"#,
                context.tenant_id.as_uuid(),
                deal as DealId,
                contact as ContactId,
            )
            .fetch_optional(tx.conn())
            .await
            .map_err(DbError::from)?;
            let Some(on_deal) = on_deal else {
                return Err(WriteError::invalid(
                    "contact_id",
                    "That contact is not on this deal, or is not yours to log on.",
                ));
            };
            (
                Some(on_deal.owner),
                on_deal.organization_id.or(deal_row.organization_id),
            )
        }
    };
    let id = insert(
        &mut tx,
        &NewActivity {
            kind: valid.kind,
            description: valid.description,
            occurred_at: valid.occurred_at,
            participant: valid.participant,
            contact,
            contact_owner,
            deal: Some(deal),
            deal_owner: Some(deal_row.owner),
            organization,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// An activity as written with its record links and their owners' copies (which the policies
/// read instead of a subquery; the owner of a reassigned record is kept in step by triggers).
pub(crate) struct NewActivity {
    pub kind: ActivityKind,
    pub description: String,
    pub occurred_at: DateTime<Utc>,
    pub participant: UserId,
    pub contact: Option<ContactId>,
    pub contact_owner: Option<UserId>,
    pub deal: Option<DealId>,
    pub deal_owner: Option<UserId>,
    pub organization: Option<OrganizationId>,
}

/// Writes `new`, by the caller, in the caller's transaction.
pub(crate) async fn insert(tx: &mut TenantTx, new: &NewActivity) -> Result<ActivityId, DbError> {
    let context = *tx.context();
    let id = sqlx::query_scalar!(
        r#"insert into activities (tenant_id, kind, description, occurred_at, participant_id,
                                   contact_id, contact_owner, deal_id, deal_owner,
                                   organization_id, created_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           returning id as "id: ActivityId""#,
        context.tenant_id.as_uuid(),
        new.kind as ActivityKind,
        new.description,
        new.occurred_at,
        new.participant as UserId,
        new.contact as Option<ContactId>,
        new.contact_owner as Option<UserId>,
        new.deal as Option<DealId>,
        new.deal_owner as Option<UserId>,
        new.organization as Option<OrganizationId>,
        context.user_id as UserId,
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(id)
}

/// Whether the member may see this live activity (and so delete it: the same rule), for the
/// page that asks before deleting. Plan: the `(tenant_id, id)` primary key.
pub async fn is_visible(
    pool: &AppPool,
    context: TenantContext,
    id: ActivityId,
) -> Result<bool, DbError> {
    let mut tx = pool.begin(context).await?;
    let found = sqlx::query_scalar!(
        r#"select exists (select 1 from activities
                          where tenant_id = $1 and id = $2 and deleted_at is null) as "found!""#,
        context.tenant_id.as_uuid(),
        id as ActivityId,
    )
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(found)
}

/// Soft-deletes an activity, audited with what it said. Its content never changes.
pub async fn delete(
    pool: &AppPool,
    context: TenantContext,
    id: ActivityId,
) -> Result<(), WriteError<Activity>> {
    let mut tx = pool.begin(context).await?;
    let deleted = sqlx::query!(
        r#"update activities set deleted_at = now(), deleted_by = $3
           where tenant_id = $1 and id = $2 and deleted_at is null
           returning kind as "kind: ActivityKind", description, occurred_at, contact_id, deal_id"#,
        context.tenant_id.as_uuid(),
        id as ActivityId,
        context.user_id as UserId,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    let Some(deleted) = deleted else {
        return Err(WriteError::NotFound);
    };
    audit::record(
        &mut tx,
        "activity.deleted",
        "activity",
        id.as_uuid(),
        Some(serde_json::json!({
            "kind": deleted.kind,
            "description": deleted.description,
            "occurred_at": deleted.occurred_at,
            "contact_id": deleted.contact_id,
            "deal_id": deleted.deal_id,
        })),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whose timeline to read.
#[derive(Debug, Clone, Copy)]
pub enum Timeline {
    Contact(ContactId),
    /// Activities logged while the contact belonged to the organization (or on a deal of it).
    Organization(OrganizationId),
    /// Activities logged on the deal.
    Deal(DealId),
}

/// A page of a timeline, newest first (F10.3).
///
/// Plan (as `aura_app`, tenant context): an index scan of `activities_contact_timeline_idx`
/// (or `activities_organization_timeline_idx`, `activities_deal_timeline_idx`) with the tenant,
/// the record and the cursor as index conditions, stopping after a page. A rep's policy check
/// compares the owner columns on the row itself.
pub async fn timeline(
    pool: &AppPool,
    context: TenantContext,
    of: Timeline,
    after: Option<&Cursor<ActivityId>>,
    limit: Option<i64>,
) -> Result<ActivityPage, DbError> {
    let size = page_size(limit);
    let mut tx = pool.begin(context).await?;
    let (contact, organization, deal) = match of {
        Timeline::Contact(id) => (Some(id), None, None),
        Timeline::Organization(id) => (None, Some(id), None),
        Timeline::Deal(id) => (None, None, Some(id)),
    };
    let (at, id) = time_position(after);
    let positions = sqlx::query!(
        r#"select id as "id: ActivityId", occurred_at from activities
           where tenant_id = $1 and deleted_at is null
             and ($2::uuid is null or contact_id = $2)
             and ($3::uuid is null or organization_id = $3)
             and ($7::uuid is null or deal_id = $7)
             and (occurred_at, id) < ($4, $5)
           order by occurred_at desc, id desc
           limit $6"#,
        context.tenant_id.as_uuid(),
        contact as Option<ContactId>,
        organization as Option<OrganizationId>,
        at,
        id as ActivityId,
        size + 1,
        deal as Option<DealId>,
    )
    .fetch_all(tx.conn())
    .await?;
    let positions = Page::from_rows(positions, size, |a| Cursor::time(a.occurred_at, a.id));
    let ids: Vec<ActivityId> = positions.items.iter().map(|a| a.id).collect();
    Ok(Page {
        items: fetch(&mut tx, &ids).await?,
        next: positions.next,
    })
}

async fn fetch(tx: &mut TenantTx, ids: &[ActivityId]) -> Result<Vec<Activity>, DbError> {
    let tenant = tx.context().tenant_id;
    let ids: Vec<uuid::Uuid> = ids.iter().map(ActivityId::as_uuid).collect();
    let activities = sqlx::query_as!(
        Activity,
        r#"select a.id as "id: ActivityId", a.kind as "kind: ActivityKind", a.description,
                  a.occurred_at, a.participant_id as "participant_id: UserId",
                  p.display_name as "participant_name?",
                  a.contact_id as "contact_id: ContactId",
                  trim(c.first_name || ' ' || c.last_name) as "contact_name?",
                  a.deal_id as "deal_id: DealId", d.name as "deal_name?", a.created_at
           from unnest($2::uuid[]) with ordinality as wanted (id, position)
           join activities a on a.tenant_id = $1 and a.id = wanted.id
           left join contacts c on c.tenant_id = a.tenant_id and c.id = a.contact_id
           left join deals d on d.tenant_id = a.tenant_id and d.id = a.deal_id
           left join users p on p.id = a.participant_id
           order by wanted.position"#,
        tenant.as_uuid(),
        &ids,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(activities)
}
