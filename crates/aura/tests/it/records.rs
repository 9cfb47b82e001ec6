//! Deleting with a question first and Undo after, the same for contacts, organizations and
//! deals; bulk reassignment of everything matching a list; the audit log in words (issue 18).

use reqwest::StatusCode;

use crate::helpers::{location, option_value, seed_process, Member, TestApp};

#[tokio::test]
async fn deleting_asks_first_and_offers_undo_for_every_kind_of_record() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    seed_process(&db, "acme", "Sales").await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let records = [
        (
            manager
                .create(
                    "/contacts",
                    &[("first_name", "Grace"), ("last_name", "Hopper")],
                )
                .await,
            "Grace Hopper",
            "contact",
        ),
        (
            manager
                .create("/organizations", &[("name", "Initech")])
                .await,
            "Initech",
            "organization",
        ),
        (
            manager.create("/deals", &[("name", "Flair upgrade")]).await,
            "Flair upgrade",
            "deal",
        ),
    ];
    for (path, name, noun) in records {
        let page = manager.ok_page(&path).await;
        // The form asks in the layout's dialog with script, and on a page without.
        assert!(
            page.contains(&format!("data-confirm=\"Delete {name}?\"")),
            "{noun}"
        );
        assert!(page.contains("name=\"confirm\" value=\"ask\""), "{noun}");
        assert!(page.contains("<dialog id=\"confirm-dialog\""), "{noun}");

        let asked = manager
            .submit(&format!("{path}/delete"), &[("confirm", "ask")])
            .await;
        assert_eq!(asked.status(), StatusCode::OK, "{noun}");
        let question = asked.text().await.unwrap();
        assert!(
            question.contains(&format!("<h1>Delete {name}?</h1>")),
            "{noun}"
        );
        assert!(question.contains(&format!("action=\"{path}/delete\"")));
        assert!(
            !question.contains("value=\"ask\""),
            "the page's form deletes"
        );
        assert!(
            question.contains(&format!("href=\"{path}\"")),
            "Cancel goes back"
        );
        assert!(
            !manager.ok_page(&path).await.contains("Restore"),
            "asking deleted nothing"
        );

        let deleted = manager.submit(&format!("{path}/delete"), &[]).await;
        let back = location(&deleted);
        assert_eq!(back, format!("{path}?notice=deleted"));
        let after = manager.ok_page(&back).await;
        assert!(after.contains("data-expires=\"30\""), "{noun}");
        let undo = format!("action=\"{path}/restore\"");
        assert!(
            after.contains(&undo) && after.contains(">Undo</button>"),
            "{noun}"
        );
        // Only right after the delete: a later visit has the plain Restore, not Undo.
        assert!(!manager.ok_page(&path).await.contains(">Undo</button>"));

        let restored = manager.submit(&format!("{path}/restore"), &[]).await;
        assert_eq!(location(&restored), format!("{path}?notice=restored"));
        assert!(
            manager.ok_page(&path).await.contains("data-confirm="),
            "live again"
        );
    }
}

#[tokio::test]
async fn an_activity_delete_asks_first_without_script() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let contact = rep.create("/contacts", &[("first_name", "Alan")]).await;
    rep.submit(
        &format!("{contact}/activities"),
        &[("kind", "call"), ("description", "Talked about Enigma")],
    )
    .await;
    let page = rep.ok_page(&contact).await;
    let activity = page
        .split("action=\"/activities/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a delete form")
        .to_owned();
    let contact_id = contact.trim_start_matches("/contacts/");
    let asked = rep
        .submit(
            &format!("/activities/{activity}/delete"),
            &[("contact_id", contact_id), ("confirm", "ask")],
        )
        .await;
    assert_eq!(asked.status(), StatusCode::OK);
    let question = asked.text().await.unwrap();
    assert!(question.contains("Delete this activity?"));
    assert!(question.contains(&format!("name=\"contact_id\" value=\"{contact_id}\"")));
    assert!(rep.ok_page(&contact).await.contains("Talked about Enigma"));
    let deleted = rep
        .submit(
            &format!("/activities/{activity}/delete"),
            &[("contact_id", contact_id)],
        )
        .await;
    assert!(location(&deleted).contains("notice=activity_deleted"));
    assert!(!rep.ok_page(&contact).await.contains("Talked about Enigma"));
}

#[tokio::test]
async fn reassigning_all_matching_takes_exactly_the_matching_rows() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    seed_process(&db, "acme", "Sales").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    // 30 matching contacts (more than a page) and two that do not match.
    for n in 0..30 {
        rep.create(
            "/contacts",
            &[("first_name", "Quorra"), ("last_name", &format!("Q{n:02}"))],
        )
        .await;
    }
    for name in ["Kevin", "Quinn"] {
        rep.create("/contacts", &[("first_name", name), ("last_name", "Flynn")])
            .await;
    }
    for name in ["Tron legacy", "Tron uprising", "Encom merger"] {
        rep.create("/deals", &[("name", name)]).await;
    }
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let list = manager.ok_page("/contacts?q=quorra").await;
    // The bar: no member chosen beforehand, the list's filter for "all matching", sticky (CSS).
    assert!(list.contains("<option value=\"\" selected>Choose a member</option>"));
    let filter = list
        .split("name=\"filter\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the list's filter in the bulk form");
    assert!(filter.ends_with("q=quorra"), "{filter}");
    assert!(list.contains("name=\"all_matching\"") && list.contains("class=\"bulk-bar\""));
    assert!(list.contains("<label class=\"check\" hidden><input type=\"checkbox\" data-bulk-page>"));
    let rob = option_value(&list, "Rob Rep");

    // No member chosen: nothing happens, and the list says why.
    let unchosen = manager
        .submit(
            "/contacts/reassign",
            &[("all_matching", "1"), ("filter", "q=quorra"), ("owner", "")],
        )
        .await;
    assert_eq!(location(&unchosen), "/contacts?notice=bad_owner");

    let done = manager
        .submit(
            "/contacts/reassign",
            &[
                ("all_matching", "1"),
                ("filter", "&q=quorra"),
                ("owner", &rob),
            ],
        )
        .await;
    assert_eq!(location(&done), "/contacts?reassigned=30");
    let robs: i64 = sqlx::query_scalar(
        "select count(*) from contacts c join users u on u.id = c.assigned_to
         where u.email = 'rep2@acme.example'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(robs, 30, "exactly the matching contacts, on every page");

    // A search that matches nothing (only similar names) reassigns nothing.
    let similar = manager
        .submit(
            "/contacts/reassign",
            &[
                ("all_matching", "1"),
                ("filter", "q=Kevni"),
                ("owner", &rob),
            ],
        )
        .await;
    assert_eq!(location(&similar), "/contacts?notice=no_selection");

    // Deals: the same bar, the deal list's filters.
    let done = manager
        .submit(
            "/deals/reassign",
            &[("all_matching", "1"), ("filter", "q=tron"), ("owner", &rob)],
        )
        .await;
    assert_eq!(location(&done), "/deals?reassigned=2");
    let encom: String = sqlx::query_scalar(
        "select u.email from deals d join users u on u.id = d.assigned_to
         where d.name = 'Encom merger'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(encom, "rep@acme.example");
    let bad = manager
        .submit(
            "/deals/reassign",
            &[
                ("all_matching", "1"),
                ("filter", "probability_min=lots"),
                ("owner", &rob),
            ],
        )
        .await;
    assert_eq!(location(&bad), "/deals?notice=bad_filter");

    // A rep reassigns nothing, not even all of their own.
    for list in ["/contacts", "/deals"] {
        let refused = rep
            .submit(
                &format!("{list}/reassign"),
                &[("all_matching", "1"), ("filter", ""), ("owner", &rob)],
            )
            .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }
    let ritas: i64 = sqlx::query_scalar(
        "select (select count(*) from contacts c join users u on u.id = c.assigned_to
                 where u.email = 'rep@acme.example')
              + (select count(*) from deals d join users u on u.id = d.assigned_to
                 where u.email = 'rep@acme.example')",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(ritas, 3, "Kevin, Quinn and the Encom deal stay Rita's");
}

#[tokio::test]
async fn the_audit_log_says_who_did_what_to_which_record_in_words() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let organization = admin
        .create("/organizations", &[("name", "Cyberdyne")])
        .await;
    let contact = admin
        .create(
            "/contacts",
            &[
                ("first_name", "Miles"),
                ("last_name", "Dyson"),
                ("email", "miles@cyberdyne.example"),
            ],
        )
        .await;
    let page = admin.ok_page(&format!("{contact}/edit")).await;
    let version = crate::helpers::version_in(&page);
    let saved = admin
        .submit(
            &contact,
            &[
                ("first_name", "Miles"),
                ("last_name", "Dyson"),
                ("email", "dyson@cyberdyne.example"),
                ("organization", "Cyberdyne"),
                ("version", &version),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    admin.submit(&format!("{contact}/delete"), &[]).await;
    admin
        .submit(
            "/settings/fields",
            &[
                ("entity", "contact"),
                ("label", "Shoe size"),
                ("kind", "number"),
            ],
        )
        .await;

    let log = admin.ok_page("/audit").await;
    let link = format!("<a href=\"{contact}\">Miles Dyson</a>");
    assert!(
        log.contains(&format!("Ada Admin created the contact {link}")),
        "{log}"
    );
    assert!(log.contains(&format!("Ada Admin changed the contact {link}")));
    assert!(log.contains(&format!("Ada Admin deleted the contact {link}")));
    assert!(log.contains(&format!(
        "Ada Admin created the organization <a href=\"{organization}\">Cyberdyne</a>"
    )));
    assert!(log.contains("Ada Admin created the custom field Shoe size"));
    // The edit: each changed field by its label, before and after; the organization by name.
    assert!(log.contains(
        "<span class=\"change-label\">Email:</span> <del>miles@cyberdyne.example</del> → <ins>dyson@cyberdyne.example</ins>"
    ));
    assert!(log.contains("<span class=\"change-label\">Organization:</span> <small>(empty)</small> → <ins>Cyberdyne</ins>"));
    assert!(
        !log.contains("first_name") && !log.contains("\"email\""),
        "no JSON"
    );
    // The scroll region is reachable by keyboard (axe `scrollable-region-focusable`).
    assert!(log.contains("class=\"table-wrap\" tabindex=\"0\" role=\"region\""));
}
