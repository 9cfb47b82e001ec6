//! Follow-ups, the two-click log and times in the member's zone (issue 18), over HTTP: the API's
//! routes, the pages' forms (with and without htmx), and the dashboard's lists.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{id, location, seed_process, Api, Member, TestApp};

/// Logs an activity over htmx with a form that is refused (422), and returns the answer.
async fn refused_htmx_log(member: &Member<'_>, log: &str, form: &[(&str, &str)]) -> String {
    let refused = member.htmx_submit(log, form).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    refused.text().await.unwrap()
}

/// Another rep of acme may not log an activity at `log`.
async fn another_rep_may_not_log(app: &TestApp, log: &str) {
    let rep2 = Member::sign_in(app, "acme", "rep2@acme.example").await;
    let refused = rep2
        .submit(log, &[("kind", "call"), ("description", "Hijack")])
        .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn over_the_api_a_follow_up_due_yesterday_is_overdue_and_completing_it_logs_it() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Api::sign_in(&app, "acme", "rep").await;
    let contact = rep
        .contact(json!({ "first_name": "Ada", "last_name": "Lovelace" }))
        .await;
    let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
    let planned = rep
        .created(
            "/api/v1/follow-ups",
            json!({ "kind": "call", "subject": "Call back Tuesday", "due_at": yesterday,
                    "contact_id": contact }),
        )
        .await;
    let follow_up = id(&planned);
    let complete = format!("/api/v1/follow-ups/{follow_up}/complete");

    let overdue = rep.ok("/api/v1/follow-ups?due=overdue").await;
    assert_eq!(overdue["total"], 1);
    assert_eq!(overdue["items"][0]["id"], follow_up.as_str());
    assert_eq!(overdue["items"][0]["contact_name"], "Ada Lovelace");
    assert_eq!(rep.ok("/api/v1/follow-ups?due=today").await["total"], 0);
    let (status, _) = rep.get("/api/v1/follow-ups?due=someday").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let listed = rep.ok(&format!("/api/v1/contacts/{contact}")).await;
    assert_eq!(listed["next_follow_up"], "Call back Tuesday");

    // Another rep of the workspace, and another workspace, do not reach it.
    let rep2 = Api::sign_in(&app, "acme", "rep2").await;
    for path in [format!("/api/v1/follow-ups/{follow_up}"), complete.clone()] {
        let (status, _) = if path.ends_with("complete") {
            rep2.post(&path, json!({})).await
        } else {
            rep2.get(&path).await
        };
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(rep2.ok("/api/v1/follow-ups").await["total"], 0);

    let (status, completed) = rep
        .post(&complete, json!({ "note": "Booked a demo." }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{completed}");
    let activity = completed["activity_id"].as_str().unwrap();
    let timeline = rep
        .ok(&format!("/api/v1/contacts/{contact}/activities"))
        .await;
    assert_eq!(timeline["items"][0]["id"], activity);
    assert_eq!(timeline["items"][0]["kind"], "call");
    assert_eq!(
        timeline["items"][0]["description"],
        "Call back Tuesday\n\nBooked a demo."
    );
    let done = rep.ok(&format!("/api/v1/follow-ups/{follow_up}")).await;
    assert!(done["done_at"].is_string());
    assert_eq!(done["done_activity_id"], activity);
    assert_eq!(rep.ok("/api/v1/follow-ups?due=overdue").await["total"], 0);
    // Done is done.
    let (status, _) = rep.post(&complete, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = rep
        .post(
            &format!("/api/v1/follow-ups/{follow_up}/reschedule"),
            json!({ "due_at": Utc::now().to_rfc3339() }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn on_the_pages_a_follow_up_planned_for_yesterday_shows_overdue_and_is_done_in_a_click() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let contact = rep
        .create(
            "/contacts",
            &[("first_name", "Grace"), ("last_name", "Hopper")],
        )
        .await;
    // The form reads the time in the member's zone: set one far from UTC.
    let saved = rep
        .submit("/preferences", &[("time_zone", "Pacific/Auckland")])
        .await;
    assert_eq!(location(&saved), "/preferences?saved=1");
    let yesterday = (Utc::now() - Duration::days(1))
        .with_timezone(&chrono_tz::Pacific::Auckland)
        .format("%Y-%m-%dT%H:%M")
        .to_string();

    let refused = rep
        .submit(
            &format!("{contact}/follow-ups"),
            &[("kind", "call"), ("subject", ""), ("due_at", "soon")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("is not a date and time"), "{html}");
    let refused = rep
        .submit(
            &format!("{contact}/follow-ups"),
            &[("kind", "call"), ("subject", ""), ("due_at", &yesterday)],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("What to do is required."), "{html}");

    let planned = rep
        .submit(
            &format!("{contact}/follow-ups"),
            &[
                ("kind", "call"),
                ("subject", "Call back about the pilot"),
                ("due_at", &yesterday),
            ],
        )
        .await;
    assert_eq!(
        location(&planned),
        format!("{contact}?notice=planned#follow-ups")
    );
    let page = rep.ok_page(&contact).await;
    assert!(page.contains("Call back about the pilot"));
    assert!(page.contains("Overdue"));
    // Shown in the member's zone, as typed; never labelled UTC.
    assert!(page.contains(&yesterday.replace('T', " ")), "{page}");
    assert!(!page.contains("UTC"));

    let home = rep.ok_page("/").await;
    let overdue = home
        .split("Overdue follow-ups")
        .nth(1)
        .and_then(|rest| rest.split("Follow-ups due today").next())
        .expect("the overdue list");
    assert!(overdue.contains("Call back about the pilot"), "{overdue}");
    assert!(overdue.contains("Grace Hopper"));

    let follow_up = overdue
        .split("/follow-ups/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let done = rep
        .submit(
            &format!("/follow-ups/{follow_up}/complete"),
            &[("back", "/")],
        )
        .await;
    assert_eq!(location(&done), "/?notice=follow_up_done#follow-ups");
    let home = rep.ok_page("/?notice=follow_up_done").await;
    assert!(home.contains("Follow-up done: it is logged as an activity."));
    // Off the overdue list (the activity it logged may show among recent activity).
    assert!(!home.contains(&format!("/follow-ups/{follow_up}/complete")));
    let page = rep.ok_page(&contact).await;
    let timeline = page.split("id=\"timeline-heading\"").nth(1).unwrap();
    assert!(
        timeline.contains("Call back about the pilot"),
        "logged as done"
    );

    // Another rep does not reach it from the pages either.
    let rep2 = Member::sign_in(&app, "acme", "rep2@acme.example").await;
    let refused = rep2
        .submit(
            &format!("/follow-ups/{follow_up}/reschedule"),
            &[("back", "/"), ("due_at", "2030-01-01T09:00")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_call_is_logged_from_the_contact_list_with_htmx_or_without() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let contact = rep
        .create(
            "/contacts",
            &[("first_name", "Alan"), ("last_name", "Turing")],
        )
        .await;
    let list = rep.ok_page("/contacts").await;
    let log = format!("{contact}/log");
    assert!(list.contains(&format!("hx-get=\"{log}\"")));

    // htmx: the form alone, focused; the answer to it says what was logged.
    let form = rep.htmx_get(&log).await;
    assert!(!form.contains("<html"), "a fragment");
    assert!(form.contains("autofocus"));
    let refused = refused_htmx_log(&rep, &log, &[("kind", "call"), ("description", " ")]).await;
    assert!(refused.contains("Description is required."));
    let logged = rep
        .htmx_submit(
            &log,
            &[("kind", "call"), ("description", "Left a voicemail")],
        )
        .await;
    assert_eq!(logged.status(), StatusCode::OK);
    assert!(logged.text().await.unwrap().contains("Call logged with"));

    // Without script: a page, and back to the contact.
    let page = rep.ok_page(&log).await;
    assert!(page.contains("<html"));
    let logged = rep
        .submit(&log, &[("kind", "note"), ("description", "Prefers email")])
        .await;
    assert_eq!(
        location(&logged),
        format!("{contact}?notice=logged#timeline")
    );
    let page = rep.ok_page(&contact).await;
    assert!(page.contains("Left a voicemail") && page.contains("Prefers email"));
    let list = rep.ok_page("/contacts").await;
    let row = list.split("Alan Turing").nth(1).unwrap();
    assert!(
        row.split("</tr>").next().unwrap().contains("<time"),
        "the last activity shows in the list"
    );

    // Another rep may not log on it.
    another_rep_may_not_log(&app, &log).await;
}

#[tokio::test]
async fn a_call_is_logged_from_an_organization_s_page_and_a_deal_s_page() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    seed_process(&db, "acme", "Sales").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let organization = rep.create("/organizations", &[("name", "Initech")]).await;
    let log = format!("{organization}/log");
    let page = rep.ok_page(&organization).await;
    assert!(page.contains(&format!("hx-get=\"{log}\"")));

    // With no contact to log with, the form says what to do first.
    let empty = rep.htmx_get(&log).await;
    assert!(
        empty.contains("has none you can see") && empty.contains("/contacts/new?organization=")
    );

    let contact = rep
        .create(
            "/contacts",
            &[
                ("first_name", "Peter"),
                ("last_name", "Gibbons"),
                ("organization", "Initech"),
            ],
        )
        .await;
    let contact_id = contact.trim_start_matches("/contacts/");
    let form = rep.htmx_get(&log).await;
    assert!(!form.contains("<html") && form.contains("autofocus"));
    assert!(
        form.contains("Peter Gibbons"),
        "the organization's contacts to log with"
    );

    // With whom is required, and must be one of the organization's contacts.
    let refused = refused_htmx_log(
        &rep,
        &log,
        &[("kind", "call"), ("description", "Demo booked")],
    )
    .await;
    assert!(refused.contains("Choose who it was with"));
    let elsewhere = rep
        .create(
            "/contacts",
            &[("first_name", "Bill"), ("last_name", "Lumbergh")],
        )
        .await;
    refused_htmx_log(
        &rep,
        &log,
        &[
            ("kind", "call"),
            ("description", "Demo booked"),
            ("contact_id", elsewhere.trim_start_matches("/contacts/")),
        ],
    )
    .await;
    let logged = rep
        .htmx_submit(
            &log,
            &[
                ("kind", "call"),
                ("description", "Demo booked"),
                ("contact_id", contact_id),
            ],
        )
        .await;
    assert_eq!(logged.status(), StatusCode::OK);
    assert!(logged.text().await.unwrap().contains("Call logged on"));
    for timeline in [&organization, &contact] {
        let page = rep.ok_page(timeline).await;
        let activities = page.split("id=\"timeline-heading\"").nth(1).unwrap();
        assert!(activities.contains("Demo booked"), "{timeline}");
    }

    // A deal: with one of its contacts or no one in particular; without script, a page.
    let deal = rep.create("/deals", &[("name", "Initech pilot")]).await;
    rep.submit(
        &format!("{deal}/contacts"),
        &[("contact", "Peter Gibbons"), ("role", "finance")],
    )
    .await;
    let log = format!("{deal}/log");
    assert!(rep
        .ok_page(&deal)
        .await
        .contains(&format!("hx-get=\"{log}\"")));
    let form = rep.ok_page(&log).await;
    assert!(form.contains("<html") && form.contains("No one in particular"));
    let logged = rep
        .submit(
            &log,
            &[("kind", "note"), ("description", "Budget approved")],
        )
        .await;
    assert_eq!(location(&logged), format!("{deal}?notice=logged#timeline"));
    let logged = rep
        .submit(
            &log,
            &[
                ("kind", "meeting"),
                ("description", "Kick-off"),
                ("contact_id", contact_id),
            ],
        )
        .await;
    assert_eq!(logged.status(), StatusCode::SEE_OTHER);
    let page = rep.ok_page(&deal).await;
    assert!(page.contains("Budget approved") && page.contains("Kick-off"));
    assert!(rep.ok_page(&contact).await.contains("Kick-off"));

    // Another rep reaches neither form.
    another_rep_may_not_log(&app, &log).await;
}
