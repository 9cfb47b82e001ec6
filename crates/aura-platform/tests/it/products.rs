//! Products and deal pricing as the database keeps them (0026), in SQL as `aura_app` with tenant
//! context: a product of another workspace cannot be referenced, a rep changes lines only on
//! their own deals and within the discount policy, inactive products are refused, the deal's
//! amount is the sum of its live lines (rounded half-even at the line in the currency's minor
//! unit) and a save off that sum is refused, and the price history is append-only. The property
//! test drives random line changes from two sessions and recomputes the sum independently.

use aura_platform::currency::WorkspaceCurrency;
use aura_platform::db::testing::TestDatabase;
use aura_platform::db::{ConstraintKind, DbError, TenantContext};
use aura_platform::ids::{MemberRole, TenantId, UserId};
use proptest::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};
use sqlx::PgPool;
use uuid::Uuid;

use crate::isolation::{refused_by_privilege_or_policy, two_tenants};

fn constraint(err: sqlx::Error) -> Option<(ConstraintKind, String)> {
    match DbError::from(err) {
        DbError::Constraint { kind, constraint } => Some((kind, constraint)),
        _ => None,
    }
}

/// A member of `tenant` with `role` and a deal of their own in the default process.
async fn member_with_a_deal(
    owner: &PgPool,
    tenant: TenantId,
    role: MemberRole,
) -> (TenantContext, Uuid) {
    let user = UserId::new();
    let role_name = match role {
        MemberRole::Admin => "admin",
        MemberRole::Manager => "manager",
        MemberRole::SalesRep => "sales_rep",
    };
    let deal: Uuid = sqlx::query_scalar(&format!(
        "with u as (insert into users (id, email, display_name)
                    values ('{user}', '{user}@example.com', 'Someone') returning id),
              m as (insert into tenant_members (tenant_id, user_id, role)
                    select '{tenant}', id, '{role_name}' from u returning user_id)
         insert into deals (tenant_id, name, process_id, stage_id, outcome, probability, assigned_to)
         select '{tenant}', 'Deal of {role_name}', s.process_id, s.id, s.outcome, s.win_probability,
                m.user_id
         from deal_stages s, m where s.tenant_id = '{tenant}' and s.outcome = 'open'
         returning id"
    ))
    .fetch_one(owner)
    .await
    .unwrap();
    sqlx::query("select aura.sync_member_of($1, $2)")
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .execute(owner)
        .await
        .unwrap();
    (
        TenantContext {
            tenant_id: tenant,
            user_id: user,
            role,
            read_only: false,
        },
        deal,
    )
}

async fn product(
    owner: &PgPool,
    tenant: TenantId,
    sku: &str,
    price: &str,
    max_discount: &str,
) -> Uuid {
    sqlx::query_scalar(
        "insert into products (tenant_id, sku, name, unit_price, unit_cost, max_discount_percent)
         values ($1, $2, $2, $3::numeric, 1, $4::numeric) returning id",
    )
    .bind(tenant.as_uuid())
    .bind(sku)
    .bind(price)
    .bind(max_discount)
    .fetch_one(owner)
    .await
    .unwrap()
}

/// Adds a line as `who` at the product's list price, or at `price` with a reason.
async fn add_line(
    db: &TestDatabase,
    who: TenantContext,
    deal: Uuid,
    product: Uuid,
    quantity: i32,
    price: Option<&str>,
) -> Result<Uuid, sqlx::Error> {
    let mut tx = db.app.begin(who).await.unwrap();
    let id = sqlx::query_scalar(
        "insert into deal_line_items (tenant_id, deal_id, deal_owner, product_id, quantity,
                                      list_price, unit_cost, unit_price, override_reason,
                                      extended_price, created_by, updated_by)
         select d.tenant_id, d.id, d.assigned_to, p.id, $3, p.unit_price, p.unit_cost,
                coalesce($4::numeric, p.unit_price),
                case when $4::numeric is not null then 'Negotiated' end, 0, $5, $5
         from deals d, products p
         where d.tenant_id = aura.current_tenant_id() and d.id = $1
           and p.tenant_id = aura.current_tenant_id() and p.id = $2
         returning id",
    )
    .bind(deal)
    .bind(product)
    .bind(quantity)
    .bind(price)
    .bind(who.user_id.as_uuid())
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await.unwrap();
    Ok(id)
}

async fn amount(owner: &PgPool, deal: Uuid) -> Option<Decimal> {
    sqlx::query_scalar("select amount from deals where id = $1")
        .bind(deal)
        .fetch_one(owner)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_product_of_another_workspace_cannot_be_on_a_deal() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let b_product: Uuid = sqlx::query_scalar("select id from products where tenant_id = $1")
        .bind(t.b.tenant_id.as_uuid())
        .fetch_one(&db.owner)
        .await
        .unwrap();
    let a_deal: (Uuid, Uuid) =
        sqlx::query_as("select id, assigned_to from deals where tenant_id = $1")
            .bind(t.a.tenant_id.as_uuid())
            .fetch_one(&db.owner)
            .await
            .unwrap();
    let mut tx = db.app.begin(t.a).await.unwrap();
    let err = sqlx::query(
        "insert into deal_line_items (tenant_id, deal_id, deal_owner, product_id, quantity,
                                      list_price, unit_cost, unit_price, extended_price,
                                      created_by, updated_by)
         values ($1, $2, $3, $4, 1, 10, 1, 10, 0, $5, $5)",
    )
    .bind(t.a.tenant_id.as_uuid())
    .bind(a_deal.0)
    .bind(a_deal.1)
    .bind(b_product)
    .bind(t.a.user_id.as_uuid())
    .execute(tx.conn())
    .await
    .unwrap_err();
    assert_eq!(
        constraint(err),
        Some((
            ConstraintKind::ForeignKey,
            "deal_line_items_product_fkey".to_owned()
        ))
    );
}

#[tokio::test]
async fn a_rep_changes_lines_only_on_their_own_deals_and_within_the_discount_policy() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let tenant = t.a.tenant_id;
    let (rep, own) = member_with_a_deal(&db.owner, tenant, MemberRole::SalesRep).await;
    let (manager, theirs) = member_with_a_deal(&db.owner, tenant, MemberRole::Manager).await;
    let widget = product(&db.owner, tenant, "W-10", "100.00", "10").await;

    // Not on someone else's deal: they cannot even see it, and a forged row is refused.
    assert!(add_line(&db, rep, theirs, widget, 1, None).await.is_err());
    let mut tx = db.app.begin(rep).await.unwrap();
    let err = sqlx::query(
        "insert into deal_line_items (tenant_id, deal_id, deal_owner, product_id, quantity,
                                      list_price, unit_cost, unit_price, extended_price,
                                      created_by, updated_by)
         values ($1, $2, $3, $4, 1, 100, 1, 100, 0, $5, $5)",
    )
    .bind(tenant.as_uuid())
    .bind(theirs)
    .bind(rep.user_id.as_uuid())
    .bind(widget)
    .bind(rep.user_id.as_uuid())
    .execute(tx.conn())
    .await
    .unwrap_err();
    // The deal's owner is part of the key: claiming to own it names no deal.
    assert!(
        refused_by_privilege_or_policy(&err)
            || constraint(err).is_some_and(|(kind, _)| kind == ConstraintKind::ForeignKey)
    );
    drop(tx);

    // On their own deal, within 10 %: yes; beyond it: refused, naming the limit.
    let line = add_line(&db, rep, own, widget, 2, Some("90.00"))
        .await
        .unwrap();
    let err = add_line(&db, rep, own, widget, 1, Some("89.99"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("10.00 %"), "{err}");
    // Nor by naming a lower list price in the row: the catalog's is taken.
    let mut tx = db.app.begin(rep).await.unwrap();
    let err = sqlx::query(
        "insert into deal_line_items (tenant_id, deal_id, deal_owner, product_id, quantity,
                                      list_price, unit_cost, unit_price, override_reason,
                                      extended_price, created_by, updated_by)
         values ($1, $2, $3, $4, 1, 50, 0, 50, 'Forged', 0, $3, $3)",
    )
    .bind(tenant.as_uuid())
    .bind(own)
    .bind(rep.user_id.as_uuid())
    .bind(widget)
    .execute(tx.conn())
    .await
    .unwrap_err();
    assert!(err.to_string().contains("10.00 %"), "{err}");
    drop(tx);
    // A manager gives any discount, on any deal of the workspace.
    add_line(&db, manager, own, widget, 1, Some("1.00"))
        .await
        .unwrap();
    let manager_line = add_line(&db, manager, theirs, widget, 1, None)
        .await
        .unwrap();
    assert_eq!(amount(&db.owner, own).await, Some(Decimal::new(18100, 2)));

    // The rep's update of the manager's line reaches nothing.
    let mut tx = db.app.begin(rep).await.unwrap();
    let done = sqlx::query("update deal_line_items set quantity = 5 where id = $1")
        .bind(manager_line)
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 0);
    // Their own line: yes. The product, the list price and the deal are not theirs to change.
    let done = sqlx::query("update deal_line_items set quantity = 3 where id = $1")
        .bind(line)
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
    let err = sqlx::query("update deal_line_items set list_price = 1 where id = $1")
        .bind(line)
        .execute(tx.conn())
        .await
        .unwrap_err();
    assert!(refused_by_privilege_or_policy(&err), "{err}");
    drop(tx);

    // Reassigning the deal carries its lines along: the rep no longer sees them.
    sqlx::query("update deals set assigned_to = $2 where id = $1")
        .bind(own)
        .bind(manager.user_id.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    let mut tx = db.app.begin(rep).await.unwrap();
    let seen: i64 = sqlx::query_scalar("select count(*) from deal_line_items")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(seen, 0);
}

#[tokio::test]
async fn an_inactive_product_cannot_be_added_and_existing_lines_keep_it() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let (admin, deal) = member_with_a_deal(&db.owner, t.a.tenant_id, MemberRole::Admin).await;
    let gadget = product(&db.owner, t.a.tenant_id, "G-1", "5.00", "0").await;
    add_line(&db, admin, deal, gadget, 1, None).await.unwrap();
    sqlx::query("update products set active = false where id = $1")
        .bind(gadget)
        .execute(&db.owner)
        .await
        .unwrap();
    let err = add_line(&db, admin, deal, gadget, 1, None)
        .await
        .unwrap_err();
    assert_eq!(
        constraint(err),
        Some((
            ConstraintKind::Check,
            "deal_line_items_product_active".to_owned()
        ))
    );
    assert_eq!(amount(&db.owner, deal).await, Some(Decimal::new(500, 2)));
}

/// The database rounds line totals by its own table of minor units; it must agree with the
/// ISO 4217 data the currency picker offers, for every currency a workspace may choose.
#[tokio::test]
async fn the_database_rounds_every_workspace_currency_to_its_iso_minor_unit() {
    let db = TestDatabase::new().await;
    for currency in WorkspaceCurrency::all() {
        let decimals: i32 = sqlx::query_scalar("select aura.currency_minor_unit($1)")
            .bind(currency.code())
            .fetch_one(&db.owner)
            .await
            .unwrap();
        assert_eq!(
            decimals,
            i32::from(currency.decimals()),
            "{} ({})",
            currency.code(),
            currency.name()
        );
    }
}

#[tokio::test]
async fn the_amount_is_the_sum_of_live_lines_rounded_half_even_in_the_currency() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let (admin, deal) = member_with_a_deal(&db.owner, t.a.tenant_id, MemberRole::Admin).await;
    // 0.125 and 0.135 a unit: half-even gives 0.12 and 0.14 (half away from zero: 0.13, 0.14).
    let eighth = product(&db.owner, t.a.tenant_id, "E-1", "0.125", "0").await;
    let other = product(&db.owner, t.a.tenant_id, "E-2", "0.135", "0").await;
    add_line(&db, admin, deal, eighth, 1, None).await.unwrap();
    let second = add_line(&db, admin, deal, other, 1, None).await.unwrap();
    assert_eq!(amount(&db.owner, deal).await, Some(Decimal::new(26, 2)));

    // A save off the sum is refused; the same sum passes.
    let mut tx = db.app.begin(admin).await.unwrap();
    let err = sqlx::query("update deals set amount = 1000 where id = $1")
        .bind(deal)
        .execute(tx.conn())
        .await
        .unwrap_err();
    assert_eq!(
        constraint(err),
        Some((
            ConstraintKind::Check,
            "deals_amount_is_line_total".to_owned()
        ))
    );
    drop(tx);

    // Removing a line takes it out; removing the last leaves the amount unknown, typed by hand.
    let mut tx = db.app.begin(admin).await.unwrap();
    sqlx::query("update deal_line_items set deleted_at = now() where id = $1")
        .bind(second)
        .execute(tx.conn())
        .await
        .unwrap();
    sqlx::query(
        "update deal_line_items set deleted_at = now() where deal_id = $1 and deleted_at is null",
    )
    .bind(deal)
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(amount(&db.owner, deal).await, None);
    let mut tx = db.app.begin(admin).await.unwrap();
    sqlx::query("update deals set amount = 1000 where id = $1")
        .bind(deal)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // A yen workspace rounds to whole yen: 3 x 0.5 = 1.5 -> 2, 1 x 2.5 -> 2.
    sqlx::query("update tenants set currency = 'JPY' where id = $1")
        .bind(t.a.tenant_id.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    let (yen_admin, yen_deal) =
        member_with_a_deal(&db.owner, t.a.tenant_id, MemberRole::Admin).await;
    let half = product(&db.owner, t.a.tenant_id, "Y-1", "0.5", "0").await;
    let two_and_half = product(&db.owner, t.a.tenant_id, "Y-2", "2.5", "0").await;
    add_line(&db, yen_admin, yen_deal, half, 3, None)
        .await
        .unwrap();
    add_line(&db, yen_admin, yen_deal, two_and_half, 1, None)
        .await
        .unwrap();
    assert_eq!(amount(&db.owner, yen_deal).await, Some(Decimal::from(4)));

    // The largest line is exact: 1,000,000 x 10,000,000.0000.
    let dear = product(&db.owner, t.a.tenant_id, "Y-3", "10000000", "0").await;
    add_line(&db, yen_admin, yen_deal, dear, 1_000_000, None)
        .await
        .unwrap();
    assert_eq!(
        amount(&db.owner, yen_deal).await,
        Some(Decimal::from(10_000_000_000_004_i64))
    );
    // Beyond the bounds: refused by the column checks.
    assert!(add_line(&db, yen_admin, yen_deal, dear, 1_000_001, None)
        .await
        .is_err());
    assert!(
        add_line(&db, yen_admin, yen_deal, dear, 1, Some("10000000.01"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_price_history_is_append_only() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    for statement in [
        "update product_price_history set reason = 'rewritten'",
        "delete from product_price_history",
    ] {
        let mut tx = db.app.begin(t.a).await.unwrap();
        let done = sqlx::query(statement).execute(tx.conn()).await;
        match done {
            Ok(done) => assert_eq!(done.rows_affected(), 0, "{statement}"),
            Err(err) => assert!(refused_by_privilege_or_policy(&err), "{err}"),
        }
    }
    let reasons: Vec<String> = sqlx::query_scalar("select reason from product_price_history")
        .fetch_all(&db.owner)
        .await
        .unwrap();
    assert_eq!(reasons, ["Yearly increase", "Yearly increase"]);
    // A manager records no blueprint change.
    let (manager, _) = member_with_a_deal(&db.owner, t.a.tenant_id, MemberRole::Manager).await;
    let mut tx = db.app.begin(manager).await.unwrap();
    let err = sqlx::query(
        "insert into product_price_history (tenant_id, product_id, before, after, reason, changed_by)
         select tenant_id, id, '{}', '{}', 'mine', $1 from products limit 1",
    )
    .bind(manager.user_id.as_uuid())
    .execute(tx.conn())
    .await
    .unwrap_err();
    assert!(refused_by_privilege_or_policy(&err), "{err}");
}

/// One step of the property test, from session 0 or 1.
#[derive(Debug, Clone)]
enum Step {
    Add { product: usize, quantity: i32 },
    Edit { line: usize, quantity: i32 },
    Override { line: usize, price: i64 },
    Remove { line: usize },
}

fn step() -> impl Strategy<Value = (usize, Step)> {
    let quantity = prop_oneof![1..=20i32, Just(1_000_000i32), 999_990..=1_000_000i32];
    let step = prop_oneof![
        (0..4usize, quantity.clone())
            .prop_map(|(product, quantity)| Step::Add { product, quantity }),
        (0..8usize, quantity).prop_map(|(line, quantity)| Step::Edit { line, quantity }),
        // Prices in ten-thousandths, so halves of a cent are common.
        (
            0..8usize,
            prop_oneof![
                0..=100_000i64,
                Just(5),
                Just(1_250),
                Just(100_000_000_000i64)
            ]
        )
            .prop_map(|(line, price)| Step::Override { line, price }),
        (0..8usize).prop_map(|line| Step::Remove { line }),
    ];
    (0..2usize, step)
}

/// The deal's amount as a person would compute it from the live lines: each line quantity x
/// unit price rounded half-even to cents, summed; none without lines.
async fn expected_amount(owner: &PgPool, deal: Uuid) -> Option<Decimal> {
    let lines: Vec<(i32, Decimal)> = sqlx::query_as(
        "select quantity, unit_price from deal_line_items where deal_id = $1 and deleted_at is null",
    )
    .bind(deal)
    .fetch_all(owner)
    .await
    .unwrap();
    if lines.is_empty() {
        return None;
    }
    Some(
        lines
            .into_iter()
            .map(|(q, p)| {
                (Decimal::from(q) * p)
                    .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
            })
            .sum(),
    )
}

async fn apply(db: &TestDatabase, who: TenantContext, deal: Uuid, products: &[Uuid], step: &Step) {
    let line = move |i: usize| async move {
        let lines: Vec<Uuid> = sqlx::query_scalar(
            "select id from deal_line_items where deal_id = $1 and deleted_at is null
             order by created_at, id",
        )
        .bind(deal)
        .fetch_all(&db.owner)
        .await
        .unwrap();
        (!lines.is_empty()).then(|| lines[i % lines.len()])
    };
    let update = move |sql: &'static str, id: Uuid, value: Option<String>| async move {
        let mut tx = db.app.begin(who).await.unwrap();
        sqlx::query(sql)
            .bind(id)
            .bind(value)
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    };
    match *step {
        Step::Add { product, quantity } => {
            add_line(db, who, deal, products[product], quantity, None)
                .await
                .unwrap();
        }
        Step::Edit { line: i, quantity } => {
            if let Some(id) = line(i).await {
                let sql =
                    "update deal_line_items set quantity = $2::text::int, version = version + 1
                           where id = $1";
                update(sql, id, Some(quantity.to_string())).await;
            }
        }
        Step::Override { line: i, price } => {
            if let Some(id) = line(i).await {
                let sql = "update deal_line_items set unit_price = $2::text::numeric,
                               override_reason = 'Property test', version = version + 1
                           where id = $1";
                update(sql, id, Some(Decimal::new(price, 4).to_string())).await;
            }
        }
        Step::Remove { line: i } => {
            if let Some(id) = line(i).await {
                let sql = "update deal_line_items set deleted_at = now() where id = $1 and $2::text is null";
                update(sql, id, None).await;
            }
        }
    }
}

/// Random add / edit / override / remove sequences from an admin's and a manager's session,
/// each step committed, and a burst of both sessions at once after each sequence: the stored
/// amount always equals the sum recomputed independently.
#[test]
fn the_amount_always_equals_the_lines_recomputed_independently() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (db, sessions, products) = runtime.block_on(async {
        let db = TestDatabase::new().await;
        let t = two_tenants(&db.owner).await;
        let (manager, _) = member_with_a_deal(&db.owner, t.a.tenant_id, MemberRole::Manager).await;
        let mut products = Vec::new();
        for (sku, price) in [
            ("P-1", "0.125"),
            ("P-2", "19.9950"),
            ("P-3", "1000"),
            ("P-4", "0.0001"),
        ] {
            products.push(product(&db.owner, t.a.tenant_id, sku, price, "0").await);
        }
        (db, [t.a, manager], products)
    });
    let config = ProptestConfig {
        cases: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner
        .run(&proptest::collection::vec(step(), 1..12), |steps| {
            runtime.block_on(async {
                let (_, deal) =
                    member_with_a_deal(&db.owner, sessions[0].tenant_id, MemberRole::Admin).await;
                for (session, step) in &steps {
                    apply(&db, sessions[*session], deal, &products, step).await;
                    assert_eq!(
                        amount(&db.owner, deal).await,
                        expected_amount(&db.owner, deal).await,
                        "after {step:?}"
                    );
                }
                // Both sessions at once: the deal row lock orders them, neither sum is lost.
                let (first, second) = tokio::join!(
                    add_line(&db, sessions[0], deal, products[0], 3, None),
                    add_line(&db, sessions[1], deal, products[1], 7, Some("0.0050")),
                );
                first.unwrap();
                second.unwrap();
                assert_eq!(
                    amount(&db.owner, deal).await,
                    expected_amount(&db.owner, deal).await,
                    "after a concurrent burst"
                );
            });
            Ok(())
        })
        .unwrap();
}

/// A `deal_line_history` row: deal, change, before, after, who.
type HistoryRow = (
    Uuid,
    String,
    Option<serde_json::Value>,
    Option<serde_json::Value>,
    Uuid,
);

/// The deal's line history (0029): the trigger writes a row for each addition, change and
/// removal, with before/after and who; a rep reads only their own deals' history; `aura_app`
/// cannot write, change or delete a history row, so no one can forge or hide one; it follows
/// the deal when the deal is reassigned.
#[tokio::test]
async fn every_line_change_is_in_the_deal_s_history_and_no_one_can_forge_or_hide_it() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let tenant = t.a.tenant_id;
    let (rep, own) = member_with_a_deal(&db.owner, tenant, MemberRole::SalesRep).await;
    let (manager, theirs) = member_with_a_deal(&db.owner, tenant, MemberRole::Manager).await;
    let widget = product(&db.owner, tenant, "W-20", "100.00", "10").await;

    let line = add_line(&db, rep, own, widget, 2, None).await.unwrap();
    add_line(&db, manager, theirs, widget, 1, None)
        .await
        .unwrap();
    let mut tx = db.app.begin(rep).await.unwrap();
    sqlx::query("update deal_line_items set quantity = 3 where id = $1")
        .bind(line)
        .execute(tx.conn())
        .await
        .unwrap();
    sqlx::query(
        "update deal_line_items set unit_price = 95, override_reason = 'Loyal' where id = $1",
    )
    .bind(line)
    .execute(tx.conn())
    .await
    .unwrap();
    // A save that changes nothing the history tracks writes no row.
    sqlx::query("update deal_line_items set version = version + 1 where id = $1")
        .bind(line)
        .execute(tx.conn())
        .await
        .unwrap();
    sqlx::query("update deal_line_items set deleted_at = now() where id = $1")
        .bind(line)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // As the rep, in their context: their deal's four rows, the manager's deal's none.
    let mut tx = db.app.begin(rep).await.unwrap();
    let rows: Vec<HistoryRow> = sqlx::query_as(
        "select deal_id, change, before, after, changed_by from deal_line_history
             order by changed_at, id",
    )
    .fetch_all(tx.conn())
    .await
    .unwrap();
    // One transaction: the same `changed_at`, so the order is by kind here.
    let mut kinds: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["added", "changed", "changed", "removed"]);
    assert!(rows
        .iter()
        .all(|r| r.0 == own && r.4 == rep.user_id.as_uuid()));
    let state = |quantity: i64, price: &str, reason: Option<&str>, extended: &str| {
        serde_json::json!({ "quantity": quantity, "unit_price": price,
                            "override_reason": reason, "extended_price": extended })
    };
    let added = rows.iter().find(|r| r.1 == "added").unwrap();
    assert_eq!(added.2, None);
    assert_eq!(added.3, Some(state(2, "100.0000", None, "200.00")));
    let changes: Vec<_> = rows
        .iter()
        .filter(|r| r.1 == "changed")
        .map(|r| (r.2.clone().unwrap(), r.3.clone().unwrap()))
        .collect();
    assert!(changes.contains(&(
        state(2, "100.0000", None, "200.00"),
        state(3, "100.0000", None, "300.00")
    )));
    assert!(changes.contains(&(
        state(3, "100.0000", None, "300.00"),
        state(3, "95.0000", Some("Loyal"), "285.00")
    )));
    let removed = rows.iter().find(|r| r.1 == "removed").unwrap();
    assert_eq!(
        removed.2,
        Some(state(3, "95.0000", Some("Loyal"), "285.00"))
    );
    assert_eq!(removed.3, None);

    // No one writes, rewrites or deletes history: not even on their own deal.
    for statement in [
        format!(
            "insert into deal_line_history (tenant_id, deal_id, deal_owner, line_id, product_id,
                                            sku, product_name, change, after, changed_by)
             values ('{tenant}', '{own}', '{rep_id}', '{line}', '{widget}', 'W-20', 'Forged',
                     'added', '{{}}', '{rep_id}')",
            rep_id = rep.user_id
        ),
        "update deal_line_history set change = 'added'".to_owned(),
        "delete from deal_line_history".to_owned(),
    ] {
        let mut tx = db.app.begin(rep).await.unwrap();
        let err = sqlx::query(&statement)
            .execute(tx.conn())
            .await
            .expect_err(&statement);
        assert!(refused_by_privilege_or_policy(&err), "{statement}: {err}");
    }
    let mut tx = db.app.begin(manager).await.unwrap();
    let err = sqlx::query("delete from deal_line_history")
        .execute(tx.conn())
        .await
        .unwrap_err();
    assert!(refused_by_privilege_or_policy(&err), "{err}");
    drop(tx);
    let total: i64 =
        sqlx::query_scalar("select count(*) from deal_line_history where tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(
        total, 6,
        "the rep's four rows, the manager's one and the fixture's line"
    );

    // Reassigned, the deal's history goes with it: the rep sees none of it any more.
    sqlx::query("update deals set assigned_to = $2 where id = $1")
        .bind(own)
        .bind(manager.user_id.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    let mut tx = db.app.begin(rep).await.unwrap();
    let seen: i64 = sqlx::query_scalar("select count(*) from deal_line_history")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(seen, 0);
    drop(tx);
    let mut tx = db.app.begin(manager).await.unwrap();
    let seen: i64 = sqlx::query_scalar("select count(*) from deal_line_history")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(seen, 6);
}
