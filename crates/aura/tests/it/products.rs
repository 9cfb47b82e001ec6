//! Products and deal pricing over the JSON API (F12, F13): the catalog, a blueprint change
//! with its step-up and history, and a deal's lines: the discount limit by role (named in the
//! refusal), inactive products, quantities and prices refused clearly, and the deal's amount
//! following its lines.

use aura_platform::db::testing::TestDatabase;
use aura_platform::demo::DEMO_PASSWORD;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{api_token, id, location, seed_process, Api, Member, TestApp};

/// The messages of a 422's errors for `field`.
fn errors_for(body: &Value, field: &str) -> Vec<String> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["field"] == field)
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Whether one of a 422's errors for `field` says `text`.
fn has_error(body: &Value, field: &str, text: &str) -> bool {
    errors_for(body, field).iter().any(|m| m.contains(text))
}

/// Posts a form of a deal's lines partial as htmx does: the answer is the partial (with any
/// errors at their fields, since htmx swaps in only a 200), and its text is returned.
async fn htmx_lines(member: &Member<'_>, path: &str, form: &[(&str, &str)]) -> String {
    let response = member.htmx_submit(path, form).await;
    let status = response.status();
    let html = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "htmx swaps in the partial: {html}");
    html
}

/// acme with its Sales process, a product (list price 1000, at most 10 % off) and a rep's deal.
struct Setup {
    app: TestApp,
    db: TestDatabase,
    tokens: Tokens,
    product: String,
    deal: String,
}

/// The API tokens of acme's admin, manager and rep, taken once.
struct Tokens {
    admin: String,
    manager: String,
    rep: String,
}

impl Setup {
    fn admin(&self) -> Api<'_> {
        Api::with_key(&self.app, "acme", &self.tokens.admin)
    }

    fn manager(&self) -> Api<'_> {
        Api::with_key(&self.app, "acme", &self.tokens.manager)
    }

    fn rep(&self) -> Api<'_> {
        Api::with_key(&self.app, "acme", &self.tokens.rep)
    }
}

async fn setup() -> Setup {
    let (app, db) = TestApp::builder().demo().spawn().await;
    seed_process(&db, "acme", "Sales").await;
    let tokens = Tokens {
        admin: api_token(&app, "acme", "admin@acme.example").await,
        manager: api_token(&app, "acme", "manager@acme.example").await,
        rep: api_token(&app, "acme", "rep@acme.example").await,
    };
    let product = Api::with_key(&app, "acme", &tokens.admin)
        .created(
            "/api/v1/products",
            json!({ "sku": "SRV-1", "name": "Server", "category": "Hardware",
                    "list_price": "1000.00", "unit_cost": "600", "max_discount_percent": "10",
                    "margin_target_percent": "30" }),
        )
        .await;
    let deal = Api::with_key(&app, "acme", &tokens.rep)
        .deal(json!({ "name": "Rack refresh" }))
        .await;
    Setup {
        app,
        db,
        tokens,
        product: id(&product),
        deal: id(&deal),
    }
}

#[tokio::test]
async fn a_rep_over_the_discount_limit_is_refused_with_the_limit_named_and_a_manager_is_not() {
    let s = setup().await;
    let (rep, manager) = (s.rep(), s.manager());
    let lines = format!("/api/v1/deals/{}/lines", s.deal);
    let (status, body) = rep
        .post(
            &lines,
            json!({ "product_id": s.product, "quantity": "2", "unit_price": "850",
                    "override_reason": "Big customer" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let messages = errors_for(&body, "unit_price");
    assert!(
        messages
            .iter()
            .any(|m| m.contains("15 %") && m.contains("limit of 10 %")),
        "{body}"
    );
    // Within the limit: yes, and the amount follows.
    let body = rep
        .created(
            &lines,
            json!({ "product_id": s.product, "quantity": "2", "unit_price": "900",
                    "override_reason": "Big customer" }),
        )
        .await;
    assert_eq!(body["amount"], "1800.00");
    assert_eq!(body["items"][0]["discount_percent"], "10");
    // 1800 - 2 x 600 = 600, a third: over the 30 % target.
    assert_eq!(body["items"][0]["under_margin_target"], false);
    let line = id(&body["items"][0]);

    // A manager gives 50 % on the rep's deal.
    let (status, body) = manager
        .patch(
            &format!("{lines}/{line}"),
            json!({ "version": 1, "unit_price": "500", "override_reason": "Strategic" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["amount"], "1000.00");
    assert_eq!(body["items"][0]["under_margin_target"], true);
    // With lines, the deal's amount is theirs: a save typing another is refused at the field.
    let deal = format!("/api/v1/deals/{}", s.deal);
    let current = manager.ok(&deal).await;
    let (status, body) = manager
        .patch(
            &deal,
            json!({ "version": current["version"], "amount": "5" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        has_error(&body, "amount", "sum of its product lines"),
        "{body}"
    );
    // A stale version is 409 with the lines as they are.
    let (status, body) = rep
        .patch(
            &format!("{lines}/{line}"),
            json!({ "version": 1, "quantity": "3" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["current"]["items"][0]["version"], 2);

    // Removing the line leaves the amount to be typed again; it is in the deal's audit trail.
    let (status, body) = rep.delete(&format!("{lines}/{line}?version=2")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["amount"], Value::Null);
}

#[tokio::test]
async fn bad_quantities_and_prices_and_inactive_products_are_refused_clearly() {
    let s = setup().await;
    let (admin, manager, rep) = (s.admin(), s.manager(), s.rep());
    let lines = format!("/api/v1/deals/{}/lines", s.deal);
    for (quantity, price, field, says) in [
        ("0", "", "quantity", "at least 1"),
        ("-3", "", "quantity", "at least 1"),
        ("1.5", "", "quantity", "whole number"),
        ("1000001", "", "quantity", "at most 1,000,000"),
        (
            "99999999999999999999999",
            "",
            "quantity",
            "at most 1,000,000",
        ),
        ("2", "999.12345", "unit_price", "at most 4"),
        ("2", "10000000.01", "unit_price", "at most 10,000,000"),
        ("2", "12,50", "unit_price", "not an amount"),
    ] {
        let (status, body) = manager
            .post(
                &lines,
                json!({ "product_id": s.product, "quantity": quantity, "unit_price": price,
                        "override_reason": "Test" }),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{quantity} {price}: {body}"
        );
        let messages = errors_for(&body, field);
        assert!(
            messages
                .iter()
                .any(|m| m.contains(says) && (m.contains(quantity) || m.contains(price))),
            "{quantity} {price}: {body}"
        );
    }
    // Inactive: refused, by name.
    let product = format!("/api/v1/products/{}", s.product);
    let current = admin.ok(&product).await;
    let (status, body) = admin
        .put(
            &product,
            json!({ "version": current["version"], "sku": "SRV-1", "name": "Server",
                    "active": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = manager
        .post(&lines, json!({ "product_id": s.product, "quantity": "1" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        errors_for(&body, "product_id")[0].contains("inactive"),
        "{body}"
    );
    // The catalog filter sees it as inactive; a rep cannot change the catalog.
    let list = rep.ok("/api/v1/products?active=false&search=srv").await;
    assert_eq!(list["items"][0]["sku"], "SRV-1", "{list}");
    let (status, _) = rep
        .put(
            &product,
            json!({ "version": 2, "sku": "SRV-1", "name": "Mine", "active": true }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_blueprint_change_needs_the_step_up_and_writes_the_history() {
    let s = setup().await;
    let (admin, manager) = (s.admin(), s.manager());
    let path = format!("/api/v1/products/{}/blueprint", s.product);
    let change = |password: &str| {
        json!({ "version": 1, "list_price": "1100", "unit_cost": "650",
                "max_discount_percent": "5", "margin_target_percent": "35",
                "reason": "Supplier increase", "password": password })
    };
    // Without the proof (no mail server here: the password), or with a wrong one: refused.
    let (status, body) = admin.put(&path, change("")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(!errors_for(&body, "password").is_empty(), "{body}");
    let (status, body) = admin.put(&path, change("wrong")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A manager may not, whatever they send.
    let (status, _) = manager.put(&path, change(DEMO_PASSWORD)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = admin.put(&path, change(DEMO_PASSWORD)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["list_price"], "1100.00");
    assert_eq!(body["max_discount_percent"], "5.00");

    let history = s
        .rep()
        .ok(&format!("/api/v1/products/{}/price-history", s.product))
        .await;
    let reasons: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["Supplier increase", "Created"]);
    assert_eq!(history[0]["before"]["list_price"], "1000.00");
    assert_eq!(history[0]["after"]["list_price"], "1100");
    assert!(history[0]["changed_by_name"].is_string());
}

/// The catalog page for everyone (forms for admins only), and a deal's lines partial over htmx:
/// a product added, a price overridden, the total changed in the answer; a refused quantity
/// shown at its field with the input kept, and markup escaped.
#[tokio::test]
async fn the_catalog_pages_and_the_deal_lines_partial_work_over_htmx() {
    let s = setup().await;
    let admin = Member::sign_in(&s.app, "acme", "admin@acme.example").await;
    // An admin creates a product from the page; a refused one keeps the input.
    let created = admin
        .submit(
            "/products",
            &[
                ("sku", "CBL-1"),
                ("name", "<b>Cable</b>"),
                ("category", "Hardware"),
                ("active", "on"),
                ("list_price", "12.5"),
                ("unit_cost", "4"),
                ("max_discount_percent", "20"),
                ("margin_target_percent", ""),
            ],
        )
        .await;
    let (status, html) = admin.page(&location(&created)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Product created."), "{html}");
    assert!(
        html.contains("&#60;b&#62;Cable") && !html.contains("<b>Cable"),
        "{html}"
    );
    let refused = admin
        .submit(
            "/products",
            &[
                ("sku", "CBL-2"),
                ("name", "Cable 2"),
                ("list_price", "12.123456"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("value=\"12.123456\"") && html.contains("too many decimals"),
        "{html}"
    );

    let rep = Member::sign_in(&s.app, "acme", "rep@acme.example").await;
    let (status, html) = rep.page("/products?q=cbl").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("CBL-1") && !html.contains("New product"),
        "{html}"
    );
    let (status, html) = rep.page(&format!("/products/{}", s.product)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Price history") && !html.contains("Change pricing"),
        "{html}"
    );

    // The rep's deal: add the server twice over htmx, then override within the limit.
    let lines = format!("/deals/{}/lines", s.deal);
    let (status, html) = rep.page(&lines).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No product on this deal yet"), "{html}");
    let html = htmx_lines(
        &rep,
        &lines,
        &[
            ("product_id", &s.product),
            ("quantity", "2"),
            ("unit_price", ""),
            ("override_reason", ""),
        ],
    )
    .await;
    assert!(html.starts_with("<section id=\"deal-lines\"") || html.contains("id=\"deal-lines\""));
    assert!(!html.contains("<html"), "a partial, not a page");
    assert!(html.contains("2000.00 USD"), "{html}");
    // A fractional quantity: refused at its field, the input kept, the total unchanged.
    let html = htmx_lines(
        &rep,
        &lines,
        &[("product_id", &s.product), ("quantity", "1.5")],
    )
    .await;
    assert!(
        html.contains("value=\"1.5\"") && html.contains("not a whole number"),
        "{html}"
    );
    assert!(html.contains("2000.00 USD"));
    let line_id = html
        .split("/lines/")
        .nth(1)
        .map(|rest| rest[..36].to_owned())
        .unwrap();
    let html = htmx_lines(
        &rep,
        &format!("{lines}/{line_id}"),
        &[
            ("version", "1"),
            ("quantity", "2"),
            ("unit_price", "950"),
            ("override_reason", "Loyal <customer>"),
        ],
    )
    .await;
    assert!(
        html.contains("1900.00 USD") && html.contains("Loyal &#60;customer&#62;"),
        "{html}"
    );
    // The deal itself says the same amount.
    let deal = s.rep().ok(&format!("/api/v1/deals/{}", s.deal)).await;
    assert_eq!(deal["amount"], "1900.00");
}

#[tokio::test]
async fn a_deal_is_created_with_its_lines_at_once_and_each_line_change_is_in_its_history() {
    let s = setup().await;
    let rep = s.rep();
    // Created with two lines: the amount is their total, in the same transaction.
    let deal = rep
        .deal(json!({ "name": "Two servers", "lines": [
            { "product_id": s.product, "quantity": "3" },
            { "product_id": s.product, "quantity": "1", "unit_price": "950",
              "override_reason": "Bundle" },
        ] }))
        .await;
    assert_eq!(deal["amount"], "3950.00");
    let id = id(&deal);
    let lines = rep.ok(&format!("/api/v1/deals/{id}/lines")).await;
    assert_eq!(lines["items"].as_array().map(Vec::len), Some(2), "{lines}");

    // Refused lines name their field and create nothing: not the deal, not a line.
    let count_deals = || async {
        let list = rep.ok("/api/v1/deals?limit=100").await;
        list["items"].as_array().map_or(0, Vec::len)
    };
    let before = count_deals().await;
    for (lines, amount, field, says) in [
        (
            json!([{ "product_id": s.product, "quantity": "2" },
                   { "product_id": s.product, "quantity": "0" }]),
            Value::Null,
            "lines[1].quantity",
            "at least 1",
        ),
        (
            json!([{ "product_id": s.product, "quantity": "1", "unit_price": "100",
                     "override_reason": "Friend" }]),
            Value::Null,
            "lines[0].unit_price",
            "10 %",
        ),
        (
            json!([{ "product_id": uuid::Uuid::new_v4(), "quantity": "1" }]),
            Value::Null,
            "lines[0].product_id",
            "catalog",
        ),
        (
            json!([{ "product_id": s.product, "quantity": "1" }]),
            json!("5000"),
            "amount",
            "their total",
        ),
    ] {
        let (status, body) = rep
            .post(
                "/api/v1/deals",
                json!({ "name": "Refused", "amount": amount, "lines": lines }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(has_error(&body, field, says), "{field}: {says} in {body}");
    }
    assert_eq!(count_deals().await, before);
    // Lines change through the lines, never through an edit of the deal.
    let (status, body) = rep
        .patch(
            &format!("/api/v1/deals/{id}"),
            json!({ "version": deal["version"], "lines": [] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(!errors_for(&body, "lines").is_empty(), "{body}");

    // Change a quantity, override a price, remove a line: each in the deal's history.
    let first = lines["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["quantity"] == 3)
        .unwrap();
    let first_id = first["id"].as_str().unwrap();
    let path = format!("/api/v1/deals/{id}/lines/{first_id}");
    let (status, body) = rep
        .patch(&path, json!({ "version": 1, "quantity": "4" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = rep
        .patch(
            &path,
            json!({ "version": 2, "unit_price": "920", "override_reason": "Volume" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = rep.delete(&format!("{path}?version=3")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["amount"], "950.00");

    let history = format!("/api/v1/deals/{id}/line-history");
    let page = rep.ok(&history).await;
    let items = page["items"].as_array().unwrap();
    let kinds: Vec<&str> = items
        .iter()
        .map(|c| c["change"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["removed", "changed", "changed", "added", "added"]);
    assert_eq!(items[0]["before"]["unit_price"], "920.00");
    assert_eq!(items[0]["after"], Value::Null);
    assert_eq!(
        (
            &items[1]["before"]["unit_price"],
            &items[1]["after"]["unit_price"],
            &items[1]["after"]["override_reason"]
        ),
        (&json!("1000.00"), &json!("920.00"), &json!("Volume"))
    );
    assert_eq!(
        (
            &items[2]["before"]["quantity"],
            &items[2]["after"]["quantity"]
        ),
        (&json!(3), &json!(4))
    );
    assert!(items
        .iter()
        .all(|c| c["changed_by_name"].as_str().is_some() && c["sku"] == "SRV-1"));
    // Keyset pages: two at a time reach all five, newest first.
    let seen: Vec<String> = rep
        .all(&format!("{history}?limit=2"))
        .await
        .iter()
        .map(crate::helpers::id)
        .collect();
    let all: Vec<String> = items.iter().map(crate::helpers::id).collect();
    assert_eq!(seen, all);

    // Another rep learns nothing of it.
    let rep2 = Api::sign_in(&s.app, "acme", "rep2").await;
    let (status, _) = rep2.get(&history).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The deal's page shows the history, the price's reason and who.
    let browser = Member::sign_in(&s.app, "acme", "rep@acme.example").await;
    let html = browser.htmx_get(&format!("/deals/{id}/lines")).await;
    for text in [
        "Product changes",
        "Removed Server",
        "Unit price 1000.00 → 920.00",
        "Price reason list price → “Volume”",
        "Quantity 3 → 4",
        "Added Server",
    ] {
        assert!(html.contains(text), "{text} in {html}");
    }
}

#[tokio::test]
async fn the_new_deal_form_takes_products_with_a_picker_that_works_without_script() {
    let s = setup().await;
    let rep = Member::sign_in(&s.app, "acme", "rep@acme.example").await;
    let (status, html) = rep.page("/deals/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("id=\"line_product_0\"")
            && html.contains("Server (SRV-1)")
            && html.contains("the sum of its products"),
        "{html}"
    );
    // As you type (htmx): the row's options narrow.
    let (_, options) = rep.page("/deals/product-options?line_q_0=srv").await;
    assert!(options.contains("Server (SRV-1)"), "{options}");
    let (_, options) = rep.page("/deals/product-options?line_q_0=zzz").await;
    assert!(
        options.contains("No active product matches “zzz”") && !options.contains("SRV-1"),
        "{options}"
    );

    let post = |form: Vec<(&'static str, String)>| {
        let rep = &rep;
        async move {
            let form: Vec<(&str, &str)> = form
                .iter()
                .map(|(name, value)| (*name, value.as_str()))
                .collect();
            let response = rep.submit("/deals", &form).await;
            let status = response.status();
            let location = response
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            (status, location, response.text().await.unwrap())
        }
    };
    let base = |extra: Vec<(&'static str, String)>| {
        let mut form = vec![
            ("name", "Rack for Globex".to_owned()),
            ("amount", String::new()),
        ];
        form.extend(extra);
        form
    };
    // Without script, a search with no product chosen shows that row's matches, input kept.
    let (status, _, html) = post(base(vec![("line_q_1", "srv".into())])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("Choose one of the products matching “srv”")
            && html.contains("value=\"srv\"")
            && html.contains("value=\"Rack for Globex\""),
        "{html}"
    );
    // A bad quantity is refused at that row's quantity, the input kept.
    let (status, _, html) = post(base(vec![
        ("line_product_1", s.product.clone()),
        ("line_quantity_1", "1.5".into()),
    ]))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("value=\"1.5\"")
            && html.contains("id=\"line_quantity_1-error\"")
            && html.contains("not a whole number")
            && html.contains(&format!("<option value=\"{}\" selected>", s.product)),
        "{html}"
    );
    // A typed amount with products: refused at the amount.
    let (status, _, html) = post(vec![
        ("name", "Rack for Globex".to_owned()),
        ("amount", "10".to_owned()),
        ("line_product_0", s.product.clone()),
        ("line_quantity_0", "2".into()),
    ])
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"amount-error\""), "{html}");

    // Two rows filled: one deal with both lines, its amount their total.
    let (status, location, _) = post(base(vec![
        ("line_product_0", s.product.clone()),
        ("line_quantity_0", "2".into()),
        ("line_product_2", s.product.clone()),
        ("line_quantity_2", "1".into()),
    ]))
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    let id = location
        .trim_start_matches("/deals/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let deal = s.rep().ok(&format!("/api/v1/deals/{id}")).await;
    assert_eq!(deal["amount"], "3000.00", "{deal}");
    let (_, html) = rep.page(&format!("/deals/{id}/lines")).await;
    assert!(
        html.contains("3000.00 USD") && html.matches("Added Server").count() == 2,
        "{html}"
    );
}

#[tokio::test]
async fn at_least_one_product_is_a_stage_requirement_on_the_deal_page_the_board_and_the_api() {
    let s = setup().await;
    let rep = s.rep();
    // The next open stage of the setup deal's process asks for a product, and nothing else.
    let (process, lead, name): (uuid::Uuid, uuid::Uuid, String) = sqlx::query_as(
        "update deal_stages set requires_product = true, requires_amount = false,
                                requires_close_date = false, requires_contact = false
         where id = (select s.id from deal_stages s join deals d on d.process_id = s.process_id
                     where d.id = $1::uuid and s.outcome = 'open' and s.id <> d.stage_id
                     order by s.position limit 1)
         returning process_id, id, name",
    )
    .bind(&s.deal)
    .fetch_one(&s.db.owner)
    .await
    .unwrap();
    // Created in that stage without a product: refused.
    let (status, body) = rep
        .post(
            "/api/v1/deals",
            json!({ "name": "Straight to contract", "stage_id": lead, "contacts": [] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        has_error(&body, "line_items", "needs at least one product"),
        "{body}"
    );
    // The API move of the setup's deal (no lines) is refused, naming it.
    let deal_path = format!("/api/v1/deals/{}", s.deal);
    let move_path = format!("{deal_path}/stage");
    let deal = rep.ok(&deal_path).await;
    let (status, body) = rep
        .post(
            &move_path,
            json!({ "stage_id": lead, "version": deal["version"] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        has_error(&body, "line_items", "needs at least one product"),
        "{body}"
    );
    // The deal page: refused with the reason and a way to add a product.
    let browser = Member::sign_in(&s.app, "acme", "rep@acme.example").await;
    let response = browser
        .submit(
            &format!("/deals/{}/stage", s.deal),
            &[
                ("stage_id", &lead.to_string()),
                ("version", &deal["version"].to_string()),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("needs at least one product") && html.contains("Add a product"),
        "{html}"
    );
    // The board: not moved, with the reason said.
    let response = browser
        .submit(
            &format!("/board/{process}/move"),
            &[
                ("deal_id", &s.deal),
                ("stage_id", &lead.to_string()),
                ("version", &deal["version"].to_string()),
            ],
        )
        .await;
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&format!(
            "Not moved: The stage “{name}” needs at least one product."
        )),
        "{html}"
    );
    // With a product on it, the move is made.
    rep.created(
        &format!("{deal_path}/lines"),
        json!({ "product_id": s.product, "quantity": "1" }),
    )
    .await;
    let deal = rep.ok(&deal_path).await;
    let (status, body) = rep
        .post(
            &move_path,
            json!({ "stage_id": lead, "version": deal["version"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stage_name"], name);
}

#[tokio::test]
async fn products_carry_the_workspace_s_custom_fields_on_the_api_the_form_and_the_page() {
    let s = setup().await;
    let admin = s.admin();
    for body in [
        json!({ "entity": "product", "label": "Warranty", "kind": "text" }),
        json!({ "entity": "product", "label": "Seats", "kind": "number" }),
    ] {
        admin.created("/api/v1/custom-fields", body).await;
    }
    let product = admin
        .created(
            "/api/v1/products",
            json!({ "sku": "LIC-1", "name": "Licence", "list_price": "99",
                    "custom_fields": { "warranty": "3 years", "seats": "25" } }),
        )
        .await;
    assert_eq!(
        product["custom_fields"],
        json!({ "warranty": "3 years", "seats": 25 })
    );
    let id = id(&product);
    let (status, body) = admin
        .post(
            "/api/v1/products",
            json!({ "sku": "LIC-2", "name": "Licence 2", "list_price": "99",
                    "custom_fields": { "seats": "many" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        !errors_for(&body, "custom_fields.seats").is_empty(),
        "{body}"
    );

    // The page shows them; the edit form changes one and keeps input when refused.
    let browser = Member::sign_in(&s.app, "acme", "admin@acme.example").await;
    let (_, page) = browser.page(&format!("/products/{id}")).await;
    assert!(
        page.contains("<dt>Warranty</dt><dd class=\"wrap\">3 years</dd>")
            && page.contains("name=\"custom_fields.seats\" type=\"number\" value=\"25\""),
        "{page}"
    );
    let save = |seats: &'static str| {
        let (browser, path) = (&browser, format!("/products/{id}"));
        async move {
            let response = browser
                .submit(
                    &path,
                    &[
                        ("version", "1"),
                        ("sku", "LIC-1"),
                        ("name", "Licence"),
                        ("active", "on"),
                        ("custom_fields.warranty", "5 years"),
                        ("custom_fields.seats", seats),
                    ],
                )
                .await;
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, html) = save("lots").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("value=\"lots\"") && html.contains("value=\"5 years\""),
        "{html}"
    );
    let (status, _) = save("30").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let product = s.rep().ok(&format!("/api/v1/products/{id}")).await;
    assert_eq!(
        product["custom_fields"],
        json!({ "warranty": "5 years", "seats": 30 })
    );
    // The new-product form has them too.
    let (_, list) = browser.page("/products").await;
    assert!(list.contains("name=\"custom_fields.warranty\""), "{list}");
}
