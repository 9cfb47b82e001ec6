//! The database's rules for sales processes and stages (migration 0024), exercised as
//! `aura_app` with tenant context, exactly as the server runs: one default per workspace
//! (switched in one statement, never none), a process keeps an open, a won and a lost stage,
//! stage positions reorder in one statement, and only admins change any of it.

use aura_platform::db::testing::TestDatabase;
use aura_platform::db::{ConstraintKind, DbError, TenantContext};
use aura_platform::ids::MemberRole;
use uuid::Uuid;

use crate::isolation::{refused_by_privilege_or_policy, two_tenants};

/// The constraint a commit was refused by.
fn refused_by(result: Result<(), DbError>) -> (ConstraintKind, String) {
    match result {
        Err(DbError::Constraint { kind, constraint }) => (kind, constraint),
        other => panic!("expected a constraint to refuse the commit, got {other:?}"),
    }
}

/// Adds a non-default process with an open, a won and a lost stage to the context's tenant.
async fn second_process(db: &TestDatabase, context: TenantContext) -> Uuid {
    let mut tx = db.app.begin(context).await.unwrap();
    let id: Uuid = sqlx::query_scalar(
        "with process as (
             insert into sales_processes (tenant_id, name) values (aura.current_tenant_id(), 'Second')
             returning id),
         stages as (
             insert into deal_stages (tenant_id, process_id, name, position, outcome, win_probability)
             select aura.current_tenant_id(), process.id, stage.name, stage.position,
                    stage.outcome::aura.stage_outcome, stage.probability
             from process, (values ('Open', 0, 'open', 20), ('Won', 1, 'won', 100),
                                   ('Lost', 2, 'lost', 0)) as stage (name, position, outcome, probability))
         select id from process",
    )
    .fetch_one(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn defaults(db: &TestDatabase, context: TenantContext) -> Vec<String> {
    let mut tx = db.app.begin(context).await.unwrap();
    sqlx::query_scalar("select name from sales_processes where is_default order by name")
        .fetch_all(tx.conn())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_default_switches_in_one_statement_and_a_workspace_never_has_none_or_two() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let second = second_process(&db, t.a).await;

    let mut tx = db.app.begin(t.a).await.unwrap();
    let switched = sqlx::query(
        "update sales_processes set is_default = (id = $1)
         where tenant_id = aura.current_tenant_id() and deleted_at is null",
    )
    .bind(second)
    .execute(tx.conn())
    .await
    .unwrap();
    assert_eq!(switched.rows_affected(), 2);
    tx.commit().await.unwrap();
    assert_eq!(defaults(&db, t.a).await, ["Second"]);
    assert_eq!(
        defaults(&db, t.b).await,
        ["Sales"],
        "the other workspace's stays"
    );

    // None: each statement passes, the commit does not.
    let mut tx = db.app.begin(t.a).await.unwrap();
    sqlx::query("update sales_processes set is_default = false")
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(
        refused_by(tx.commit().await),
        (
            ConstraintKind::Check,
            "sales_processes_default_required".to_owned()
        )
    );
    // Two.
    let mut tx = db.app.begin(t.a).await.unwrap();
    sqlx::query("update sales_processes set is_default = true")
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(
        refused_by(tx.commit().await).1,
        "sales_processes_one_default"
    );
    // The default is live: archiving or deleting it is refused.
    for statement in [
        "update sales_processes set archived_at = now() where is_default",
        "update sales_processes set deleted_at = now() where is_default",
    ] {
        let mut tx = db.app.begin(t.a).await.unwrap();
        let err = sqlx::query(statement)
            .execute(tx.conn())
            .await
            .expect_err(statement);
        assert_eq!(
            DbError::from(err).to_string(),
            "constraint `sales_processes_default_is_live` refused the write (Check)"
        );
    }
    assert_eq!(defaults(&db, t.a).await, ["Second"]);
}

#[tokio::test]
async fn a_process_keeps_an_open_a_won_and_a_lost_stage_checked_at_commit() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;

    // Archiving the only won stage.
    let mut tx = db.app.begin(t.a).await.unwrap();
    sqlx::query("update deal_stages set archived_at = now() where outcome = 'won'")
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(
        refused_by(tx.commit().await),
        (
            ConstraintKind::Check,
            "sales_processes_stage_outcomes".to_owned()
        )
    );
    // A new process with an open stage only.
    let mut tx = db.app.begin(t.a).await.unwrap();
    sqlx::query(
        "with process as (
             insert into sales_processes (tenant_id, name) values (aura.current_tenant_id(), 'Half')
             returning id)
         insert into deal_stages (tenant_id, process_id, name, position, outcome, win_probability)
         select aura.current_tenant_id(), id, 'Open', 0, 'open', 10 from process",
    )
    .execute(tx.conn())
    .await
    .unwrap();
    assert_eq!(
        refused_by(tx.commit().await).1,
        "sales_processes_stage_outcomes"
    );
    // Replacing the won stage in the same transaction is fine: only the end state counts.
    let mut tx = db.app.begin(t.a).await.unwrap();
    for statement in [
        "update deal_stages set archived_at = now() where outcome = 'won'",
        "insert into deal_stages (tenant_id, process_id, name, position, outcome, win_probability)
         select tenant_id, process_id, 'Signed', 5, 'won', 100 from deal_stages
         where outcome = 'open' limit 1",
    ] {
        sqlx::query(statement).execute(tx.conn()).await.unwrap();
    }
    tx.commit().await.unwrap();
    // A deleted process is no longer held to it.
    let second = second_process(&db, t.a).await;
    let mut tx = db.app.begin(t.a).await.unwrap();
    for statement in [
        "update sales_processes set deleted_at = now() where id = $1",
        "update deal_stages set archived_at = now() where process_id = $1 and outcome = 'lost'",
    ] {
        sqlx::query(statement)
            .bind(second)
            .execute(tx.conn())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn stage_positions_reorder_in_one_statement_and_stay_unique() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let order = |context: TenantContext| {
        let app = db.app.clone();
        async move {
            let mut tx = app.begin(context).await.unwrap();
            sqlx::query_scalar::<_, String>(
                "select name from deal_stages where archived_at is null order by position",
            )
            .fetch_all(tx.conn())
            .await
            .unwrap()
        }
    };
    assert_eq!(order(t.a).await, ["Prospect", "Won", "Lost"]);

    // A full new order in one statement: positions collide mid-statement, not at commit.
    let mut tx = db.app.begin(t.a).await.unwrap();
    sqlx::query(
        "update deal_stages s set position = o.position - 1
         from unnest(array['Lost', 'Prospect', 'Won']) with ordinality as o(name, position)
         where s.name = o.name",
    )
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(order(t.a).await, ["Lost", "Prospect", "Won"]);
    assert_eq!(order(t.b).await, ["Prospect", "Won", "Lost"]);

    // Two live stages in one place are refused at commit.
    let mut tx = db.app.begin(t.a).await.unwrap();
    sqlx::query("update deal_stages set position = 0")
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(
        refused_by(tx.commit().await),
        (
            ConstraintKind::Exclusion,
            "deal_stages_position_key".to_owned()
        )
    );
}

#[tokio::test]
async fn managers_and_reps_cannot_add_change_or_remove_processes_or_stages() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    for role in [MemberRole::Manager, MemberRole::SalesRep] {
        let context = TenantContext { role, ..t.a };
        let mut tx = db.app.begin(context).await.unwrap();
        let err = sqlx::query(
            "insert into deal_stages (tenant_id, process_id, name, position, outcome, win_probability)
             select tenant_id, process_id, 'Shadow', 9, 'open', 10 from deal_stages limit 1",
        )
        .execute(tx.conn())
        .await
        .expect_err("a stage insert");
        assert!(refused_by_privilege_or_policy(&err), "{role:?}: {err}");
        let mut tx = db.app.begin(context).await.unwrap();
        for statement in [
            "update deal_stages set name = 'Renamed', position = position + 10",
            "update deal_stages set archived_at = now()",
            "update sales_processes set is_default = false",
            "update sales_processes set deleted_at = now(), archived_at = now()",
            "delete from sales_processes",
        ] {
            let done = sqlx::query(statement).execute(tx.conn()).await;
            // Either refused outright or no row reached: never a change.
            match done {
                Ok(done) => assert_eq!(done.rows_affected(), 0, "{role:?}: `{statement}`"),
                Err(err) => assert!(refused_by_privilege_or_policy(&err), "{role:?}: {err}"),
            }
        }
        // They read what they cannot change.
        let stages: i64 = sqlx::query_scalar("select count(*) from deal_stages")
            .fetch_one(tx.conn())
            .await
            .unwrap();
        assert_eq!(stages, 3, "{role:?}");
    }
}
