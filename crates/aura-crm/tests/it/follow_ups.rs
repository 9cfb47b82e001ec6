//! Follow-ups' rules (issue 18) at the domain layer, and the policies behind them tried with
//! plain SQL as `aura_app` in a member's tenant context (what psql as `aura_app` would do).

use aura_crm::activities::{self, ActivityKind, Timeline};
use aura_crm::contacts::{self, ContactInput};
use aura_crm::follow_ups::{self, Due, FollowUpInput};
use aura_crm::WriteError;
use chrono::{Duration, Utc};
use sqlx::Row;

use crate::support::{fields, Demo};

fn contact(first_name: &str) -> ContactInput {
    ContactInput {
        first_name: first_name.to_owned(),
        ..ContactInput::default()
    }
}

fn call_back(contact: aura_crm::ids::ContactId, due_in: Duration) -> FollowUpInput {
    FollowUpInput {
        kind: "call".to_owned(),
        subject: "Call back about the renewal".to_owned(),
        due_at: Some(Utc::now() + due_in),
        contact_id: Some(contact),
        ..FollowUpInput::default()
    }
}

#[tokio::test]
async fn a_follow_up_due_yesterday_is_overdue_and_completing_it_logs_a_done_activity() {
    let demo = Demo::new().await;
    let (pool, rep) = (&demo.db.app, demo.member("acme", "rep"));
    let ada = contacts::create(pool, rep, &contact("Ada")).await.unwrap();
    let late = follow_ups::plan(pool, rep, &call_back(ada, Duration::days(-1)))
        .await
        .unwrap();
    let later = follow_ups::plan(pool, rep, &call_back(ada, Duration::days(3)))
        .await
        .unwrap();

    let overdue = follow_ups::mine(pool, rep, Due::Overdue, None)
        .await
        .unwrap();
    assert_eq!(overdue.total, 1);
    assert_eq!(overdue.items[0].id, late);
    let today = follow_ups::mine(pool, rep, Due::Today, None).await.unwrap();
    assert!(today.items.iter().all(|f| f.id != late && f.id != later));
    let open = follow_ups::mine(pool, rep, Due::Open, None).await.unwrap();
    assert_eq!(
        open.items.iter().map(|f| f.id).collect::<Vec<_>>(),
        [late, later],
        "the earliest first"
    );
    let listed = contacts::get(pool, rep, ada).await.unwrap().unwrap();
    assert_eq!(
        listed.next_follow_up.as_deref(),
        Some("Call back about the renewal")
    );
    assert!(listed.last_activity_at.is_none());

    let activity = follow_ups::complete(pool, rep, late, Some("Agreed on a call in May."))
        .await
        .unwrap();
    let timeline = activities::timeline(pool, rep, Timeline::Contact(ada), None, None)
        .await
        .unwrap();
    assert_eq!(timeline.items.len(), 1);
    let logged = &timeline.items[0];
    assert_eq!(logged.id, activity);
    assert_eq!(logged.kind, ActivityKind::Call);
    assert_eq!(
        logged.description,
        "Call back about the renewal\n\nAgreed on a call in May."
    );
    assert_eq!(logged.participant_id, rep.user_id);
    let done = follow_ups::get(pool, rep, late).await.unwrap().unwrap();
    assert_eq!(done.done_activity_id, Some(activity));
    assert!(done.done_at.is_some());
    assert_eq!(
        follow_ups::mine(pool, rep, Due::Overdue, None)
            .await
            .unwrap()
            .total,
        0
    );
    let listed = contacts::get(pool, rep, ada).await.unwrap().unwrap();
    assert!(listed.last_activity_at.is_some());

    // Done is final: neither completed again nor moved.
    assert!(matches!(
        follow_ups::complete(pool, rep, late, None).await,
        Err(WriteError::NotFound)
    ));
    assert!(matches!(
        follow_ups::reschedule(pool, rep, late, Utc::now()).await,
        Err(WriteError::NotFound)
    ));
    // An open one moves.
    let tomorrow = Utc::now() + Duration::days(1);
    follow_ups::reschedule(pool, rep, later, tomorrow)
        .await
        .unwrap();
    let moved = follow_ups::get(pool, rep, later).await.unwrap().unwrap();
    assert_eq!(moved.due_at.timestamp(), tomorrow.timestamp());
}

#[tokio::test]
async fn every_problem_of_a_follow_up_is_named_and_a_rep_plans_only_for_themself() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let (rep, rep2) = (demo.member("acme", "rep"), demo.member("acme", "rep2"));
    match follow_ups::plan(pool, rep, &FollowUpInput::default()).await {
        Err(WriteError::Invalid(problems)) => {
            assert_eq!(
                fields(&problems),
                ["contact_id", "due_at", "kind", "subject"]
            );
        }
        other => panic!("refused, got {other:?}"),
    }
    let theirs = contacts::create(pool, rep2, &contact("Theirs"))
        .await
        .unwrap();
    match follow_ups::plan(pool, rep, &call_back(theirs, Duration::days(1))).await {
        Err(WriteError::Invalid(problems)) => assert_eq!(fields(&problems), ["contact_id"]),
        other => panic!("another rep's contact is not found, got {other:?}"),
    }
    let mine = contacts::create(pool, rep, &contact("Mine")).await.unwrap();
    let for_rep2 = FollowUpInput {
        owner_id: Some(rep2.user_id),
        ..call_back(mine, Duration::days(1))
    };
    assert!(matches!(
        follow_ups::plan(pool, rep, &for_rep2).await,
        Err(WriteError::NotAllowed)
    ));
    // A manager hands one to a rep: the rep sees it, the other rep does not.
    let manager = demo.member("acme", "manager");
    let given = follow_ups::plan(pool, manager, &for_rep2).await.unwrap();
    assert!(follow_ups::get(pool, rep2, given).await.unwrap().is_some());
    assert!(follow_ups::get(pool, rep, given).await.unwrap().is_none());
    assert!(matches!(
        follow_ups::complete(pool, rep, given, None).await,
        Err(WriteError::NotFound)
    ));
    assert!(
        follow_ups::get(pool, demo.member("globex", "admin"), given)
            .await
            .unwrap()
            .is_none(),
        "another workspace's admin"
    );
}

#[tokio::test]
async fn the_policies_keep_a_rep_to_their_own_follow_ups_and_a_done_one_frozen() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let (rep, rep2) = (demo.member("acme", "rep"), demo.member("acme", "rep2"));
    let manager = demo.member("acme", "manager");
    let ada = contacts::create(pool, rep, &contact("Ada")).await.unwrap();
    let open = follow_ups::plan(pool, rep, &call_back(ada, Duration::days(1)))
        .await
        .unwrap();
    let done = follow_ups::plan(pool, rep, &call_back(ada, Duration::days(-1)))
        .await
        .unwrap();
    follow_ups::complete(pool, rep, done, None).await.unwrap();

    // Another rep: sees none, changes none, and cannot plan on the rep's contact or for them.
    let mut tx = pool.begin(rep2).await.unwrap();
    let seen: i64 = sqlx::query_scalar("select count(*) from follow_ups")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(seen, 0);
    let moved = sqlx::query("update follow_ups set due_at = now() where id = $1")
        .bind(open.as_uuid())
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(moved.rows_affected(), 0);
    let planted = sqlx::query(
        "insert into follow_ups (tenant_id, kind, subject, due_at, owner_id, contact_id,
                                 contact_owner, created_by)
         values ($1, 'call', 'Stolen', now(), $2, $3, $2, $4)",
    )
    .bind(rep2.tenant_id.as_uuid())
    .bind(rep.user_id.as_uuid())
    .bind(ada.as_uuid())
    .bind(rep2.user_id.as_uuid())
    .execute(tx.conn())
    .await
    .unwrap_err();
    assert_eq!(
        planted
            .as_database_error()
            .and_then(|e| e.code())
            .as_deref(),
        Some("42501"),
        "{planted}"
    );
    drop(tx);

    // The rep cannot hand their own away.
    let mut tx = pool.begin(rep).await.unwrap();
    let given = sqlx::query("update follow_ups set owner_id = $2 where id = $1")
        .bind(open.as_uuid())
        .bind(rep2.user_id.as_uuid())
        .execute(tx.conn())
        .await
        .unwrap_err();
    assert_eq!(
        given.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501")
    );
    drop(tx);

    // A done follow-up is history, even for a manager; the open one a manager may move.
    let mut tx = pool.begin(manager).await.unwrap();
    let rewritten = sqlx::query("update follow_ups set subject = 'Never happened' where id = $1")
        .bind(done.as_uuid())
        .execute(tx.conn())
        .await
        .unwrap_err();
    assert!(
        rewritten.to_string().contains("done follow-up"),
        "{rewritten}"
    );
    drop(tx);
    let mut tx = pool.begin(manager).await.unwrap();
    let row = sqlx::query("update follow_ups set due_at = now() where id = $1 returning owner_id")
        .bind(open.as_uuid())
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(row.get::<uuid::Uuid, _>("owner_id"), rep.user_id.as_uuid());
    drop(tx);

    // Another workspace: nothing.
    let mut tx = pool.begin(demo.member("globex", "admin")).await.unwrap();
    let seen: i64 = sqlx::query_scalar("select count(*) from follow_ups")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(seen, 0, "another workspace sees none");
}
