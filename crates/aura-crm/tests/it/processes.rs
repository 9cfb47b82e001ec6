//! Sales processes' rules (F11) at the domain layer. The demo workspaces start with none.

use aura_crm::processes::{self, ProcessInput};
use aura_crm::workspace_defaults::DEFAULT_STAGES;
use aura_crm::WriteError;

use crate::support::{fields, Demo};

fn named(name: &str) -> ProcessInput {
    ProcessInput {
        name: name.to_owned(),
        description: None,
    }
}

#[tokio::test]
async fn a_new_process_has_the_standard_stages_and_the_first_is_the_default() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let admin = demo.member("acme", "admin");
    let first = processes::create(pool, admin, &named("Enterprise"))
        .await
        .unwrap();
    let second = processes::create(pool, admin, &named("SMB")).await.unwrap();

    let first = processes::get(pool, admin, first).await.unwrap().unwrap();
    let second = processes::get(pool, admin, second).await.unwrap().unwrap();
    assert!(first.is_default && !second.is_default);
    for process in [&first, &second] {
        let stages: Vec<(&str, i32)> = process
            .stages
            .iter()
            .map(|s| (s.name.as_str(), s.position))
            .collect();
        let expected: Vec<(&str, i32)> = DEFAULT_STAGES
            .iter()
            .zip(0..)
            .map(|((name, _, _), position)| (*name, position))
            .collect();
        assert_eq!(stages, expected);
    }
    // Seen by every member; changed by admins only.
    let rep = demo.member("acme", "rep");
    assert_eq!(processes::list(pool, rep).await.unwrap().len(), 2);
    for who in ["manager", "rep"] {
        assert!(matches!(
            processes::create(pool, demo.member("acme", who), &named("Partners")).await,
            Err(WriteError::NotAllowed)
        ));
    }
}

#[tokio::test]
async fn a_name_is_one_process_s_per_workspace_and_every_problem_is_named() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let admin = demo.member("acme", "admin");
    processes::create(pool, admin, &named("Enterprise"))
        .await
        .unwrap();
    match processes::create(pool, admin, &named("ENTERPRISE")).await {
        Err(WriteError::Duplicate { field, .. }) => assert_eq!(field, "name"),
        other => panic!("a duplicate name, got {other:?}"),
    }
    processes::create(pool, demo.member("globex", "admin"), &named("Enterprise"))
        .await
        .unwrap();
    let bad = ProcessInput {
        name: " ".to_owned(),
        description: Some("x".repeat(2001)),
    };
    match processes::create(pool, admin, &bad).await {
        Err(WriteError::Invalid(problems)) => {
            assert_eq!(fields(&problems), ["description", "name"]);
        }
        other => panic!("invalid, got {other:?}"),
    }
    assert_eq!(processes::list(pool, admin).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_default_is_never_archived_and_moves_only_to_another_live_process() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let admin = demo.member("acme", "admin");
    let sales = processes::create(pool, admin, &named("Sales"))
        .await
        .unwrap();
    let partners = processes::create(pool, admin, &named("Partners"))
        .await
        .unwrap();
    match processes::set_archived(pool, admin, sales, true).await {
        Err(WriteError::Invalid(problems)) => assert_eq!(fields(&problems), ["is_default"]),
        other => panic!("the default kept live, got {other:?}"),
    }
    processes::make_default(pool, admin, partners)
        .await
        .unwrap();
    processes::set_archived(pool, admin, sales, true)
        .await
        .unwrap();
    let all = processes::list(pool, admin).await.unwrap();
    let archived = all.iter().find(|p| p.id == sales).unwrap();
    assert!(archived.archived_at.is_some() && !archived.is_default);
    assert!(all.iter().find(|p| p.id == partners).unwrap().is_default);
    // An archived process cannot become the default.
    assert!(processes::make_default(pool, admin, sales).await.is_err());
    processes::set_archived(pool, admin, sales, false)
        .await
        .unwrap();
    processes::make_default(pool, admin, sales).await.unwrap();
}

#[tokio::test]
async fn a_save_over_an_old_version_is_stale_and_carries_the_current_process() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let admin = demo.member("acme", "admin");
    let id = processes::create(pool, admin, &named("Sales"))
        .await
        .unwrap();
    let read = processes::get(pool, admin, id).await.unwrap().unwrap();
    let saved = processes::update(pool, admin, id, read.version, &named("Direct sales"))
        .await
        .unwrap();
    match processes::update(pool, admin, id, read.version, &named("Field sales")).await {
        Err(WriteError::Stale(current)) => {
            assert_eq!(current.name, "Direct sales");
            assert_eq!(current.version, saved.version);
        }
        other => panic!("a stale save, got {other:?}"),
    }
}
