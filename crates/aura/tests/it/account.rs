//! Journey 1, steps 1-2 on the apex: signing up before any workspace exists, the waiting page,
//! operators' view of the requests, and the refusals around them.

use reqwest::{header, Client, Response, StatusCode};

use aura_platform::db::testing::TestDatabase;

use crate::helpers::{
    audit_actions_in, csrf_token, location, verification_link, Host, Member, TestApp,
    TEST_PLATFORM_API_KEY,
};

const PASSWORD: &str = "a long enough passphrase";

async fn signup_form_token(app: &TestApp, browser: &Client) -> String {
    let page = browser.get(app.url("/signup")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    csrf_token(&page.text().await.unwrap())
}

/// Submits the signup form: answered at once, the same whether or not the email is new.
async fn submit_signup(app: &TestApp, browser: &Client, fields: [(&str, &str); 4]) -> Response {
    let token = signup_form_token(app, browser).await;
    let mut form = fields.to_vec();
    form.push(("csrf_token", &token));
    browser
        .post(app.url("/signup"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Signs up and opens the emailed link in the same browser, which verifies the email and
/// signs in: the link's answer.
async fn sign_up(
    app: &TestApp,
    db: &TestDatabase,
    browser: &Client,
    fields: [(&str, &str); 4],
) -> Response {
    let sent = submit_signup(app, browser, fields).await;
    assert_eq!(sent.status(), StatusCode::OK);
    assert!(sent.text().await.unwrap().contains("Check your email"));
    let link = verification_link(db, fields[1].1).await;
    browser.get(link).send().await.unwrap()
}

fn pat() -> [(&'static str, &'static str); 4] {
    [
        ("display_name", "Pat Prospect"),
        ("email", "pat@newco.example"),
        ("company_name", "NewCo Ltd"),
        ("password", PASSWORD),
    ]
}

#[tokio::test]
async fn a_prospect_signs_up_and_waits_with_no_workspace() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let browser = app.browser();
    let created = sign_up(&app, &db, &browser, pat()).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&created), "/account");

    let account = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(account.status(), 200);
    let html = account.text().await.unwrap();
    assert!(html.contains("Hello, Pat Prospect"));
    assert!(
        html.contains("NewCo Ltd") && html.contains("Awaiting contract"),
        "{html}"
    );
    assert!(
        !html.contains("Acme") && !html.contains("Globex"),
        "a prospect sees nothing of any tenant"
    );

    // Two statements: on Citus a subquery may not correlate with the (reference) users table.
    let (pat, status): (uuid::Uuid, String) = sqlx::query_as(
        "select u.id, s.status::text
         from users u join signups s on s.user_id = u.id where u.email = 'pat@newco.example'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    let memberships: i64 =
        sqlx::query_scalar("select count(*) from tenant_members where user_id = $1")
            .bind(pat)
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!((memberships, status.as_str()), (0, "prospect"));

    // A pre-tenant user has no workspace to enter.
    let token = {
        let page = browser
            .get(app.workspace_url("acme", "/login"))
            .send()
            .await
            .unwrap();
        csrf_token(&page.text().await.unwrap())
    };
    let refused = browser
        .post(app.workspace_url("acme", "/login"))
        .form(&[
            ("email", "pat@newco.example"),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let pat = Member::from_browser(&app, Host::Apex, browser.clone()).await;
    let signed_out = pat.submit("/logout", &[]).await;
    assert_eq!(location(&signed_out), "/login?signed_out=1");
    let after = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&after), "/login");
}

#[tokio::test]
async fn signup_names_each_problem_and_keeps_what_was_typed_but_the_password() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let browser = app.browser();
    let blank = submit_signup(
        &app,
        &browser,
        [
            ("display_name", ""),
            ("email", ""),
            ("company_name", ""),
            ("password", ""),
        ],
    )
    .await;
    assert_eq!(blank.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = blank.text().await.unwrap();
    for message in [
        "Enter your name.",
        "Enter your work email address.",
        "Enter your company",
        "Use at least 12 characters",
    ] {
        assert!(html.contains(message), "missing {message:?}");
    }

    let bad = submit_signup(
        &app,
        &browser,
        [
            ("display_name", "Pat"),
            ("email", "pat-at-newco"),
            ("company_name", "NewCo <b>Ltd</b>"),
            ("password", "short"),
        ],
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text().await.unwrap();
    assert!(html.contains("value=\"Pat\"") && html.contains("value=\"pat-at-newco\""));
    assert!(
        html.contains("NewCo &#60;b&#62;Ltd&#60;/b&#62;")
            || html.contains("NewCo &lt;b&gt;Ltd&lt;/b&gt;"),
        "markup must be escaped"
    );
    assert!(
        !html.contains("value=\"short\""),
        "the password is never sent back"
    );
    assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"email-error\""));

    // An expired form keeps everything typed too.
    let expired = browser
        .post(app.url("/signup"))
        .form(&[
            ("display_name", "Pat"),
            ("email", "pat@newco.example"),
            ("company_name", "NewCo"),
            ("password", PASSWORD),
            ("csrf_token", "stale"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::FORBIDDEN);
    let html = expired.text().await.unwrap();
    assert!(html.contains("This form had expired") && html.contains("value=\"pat@newco.example\""));
}

#[tokio::test]
async fn an_email_signs_up_once_and_the_answer_does_not_tell() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    assert_eq!(
        sign_up(&app, &db, &app.browser(), pat()).await.status(),
        StatusCode::SEE_OTHER
    );
    let mut again = pat();
    again[1] = ("email", "PAT@NewCo.example");
    let taken = submit_signup(&app, &app.browser(), again).await;
    let mut fresh = pat();
    fresh[1] = ("email", "sam@newco.example");
    let new = submit_signup(&app, &app.browser(), fresh).await;
    assert_eq!(
        (taken.status(), new.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    let taken = taken.text().await.unwrap();
    assert_eq!(
        taken.replace("PAT@NewCo.example", "EMAIL"),
        new.text()
            .await
            .unwrap()
            .replace("sam@newco.example", "EMAIL"),
        "the same answer for a new email and one with an account"
    );
    verification_link(&db, "sam@newco.example").await;
    let (accounts, messages): (i64, i64) = sqlx::query_as(
        "select (select count(*) from users where email_norm = 'pat@newco.example'),
                (select count(*) from email_outbox where lower(to_address) = 'pat@newco.example')",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!((accounts, messages), (1, 1), "one account, one message");
}

#[tokio::test]
async fn a_request_is_activated_only_once_its_email_is_verified() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let pat_browser = app.browser();
    submit_signup(&app, &pat_browser, pat()).await;
    let link = verification_link(&db, "pat@newco.example").await;
    let id = signup_id(&db, "pat@newco.example").await;
    let ops = Member::operator(&app).await;
    let signed = ops
        .submit(&format!("/account/requests/{id}/contract-signed"), &[])
        .await;
    assert_eq!(location(&signed), "/account");
    let (_, queue) = ops.page("/account").await;
    assert!(queue.contains("Email not verified yet"));
    let refused = ops
        .submit(
            &format!("/account/requests/{id}/activate"),
            &activation_form("newco"),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(refused.text().await.unwrap().contains("has not confirmed"));

    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from email_verifications v join users u on u.id = v.user_id where u.email = 'pat@newco.example'")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32, "only the link's hash is kept");
    let forged = format!("{}x", link.trim_end_matches(|c: char| c != '.'));
    assert_eq!(
        pat_browser.get(&forged).send().await.unwrap().status(),
        StatusCode::GONE
    );
    let verified = pat_browser.get(&link).send().await.unwrap();
    assert_eq!(location(&verified), "/account", "the link signs in");
    assert_eq!(
        pat_browser.get(&link).send().await.unwrap().status(),
        StatusCode::GONE,
        "once"
    );
    let activated = ops
        .submit(
            &format!("/account/requests/{id}/activate"),
            &activation_form("newco"),
        )
        .await;
    assert_eq!(activated.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn operators_see_every_request_and_prospects_only_their_own() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    assert_eq!(
        sign_up(&app, &db, &app.browser(), pat()).await.status(),
        StatusCode::SEE_OTHER
    );
    let quinn = [
        ("display_name", "Quinn"),
        ("email", "quinn@other.example"),
        ("company_name", "Other Inc"),
        ("password", PASSWORD),
    ];
    let quinn_browser = app.browser();
    assert_eq!(
        sign_up(&app, &db, &quinn_browser, quinn).await.status(),
        StatusCode::SEE_OTHER
    );
    let quinn_page = quinn_browser
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(quinn_page.contains("Other Inc") && !quinn_page.contains("NewCo"));

    let (_, html) = Member::operator(&app).await.page("/account").await;
    assert!(html.contains("Workspace requests") && html.contains("Platform operator"));
    assert!(
        html.contains("NewCo Ltd")
            && html.contains("Other Inc")
            && html.contains("quinn@other.example")
    );
}

#[tokio::test]
async fn apex_and_workspace_sessions_do_not_open_each_other() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let browser = app.browser();
    let created = sign_up(&app, &db, &browser, pat()).await;
    let apex_cookie = created
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.strip_prefix("aura_apex_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .next()
        .expect("an apex session cookie");

    // Presented to a workspace, under either cookie name: not a session there.
    for cookie in [
        format!("aura_session={apex_cookie}"),
        format!("aura_apex_session={apex_cookie}"),
    ] {
        let response = app
            .client
            .get(app.workspace_url("acme", "/"))
            .header(header::COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/login");
    }
    // A forged user id with a real secret opens nothing either.
    let secret = apex_cookie.split_once('.').unwrap().1;
    let forged = format!("aura_apex_session={}.{secret}", uuid::Uuid::new_v4());
    let response = app
        .client
        .get(app.url("/account"))
        .header(header::COOKIE, forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

async fn signup_id(db: &aura_platform::db::testing::TestDatabase, email: &str) -> uuid::Uuid {
    sqlx::query_scalar(
        "select s.id from signups s join users u on u.id = s.user_id where u.email = $1",
    )
    .bind(email)
    .fetch_one(&db.owner)
    .await
    .unwrap()
}

fn activation_form(slug: &str) -> Vec<(&str, &str)> {
    vec![
        ("slug", slug),
        ("company_name", "NewCo Ltd"),
        ("industry", "Software"),
        ("timezone", "Europe/Berlin"),
        ("currency", "eur"),
    ]
}

#[tokio::test]
async fn journey_one_from_signup_to_the_new_admin_in_their_workspace() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let pat_browser = app.browser();
    assert_eq!(
        sign_up(&app, &db, &pat_browser, pat()).await.status(),
        StatusCode::SEE_OTHER
    );
    let id = signup_id(&db, "pat@newco.example").await;
    let ops = Member::operator(&app).await;
    let activate = format!("/account/requests/{id}/activate");

    // Approval needs a signed contract first.
    let early = ops.submit(&activate, &activation_form("newco")).await;
    assert_eq!(early.status(), StatusCode::CONFLICT);

    let signed = ops
        .submit(&format!("/account/requests/{id}/contract-signed"), &[])
        .await;
    assert_eq!(location(&signed), "/account");
    let pat_page = pat_browser
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(pat_page.contains("Contract signed, awaiting activation"));

    let (_, html) = ops.page(&activate).await;
    assert!(
        html.contains("value=\"newco-ltd\""),
        "a slug is suggested from the company name"
    );

    // Refusals keep the operator's input.
    for (slug, status, message) in [
        (
            "acme",
            StatusCode::CONFLICT,
            "acme is already another workspace",
        ),
        ("www", StatusCode::UNPROCESSABLE_ENTITY, "`www` is reserved"),
        (
            "New Co",
            StatusCode::UNPROCESSABLE_ENTITY,
            "only lowercase letters",
        ),
    ] {
        let refused = ops.submit(&activate, &activation_form(slug)).await;
        assert_eq!(refused.status(), status, "{slug}");
        let html = refused.text().await.unwrap();
        assert!(html.contains(message), "{slug}: {message}");
        assert!(html.contains("value=\"Software\""), "{slug}: input lost");
    }
    let mut bad_zone = activation_form("newco");
    bad_zone[3] = ("timezone", "Mars/Olympus");
    let refused = ops.submit(&activate, &bad_zone).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let tenants: i64 = sqlx::query_scalar("select count(*) from tenants")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(tenants, 2, "a refused activation leaves nothing behind");

    let activated = ops.submit(&activate, &activation_form("newco")).await;
    assert_eq!(activated.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&activated), "/account?activated=newco");
    let (_, notice) = ops.page("/account?activated=newco").await;
    assert!(notice.contains(&format!(
        "is live at <a href=\"http://newco.localhost:{}/\"",
        app.port
    )));

    // What provisioning created, in one transaction.
    let (name, currency, timezone, industry): (String, String, String, String) = sqlx::query_as(
        "select name, currency, timezone, industry from tenants where slug = 'newco'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        (
            name.as_str(),
            currency.as_str(),
            timezone.as_str(),
            industry.as_str()
        ),
        ("NewCo Ltd", "EUR", "Europe/Berlin", "Software")
    );
    let admin: String = sqlx::query_scalar(
        "select u.email from tenant_members m join tenants t on t.id = m.tenant_id join users u on u.id = m.user_id
         where t.slug = 'newco' and m.role = 'admin'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(admin, "pat@newco.example");
    let stages: Vec<(String, i32, String, String)> = sqlx::query_as(
        "select s.name, s.position, s.outcome::text, s.win_probability::text
         from deal_stages s join sales_processes p on (p.tenant_id, p.id) = (s.tenant_id, s.process_id)
         join tenants t on t.id = p.tenant_id
         where t.slug = 'newco' and p.name = 'Sales' and p.is_default order by s.position",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "Prospect",
            "Qualified",
            "Proposal",
            "Negotiation",
            "Won",
            "Lost"
        ]
    );
    assert_eq!(
        (stages[4].2.as_str(), stages[4].3.to_string().as_str()),
        ("won", "100.00")
    );
    let products: i64 = sqlx::query_scalar(
        "select count(*) from products p join tenants t on t.id = p.tenant_id where t.slug = 'newco' and p.active",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(products, 4);
    let mut audited = audit_actions_in(&db, "newco", "%").await;
    let on_the_platform: Vec<String> =
        sqlx::query_scalar("select action from platform_audit_log where entity_id = $1")
            .bind(id)
            .fetch_all(&db.owner)
            .await
            .unwrap();
    audited.extend(on_the_platform);
    audited.sort();
    assert_eq!(
        audited,
        [
            "signup.activated",
            "signup.contract_signed",
            "tenant.provisioned"
        ]
    );

    // A second approval of the same request is refused.
    let again = ops.submit(&activate, &activation_form("newco-two")).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // The requester opens their workspace from their account page without typing the
    // password again: a one-minute, single-use code the workspace's host exchanges for a
    // session of its own, after asking whom to continue as.
    let pat = Member::from_browser(&app, Host::Apex, pat_browser.clone()).await;
    let (_, pat_page) = pat.page("/account").await;
    assert!(pat_page.contains("Open NewCo Ltd"), "{pat_page}");
    for (slug, who) in [("acme", &pat), ("newco", &ops)] {
        // Not a member there (the operator of no workspace): as if it did not exist.
        let refused = who.submit("/account/enter", &[("slug", slug)]).await;
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "{slug}");
    }
    let sent = pat.submit("/account/enter", &[("slug", "newco")]).await;
    let to = location(&sent);
    let prefix = format!("http://newco.localhost:{}/enter?code=", app.port);
    assert!(to.starts_with(&prefix), "{to}");
    let code = to[prefix.len()..].to_owned();
    let stored: Vec<u8> = sqlx::query_scalar("select code_hash from workspace_handoffs")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_ne!(stored, code.as_bytes(), "only the code's hash is stored");
    // The code is worth nothing on another workspace's host.
    let elsewhere = pat_browser
        .get(app.workspace_url("acme", &format!("/enter?code={code}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(elsewhere.contains("has expired or was used"));
    let confirm = pat_browser.get(&to).send().await.unwrap();
    assert_eq!(confirm.status(), StatusCode::OK);
    let html = confirm.text().await.unwrap();
    assert!(html.contains("Continue to NewCo Ltd") && html.contains("Pat Prospect"));
    let form_csrf = csrf_token(&html);
    // Without the page's form token, no session.
    let forged = app
        .browser()
        .post(app.workspace_url("newco", "/enter"))
        .form(&[("code", code.as_str()), ("csrf_token", form_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let entered = pat_browser
        .post(app.workspace_url("newco", "/enter"))
        .form(&[("code", code.as_str()), ("csrf_token", form_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&entered), "/");
    let home = pat_browser
        .get(app.workspace_url("newco", "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Welcome, Pat Prospect") && home.contains("NewCo Ltd as Admin"));
    // Spent: the same link now leads to the sign-in form.
    let again = pat_browser
        .get(&to)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains("has expired or was used") && again.contains("Sign in to NewCo Ltd"));

    // The new admin's checklist, derived from the data: nothing done yet; a contact ticks
    // its step; put away, it stays away.
    assert!(home.contains("Get NewCo Ltd going"), "{home}");
    for step in [
        "Invite your team",
        "Add your first contact",
        "Create a deal",
        "Set up your sales process",
    ] {
        assert!(home.contains(step), "{step}");
    }
    // Entered by the handoff, not the sign-in form: the session's token is read from its page.
    let new_admin = Member::from_browser(&app, Host::Workspace("newco"), pat_browser.clone()).await;
    let created = new_admin
        .submit(
            "/contacts",
            &[("first_name", "Alan"), ("last_name", "Turing")],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let (_, home) = new_admin.page("/").await;
    assert!(home.contains("Added a contact") && !home.contains("Add your first contact"));
    let hidden = new_admin.submit("/onboarding/dismiss", &[]).await;
    assert_eq!(location(&hidden), "/");
    let (_, home) = new_admin.page("/").await;
    assert!(!home.contains("Get NewCo Ltd going"));
}

#[tokio::test]
async fn only_operators_move_requests_along() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let pat_browser = app.browser();
    sign_up(&app, &db, &pat_browser, pat()).await;
    let id = signup_id(&db, "pat@newco.example").await;
    let pat = Member::from_browser(&app, Host::Apex, pat_browser).await;

    let signed = pat
        .submit(&format!("/account/requests/{id}/contract-signed"), &[])
        .await;
    assert_eq!(
        signed.status(),
        StatusCode::FORBIDDEN,
        "a prospect cannot sign off their own contract"
    );
    let (form, _) = pat.page(&format!("/account/requests/{id}/activate")).await;
    assert_eq!(form, StatusCode::FORBIDDEN);
    let status: String = sqlx::query_scalar("select status::text from signups where id = $1")
        .bind(id)
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(status, "prospect");

    // Operators' forms need their session's token too.
    let ops = Member::operator(&app).await;
    let forged = ops
        .submit_as_is(
            &format!("/account/requests/{id}/contract-signed"),
            &[("csrf_token", "forged")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (unknown, _) = ops
        .page(&format!(
            "/account/requests/{}/activate",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(unknown, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_contract_signing_system_records_signatures_with_the_platform_key() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    sign_up(&app, &db, &app.browser(), pat()).await;
    let id = signup_id(&db, "pat@newco.example").await;
    let url = app.url(&format!("/api/v1/platform/signups/{id}/contract-signed"));
    let call = |key: Option<&str>| {
        let mut request = app.client.post(&url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    assert_eq!(call(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(Some("a wrong key of at least thirty-two bytes"))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(Some(TEST_PLATFORM_API_KEY)).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(Some(TEST_PLATFORM_API_KEY)).await.unwrap().status(),
        StatusCode::CONFLICT,
        "already signed"
    );
    let unknown = app
        .client
        .post(app.url(&format!(
            "/api/v1/platform/signups/{}/contract-signed",
            uuid::Uuid::new_v4()
        )))
        .bearer_auth(TEST_PLATFORM_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    // Only on the apex: a workspace host does not serve it.
    let on_workspace = app
        .client
        .post(app.workspace_url(
            "acme",
            &format!("/api/v1/platform/signups/{id}/contract-signed"),
        ))
        .bearer_auth(TEST_PLATFORM_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(on_workspace.status(), StatusCode::NOT_FOUND);

    let (status, audit): (String, serde_json::Value) = sqlx::query_as(
        "select s.status::text, a.after from signups s
         join platform_audit_log a on a.entity_id = s.id and a.action = 'signup.contract_signed'
         where s.id = $1",
    )
    .bind(id)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        (status.as_str(), audit["via"].as_str()),
        ("pending", Some("contract-signing API"))
    );
}
