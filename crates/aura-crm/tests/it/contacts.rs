//! Contacts' rules (F7, F9) at the domain layer.

use aura_crm::contacts::{self, ContactInput};
use aura_crm::WriteError;

use crate::support::{fields, Demo};

fn named(first_name: &str, email: Option<&str>) -> ContactInput {
    ContactInput {
        first_name: first_name.to_owned(),
        email: email.map(str::to_owned),
        ..ContactInput::default()
    }
}

#[tokio::test]
async fn a_save_over_an_old_version_is_stale_and_carries_the_current_record() {
    let demo = Demo::new().await;
    let (pool, rep, manager) = (
        &demo.db.app,
        demo.member("acme", "rep"),
        demo.member("acme", "manager"),
    );
    let id = contacts::create(pool, rep, &named("Ada", None))
        .await
        .unwrap();
    let read = contacts::get(pool, rep, id).await.unwrap().unwrap();

    let saved = contacts::update(pool, manager, id, read.version, &named("Augusta", None))
        .await
        .unwrap();
    assert_eq!(saved.version, read.version + 1);
    assert_eq!(
        saved.assigned_to, rep.user_id,
        "an edit without an owner keeps it"
    );

    match contacts::update(pool, rep, id, read.version, &named("Lovelace", None)).await {
        Err(WriteError::Stale(current)) => {
            assert_eq!(current.first_name, "Augusta");
            assert_eq!(current.version, saved.version);
        }
        other => panic!("a stale save, got {other:?}"),
    }
    let kept = contacts::get(pool, rep, id).await.unwrap().unwrap();
    assert_eq!(
        (kept.first_name.as_str(), kept.version),
        ("Augusta", saved.version)
    );
}

#[tokio::test]
async fn an_email_is_one_live_contact_s_per_workspace_named_only_to_who_may_see_it() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let (rep, rep2) = (demo.member("acme", "rep"), demo.member("acme", "rep2"));
    let manager = demo.member("acme", "manager");
    let id = contacts::create(pool, rep, &named("Ada", Some("ada@engines.example")))
        .await
        .unwrap();

    // The same address in other case, by someone who sees the holder: named.
    match contacts::create(pool, manager, &named("Copy", Some("ADA@Engines.example"))).await {
        Err(WriteError::Duplicate { field, existing }) => {
            assert_eq!(field, "email");
            assert_eq!(existing, Some(id.as_uuid()));
        }
        other => panic!("a duplicate, got {other:?}"),
    }
    // By a rep who may not see the holder: refused all the same, the holder not named.
    match contacts::create(pool, rep2, &named("Copy", Some("ada@engines.example"))).await {
        Err(WriteError::Duplicate { field, existing }) => {
            assert_eq!(field, "email");
            assert_eq!(existing, None);
        }
        other => panic!("a duplicate, got {other:?}"),
    }
    // An edit onto a taken address is refused the same way.
    let other = contacts::create(pool, rep, &named("Grace", Some("grace@navy.example")))
        .await
        .unwrap();
    let version = contacts::get(pool, rep, other)
        .await
        .unwrap()
        .unwrap()
        .version;
    let moved = contacts::update(
        pool,
        rep,
        other,
        version,
        &named("Grace", Some("ada@engines.example")),
    )
    .await;
    assert!(
        matches!(moved, Err(WriteError::Duplicate { field: "email", existing: Some(e) }) if e == id.as_uuid()),
        "{moved:?}"
    );

    // Another workspace may hold the address; a deleted contact frees it.
    contacts::create(
        pool,
        demo.member("globex", "rep"),
        &named("Ada", Some("ada@engines.example")),
    )
    .await
    .unwrap();
    contacts::set_deleted(pool, rep, id, true).await.unwrap();
    let again = contacts::create(pool, rep2, &named("Ada again", Some("ada@engines.example")))
        .await
        .unwrap();
    // Restoring the deleted one then clashes, naming the holder to whom may see it.
    match contacts::set_deleted(pool, manager, id, false).await {
        Err(WriteError::Duplicate { field, existing }) => {
            assert_eq!((field, existing), ("email", Some(again.as_uuid())));
        }
        other => panic!("a duplicate, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rep_reaches_only_their_own_contacts_and_may_not_give_one_away() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let (rep, rep2) = (demo.member("acme", "rep"), demo.member("acme", "rep2"));
    let id = contacts::create(pool, rep, &named("Mine", None))
        .await
        .unwrap();
    let version = contacts::get(pool, rep, id).await.unwrap().unwrap().version;

    assert!(contacts::get(pool, rep2, id).await.unwrap().is_none());
    assert!(matches!(
        contacts::update(pool, rep2, id, version, &named("Taken", None)).await,
        Err(WriteError::NotFound)
    ));
    assert!(matches!(
        contacts::set_deleted(pool, rep2, id, true).await,
        Err(WriteError::NotFound)
    ));
    for who in ["manager", "admin"] {
        let seen = contacts::get(pool, demo.member("acme", who), id)
            .await
            .unwrap();
        assert_eq!(seen.map(|c| c.first_name), Some("Mine".to_owned()), "{who}");
    }
    assert!(
        contacts::get(pool, demo.member("globex", "admin"), id)
            .await
            .unwrap()
            .is_none(),
        "another workspace's admin"
    );

    // Giving a contact to someone else is for managers and admins.
    let given = ContactInput {
        assigned_to: Some(rep2.user_id),
        ..named("Gift", None)
    };
    assert!(matches!(
        contacts::create(pool, rep, &given).await,
        Err(WriteError::NotAllowed)
    ));
    assert!(matches!(
        contacts::update(pool, rep, id, version, &given).await,
        Err(WriteError::NotAllowed)
    ));
    let manager = demo.member("acme", "manager");
    let gift = contacts::create(pool, manager, &given).await.unwrap();
    assert!(contacts::get(pool, rep2, gift).await.unwrap().is_some());
    assert!(
        contacts::get(pool, rep, id).await.unwrap().is_some(),
        "untouched by the refusals"
    );
}

#[tokio::test]
async fn every_problem_of_a_contact_is_named_at_once_and_nothing_is_saved() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let rep = demo.member("acme", "rep");
    let bad = ContactInput {
        first_name: "  ".to_owned(),
        last_name: Some("x".repeat(101)),
        email: Some("not-an-email".to_owned()),
        phone: Some("call me".to_owned()),
        ..ContactInput::default()
    };
    match contacts::create(pool, rep, &bad).await {
        Err(WriteError::Invalid(problems)) => {
            assert_eq!(
                fields(&problems),
                ["email", "first_name", "last_name", "phone"]
            );
        }
        other => panic!("invalid, got {other:?}"),
    }
    assert_eq!(
        fields(&contacts::problems(pool, rep, &bad).await.unwrap()),
        ["email", "first_name", "last_name", "phone"]
    );

    let id = contacts::create(pool, rep, &named("Ada", None))
        .await
        .unwrap();
    let version = contacts::get(pool, rep, id).await.unwrap().unwrap().version;
    assert!(matches!(
        contacts::update(pool, rep, id, version, &named("Ada", Some("ada@"))).await,
        Err(WriteError::Invalid(problems)) if fields(&problems) == ["email"]
    ));
    let kept = contacts::get(pool, rep, id).await.unwrap().unwrap();
    assert_eq!((kept.email, kept.version), (None, version), "nothing saved");
}
