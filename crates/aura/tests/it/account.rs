//! Journey 1, steps 1-2 on the apex: signing up before any workspace exists, the waiting page,
//! operators' view of the requests, and the refusals around them.

use aura_platform::demo::DEMO_PASSWORD;
use reqwest::{header, Client, Response, StatusCode};

use crate::helpers::TestApp;
use crate::workspace::{csrf_token, demo_app};

const PASSWORD: &str = "a long enough passphrase";

async fn signup_form_token(app: &TestApp, browser: &Client) -> String {
    let page = browser.get(app.url("/signup")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    csrf_token(&page.text().await.unwrap())
}

async fn sign_up(app: &TestApp, browser: &Client, fields: [(&str, &str); 4]) -> Response {
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

fn pat() -> [(&'static str, &'static str); 4] {
    [
        ("display_name", "Pat Prospect"),
        ("email", "pat@newco.example"),
        ("company_name", "NewCo Ltd"),
        ("password", PASSWORD),
    ]
}

fn location(response: &Response) -> &str {
    response.headers()[header::LOCATION].to_str().unwrap()
}

#[tokio::test]
async fn a_prospect_signs_up_and_waits_with_no_workspace() {
    let (app, db) = demo_app().await;
    let browser = app.browser();
    let created = sign_up(&app, &browser, pat()).await;
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

    let (memberships, status): (i64, String) = sqlx::query_as(
        "select (select count(*) from tenant_members m where m.user_id = u.id), s.status::text
         from users u join signups s on s.user_id = u.id where u.email = 'pat@newco.example'",
    )
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

    let html = browser
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let signed_out = browser
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf_token(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&signed_out), "/login?signed_out=1");
    let after = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&after), "/login");
}

#[tokio::test]
async fn signup_names_each_problem_and_keeps_what_was_typed_but_the_password() {
    let (app, _db) = demo_app().await;
    let browser = app.browser();
    let blank = sign_up(
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

    let bad = sign_up(
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
async fn an_email_signs_up_once() {
    let (app, db) = demo_app().await;
    assert_eq!(
        sign_up(&app, &app.browser(), pat()).await.status(),
        StatusCode::SEE_OTHER
    );
    let mut again = pat();
    again[1] = ("email", "PAT@NewCo.example");
    let taken = sign_up(&app, &app.browser(), again).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let html = taken.text().await.unwrap();
    assert!(
        html.contains("An account with this email already exists.")
            && html.contains("href=\"/login\"")
    );
    let accounts: i64 =
        sqlx::query_scalar("select count(*) from users where email_norm = 'pat@newco.example'")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(accounts, 1);
}

#[tokio::test]
async fn operators_see_every_request_and_prospects_only_their_own() {
    let (app, _db) = demo_app().await;
    assert_eq!(
        sign_up(&app, &app.browser(), pat()).await.status(),
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
        sign_up(&app, &quinn_browser, quinn).await.status(),
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

    let operator = app.browser();
    let token = {
        let page = operator.get(app.url("/login")).send().await.unwrap();
        csrf_token(&page.text().await.unwrap())
    };
    let signed_in = operator
        .post(app.url("/login"))
        .form(&[
            ("email", "ops@aura.example"),
            ("password", DEMO_PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&signed_in), "/account");
    let html = operator
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Workspace requests") && html.contains("Platform operator"));
    assert!(
        html.contains("NewCo Ltd")
            && html.contains("Other Inc")
            && html.contains("quinn@other.example")
    );
}

#[tokio::test]
async fn apex_and_workspace_sessions_do_not_open_each_other() {
    let (app, _db) = demo_app().await;
    let browser = app.browser();
    let created = sign_up(&app, &browser, pat()).await;
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
