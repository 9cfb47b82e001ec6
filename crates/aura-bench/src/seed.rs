//! The dataset (issue 16): one large workspace and many small ones, written with multi-row
//! `insert .. select` statements as the owner (one statement per table and workspace), the
//! same from the same seed number: names, emails, amounts, stages and owners are functions of
//! the row number and the seed (`md5(seed:n)`); only generated ids and times relative to now
//! differ between runs.
//!
//! Deals get their line items after they exist, in one statement per workspace; the database's
//! own triggers (0026, 0028) price each line from the catalog and keep each deal's amount equal
//! to the sum of its lines, as they do for the application.

use aura_platform::db::testing::TestDatabase;
use aura_platform::password;
use sqlx::PgPool;

/// The password of every seeded member.
pub const PASSWORD: &str = "benchmark-password";

/// The slug of the large workspace; the small ones are `small-1` ...
pub const LARGE: &str = "bench-large";

/// How much one workspace holds.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub admins: i64,
    pub managers: i64,
    pub reps: i64,
    pub organizations: i64,
    pub contacts: i64,
    /// All of the workspace's activities; 200 of them on one contact (a long timeline).
    pub activities: i64,
    /// Deals of the default process ("Sales"), eight in nine open.
    pub sales_deals: i64,
    /// Deals of each of the other two processes.
    pub other_deals: i64,
    pub products: i64,
    pub lines_per_deal: i64,
    /// Lines of the one deal that carries many (0 for none).
    pub long_deal_lines: i64,
}

impl Size {
    /// Issue 16's large workspace: 10 000 organizations, 50 000 contacts, 10 000 deals over
    /// three processes (8 000 open in "Sales"), 3 lines a deal and one deal of 200, 100 000
    /// activities, 50 members (2 admins, 8 managers, 40 reps).
    pub fn large(quick: bool) -> Self {
        let scale = if quick { 10 } else { 1 };
        Self {
            admins: 2,
            managers: 8,
            reps: 40,
            organizations: 10_000 / scale,
            contacts: 50_000 / scale,
            activities: 100_000 / scale,
            sales_deals: 9_000 / scale,
            other_deals: 500 / scale,
            products: 40,
            lines_per_deal: 3,
            long_deal_lines: 200,
        }
    }

    /// A small workspace of about 1 000 records: 5 members, 50 organizations, 500 contacts,
    /// 100 deals with 300 lines, 300 activities.
    pub fn small() -> Self {
        Self {
            admins: 1,
            managers: 1,
            reps: 3,
            organizations: 50,
            contacts: 500,
            activities: 300,
            sales_deals: 80,
            other_deals: 10,
            products: 8,
            lines_per_deal: 3,
            long_deal_lines: 0,
        }
    }

    pub fn members(&self) -> i64 {
        self.admins + self.managers + self.reps
    }

    pub fn deals(&self) -> i64 {
        self.sales_deals + 2 * self.other_deals
    }

    pub fn lines(&self) -> i64 {
        self.deals() * self.lines_per_deal + (self.long_deal_lines - self.lines_per_deal).max(0)
    }
}

/// One password hash for every member (hashing is deliberately slow).
pub fn password_hash() -> String {
    password::hash(PASSWORD)
}

/// Seeds the workspace `slug` of `size` from `seed`; returns its id.
pub async fn workspace(
    db: &TestDatabase,
    slug: &str,
    size: Size,
    seed: u64,
    hash: &str,
) -> anyhow::Result<uuid::Uuid> {
    let owner = &db.owner;
    let seed = seed.to_string();
    let tenant: uuid::Uuid =
        sqlx::query_scalar("insert into tenants (slug, name) values ($1, $1) returning id")
            .bind(slug)
            .fetch_one(owner)
            .await?;
    // Members: `admin1@<slug>.example`, `manager1@..`, `rep1@..`.
    sqlx::query(
        "with people as (
             insert into users (email, display_name, password_hash)
             select format('%s%s@%s.example', r.role, n, $2), format('%s %s %s', r.role, n, $2), $3
             from (values ('admin', $4::int), ('manager', $5::int), ('rep', $6::int)) r (role, count),
                  generate_series(1, r.count) n
             returning id, email)
         insert into tenant_members (tenant_id, user_id, role)
         select $1, id, case when email like 'admin%' then 'admin'
                             when email like 'manager%' then 'manager'
                             else 'sales_rep' end::aura.member_role
         from people",
    )
    .bind(tenant)
    .bind(slug)
    .bind(hash)
    .bind(size.admins as i32)
    .bind(size.managers as i32)
    .bind(size.reps as i32)
    .execute(owner)
    .await?;
    // The users' copies of their memberships, as the server keeps them (migration 0060).
    sqlx::query("select aura.sync_member_of($1, user_id) from tenant_members where tenant_id = $1")
        .bind(tenant)
        .execute(owner)
        .await?;
    sqlx::query(
        "insert into organizations (tenant_id, name, industry, size_band)
         select $1, format('Company %s', n), 'Industry ' || (n % 20),
                (array['1-10', '11-50', '51-200', '201-500', '501-1000', '1001-5000',
                       '5001+'])[1 + n % 7]::aura.organization_size
         from generate_series(1, $2) n",
    )
    .bind(tenant)
    .bind(size.organizations)
    .execute(owner)
    .await?;
    // Names from small lists with a tail from the seed, so prefixes match realistic shares;
    // owners take runs of 80 contacts.
    sqlx::query(
        "with owners as (
             select array_agg(user_id order by user_id) ids from tenant_members
             where tenant_id = $1),
         orgs as (
             select array_agg(id order by name_key) ids from organizations where tenant_id = $1)
         insert into contacts (tenant_id, first_name, last_name, email, phone, title,
                               organization_id, assigned_to, created_by, updated_by, updated_at)
         select $1,
                (array['Ann','Ben','Cara','Dan','Eve','Finn','Gus','Hana','Ida','Max'])[1 + n % 10]
                    || substr(md5($4 || ':' || n), 1, 3),
                (array['Smith','Jones','Brown','Miller','Davis','Garcia','Wilson','Moore'])[1 + (n / 10) % 8]
                    || substr(md5($4 || ':' || n || 'x'), 1, 4),
                format('p%s@%s.example', n, $2),
                format('+1 555 %s', lpad(n::text, 7, '0')),
                'Buyer',
                orgs.ids[1 + n % cardinality(orgs.ids)],
                owner.id, owner.id, owner.id,
                now() - make_interval(mins => n::int)
         from generate_series(1, $3) n, owners, orgs,
              lateral (select owners.ids[1 + (n / 80) % cardinality(owners.ids)] id) owner",
    )
    .bind(tenant)
    .bind(slug)
    .bind(size.contacts)
    .bind(&seed)
    .execute(owner)
    .await?;
    // Activities spread over the contacts, and 200 on the first contact by name. The join
    // is on `g % $3` (the contacts' count, known), an expression of `g` alone, so it hashes;
    // against a count read from the contacts it was a nested loop of minutes.
    sqlx::query(
        "with numbered as (
             select c.*, row_number() over (order by sort_key, id) - 1 n
             from contacts c where tenant_id = $1)
         insert into activities (tenant_id, kind, description, occurred_at, participant_id,
                                 contact_id, contact_owner, organization_id, created_by)
         select c.tenant_id, 'call'::aura.activity_kind, 'Called about the order',
                now() - make_interval(mins => g::int), c.assigned_to, c.id, c.assigned_to,
                c.organization_id, c.assigned_to
         from generate_series(1, $2 - 200) g
         join numbered c on c.n = g % $3
         union all
         select c.tenant_id, 'note'::aura.activity_kind, format('Note %s', g),
                now() - make_interval(hours => g::int), c.assigned_to, c.id, c.assigned_to,
                c.organization_id, c.assigned_to
         from numbered c, generate_series(1, 200) g
         where c.n = 0",
    )
    .bind(tenant)
    .bind(size.activities)
    .bind(size.contacts)
    .execute(owner)
    .await?;
    // Follow-ups (issue 18): one open on every other contact, for its owner, due from a month
    // ago to a month ahead, so each member has overdue ones, some today, and more to come.
    sqlx::query(
        "insert into follow_ups (tenant_id, kind, subject, due_at, owner_id, contact_id,
                                 contact_owner, created_by)
         select c.tenant_id, 'call', 'Call back', now() + make_interval(hours => ((n % 1440) - 720)::int),
                c.assigned_to, c.id, c.assigned_to, c.assigned_to
         from (select c.*, row_number() over (order by id) n from contacts c
               where tenant_id = $1) c
         where c.n % 2 = 0",
    )
    .bind(tenant)
    .execute(owner)
    .await?;
    deals(owner, tenant, size, &seed).await?;
    Ok(tenant)
}

/// Three processes ("Sales" the default, "Enterprise", "Partners") of six stages; the deals
/// with their first history row; the catalog; and the lines, priced by the triggers.
async fn deals(owner: &PgPool, tenant: uuid::Uuid, size: Size, seed: &str) -> anyhow::Result<()> {
    sqlx::query(
        "with process as (
             insert into sales_processes (tenant_id, name, is_default)
             select $1, p.name, p.name = 'Sales'
             from unnest(array['Sales', 'Enterprise', 'Partners']) p (name)
             returning id, name)
         insert into deal_stages (tenant_id, process_id, name, position, outcome, win_probability,
                                  rotting_days)
         select $1, process.id, s.name, s.position, s.outcome::aura.stage_outcome,
                s.probability, case when s.outcome = 'open' then 30 end
         from process, (values ('Prospect', 0, 'open', 10), ('Qualified', 1, 'open', 25),
                               ('Proposal', 2, 'open', 50), ('Negotiation', 3, 'open', 75),
                               ('Won', 4, 'won', 100), ('Lost', 5, 'lost', 0))
                       as s (name, position, outcome, probability)",
    )
    .bind(tenant)
    .execute(owner)
    .await?;
    // Deal n of a process takes stage n % 9 of a weighted list: eight in nine open.
    sqlx::query(
        "with owners as (
             select array_agg(user_id order by user_id) ids from tenant_members
             where tenant_id = $1),
         orgs as (
             select array_agg(id order by name_key) ids from organizations where tenant_id = $1),
         wanted as (
             select p.id process_id, n
             from sales_processes p,
                  generate_series(1, case p.name when 'Sales' then $2 else $3 end) n
             where p.tenant_id = $1),
         picked as (
             select wanted.*, s.id stage_id, s.name stage_name, s.outcome, s.win_probability
             from wanted
             join deal_stages s on s.tenant_id = $1 and s.process_id = wanted.process_id
              and s.position = (array[0, 0, 0, 1, 1, 2, 2, 3, 4 + n / 9 % 2])[1 + n % 9]),
         deal as (
             insert into deals (tenant_id, name, process_id, stage_id, outcome, probability,
                                expected_close_date, organization_id, assigned_to,
                                stage_entered_at, closed_at, closed_stage_name, lost_reason,
                                created_by, updated_by, updated_at)
             select $1,
                    (array['Renewal','Expansion','Pilot','Rollout','Upgrade','Migration'])[1 + n % 6]
                        || ' ' || substr(md5($4 || ':' || n), 1, 5),
                    process_id, stage_id, outcome, win_probability,
                    case when n % 4 <> 0 then current_date + (n % 180)::int - 30 end,
                    orgs.ids[1 + n % cardinality(orgs.ids)],
                    owner.id,
                    now() - make_interval(hours => (n % 1000)::int),
                    case when outcome <> 'open' then now() - make_interval(days => (n % 90)::int) end,
                    case when outcome <> 'open' then stage_name end,
                    case when outcome = 'lost' then 'Chose a competitor' end,
                    owner.id, owner.id,
                    now() - make_interval(mins => n::int)
             from picked, owners, orgs,
                  lateral (select owners.ids[1 + (n / 7) % cardinality(owners.ids)] id) owner
             returning id)
         -- Each deal's first stage history row is written by the database (0033).
         select count(*) from deal",
    )
    .bind(tenant)
    .bind(size.sales_deals)
    .bind(size.other_deals)
    .bind(seed)
    .execute(owner)
    .await?;
    sqlx::query(
        "insert into products (tenant_id, sku, name, category, unit_price, unit_cost,
                               max_discount_percent)
         select $1, format('SKU-%s', lpad(n::text, 4, '0')), format('Product %s', n),
                (array['Licences','Services','Hardware','Support'])[1 + n % 4],
                price, round(price * 0.6, 2), 10
         from generate_series(1, $2) n,
              lateral (select (50 + ('x' || substr(md5($3 || ':p' || n), 1, 4))::bit(16)::int % 5000)::numeric price) p",
    )
    .bind(tenant)
    .bind(size.products)
    .bind(seed)
    .execute(owner)
    .await?;
    // Lines at list price (the triggers copy the catalog's price and cost and sum the deal):
    // `lines_per_deal` on every deal, and the first open Sales deal by name up to
    // `long_deal_lines`.
    sqlx::query(
        "with catalog as (
             select array_agg(id order by sku) ids, array_agg(unit_price order by sku) prices
             from products where tenant_id = $1),
         long_deal as (
             select d.id from deals d join sales_processes p
               on p.tenant_id = d.tenant_id and p.id = d.process_id and p.name = 'Sales'
             where d.tenant_id = $1 and d.outcome = 'open'
             order by d.name_key, d.id limit 1),
         wanted as (
             select d.id, d.assigned_to, d.name_key, k
             from deals d, lateral generate_series(1, case when d.id in (select id from long_deal)
                                                             then greatest($2, $3) else $2 end) k
             where d.tenant_id = $1)
         insert into deal_line_items (tenant_id, deal_id, deal_owner, product_id, quantity,
                                      list_price, unit_cost, unit_price, extended_price,
                                      created_by, updated_by)
         select $1, w.id, w.assigned_to, catalog.ids[i], 1 + (k + length(w.name_key)) % 5,
                catalog.prices[i], 0, catalog.prices[i], 0, w.assigned_to, w.assigned_to
         from wanted w, catalog,
              lateral (select 1 + (k * 7 + ascii(substr(w.name_key, length(w.name_key))))
                                  % cardinality(catalog.ids) i) pick",
    )
    .bind(tenant)
    .bind(size.lines_per_deal)
    .bind(size.long_deal_lines)
    .execute(owner)
    .await?;
    Ok(())
}

/// Refreshes the planner's statistics after seeding.
pub async fn analyze(db: &TestDatabase) -> anyhow::Result<()> {
    sqlx::query("analyze").execute(&db.owner).await?;
    Ok(())
}

/// Checks the invariant the triggers keep: every deal with lines has the amount they sum to.
pub async fn check_amounts(db: &TestDatabase) -> anyhow::Result<()> {
    let off: i64 = sqlx::query_scalar(
        "select count(*) from deals d
         where d.amount is distinct from (select sum(l.extended_price) from deal_line_items l
                                          where l.tenant_id = d.tenant_id and l.deal_id = d.id
                                            and l.deleted_at is null)",
    )
    .fetch_one(&db.owner)
    .await?;
    anyhow::ensure!(
        off == 0,
        "{off} deals' amounts differ from their lines' sum"
    );
    Ok(())
}
