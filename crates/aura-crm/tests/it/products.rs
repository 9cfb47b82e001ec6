//! The catalog's rules (F12) at the domain layer.

use std::net::{IpAddr, Ipv4Addr};

use aura_crm::products::{self, BlueprintInput, ProductInput};
use aura_crm::WriteError;
use aura_platform::auth::LoginSource;
use aura_platform::demo::DEMO_PASSWORD;
use aura_platform::step_up::Proof;

use crate::support::{fields, Demo};

fn product(sku: &str) -> ProductInput {
    ProductInput {
        sku: sku.to_owned(),
        name: format!("Product {sku}"),
        active: true,
        ..ProductInput::default()
    }
}

fn priced(list_price: &str) -> BlueprintInput {
    BlueprintInput {
        list_price: list_price.to_owned(),
        ..BlueprintInput::default()
    }
}

#[tokio::test]
async fn only_an_admin_changes_the_catalog() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    for who in ["manager", "rep"] {
        assert!(matches!(
            products::create(
                pool,
                demo.member("acme", who),
                &product("NO-1"),
                &priced("10")
            )
            .await,
            Err(WriteError::NotAllowed)
        ));
    }
    let admin = demo.member("acme", "admin");
    let made = products::create(pool, admin, &product("YES-1"), &priced("10"))
        .await
        .unwrap();
    assert!(matches!(
        products::update(
            pool,
            demo.member("acme", "manager"),
            made.id,
            made.version,
            &product("YES-1")
        )
        .await,
        Err(WriteError::NotAllowed)
    ));
}

#[tokio::test]
async fn a_sku_is_one_live_product_s_per_workspace_whatever_its_case() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let admin = demo.member("acme", "admin");
    products::create(pool, admin, &product("WID-7"), &priced("10"))
        .await
        .unwrap();
    match products::create(pool, admin, &product("wid-7"), &priced("12")).await {
        Err(WriteError::Duplicate { field, .. }) => assert_eq!(field, "sku"),
        other => panic!("a duplicate SKU, got {other:?}"),
    }
    products::create(
        pool,
        demo.member("globex", "admin"),
        &product("WID-7"),
        &priced("10"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn every_problem_of_a_product_is_named_at_once_and_nothing_is_saved() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let admin = demo.member("acme", "admin");
    let bad = ProductInput {
        sku: "HAS SPACE".to_owned(),
        name: " ".to_owned(),
        ..ProductInput::default()
    };
    let prices = BlueprintInput {
        list_price: "12.5.0".to_owned(),
        unit_cost: "-3".to_owned(),
        max_discount_percent: "140".to_owned(),
        margin_target_percent: String::new(),
    };
    match products::create(pool, admin, &bad, &prices).await {
        Err(WriteError::Invalid(problems)) => assert_eq!(
            fields(&problems),
            [
                "list_price",
                "max_discount_percent",
                "name",
                "sku",
                "unit_cost"
            ]
        ),
        other => panic!("invalid, got {other:?}"),
    }
    let query = products::ProductFilter {
        query: Some("HAS".to_owned()),
        ..products::ProductFilter::default()
    };
    let listed = products::list(pool, admin, &query, None, None)
        .await
        .unwrap();
    assert!(listed.items.is_empty(), "nothing was saved");
}

#[tokio::test]
async fn a_save_over_an_old_version_is_stale_and_carries_the_current_product() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let admin = demo.member("acme", "admin");
    let made = products::create(pool, admin, &product("STALE-1"), &priced("10"))
        .await
        .unwrap();
    let renamed = ProductInput {
        name: "Renamed".to_owned(),
        ..product("STALE-1")
    };
    let saved = products::update(pool, admin, made.id, made.version, &renamed)
        .await
        .unwrap();
    match products::update(pool, admin, made.id, made.version, &product("STALE-1")).await {
        Err(WriteError::Stale(current)) => {
            assert_eq!(current.name, "Renamed");
            assert_eq!(current.version, saved.version);
        }
        other => panic!("a stale save, got {other:?}"),
    }
}

/// A blueprint changes only with proof that the admin is who they say, and every change is in
/// the product's price history with its reason, after the row of its creation.
#[tokio::test]
async fn a_price_change_needs_proof_and_is_kept_in_the_history_with_its_reason() {
    let demo = Demo::new().await;
    let pool = &demo.db.app;
    let admin = demo.member("acme", "admin");
    let made = products::create(pool, admin, &product("PRICE-1"), &priced("100"))
        .await
        .unwrap();
    let source = LoginSource::from(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let wrong = Proof::Password {
        password: "not the password",
        source: &source,
    };
    match products::change_blueprint(
        pool,
        admin,
        made.id,
        made.version,
        &priced("120"),
        "Yearly update",
        wrong,
    )
    .await
    {
        Err(WriteError::Invalid(problems)) => assert_eq!(fields(&problems), ["password"]),
        other => panic!("a wrong password refused, got {other:?}"),
    }
    let proof = Proof::Password {
        password: DEMO_PASSWORD,
        source: &source,
    };
    let changed = products::change_blueprint(
        pool,
        admin,
        made.id,
        made.version,
        &priced("120"),
        "Yearly update",
        proof,
    )
    .await
    .unwrap();
    assert_eq!(changed.version, made.version + 1);

    let history = products::price_history(pool, admin, made.id)
        .await
        .unwrap()
        .unwrap();
    let reasons: Vec<&str> = history.iter().map(|c| c.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.contains(&"Created") && reasons.contains(&"Yearly update"));
    let change = history
        .iter()
        .find(|c| c.reason == "Yearly update")
        .unwrap();
    assert_eq!(change.changed_by, admin.user_id);
    assert_ne!(change.before, change.after);
}
