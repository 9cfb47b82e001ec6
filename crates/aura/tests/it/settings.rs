//! Workspace settings (F1.7) and suspension by operators (F1.9).

use crate::helpers::{
    audit_actions_in, audit_changes, csrf_token, verification_link, Host, Member, TestApp,
};
use reqwest::{header, StatusCode};

fn form<'a>(version: &'a str, name: &'a str, timezone: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("logo_url", "https://cdn.acme.example/logo.png"),
        ("industry", "Manufacturing"),
        ("timezone", timezone),
        ("currency", "usd"),
        ("version", version),
    ]
}

#[tokio::test]
async fn an_admin_edits_the_workspace_and_a_stale_save_keeps_its_input() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let (status, page) = admin.page("/settings").await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"version\" value=\"1\""));

    let invalid = admin
        .submit(
            "/settings",
            &[
                ("name", ""),
                ("logo_url", "http://insecure.example/x.png"),
                ("timezone", "Nowhere/Else"),
                ("currency", "dollars"),
                ("industry", "Widgets"),
                ("version", "1"),
            ],
        )
        .await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = invalid.text().await.unwrap();
    for message in [
        "Enter the company",
        "https:// address",
        "time zone name",
        "currency in circulation",
    ] {
        assert!(html.contains(message), "{message}");
    }
    assert!(
        html.contains("value=\"Widgets\"") && html.contains("value=\"Nowhere/Else\""),
        "input kept"
    );

    let saved = admin
        .submit("/settings", &form("1", "Acme Industries", "Europe/Berlin"))
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let login_page = app
        .client
        .get(app.workspace_url("acme", "/login"))
        .send()
        .await
        .unwrap();
    assert!(login_page
        .text()
        .await
        .unwrap()
        .contains("Sign in to Acme Industries"));

    // A second tab still on version 1: refused, their input kept, the newer values shown.
    let stale = admin
        .submit(
            "/settings",
            &form("1", "Acme Older Idea", "America/New_York"),
        )
        .await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let html = stale.text().await.unwrap();
    assert!(html.contains("value=\"Acme Older Idea\"") && html.contains("Someone else saved"));
    assert!(html.contains("Acme Industries, Europe/Berlin"));
    assert!(
        html.contains("name=\"version\" value=\"2\""),
        "saving again applies over the newer version"
    );

    let (before, after) = audit_changes(&db, "workspace.updated").await.remove(0);
    assert_eq!(
        (before["name"].as_str(), after["name"].as_str()),
        (Some("Acme Corporation"), Some("Acme Industries"))
    );
    assert_eq!(after["currency"], "USD");

    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    assert_eq!(manager.page("/settings").await.0, StatusCode::FORBIDDEN);
    let refused = manager
        .submit("/settings", &form("2", "Taken Over", "UTC"))
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_operator_suspends_a_workspace_and_nobody_gets_in_until_it_is_reactivated() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let rep = Member::sign_in(&app, "acme", "rep@acme.example").await;
    let ops = Member::operator(&app).await;
    let (_, list) = ops.page("/workspaces").await;
    assert!(list.contains("Acme Corporation") && list.contains("Globex Ltd"));
    let acme: uuid::Uuid = sqlx::query_scalar("select id from tenants where slug = 'acme'")
        .fetch_one(&db.owner)
        .await
        .unwrap();

    let suspended = ops
        .submit(&format!("/workspaces/{acme}/suspend"), &[])
        .await;
    assert_eq!(suspended.status(), StatusCode::SEE_OTHER);
    let refused = rep
        .get(app.workspace_url("acme", "/"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "an open session is refused at once"
    );
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("This workspace is suspended"));
    let members: i64 =
        sqlx::query_scalar("select count(*) from tenant_members where tenant_id = $1")
            .bind(acme)
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(members, 4, "suspension keeps the data");
    assert_eq!(
        app.client
            .get(app.workspace_url("globex", "/login"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    ops.submit(&format!("/workspaces/{acme}/reactivate"), &[])
        .await;
    assert_eq!(rep.page("/").await.0, 200);
    assert_eq!(
        audit_actions_in(&db, "acme", "tenant.%").await,
        [
            "tenant.provisioned",
            "tenant.suspended",
            "tenant.reactivated"
        ]
    );

    // Deletion follows suspension only, and is final: the workspace answers as if it never was.
    let early = ops.submit(&format!("/workspaces/{acme}/delete"), &[]).await;
    assert_eq!(
        early.status(),
        StatusCode::CONFLICT,
        "an active workspace is suspended first"
    );
    for step in ["suspend", "delete"] {
        let done = ops.submit(&format!("/workspaces/{acme}/{step}"), &[]).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER, "{step}");
    }
    assert_eq!(
        app.client
            .get(app.workspace_url("acme", "/login"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let revive = ops
        .submit(&format!("/workspaces/{acme}/reactivate"), &[])
        .await;
    assert_eq!(revive.status(), StatusCode::CONFLICT, "deletion is final");
    let kept: i64 = sqlx::query_scalar("select count(*) from tenant_members where tenant_id = $1")
        .bind(acme)
        .fetch_one(&db.owner)
        .await
        .unwrap();
    assert_eq!(kept, 4, "the data is retained");

    // Only operators, and only with their session's token.
    let forged = ops
        .submit_as_is(
            &format!("/workspaces/{acme}/suspend"),
            &[("csrf_token", "forged")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let prospect = app.browser();
    let token = csrf_token(
        &prospect
            .get(app.url("/signup"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    prospect
        .post(app.url("/signup"))
        .form(&[
            ("display_name", "Pat"),
            ("email", "pat@newco.example"),
            ("company_name", "NewCo"),
            ("password", "a long enough passphrase"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    prospect
        .get(verification_link(&db, "pat@newco.example").await)
        .send()
        .await
        .unwrap();
    assert_eq!(
        prospect
            .get(app.url("/workspaces"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let prospect = Member::from_browser(&app, Host::Apex, prospect).await;
    let by_prospect = prospect
        .submit(&format!("/workspaces/{acme}/suspend"), &[])
        .await;
    assert_eq!(by_prospect.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admins_define_and_archive_custom_fields_and_others_may_not() {
    let (app, _db) = TestApp::builder().demo().spawn().await;
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let fields = "/settings/fields";

    let refused = admin
        .submit(
            fields,
            &[
                ("entity", "contact"),
                ("label", "Tier"),
                ("kind", "select"),
                ("options", ""),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("needs 1 to 50 choices"), "{html}");
    assert!(html.contains(r#"value="Tier""#), "the input is kept");

    let defined = admin
        .submit(
            fields,
            &[
                ("entity", "contact"),
                ("label", "Tier <b>level</b>"),
                ("kind", "select"),
                ("options", "Gold\r\nSilver\r\n"),
            ],
        )
        .await;
    assert_eq!(defined.status(), StatusCode::SEE_OTHER);
    let (_, html) = admin.page(fields).await;
    assert!(
        html.contains("Tier &#60;b&#62;level&#60;/b&#62;")
            || html.contains("Tier &lt;b&gt;level&lt;/b&gt;"),
        "{html}"
    );
    assert!(html.contains("tier_b_level_b") && html.contains("Gold, Silver"));

    let duplicate = admin
        .submit(
            fields,
            &[
                ("entity", "contact"),
                ("label", "Other"),
                ("key", "tier_b_level_b"),
                ("kind", "text"),
            ],
        )
        .await;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);

    let archive_action = html
        .split("action=\"")
        .find_map(|rest| rest.split('"').next().filter(|a| a.ends_with("/archive")))
        .unwrap()
        .to_owned();
    let without_token = admin
        .submit_as_is(&archive_action, &[("csrf_token", "forged")])
        .await;
    assert_eq!(without_token.status(), StatusCode::FORBIDDEN);
    let archived = admin.submit(&archive_action, &[]).await;
    assert_eq!(archived.status(), StatusCode::SEE_OTHER);
    let (_, html) = admin.page(fields).await;
    assert!(!html.contains("tier_b_level_b"));

    let manager = Member::sign_in(&app, "acme", "manager@acme.example").await;
    assert_eq!(manager.page(fields).await.0, StatusCode::FORBIDDEN);
    let refused = manager
        .submit(
            fields,
            &[("entity", "contact"), ("label", "Sneaky"), ("kind", "text")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}
