//! Workspace hosts and signing in to them: every refusal is tested alongside the happy path.

use aura_platform::demo::DEMO_PASSWORD;
use reqwest::{header, Client, Response, StatusCode};

use crate::helpers::{csrf_token, location, Host, Member, TestApp};

async fn sign_in_page(app: &TestApp, browser: &Client, slug: &str) -> String {
    let response = browser
        .get(app.workspace_url(slug, "/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    csrf_token(&response.text().await.unwrap())
}

async fn submit_sign_in(
    app: &TestApp,
    browser: &Client,
    slug: &str,
    email: &str,
    password: &str,
) -> Response {
    let token = sign_in_page(app, browser, slug).await;
    browser
        .post(app.workspace_url(slug, "/login"))
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn workspace_hosts_are_resolved_by_their_subdomain_only() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let page = app
        .client
        .get(app.workspace_url("acme", "/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Sign in to Acme Corporation"));

    let ghost = app
        .client
        .get(app.workspace_url("ghost", "/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ghost.status(),
        404,
        "a slug with no tenant is not a workspace"
    );

    // An address Aura does not serve: the IP instead of the configured host.
    let foreign = app
        .client
        .get(format!("http://127.0.0.1:{}/", app.port))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);

    // The apex keeps its own pages; a workspace does not serve them.
    assert_eq!(
        app.client
            .get(app.url("/pricing"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let pricing = app
        .client
        .get(app.workspace_url("acme", "/pricing"))
        .send()
        .await
        .unwrap();
    assert_eq!(pricing.status(), 404);

    sqlx::query("update tenants set status = 'suspended' where slug = 'globex'")
        .execute(&db.owner)
        .await
        .unwrap();
    let suspended = app
        .client
        .get(app.workspace_url("globex", "/login"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(suspended.status(), 403);
    assert!(suspended
        .text()
        .await
        .unwrap()
        .contains("This workspace is suspended"));
}

#[tokio::test]
async fn a_member_signs_in_works_and_signs_out() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let browser = app.browser();
    let signed_in =
        submit_sign_in(&app, &browser, "acme", "Admin@Acme.example", DEMO_PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), "/");
    let cookie = signed_in
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("aura_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(
        !cookie.contains("Domain"),
        "the cookie must stay on this host: {cookie}"
    );

    let home = browser
        .get(app.workspace_url("acme", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(
        html.contains("Welcome, Ada Admin") && html.contains("as Admin"),
        "{html}"
    );
    let stored_hash: Vec<u8> = sqlx::query_scalar("select token_hash from tenant_sessions")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    let token = cookie
        .trim_start_matches("aura_session=")
        .split(';')
        .next()
        .unwrap();
    assert_ne!(
        stored_hash,
        token.as_bytes(),
        "the database must hold only the secret's hash"
    );

    let admin = Member::from_browser(&app, Host::Workspace("acme"), browser.clone()).await;
    let signed_out = admin.submit("/logout", &[]).await;
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_out), "/login?signed_out=1");
    let sessions: i64 = sqlx::query_scalar("select count(*) from tenant_sessions")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
    let after = browser
        .get(app.workspace_url("acme", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&after), "/login");
    let notice = browser
        .get(app.workspace_url("acme", "/login?signed_out=1"))
        .send()
        .await
        .unwrap();
    assert!(notice
        .text()
        .await
        .unwrap()
        .contains("You have signed out."));
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_refused_alike_and_the_email_is_kept() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let browser = app.browser();
    let mut bodies = Vec::new();
    for (email, password) in [
        ("admin@acme.example", "not the password"),
        ("nobody@acme.example", DEMO_PASSWORD),
        ("admin@globex.example", DEMO_PASSWORD), // a real account, but of another workspace
    ] {
        let response = submit_sign_in(&app, &browser, "acme", email, password).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{email}"
        );
        let html = response.text().await.unwrap();
        assert!(
            html.contains(&format!("value=\"{email}\"")),
            "{email} was not kept"
        );
        assert!(html.contains("do not match an active account"), "{email}");
        bodies.push(html.replace(email, "EMAIL"));
    }
    // Apart from the email and the fresh CSRF token, the answers are the same.
    let normalise = |html: &str| html.replace(&csrf_token(html), "TOKEN");
    assert_eq!(normalise(&bodies[0]), normalise(&bodies[1]));
    assert_eq!(normalise(&bodies[1]), normalise(&bodies[2]));

    let blank = submit_sign_in(&app, &browser, "acme", "", "").await;
    assert_eq!(blank.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = blank.text().await.unwrap();
    assert!(html.contains("Enter your email address.") && html.contains("Enter your password."));
    assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"email-error\""));
}

#[tokio::test]
async fn repeated_failures_lock_the_account_for_a_while() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let browser = app.browser();
    for _ in 0..aura_platform::auth::MAX_FAILED_LOGINS {
        let response = submit_sign_in(&app, &browser, "acme", "rep@acme.example", "guess").await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let locked = submit_sign_in(&app, &browser, "acme", "rep@acme.example", DEMO_PASSWORD).await;
    assert_eq!(
        locked.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the right password must not open a locked account"
    );

    let lock = || async {
        let seconds: f64 = sqlx::query_scalar(
            "select extract(epoch from f.locked_until - f.last_failed_at)::float8
             from login_failures f join users u on u.id = f.user_id
             where u.email = 'rep@acme.example' and f.source = '127.0.0.1'",
        )
        .fetch_one(&db.owner)
        .await
        .unwrap();
        seconds.round() as u64
    };
    assert_eq!(lock().await, aura_platform::auth::LOCKOUT.as_secs());
    // Once the lock is over, the next failure locks for twice as long.
    let expire = "update login_failures set locked_until = now() - interval '1 second'";
    sqlx::query(expire).execute(&db.owner).await.unwrap();
    submit_sign_in(&app, &browser, "acme", "rep@acme.example", "guess").await;
    assert_eq!(lock().await, 2 * aura_platform::auth::LOCKOUT.as_secs());

    sqlx::query(expire).execute(&db.owner).await.unwrap();
    let unlocked = submit_sign_in(&app, &browser, "acme", "rep@acme.example", DEMO_PASSWORD).await;
    assert_eq!(unlocked.status(), StatusCode::SEE_OTHER);
    let counts: i64 = sqlx::query_scalar("select count(*) from login_failures")
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(counts, 0, "a successful sign-in resets the count");
}

#[tokio::test]
async fn failures_from_elsewhere_do_not_lock_the_owner_out() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let attacker = app.browser_from("127.0.0.2".parse().unwrap());
    for _ in 0..=aura_platform::auth::MAX_FAILED_LOGINS {
        let response = submit_sign_in(&app, &attacker, "acme", "rep@acme.example", "guess").await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let refused = submit_sign_in(&app, &attacker, "acme", "rep@acme.example", DEMO_PASSWORD).await;
    assert_eq!(
        refused.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "locked where the failures came from"
    );
    let owner = app.browser();
    let signed_in = submit_sign_in(&app, &owner, "acme", "rep@acme.example", DEMO_PASSWORD).await;
    assert_eq!(
        signed_in.status(),
        StatusCode::SEE_OTHER,
        "open to its owner"
    );
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let browser = app.browser();
    let forged = browser
        .post(app.workspace_url("acme", "/login"))
        .form(&[
            ("email", "admin@acme.example"),
            ("password", DEMO_PASSWORD),
            ("csrf_token", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let html = forged.text().await.unwrap();
    assert!(
        html.contains("This form had expired") && html.contains("value=\"admin@acme.example\"")
    );

    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let logout = admin
        .submit_as_is("/logout", &[("csrf_token", "forged")])
        .await;
    assert_eq!(logout.status(), StatusCode::FORBIDDEN);
    let (still, _) = admin.page("/").await;
    assert_eq!(still, 200, "a refused sign-out must not end the session");
}

#[tokio::test]
async fn a_session_opens_only_its_own_workspace() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let browser = app.browser();
    let signed_in =
        submit_sign_in(&app, &browser, "acme", "admin@acme.example", DEMO_PASSWORD).await;
    let token = signed_in
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.strip_prefix("aura_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .next()
        .unwrap();
    // The browser would not even send it to globex; an attacker would.
    let replayed = app
        .client
        .get(app.workspace_url("globex", "/"))
        .header(header::COOKIE, format!("aura_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&replayed), "/login");
    let on_acme = app
        .client
        .get(app.workspace_url("acme", "/"))
        .header(header::COOKIE, format!("aura_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_acme.status(), 200);
}

#[tokio::test]
async fn a_deactivated_member_is_out_at_once_and_idle_sessions_expire() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let rep = app.browser();
    assert_eq!(
        submit_sign_in(&app, &rep, "acme", "rep@acme.example", DEMO_PASSWORD)
            .await
            .status(),
        303
    );
    let manager = app.browser();
    assert_eq!(
        submit_sign_in(
            &app,
            &manager,
            "acme",
            "manager@acme.example",
            DEMO_PASSWORD
        )
        .await
        .status(),
        303
    );

    sqlx::query(
        "update tenant_members set deactivated_at = now()
         where user_id = (select id from users where email = 'rep@acme.example')",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    let out = rep
        .get(app.workspace_url("acme", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.status(),
        StatusCode::SEE_OTHER,
        "a deactivated member's session must stop working"
    );
    let again = submit_sign_in(&app, &rep, "acme", "rep@acme.example", DEMO_PASSWORD).await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);

    sqlx::query("update tenant_sessions set last_seen_at = now() - interval '31 days'")
        .execute(&db.owner)
        .await
        .unwrap();
    let idle = manager
        .get(app.workspace_url("acme", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        idle.status(),
        StatusCode::SEE_OTHER,
        "a session idle for 30 days is over"
    );
}
