//! The scenarios of issue 16 over HTTP against the large workspace, each with its baseline
//! (the same SQL as `aura_app` with context and as the owner; see `baselines`) where one is
//! measured.
//!
//! Members sign in once: an API token for each of the 50 (requests rotate among the members of
//! the scenario's role, so the per-member rate limit never binds), and a session cookie for a
//! few of each role for the pages (the dashboard, a contact's page).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use aura_platform::db::testing::TestDatabase;
use aura_platform::db::TenantContext;
use aura_platform::ids::MemberRole;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::baselines;
use crate::load::{BoxFuture, Step};
use crate::seed::{LARGE, PASSWORD};

/// Signed-in sessions per role, for the pages.
const SESSIONS_PER_ROLE: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Manager,
    Rep,
}

impl Role {
    fn member_role(self) -> MemberRole {
        match self {
            Role::Admin => MemberRole::Admin,
            Role::Manager => MemberRole::Manager,
            Role::Rep => MemberRole::SalesRep,
        }
    }
}

/// A seeded member of the large workspace, signed in.
pub struct Signed {
    pub id: Uuid,
    pub email: String,
    pub token: String,
    /// A client holding the member's session cookie, and its CSRF token (for the first few).
    pub session: Option<reqwest::Client>,
}

/// The server, its client and the large workspace's members by role.
pub struct Http {
    pub client: reqwest::Client,
    pub address: SocketAddr,
    pub base: String,
    pub tenant: Uuid,
    pub members: HashMap<Role, Vec<Signed>>,
}

impl Http {
    fn member(&self, role: Role, user: usize) -> &Signed {
        let all = &self.members[&role];
        &all[user % all.len()]
    }

    pub fn session(&self, role: Role, user: usize) -> &reqwest::Client {
        let all = &self.members[&role];
        let n = all.len().min(SESSIONS_PER_ROLE);
        all[user % n].session.as_ref().expect("signed in")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The member a baseline's user `user` of `role` stands for.
    /// The context of the `user`-th member of `role`, for a baseline.
    pub fn context(&self, role: Role, user: usize) -> TenantContext {
        TenantContext {
            tenant_id: self.tenant.into(),
            user_id: self.member(role, user).id.into(),
            role: role.member_role(),
            read_only: false,
        }
    }
}

fn host_client(address: SocketAddr, cookies: bool) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(cookies)
        .resolve(&format!("{LARGE}.localhost"), address)
        .build()?)
}

/// Signs every member of the large workspace in (an API token each; a session for the first
/// few of each role).
pub async fn sign_in(db: &TestDatabase, address: SocketAddr, tenant: Uuid) -> anyhow::Result<Http> {
    let client = host_client(address, false)?;
    let base = format!("http://{LARGE}.localhost:{}", address.port());
    let rows: Vec<(Uuid, String, String)> = sqlx::query_as(
        "select u.id, u.email, m.role::text from tenant_members m join users u on u.id = m.user_id
         where m.tenant_id = $1 order by m.role, u.email",
    )
    .bind(tenant)
    .fetch_all(&db.owner)
    .await?;
    let mut members: HashMap<Role, Vec<Signed>> = HashMap::new();
    for (id, email, role) in rows {
        let role = match role.as_str() {
            "admin" => Role::Admin,
            "manager" => Role::Manager,
            _ => Role::Rep,
        };
        let token = token(&client, &base, &email).await?;
        let session = if members.get(&role).map_or(0, Vec::len) < SESSIONS_PER_ROLE {
            Some(session(address, &base, &email).await?)
        } else {
            None
        };
        members.entry(role).or_default().push(Signed {
            id,
            email,
            token,
            session,
        });
    }
    Ok(Http {
        client,
        address,
        base,
        tenant,
        members,
    })
}

async fn token(client: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<String> {
    let response: Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await?
        .json()
        .await?;
    Ok(response["access_token"]
        .as_str()
        .with_context(|| format!("sign-in of {email}: {response}"))?
        .to_owned())
}

/// A browser signed in through the login form, as a person is.
async fn session(address: SocketAddr, base: &str, email: &str) -> anyhow::Result<reqwest::Client> {
    let browser = host_client(address, true)?;
    let page = browser
        .get(format!("{base}/login"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("a csrf_token field on the login page")?
        .to_owned();
    let response = browser
        .post(format!("{base}/login"))
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == StatusCode::SEE_OTHER,
        "{email} could not sign in: {}",
        response.status()
    );
    Ok(browser)
}

/// A platform operator signed in on the apex (made here: the benchmark's platform has none).
pub async fn operator_session(
    db: &TestDatabase,
    address: SocketAddr,
) -> anyhow::Result<reqwest::Client> {
    let email = "ops@bench.example";
    sqlx::query(
        "insert into users (email, display_name, password_hash, is_platform_admin)
         values ($1, 'Operator', $2, true) on conflict do nothing",
    )
    .bind(email)
    .bind(crate::seed::password_hash())
    .execute(&db.owner)
    .await?;
    session(
        address,
        &format!("http://localhost:{}", address.port()),
        email,
    )
    .await
}

/// The records the scenarios name, looked up as the owner.
pub struct Fixture {
    pub process: Uuid,
    /// The fullest open stage of the big process, and the rep owning most deals in it.
    pub stage: Uuid,
    pub stage_owner: Uuid,
    pub prospect: Uuid,
    pub qualified: Uuid,
    /// The contact with 200 activities.
    pub busy_contact: Uuid,
    /// The deal of 200 lines, and when seeding ended (lines added later are the run's).
    pub long_deal: Uuid,
    pub seeded_at: chrono::DateTime<chrono::Utc>,
    pub product: Uuid,
    /// Each rep's open deals of the big process, by rep id.
    pub rep_deals: HashMap<Uuid, Vec<Uuid>>,
}

pub async fn fixture(db: &TestDatabase, tenant: Uuid) -> anyhow::Result<Fixture> {
    let o = &db.owner;
    let process: Uuid = sqlx::query_scalar(
        "select id from sales_processes where tenant_id = $1 and name = 'Sales'",
    )
    .bind(tenant)
    .fetch_one(o)
    .await?;
    let stage_id = |name: &'static str| {
        sqlx::query_scalar::<_, Uuid>(
            "select id from deal_stages where tenant_id = $1 and process_id = $2 and name = $3",
        )
        .bind(tenant)
        .bind(process)
        .bind(name)
        .fetch_one(o)
    };
    let (prospect, qualified) = (stage_id("Prospect").await?, stage_id("Qualified").await?);
    let (stage, stage_owner): (Uuid, Uuid) = sqlx::query_as(
        "select d.stage_id, (select d2.assigned_to from deals d2
                             join tenant_members m on m.tenant_id = d2.tenant_id
                              and m.user_id = d2.assigned_to and m.role = 'sales_rep'
                             where d2.stage_id = d.stage_id group by 1 order by count(*) desc, 1 limit 1)
         from deals d where d.tenant_id = $1 and d.process_id = $2 and d.outcome = 'open'
         group by 1 order by count(*) desc limit 1",
    )
    .bind(tenant)
    .bind(process)
    .fetch_one(o)
    .await?;
    let busy_contact: Uuid = sqlx::query_scalar(
        "select contact_id from activities where tenant_id = $1
         group by 1 order by count(*) desc limit 1",
    )
    .bind(tenant)
    .fetch_one(o)
    .await?;
    let long_deal: Uuid = sqlx::query_scalar(
        "select deal_id from deal_line_items where tenant_id = $1
         group by 1 order by count(*) desc limit 1",
    )
    .bind(tenant)
    .fetch_one(o)
    .await?;
    let product: Uuid =
        sqlx::query_scalar("select id from products where tenant_id = $1 order by sku limit 1")
            .bind(tenant)
            .fetch_one(o)
            .await?;
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "select d.assigned_to, d.id from deals d
         join tenant_members m on m.tenant_id = d.tenant_id and m.user_id = d.assigned_to
         where d.tenant_id = $1 and d.process_id = $2 and d.outcome = 'open'
           and m.role = 'sales_rep' and d.id <> $3
         order by d.name_key, d.id",
    )
    .bind(tenant)
    .bind(process)
    .bind(long_deal)
    .fetch_all(o)
    .await?;
    let mut rep_deals: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (rep, deal) in rows {
        rep_deals.entry(rep).or_default().push(deal);
    }
    Ok(Fixture {
        process,
        stage,
        stage_owner,
        prospect,
        qualified,
        busy_contact,
        long_deal,
        seeded_at: chrono::Utc::now(),
        product,
        rep_deals,
    })
}

/// A user of an HTTP scenario: its number, and for a stage move the deal it moves and that
/// deal's version and stage.
pub struct HttpUser {
    pub index: usize,
    pub moving: Option<(Uuid, i64, Uuid)>,
}

pub type Baseline = Step<baselines::User>;

/// One scenario: over HTTP, and the same SQL run directly where measured.
pub struct Scenario {
    pub name: &'static str,
    pub role: Role,
    pub read: bool,
    /// Most requests in one run (the 200-line deal must stay under 500 lines).
    pub cap: Option<u64>,
    pub http: Step<HttpUser>,
    pub baseline: Option<Baseline>,
    /// The stage-move users need their deals.
    pub moves_deals: bool,
}

/// A step that sends the request `build` makes for (user, step) and expects `status`.
fn http_step(
    expected: StatusCode,
    build: impl Fn(usize, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> Step<HttpUser> {
    let build = Arc::new(build);
    Arc::new(
        move |user: HttpUser, k| -> BoxFuture<(HttpUser, anyhow::Result<()>)> {
            let request = build(user.index, k);
            Box::pin(async move {
                let result = async {
                    let response = request.send().await?;
                    let status = response.status();
                    let body = response.bytes().await?;
                    anyhow::ensure!(
                        status == expected,
                        "{status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    );
                    Ok(())
                }
                .await;
                (user, result)
            })
        },
    )
}

/// A future borrowing a baseline's user.
type Borrowing<'a> = Pin<Box<dyn Future<Output = anyhow::Result<usize>> + Send + 'a>>;

/// A baseline step running `f` on the user's connection, with the step's number.
fn baseline<F>(f: F) -> Option<Baseline>
where
    F: for<'a> Fn(&'a baselines::User, u64) -> Borrowing<'a> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    Some(Arc::new(move |user: baselines::User, k: u64| {
        let f = Arc::clone(&f);
        Box::pin(async move {
            let result = f(&user, k).await.map(drop);
            (user, result)
        })
    }))
}

/// Every scenario of issue 16, in report order.
pub fn all(http: &Arc<Http>, fx: &Arc<Fixture>) -> Vec<Scenario> {
    let mut list = Vec::new();
    let get = |role: Role, path: String| {
        let http = Arc::clone(http);
        http_step(StatusCode::OK, move |i, _| {
            http.client
                .get(http.url(&path))
                .bearer_auth(&http.member(role, i).token)
        })
    };
    let page = |role: Role, path: String| {
        let http = Arc::clone(http);
        http_step(StatusCode::OK, move |i, _| {
            http.session(role, i).get(http.url(&path))
        })
    };
    // Reads.
    let (process, stage, owner) = (fx.process, fx.stage, fx.stage_owner);
    list.push(Scenario {
        name: "deal list: process + stage + owner (manager)",
        role: Role::Manager,
        read: true,
        cap: None,
        http: get(
            Role::Manager,
            format!("/api/v1/deals?process_id={process}&stage_id={stage}&assigned_to={owner}"),
        ),
        baseline: baseline(move |u, _| {
            Box::pin(baselines_deal_list(u, process, stage, Some(owner)))
        }),
        moves_deals: false,
    });
    list.push(Scenario {
        name: "deal list: process + stage, own deals (rep)",
        role: Role::Rep,
        read: true,
        cap: None,
        http: get(
            Role::Rep,
            format!("/api/v1/deals?process_id={process}&stage_id={stage}"),
        ),
        baseline: baseline(move |u, _| Box::pin(baselines_deal_list(u, process, stage, None))),
        moves_deals: false,
    });
    for (name, role) in [
        ("board of the big process (manager)", Role::Manager),
        ("board of the big process, own deals (rep)", Role::Rep),
    ] {
        list.push(Scenario {
            name,
            role,
            read: true,
            cap: None,
            http: get(role, format!("/api/v1/processes/{process}/board")),
            baseline: baseline(move |u, _| Box::pin(baselines_board(u, process))),
            moves_deals: false,
        });
    }
    for (name, role, text) in [
        (
            "contact search, name prefix `smith` (manager)",
            Role::Manager,
            "smith",
        ),
        (
            "contact search, name prefix `smith` (rep)",
            Role::Rep,
            "smith",
        ),
        (
            "contact search, email prefix `p1234` (manager)",
            Role::Manager,
            "p1234",
        ),
    ] {
        list.push(Scenario {
            name,
            role,
            read: true,
            cap: None,
            http: get(role, format!("/api/v1/contacts?search={text}")),
            baseline: baseline(move |u, _| Box::pin(baselines_search(u, text))),
            moves_deals: false,
        });
    }
    let contact = fx.busy_contact;
    list.push(Scenario {
        name: "contact page with its timeline, 200 activities (manager, page)",
        role: Role::Manager,
        read: true,
        cap: None,
        http: page(Role::Manager, format!("/contacts/{contact}")),
        baseline: baseline(move |u, _| Box::pin(baselines_contact_page(u, contact))),
        moves_deals: false,
    });
    // The header's search: contacts, organizations and deals at once, as htmx asks while
    // the member types (the same handler serves the no-JavaScript page).
    for (name, role) in [
        (
            "global search `smith`: contacts, organizations, deals (manager, page)",
            Role::Manager,
        ),
        (
            "global search `smith`: contacts, organizations, deals (rep, page)",
            Role::Rep,
        ),
    ] {
        list.push(Scenario {
            name,
            role,
            read: true,
            cap: None,
            http: page(role, "/search?q=smith".into()),
            baseline: baseline(move |u, _| Box::pin(baselines_global_search(u, "smith"))),
            moves_deals: false,
        });
    }
    list.push(Scenario {
        name: "dashboard `/` (rep, page)",
        role: Role::Rep,
        read: true,
        cap: None,
        http: page(Role::Rep, "/".into()),
        baseline: baseline(|u, _| Box::pin(baselines_dashboard(u))),
        moves_deals: false,
    });
    list.push(Scenario {
        name: "dashboard `/` with the team table (manager, page)",
        role: Role::Manager,
        read: true,
        cap: None,
        http: page(Role::Manager, "/".into()),
        baseline: baseline(|u, _| Box::pin(baselines_dashboard(u))),
        moves_deals: false,
    });
    list.push(Scenario {
        name: "pipeline snapshot of the big process, this quarter (manager, page)",
        role: Role::Manager,
        read: true,
        cap: None,
        http: page(
            Role::Manager,
            format!("/processes/{}/snapshot?period=quarter", fx.process),
        ),
        baseline: baseline(move |u, _| Box::pin(baselines_snapshot(u, process))),
        moves_deals: false,
    });
    // Writes.
    let (prospect, qualified) = (fx.prospect, fx.qualified);
    let mover = Arc::clone(http);
    list.push(Scenario {
        name: "stage move, own deal (rep)",
        role: Role::Rep,
        read: false,
        cap: None,
        http: Arc::new(move |mut user: HttpUser, _k: u64| {
            let http = Arc::clone(&mover);
            Box::pin(async move {
                let (deal, version, to) = next_move(user.moving, prospect, qualified);
                let result = async {
                    let response = http
                        .client
                        .post(http.url(&format!("/api/v1/deals/{deal}/stage")))
                        .bearer_auth(&http.member(Role::Rep, user.index).token)
                        .json(&json!({ "stage_id": to, "version": version }))
                        .send()
                        .await?;
                    let status = response.status();
                    let body: Value = response.json().await?;
                    anyhow::ensure!(status == StatusCode::OK, "{status}: {body}");
                    let version = body["version"].as_i64().context("the deal's version")?;
                    Ok(version)
                }
                .await;
                match result {
                    Ok(version) => {
                        user.moving = Some((deal, version, to));
                        (user, Ok(()))
                    }
                    Err(err) => (user, Err(err)),
                }
            }) as BoxFuture<_>
        }),
        baseline: Some(Arc::new(move |mut user: baselines::User, _k: u64| {
            Box::pin(async move {
                let (deal, version, to) = next_move(user.moving, prospect, qualified);
                match baselines::move_stage(&user, deal, version, to).await {
                    Ok(version) => {
                        user.moving = Some((deal, version, to));
                        (user, Ok(()))
                    }
                    Err(err) => (user, Err(err)),
                }
            }) as BoxFuture<_>
        })),
        moves_deals: true,
    });
    let (long_deal, product) = (fx.long_deal, fx.product);
    let lines = Arc::clone(http);
    list.push(Scenario {
        name: "add a line to the 200-line deal (manager)",
        role: Role::Manager,
        read: false,
        // 200 + 250 stays under the 500 lines a deal may carry; the lines are removed after
        // each run.
        cap: Some(250),
        http: http_step(StatusCode::CREATED, move |i, _| {
            lines
                .client
                .post(lines.url(&format!("/api/v1/deals/{long_deal}/lines")))
                .bearer_auth(&lines.member(Role::Manager, i).token)
                .json(&json!({ "product_id": product, "quantity": "1" }))
        }),
        baseline: baseline(move |u, _| Box::pin(baselines::add_line(u, long_deal, product, "1"))),
        moves_deals: false,
    });
    let lines = Arc::clone(http);
    let rep_deals = Arc::clone(fx);
    let (owners, deals_of) = (Arc::clone(http), Arc::clone(fx));
    list.push(Scenario {
        name: "add a line to a 3-line deal, own deal (rep)",
        role: Role::Rep,
        read: false,
        cap: None,
        http: http_step(StatusCode::CREATED, move |i, k| {
            let rep = lines.member(Role::Rep, i);
            let deals = &rep_deals.rep_deals[&rep.id];
            let deal = deals[(k as usize / lines.members[&Role::Rep].len()) % deals.len()];
            lines
                .client
                .post(lines.url(&format!("/api/v1/deals/{deal}/lines")))
                .bearer_auth(&rep.token)
                .json(&json!({ "product_id": product, "quantity": "2" }))
        }),
        baseline: baseline(move |u, k| {
            let deals = &deals_of.rep_deals[&owners.member(Role::Rep, u.index).id];
            let deal = deals[(k as usize / owners.members[&Role::Rep].len()) % deals.len()];
            Box::pin(baselines::add_line(u, deal, product, "2"))
        }),
        moves_deals: false,
    });
    let creator = Arc::clone(http);
    // Emails stay unique across runs, the baselines' too.
    let counter = Arc::new(AtomicU64::new(0));
    let baseline_counter = Arc::clone(&counter);
    list.push(Scenario {
        name: "create a contact (rep)",
        role: Role::Rep,
        read: false,
        cap: None,
        http: http_step(StatusCode::CREATED, move |i, _| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            creator
                .client
                .post(creator.url("/api/v1/contacts"))
                .bearer_auth(&creator.member(Role::Rep, i).token)
                .json(
                    &json!({ "first_name": "Loaded", "last_name": format!("Person {n}"),
                               "email": format!("loaded{n}@bench.example") }),
                )
        }),
        baseline: baseline(move |u, _| {
            let n = baseline_counter.fetch_add(1, Ordering::Relaxed);
            Box::pin(baselines::create_contact(u, n))
        }),
        moves_deals: false,
    });
    let floor = Arc::clone(http);
    list.push(Scenario {
        name: "`/healthz` (the framework's floor)",
        role: Role::Rep,
        read: true,
        cap: None,
        http: http_step(StatusCode::OK, move |_, _| {
            floor
                .client
                .get(format!("http://127.0.0.1:{}/healthz", floor.address.port()))
        }),
        baseline: None,
        moves_deals: false,
    });
    let signer = Arc::clone(http);
    list.push(Scenario {
        name: "sign-in: API token, argon2 (rep)",
        role: Role::Rep,
        read: false,
        cap: None,
        http: http_step(StatusCode::OK, move |i, _| {
            signer
                .client
                .post(signer.url("/api/v1/auth/token"))
                .json(&json!({ "email": signer.member(Role::Rep, i).email,
                               "password": PASSWORD }))
        }),
        baseline: None,
        moves_deals: false,
    });
    list
}

async fn baselines_deal_list(
    user: &baselines::User,
    process: Uuid,
    stage: Uuid,
    owner: Option<Uuid>,
) -> anyhow::Result<usize> {
    baselines::deal_list(user, process, stage, owner).await
}

async fn baselines_board(user: &baselines::User, process: Uuid) -> anyhow::Result<usize> {
    baselines::board(user, process).await
}

async fn baselines_search(user: &baselines::User, text: &str) -> anyhow::Result<usize> {
    baselines::contact_search(user, text).await
}

async fn baselines_contact_page(user: &baselines::User, contact: Uuid) -> anyhow::Result<usize> {
    baselines::contact_page(user, contact).await
}

async fn baselines_global_search(user: &baselines::User, text: &str) -> anyhow::Result<usize> {
    baselines::global_search(user, text).await
}

async fn baselines_dashboard(user: &baselines::User) -> anyhow::Result<usize> {
    baselines::dashboard(user).await
}

async fn baselines_snapshot(user: &baselines::User, process: Uuid) -> anyhow::Result<usize> {
    baselines::snapshot(user, process).await
}

/// The users of a stage-move run: user `i` moves the `i / reps`-th open deal of rep `i % reps`,
/// from its current stage and version.
pub async fn movers(
    db: &TestDatabase,
    http: &Http,
    fx: &Fixture,
    users: usize,
) -> anyhow::Result<Vec<HttpUser>> {
    let reps = http.members[&Role::Rep].len();
    let mut out = Vec::new();
    for i in 0..users {
        let rep = http.member(Role::Rep, i);
        let deal = fx.rep_deals[&rep.id][i / reps];
        let (version, stage): (i64, Uuid) =
            sqlx::query_as("select version, stage_id from deals where id = $1")
                .bind(deal)
                .fetch_one(&db.owner)
                .await?;
        // A deal in another open stage is first moved to the prospect stage.
        let at = if stage == fx.prospect {
            fx.prospect
        } else {
            fx.qualified
        };
        out.push(HttpUser {
            index: i,
            moving: Some((deal, version, at)),
        });
    }
    Ok(out)
}

/// Removes the lines a run added to the 200-line deal (soft removal, as a member's; the
/// triggers sum the deal again).
pub async fn reset_long_deal(db: &TestDatabase, fx: &Fixture) -> anyhow::Result<()> {
    sqlx::query(
        "update deal_line_items set deleted_at = now()
         where deal_id = $1 and deleted_at is null and created_at > $2",
    )
    .bind(fx.long_deal)
    .bind(fx.seeded_at)
    .execute(&db.owner)
    .await?;
    Ok(())
}

/// One connection per user for a baseline: `aura_app` with context (`rls`) or the owner.
pub fn baseline_users(
    db: &TestDatabase,
    http: &Http,
    role: Role,
    users: usize,
    rls: bool,
) -> anyhow::Result<Vec<baselines::User>> {
    let url = if rls { &db.app_url } else { &db.owner_url };
    (0..users)
        .map(|i| baselines::User::connect(url, i, http.context(role, i)))
        .collect()
}

/// The stage-move scenario's next move, over HTTP and in its baseline alike: the deal being
/// moved, its version, and the stage it is not at (it shuttles between prospect and qualified).
fn next_move(
    moving: Option<(Uuid, i64, Uuid)>,
    prospect: Uuid,
    qualified: Uuid,
) -> (Uuid, i64, Uuid) {
    let (deal, version, at) = moving.expect("a deal to move");
    let to = if at == prospect { qualified } else { prospect };
    (deal, version, to)
}
