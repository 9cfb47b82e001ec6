//! The CRM's pages (F6, F7, F9, F10) over real HTTP against real PostgreSQL: contacts and
//! organizations, their forms' validation, stale edits, ownership, soft deletion, activities
//! and bulk reassignment.

use aura_platform::cursor::Cursor;
use reqwest::{header, StatusCode};

use crate::helpers::{location, option_value, version_in, Member, TestApp};

#[tokio::test]
async fn a_contact_form_keeps_the_input_and_names_each_problem() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let (status, form) = rep.page("/contacts/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("name=\"first_name\""));
    assert!(
        !form.contains("name=\"assigned_to\""),
        "reps get no owner select"
    );

    let refused = rep
        .submit(
            "/contacts",
            &[
                ("first_name", "  "),
                ("last_name", "Lovelace"),
                ("email", "not-an-email"),
                ("phone", "call me"),
                ("organization", "Nowhere Inc"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    for (field, message) in [
        ("first_name", "First name is required."),
        ("email", "is not an email address"),
        ("phone", "is not a phone number"),
        (
            "organization",
            "No organization named “Nowhere Inc”. Create it first.",
        ),
    ] {
        assert!(html.contains(message), "{message}");
        assert!(
            html.contains(&format!("aria-describedby=\"{field}-error\"")),
            "{field} is marked invalid"
        );
    }
    for kept in [
        "value=\"Lovelace\"",
        "value=\"not-an-email\"",
        "value=\"call me\"",
        "value=\"Nowhere Inc\"",
    ] {
        assert!(html.contains(kept), "input kept: {kept}");
    }
    assert!(html.contains("href=\"/organizations/new\""));

    // Fixed, it is created and shown; markup in the input is text on the page.
    let path = rep
        .create(
            "/contacts",
            &[
                ("first_name", "Ada"),
                ("last_name", "<b>Lovelace</b>"),
                ("email", "ada@engines.example"),
                ("phone", "+44 20 7946 0958"),
                ("title", "Analyst"),
            ],
        )
        .await;
    let (status, page) = rep.page(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Lovelace") && !page.contains("<b>Lovelace</b>"),
        "escaped"
    );
    assert!(page.contains("ada@engines.example") && page.contains("Analyst"));
    assert!(page.contains("by Rita Rep"), "who created it");

    // An edit with an invalid email is refused with the rest kept.
    let (_, edit) = rep.page(&format!("{path}/edit")).await;
    let version = version_in(&edit);
    let refused = rep
        .submit(
            &path,
            &[
                ("first_name", "Augusta Ada"),
                ("last_name", "King"),
                ("email", "ada@"),
                ("version", &version),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("is not an email address") && html.contains("value=\"Augusta Ada\""));

    let saved = rep
        .submit(
            &path,
            &[
                ("first_name", "Augusta Ada"),
                ("last_name", "King"),
                ("email", "ada@engines.example"),
                ("version", &version),
            ],
        )
        .await;
    assert_eq!(location(&saved), format!("{path}?notice=saved"));
    let (_, page) = rep.page(&format!("{path}?notice=saved")).await;
    assert!(page.contains("Augusta Ada King") && page.contains("Contact saved."));
}

#[tokio::test]
async fn a_stale_edit_is_refused_with_the_input_kept_and_theirs_shown() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let path = rep
        .create(
            "/contacts",
            &[("first_name", "Grace"), ("last_name", "Hopper")],
        )
        .await;
    let (_, rep_form) = rep.page(&format!("{path}/edit")).await;
    let (status, manager_form) = manager.page(&format!("{path}/edit")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        manager_form.contains("name=\"assigned_to\""),
        "managers get the owner select"
    );
    let version = version_in(&rep_form);
    assert_eq!(version, version_in(&manager_form));

    let saved = manager
        .submit(
            &path,
            &[
                ("first_name", "Grace"),
                ("last_name", "Hopper"),
                ("title", "Rear Admiral"),
                ("version", &version),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);

    let stale = rep
        .submit(
            &path,
            &[
                ("first_name", "Grace Brewster"),
                ("last_name", "Hopper"),
                ("phone", "555 0100"),
                ("version", &version),
            ],
        )
        .await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let html = stale.text().await.unwrap();
    assert!(html.contains("Someone else saved this contact"));
    assert!(html.contains("Rear Admiral"), "what they saved is shown");
    assert!(
        html.contains("value=\"Grace Brewster\"") && html.contains("value=\"555 0100\""),
        "the user's input is kept"
    );
    let newer = version_in(&html);
    assert_ne!(newer, version, "the form now carries the current version");

    let retried = rep
        .submit(
            &path,
            &[
                ("first_name", "Grace Brewster"),
                ("last_name", "Hopper"),
                ("phone", "555 0100"),
                ("version", &newer),
            ],
        )
        .await;
    assert_eq!(retried.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_duplicate_email_links_to_the_contact_that_has_it_but_other_tenants_may_use_it() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let first = rep
        .create(
            "/contacts",
            &[("first_name", "Alan"), ("email", "alan@turing.example")],
        )
        .await;
    let duplicate = rep
        .submit(
            "/contacts",
            &[
                ("first_name", "Another Alan"),
                ("email", "ALAN@turing.example"),
            ],
        )
        .await;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);
    let html = duplicate.text().await.unwrap();
    assert!(html.contains("A contact with this email already exists"));
    assert!(html.contains("aria-describedby=\"email-error\""));
    assert!(html.contains(&format!("href=\"{first}\"")), "links to it");
    assert!(html.contains("value=\"Another Alan\""));

    // Globex is another tenant: the same address is free there.
    let globex = Member::sign_in(&app, "globex", "rep@globex.example").await;
    globex
        .create(
            "/contacts",
            &[("first_name", "Alan"), ("email", "alan@turing.example")],
        )
        .await;
    // ...and acme's contact is not there.
    let (status, _) = globex.page(&first).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_rep_cannot_reach_another_reps_contact_in_any_way() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep2 = Member::sign_in(&app, "acme", "rep2@acme.example").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let theirs = rep2
        .create(
            "/contacts",
            &[("first_name", "Hidden"), ("last_name", "Person")],
        )
        .await;
    rep.create(
        "/contacts",
        &[("first_name", "Visible"), ("last_name", "Person")],
    )
    .await;

    for path in [theirs.clone(), format!("{theirs}/edit")] {
        let (status, html) = rep.page(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!html.contains("Hidden"), "{path}");
    }
    for (path, form) in [
        (
            theirs.clone(),
            vec![("first_name", "Taken"), ("version", "1")],
        ),
        (format!("{theirs}/delete"), vec![]),
        (format!("{theirs}/restore"), vec![]),
        (
            format!("{theirs}/activities"),
            vec![("kind", "call"), ("description", "sneaky")],
        ),
    ] {
        let response = rep.submit(&path, &form).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    for path in ["/contacts", "/contacts?q=Person", "/contacts?q=hid"] {
        let (status, html) = rep.page(path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!html.contains("Hidden"), "{path}");
    }
    let (_, list) = rep.page("/contacts?q=Person").await;
    assert!(list.contains("Visible Person"));
    assert!(!list.contains("name=\"ids\""), "reps get no bulk selection");

    // rep2's contact is untouched, and the manager sees both.
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let (_, all) = manager.page("/contacts").await;
    assert!(all.contains("Hidden Person") && all.contains("Visible Person"));
}

#[tokio::test]
async fn a_deleted_contact_leaves_lists_and_searches_until_restored() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let path = rep
        .create(
            "/contacts",
            &[
                ("first_name", "Margaret"),
                ("last_name", "Hamilton"),
                ("email", "mh@apollo.example"),
            ],
        )
        .await;
    let deleted = rep.submit(&format!("{path}/delete"), &[]).await;
    assert_eq!(location(&deleted), format!("{path}?notice=deleted"));
    let (status, page) = rep.page(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("This contact is deleted") && page.contains("Restore contact"));
    for search in ["/contacts", "/contacts?q=Hamil", "/contacts?q=mh@apollo"] {
        let (_, html) = rep.page(search).await;
        assert!(!html.contains("Margaret Hamilton"), "{search}");
    }
    let (_, bin) = rep.page("/contacts?deleted=1").await;
    assert!(bin.contains("Margaret Hamilton") && bin.contains(&format!("{path}/restore")));

    // Meanwhile someone else took the address: restoring is refused, naming who has it.
    let other = rep
        .create(
            "/contacts",
            &[("first_name", "Impostor"), ("email", "mh@apollo.example")],
        )
        .await;
    let refused = rep.submit(&format!("{path}/restore"), &[]).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let html = refused.text().await.unwrap();
    assert!(html.contains("cannot be restored") && html.contains(&format!("href=\"{other}\"")));
    let removed = rep.submit(&format!("{other}/delete"), &[]).await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);

    let restored = rep.submit(&format!("{path}/restore"), &[]).await;
    assert_eq!(location(&restored), format!("{path}?notice=restored"));
    let (_, html) = rep.page("/contacts?q=Hamil").await;
    assert!(html.contains("Margaret Hamilton"));
}

#[tokio::test]
async fn logged_activities_show_on_the_timeline_newest_first() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let path = rep
        .create("/contacts", &[("first_name", "Katherine")])
        .await;

    let refused = rep
        .submit(
            &format!("{path}/activities"),
            &[
                ("kind", "telegram"),
                ("occurred_at", "yesterday"),
                ("description", "   "),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    for message in [
        "Choose call, email, meeting or note.",
        "“yesterday” is not a date and time",
        "Description is required.",
    ] {
        assert!(html.contains(message), "{message}");
    }
    assert!(html.contains("value=\"yesterday\""), "input kept");

    for (kind, at, text) in [
        ("call", "2026-01-10T09:30", "Discussed the\norbit numbers"),
        ("meeting", "2026-02-01T14:00", "<script>alert(1)</script>"),
    ] {
        let logged = rep
            .submit(
                &format!("{path}/activities"),
                &[("kind", kind), ("occurred_at", at), ("description", text)],
            )
            .await;
        assert_eq!(location(&logged), format!("{path}?notice=logged#timeline"));
    }
    let (_, page) = rep.page(&path).await;
    let meeting = page.find("2026-02-01 14:00").expect("the meeting");
    let call = page.find("2026-01-10 09:30").expect("the call");
    assert!(meeting < call, "newest first");
    assert!(
        page.contains("Discussed the\norbit numbers"),
        "line breaks kept"
    );
    assert!(
        page.contains("alert(1)") && !page.contains("<script>alert(1)"),
        "escaped"
    );
    assert!(page.contains("Rita Rep"), "the participant");

    // Deleting an activity takes it off the timeline.
    let activity = page
        .split("action=\"/activities/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let contact_id = path.trim_start_matches("/contacts/");
    let deleted = rep
        .submit(
            &format!("/activities/{activity}/delete"),
            &[("contact_id", contact_id)],
        )
        .await;
    assert_eq!(
        location(&deleted),
        format!("{path}?notice=activity_deleted#timeline")
    );
    let (_, page) = rep.page(&path).await;
    assert!(!page.contains("2026-02-01 14:00") && page.contains("2026-01-10 09:30"));
}

#[tokio::test]
async fn organizations_have_unique_names_a_parent_without_loops_and_their_contacts() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let refused = manager
        .submit(
            "/organizations",
            &[
                ("name", ""),
                ("website", "javascript:alert(1)"),
                ("size_band", "huge"),
                ("parent", "Nobody Holdings"),
                ("industry", "Rockets"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    for message in [
        "Name is required.",
        "is not a web address",
        "Choose one of the listed sizes.",
        "No organization named “Nobody Holdings”",
    ] {
        assert!(html.contains(message), "{message}");
    }
    assert!(html.contains("value=\"Rockets\""), "input kept");

    let parent = manager
        .create(
            "/organizations",
            &[("name", "Initech Holdings"), ("size_band", "5001+")],
        )
        .await;
    let child = manager
        .create(
            "/organizations",
            &[
                ("name", "Initech"),
                ("industry", "Software"),
                ("website", "initech.example"),
                ("parent", "initech holdings"),
            ],
        )
        .await;
    let duplicate = manager
        .submit("/organizations", &[("name", "INITECH")])
        .await;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);
    let html = duplicate.text().await.unwrap();
    assert!(html.contains("An organization named “INITECH” already exists"));
    assert!(html.contains("aria-describedby=\"name-error\""));

    let (_, page) = manager.page(&parent).await;
    assert!(page.contains("Subsidiaries") && page.contains(&format!("href=\"{child}\"")));
    let (_, page) = manager.page(&child).await;
    assert!(
        page.contains("https://initech.example/") && page.contains(&format!("href=\"{parent}\""))
    );

    // The holding cannot become its subsidiary's subsidiary.
    let (_, form) = manager.page(&format!("{parent}/edit")).await;
    let looped = manager
        .submit(
            &parent,
            &[
                ("name", "Initech Holdings"),
                ("parent", "Initech"),
                ("version", &version_in(&form)),
            ],
        )
        .await;
    assert_eq!(looped.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = looped.text().await.unwrap();
    assert!(html.contains("cannot be its own parent"));
    assert!(html.contains("aria-describedby=\"parent-error\""));

    // A contact names its organization, and shows on the organization's page.
    let contact = manager
        .create(
            "/contacts",
            &[
                ("first_name", "Peter"),
                ("last_name", "Gibbons"),
                ("organization", "initech"),
            ],
        )
        .await;
    let logged = manager
        .submit(
            &format!("{contact}/activities"),
            &[("kind", "meeting"), ("description", "TPS reports review")],
        )
        .await;
    assert_eq!(logged.status(), StatusCode::SEE_OTHER);
    let (_, page) = manager.page(&child).await;
    assert!(page.contains("Peter Gibbons") && page.contains(&format!("href=\"{contact}\"")));
    assert!(
        page.contains("TPS reports review") && page.contains("with <a href"),
        "the organization's timeline names the contact"
    );
    let organization_id = child.trim_start_matches("/organizations/");
    let (_, list) = manager
        .page(&format!("/contacts?organization={organization_id}"))
        .await;
    assert!(list.contains("Peter Gibbons") && list.contains("Contacts of"));

    // The list filters by prefix as you type.
    let (_, list) = manager.page("/organizations?q=initech%20h").await;
    assert!(list.contains("Initech Holdings") && !list.contains(&format!("href=\"{child}\"")));

    // A stale organization edit keeps the input.
    let (_, form) = manager.page(&format!("{child}/edit")).await;
    let version = version_in(&form);
    let first = manager
        .submit(
            &child,
            &[
                ("name", "Initech"),
                ("location", "Austin"),
                ("version", &version),
            ],
        )
        .await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let stale = manager
        .submit(
            &child,
            &[
                ("name", "Initech"),
                ("location", "Dallas"),
                ("version", &version),
            ],
        )
        .await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let html = stale.text().await.unwrap();
    assert!(html.contains("Austin") && html.contains("value=\"Dallas\""));

    // Reps neither see the delete button nor may delete; managers may.
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let (_, page) = rep.page(&child).await;
    assert!(!page.contains("Delete organization"));
    let refused = rep.submit(&format!("{child}/delete"), &[]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let (status, _) = rep.page("/organizations?deleted=1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let deleted = manager.submit(&format!("{child}/delete"), &[]).await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    let (_, list) = manager.page("/organizations").await;
    assert!(!list.contains(&format!("href=\"{child}\"")));
    let (_, bin) = manager.page("/organizations?deleted=1").await;
    assert!(bin.contains(&format!("{child}/restore")));
    let restored = manager.submit(&format!("{child}/restore"), &[]).await;
    assert_eq!(restored.status(), StatusCode::SEE_OTHER);
    let (_, list) = manager.page("/organizations").await;
    assert!(list.contains(&format!("href=\"{child}\"")));
}

#[tokio::test]
async fn a_manager_reassigns_contacts_in_bulk_and_a_rep_may_not() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let rep2 = Member::sign_in(&app, "acme", "rep2@acme.example").await;
    let mut ids = Vec::new();
    for name in ["Barbara", "Frances", "Radia"] {
        let path = rep.create("/contacts", &[("first_name", name)]).await;
        ids.push(path.trim_start_matches("/contacts/").to_owned());
    }

    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let (_, list) = manager.page("/contacts").await;
    assert!(list.contains("name=\"ids\"") && list.contains("action=\"/contacts/reassign\""));
    let rob = option_value(&list, "Rob Rep");

    let reassigned = manager
        .submit(
            "/contacts/reassign",
            &[
                ("ids", ids[0].as_str()),
                ("ids", ids[1].as_str()),
                ("owner", &rob),
            ],
        )
        .await;
    let back = location(&reassigned);
    assert_eq!(back, "/contacts?reassigned=2");
    let (_, list) = manager.page(&back).await;
    assert!(list.contains("2 contacts reassigned."));
    let (_, filtered) = manager.page(&format!("/contacts?owner={rob}")).await;
    assert!(
        filtered.contains("Barbara") && filtered.contains("Frances") && !filtered.contains("Radia")
    );

    let (_, theirs) = rep2.page("/contacts").await;
    assert!(theirs.contains("Barbara") && theirs.contains("Frances"));
    let (_, mine) = rep.page("/contacts").await;
    assert!(!mine.contains("Barbara") && mine.contains("Radia"));

    // A rep may not, not even their own contacts.
    let refused = rep
        .submit(
            "/contacts/reassign",
            &[("ids", ids[2].as_str()), ("owner", &rob)],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let (_, mine) = rep.page("/contacts").await;
    assert!(mine.contains("Radia"));
}

#[tokio::test]
async fn search_as_you_type_answers_htmx_with_rows_only_and_suggests_similar_names() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    for (first, last) in [
        ("Donald", "Knuth"),
        ("Dennis", "Ritchie"),
        ("Ken", "Thompson"),
    ] {
        rep.create("/contacts", &[("first_name", first), ("last_name", last)])
            .await;
    }
    let rows = rep
        .get(app.workspace_url("acme", "/contacts?q=d"))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(rows.status(), StatusCode::OK);
    assert_eq!(rows.headers()[header::VARY], "HX-Request");
    let html = rows.text().await.unwrap();
    assert!(!html.contains("<html"), "only the rows");
    assert!(html.contains("Donald Knuth") && html.contains("Dennis Ritchie"));
    assert!(!html.contains("Ken Thompson"));
    assert!(html.contains("id=\"contact-pager\" hx-swap-oob=\"true\""));

    let (_, page) = rep.page("/contacts?q=Tompson").await;
    assert!(page.contains("No contact starts with “Tompson”; similar names:"));
    assert!(page.contains("Ken Thompson"));
}

#[tokio::test]
async fn forms_without_the_sessions_token_are_refused() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let path = rep.create("/contacts", &[("first_name", "Linus")]).await;
    for (target, form) in [
        ("/contacts".to_owned(), vec![("first_name", "Forged")]),
        (format!("{path}/delete"), vec![]),
        (
            format!("{path}/activities"),
            vec![("kind", "note"), ("description", "forged")],
        ),
        ("/organizations".to_owned(), vec![("name", "Forged Ltd")]),
    ] {
        let response = rep.submit_as_is(&target, &form).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{target}");
        let mut with_wrong = form.clone();
        with_wrong.push(("csrf_token", "not-the-token"));
        let response = rep.submit_as_is(&target, &with_wrong).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{target}");
    }
    let (_, list) = rep.page("/contacts").await;
    assert!(list.contains("Linus") && !list.contains("Forged"));
}

#[tokio::test]
async fn older_activities_come_in_pages_and_htmx_gets_only_the_next_ones() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let path = rep.create("/contacts", &[("first_name", "Hedy")]).await;
    for day in 1..=26 {
        let at = format!("2026-01-{day:02}T10:00");
        let text = format!("Note number {day}");
        let logged = rep
            .submit(
                &format!("{path}/activities"),
                &[
                    ("kind", "note"),
                    ("occurred_at", &at),
                    ("description", &text),
                ],
            )
            .await;
        assert_eq!(logged.status(), StatusCode::SEE_OTHER);
    }
    let (_, page) = rep.page(&path).await;
    assert!(page.contains("Note number 26") && page.contains("Note number 2<"));
    assert!(
        !page.contains("Note number 1<"),
        "the 26th is on the next page"
    );
    assert!(
        !page.contains("<script>") && !page.contains(" style="),
        "nothing inline that the CSP would block"
    );
    let older = page
        .split("hx-get=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|url| url.contains("after="))
        .expect("an Older activities link")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(older.starts_with(&format!("{path}?after=")), "{older}");
    let html = rep.htmx_get(&older).await;
    assert!(!html.contains("<html") && html.contains("Note number 1<"));
    assert!(!html.contains("Note number 2<"));
    assert!(html.contains("id=\"timeline-pager\" hx-swap-oob=\"true\""));
    assert!(!html.contains("hx-get"), "nothing older left");

    // A cursor that is not one (an edited address) is the first page, like any junk in a
    // page's query; so is one from another list.
    let by_name = Cursor::text("hedy".to_owned(), uuid::Uuid::nil()).to_string();
    for after in ["not-a-cursor", &uuid::Uuid::nil().to_string(), &by_name] {
        let (status, page) = rep.page(&format!("{path}?after={after}")).await;
        assert_eq!(status, StatusCode::OK, "{after}");
        assert!(page.contains("Note number 26"), "{after}");
    }
}

#[tokio::test]
async fn an_id_in_a_path_that_is_not_one_is_the_not_found_page() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let gets = [
        "/contacts/not-an-id",
        "/contacts/42/edit",
        "/organizations/x",
        "/organizations/x/edit",
    ];
    let posts = [
        "/contacts/x",
        "/contacts/x/delete",
        "/contacts/x/restore",
        "/contacts/x/activities",
        "/activities/x/delete",
        "/organizations/x",
        "/organizations/x/delete",
        "/organizations/x/restore",
        "/settings/fields/x/archive",
    ];
    let requests = gets
        .iter()
        .map(|path| admin.get(app.workspace_url("acme", path)))
        .chain(posts.iter().map(|path| {
            admin
                .post(app.workspace_url("acme", path))
                .form(&[("csrf_token", admin.csrf.as_str())])
        }));
    for (request, path) in requests.zip(gets.iter().chain(&posts)) {
        let response = request
            .header(header::ACCEPT, "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("<h1>Not found</h1>"), "{path}");
    }
}

#[tokio::test]
async fn custom_fields_appear_on_the_forms_are_checked_and_kept_by_edits() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    for (entity, label, kind, options) in [
        ("contact", "Seats", "number", ""),
        ("contact", "Tier", "select", "Gold\nSilver"),
        ("organization", "Founded", "date", ""),
    ] {
        let defined = admin
            .submit(
                "/settings/fields",
                &[
                    ("entity", entity),
                    ("label", label),
                    ("kind", kind),
                    ("options", options),
                ],
            )
            .await;
        assert_eq!(defined.status(), StatusCode::SEE_OTHER, "{label}");
    }

    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let (_, form) = rep.page("/contacts/new").await;
    assert!(
        form.contains(r#"name="custom_fields.seats" type="number""#),
        "{form}"
    );
    assert!(form.contains(r#"<option>Gold</option>"#), "{form}");

    // A bad value is refused at its input, and everything typed comes back.
    let refused = rep
        .submit(
            "/contacts",
            &[
                ("first_name", "Quinn"),
                ("custom_fields.seats", "a dozen"),
                ("custom_fields.tier", "Gold"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Seats must be a number"), "{html}");
    assert!(html.contains(r#"value="a dozen""#), "{html}");
    assert!(html.contains("<option selected>Gold</option>"), "{html}");

    let path = rep
        .create(
            "/contacts",
            &[
                ("first_name", "Quinn"),
                ("custom_fields.seats", "12"),
                ("custom_fields.tier", "Gold"),
            ],
        )
        .await;
    let (_, page) = rep.page(&path).await;
    assert!(
        page.contains("<dt>Seats</dt><dd class=\"wrap\">12</dd>"),
        "{page}"
    );
    assert!(
        page.contains("<dt>Tier</dt><dd class=\"wrap\">Gold</dd>"),
        "{page}"
    );

    // The edit form shows the values; clearing one input clears only that value.
    let (_, edit) = rep.page(&format!("{path}/edit")).await;
    assert!(edit.contains(r#"value="12""#), "{edit}");
    let saved = rep
        .submit(
            &path,
            &[
                ("first_name", "Quinn"),
                ("version", &version_in(&edit)),
                ("custom_fields.seats", ""),
                ("custom_fields.tier", "Gold"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (_, page) = rep.page(&path).await;
    assert!(
        page.contains("<dt>Seats</dt><dd class=\"wrap\">Not given</dd>"),
        "{page}"
    );
    assert!(
        page.contains("<dt>Tier</dt><dd class=\"wrap\">Gold</dd>"),
        "{page}"
    );

    // Organizations have their own fields.
    let (_, form) = rep.page("/organizations/new").await;
    assert!(
        form.contains(r#"name="custom_fields.founded" type="date""#),
        "{form}"
    );
    assert!(!form.contains("custom_fields.seats"), "{form}");
    let path = rep
        .create(
            "/organizations",
            &[
                ("name", "Old Mill Ltd"),
                ("custom_fields.founded", "1899-10-01"),
            ],
        )
        .await;
    let (_, page) = rep.page(&path).await;
    assert!(
        page.contains("<dt>Founded</dt><dd class=\"wrap\">1899-10-01</dd>"),
        "{page}"
    );
}

#[tokio::test]
async fn the_organization_list_filters_by_size_and_sorts_by_last_change() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    // Created in this order: by name Aardvark comes first, by last change Beta.
    for (name, size) in [("Aardvark Tiny", "1-10"), ("Beta Big", "5001+")] {
        manager
            .create("/organizations", &[("name", name), ("size_band", size)])
            .await;
    }
    let (status, html) = manager.page("/organizations?size=1-10&sort=recent").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Aardvark Tiny"), "{html}");
    assert!(!html.contains("Beta Big"), "other sizes are filtered out");
    assert!(html.contains(r#"<option value="1-10" selected>"#), "{html}");
    assert!(
        html.contains(r#"<option value="recent" selected>"#),
        "{html}"
    );
    assert!(html.contains("most recently changed first"));

    let position = |html: &str, name: &str| html.find(name).unwrap();
    let (_, recent) = manager.page("/organizations?sort=recent").await;
    assert!(position(&recent, "Beta Big") < position(&recent, "Aardvark Tiny"));
    // An unknown sort (an edited URL) is the default, by name.
    let (_, by_name) = manager.page("/organizations?sort=sideways").await;
    assert!(position(&by_name, "Aardvark Tiny") < position(&by_name, "Beta Big"));
}

#[tokio::test]
async fn the_contact_list_sorts_by_last_change_and_keeps_the_choice() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    // Created in this order: by last name Able comes first, by last change Zorro.
    for last in ["Able", "Zorro"] {
        rep.create("/contacts", &[("first_name", "Sam"), ("last_name", last)])
            .await;
    }
    let position = |html: &str, name: &str| html.find(name).unwrap();
    let (_, by_name) = rep.page("/contacts").await;
    assert!(position(&by_name, "Sam Able") < position(&by_name, "Sam Zorro"));
    let (_, recent) = rep.page("/contacts?sort=recent").await;
    assert!(position(&recent, "Sam Zorro") < position(&recent, "Sam Able"));
    assert!(
        recent.contains(r#"<option value="recent" selected>"#),
        "{recent}"
    );
    assert!(recent.contains("most recently changed first"));
}
