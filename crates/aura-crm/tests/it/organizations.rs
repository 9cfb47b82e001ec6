//! Organizations' rules (F8) at the domain layer.

use aura_crm::organizations::{self, OrganizationInput};
use aura_crm::WriteError;

use crate::support::{fields, Demo};

fn named(name: &str) -> OrganizationInput {
    OrganizationInput {
        name: name.to_owned(),
        ..OrganizationInput::default()
    }
}

#[tokio::test]
async fn a_save_over_an_old_version_is_stale_and_carries_the_current_organization() {
    let demo = Demo::new().await;
    let (pool, rep, manager) = (
        &demo.db.app,
        demo.member("acme", "rep"),
        demo.member("acme", "manager"),
    );
    let id = organizations::create(pool, rep, &named("Analytical Engines"))
        .await
        .unwrap();
    let read = organizations::get(pool, rep, id).await.unwrap().unwrap();
    let saved = organizations::update(
        pool,
        manager,
        id,
        read.version,
        &named("Difference Engines"),
    )
    .await
    .unwrap();
    assert_eq!(saved.version, read.version + 1);

    match organizations::update(pool, rep, id, read.version, &named("Jacquard Looms")).await {
        Err(WriteError::Stale(current)) => {
            assert_eq!(current.name, "Difference Engines");
            assert_eq!(current.version, saved.version);
        }
        other => panic!("a stale save, got {other:?}"),
    }
    let kept = organizations::get(pool, rep, id).await.unwrap().unwrap();
    assert_eq!(kept.name, "Difference Engines");
}

#[tokio::test]
async fn a_name_is_one_live_organization_s_per_workspace_whatever_its_case() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let (rep, manager) = (demo.member("acme", "rep"), demo.member("acme", "manager"));
    let id = organizations::create(pool, rep, &named("Babbage & Co"))
        .await
        .unwrap();

    match organizations::create(pool, manager, &named("  BABBAGE & CO ")).await {
        Err(WriteError::Duplicate { field, .. }) => assert_eq!(field, "name"),
        other => panic!("a duplicate name, got {other:?}"),
    }
    // Another workspace has its own names.
    organizations::create(pool, demo.member("globex", "rep"), &named("Babbage & Co"))
        .await
        .unwrap();
    // Once deleted, the name is free again.
    organizations::set_deleted(pool, manager, id, true)
        .await
        .unwrap();
    organizations::create(pool, rep, &named("Babbage & Co"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_parent_must_be_live_and_never_close_a_loop() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let manager = demo.member("acme", "manager");
    let holding = organizations::create(pool, manager, &named("Holding"))
        .await
        .unwrap();
    let child = OrganizationInput {
        parent_id: Some(holding),
        ..named("Subsidiary")
    };
    let subsidiary = organizations::create(pool, manager, &child).await.unwrap();

    // The holding may not become its own subsidiary's child, nor its own parent.
    let read = organizations::get(pool, manager, holding)
        .await
        .unwrap()
        .unwrap();
    for parent in [subsidiary, holding] {
        let looped = OrganizationInput {
            parent_id: Some(parent),
            ..named("Holding")
        };
        match organizations::update(pool, manager, holding, read.version, &looped).await {
            Err(WriteError::Invalid(problems)) => assert_eq!(fields(&problems), ["parent_id"]),
            other => panic!("a loop refused, got {other:?}"),
        }
    }
    // A deleted parent, or another workspace's, is no parent.
    let gone = organizations::create(pool, manager, &named("Gone"))
        .await
        .unwrap();
    organizations::set_deleted(pool, manager, gone, true)
        .await
        .unwrap();
    let elsewhere = organizations::create(pool, demo.member("globex", "manager"), &named("Far"))
        .await
        .unwrap();
    for parent in [gone, elsewhere] {
        let orphan = OrganizationInput {
            parent_id: Some(parent),
            ..named("Orphan")
        };
        match organizations::create(pool, manager, &orphan).await {
            Err(WriteError::Invalid(problems)) => assert_eq!(fields(&problems), ["parent_id"]),
            other => panic!("a missing parent refused, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn every_problem_of_an_organization_is_named_at_once_and_nothing_is_saved() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let rep = demo.member("acme", "rep");
    let bad = OrganizationInput {
        name: "   ".to_owned(),
        size_band: Some("enormous".to_owned()),
        website: Some("not a web address".to_owned()),
        ..OrganizationInput::default()
    };
    match organizations::create(pool, rep, &bad).await {
        Err(WriteError::Invalid(problems)) => {
            assert_eq!(fields(&problems), ["name", "size_band", "website"]);
        }
        other => panic!("invalid, got {other:?}"),
    }
    let listed = organizations::list(pool, rep, &Default::default())
        .await
        .unwrap();
    assert!(listed.items.is_empty(), "nothing was saved");
}

#[tokio::test]
async fn only_a_manager_or_an_admin_deletes_an_organization() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let (rep, manager) = (demo.member("acme", "rep"), demo.member("acme", "manager"));
    let id = organizations::create(pool, rep, &named("Kept"))
        .await
        .unwrap();
    assert!(matches!(
        organizations::set_deleted(pool, rep, id, true).await,
        Err(WriteError::NotAllowed)
    ));
    organizations::set_deleted(pool, manager, id, true)
        .await
        .unwrap();
    let deleted = organizations::get(pool, manager, id)
        .await
        .unwrap()
        .unwrap();
    assert!(deleted.deleted_at.is_some());
    organizations::set_deleted(pool, manager, id, false)
        .await
        .unwrap();
    let restored = organizations::get(pool, rep, id).await.unwrap().unwrap();
    assert!(restored.deleted_at.is_none());
}
