//! Deals' rules as the database keeps them, checked in SQL as `aura_app` with tenant context
//! (ARCHITECTURE.md, rules 5-6): a deal's process never changes and its stage is one of that
//! process's; a rep sees and changes only their own deals and what follows them (links,
//! history, activities); a reassignment carries those along; the history is append-only; and
//! the refused-access recorder knows deals.

use aura_platform::db::testing::TestDatabase;
use aura_platform::db::{ConstraintKind, DbError, TenantContext};
use aura_platform::ids::{MemberRole, TenantId, UserId};
use sqlx::PgPool;
use uuid::Uuid;

use crate::isolation::{refused_by_privilege_or_policy, two_tenants};

/// The constraint that refused `err`, if one did.
fn constraint(err: sqlx::Error) -> Option<(ConstraintKind, String)> {
    match DbError::from(err) {
        DbError::Constraint { kind, constraint } => Some((kind, constraint)),
        _ => None,
    }
}

async fn one(owner: &PgPool, sql: &str, tenant: TenantId) -> Uuid {
    sqlx::query_scalar(sql)
        .bind(tenant.as_uuid())
        .fetch_one(owner)
        .await
        .unwrap()
}

/// A sales rep of `tenant` with a contact, a deal of their own in the default process with
/// that contact on it, its first history row and an activity on it; returns the rep's context.
async fn rep_with_a_deal(owner: &PgPool, tenant: TenantId) -> TenantContext {
    let rep = UserId::new();
    sqlx::raw_sql(&format!(
        "insert into users (id, email, display_name) values ('{rep}', 'rep@example.com', 'Rep');
         insert into tenant_members (tenant_id, user_id, role) values ('{tenant}', '{rep}', 'sales_rep');
         select aura.sync_member_of('{tenant}', '{rep}');
         insert into contacts (tenant_id, first_name, assigned_to) values ('{tenant}', 'Mine', '{rep}');
         with deal as (
             insert into deals (tenant_id, name, process_id, stage_id, outcome, probability,
                                assigned_to)
             select '{tenant}', 'My deal', s.process_id, s.id, s.outcome, s.win_probability, '{rep}'
             from deal_stages s where s.tenant_id = '{tenant}' and s.outcome = 'open'
             returning id, process_id, stage_id, assigned_to),
         link as (
             insert into deal_contacts (tenant_id, deal_id, contact_id, role, deal_owner,
                                        contact_owner, created_by)
             select '{tenant}', deal.id, c.id, 'influencer', deal.assigned_to, c.assigned_to, '{rep}'
             from deal, contacts c where c.tenant_id = '{tenant}' and c.first_name = 'Mine')
         insert into activities (tenant_id, kind, description, occurred_at, participant_id,
                                 deal_id, deal_owner, created_by)
         select '{tenant}', 'note', 'On my deal', now(), '{rep}', id, assigned_to, '{rep}' from deal;"
    ))
    .execute(owner)
    .await
    .unwrap();
    TenantContext {
        tenant_id: tenant,
        user_id: rep,
        role: MemberRole::SalesRep,
        read_only: false,
    }
}

#[tokio::test]
async fn a_deal_s_process_never_changes_and_its_stage_is_one_of_its_process() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let tenant = t.a.tenant_id;
    // A second process, made by the admin in context (admins configure processes).
    let mut tx = db.app.begin(t.a).await.unwrap();
    sqlx::raw_sql(&format!(
        "with process as (
             insert into sales_processes (tenant_id, name) values ('{tenant}', 'Partners')
             returning id)
         insert into deal_stages (tenant_id, process_id, name, position, outcome, win_probability)
         select '{tenant}', id, stage.name, stage.position, stage.outcome::aura.stage_outcome,
                stage.probability
         from process, (values ('Talk', 0, 'open', 20), ('Signed', 1, 'won', 100),
                               ('Gone', 2, 'lost', 0)) as stage (name, position, outcome, probability);"
    ))
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let deal = one(
        &db.owner,
        "select id from deals where tenant_id = $1",
        tenant,
    )
    .await;
    let partners = one(
        &db.owner,
        "select id from sales_processes where tenant_id = $1 and name = 'Partners'",
        tenant,
    )
    .await;
    let talk = one(
        &db.owner,
        "select id from deal_stages where tenant_id = $1 and name = 'Talk'",
        tenant,
    )
    .await;
    let won = one(
        &db.owner,
        "select id from deal_stages where tenant_id = $1 and name = 'Won'",
        tenant,
    )
    .await;

    let refusal = |statement: String| {
        let app = db.app.clone();
        async move {
            let mut tx = app.begin(t.a).await.unwrap();
            let err = sqlx::raw_sql(&statement)
                .execute(tx.conn())
                .await
                .expect_err(&format!("the admin could run `{statement}`"));
            constraint(err)
        }
    };
    // The process: not alone, not with a stage of the new process, not at all.
    for statement in [
        format!("update deals set process_id = '{partners}' where id = '{deal}'"),
        format!(
            "update deals set process_id = '{partners}', stage_id = '{talk}' where id = '{deal}'"
        ),
    ] {
        assert_eq!(
            refusal(statement).await,
            Some((ConstraintKind::Check, "deals_process_immutable".to_owned()))
        );
    }
    // The stage: one of another process, or with an outcome that is not the stage's.
    for statement in [
        format!("update deals set stage_id = '{talk}' where id = '{deal}'"),
        format!(
            "update deals set outcome = 'won', probability = 100, closed_at = now(),
                     closed_stage_name = 'Won' where id = '{deal}'"
        ),
        format!(
            "insert into deals (tenant_id, name, process_id, stage_id, outcome, probability,
                                assigned_to)
             select '{tenant}', 'Mixed', p.id, '{talk}', 'open', 20, '{}'
             from sales_processes p where p.tenant_id = '{tenant}' and p.name = 'Sales'",
            t.a.user_id
        ),
    ] {
        assert_eq!(
            refusal(statement).await,
            Some((ConstraintKind::ForeignKey, "deals_stage_fkey".to_owned()))
        );
    }
    // A stage of its own process, with its outcome, is a move the database accepts.
    let mut tx = db.app.begin(t.a).await.unwrap();
    let moved = sqlx::raw_sql(&format!(
        "update deals set stage_id = '{won}', outcome = 'won', probability = 100,
                          closed_at = now(), closed_stage_name = 'Won'
         where id = '{deal}'"
    ))
    .execute(tx.conn())
    .await
    .unwrap();
    assert_eq!(moved.rows_affected(), 1);
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_rep_reaches_only_their_own_deals_and_what_follows_them() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let tenant = t.a.tenant_id;
    let as_rep = rep_with_a_deal(&db.owner, tenant).await;
    // The admin's deal and contact (from `two_tenants`), with an activity on the deal.
    let admins_deal = one(
        &db.owner,
        "select id from deals where tenant_id = $1 and name = 'Big deal'",
        tenant,
    )
    .await;
    let admins_contact = one(
        &db.owner,
        "select id from contacts where tenant_id = $1 and first_name = 'Client'",
        tenant,
    )
    .await;
    sqlx::query(
        "insert into activities (tenant_id, kind, description, occurred_at, participant_id,
                                 deal_id, deal_owner, created_by)
         values ($1, 'note', 'On the big deal', now(), $2, $3, $2, $2)",
    )
    .bind(tenant.as_uuid())
    .bind(t.a.user_id.as_uuid())
    .bind(admins_deal)
    .execute(&db.owner)
    .await
    .unwrap();

    let mut tx = db.app.begin(as_rep).await.unwrap();
    let seen = |sql: &'static str| sqlx::query_scalar::<_, String>(sql);
    assert_eq!(
        seen("select name from deals")
            .fetch_all(tx.conn())
            .await
            .unwrap(),
        ["My deal"]
    );
    assert_eq!(
        seen("select role::text from deal_contacts")
            .fetch_all(tx.conn())
            .await
            .unwrap(),
        ["influencer"]
    );
    assert_eq!(
        seen("select d.name from deal_stage_history h join deals d on d.id = h.deal_id")
            .fetch_all(tx.conn())
            .await
            .unwrap(),
        ["My deal"]
    );
    let history: i64 = sqlx::query_scalar("select count(*) from deal_stage_history")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(history, 1);
    assert_eq!(
        seen("select description from activities")
            .fetch_all(tx.conn())
            .await
            .unwrap(),
        ["On my deal"]
    );
    let changed = sqlx::query("update deals set name = 'Taken' where id = $1")
        .bind(admins_deal)
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    let unlinked = sqlx::query("delete from deal_contacts where deal_id = $1")
        .bind(admins_deal)
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(unlinked.rows_affected(), 0);
    let renamed = sqlx::query("update deals set name = 'Still mine' where name = 'My deal'")
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(
        renamed.rows_affected(),
        1,
        "their own deal is theirs to change"
    );
    drop(tx);

    // Neither a deal for someone else, nor handing one's own away, nor history, links or
    // activities on a deal (or with a contact) that is not theirs.
    let admin = t.a.user_id;
    let rep = as_rep.user_id;
    for statement in [
        format!(
            "insert into deals (tenant_id, name, process_id, stage_id, outcome, probability,
                                assigned_to)
             select '{tenant}', 'Gift', s.process_id, s.id, s.outcome, s.win_probability, '{admin}'
             from deal_stages s where s.tenant_id = '{tenant}' and s.outcome = 'open'"
        ),
        format!("update deals set assigned_to = '{admin}' where name = 'My deal'"),
        format!(
            "insert into deal_stage_history (tenant_id, deal_id, deal_owner, process_id,
                                             to_stage_id, to_stage_name, moved_by)
             select '{tenant}', '{admins_deal}', '{admin}', process_id, id, 'x', '{rep}'
             from deal_stages where tenant_id = '{tenant}' and outcome = 'open'"
        ),
        format!(
            "insert into deal_contacts (tenant_id, deal_id, contact_id, deal_owner, contact_owner,
                                        created_by)
             select '{tenant}', d.id, '{admins_contact}', d.assigned_to, '{admin}', '{rep}'
             from deals d where d.name = 'My deal'"
        ),
        format!(
            "insert into activities (tenant_id, kind, description, occurred_at, participant_id,
                                     deal_id, deal_owner, created_by)
             values ('{tenant}', 'note', 'x', now(), '{rep}', '{admins_deal}', '{admin}', '{rep}')"
        ),
        // A copy of the owner that lies is corrected to the deal's owner (0058), so the
        // policy refuses the row as it refuses the honest one above.
        format!(
            "insert into activities (tenant_id, kind, description, occurred_at, participant_id,
                                     deal_id, deal_owner, created_by)
             values ('{tenant}', 'note', 'x', now(), '{rep}', '{admins_deal}', '{rep}', '{rep}')"
        ),
    ] {
        let mut tx = db.app.begin(as_rep).await.unwrap();
        let err = sqlx::raw_sql(&statement)
            .execute(tx.conn())
            .await
            .expect_err(&format!("a rep could run `{statement}`"));
        assert!(refused_by_privilege_or_policy(&err), "`{statement}`: {err}");
    }
}

#[tokio::test]
async fn reassigning_a_deal_carries_its_links_history_and_activities_along() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let tenant = t.a.tenant_id;
    let as_rep = rep_with_a_deal(&db.owner, tenant).await;
    let deal = one(
        &db.owner,
        "select id from deals where tenant_id = $1 and name = 'Big deal'",
        tenant,
    )
    .await;
    sqlx::query(
        "insert into activities (tenant_id, kind, description, occurred_at, participant_id,
                                 deal_id, deal_owner, created_by)
         values ($1, 'call', 'Called about it', now(), $2, $3, $2, $2)",
    )
    .bind(tenant.as_uuid())
    .bind(t.a.user_id.as_uuid())
    .bind(deal)
    .execute(&db.owner)
    .await
    .unwrap();

    // The admin gives the big deal to the rep: one statement, as `aura_app`.
    let mut tx = db.app.begin(t.a).await.unwrap();
    sqlx::query("update deals set assigned_to = $2, version = version + 1 where id = $1")
        .bind(deal)
        .bind(as_rep.user_id.as_uuid())
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let owners: Vec<Uuid> = sqlx::query_scalar(
        "select deal_owner from deal_contacts where deal_id = $1
         union all select deal_owner from deal_stage_history where deal_id = $1
         union all select deal_owner from activities where deal_id = $1",
    )
    .bind(deal)
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(owners.len(), 3);
    assert!(
        owners.iter().all(|o| *o == as_rep.user_id.as_uuid()),
        "{owners:?}"
    );

    // The rep now sees the deal with its history and activity; the link's contact stays the
    // admin's (its own owner), so the rep sees the link but not the contact.
    let mut tx = db.app.begin(as_rep).await.unwrap();
    let counts: (i64, i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from deals where id = $1),
                (select count(*) from deal_stage_history where deal_id = $1),
                (select count(*) from activities where deal_id = $1),
                (select count(*) from deal_contacts dc
                 join contacts c on c.tenant_id = dc.tenant_id and c.id = dc.contact_id
                 where dc.deal_id = $1)",
    )
    .bind(deal)
    .fetch_one(tx.conn())
    .await
    .unwrap();
    assert_eq!(counts, (1, 1, 1, 0));
    let links: i64 = sqlx::query_scalar("select count(*) from deal_contacts where deal_id = $1")
        .bind(deal)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(links, 1);
    drop(tx);

    // The admin gives the linked contact to the rep too: the link's copy of the contact's
    // owner follows (0058's trigger, as the cascading key did), and the rep sees the contact.
    let mut tx = db.app.begin(t.a).await.unwrap();
    sqlx::query(
        "update contacts set assigned_to = $2
         where id = (select contact_id from deal_contacts where deal_id = $1)",
    )
    .bind(deal)
    .bind(as_rep.user_id.as_uuid())
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let contact_owner: Uuid =
        sqlx::query_scalar("select contact_owner from deal_contacts where deal_id = $1")
            .bind(deal)
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(contact_owner, as_rep.user_id.as_uuid());
    let mut tx = db.app.begin(as_rep).await.unwrap();
    let seen: i64 = sqlx::query_scalar(
        "select count(*) from deal_contacts dc
         join contacts c on c.tenant_id = dc.tenant_id and c.id = dc.contact_id
         where dc.deal_id = $1",
    )
    .bind(deal)
    .fetch_one(tx.conn())
    .await
    .unwrap();
    assert_eq!(seen, 1);
}

#[tokio::test]
async fn the_stage_history_is_append_only_for_the_app() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    for statement in [
        "update deal_stage_history set to_stage_name = 'Rewritten'",
        "update deal_stage_history set moved_at = now() - interval '1 year'",
        "delete from deal_stage_history",
        "truncate deal_stage_history",
        // Written only by the database (0033): not even an admin adds a row of their own.
        "insert into deal_stage_history (tenant_id, deal_id, deal_owner, process_id, to_stage_id,
                                         to_stage_name, moved_by)
         select h.tenant_id, h.deal_id, h.deal_owner, h.process_id, h.to_stage_id, 'Forged',
                h.moved_by
         from deal_stage_history h",
    ] {
        let mut tx = db.app.begin(t.a).await.unwrap();
        let err = sqlx::raw_sql(statement)
            .execute(tx.conn())
            .await
            .expect_err(&format!("the admin could run `{statement}`"));
        assert!(refused_by_privilege_or_policy(&err), "`{statement}`: {err}");
    }
    let names: Vec<String> = sqlx::query_scalar("select to_stage_name from deal_stage_history")
        .fetch_all(&db.owner)
        .await
        .unwrap();
    assert_eq!(names, ["Prospect", "Prospect"]);
}

#[tokio::test]
async fn every_stage_change_writes_its_history_row_whoever_makes_it() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let as_rep = rep_with_a_deal(&db.owner, t.a.tenant_id).await;
    // The rep's own context in psql, not the app: a move with a back-dated clock.
    let mut tx = db.app.begin(as_rep).await.unwrap();
    sqlx::raw_sql(
        "update deals d
         set stage_id = s.id, outcome = s.outcome, probability = 100, closed_at = now(),
             closed_stage_name = s.name,
             stage_entered_at = now() - interval '1 year'
         from deal_stages s
         where d.name = 'My deal' and s.tenant_id = d.tenant_id and s.process_id = d.process_id
           and s.outcome = 'won'",
    )
    .execute(tx.conn())
    .await
    .unwrap();
    // Nor is the clock set without a move.
    sqlx::raw_sql(
        "update deals set stage_entered_at = now() - interval '1 year' where name = 'My deal'",
    )
    .execute(tx.conn())
    .await
    .unwrap();
    let moves: Vec<(Option<String>, String, Uuid, bool)> = sqlx::query_as(
        "select h.from_stage_name, h.to_stage_name, h.moved_by,
                d.stage_entered_at > now() - interval '1 minute'
         from deal_stage_history h join deals d on d.id = h.deal_id
         where d.name = 'My deal'
         order by h.from_stage_name nulls first",
    )
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(moves.len(), 2, "{moves:?}");
    assert_eq!(moves[0].0, None);
    assert_eq!(moves[1].0.as_deref(), Some("Prospect"));
    assert_eq!(moves[1].1, "Won");
    assert!(moves.iter().all(|m| m.2 == as_rep.user_id.as_uuid()));
    assert!(moves[1].3, "the stage clock was back-dated");
}

#[tokio::test]
async fn the_refused_access_recorder_knows_deals_and_their_history() {
    use aura_platform::audit::{self, Refusal};
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let as_rep = rep_with_a_deal(&db.owner, t.a.tenant_id).await;
    let b_deal = one(
        &db.owner,
        "select id from deals where tenant_id = $1",
        t.b.tenant_id,
    )
    .await;
    let b_history = one(
        &db.owner,
        "select id from deal_stage_history where tenant_id = $1",
        t.b.tenant_id,
    )
    .await;
    let a_big_deal = one(
        &db.owner,
        "select id from deals where tenant_id = $1 and name = 'Big deal'",
        t.a.tenant_id,
    )
    .await;
    let reps_deal = one(
        &db.owner,
        "select id from deals where tenant_id = $1 and name = 'My deal'",
        t.a.tenant_id,
    )
    .await;

    let refused = audit::record_refused_access(&db.app, t.a, &[b_deal, b_history])
        .await
        .unwrap();
    assert_eq!(refused, [Refusal::OtherWorkspace, Refusal::OtherWorkspace]);
    let refused = audit::record_refused_access(&db.app, as_rep, &[a_big_deal, reps_deal])
        .await
        .unwrap();
    assert_eq!(refused, [Refusal::NotOwner], "their own deal is no refusal");

    let entries: Vec<(Uuid, String, Uuid, serde_json::Value)> = sqlx::query_as(
        "select tenant_id, entity_type, entity_id, after from audit_log
         where action = 'access.refused' order by id",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        entries,
        [
            (
                t.b.tenant_id.as_uuid(),
                "deal".to_owned(),
                b_deal,
                serde_json::json!({ "reason": "other_workspace" })
            ),
            (
                t.b.tenant_id.as_uuid(),
                "deal_stage_history".to_owned(),
                b_history,
                serde_json::json!({ "reason": "other_workspace" })
            ),
            (
                t.a.tenant_id.as_uuid(),
                "deal".to_owned(),
                a_big_deal,
                serde_json::json!({ "reason": "not_owner" })
            ),
        ]
    );
}
