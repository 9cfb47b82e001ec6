//! A workspace's team: invitations (journey 1, steps 10-11), roles, deactivation.

use aura_platform::demo::DEMO_PASSWORD;
use reqwest::{header, Client, Response, StatusCode};

use crate::helpers::{
    audit_actions, audit_changes_on, audit_trail, csrf_token, emailed_code,
    unreachable_mail_server, user_id, Member, TestApp,
};

async fn invite(admin: &Member<'_>, email: &str, role: &str) -> Response {
    admin
        .submit("/members/invitations", &[("email", email), ("role", role)])
        .await
}

/// The invitation link shown on the members page after inviting.
fn link_in(html: &str) -> String {
    html.split("class=\"copyable\" readonly value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an invitation link on the page")
        .to_owned()
}

async fn accept(app: &TestApp, link: &str, fields: &[(&str, &str)]) -> (Client, Response) {
    let invitee = app.browser();
    let page = invitee.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200, "{link}");
    let token = csrf_token(&page.text().await.unwrap());
    let mut form = fields.to_vec();
    form.push(("csrf_token", &token));
    let response = invitee.post(link).form(&form).send().await.unwrap();
    (invitee, response)
}

#[tokio::test]
async fn an_admin_invites_a_new_rep_who_joins_once() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let (status, members) = admin.page("/members").await;
    assert_eq!(status, 200);
    assert!(members.contains("4 members"));

    let invited = invite(&admin, "nina@acme.example", "sales_rep").await;
    assert_eq!(invited.status(), StatusCode::OK);
    let html = invited.text().await.unwrap();
    let link = link_in(&html);
    assert!(
        link.starts_with(&app.workspace_url("acme", "/invitations/")),
        "{link}"
    );
    assert!(
        html.contains("nina@acme.example as Sales Rep"),
        "listed as open"
    );
    let message: String = sqlx::query_scalar(
        "select body_text from email_outbox where to_address = 'nina@acme.example'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert!(message.contains(&link), "the outbox holds the same link");
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from invitations")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert!(!link.contains(&String::from_utf8_lossy(&stored).to_string()) && stored.len() == 32);

    let (invitee, joined) = accept(
        &app,
        &link,
        &[
            ("display_name", "Nina New"),
            ("password", "nina's long passphrase"),
        ],
    )
    .await;
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    let home = invitee
        .get(app.workspace_url("acme", "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("Welcome, Nina New") && home.contains("as Sales Rep"),
        "{home}"
    );

    let reused = app
        .client
        .get(&link)
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        reused.status(),
        StatusCode::GONE,
        "an invitation works once"
    );
    assert!(reused
        .text()
        .await
        .unwrap()
        .contains("This invitation cannot be used"));

    assert_eq!(
        audit_actions(&db, "member.%").await,
        ["member.invited", "member.joined"]
    );
}

#[tokio::test]
async fn someone_with_an_account_joins_with_their_password() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let html = invite(
        &admin,
        "gus@globex.example".replace("gus", "manager").as_str(),
        "manager",
    )
    .await
    .text()
    .await
    .unwrap();
    let link = link_in(&html);
    let form = app
        .client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The same page as for an email without an account: the link may be in other hands.
    assert!(form.contains("If this email already has an Aura account"));
    let new_email_form = app
        .client
        .get(link_in(
            &invite(&admin, "nobody-yet@acme.example", "manager")
                .await
                .text()
                .await
                .unwrap(),
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let normalise = |html: &str| {
        let secret = html
            .split("/invitations/")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let csrf = csrf_token(html);
        html.replace(secret, "SECRET")
            .replace(&csrf, "CSRF")
            .replace("manager@globex.example", "EMAIL")
            .replace("nobody-yet@acme.example", "EMAIL")
    };
    assert_eq!(normalise(&form), normalise(&new_email_form));

    let (_, wrong) = accept(&app, &link, &[("password", "not it")]).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (member, joined) = accept(&app, &link, &[("password", DEMO_PASSWORD)]).await;
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    let home = member
        .get(app.workspace_url("acme", "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Welcome, Gus Manager") && home.contains("Acme Corporation as Manager"));
    let workspaces: i64 = sqlx::query_scalar(
        "select count(*) from tenant_members m join users u on u.id = m.user_id where u.email = 'manager@globex.example'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(workspaces, 2, "one account, two workspaces");
}

#[tokio::test]
async fn invitations_are_refused_when_they_should_be() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    for (email, status, message) in [
        (
            "not-an-email",
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter an email address",
        ),
        ("rep@acme.example", StatusCode::CONFLICT, "already a member"),
    ] {
        let response = invite(&admin, email, "sales_rep").await;
        assert_eq!(response.status(), status, "{email}");
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{email}");
        assert!(
            html.contains(&format!("value=\"{email}\"")),
            "{email}: input lost"
        );
    }
    let first = invite(&admin, "sam@acme.example", "manager").await;
    let link = link_in(&first.text().await.unwrap());
    let again = invite(&admin, "SAM@acme.example", "manager").await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // Expired: a week has passed.
    sqlx::query("update invitations set created_at = now() - interval '8 days', expires_at = now() - interval '1 day'")
        .execute(&db.owner)
        .await
        .unwrap();
    assert_eq!(
        app.client.get(&link).send().await.unwrap().status(),
        StatusCode::GONE
    );
    // A made-up link, and one of this workspace used on another.
    let forged = app.workspace_url("acme", "/invitations/not-a-secret");
    assert_eq!(
        app.client.get(&forged).send().await.unwrap().status(),
        StatusCode::GONE
    );
    let elsewhere = link.replace("acme.localhost", "globex.localhost");
    assert_eq!(
        app.client.get(&elsewhere).send().await.unwrap().status(),
        StatusCode::GONE
    );

    // Only admins invite; reps do not even see the team.
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let (status, page) = manager.page("/members").await;
    assert_eq!(status, 200);
    assert!(!page.contains("Send invitation"));
    let refused = invite(&manager, "x@acme.example", "admin").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let (status, _) = rep.page("/members").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admins_change_roles_and_deactivate_members_with_an_audit_trail() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let rep_id = user_id(&db, "rep@acme.example").await;

    let promoted = admin
        .submit(&format!("/members/{rep_id}/role"), &[("role", "manager")])
        .await;
    assert_eq!(promoted.status(), StatusCode::SEE_OTHER);
    // The rep's open session carries the new role at once.
    let (_, home) = rep.page("/").await;
    assert!(home.contains("as Manager"), "{home}");

    let deactivated = admin
        .submit(&format!("/members/{rep_id}/deactivate"), &[])
        .await;
    assert_eq!(deactivated.status(), StatusCode::SEE_OTHER);
    let (status, _) = rep.page("/").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "deactivation ends the session at once"
    );
    let (_, listed) = admin.page("/members").await;
    assert!(listed.contains("Deactivated") && listed.contains("Reactivate"));

    let reactivated = admin
        .submit(&format!("/members/{rep_id}/reactivate"), &[])
        .await;
    assert_eq!(reactivated.status(), StatusCode::SEE_OTHER);
    Member::sign_in(&app, "acme", "rep@acme.example").await;

    let actions: Vec<String> = audit_trail(&db, &rep_id.to_string())
        .await
        .into_iter()
        .map(|(action, _)| action)
        .collect();
    assert_eq!(
        actions,
        [
            "member.role_changed",
            "member.deactivated",
            "member.reactivated"
        ]
    );
    let (before, after) = audit_changes_on(&db, "member.role_changed", &rep_id.to_string())
        .await
        .remove(0);
    assert_eq!(
        (before["role"].as_str(), after["role"].as_str()),
        (Some("sales_rep"), Some("manager"))
    );

    // Refusals: one's own account, the last admin, a forged token, a non-admin.
    let admin_id = user_id(&db, "admin@acme.example").await;
    let own = admin
        .submit(
            &format!("/members/{admin_id}/role"),
            &[("role", "sales_rep")],
        )
        .await;
    assert_eq!(own.status(), StatusCode::FORBIDDEN);
    let forged = admin
        .submit_as_is(
            &format!("/members/{rep_id}/deactivate"),
            &[("csrf_token", "forged")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let by_manager = manager
        .submit(&format!("/members/{admin_id}/deactivate"), &[])
        .await;
    assert_eq!(by_manager.status(), StatusCode::FORBIDDEN);
    // Promote the manager to admin, then the admin may not be demoted by... the only other admin
    // demoting the first leaves one; demoting both is refused at the last.
    let manager_id = user_id(&db, "manager@acme.example").await;
    let promote = admin
        .submit(&format!("/members/{manager_id}/role"), &[("role", "admin")])
        .await;
    assert_eq!(promote.status(), StatusCode::SEE_OTHER);
    let demote_first = manager
        .submit(&format!("/members/{admin_id}/role"), &[("role", "manager")])
        .await;
    assert_eq!(demote_first.status(), StatusCode::SEE_OTHER);
    let admins: i64 = sqlx::query_scalar(
        "select count(*) from tenant_members m join tenants t on t.id = m.tenant_id
         where t.slug = 'acme' and m.role = 'admin' and m.deactivated_at is null",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(admins, 1, "there is always an admin");
}

#[tokio::test]
async fn removing_a_member_needs_a_fresh_one_time_code() {
    let (app, db) = TestApp::builder()
        .mailer(unreachable_mail_server())
        .demo()
        .spawn()
        .await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let rep_id = user_id(&db, "rep@acme.example").await;
    let rep2_id = user_id(&db, "rep2@acme.example").await;
    sqlx::query(
        "insert into contacts (tenant_id, first_name, assigned_to)
         select tenant_id, 'Kept', user_id from tenant_members where user_id = $1",
    )
    .bind(rep_id)
    .execute(&db.owner)
    .await
    .unwrap();
    let remove = |target: uuid::Uuid, code: String| {
        let admin = &admin;
        async move {
            admin
                .submit(
                    &format!("/members/{target}/remove"),
                    &[("code", code.as_str())],
                )
                .await
        }
    };
    let ask_code = |target: uuid::Uuid| {
        let admin = &admin;
        let db = &db;
        async move {
            let page = admin
                .submit(&format!("/members/{target}/remove/code"), &[])
                .await
                .text()
                .await
                .unwrap();
            assert!(page.contains("on its way to your email"), "{page}");
            let code = emailed_code(db).await;
            assert!(!page.contains(&code), "the code is never on the page");
            code
        }
    };

    let without = remove(rep_id, "123456".into()).await;
    assert_eq!(without.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(without.text().await.unwrap().contains("no usable code"));

    let code = ask_code(rep_id).await;
    // Bound to its target: it does not remove someone else.
    assert_eq!(
        remove(rep2_id, code.clone()).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let response = remove(rep_id, wrong.into()).await;
    assert!(response.text().await.unwrap().contains("not right"));
    assert_eq!(
        remove(rep_id, code.clone()).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        remove(rep_id, code).await.status(),
        StatusCode::NOT_FOUND,
        "gone, and the code is spent"
    );

    assert_eq!(rep.page("/").await.0, StatusCode::SEE_OTHER);
    let still_user: i64 = sqlx::query_scalar("select count(*) from users where id = $1")
        .bind(rep_id)
        .fetch_one(&db.owner)
        .await
        .unwrap();
    let [(removed, handed_on)] =
        &audit_changes_on(&db, "member.removed", &rep_id.to_string()).await[..]
    else {
        panic!("the removal is audited once");
    };
    assert_eq!(still_user, 1, "the account stays; only the membership goes");
    assert_eq!(removed["email"], "rep@acme.example");
    // Their contacts pass to the admin who removed them (an owner is always a member).
    let (theirs, admins): (i64, i64) = sqlx::query_as(
        "select (select count(*) from contacts where assigned_to = $1),
                (select count(*) from contacts c join users u on u.id = c.assigned_to
                 where u.email = 'admin@acme.example')",
    )
    .bind(rep_id)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(theirs, 0);
    let handed_on = handed_on["contacts_reassigned_to_remover"]
        .as_i64()
        .unwrap();
    assert_eq!((handed_on, admins), (1, 1));

    // Five wrong guesses use a code up.
    let code = ask_code(rep2_id).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..aura_platform::step_up::MAX_ATTEMPTS {
        remove(rep2_id, wrong.into()).await;
    }
    let late = remove(rep2_id, code).await;
    assert!(late.text().await.unwrap().contains("no usable code"));

    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    let (status, _) = manager.page(&format!("/members/{rep2_id}/remove")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Without a mail server no code can reach the admin, and one shown on the page would be
/// handed to whoever holds the session: the admin gives their password again instead.
#[tokio::test]
async fn without_a_mail_server_removing_a_member_needs_the_admins_password_again() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let rep_id = user_id(&db, "rep@acme.example").await;
    let path = format!("/members/{rep_id}/remove");

    let (_, page) = admin.page(&path).await;
    assert!(page.contains("name=\"password\""), "{page}");
    assert!(!page.contains("Email me a"), "no code is offered: {page}");
    // Asking for a code anyway issues none, and nothing is shown.
    let asked = admin.submit(&format!("{path}/code"), &[]).await;
    assert_eq!(asked.status(), StatusCode::NOT_FOUND);
    let codes: i64 = sqlx::query_scalar("select count(*) from step_up_codes")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(codes, 0, "no code was issued");

    // A wrong password is refused and counts toward the admin's lockout.
    let wrong = admin
        .submit(&path, &[("password", "not my password at all")])
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text().await.unwrap().contains("not your password"));
    let admin_failures = "select coalesce(sum(f.failures), 0)::int4 from login_failures f
                          join users u on u.id = f.user_id where u.email = 'admin@acme.example'";
    let failures: i32 = sqlx::query_scalar(admin_failures)
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(failures, 1);
    // A code is no proof here, not even with the password field missing.
    let by_code = admin.submit(&path, &[("code", "123456")]).await;
    assert_eq!(by_code.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let done = admin.submit(&path, &[("password", DEMO_PASSWORD)]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let members: i64 = sqlx::query_scalar("select count(*) from tenant_members where user_id = $1")
        .bind(rep_id)
        .fetch_one(&db.owner)
        .await
        .unwrap();
    let failures: i32 = sqlx::query_scalar(admin_failures)
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(members, 0, "removed");
    assert_eq!(failures, 0, "the right password resets the count");
}
