//! Deals' rules (F8, F9, F11) at the domain layer.

use aura_crm::deals::{self, DealInput};
use aura_crm::processes::{self, ProcessInput};
use aura_crm::WriteError;
use aura_platform::db::AppPool;
use aura_platform::db::TenantContext;

use crate::support::{fields, Demo};

fn named(name: &str) -> DealInput {
    DealInput {
        name: name.to_owned(),
        ..DealInput::default()
    }
}

/// Acme with a sales process of the standard stages, made by its admin.
async fn with_a_process(demo: &Demo) {
    let admin = demo.member("acme", "admin");
    let input = ProcessInput {
        name: "Sales".to_owned(),
        description: None,
    };
    processes::create(&demo.db.app, admin, &input)
        .await
        .unwrap();
}

async fn version(pool: &AppPool, who: TenantContext, id: aura_crm::ids::DealId) -> i64 {
    deals::find(pool, who, id).await.unwrap().unwrap().version
}

#[tokio::test]
async fn a_save_over_an_old_version_is_stale_and_carries_the_current_deal() {
    let demo = Demo::new().await;
    with_a_process(&demo).await;
    let (pool, rep) = (&demo.db.app, demo.member("acme", "rep"));
    let id = deals::create(pool, rep, &named("Pumps")).await.unwrap();
    let read = version(pool, rep, id).await;

    let saved = deals::update(
        pool,
        demo.member("acme", "manager"),
        id,
        read,
        &named("Big pumps"),
    )
    .await
    .unwrap();
    assert_eq!(saved.version, read + 1);
    assert_eq!(
        saved.assigned_to, rep.user_id,
        "an edit without an owner keeps it"
    );
    match deals::update(pool, rep, id, read, &named("Small pumps")).await {
        Err(WriteError::Stale(current)) => {
            assert_eq!(
                (current.name.as_str(), current.version),
                ("Big pumps", saved.version)
            );
        }
        other => panic!("a stale save, got {other:?}"),
    }
    assert_eq!(version(pool, rep, id).await, saved.version);
}

#[tokio::test]
async fn a_rep_reaches_only_their_own_deals_and_may_not_give_one_away() {
    let demo = Demo::new().await;
    with_a_process(&demo).await;
    let pool = &demo.db.app;
    let (rep, rep2) = (demo.member("acme", "rep"), demo.member("acme", "rep2"));
    let id = deals::create(pool, rep, &named("Mine")).await.unwrap();
    let current = version(pool, rep, id).await;

    assert!(deals::find(pool, rep2, id).await.unwrap().is_none());
    assert!(deals::get(pool, rep2, id).await.unwrap().is_none());
    assert!(matches!(
        deals::update(pool, rep2, id, current, &named("Taken")).await,
        Err(WriteError::NotFound)
    ));
    assert!(matches!(
        deals::set_deleted(pool, rep2, id, true).await,
        Err(WriteError::NotFound)
    ));
    for who in ["manager", "admin"] {
        let seen = deals::find(pool, demo.member("acme", who), id)
            .await
            .unwrap();
        assert_eq!(seen.map(|d| d.name), Some("Mine".to_owned()), "{who}");
    }
    assert!(deals::find(pool, demo.member("globex", "admin"), id)
        .await
        .unwrap()
        .is_none());

    let given = DealInput {
        assigned_to: Some(rep2.user_id),
        ..named("Gift")
    };
    assert!(matches!(
        deals::create(pool, rep, &given).await,
        Err(WriteError::NotAllowed)
    ));
    assert!(matches!(
        deals::update(pool, rep, id, current, &given).await,
        Err(WriteError::NotAllowed)
    ));
    let gift = deals::create(pool, demo.member("acme", "manager"), &given)
        .await
        .unwrap();
    assert!(deals::find(pool, rep2, gift).await.unwrap().is_some());
    assert_eq!(
        version(pool, rep, id).await,
        current,
        "untouched by the refusals"
    );
}

#[tokio::test]
async fn a_deal_needs_a_name_and_a_process_and_keeps_its_process() {
    let demo = Demo::new().await;
    let (pool, rep) = (&demo.db.app, demo.member("acme", "rep"));
    match deals::create(pool, rep, &named("Early")).await {
        Err(WriteError::Invalid(problems)) => assert_eq!(fields(&problems), ["process_id"]),
        other => panic!("no process yet, got {other:?}"),
    }

    with_a_process(&demo).await;
    match deals::create(pool, rep, &named("  ")).await {
        Err(WriteError::Invalid(problems)) => assert_eq!(fields(&problems), ["name"]),
        other => panic!("invalid, got {other:?}"),
    }
    let id = deals::create(pool, rep, &named("Pumps")).await.unwrap();
    let deal = deals::find(pool, rep, id).await.unwrap().unwrap();

    let admin = demo.member("acme", "admin");
    let other = processes::create(
        pool,
        admin,
        &ProcessInput {
            name: "Renewals".to_owned(),
            description: None,
        },
    )
    .await
    .unwrap();
    let moved = DealInput {
        process_id: Some(other),
        ..named("Pumps")
    };
    match deals::update(pool, rep, id, deal.version, &moved).await {
        Err(WriteError::Invalid(problems)) => assert_eq!(fields(&problems), ["process_id"]),
        other => panic!("a process that does not change, got {other:?}"),
    }
    let kept = deals::find(pool, rep, id).await.unwrap().unwrap();
    assert_eq!(
        (kept.process_id, kept.version),
        (deal.process_id, deal.version)
    );
}
