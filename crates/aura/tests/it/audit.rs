//! A workspace admin reads the audit trail (F14.5): filtered, paginated, their tenant's only.

use crate::helpers::{Member, TestApp};
use reqwest::StatusCode;

#[tokio::test]
async fn admins_page_and_filter_their_own_audit_trail() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    // 30 invitations by the admin, plus an entry of globex's that must never show.
    sqlx::raw_sql(
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type, occurred_at, after)
         select t.id, m.user_id, 'member.invited', 'invitation', now() - g * interval '1 minute',
                jsonb_build_object('email', 'person' || g || '@acme.example')
         from tenants t join tenant_members m on m.tenant_id = t.id and m.role = 'admin',
              generate_series(1, 30) g
         where t.slug = 'acme';
         insert into audit_log (tenant_id, action, entity_type, after)
         select id, 'member.invited', 'invitation', '{\"email\": \"secret@globex.example\"}' from tenants where slug = 'globex';",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    let admin = Member::sign_in(&app, "acme", "admin@acme.example").await;

    let first = admin
        .get(app.workspace_url("acme", "/audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let html = first.text().await.unwrap();
    assert_eq!(
        html.matches("<time datetime=").count(),
        25,
        "a page holds 25 entries"
    );
    assert!(!html.contains("globex"), "another tenant's entries leaked");
    let older = html
        .split("href=\"/audit?")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to older entries")
        .replace("&amp;", "&");
    let second = admin
        .get(app.workspace_url("acme", &format!("/audit?{older}")))
        .send()
        .await
        .unwrap();
    let html = second.text().await.unwrap();
    // 30 invitations + the provisioning entry = 31: 6 on the second page, and no further link.
    assert_eq!(html.matches("<time datetime=").count(), 6);
    assert!(html.contains("tenant.provisioned") && !html.contains("Older entries"));

    let filtered = admin
        .get(app.workspace_url("acme", "/audit?action=tenant.provisioned"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(filtered.matches("<time datetime=").count(), 1);
    assert!(
        filtered.contains("Aura operations"),
        "the operator is not a member: shown as Aura"
    );

    // htmx asks for the next rows only (the same handler, a partial rendering).
    let partial = admin
        .get(app.workspace_url("acme", &format!("/audit?{older}")))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!partial.contains("<html") && partial.matches("<tr>").count() == 6);
    assert!(partial.contains("id=\"audit-pager\" hx-swap-oob=\"true\""));

    // Junk filters are ignored, never an error.
    for junk in [
        "action=drop%20table",
        "actor=nobody",
        "after=yesterday",
        "after=2026-01-01T00:00:00Z_1'--",
    ] {
        let response = admin
            .get(app.workspace_url("acme", &format!("/audit?{junk}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{junk}");
    }

    for email in ["manager@acme.example", "rep@acme.example"] {
        let member = Member::sign_in(&app, "acme", email).await;
        let refused = member
            .get(app.workspace_url("acme", "/audit"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{email}");
    }
}
