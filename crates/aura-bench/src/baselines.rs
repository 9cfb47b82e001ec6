//! The database's own cost of each read scenario: the statements the repository functions run,
//! copied verbatim (each function below names the one it mirrors; a change there must be
//! copied here), sent over one connection per user with the same transactions:
//!
//! - as `aura_app`, each transaction opened with the same `SET LOCAL` context as
//!   `aura_platform::db::context::set_context`, so row-level security applies: our floor;
//! - as the owner (a superuser: no row-level security), the same statements without context:
//!   the difference is the cost of RLS itself.
//!
//! Reads are rolled back (the repository's transactions end by being dropped), as the app does.

use sqlx::{Connection, Executor, PgConnection, Postgres, Row, Transaction};
use uuid::Uuid;

/// Who runs a baseline's statements.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub tenant: Uuid,
    pub user: Uuid,
    /// `admin`, `manager` or `sales_rep`.
    pub role: &'static str,
}

impl Member {
    /// Whether the member sees every record (`Permission::AllDeals`, `AllContacts`).
    pub fn sees_all(&self) -> bool {
        self.role != "sales_rep"
    }
}

/// One user of a baseline: its connection, the member it stands for, and whether it runs as
/// `aura_app` with context (`rls`) or as the owner.
pub struct User {
    pub conn: PgConnection,
    pub member: Member,
    pub rls: bool,
}

/// A transaction as the repository's: with the tenant context when under RLS.
async fn begin<'c>(user: &'c mut User) -> sqlx::Result<(Transaction<'c, Postgres>, Member)> {
    let member = user.member;
    let rls = user.rls;
    let mut tx = user.conn.begin().await?;
    if rls {
        // aura_platform::db::context::set_context, statement for statement.
        let statements = format!(
            "SET LOCAL app.current_tenant_id = '{}';SET LOCAL app.current_user_id = '{}';SET LOCAL app.\"current_role\" = '{}';",
            member.tenant, member.user, member.role
        );
        (&mut *tx).execute(statements.as_str()).await?;
    }
    Ok((tx, member))
}

/// `aura_crm::organizations::prefix_range`, copied: the key range of a search prefix.
pub fn prefix_range(prefix: Option<&str>) -> (String, String) {
    let prefix = prefix.map(|p| p.trim().to_lowercase()).unwrap_or_default();
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return (prefix, chars.into_iter().collect());
        }
    }
    (String::new(), char::MAX.to_string().repeat(4))
}

/// `aura_crm::deals::list` with a process, a stage and an owner, by name (first page):
/// `by_name` then `fetch`. A rep's owner is themself.
pub async fn deal_list(
    user: &mut User,
    process: Uuid,
    stage: Uuid,
    owner: Option<Uuid>,
) -> anyhow::Result<usize> {
    let (mut tx, member) = begin(user).await?;
    let owner = if member.sees_all() {
        owner
    } else {
        Some(member.user)
    };
    let ids: Vec<Uuid> = sqlx::query_scalar::<_, Uuid>(
        r#"select d.id as "id: DealId", d.name_key from deals d
           where d.tenant_id = $1 and d.deleted_at is null
             and ($2::uuid is null or d.process_id = $2)
             and ($3::uuid is null or d.stage_id = $3)
             and ($4::uuid is null or d.assigned_to = $4)
             and ($5::uuid is null or d.organization_id = $5)
             and ($6::numeric is null or d.probability >= $6)
             and ($7::numeric is null or d.probability <= $7)
             and ($8::date is null or d.expected_close_date >= $8)
             and ($9::date is null or d.expected_close_date <= $9)
             and ($10::text is null or d.outcome = $10::text::aura.stage_outcome)
             and (not $11::bool or (d.outcome = 'open' and exists (
                 select 1 from deal_stages s
                 where s.tenant_id = d.tenant_id and s.id = d.stage_id and s.rotting_days is not null
                   and d.stage_entered_at < now() - make_interval(days => s.rotting_days))))
             and (d.name_key, d.id) > ($12, $13)
           order by d.name_key, d.id
           limit $14"#,
    )
    .bind(member.tenant)
    .bind(Some(process))
    .bind(Some(stage))
    .bind(owner)
    .bind(None::<Uuid>)
    .bind(None::<rust_decimal::Decimal>)
    .bind(None::<rust_decimal::Decimal>)
    .bind(None::<chrono::NaiveDate>)
    .bind(None::<chrono::NaiveDate>)
    .bind(None::<String>)
    .bind(false)
    .bind("")
    .bind(Uuid::nil())
    .bind(26i64)
    .fetch_all(&mut *tx)
    .await?;
    let ids = &ids[..ids.len().min(25)];
    // aura_crm::deals::fetch
    let rows = sqlx::query(
        r#"select d.id as "id: DealId", d.name, d.amount,
                  d.process_id as "process_id: ProcessId", p.name as "process_name!",
                  d.stage_id as "stage_id: StageId", s.name as "stage_name!",
                  d.outcome as "outcome: Outcome", d.probability, d.probability_set,
                  d.expected_close_date, d.organization_id as "organization_id: OrganizationId",
                  o.name as "organization_name?",
                  d.assigned_to as "assigned_to: UserId", owner.display_name as "assigned_to_name?",
                  d.notes, d.custom_fields, d.stage_entered_at,
                  extract(day from now() - d.stage_entered_at)::int as "days_in_stage!",
                  (d.outcome = 'open' and s.rotting_days is not null
                   and d.stage_entered_at < now() - make_interval(days => s.rotting_days))
                      as "rotting!",
                  d.closed_at, d.closed_stage_name, d.lost_reason, d.deleted_at, d.version,
                  d.created_at, d.updated_at,
                  cu.display_name as "created_by?", uu.display_name as "updated_by?"
           from unnest($2::uuid[]) with ordinality as wanted (id, position)
           join deals d on d.tenant_id = $1 and d.id = wanted.id
           join sales_processes p on p.tenant_id = d.tenant_id and p.id = d.process_id
           join deal_stages s on s.tenant_id = d.tenant_id and s.id = d.stage_id
           left join organizations o on o.tenant_id = d.tenant_id and o.id = d.organization_id
           left join users owner on owner.id = d.assigned_to
           left join users cu on cu.id = d.created_by
           left join users uu on uu.id = d.updated_by
           order by wanted.position"#,
    )
    .bind(member.tenant)
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.len())
}

/// `aura_crm::board::board` of a process, no filter (a rep's cards are their own):
/// `deals::processes` (its own transaction), then the process, `stages_of`, the totals and
/// `page_of` for each open column (26 rows).
pub async fn board(user: &mut User, process: Uuid) -> anyhow::Result<usize> {
    {
        let (mut tx, member) = begin(user).await?;
        sqlx::query(
            r#"select id as "id: ProcessId", name, is_default from sales_processes
           where tenant_id = $1 and archived_at is null and deleted_at is null
           order by is_default desc, lower(name), id"#,
        )
        .bind(member.tenant)
        .fetch_all(&mut *tx)
        .await?;
    }
    let (mut tx, member) = begin(user).await?;
    let owner = (!member.sees_all()).then_some(member.user);
    sqlx::query(
        r#"select id as "id: ProcessId", name, is_default from sales_processes
           where tenant_id = $1 and id = $2 and deleted_at is null"#,
    )
    .bind(member.tenant)
    .bind(process)
    .fetch_one(&mut *tx)
    .await?;
    // aura_crm::board::stages_of
    let stages = sqlx::query(
        r#"select s.id as "id: StageId", s.name, s.position, s.outcome as "outcome: Outcome",
                  s.win_probability, s.rotting_days, s.requires_amount, s.requires_close_date,
                  s.requires_contact, s.requires_product
           from deal_stages s
           join sales_processes p on p.tenant_id = s.tenant_id and p.id = s.process_id
           where s.tenant_id = $1 and s.process_id = $2 and s.archived_at is null
             and p.deleted_at is null
           order by s.position, s.id"#,
    )
    .bind(member.tenant)
    .bind(process)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| {
        // An enum's binary value is its label.
        Ok((
            row.try_get::<Uuid, _>(0)?,
            row.try_get_unchecked::<String, _>(3)?,
            row.try_get::<Option<i32>, _>(5)?,
        ))
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    sqlx::query(
        r#"select d.stage_id as "stage_id: StageId", count(*) as "count!",
                  coalesce(sum(d.amount), 0) as "amount!",
                  coalesce(sum(d.amount * d.probability / 100), 0) as "weighted!"
           from deals d
           where d.tenant_id = $1 and d.process_id = $2 and d.deleted_at is null
             and d.outcome = 'open'
             and ($3::uuid is null or d.assigned_to = $3)
             and ($4::uuid is null or d.organization_id = $4)
             and ($5::date is null or d.expected_close_date >= $5)
             and ($6::date is null or d.expected_close_date <= $6)
           group by d.stage_id"#,
    )
    .bind(member.tenant)
    .bind(process)
    .bind(owner)
    .bind(None::<Uuid>)
    .bind(None::<chrono::NaiveDate>)
    .bind(None::<chrono::NaiveDate>)
    .fetch_all(&mut *tx)
    .await?;
    let mut cards = 0;
    for (stage, outcome, rotting_days) in stages {
        if outcome != "open" {
            continue;
        }
        cards += sqlx::query(
            r#"select d.id as "id: DealId", d.name, d.amount,
                  d.organization_id as "organization_id: OrganizationId",
                  o.name as "organization_name?",
                  d.assigned_to as "assigned_to: UserId", u.display_name as "assigned_to_name?",
                  d.expected_close_date, d.stage_entered_at,
                  extract(day from now() - d.stage_entered_at)::int as "days_in_stage!",
                  coalesce(d.stage_entered_at < now() - make_interval(days => $9::int), false)
                      as "rotting!",
                  d.version
           from deals d
           left join organizations o on o.tenant_id = d.tenant_id and o.id = d.organization_id
           left join users u on u.id = d.assigned_to
           where d.tenant_id = $1 and d.stage_id = $2 and d.process_id = $3
             and d.deleted_at is null
             and ($4::uuid is null or d.assigned_to = $4)
             and ($5::uuid is null or d.organization_id = $5)
             and ($6::date is null or d.expected_close_date >= $6)
             and ($7::date is null or d.expected_close_date <= $7)
             and (d.stage_entered_at, d.id) > ($8, $10)
           order by d.stage_entered_at, d.id
           limit $11"#,
        )
        .bind(member.tenant)
        .bind(stage)
        .bind(process)
        .bind(owner)
        .bind(None::<Uuid>)
        .bind(None::<chrono::NaiveDate>)
        .bind(None::<chrono::NaiveDate>)
        .bind(chrono::DateTime::<chrono::Utc>::from_timestamp(0, 0).unwrap_or_default())
        .bind(rotting_days)
        .bind(Uuid::nil())
        .bind(26i64)
        .fetch_all(&mut *tx)
        .await?
        .len();
    }
    Ok(cards)
}

/// `aura_crm::contacts::list` with a search text (first page): `search_ids` then `fetch`.
pub async fn contact_search(user: &mut User, text: &str) -> anyhow::Result<usize> {
    let (mut tx, member) = begin(user).await?;
    let owner = (!member.sees_all()).then_some(member.user);
    let (from, to) = prefix_range(Some(text));
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let is_number = digits.len() >= 3
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let (digits_from, digits_to) = if is_number {
        prefix_range(Some(&digits))
    } else {
        (String::new(), String::new())
    };
    let ids: Vec<Uuid> = sqlx::query_scalar(
        r#"with matches (id, sort_key, assigned_to) as (
               select id, sort_key, assigned_to from contacts
               where tenant_id = $1 and deleted_at is null and sort_key >= $3 and sort_key < $4
               union
               select id, sort_key, assigned_to from contacts
               where tenant_id = $1 and deleted_at is null and name_key >= $3 and name_key < $4
               union
               select id, sort_key, assigned_to from contacts
               where tenant_id = $1 and deleted_at is null and email_key >= $3 and email_key < $4
               union
               select id, sort_key, assigned_to from contacts
               where tenant_id = $1 and deleted_at is null and phone_key >= $5 and phone_key < $6
               union
               select c.id, c.sort_key, c.assigned_to from organizations o
               join contacts c on c.tenant_id = o.tenant_id and c.organization_id = o.id
               where o.tenant_id = $1 and o.deleted_at is null
                 and o.name_key >= $3 and o.name_key < $4 and c.deleted_at is null
           )
           select id as "id!: ContactId", sort_key as "sort_key!" from matches
           where ($2::uuid is null or assigned_to = $2) and (sort_key, id) > ($7, $8)
           order by sort_key, id
           limit $9"#,
    )
    .bind(member.tenant)
    .bind(owner)
    .bind(from)
    .bind(to)
    .bind(digits_from)
    .bind(digits_to)
    .bind("")
    .bind(Uuid::nil())
    .bind(26i64)
    .fetch_all(&mut *tx)
    .await?;
    let ids = &ids[..ids.len().min(25)];
    fetch_contacts(&mut tx, member.tenant, ids).await
}

/// `aura_crm::contacts::fetch`.
async fn fetch_contacts(
    tx: &mut PgConnection,
    tenant: Uuid,
    ids: &[Uuid],
) -> anyhow::Result<usize> {
    Ok(sqlx::query(
        r#"select c.id as "id: ContactId", c.first_name, c.last_name, c.email, c.phone, c.title,
                  c.organization_id as "organization_id: OrganizationId",
                  o.name as "organization_name?",
                  c.assigned_to as "assigned_to: UserId", owner.display_name as "assigned_to_name?",
                  c.custom_fields, c.deleted_at, c.version, c.created_at, c.updated_at,
                  cu.display_name as "created_by?", uu.display_name as "updated_by?"
           from unnest($2::uuid[]) with ordinality as wanted (id, position)
           join contacts c on c.tenant_id = $1 and c.id = wanted.id
           left join organizations o on o.tenant_id = c.tenant_id and o.id = c.organization_id
           left join users owner on owner.id = c.assigned_to
           left join users cu on cu.id = c.created_by
           left join users uu on uu.id = c.updated_by
           order by wanted.position"#,
    )
    .bind(tenant)
    .bind(ids)
    .fetch_all(tx)
    .await?
    .len())
}

/// The contact page (`aura_web::contacts::contact_page`): `contacts::get`,
/// `activities::timeline` (positions, then `fetch`) and `custom_fields::list`, each in its own
/// transaction as there.
pub async fn contact_page(user: &mut User, contact: Uuid) -> anyhow::Result<usize> {
    {
        let (mut tx, member) = begin(user).await?;
        fetch_contacts(&mut tx, member.tenant, &[contact]).await?;
    }
    let activities = {
        let (mut tx, member) = begin(user).await?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            r#"select id as "id: ActivityId", occurred_at from activities
           where tenant_id = $1 and deleted_at is null
             and ($2::uuid is null or contact_id = $2)
             and ($3::uuid is null or organization_id = $3)
             and ($7::uuid is null or deal_id = $7)
             and (occurred_at, id) < ($4, $5)
           order by occurred_at desc, id desc
           limit $6"#,
        )
        .bind(member.tenant)
        .bind(Some(contact))
        .bind(None::<Uuid>)
        .bind(chrono::DateTime::<chrono::Utc>::MAX_UTC)
        .bind(Uuid::max())
        .bind(26i64)
        .bind(None::<Uuid>)
        .fetch_all(&mut *tx)
        .await?;
        let ids = &ids[..ids.len().min(25)];
        // aura_crm::activities::fetch
        sqlx::query(
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
        )
        .bind(member.tenant)
        .bind(ids)
        .fetch_all(&mut *tx)
        .await?
        .len()
    };
    let (mut tx, member) = begin(user).await?;
    sqlx::query(
        r#"select id as "id: DefinitionId", entity as "entity: Entity", key, label,
                  kind as "kind: Kind", options
           from custom_field_definitions
           where tenant_id = $1 and entity = $2 and archived_at is null
           order by created_at, key"#,
    )
    .bind(member.tenant)
    .bind(aura_crm::custom_fields::Entity::Contact)
    .fetch_all(&mut *tx)
    .await?;
    Ok(activities)
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of `aura_crm::contacts::fetch` for the first page of the
/// workspace's contacts, as `member` under RLS (`rls`) or as the owner: where the joins to
/// `users` (owner, created by, updated by) spend their time under the users policy.
pub async fn explain_contacts_fetch(user: &mut User) -> anyhow::Result<Vec<String>> {
    let (mut tx, member) = begin(user).await?;
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "select id from contacts where tenant_id = $1 and deleted_at is null
         order by sort_key, id limit 25",
    )
    .bind(member.tenant)
    .fetch_all(&mut *tx)
    .await?;
    Ok(sqlx::query_scalar(
        r#"explain (analyze, buffers, costs off)
           select c.id as "id: ContactId", c.first_name, c.last_name, c.email, c.phone, c.title,
                  c.organization_id as "organization_id: OrganizationId",
                  o.name as "organization_name?",
                  c.assigned_to as "assigned_to: UserId", owner.display_name as "assigned_to_name?",
                  c.custom_fields, c.deleted_at, c.version, c.created_at, c.updated_at,
                  cu.display_name as "created_by?", uu.display_name as "updated_by?"
           from unnest($2::uuid[]) with ordinality as wanted (id, position)
           join contacts c on c.tenant_id = $1 and c.id = wanted.id
           left join organizations o on o.tenant_id = c.tenant_id and o.id = c.organization_id
           left join users owner on owner.id = c.assigned_to
           left join users cu on cu.id = c.created_by
           left join users uu on uu.id = c.updated_by
           order by wanted.position"#,
    )
    .bind(member.tenant)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?)
}
