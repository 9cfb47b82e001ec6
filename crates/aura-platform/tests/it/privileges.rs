//! Promise 2 at the database: as `aura_app` with a member's context (their workspace, user and
//! role, as the server sets it), the member cannot do more than their role allows, whatever SQL
//! they run: no self-promotion, no memberships out of nothing, no reading password hashes, no
//! audit log for non-admins, no sessions or tokens for someone else.

use aura_platform::db::testing::TestDatabase;
use aura_platform::db::TenantContext;
use aura_platform::ids::{MemberRole, TenantId, UserId};
use sqlx::PgPool;
use uuid::Uuid;

use crate::isolation::{refused_by_privilege_or_policy, two_tenants};

/// A new user who is a member of `tenant` with `role`, created as the owner.
async fn member(owner: &PgPool, tenant: TenantId, role: &str) -> TenantContext {
    let user_id = UserId::new();
    sqlx::raw_sql(&format!(
        "insert into users (id, email, display_name)
             values ('{user_id}', '{user_id}@example.com', 'Member');
         insert into tenant_members (tenant_id, user_id, role)
             values ('{tenant}', '{user_id}', '{role}');
         select aura.sync_member_of('{tenant}', '{user_id}');"
    ))
    .execute(owner)
    .await
    .unwrap();
    let role = match role {
        "admin" => MemberRole::Admin,
        "manager" => MemberRole::Manager,
        _ => MemberRole::SalesRep,
    };
    TenantContext {
        tenant_id: tenant,
        user_id,
        role,
        read_only: false,
    }
}

/// Runs `statement` in `context`'s transaction; it must be refused (42501: privilege or policy).
async fn refused(db: &TestDatabase, context: TenantContext, statement: &str) {
    let mut tx = db.app.begin(context).await.unwrap();
    let err = sqlx::raw_sql(statement)
        .execute(tx.conn())
        .await
        .expect_err(&format!("{:?} could run `{statement}`", context.role));
    assert!(refused_by_privilege_or_policy(&err), "`{statement}`: {err}");
}

/// Runs `statement` in `context`'s transaction, committed, and returns the rows it touched.
async fn rows(db: &TestDatabase, context: TenantContext, statement: &str) -> u64 {
    let mut tx = db.app.begin(context).await.unwrap();
    let done = sqlx::raw_sql(statement)
        .execute(tx.conn())
        .await
        .unwrap_or_else(|err| panic!("`{statement}`: {err}"));
    tx.commit().await.unwrap();
    done.rows_affected()
}

async fn role_of(owner: &PgPool, who: TenantContext) -> String {
    sqlx::query_scalar(
        "select role::text from tenant_members where tenant_id = $1 and user_id = $2",
    )
    .bind(who.tenant_id.as_uuid())
    .bind(who.user_id.as_uuid())
    .fetch_one(owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_member_cannot_make_themself_an_operator_or_read_password_hashes() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let rep = member(&db.owner, t.a.tenant_id, "sales_rep").await;
    let me = rep.user_id;
    for statement in [
        format!("update users set is_platform_admin = true where id = '{me}'"),
        format!("select password_hash from users where id = '{me}'"),
        format!("select * from users where id = '{}'", t.a.user_id),
        format!("update users set email = 'taken@example.com' where id = '{me}'"),
    ] {
        refused(&db, rep, &statement).await;
    }
    // A fresh account cannot be born an operator either (signup inserts as the new user).
    let newcomer = UserId::new();
    let mut tx = db.app.begin(rep).await.unwrap();
    let err = sqlx::raw_sql(&format!(
        "set local app.current_user_id = '{newcomer}';
         insert into users (id, email, display_name, is_platform_admin)
         values ('{newcomer}', 'new@example.net', 'New', true)"
    ))
    .execute(tx.conn())
    .await
    .unwrap_err();
    assert!(refused_by_privilege_or_policy(&err), "{err}");
    drop(tx);

    // What a member may do to their own account still works.
    let renamed = rows(
        &db,
        rep,
        &format!("update users set display_name = 'Renamed' where id = '{me}'"),
    )
    .await;
    assert_eq!(renamed, 1);
    let mut tx = db.app.begin(rep).await.unwrap();
    let operator: bool = sqlx::query_scalar("select aura.current_user_is_platform_admin()")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert!(!operator);
}

#[tokio::test]
async fn nobody_changes_their_own_membership_and_only_admins_change_others() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let tenant = t.a.tenant_id;
    let rep = member(&db.owner, tenant, "sales_rep").await;
    let manager = member(&db.owner, tenant, "manager").await;
    let admin = t.a;

    // A rep or manager changes no membership, their own or anyone's: the policy shows them none
    // to change.
    for who in [rep, manager] {
        for statement in [
            format!(
                "update tenant_members set role = 'admin' where user_id = '{}'",
                who.user_id
            ),
            format!(
                "update tenant_members set deactivated_at = now() where user_id = '{}'",
                admin.user_id
            ),
            format!(
                "delete from tenant_members where user_id = '{}'",
                admin.user_id
            ),
        ] {
            assert_eq!(rows(&db, who, &statement).await, 0, "{statement}");
        }
    }
    assert_eq!(role_of(&db.owner, rep).await, "sales_rep");
    assert_eq!(role_of(&db.owner, manager).await, "manager");

    // An admin changes others, never their own membership, and never re-points one.
    let me = admin.user_id;
    for statement in [
        format!("update tenant_members set role = 'manager' where user_id = '{me}'"),
        format!("update tenant_members set deactivated_at = now() where user_id = '{me}'"),
        format!("delete from tenant_members where user_id = '{me}'"),
        format!(
            "update tenant_members set user_id = '{}' where user_id = '{}'",
            t.b.user_id, rep.user_id
        ),
        format!(
            "update tenant_members set tenant_id = '{}' where user_id = '{}'",
            t.b.tenant_id, rep.user_id
        ),
    ] {
        refused(&db, admin, &statement).await;
    }
    let promoted = rows(
        &db,
        admin,
        &format!(
            "update tenant_members set role = 'manager' where user_id = '{}'",
            rep.user_id
        ),
    )
    .await;
    assert_eq!(promoted, 1);

    // Nor may anyone but an admin (or an operator) change the workspace's own row.
    for who in [rep, manager] {
        let renamed = rows(&db, who, "update tenants set name = 'Renamed'").await;
        assert_eq!(renamed, 0);
    }
}

#[tokio::test]
async fn memberships_come_only_from_an_invitation_or_provisioning() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let (a, b) = (t.a, t.b);

    // B's admin cannot make A's admin a member of B (and so see A's users), nor can anyone
    // make themself a member of another workspace, or of their own with another role.
    refused(
        &db,
        b,
        &format!(
            "insert into tenant_members (tenant_id, user_id, role)
             values ('{}', '{}', 'sales_rep')",
            b.tenant_id, a.user_id
        ),
    )
    .await;
    let rep = member(&db.owner, a.tenant_id, "sales_rep").await;
    let mut tx = db.app.begin(rep).await.unwrap();
    let err = sqlx::raw_sql(&format!(
        "set local app.current_tenant_id = '{b}';
         insert into tenant_members (tenant_id, user_id, role) values ('{b}', '{me}', 'admin')",
        b = b.tenant_id,
        me = rep.user_id
    ))
    .execute(tx.conn())
    .await
    .unwrap_err();
    assert!(refused_by_privilege_or_policy(&err), "{err}");
    drop(tx);

    // Only admins invite.
    let invite = |email: &str, role: &str| {
        format!(
            "insert into invitations (tenant_id, email, role, token_hash, invited_by, expires_at)
             values ('{}', '{email}', '{role}', sha256(gen_random_uuid()::text::bytea),
                     aura.current_user_id(), now() + interval '7 days')",
            a.tenant_id
        )
    };
    refused(&db, rep, &invite("friend@example.net", "admin")).await;
    assert_eq!(
        rows(&db, a, &invite("invitee@example.net", "sales_rep")).await,
        1
    );

    // The invitee joins with the invited role, as themself, and marks the invitation accepted.
    let invitee = UserId::new();
    sqlx::query(
        "insert into users (id, email, display_name) values ($1, 'invitee@example.net', 'I')",
    )
    .bind(invitee.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap();
    let as_invitee = |role| TenantContext {
        tenant_id: a.tenant_id,
        user_id: invitee,
        role,
        read_only: false,
    };
    let join = |role: &str| {
        format!(
            "insert into tenant_members (tenant_id, user_id, role) values ('{}', '{invitee}', '{role}')",
            a.tenant_id
        )
    };
    refused(&db, as_invitee(MemberRole::Admin), &join("admin")).await;
    let mut tx = db
        .app
        .begin(as_invitee(MemberRole::SalesRep))
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "{};
         update invitations set accepted_at = now(), accepted_by = '{invitee}'
         where email_norm = 'invitee@example.net'",
        join("sales_rep")
    ))
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Spent: it admits nobody again (the invitee, removed, cannot rejoin with it).
    sqlx::query("delete from tenant_members where user_id = $1")
        .bind(invitee.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    refused(&db, as_invitee(MemberRole::SalesRep), &join("sales_rep")).await;

    // An operator makes the first admin of a workspace being provisioned, and no more.
    let operator = UserId::new();
    let fresh = TenantId::new();
    sqlx::raw_sql(&format!(
        "insert into users (id, email, display_name, is_platform_admin)
             values ('{operator}', 'ops@example.net', 'Ops', true);
         insert into tenants (id, slug, name) values ('{fresh}', 'fresh', 'Fresh');"
    ))
    .execute(&db.owner)
    .await
    .unwrap();
    let as_operator = TenantContext {
        tenant_id: fresh,
        user_id: operator,
        role: MemberRole::Admin,
        read_only: false,
    };
    let first_admin = |user: Uuid| {
        format!("insert into tenant_members (tenant_id, user_id, role) values ('{fresh}', '{user}', 'admin')")
    };
    assert_eq!(
        rows(&db, as_operator, &first_admin(a.user_id.as_uuid())).await,
        1
    );
    refused(&db, as_operator, &first_admin(b.user_id.as_uuid())).await;
}

#[tokio::test]
async fn only_admins_read_the_audit_log() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let count = |who: TenantContext| {
        let db = &db;
        async move {
            let mut tx = db.app.begin(who).await.unwrap();
            sqlx::query_scalar::<_, i64>("select count(*) from audit_log")
                .fetch_one(tx.conn())
                .await
                .unwrap()
        }
    };
    assert_eq!(count(t.a).await, 1);
    for role in ["manager", "sales_rep"] {
        let who = member(&db.owner, t.a.tenant_id, role).await;
        assert_eq!(count(who).await, 0, "a {role} reads the audit log");
        // They still write their own entries (their changes are audited).
        let written = rows(
            &db,
            who,
            &format!(
                "insert into audit_log (tenant_id, actor_user_id, action, entity_type)
                 values ('{}', '{}', 'test.done', 'test')",
                who.tenant_id, who.user_id
            ),
        )
        .await;
        assert_eq!(written, 1);
    }
}

#[tokio::test]
async fn sessions_tokens_and_codes_are_only_ever_the_user_in_context_s() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let rep = member(&db.owner, t.a.tenant_id, "sales_rep").await;
    let (tenant, admin, me) = (t.a.tenant_id, t.a.user_id, rep.user_id);
    for statement in [
        format!(
            "insert into tenant_sessions (tenant_id, token_hash, user_id, csrf_token)
             values ('{tenant}', sha256('known'), '{admin}', repeat('c', 43))"
        ),
        format!("update tenant_sessions set user_id = '{admin}' where user_id = '{me}'"),
        format!(
            "insert into api_refresh_tokens (tenant_id, user_id, token_hash, expires_at)
             values ('{tenant}', '{admin}', sha256('known'), now() + interval '1 day')"
        ),
        format!("update api_refresh_tokens set user_id = '{me}'"),
        format!(
            "insert into step_up_codes (tenant_id, user_id, purpose, code_hash, expires_at)
             values ('{tenant}', '{admin}', 'member.remove:x', sha256('1'), now() + interval '1 minute')"
        ),
        "update step_up_codes set code_hash = sha256('1')".to_owned(),
    ] {
        refused(&db, rep, &statement).await;
    }
    // Nor read them: another member's session (its CSRF token), token or code (six digits
    // behind a hash) is invisible; an admin sees members' sessions and tokens, to end them.
    sqlx::raw_sql(&format!(
        "insert into tenant_sessions (tenant_id, token_hash, user_id, csrf_token)
             values ('{tenant}', sha256('admin'), '{admin}', repeat('c', 43));
         insert into api_refresh_tokens (tenant_id, user_id, token_hash, expires_at)
             values ('{tenant}', '{admin}', sha256('admin'), now() + interval '1 day');
         insert into step_up_codes (tenant_id, user_id, purpose, code_hash, expires_at)
             values ('{tenant}', '{admin}', 'member.remove:x', sha256('123456'),
                     now() + interval '1 minute');"
    ))
    .execute(&db.owner)
    .await
    .unwrap();
    let visible = |who: TenantContext, table: &'static str| {
        let db = &db;
        async move {
            let mut tx = db.app.begin(who).await.unwrap();
            sqlx::query_scalar::<_, i64>(&format!(
                "select count(*) from {table} where user_id = '{admin}'"
            ))
            .fetch_one(tx.conn())
            .await
            .unwrap()
        }
    };
    for table in ["tenant_sessions", "api_refresh_tokens", "step_up_codes"] {
        assert_eq!(
            visible(rep, table).await,
            0,
            "a rep reads the admin's {table}"
        );
    }
    let other_admin = member(&db.owner, tenant, "admin").await;
    // The fixture's and this one.
    assert_eq!(visible(other_admin, "tenant_sessions").await, 2);
    assert_eq!(visible(other_admin, "api_refresh_tokens").await, 2);
    assert_eq!(visible(other_admin, "step_up_codes").await, 0);

    // One's own session is still opened as sign-in does.
    let opened = rows(
        &db,
        rep,
        &format!(
            "insert into tenant_sessions (tenant_id, token_hash, user_id, csrf_token)
             values ('{tenant}', sha256('mine'), '{me}', repeat('c', 43))"
        ),
    )
    .await;
    assert_eq!(opened, 1);
}

/// A contact's owner and an activity's participant are members of the record's workspace: no
/// context can name another workspace's user, and the refusal reads the same whether or not
/// that user exists.
#[tokio::test]
async fn owners_and_participants_are_members_of_the_record_s_workspace() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let manager = member(&db.owner, t.b.tenant_id, "manager").await;
    let tenant = t.b.tenant_id;
    let foreign_user = t.a.user_id.as_uuid();
    let nobody = Uuid::new_v4();

    let mut codes = Vec::new();
    for user in [foreign_user, nobody] {
        for statement in [
            format!(
                "insert into contacts (tenant_id, first_name, assigned_to)
                 values ('{tenant}', 'Gift', '{user}')"
            ),
            format!("update contacts set assigned_to = '{user}'"),
        ] {
            let mut tx = db.app.begin(manager).await.unwrap();
            let err = sqlx::raw_sql(&statement)
                .execute(tx.conn())
                .await
                .expect_err(&statement);
            let err = err.as_database_error().expect("a database error");
            codes.push((
                err.code().map(|c| c.into_owned()),
                err.constraint().map(str::to_owned),
            ));
        }
        let (contact, owner): (Uuid, Uuid) =
            sqlx::query_as("select id, assigned_to from contacts where tenant_id = $1")
                .bind(tenant.as_uuid())
                .fetch_one(&db.owner)
                .await
                .unwrap();
        refused(
            &db,
            manager,
            &format!(
                "insert into activities (tenant_id, kind, description, occurred_at,
                                         participant_id, contact_id, contact_owner, created_by)
                 values ('{tenant}', 'call', 'x', now(), '{user}', '{contact}', '{owner}', '{}')",
                manager.user_id
            ),
        )
        .await;
    }
    let expected = (
        Some("23503".to_owned()),
        Some("contacts_assigned_to_member_fkey".to_owned()),
    );
    assert_eq!(codes, vec![expected; 4], "the refusals differ: {codes:?}");
}

/// Webhooks are an admin's: a manager's or a rep's context reads and changes no endpoint, event
/// or delivery (0045), while an admin's does.
#[tokio::test]
async fn only_admins_change_webhook_endpoints_and_deliveries() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    for role in ["manager", "sales_rep"] {
        let who = member(&db.owner, t.a.tenant_id, role).await;
        for statement in [
            "update webhook_endpoints set enabled = false",
            "update webhook_endpoints set event_types = array['contact.created']",
            "update webhook_deliveries set status = 'failed'",
        ] {
            assert_eq!(rows(&db, who, statement).await, 0, "{role}: {statement}");
        }
        for table in ["webhook_endpoints", "webhook_events", "webhook_deliveries"] {
            let mut tx = db.app.begin(who).await.unwrap();
            let seen: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
                .fetch_one(tx.conn())
                .await
                .unwrap();
            assert_eq!(seen, 0, "{role} reads {table}");
        }
    }
    let admin = member(&db.owner, t.a.tenant_id, "admin").await;
    assert_eq!(
        rows(&db, admin, "update webhook_endpoints set enabled = false").await,
        1
    );
}

/// Exports are an admin's (0046): a manager's or a rep's context reads no export and no chunk
/// of a file, starts none and changes none, while an admin's reads them.
#[tokio::test]
async fn only_admins_read_or_start_workspace_exports() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let tenant = t.a.tenant_id;
    let export: Uuid = sqlx::query_scalar("select id from exports where tenant_id = $1")
        .bind(tenant.as_uuid())
        .fetch_one(&db.owner)
        .await
        .unwrap();
    for role in ["manager", "sales_rep"] {
        let who = member(&db.owner, tenant, role).await;
        for table in ["exports", "export_chunks"] {
            let mut tx = db.app.begin(who).await.unwrap();
            let seen: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
                .fetch_one(tx.conn())
                .await
                .unwrap();
            assert_eq!(seen, 0, "{role} reads {table}");
        }
        for statement in [
            "update exports set status = 'failed'",
            "delete from export_chunks",
        ] {
            assert_eq!(rows(&db, who, statement).await, 0, "{role}: {statement}");
        }
        refused(
            &db,
            who,
            &format!(
                "insert into exports (tenant_id, format, requested_by)
                 values ('{tenant}', 'csv', '{}')",
                who.user_id
            ),
        )
        .await;
        refused(
            &db,
            who,
            &format!(
                "insert into export_chunks (tenant_id, export_id, seq, data)
                 values ('{tenant}', '{export}', 99, 'x')"
            ),
        )
        .await;
    }
    let admin = member(&db.owner, tenant, "admin").await;
    let mut tx = db.app.begin(admin).await.unwrap();
    let seen: i64 = sqlx::query_scalar("select count(*) from export_chunks")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(seen, 1, "an admin reads the workspace's export file");
    drop(tx);
    // One export at a time: the workspace's queued one keeps another admin's from starting.
    let mut tx = db.app.begin(admin).await.unwrap();
    let err = sqlx::raw_sql(&format!(
        "insert into exports (tenant_id, format, requested_by) values ('{tenant}', 'csv', '{}')",
        admin.user_id
    ))
    .execute(tx.conn())
    .await
    .unwrap_err();
    assert!(err.to_string().contains("exports_one_at_a_time"), "{err}");
    drop(tx);
    // An admin starts an export only in their own name.
    refused(
        &db,
        admin,
        &format!(
            "insert into exports (tenant_id, format, requested_by)
             values ('{tenant}', 'csv', '{}')",
            t.a.user_id
        ),
    )
    .await;
}

/// Imports are a manager's or an admin's (0048): a rep's context reads no import or remembered
/// mapping, starts none and changes none, while a manager's does all of it, as themself only.
#[tokio::test]
async fn only_managers_and_admins_import() {
    let db = TestDatabase::new().await;
    let t = two_tenants(&db.owner).await;
    let rep = member(&db.owner, t.a.tenant_id, "sales_rep").await;
    let tenant = t.a.tenant_id.as_uuid();
    for table in ["imports", "import_mappings"] {
        let mut tx = db.app.begin(rep).await.unwrap();
        let seen: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(tx.conn())
            .await
            .unwrap();
        assert_eq!(seen, 0, "a rep reads {table}");
    }
    let insert_import = |user: uuid::Uuid| {
        format!(
            "insert into imports (tenant_id, entity, file_name, content, encoding, delimiter,
                                  headers, created_by)
             values ('{tenant}', 'contact', 'c.csv', 'email', 'UTF-8', ',', array['email'],
                     '{user}')"
        )
    };
    refused(&db, rep, &insert_import(rep.user_id.as_uuid())).await;
    refused(
        &db,
        rep,
        &format!(
            "insert into import_mappings (tenant_id, entity, headers_key, mapping, updated_by)
             values ('{tenant}', 'contact', 'name', '{{}}', '{}')",
            rep.user_id.as_uuid()
        ),
    )
    .await;
    assert_eq!(
        rows(&db, rep, "update imports set status = 'queued'").await,
        0
    );
    let manager = member(&db.owner, t.a.tenant_id, "manager").await;
    // As someone else: refused; as themself: allowed.
    refused(&db, manager, &insert_import(t.a.user_id.as_uuid())).await;
    assert_eq!(
        rows(&db, manager, &insert_import(manager.user_id.as_uuid())).await,
        1
    );
    // Only their own import: not the admin's (0054).
    assert_eq!(
        rows(&db, manager, "update imports set status = 'queued'").await,
        1
    );
    assert_eq!(
        rows(&db, t.a, "update imports set status = 'queued'").await,
        2,
        "an admin changes any import of the workspace"
    );
    refused(&db, manager, "delete from imports").await;
}
