//! Aura's benchmark program (ARCHITECTURE.md: speed is measured here, never by a timed test).
//!
//! It builds a fresh database (on `AURA_TEST_DATABASE_URL`, or a private cluster), seeds two
//! tenants of 50 000 contacts, 2 000 organizations, 50 000 activities and three sales processes
//! with 10 500 deals each (10 000 in one process), starts the real
//! server on a random port, and times the list and search requests a rep and a manager make
//! over HTTP, printing a Markdown table for BENCHMARKS.md.
//!
//! `cargo run --release -p aura-bench` (a debug build measures the debug server).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use aura_platform::auth::api::TokenKeys;
use aura_platform::cursor::Cursor;
use aura_platform::db::testing::TestDatabase;
use aura_platform::outbox::Mailer;
use aura_platform::password;
use aura_web::rate_limit::RateLimiter;
use aura_web::{AppState, SiteConfig};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::TcpListener;

const CONTACTS_PER_TENANT: i64 = 50_000;
/// Deals in the default process of each tenant (issue 11: lists measured at 10 000 in one).
const DEALS_PER_TENANT: i64 = 10_000;
const PASSWORD: &str = "benchmark-password";
/// Timed requests per scenario, after a few to warm up.
const SAMPLES: usize = 40;
const WARM_UP: usize = 5;
/// Members per role: requests rotate among them, as a team's would.
const MEMBERS_PER_ROLE: i64 = 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = TestDatabase::new().await;
    eprintln!("seeding {} ...", db.name);
    let started = Instant::now();
    seed(&db).await.context("seeding")?;
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());

    let address = serve(&db).await?;
    let client = reqwest::Client::builder()
        .resolve("bench-a.localhost", address)
        .resolve("bench-b.localhost", address)
        .build()?;
    let base = format!("http://bench-a.localhost:{}", address.port());
    let managers = tokens(&client, &base, "manager").await?;
    let reps = tokens(&client, &base, "rep").await?;

    let deep = deep_cursor(&db).await?;
    let timeline_contact = busiest_contact(&db).await?;
    let (process, stage, deal) = busiest_process(&db).await?;
    let column_after = column_cursor(&db, &stage).await?;
    let today = chrono::Utc::now().date_naive();
    let quarter = (today, today + chrono::Duration::days(90));
    let scenarios: Vec<(&str, &[String], String)> = vec![
        (
            "contacts, first page (manager)",
            &managers,
            "/api/v1/contacts".into(),
        ),
        (
            "contacts, page 1000 (manager)",
            &managers,
            format!("/api/v1/contacts?after={deep}"),
        ),
        (
            "contacts, first page (rep, 1 250 own)",
            &reps,
            "/api/v1/contacts".into(),
        ),
        (
            "contacts, recently changed (manager)",
            &managers,
            "/api/v1/contacts?sort=recent".into(),
        ),
        (
            "contacts, recently changed (rep)",
            &reps,
            "/api/v1/contacts?sort=recent".into(),
        ),
        (
            "contacts, 100 a page (manager)",
            &managers,
            "/api/v1/contacts?limit=100".into(),
        ),
        (
            "search one letter `m` (manager)",
            &managers,
            "/api/v1/contacts?search=m".into(),
        ),
        (
            "search `smith` (manager)",
            &managers,
            "/api/v1/contacts?search=smith".into(),
        ),
        (
            "search `smith` (rep)",
            &reps,
            "/api/v1/contacts?search=smith".into(),
        ),
        (
            "search email `p1234` (manager)",
            &managers,
            "/api/v1/contacts?search=p1234".into(),
        ),
        (
            "search phone `+1 555 000 12` (manager)",
            &managers,
            "/api/v1/contacts?search=%2B1%20555%20000%2012".into(),
        ),
        (
            "search company `company 12` (manager)",
            &managers,
            "/api/v1/contacts?search=company%2012".into(),
        ),
        (
            "search typo `smiht`, similar names (manager)",
            &managers,
            "/api/v1/contacts?search=smiht".into(),
        ),
        (
            "organizations, first page",
            &managers,
            "/api/v1/organizations".into(),
        ),
        (
            "organizations of one size, recently changed",
            &managers,
            "/api/v1/organizations?size=11-50&sort=recent".into(),
        ),
        (
            "timeline of a contact with 200 activities",
            &managers,
            format!("/api/v1/contacts/{timeline_contact}/activities"),
        ),
        (
            "deals, first page (manager)",
            &managers,
            "/api/v1/deals".into(),
        ),
        (
            "deals, first page (rep, 250 own)",
            &reps,
            "/api/v1/deals".into(),
        ),
        (
            "deals of the 10 000-deal process, open, largest first",
            &managers,
            format!("/api/v1/deals?process_id={process}&outcome=open&sort=amount"),
        ),
        (
            "deals, largest amount first (manager)",
            &managers,
            "/api/v1/deals?sort=amount".into(),
        ),
        (
            "deals lost (manager)",
            &managers,
            "/api/v1/deals?outcome=lost".into(),
        ),
        (
            "deals in the fullest stage (3 000), longest there first",
            &managers,
            format!("/api/v1/deals?stage_id={stage}"),
        ),
        (
            "deals closing in the next 90 days, soonest first",
            &managers,
            format!(
                "/api/v1/deals?close_from={}&close_to={}&sort=close_date",
                quarter.0, quarter.1
            ),
        ),
        (
            "deals, recently changed (rep)",
            &reps,
            "/api/v1/deals?sort=recent".into(),
        ),
        (
            "deals, probability 40-80 %",
            &managers,
            "/api/v1/deals?probability_min=40&probability_max=80".into(),
        ),
        (
            "deals rotting (open longer than their stage allows)",
            &managers,
            "/api/v1/deals?rotting=true".into(),
        ),
        (
            "deal search `pil` (manager)",
            &managers,
            "/api/v1/deals?search=pil".into(),
        ),
        (
            "deal search by organization `company 12` (manager)",
            &managers,
            "/api/v1/deals?search=company%2012".into(),
        ),
        ("a deal's page", &managers, format!("/api/v1/deals/{deal}")),
        (
            "a deal's stage history",
            &managers,
            format!("/api/v1/deals/{deal}/history"),
        ),
        (
            "board of the 10 000-deal process: totals and 25 cards per column (manager)",
            &managers,
            format!("/api/v1/processes/{process}/board"),
        ),
        (
            "board of the 10 000-deal process (rep, own deals only)",
            &reps,
            format!("/api/v1/processes/{process}/board"),
        ),
        (
            "board column's next cards (the 2 000-deal stage)",
            &managers,
            format!("/api/v1/processes/{process}/board/stages/{stage}?after={column_after}"),
        ),
    ];

    println!("| request | rows | p50 ms | p95 ms | max ms |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, tokens, path) in &scenarios {
        let url = format!("{base}{path}");
        let (rows, timings) = time(tokens, StatusCode::OK, |token| {
            client.get(&url).bearer_auth(token)
        })
        .await
        .with_context(|| name.to_string())?;
        println!("| {name} | {rows} | {} |", timings.columns());
    }

    // Refused requests are recorded past row-level security (F5.6), one index lookup per
    // distinct id in nine tables; the worst a member can send is a bulk body of 500 ids never
    // seen, of which the first 100 distinct ones are looked up.
    println!();
    println!("| refused request, recorded (F5.6) | ids | p50 ms | p95 ms | max ms |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let unknown = format!("{base}/api/v1/contacts/{}", uuid::Uuid::new_v4());
    let (_, timings) = time(&managers, StatusCode::NOT_FOUND, |token| {
        client.get(&unknown).bearer_auth(token)
    })
    .await?;
    println!(
        "| an unknown contact's page (404) | 1 | {} |",
        timings.columns()
    );
    let reassign = format!("{base}/api/v1/contacts/reassign");
    let owner = a_member(&db).await?;
    let (_, timings) = time(&managers, StatusCode::NOT_FOUND, |token| {
        let ids: Vec<uuid::Uuid> = (0..500).map(|_| uuid::Uuid::new_v4()).collect();
        client
            .post(&reassign)
            .bearer_auth(token)
            .json(&serde_json::json!({ "ids": ids, "assigned_to": owner }))
    })
    .await?;
    println!(
        "| bulk reassignment of 500 unknown ids (404) | 500 | {} |",
        timings.columns()
    );
    Ok(())
}

/// Times `WARM_UP + SAMPLES` requests built by `request` for each token in turn, each of which
/// must answer `expected` (so a refusal measured is the refusal meant); returns the rows of the
/// last answer's `items` and the timings.
async fn time(
    tokens: &[String],
    expected: StatusCode,
    request: impl Fn(&str) -> reqwest::RequestBuilder,
) -> anyhow::Result<(usize, Timings)> {
    let mut timings = Vec::with_capacity(SAMPLES);
    let mut rows = 0;
    for i in 0..WARM_UP + SAMPLES {
        let started = Instant::now();
        let response = request(tokens[i % tokens.len()].as_str()).send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let elapsed = started.elapsed();
        anyhow::ensure!(status == expected, "{status} {body}");
        rows = body["items"].as_array().map_or(0, Vec::len);
        if i >= WARM_UP {
            timings.push(elapsed);
        }
    }
    timings.sort();
    Ok((rows, Timings(timings)))
}

/// Sorted request times.
struct Timings(Vec<Duration>);

impl Timings {
    /// `p50 | p95 | max`, in milliseconds.
    fn columns(&self) -> String {
        let at = |q: f64| self.0[((self.0.len() - 1) as f64 * q).round() as usize];
        format!(
            "{:.1} | {:.1} | {:.1}",
            ms(at(0.5)),
            ms(at(0.95)),
            ms(*self.0.last().expect("samples"))
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Two tenants alike, so every query also has another tenant's rows to skip.
async fn seed(db: &TestDatabase) -> anyhow::Result<()> {
    let hash = password::hash(PASSWORD);
    for slug in ["bench-a", "bench-b"] {
        let tenant: String = sqlx::query_scalar(
            "insert into tenants (slug, name) values ($1, $1) returning id::text",
        )
        .bind(slug)
        .fetch_one(&db.owner)
        .await?;
        sqlx::query(
            "with people as (
                 insert into users (email, display_name, password_hash)
                 select format('%s%s@%s.example', role, n, $2), format('%s %s', role, n), $3
                 from unnest(array['manager', 'rep']) role, generate_series(1, $4) n
                 returning id, email)
             insert into tenant_members (tenant_id, user_id, role)
             select $1::uuid, id,
                    case when email like 'manager%' then 'manager' else 'sales_rep' end::aura.member_role
             from people",
        )
        .bind(&tenant)
        .bind(slug)
        .bind(&hash)
        .bind(MEMBERS_PER_ROLE)
        .execute(&db.owner)
        .await?;
        sqlx::query(
            "insert into organizations (tenant_id, name, industry, size_band)
             select $1::uuid, format('Company %s', n), 'Industry ' || (n % 20),
                    (array['1-10', '11-50', '51-200', '201-500', '501-1000', '1001-5000',
                           '5001+'])[1 + n % 7]::aura.organization_size
             from generate_series(1, 2000) n",
        )
        .bind(&tenant)
        .execute(&db.owner)
        .await?;
        // Names from small lists with a random-looking tail, so prefixes match realistic shares;
        // owners take runs of 80, so each holds every first and last name.
        sqlx::query(
            "with owners as (
                 select array_agg(user_id order by user_id) ids from tenant_members
                 where tenant_id = $1::uuid),
             orgs as (
                 select array_agg(id order by name_key) ids from organizations
                 where tenant_id = $1::uuid)
             insert into contacts (tenant_id, first_name, last_name, email, phone, title,
                                   organization_id, assigned_to, updated_at)
             select $1::uuid,
                    (array['Ann','Ben','Cara','Dan','Eve','Finn','Gus','Hana','Ida','Max'])[1 + n % 10]
                        || substr(md5(n::text), 1, 3),
                    (array['Smith','Jones','Brown','Miller','Davis','Garcia','Wilson','Moore'])[1 + (n / 10) % 8]
                        || substr(md5(n::text || 'x'), 1, 4),
                    format('p%s@%s.example', n, $2),
                    format('+1 555 %s', lpad(n::text, 7, '0')),
                    'Buyer',
                    orgs.ids[1 + n % 2000],
                    owners.ids[1 + (n / 80) % cardinality(owners.ids)],
                    now() - make_interval(mins => n::int)
             from generate_series(1, $3) n, owners, orgs",
        )
        .bind(&tenant)
        .bind(slug)
        .bind(CONTACTS_PER_TENANT)
        .execute(&db.owner)
        .await?;
        sqlx::query(
            "insert into activities (tenant_id, kind, description, occurred_at, participant_id,
                                     contact_id, contact_owner, organization_id, created_by)
             select c.tenant_id, 'call'::aura.activity_kind, 'Called about the order', now() - (n || ' minutes')::interval,
                    c.assigned_to, c.id, c.assigned_to, c.organization_id, c.assigned_to
             from (select *, row_number() over (order by id) n from contacts
                   where tenant_id = $1::uuid) c
             union all
             select c.tenant_id, 'note'::aura.activity_kind, format('Note %s', g), now() - (g || ' hours')::interval,
                    c.assigned_to, c.id, c.assigned_to, c.organization_id, c.assigned_to
             from (select * from contacts where tenant_id = $1::uuid
                   order by sort_key limit 1) c, generate_series(1, 200) g",
        )
        .bind(&tenant)
        .execute(&db.owner)
        .await?;
        seed_deals(db, &tenant).await?;
    }
    sqlx::query("analyze").execute(&db.owner).await?;
    Ok(())
}

/// Three processes; `DEALS_PER_TENANT` deals in the default one ("Sales"), four in five open
/// over its four open stages and the rest won or lost, and a few hundred in "Enterprise"; a
/// fifth without an amount and a quarter without a close date (they sort last); each with the
/// history row of the stage it was created in.
async fn seed_deals(db: &TestDatabase, tenant: &str) -> anyhow::Result<()> {
    sqlx::query(
        "with process as (
             insert into sales_processes (tenant_id, name, is_default)
             select $1::uuid, p.name, p.name = 'Sales'
             from unnest(array['Sales', 'Enterprise', 'Partners']) p (name)
             returning id, name)
         insert into deal_stages (tenant_id, process_id, name, position, outcome, win_probability,
                                  rotting_days)
         select $1::uuid, process.id, s.name, s.position, s.outcome::aura.stage_outcome,
                s.probability, case when s.outcome = 'open' then 30 end
         from process, (values ('Prospect', 0, 'open', 10), ('Qualified', 1, 'open', 25),
                               ('Proposal', 2, 'open', 50), ('Negotiation', 3, 'open', 75),
                               ('Won', 4, 'won', 100), ('Lost', 5, 'lost', 0))
                       as s (name, position, outcome, probability)",
    )
    .bind(tenant)
    .execute(&db.owner)
    .await?;
    // Deal n of a process takes stage n % 10 of its weighted list: four in five open.
    sqlx::query(
        "with owners as (
             select array_agg(user_id order by user_id) ids from tenant_members
             where tenant_id = $1::uuid),
         orgs as (
             select array_agg(id order by name_key) ids from organizations
             where tenant_id = $1::uuid),
         wanted as (
             select p.id process_id, n
             from sales_processes p,
                  generate_series(1, case p.name when 'Sales' then $2 else $2 / 20 end) n
             where p.tenant_id = $1::uuid and p.name in ('Sales', 'Enterprise')),
         picked as (
             select wanted.*, s.id stage_id, s.name stage_name, s.outcome, s.win_probability
             from wanted
             join deal_stages s on s.tenant_id = $1::uuid and s.process_id = wanted.process_id
              and s.position = (array[0, 0, 0, 1, 1, 2, 2, 3, 4, 5])[1 + n % 10]),
         deal as (
             insert into deals (tenant_id, name, amount, process_id, stage_id, outcome,
                                probability, expected_close_date, organization_id, assigned_to,
                                stage_entered_at, closed_at, closed_stage_name, lost_reason,
                                updated_at)
             select $1::uuid,
                    (array['Renewal','Expansion','Pilot','Rollout','Upgrade','Migration'])[1 + n % 6]
                        || ' ' || substr(md5(n::text), 1, 5),
                    case when n % 5 <> 0
                         then (('x' || substr(md5(n::text || 'a'), 1, 5))::bit(20)::int % 200000)::numeric + 500
                    end,
                    process_id, stage_id, outcome, win_probability,
                    case when n % 4 <> 0 then current_date + (n % 180)::int - 30 end,
                    orgs.ids[1 + n % cardinality(orgs.ids)],
                    owners.ids[1 + (n / 7) % cardinality(owners.ids)],
                    now() - make_interval(hours => (n % 1000)::int),
                    case when outcome <> 'open' then now() - make_interval(days => (n % 90)::int) end,
                    case when outcome <> 'open' then stage_name end,
                    case when outcome = 'lost' then 'Chose a competitor' end,
                    now() - make_interval(mins => n::int)
             from picked, owners, orgs
             returning tenant_id, id, assigned_to, process_id, stage_id, created_by)
         insert into deal_stage_history (tenant_id, deal_id, deal_owner, process_id, to_stage_id,
                                         to_stage_name, moved_by)
         select deal.tenant_id, deal.id, deal.assigned_to, deal.process_id, deal.stage_id, s.name,
                deal.assigned_to
         from deal join deal_stages s on s.tenant_id = deal.tenant_id and s.id = deal.stage_id",
    )
    .bind(tenant)
    .bind(DEALS_PER_TENANT)
    .execute(&db.owner)
    .await?;
    Ok(())
}

async fn serve(db: &TestDatabase) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let state = AppState {
        db: db.app.clone(),
        site: SiteConfig {
            base_host: format!("localhost:{}", address.port()),
            https: false,
        },
        tokens: TokenKeys::from_secret(b"the benchmark's token signing secret, 32+ bytes")?,
        // The per-user limit would stop a benchmark, not measure anything.
        limiter: Arc::new(RateLimiter::local().with_limit(u64::MAX)),
        platform_api_key: None,
        mailer: Arc::new(Mailer::OutboxOnly),
        metrics: Arc::default(),
    };
    tokio::spawn(aura_web::serve(listener, state, std::future::pending()));
    Ok(address)
}

/// An access token for each member of the role in tenant A.
async fn tokens(client: &reqwest::Client, base: &str, role: &str) -> anyhow::Result<Vec<String>> {
    let mut tokens = Vec::new();
    for n in 1..=MEMBERS_PER_ROLE {
        let response: Value = client
            .post(format!("{base}/api/v1/auth/token"))
            .json(&serde_json::json!({
                "email": format!("{role}{n}@bench-a.example"), "password": PASSWORD }))
            .send()
            .await?
            .json()
            .await?;
        let token = response["access_token"]
            .as_str()
            .with_context(|| format!("sign-in of {role}{n}: {response}"))?;
        tokens.push(token.to_owned());
    }
    Ok(tokens)
}

/// The cursor after the contact 25 000 rows into tenant A's list: where page 1 000 starts.
async fn deep_cursor(db: &TestDatabase) -> anyhow::Result<String> {
    let (key, id): (String, uuid::Uuid) = sqlx::query_as(
        "select c.sort_key, c.id from contacts c join tenants t on t.id = c.tenant_id
         where t.slug = 'bench-a' order by c.sort_key, c.id offset 24999 limit 1",
    )
    .fetch_one(&db.owner)
    .await?;
    Ok(Cursor::text(key, id).to_string())
}

async fn busiest_contact(db: &TestDatabase) -> anyhow::Result<String> {
    Ok(sqlx::query_scalar(
        "select a.contact_id::text from activities a join tenants t on t.id = a.tenant_id
         where t.slug = 'bench-a' group by 1 order by count(*) desc limit 1",
    )
    .fetch_one(&db.owner)
    .await?)
}

/// The measured tenant's default process, its fullest stage, and a deal in it.
async fn busiest_process(db: &TestDatabase) -> anyhow::Result<(String, String, String)> {
    Ok(sqlx::query_as(
        "select d.process_id::text, d.stage_id::text, min(d.id::text)
         from deals d join tenants t on t.id = d.tenant_id
         where t.slug = 'bench-a' group by 1, 2 order by count(*) desc limit 1",
    )
    .fetch_one(&db.owner)
    .await?)
}

/// Where the board's busiest column continues after its first page: the 25th card's position
/// (longest in the stage first), as the board's `next` spells it.
async fn column_cursor(db: &TestDatabase, stage: &str) -> anyhow::Result<String> {
    let (at, id): (chrono::DateTime<chrono::Utc>, uuid::Uuid) = sqlx::query_as(
        "select stage_entered_at, id from deals
         where stage_id = $1::uuid and deleted_at is null
         order by stage_entered_at, id offset 24 limit 1",
    )
    .bind(stage)
    .fetch_one(&db.owner)
    .await?;
    Ok(aura_platform::cursor::Cursor::time(at, id).to_string())
}

/// A member of the measured tenant, for a reassignment to name as the new owner.
async fn a_member(db: &TestDatabase) -> anyhow::Result<String> {
    Ok(sqlx::query_scalar(
        "select m.user_id::text from tenant_members m join tenants t on t.id = m.tenant_id
         where t.slug = 'bench-a' order by m.user_id limit 1",
    )
    .fetch_one(&db.owner)
    .await?)
}
