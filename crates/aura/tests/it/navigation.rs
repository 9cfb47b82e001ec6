//! Finding one's way (issue 18): error pages inside a workspace keep its header, the header's
//! search finds contacts, organizations and deals as the member may see them, as a page and as
//! htmx results, and phones are links to call.

use reqwest::StatusCode;

use crate::helpers::{Member, TestApp};

#[tokio::test]
async fn error_pages_inside_a_workspace_keep_its_header_and_lead_back_into_it() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    for (path, status) in [
        (
            format!("/contacts/{}", uuid::Uuid::new_v4()),
            StatusCode::NOT_FOUND,
        ),
        ("/no-such-page".to_owned(), StatusCode::NOT_FOUND),
        ("/audit".to_owned(), StatusCode::FORBIDDEN),
    ] {
        let response = rep
            .get(rep.url(&path))
            .header("Accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Back to Acme Corporation"), "{path}: {html}");
        assert!(
            html.contains("<nav aria-label=\"Workspace\">")
                && html.contains("href=\"/contacts\"")
                && html.contains("Rita Rep"),
            "{path}: the member's navigation is missing"
        );
        assert!(!html.contains("Back to the Aura home page"), "{path}");
    }
    // Before sign-in: the workspace's name, no member navigation.
    let html = app
        .browser()
        .get(app.workspace_url("acme", "/no-such-page"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Back to Acme Corporation"));
    assert!(!html.contains("<nav aria-label=\"Workspace\">"));
    // API clients still get a problem document.
    let problem = rep
        .get(rep.url("/no-such-page"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn the_header_search_finds_what_the_member_may_see_as_a_page_and_as_htmx_results() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rita = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let rob = Member::sign_in(&app, "acme", "rep2@acme.example").await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    rita.create(
        "/contacts",
        &[
            ("first_name", "Zebedee"),
            ("last_name", "Quartz"),
            ("phone", "+1 (555) 010-2030"),
        ],
    )
    .await;
    rob.create(
        "/contacts",
        &[("first_name", "Zebulon"), ("last_name", "Quartz")],
    )
    .await;
    let organization = manager
        .create("/organizations", &[("name", "Quartzite Mining")])
        .await;

    // Every page's header has the search, which works without JavaScript as a page.
    let home = rita.ok_page("/").await;
    assert!(home.contains("action=\"/search\"") && home.contains("aria-keyshortcuts"));
    let page = rita.ok_page("/search?q=quar").await;
    assert!(page.contains("<h1>Search</h1>"));
    assert!(page.contains("Zebedee Quartz"), "her own contact");
    assert!(
        !page.contains("Zebulon"),
        "another rep's contact is not hers to find"
    );
    assert!(page.contains(&format!("href=\"{organization}\"")));
    let all = manager.ok_page("/search?q=quar").await;
    assert!(all.contains("Zebedee Quartz") && all.contains("Zebulon Quartz"));

    // As she types, htmx gets only the results.
    let fragment = rita
        .get(rita.url("/search?q=zeb"))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(fragment.status(), StatusCode::OK);
    assert_eq!(fragment.headers()["vary"], "HX-Request");
    let fragment = fragment.text().await.unwrap();
    assert!(!fragment.contains("<html") && fragment.contains("Zebedee Quartz"));
    let none = rita.ok_page("/search?q=nothing-like-this").await;
    assert!(none.contains("Nothing starts with"));
    let empty = rita.ok_page("/search").await;
    assert!(empty.contains("Type the start of a name"));

    // The phone is a link that dials it.
    let list = rita.ok_page("/contacts?q=zebedee").await;
    assert!(list.contains("href=\"tel:+15550102030\""), "{list}");

    // Signed out, the search is the sign-in page's.
    let anonymous = app
        .browser()
        .get(app.workspace_url("acme", "/search?q=quar"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
}
