//! What tests set up or read behind the server's back, as the schema owner: sales processes,
//! users, the outbox, the audit trail.

use aura_platform::db::testing::TestDatabase;
use aura_platform::outbox::Mailer;
use serde_json::Value;

/// A sales process seeded into a demo workspace, with its stage ids by name.
pub struct Process {
    pub id: String,
    pub stages: Vec<(String, String)>,
}

impl Process {
    pub fn stage(&self, name: &str) -> String {
        self.stages
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| id.clone())
            .unwrap_or_else(|| panic!("no stage {name}"))
    }
}

/// Seeds a process named `name` into workspace `slug` as the schema owner (the demo workspaces
/// have none, and the process admin pages are not these): stages named `names[0..5]`, which
/// are Lead (open, 10%), Proposal (open, 50%, needs an amount and a close date), Contract
/// (open, 80%, needs a contact), Won, Lost. It is the default if the workspace has none yet.
pub async fn seed_process_named(
    db: &TestDatabase,
    slug: &str,
    name: &str,
    names: [&str; 5],
) -> Process {
    let mut tx = db.owner.begin().await.unwrap();
    // What the insert needs is read first, a statement each: on Citus an insert may hold no
    // subquery, nor may a subquery correlate with the (reference) tenants table.
    let tenant: uuid::Uuid = sqlx::query_scalar("select id from tenants where slug = $1")
        .bind(slug)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let has_default: bool = sqlx::query_scalar(
        "select exists (select 1 from sales_processes where tenant_id = $1 and is_default)",
    )
    .bind(tenant)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let id: uuid::Uuid = sqlx::query_scalar(
        "insert into sales_processes (tenant_id, name, is_default) values ($1, $2, $3)
         returning id",
    )
    .bind(tenant)
    .bind(name)
    .bind(!has_default)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "insert into deal_stages (tenant_id, process_id, name, position, outcome, win_probability,
                                  requires_amount, requires_close_date, requires_contact,
                                  rotting_days)
         select p.tenant_id, p.id, s.name, s.position, s.outcome::aura.stage_outcome,
                s.probability, s.amount, s.close_date, s.contact, s.rotting
         from sales_processes p,
              (values ($2, 0, 'open', 10, false, false, false, null::int),
                      ($3, 1, 'open', 50, true, true, false, null),
                      ($4, 2, 'open', 80, false, false, true, 30),
                      ($5, 3, 'won', 100, false, false, false, null),
                      ($6, 4, 'lost', 0, false, false, false, null))
                  as s (name, position, outcome, probability, amount, close_date, contact, rotting)
         where p.id = $1
         returning id, name",
    )
    .bind(id)
    .bind(names[0])
    .bind(names[1])
    .bind(names[2])
    .bind(names[3])
    .bind(names[4])
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Process {
        id: id.to_string(),
        stages: rows
            .into_iter()
            .map(|(id, name)| (name, id.to_string()))
            .collect(),
    }
}

pub async fn seed_process(db: &TestDatabase, slug: &str, name: &str) -> Process {
    seed_process_named(
        db,
        slug,
        name,
        ["Lead", "Proposal", "Contract", "Won", "Lost"],
    )
    .await
}

/// The id of the user with `email`.
pub async fn user_id(db: &TestDatabase, email: &str) -> uuid::Uuid {
    sqlx::query_scalar("select id from users where email = $1")
        .bind(email)
        .fetch_one(&db.owner)
        .await
        .unwrap()
}

/// A mail server that takes no connection: messages are "sent" (the UI relies on email) and
/// stay in the outbox, where the test reads them.
pub fn unreachable_mail_server() -> Mailer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Mailer::smtp(
        &format!("smtp://127.0.0.1:{port}"),
        "Aura <no-reply@aura.example>",
    )
    .unwrap()
}

/// The newest one-time code emailed to the acme admin, read from the outbox.
pub async fn emailed_code(db: &TestDatabase) -> String {
    let body: String = sqlx::query_scalar(
        "select body_text from email_outbox where to_address = 'admin@acme.example'
         order by created_at desc limit 1",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    body.split("code is ")
        .nth(1)
        .map(|rest| rest[..6].to_owned())
        .expect("a code in the email")
}

/// How many audit entries of `action` there are, in any workspace.
pub async fn audited(db: &TestDatabase, action: &str) -> i64 {
    sqlx::query_scalar("select count(*) from audit_log where action = $1")
        .bind(action)
        .fetch_one(&db.owner)
        .await
        .unwrap()
}

/// How many audit entries of `action` there are on the record `entity`.
pub async fn audited_on(db: &TestDatabase, action: &str, entity: &str) -> i64 {
    sqlx::query_scalar("select count(*) from audit_log where action = $1 and entity_id = $2::uuid")
        .bind(action)
        .bind(entity)
        .fetch_one(&db.owner)
        .await
        .unwrap()
}

/// The actions of the audit entries whose action is like `pattern`, oldest first.
pub async fn audit_actions(db: &TestDatabase, pattern: &str) -> Vec<String> {
    sqlx::query_scalar("select action from audit_log where action like $1 order by id")
        .bind(pattern)
        .fetch_all(&db.owner)
        .await
        .unwrap()
}

/// The actions of workspace `slug`'s audit entries whose action is like `pattern`, oldest first.
pub async fn audit_actions_in(db: &TestDatabase, slug: &str, pattern: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select a.action from audit_log a join tenants t on t.id = a.tenant_id
         where t.slug = $1 and a.action like $2 order by a.id",
    )
    .bind(slug)
    .bind(pattern)
    .fetch_all(&db.owner)
    .await
    .unwrap()
}

/// The action and actor of each audit entry on the record `entity`, oldest first.
pub async fn audit_trail(db: &TestDatabase, entity: &str) -> Vec<(String, Option<uuid::Uuid>)> {
    sqlx::query_as(
        "select action, actor_user_id from audit_log where entity_id = $1::uuid order by id",
    )
    .bind(entity)
    .fetch_all(&db.owner)
    .await
    .unwrap()
}

/// The `before` and `after` (null if none) of each audit entry of `action`, oldest first.
pub async fn audit_changes(db: &TestDatabase, action: &str) -> Vec<(Value, Value)> {
    sqlx::query_as(
        "select coalesce(before, 'null'), coalesce(after, 'null') from audit_log
         where action = $1 order by id",
    )
    .bind(action)
    .fetch_all(&db.owner)
    .await
    .unwrap()
}

/// What `audit_changes` answers, of the entries on the record `entity` only.
pub async fn audit_changes_on(
    db: &TestDatabase,
    action: &str,
    entity: &str,
) -> Vec<(Value, Value)> {
    sqlx::query_as(
        "select coalesce(before, 'null'), coalesce(after, 'null') from audit_log
         where action = $1 and entity_id = $2::uuid order by id",
    )
    .bind(action)
    .bind(entity)
    .fetch_all(&db.owner)
    .await
    .unwrap()
}

/// Why each `access.refused` audit entry of the workspace `slug` was written, oldest first.
pub async fn refusal_reasons(db: &TestDatabase, slug: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select a.after->>'reason' from audit_log a join tenants t on t.id = a.tenant_id
         where t.slug = $1 and a.action = 'access.refused' order by a.id",
    )
    .bind(slug)
    .fetch_all(&db.owner)
    .await
    .unwrap()
}
