//! The users policy without a subquery (0032): as `aura_app` with a member's context, the
//! member sees exactly themself and the users who are members of the workspace in context,
//! whatever workspaces those users also belong to, and the set follows memberships as they are
//! added and removed (each change followed by `aura.sync_member_of`, as `members` does: 0060;
//! what a dead server left unsynced, `aura.reconcile_member_of` mends: 0065).
//! No context can write the column the policy reads, nor make the sync claim a membership.

use std::collections::BTreeSet;

use aura_platform::db::testing::TestDatabase;
use aura_platform::db::TenantContext;
use aura_platform::ids::{MemberRole, TenantId, UserId};
use sqlx::{Connection, PgPool};
use uuid::Uuid;

use crate::isolation::refused_by_privilege_or_policy;

async fn tenant(owner: &PgPool, slug: &str) -> TenantId {
    let id = TenantId::new();
    sqlx::query("insert into tenants (id, slug, name) values ($1, $2, $2)")
        .bind(id.as_uuid())
        .bind(slug)
        .execute(owner)
        .await
        .unwrap();
    id
}

async fn user(owner: &PgPool, name: &str) -> UserId {
    let id = UserId::new();
    sqlx::query(
        "insert into users (id, email, display_name) values ($1, $2 || '@example.com', $2)",
    )
    .bind(id.as_uuid())
    .bind(name)
    .execute(owner)
    .await
    .unwrap();
    id
}

async fn join(owner: &PgPool, tenant: TenantId, user: UserId, role: &str) {
    sqlx::query("insert into tenant_members (tenant_id, user_id, role) values ($1, $2, $3::aura.member_role)")
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .bind(role)
        .execute(owner)
        .await
        .unwrap();
    sync(owner, tenant, user).await;
}

async fn sync(conn: impl sqlx::PgExecutor<'_>, tenant: TenantId, user: UserId) {
    sqlx::query("select aura.sync_member_of($1, $2)")
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .execute(conn)
        .await
        .unwrap();
}

/// Runs `statement` as `aura_app` in `context`, committing when it succeeds.
async fn run_as(
    db: &TestDatabase,
    context: TenantContext,
    statement: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.app.begin(context).await.unwrap();
    sqlx::raw_sql(statement).execute(tx.conn()).await?;
    tx.commit().await.unwrap();
    Ok(())
}

/// The workspaces `user`'s row says they are a member of, as the owner reads it.
async fn member_of(owner: &PgPool, user: UserId) -> Vec<Uuid> {
    sqlx::query_scalar("select member_of from users where id = $1")
        .bind(user.as_uuid())
        .fetch_one(owner)
        .await
        .unwrap()
}

/// The users `context` sees, looked up every way a query can: all rows, and by id.
async fn visible(db: &TestDatabase, context: TenantContext, everyone: &[UserId]) -> BTreeSet<Uuid> {
    let mut tx = db.app.begin(context).await.unwrap();
    let listed: BTreeSet<Uuid> = sqlx::query_scalar("select id from users")
        .fetch_all(tx.conn())
        .await
        .unwrap()
        .into_iter()
        .collect();
    let ids: Vec<Uuid> = everyone.iter().map(UserId::as_uuid).collect();
    let probed: BTreeSet<Uuid> = sqlx::query_scalar(
        "select u.id from unnest($1::uuid[]) wanted (id) join users u on u.id = wanted.id",
    )
    .bind(&ids)
    .fetch_all(tx.conn())
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(
        listed, probed,
        "a scan and an index probe see the same users"
    );
    listed
}

fn set(users: &[UserId]) -> BTreeSet<Uuid> {
    users.iter().map(UserId::as_uuid).collect()
}

#[tokio::test]
async fn a_member_sees_exactly_themself_and_the_members_of_their_workspace() {
    let db = TestDatabase::new().await;
    let o = &db.owner;
    let (a, b) = (tenant(o, "users-a").await, tenant(o, "users-b").await);
    let a_admin = user(o, "a-admin").await;
    let a_rep = user(o, "a-rep").await;
    let b_admin = user(o, "b-admin").await;
    let both = user(o, "in-both").await;
    let nobody = user(o, "in-none").await;
    let everyone = [a_admin, a_rep, b_admin, both, nobody];
    join(o, a, a_admin, "admin").await;
    join(o, a, a_rep, "sales_rep").await;
    join(o, b, b_admin, "admin").await;
    join(o, a, both, "manager").await;
    join(o, b, both, "sales_rep").await;
    // A deactivated member is still a member: their name stays on the records they own.
    sqlx::query("update tenant_members set deactivated_at = now() where user_id = $1")
        .bind(a_rep.as_uuid())
        .execute(o)
        .await
        .unwrap();

    let in_a = |user_id, role| TenantContext {
        tenant_id: a,
        user_id,
        role,
        read_only: false,
    };
    let in_b = |user_id, role| TenantContext {
        tenant_id: b,
        user_id,
        role,
        read_only: false,
    };
    let a_members = set(&[a_admin, a_rep, both]);
    let b_members = set(&[b_admin, both]);
    assert_eq!(
        visible(&db, in_a(a_admin, MemberRole::Admin), &everyone).await,
        a_members
    );
    assert_eq!(
        visible(&db, in_a(a_rep, MemberRole::SalesRep), &everyone).await,
        a_members
    );
    assert_eq!(
        visible(&db, in_a(both, MemberRole::Manager), &everyone).await,
        a_members
    );
    assert_eq!(
        visible(&db, in_b(b_admin, MemberRole::Admin), &everyone).await,
        b_members
    );
    assert_eq!(
        visible(&db, in_b(both, MemberRole::SalesRep), &everyone).await,
        b_members
    );
    // Naming a workspace one is not a member of shows that workspace's members and oneself,
    // as before 0032 (the server never sets such a context; the row of B's admin is B's).
    assert_eq!(
        visible(&db, in_b(a_admin, MemberRole::Admin), &everyone).await,
        set(&[a_admin, b_admin, both])
    );

    // Memberships change: the user who leaves B is no longer seen there, the one who joins A
    // is, and neither change shows anywhere else.
    sqlx::query("delete from tenant_members where tenant_id = $1 and user_id = $2")
        .bind(b.as_uuid())
        .bind(both.as_uuid())
        .execute(o)
        .await
        .unwrap();
    sync(o, b, both).await;
    join(o, a, nobody, "sales_rep").await;
    assert_eq!(
        visible(&db, in_b(b_admin, MemberRole::Admin), &everyone).await,
        set(&[b_admin])
    );
    assert_eq!(
        visible(&db, in_a(a_admin, MemberRole::Admin), &everyone).await,
        set(&[a_admin, a_rep, both, nobody])
    );
    assert_eq!(member_of(o, both).await, [a.as_uuid()]);
}

#[tokio::test]
async fn an_admin_removing_a_member_through_the_app_role_hides_them_from_the_workspace() {
    let db = TestDatabase::new().await;
    let o = &db.owner;
    let a = tenant(o, "users-c").await;
    let admin = user(o, "c-admin").await;
    let leaver = user(o, "c-leaver").await;
    join(o, a, admin, "admin").await;
    join(o, a, leaver, "sales_rep").await;
    let context = TenantContext {
        tenant_id: a,
        user_id: admin,
        role: MemberRole::Admin,
        read_only: false,
    };
    let mut tx = db.app.begin(context).await.unwrap();
    let removed = sqlx::query("delete from tenant_members where tenant_id = $1 and user_id = $2")
        .bind(a.as_uuid())
        .bind(leaver.as_uuid())
        .execute(tx.conn())
        .await
        .unwrap();
    assert_eq!(removed.rows_affected(), 1);
    tx.commit().await.unwrap();
    // As the server does, once the change has committed (on Citus it must).
    aura_platform::members::sync_member_of(&db.app, a, leaver).await;
    assert_eq!(visible(&db, context, &[admin, leaver]).await, set(&[admin]));
}

/// A server that dies between a membership change and its sync leaves the copy wrong, each way;
/// the reconciler every server runs finds both, mends exactly those, and afterwards has
/// nothing left to mend. Any member's context may call it: it can only make copies right.
#[tokio::test]
async fn copies_a_dead_server_left_stale_are_mended_by_the_reconciler() {
    let db = TestDatabase::new().await;
    let o = &db.owner;
    let a = tenant(o, "users-r").await;
    let admin = user(o, "r-admin").await;
    let joined = user(o, "r-joined").await;
    let left = user(o, "r-left").await;
    join(o, a, admin, "admin").await;
    join(o, a, left, "sales_rep").await;
    // The changes commit; the syncs never run.
    sqlx::raw_sql(&format!(
        "insert into tenant_members (tenant_id, user_id, role) values ('{a}', '{joined}', 'manager');
         delete from tenant_members where tenant_id = '{a}' and user_id = '{left}';"
    ))
    .execute(o)
    .await
    .unwrap();
    let context = TenantContext {
        tenant_id: a,
        user_id: admin,
        role: MemberRole::Admin,
        read_only: false,
    };
    let everyone = [admin, joined, left];
    assert_eq!(visible(&db, context, &everyone).await, set(&[admin, left]));

    let mended = aura_platform::members::reconcile_member_of(&db.app)
        .await
        .unwrap();
    assert_eq!(mended, 2);
    assert_eq!(
        visible(&db, context, &everyone).await,
        set(&[admin, joined])
    );
    assert_eq!(member_of(o, joined).await, vec![a.as_uuid()]);
    assert!(member_of(o, left).await.is_empty());
    assert_eq!(
        aura_platform::members::reconcile_member_of(&db.app)
            .await
            .unwrap(),
        0
    );
    // Called from a member's context it changes nothing more: there is nothing it disagrees with.
    run_as(&db, context, "select aura.reconcile_member_of()")
        .await
        .unwrap();
    assert_eq!(
        visible(&db, context, &everyone).await,
        set(&[admin, joined])
    );
}

/// An account is made only through `aura.create_account`, by itself (the id the server put in
/// context for it), never by a direct insert, and with nothing but what a new account says.
#[tokio::test]
async fn an_account_is_made_only_by_itself_through_the_function() {
    let db = TestDatabase::new().await;
    let newcomer = UserId::new();
    // As the server's signup does: the new account's id in context, nothing else.
    let as_newcomer = |statement: String| {
        let db = &db;
        async move {
            let mut conn = db.raw_app_connection().await;
            let mut tx = conn.begin().await.unwrap();
            let done = sqlx::raw_sql(&format!(
                "set local app.current_user_id = '{newcomer}'; {statement}"
            ))
            .execute(&mut *tx)
            .await;
            if done.is_ok() {
                tx.commit().await.unwrap();
            }
            done.map(|_| ())
        }
    };
    let direct = as_newcomer(format!(
        "insert into users (id, email, display_name) values ('{newcomer}', 'direct@example.com', 'D')"
    ))
    .await
    .unwrap_err();
    assert!(refused_by_privilege_or_policy(&direct), "{direct:?}");
    let someone_else = as_newcomer(format!(
        "select aura.create_account('{}', 'else@example.com', 'Else', 'hash')",
        UserId::new()
    ))
    .await
    .unwrap_err();
    assert!(
        refused_by_privilege_or_policy(&someone_else),
        "{someone_else:?}"
    );

    as_newcomer(format!(
        "select aura.create_account('{newcomer}', 'new@example.com', 'New', 'hash')"
    ))
    .await
    .unwrap();
    let (admin, member_of): (bool, Vec<Uuid>) =
        sqlx::query_as("select is_platform_admin, member_of from users where id = $1")
            .bind(newcomer.as_uuid())
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert!(!admin && member_of.is_empty());
}

#[tokio::test]
async fn no_member_context_can_write_or_read_the_memberships_the_policy_checks() {
    let db = TestDatabase::new().await;
    let o = &db.owner;
    let (a, b) = (tenant(o, "users-d").await, tenant(o, "users-e").await);
    let me = user(o, "d-admin").await;
    join(o, a, me, "admin").await;
    let context = TenantContext {
        tenant_id: a,
        user_id: me,
        role: MemberRole::Admin,
        read_only: false,
    };
    for statement in [
        format!("update users set member_of = array['{b}'::uuid] where id = '{me}'"),
        format!("insert into users (id, email, display_name, member_of) values (gen_random_uuid(), 'x@example.com', 'x', array['{b}'::uuid])"),
        "select member_of from users".to_owned(),
        format!("select aura.new_api_key_identity('{b}', gen_random_uuid(), 'Spoof')"),
    ] {
        let mut tx = db.app.begin(context).await.unwrap();
        let err = sqlx::raw_sql(&statement)
            .execute(tx.conn())
            .await
            .expect_err(&format!("`{statement}` ran"));
        assert!(refused_by_privilege_or_policy(&err), "`{statement}`: {err}");
    }

    // The sync reads the memberships, never the caller's word: asked for a workspace the user
    // is not a member of, it leaves them out of it.
    aura_platform::members::sync_member_of(&db.app, b, me).await;
    assert_eq!(member_of(o, me).await, [a.as_uuid()]);
}

/// An API key and its identity are made together by `aura.create_api_key`, for the workspace
/// and by the admin in context only: a manager cannot make one, and nobody inserts a key (with
/// an identity of their choosing) directly.
#[tokio::test]
async fn only_an_admin_makes_api_keys_and_only_in_the_workspace_in_context() {
    let db = TestDatabase::new().await;
    let o = &db.owner;
    let (a, b) = (tenant(o, "users-f").await, tenant(o, "users-g").await);
    let (admin, manager) = (user(o, "f-admin").await, user(o, "f-manager").await);
    join(o, a, admin, "admin").await;
    join(o, a, manager, "manager").await;
    let as_member = |user_id, role| TenantContext {
        tenant_id: a,
        user_id,
        role,
        read_only: false,
    };
    let create = "select aura.create_api_key(gen_random_uuid(), 'Sync', 'manager',
                                             sha256(gen_random_uuid()::text::bytea), 'abcd', null)";
    let err = run_as(&db, as_member(manager, MemberRole::Manager), create)
        .await
        .unwrap_err();
    assert!(refused_by_privilege_or_policy(&err), "{err}");
    let direct = format!(
        "insert into api_keys (tenant_id, name, role, secret_hash, hint, created_by)
         values ('{b}', 'Direct', 'manager', sha256('x'::bytea), 'abcd', '{admin}')"
    );
    let err = run_as(&db, as_member(admin, MemberRole::Admin), &direct)
        .await
        .unwrap_err();
    assert!(refused_by_privilege_or_policy(&err), "{err}");

    run_as(&db, as_member(admin, MemberRole::Admin), create)
        .await
        .unwrap();
    // The key is the workspace's in context, created by the admin in context, and its
    // identity is a member of that workspace only.
    let keys: Vec<(Uuid, Uuid, Vec<Uuid>)> = sqlx::query_as(
        "select k.tenant_id, k.created_by, u.member_of
         from api_keys k join users u on u.id = k.user_id",
    )
    .fetch_all(o)
    .await
    .unwrap();
    assert_eq!(keys, [(a.as_uuid(), admin.as_uuid(), vec![a.as_uuid()])]);
}
