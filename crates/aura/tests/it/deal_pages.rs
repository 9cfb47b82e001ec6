//! The deal pages (F8, F9, F11) over real HTTP against real PostgreSQL: the list's process
//! switcher, filters, search and sorts; the forms (a new deal's process and its stages, inline
//! errors that keep the input, 409 on a stale edit); the deal page's stage bar, close actions,
//! contacts, history and activities; what a rep may not reach; markup planted in deal,
//! process and stage names shown as text.

use reqwest::{header, Response, StatusCode};
use serde_json::json;

use crate::helpers::{
    location, option_value, record_path, seed_process, seed_process_named, version_in, Api, Member,
    TestApp,
};

/// The path of the first contact a page links to.
fn first_contact_link(html: &str) -> String {
    html.split("href=\"/contacts/")
        .nth(1)
        .map(|rest| format!("/contacts/{}", rest.split('"').next().unwrap()))
        .unwrap()
}

/// Moves a deal through its page's stage bar.
async fn move_to(member: &Member<'_>, path: &str, stage: &str, extra: &[(&str, &str)]) -> Response {
    let (_, page) = member.page(path).await;
    let version = version_in(&page);
    let mut form = vec![("stage_id", stage), ("version", &version)];
    form.extend_from_slice(extra);
    member.submit(&format!("{path}/stage"), &form).await
}

#[tokio::test]
async fn the_list_switches_process_filters_searches_and_sorts() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let sales = seed_process(&db, "acme", "Sales").await;
    let enterprise = seed_process(&db, "acme", "Enterprise").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    for (name, process, amount, close) in [
        ("Alpha rollout", &sales.id, "500", "2027-03-01"),
        ("Beta licences", &sales.id, "9000", "2027-01-15"),
        ("Gamma platform", &enterprise.id, "120000.50", ""),
    ] {
        rep.create(
            "/deals",
            &[
                ("name", name),
                ("process_id", process),
                ("amount", amount),
                ("expected_close_date", close),
            ],
        )
        .await;
    }

    let (status, page) = rep.page("/deals").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<label for=\"process\">Sales process</label>"));
    assert!(page.contains("All processes") && page.contains("Enterprise"));
    assert!(page.contains("Alpha rollout") && page.contains("Gamma platform"));
    assert!(page.contains("120000.50"), "amounts with two decimals");
    assert!(
        !page.contains("<label for=\"owner\">Owner</label>"),
        "a rep has no owner filter: their list is their own"
    );

    // One process: its deals only, and its stages in the stage filter.
    let (_, one) = rep.page(&format!("/deals?process={}", enterprise.id)).await;
    assert!(one.contains("Gamma platform") && !one.contains("Alpha rollout"));
    assert!(one.contains(&format!(
        "<option value=\"{}\"",
        enterprise.stage("Proposal")
    )));
    let (_, staged) = rep
        .page(&format!(
            "/deals?process={}&stage={}",
            enterprise.id,
            enterprise.stage("Lead")
        ))
        .await;
    assert!(staged.contains("Gamma platform"));
    let (_, later) = rep
        .page(&format!(
            "/deals?process={}&stage={}",
            enterprise.id,
            enterprise.stage("Proposal")
        ))
        .await;
    assert!(!later.contains("Gamma platform"), "no deal in that stage");
    // A stage left over from the process switched away from is dropped, not matched.
    let (_, switched) = rep
        .page(&format!(
            "/deals?process={}&stage={}",
            sales.id,
            enterprise.stage("Lead")
        ))
        .await;
    assert!(switched.contains("Alpha rollout") && !switched.contains("Gamma platform"));

    // Search as you type: htmx gets the rows, the pager and the stage filter only.
    let rows = rep
        .get(app.workspace_url("acme", "/deals?q=be"))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(rows.status(), StatusCode::OK);
    assert_eq!(rows.headers()[header::VARY], "HX-Request");
    let html = rows.text().await.unwrap();
    assert!(!html.contains("<html"), "only the rows");
    assert!(html.contains("Beta licences") && !html.contains("Alpha rollout"));
    assert!(html.contains("id=\"deal-pager\" hx-swap-oob=\"true\""));
    assert!(html.contains("id=\"stage-filter\" hx-swap-oob=\"true\""));

    // Filters: the amount sort, a probability range, a close date range, won/lost/open.
    let (_, by_amount) = rep.page("/deals?sort=amount").await;
    let gamma = by_amount.find("Gamma platform").unwrap();
    let beta = by_amount.find("Beta licences").unwrap();
    let alpha = by_amount.find("Alpha rollout").unwrap();
    assert!(gamma < beta && beta < alpha, "the largest amount first");
    let (_, by_close) = rep.page("/deals?sort=close_date").await;
    assert!(by_close.find("Beta licences").unwrap() < by_close.find("Alpha rollout").unwrap());
    let (_, dated) = rep
        .page("/deals?close_from=2027-02-01&close_to=2027-12-31")
        .await;
    assert!(dated.contains("Alpha rollout") && !dated.contains("Beta licences"));
    let (_, likely) = rep.page("/deals?probability_min=60").await;
    assert!(likely.contains("No deals here yet.") && !likely.contains("Alpha rollout"));
    let (_, won) = rep.page("/deals?status=won").await;
    assert!(!won.contains("Alpha rollout"));
    let (_, bad) = rep.page("/deals?probability_min=lots&close_to=soon").await;
    assert!(bad.contains("Some filters were not understood"));
    assert!(bad.contains("“lots” is not a number") && bad.contains("“soon” is not a date"));

    // Keyset pages: 25 a page, the next one continues where it ended.
    for n in 0..25 {
        rep.create("/deals", &[("name", &format!("Zeta {n:02}"))])
            .await;
    }
    let (_, first) = rep.page("/deals").await;
    let next = first
        .split("rel=\"next\"")
        .next()
        .and_then(|before| before.rsplit("href=\"").next())
        .map(|href| href.split('"').next().unwrap().replace("&amp;", "&"))
        .expect("a next page link");
    let (_, second) = rep.page(&next).await;
    assert!(second.contains("Zeta 24") && !second.contains("Alpha rollout"));
}

#[tokio::test]
async fn a_deal_is_created_in_a_non_default_process_and_stays_there() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let sales = seed_process(&db, "acme", "Sales").await;
    let partners = seed_process_named(
        &db,
        "acme",
        "Partners",
        ["Intro", "Pilot", "Signed off", "Partnered", "Declined"],
    )
    .await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;

    let (status, form) = rep.page("/deals/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        form.contains(&format!(
            "<option value=\"{}\" selected>Sales (default)",
            sales.id
        )),
        "the default process is pre-selected"
    );
    assert!(form.contains(&format!(
        "<option value=\"{}\" selected>Lead",
        sales.stage("Lead")
    )));
    assert!(form.contains("hx-get=\"/deals/stages\""));
    assert!(
        !form.contains("name=\"assigned_to\""),
        "a rep gives deals to no one"
    );

    // Choosing another process swaps in its stages.
    let stages = rep
        .htmx_get(&format!("/deals/stages?process_id={}", partners.id))
        .await;
    assert!(!stages.contains("<html"));
    assert!(stages.contains("Intro") && stages.contains("Pilot") && !stages.contains("Lead"));

    let path = rep
        .create(
            "/deals",
            &[
                ("name", "Channel deal"),
                ("process_id", &partners.id),
                ("stage_id", &partners.stage("Intro")),
                ("amount", "1 250.00"),
                ("probability", "35"),
            ],
        )
        .await;
    let (status, page) = rep.page(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Sales process: <strong>Partners</strong>"));
    assert!(page.contains("aria-current=\"step\">Intro"));
    assert!(page.contains("1250.00") && page.contains("35%"));
    assert!(page.contains("Created in Intro"), "the first history row");
    let (_, list) = rep.page(&format!("/deals?process={}", partners.id)).await;
    assert!(list.contains("Channel deal") && list.contains("Partners · Intro"));
    let (_, other) = rep.page(&format!("/deals?process={}", sales.id)).await;
    assert!(!other.contains("Channel deal"));

    // The edit form shows the process and offers no way to change it.
    let (_, edit) = rep.page(&format!("{path}/edit")).await;
    assert!(edit.contains("Sales process: <strong>Partners</strong>"));
    assert!(!edit.contains("name=\"process_id\""));
}

#[tokio::test]
async fn the_deal_form_keeps_the_input_and_names_each_problem() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let sales = seed_process(&db, "acme", "Sales").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let refused = rep
        .submit(
            "/deals",
            &[
                ("name", ""),
                ("process_id", &sales.id),
                ("stage_id", &sales.stage("Lead")),
                ("amount", "a lot"),
                ("expected_close_date", "next week"),
                ("organization", "Nobody Inc"),
                ("notes", "Keep these notes"),
                ("contact_0", "nobody@example.com"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("The deal was not saved"));
    assert!(html.contains("Name is required."));
    assert!(html.contains("The amount “a lot” is not a number"));
    assert!(html.contains("“next week” is not a date"));
    assert!(html.contains("No organization named “Nobody Inc”"));
    assert!(html.contains("No contact of yours has the email or name “nobody@example.com”"));
    assert!(html.contains("value=\"a lot\"") && html.contains("value=\"Nobody Inc\""));
    assert!(html.contains("Keep these notes") && html.contains("value=\"nobody@example.com\""));
    assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"amount-error\""));

    // The domain's own checks: out of range, and a stage that needs what is missing.
    let refused = rep
        .submit(
            "/deals",
            &[
                ("name", "Too likely"),
                ("process_id", &sales.id),
                ("stage_id", &sales.stage("Proposal")),
                ("probability", "150"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("The probability is a percentage from 0 to 100"));
    assert!(html.contains("The stage “Proposal” needs an amount."));
    assert!(html.contains("value=\"Too likely\""));
    assert!(
        html.contains(&format!(
            "<option value=\"{}\" selected>Proposal",
            sales.stage("Proposal")
        )),
        "the stage chosen stays chosen"
    );
}

#[tokio::test]
async fn a_stale_edit_is_refused_with_the_input_kept_and_theirs_shown() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    seed_process(&db, "acme", "Sales").await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let path = rep.create("/deals", &[("name", "Orbital")]).await;
    let (_, rep_form) = rep.page(&format!("{path}/edit")).await;
    let (status, manager_form) = manager.page(&format!("{path}/edit")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        manager_form.contains("name=\"assigned_to\""),
        "managers get the owner select"
    );
    let version = version_in(&rep_form);
    assert_eq!(version, version_in(&manager_form));
    let rita = option_value(&manager_form, "Rita Rep");

    let saved = manager
        .submit(
            &path,
            &[
                ("name", "Orbital"),
                ("amount", "777"),
                ("assigned_to", &rita),
                ("version", &version),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);

    let stale = rep
        .submit(
            &path,
            &[
                ("name", "Orbital station"),
                ("notes", "Call on Monday"),
                ("version", &version),
            ],
        )
        .await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let html = stale.text().await.unwrap();
    assert!(html.contains("Someone else saved this deal"));
    assert!(html.contains("777"), "what they saved is shown");
    assert!(html.contains("value=\"Orbital station\"") && html.contains("Call on Monday"));
    let newer = version_in(&html);
    assert_ne!(newer, version);
    let retried = rep
        .submit(
            &path,
            &[
                ("name", "Orbital station"),
                ("amount", "777"),
                ("notes", "Call on Monday"),
                ("version", &newer),
            ],
        )
        .await;
    assert_eq!(retried.status(), StatusCode::SEE_OTHER);
    let (_, page) = rep.page(&path).await;
    assert!(page.contains("Orbital station") && page.contains("Call on Monday"));
}

#[tokio::test]
async fn the_stage_bar_moves_the_deal_names_what_a_stage_needs_and_closes_it() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let sales = seed_process(&db, "acme", "Sales").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let path = rep.create("/deals", &[("name", "Moonbase")]).await;

    let (_, page) = rep.page(&path).await;
    assert!(page.contains("<ol class=\"stage-bar\""));
    assert!(page.contains("aria-current=\"step\">Lead"));
    assert!(page.contains("Proposal<span class=\"visually-hidden\">: move the deal here"));

    // Proposal needs an amount and a close date: the move is refused and names both.
    let refused = move_to(&rep, &path, &sales.stage("Proposal"), &[]).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("The deal was not moved to “Proposal”"));
    assert!(html.contains("The stage “Proposal” needs an amount."));
    assert!(html.contains("The stage “Proposal” needs an expected close date."));
    assert!(html.contains(&format!("href=\"{path}/edit\">Fill in the missing fields")));

    let (_, edit) = rep.page(&format!("{path}/edit")).await;
    let saved = rep
        .submit(
            &path,
            &[
                ("name", "Moonbase"),
                ("amount", "5000"),
                ("expected_close_date", "2027-06-30"),
                ("version", &version_in(&edit)),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let moved = move_to(&rep, &path, &sales.stage("Proposal"), &[]).await;
    assert_eq!(location(&moved), format!("{path}?notice=moved#stage-bar"));
    let (_, page) = rep.page(&path).await;
    assert!(page.contains("aria-current=\"step\">Proposal"));
    assert!(page.contains("Lead → Proposal"), "the history row");
    assert!(page.contains("Rita Rep"), "who moved it");

    // Contract needs a contact: the refusal points at the contact form.
    let refused = move_to(&rep, &path, &sales.stage("Contract"), &[]).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("needs at least one contact") && html.contains("href=\"#link-contact\""));

    // A stale move (another tab moved it first) is refused with the page as it is now.
    let (_, page) = rep.page(&path).await;
    let old_version = version_in(&page);
    let lost_without_reason = move_to(&rep, &path, &sales.stage("Lost"), &[]).await;
    assert_eq!(
        lost_without_reason.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert!(lost_without_reason
        .text()
        .await
        .unwrap()
        .contains("Say why the deal was lost."));
    let won = move_to(&rep, &path, &sales.stage("Won"), &[]).await;
    assert_eq!(location(&won), format!("{path}?notice=won#stage-bar"));
    let stale = rep
        .submit(
            &format!("{path}/stage"),
            &[
                ("stage_id", &sales.stage("Lead")),
                ("version", &old_version),
            ],
        )
        .await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let html = stale.text().await.unwrap();
    assert!(html.contains("Someone changed this deal while you were looking at it"));
    assert!(html.contains("aria-current=\"step\">Won"));
    assert!(html.contains("Won on "), "closed won, with its date");
    let (_, won_list) = rep.page("/deals?status=won").await;
    assert!(won_list.contains("Moonbase"));

    // Reopened, then lost with a reason.
    let reopened = move_to(&rep, &path, &sales.stage("Lead"), &[]).await;
    assert_eq!(reopened.status(), StatusCode::SEE_OTHER);
    let lost = move_to(
        &rep,
        &path,
        &sales.stage("Lost"),
        &[("lost_reason", "Budget cut")],
    )
    .await;
    assert_eq!(location(&lost), format!("{path}?notice=lost#stage-bar"));
    let (_, page) = rep.page(&path).await;
    assert!(page.contains("Reason: Budget cut"));
}

#[tokio::test]
async fn two_people_moving_one_deal_one_wins_and_one_gets_409() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let sales = seed_process(&db, "acme", "Sales").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let path = rep
        .create(
            "/deals",
            &[
                ("name", "Contested"),
                ("amount", "10"),
                ("expected_close_date", "2027-01-01"),
            ],
        )
        .await;
    let (_, page) = rep.page(&path).await;
    let version = version_in(&page);
    let stage_path = format!("{path}/stage");
    let won = sales.stage("Won");
    let proposal = sales.stage("Proposal");
    let rep_form = [("stage_id", won.as_str()), ("version", version.as_str())];
    let manager_form = [
        ("stage_id", proposal.as_str()),
        ("version", version.as_str()),
    ];
    let (a, b) = tokio::join!(
        rep.submit(&stage_path, &rep_form),
        manager.submit(&stage_path, &manager_form),
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::CONFLICT]);
    let history: i64 = sqlx::query_scalar(
        "select count(*) from deal_stage_history h join deals d on d.id = h.deal_id where d.name = 'Contested'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(history, 2, "the creation and the one move that won");
}

#[tokio::test]
async fn a_rep_cannot_reach_another_reps_deal_in_any_way() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let sales = seed_process(&db, "acme", "Sales").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let rep2 = Member::sign_in(&app, "acme", "rep2@acme.example").await;
    let path = rep.create("/deals", &[("name", "Ritas secret deal")]).await;

    for sub in ["", "/edit"] {
        let (status, html) = rep2.page(&format!("{path}{sub}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}{sub}");
        assert!(!html.contains("Ritas secret deal"));
    }
    for (sub, form) in [
        ("", vec![("name", "Taken"), ("version", "1")]),
        (
            "/stage",
            vec![("stage_id", sales.stage("Won").as_str()), ("version", "1")],
        ),
        ("/delete", vec![]),
        ("/activities", vec![("kind", "note"), ("description", "x")]),
        ("/contacts", vec![("contact", "x"), ("role", "other")]),
    ] {
        let response = rep2.submit(&format!("{path}{sub}"), &form).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}{sub}");
    }
    let (_, list) = rep2.page("/deals").await;
    assert!(!list.contains("Ritas secret deal"));
    let (_, search) = rep2.page("/deals?q=ritas").await;
    assert!(!search.contains("Ritas secret deal"));
    // A rep may not reassign, in bulk or one.
    let id = path.trim_start_matches("/deals/");
    let bulk = rep
        .submit("/deals/reassign", &[("ids", id), ("owner", id)])
        .await;
    assert_eq!(bulk.status(), StatusCode::FORBIDDEN);
    let one = rep.submit(&format!("{path}/owner"), &[("owner", id)]).await;
    assert_eq!(one.status(), StatusCode::FORBIDDEN);
    let (_, page) = rep.page(&path).await;
    assert!(page.contains("Ritas secret deal"), "nothing changed");
    assert!(!page.contains("Reassign to"));
}

#[tokio::test]
async fn a_manager_reassigns_deals_in_bulk_and_one_from_its_page() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    seed_process(&db, "acme", "Sales").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let mut ids = Vec::new();
    for name in ["North", "South", "East"] {
        let path = rep.create("/deals", &[("name", name)]).await;
        ids.push(path.trim_start_matches("/deals/").to_owned());
    }
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let (_, list) = manager.page("/deals").await;
    assert!(list.contains("name=\"ids\"") && list.contains("action=\"/deals/reassign\""));
    assert!(
        list.contains("<label for=\"owner\">Owner</label>"),
        "managers filter by owner"
    );
    let rob = option_value(&list, "Rob Rep");
    let reassigned = manager
        .submit(
            "/deals/reassign",
            &[("ids", &ids[0]), ("ids", &ids[1]), ("owner", &rob)],
        )
        .await;
    assert_eq!(location(&reassigned), "/deals?reassigned=2");
    let (_, list) = manager.page("/deals?reassigned=2").await;
    assert!(list.contains("2 deals reassigned."));
    let (_, robs) = manager.page(&format!("/deals?owner={rob}")).await;
    assert!(robs.contains("North") && robs.contains("South") && !robs.contains("East"));

    let one = manager
        .submit(&format!("/deals/{}/owner", ids[2]), &[("owner", &rob)])
        .await;
    assert_eq!(
        location(&one),
        format!("/deals/{}?notice=reassigned", ids[2])
    );
    let (status, _) = rep.page(&format!("/deals/{}", ids[2])).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no longer Rita's to see");
    let (_, rob_page) = manager.page(&location(&one)).await;
    assert!(rob_page.contains("Deal reassigned.") && rob_page.contains("Rob Rep"));
}

#[tokio::test]
async fn contacts_activities_and_deletion_on_the_deal_page() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    seed_process(&db, "acme", "Sales").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let rep2 = Member::sign_in(&app, "acme", "rep2@acme.example").await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    for (client, first, email) in [
        (&rep, "Ada", "ada@example.com"),
        (&rep2, "Hedy", "hedy@example.com"),
    ] {
        client
            .create(
                "/contacts",
                &[
                    ("first_name", first),
                    ("last_name", "Contact"),
                    ("email", email),
                ],
            )
            .await;
    }
    let path = rep
        .create(
            "/deals",
            &[
                ("name", "Shared"),
                ("contact_0", "ada@example.com"),
                ("role_0", "decision_maker"),
            ],
        )
        .await;
    let (_, page) = rep.page(&path).await;
    assert!(page.contains("Ada Contact</a> · Decision maker"));
    let ada_path = first_contact_link(&page);
    let ada_id = ada_path.trim_start_matches("/contacts/");
    let (_, ada_page) = rep.page(&ada_path).await;
    assert!(ada_page.contains(&format!("hx-get=\"/deals/of-contact/{ada_id}\"")));
    let ada_deals = rep.htmx_get(&format!("/deals/of-contact/{ada_id}")).await;
    assert!(ada_deals.contains(">Shared</a>") && !ada_deals.contains("<html"));
    let (status, alone) = rep.page(&format!("/deals/of-contact/{ada_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(alone.contains("Deals of Ada Contact") && alone.contains(">Shared</a>"));
    let (status, _) = rep2.page(&format!("/deals/of-contact/{ada_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another rep's contact");

    // A rep may not link a contact that is not theirs; a manager may, and the rep sees a count.
    let refused = rep
        .submit(
            &format!("{path}/contacts"),
            &[("contact", "hedy@example.com"), ("role", "finance")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("No contact of yours has the email or name “hedy@example.com”"));
    assert!(
        html.contains("value=\"hedy@example.com\""),
        "the input is kept"
    );
    let linked = manager
        .submit(
            &format!("{path}/contacts"),
            &[("contact", "Hedy Contact"), ("role", "finance")],
        )
        .await;
    assert_eq!(location(&linked), format!("{path}?notice=linked#contacts"));
    let (_, page) = rep.page(&path).await;
    assert!(page.contains("1 other contact linked.") && !page.contains("Hedy"));
    let (_, page) = manager.page(&path).await;
    assert!(page.contains("Hedy Contact</a> · Finance"));

    // An activity on the deal, with one of its contacts.
    let ada = option_value(&page, "Ada Contact");
    let refused = rep
        .submit(
            &format!("{path}/activities"),
            &[("kind", "call"), ("description", "")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("The activity was not logged"));
    let logged = rep
        .submit(
            &format!("{path}/activities"),
            &[
                ("kind", "call"),
                ("contact_id", &ada),
                ("occurred_at", "2026-11-02T10:00"),
                ("description", "Discussed the budget"),
            ],
        )
        .await;
    assert_eq!(location(&logged), format!("{path}?notice=logged#timeline"));
    let (_, page) = rep.page(&path).await;
    assert!(page.contains("Discussed the budget") && page.contains("with <a"));
    let (_, contact_page) = rep.page(&first_contact_link(&page)).await;
    assert!(
        contact_page.contains("Discussed the budget"),
        "on the contact's timeline too"
    );

    // Unlink, delete, restore.
    let unlinked = rep
        .submit(&format!("{path}/contacts/unlink"), &[("contact_id", &ada)])
        .await;
    assert_eq!(
        location(&unlinked),
        format!("{path}?notice=unlinked#contacts")
    );
    let deleted = rep.submit(&format!("{path}/delete"), &[]).await;
    assert_eq!(location(&deleted), format!("{path}?notice=deleted"));
    let (_, list) = rep.page("/deals").await;
    assert!(!list.contains(">Shared<"));
    let (_, gone) = rep.page("/deals?deleted=1").await;
    assert!(gone.contains(">Shared<"));
    let (_, page) = rep.page(&path).await;
    assert!(page.contains("This deal is deleted") && page.contains(&format!("{path}/restore")));
    assert!(
        !page.contains("Delete deal") && !page.contains(&format!("{path}/stage")),
        "a deleted deal is not moved or deleted again"
    );
    let restored = rep.submit(&format!("{path}/restore"), &[]).await;
    assert_eq!(location(&restored), format!("{path}?notice=restored"));
    let (_, list) = rep.page("/deals").await;
    assert!(list.contains(">Shared<"));
}

#[tokio::test]
async fn markup_in_deal_process_and_stage_names_is_shown_as_text() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let script = "<script>alert(1)</script>";
    let breakout = "\"><img src=x onerror=alert(1)>";
    let process = seed_process_named(
        &db,
        "acme",
        script,
        [breakout, script, "Contract", "Won", "Lost"],
    )
    .await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let path = rep
        .create(
            "/deals",
            &[
                ("name", &format!("{script}{breakout}")),
                ("process_id", &process.id),
                ("notes", breakout),
                ("lost_reason", ""),
            ],
        )
        .await;
    let moved = move_to(&rep, &path, &process.stage(script), &[]).await;
    assert_eq!(
        moved.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the stage needs an amount"
    );
    let refusal = moved.text().await.unwrap();
    let (_, page) = rep.page(&path).await;
    let (_, list) = rep.page("/deals").await;
    let (_, filtered) = rep.page(&format!("/deals?process={}", process.id)).await;
    let (_, form) = rep.page("/deals/new").await;
    let (_, edit) = rep.page(&format!("{path}/edit")).await;
    for (name, html) in [
        ("page", &page),
        ("refused move", &refusal),
        ("list", &list),
        ("one process", &filtered),
        ("new form", &form),
        ("edit form", &edit),
    ] {
        assert!(
            !html.contains("<script>alert"),
            "{name} runs planted script: {html}"
        );
        assert!(
            !html.contains("<img src=x"),
            "{name} renders planted markup: {html}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
                || html.contains("&#60;script&#62;"),
            "{name} shows it as text"
        );
    }
}

#[tokio::test]
async fn an_organizations_page_lists_its_deals_the_member_may_see() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    seed_process(&db, "acme", "Sales").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let rep2 = Member::sign_in(&app, "acme", "rep2@acme.example").await;
    let created = rep.submit("/organizations", &[("name", "Initech")]).await;
    let organization = record_path(&created);
    let id = organization
        .trim_start_matches("/organizations/")
        .to_owned();
    rep.create(
        "/deals",
        &[
            ("name", "Initech printers"),
            ("organization", "Initech"),
            ("amount", "300"),
        ],
    )
    .await;
    rep2.create(
        "/deals",
        &[("name", "Initech staplers"), ("organization", "Initech")],
    )
    .await;

    let (_, page) = rep.page(&organization).await;
    assert!(page.contains(&format!("hx-get=\"/deals/of-organization/{id}\"")));
    assert!(
        page.contains(&format!("href=\"/deals?organization={id}\"")),
        "a link without script"
    );
    let (status, deals) = rep.page(&format!("/deals/of-organization/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(deals.contains("Initech printers") && deals.contains("300.00"));
    assert!(!deals.contains("Initech staplers"), "another rep's deal");
    let (_, list) = rep.page(&format!("/deals?organization={id}")).await;
    assert!(list.contains("Initech printers"));
    let (_, by_name) = rep.page("/deals?organization=initech").await;
    assert!(
        by_name.contains("Initech printers"),
        "the filter takes a name too"
    );
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let (_, deals) = manager.page(&format!("/deals/of-organization/{id}")).await;
    assert!(deals.contains("Initech printers") && deals.contains("Initech staplers"));
    let (_, form) = rep.page(&format!("/deals/new?organization={id}")).await;
    assert!(
        form.contains("value=\"Initech\""),
        "a new deal of the organization"
    );
}

#[tokio::test]
async fn custom_deal_fields_are_on_the_forms_checked_kept_and_shown() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    seed_process(&db, "acme", "Sales").await;
    Api::sign_in(&app, "acme", "admin")
        .await
        .created(
            "/api/v1/custom-fields",
            json!({ "entity": "deal", "label": "Seats", "kind": "number" }),
        )
        .await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let (_, form) = rep.page("/deals/new").await;
    assert!(form.contains("name=\"custom_fields.seats\"") && form.contains("type=\"number\""));

    let refused = rep
        .submit(
            "/deals",
            &[("name", "Seated"), ("custom_fields.seats", "many")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("aria-describedby=\"custom_fields.seats-error\""));
    assert!(html.contains("value=\"many\"") && html.contains("value=\"Seated\""));

    let path = rep
        .create(
            "/deals",
            &[("name", "Seated"), ("custom_fields.seats", "12")],
        )
        .await;
    let (_, page) = rep.page(&path).await;
    assert!(page.contains("<dt>Seats</dt><dd class=\"wrap\">12</dd>"));
    let (_, edit) = rep.page(&format!("{path}/edit")).await;
    assert!(edit.contains("name=\"custom_fields.seats\" type=\"number\" value=\"12\""));
}
