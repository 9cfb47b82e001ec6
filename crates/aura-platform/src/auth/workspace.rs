//! Sessions on a workspace's host. Everything here runs inside the tenant the host names, so an
//! account, a membership or a session of another tenant simply does not exist for it.

use uuid::Uuid;

use super::{
    check_password, Candidate, LoginError, LoginSource, Secret, LAST_SEEN_GRANULARITY,
    SESSION_IDLE_LIMIT,
};
use crate::db::{AppPool, DbError, TenantContext};
use crate::ids::{MemberRole, TenantId, UserId};

/// Who a valid session belongs to.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session_id: Uuid,
    pub context: TenantContext,
    pub display_name: String,
    pub email: String,
    /// Must accompany every state-changing form this session submits.
    pub csrf_token: String,
    /// The session was used after a pause, and its cookie should be re-issued to extend it.
    pub refreshed: bool,
    /// The IANA time zone the member reads times in: their own, or else the workspace's.
    pub time_zone: String,
}

/// Signs `email` in to `tenant` if `password` matches, opening a new session (a fresh secret at
/// every sign-in). Failed attempts count toward a temporary lockout.
pub async fn log_in(
    pool: &AppPool,
    tenant: TenantId,
    email: &str,
    password: &str,
    source: &LoginSource,
) -> Result<(Secret, SignedIn), LoginError> {
    let (mut tx, member) = verify_member(pool, tenant, email, password, source).await?;
    let opened = open_session(
        &mut tx,
        tenant,
        member.user_id,
        member.role,
        member.display_name,
        member.email,
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(opened)
}

/// A member whose credentials were just checked.
pub(crate) struct VerifiedMember {
    pub(crate) user_id: UserId,
    pub(crate) role: MemberRole,
    pub(crate) display_name: String,
    pub(crate) email: String,
}

/// Checks `email` and `password` against the active members of `tenant` (with the lockout's
/// bookkeeping), returning the transaction, the member in context, for what follows.
pub(crate) async fn verify_member(
    pool: &AppPool,
    tenant: TenantId,
    email: &str,
    password: &str,
    source: &LoginSource,
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, VerifiedMember), LoginError> {
    // Password work waits for its turn before it takes a connection (`password::turn`).
    let _turn = crate::password::turn().await;
    let mut tx = pool.begin_tenant_scope(tenant).await?;
    let member = sqlx::query!(
        r#"select u.id as "id: UserId", u.display_name, u.email,
                  m.role as "role: MemberRole", m.deactivated_at is not null as "deactivated!"
           from tenant_members m
           join users u on u.id = m.user_id
           where m.tenant_id = $1 and u.email_norm = lower($2)"#,
        tenant.as_uuid(),
        email.trim(),
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(DbError::from)?;
    // `aura_app` cannot read `users.password_hash`; the sign-in function hands it over, in a
    // statement of its own (on Citus, a function that reads a table may not run inside a query
    // routed to a shard).
    let password_hash = match &member {
        Some(member) => sqlx::query_scalar!(
            r#"select c.password_hash from aura.apex_login_candidate($1) c where c.id = $2"#,
            member.email,
            member.id as UserId,
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(DbError::from)?
        .flatten(),
        None => None,
    };
    let details = member
        .as_ref()
        .map(|m| (m.display_name.clone(), m.email.clone(), m.role));
    let candidate = member.map(|m| Candidate {
        id: m.id,
        password_hash,
        barred: m.deactivated,
    });
    let (tx, user_id) = check_password(tx, candidate, password, source).await?;
    let (display_name, email, role) = details.expect("a successful check had a candidate");
    Ok((
        tx,
        VerifiedMember {
            user_id,
            role,
            display_name,
            email,
        },
    ))
}

/// Opens a session for `user` in `tenant` inside `tx` (committed by the caller): a fresh
/// secret for the cookie, only its hash stored.
pub(crate) async fn open_session(
    tx: &mut sqlx::PgConnection,
    tenant: TenantId,
    user_id: UserId,
    role: MemberRole,
    display_name: String,
    email: String,
) -> Result<(Secret, SignedIn), DbError> {
    let token = Secret::generate();
    let csrf_token = Secret::generate().as_str().to_owned();
    let session_id = sqlx::query_scalar!(
        "insert into tenant_sessions (tenant_id, token_hash, user_id, csrf_token)
         values ($1, $2, $3, $4)
         returning id",
        tenant.as_uuid(),
        token.sha256(),
        user_id as UserId,
        csrf_token,
    )
    .fetch_one(&mut *tx)
    .await?;
    // A statement of its own: Citus routes no subquery in a distributed insert's `returning`.
    let time_zone = sqlx::query_scalar!(
        r#"select coalesce(u.time_zone, t.timezone) as "time_zone!" from users u, tenants t
           where u.id = $1 and t.id = $2"#,
        user_id as UserId,
        tenant.as_uuid(),
    )
    .fetch_one(&mut *tx)
    .await?;
    let signed_in = SignedIn {
        session_id,
        context: TenantContext {
            tenant_id: tenant,
            user_id,
            role,
            read_only: false,
        },
        display_name,
        email,
        csrf_token,
        refreshed: false,
        time_zone,
    };
    Ok((token, signed_in))
}

/// The session `token` opens in `tenant`, if it exists, has not been idle too long, and its
/// member is still active: a deactivated member is out at their next request.
pub async fn authenticate(
    pool: &AppPool,
    tenant: TenantId,
    token: &Secret,
) -> Result<Option<SignedIn>, DbError> {
    let mut tx = pool.begin_tenant_scope(tenant).await?;
    let session = sqlx::query!(
        r#"select s.id, s.csrf_token, u.id as "user_id: UserId", u.display_name, u.email,
                  m.role as "role: MemberRole",
                  s.last_seen_at < now() - make_interval(secs => $4) as "stale!",
                  coalesce(u.time_zone, t.timezone) as "time_zone!"
           from tenant_sessions s
           join tenant_members m on m.tenant_id = s.tenant_id and m.user_id = s.user_id
           join users u on u.id = s.user_id
           join tenants t on t.id = s.tenant_id
           where s.tenant_id = $1 and s.token_hash = $2
             and m.deactivated_at is null
             and s.last_seen_at > now() - make_interval(secs => $3)
             and s.created_at > u.sessions_valid_after"#,
        tenant.as_uuid(),
        token.sha256(),
        SESSION_IDLE_LIMIT.as_secs_f64(),
        LAST_SEEN_GRANULARITY.as_secs_f64(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(session) = session else {
        return Ok(None);
    };
    if session.stale {
        sqlx::query!(
            "update tenant_sessions set last_seen_at = now() where tenant_id = $1 and id = $2",
            tenant.as_uuid(),
            session.id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(Some(SignedIn {
        session_id: session.id,
        context: TenantContext {
            tenant_id: tenant,
            user_id: session.user_id,
            role: session.role,
            read_only: false,
        },
        display_name: session.display_name,
        email: session.email,
        csrf_token: session.csrf_token,
        refreshed: session.stale,
        time_zone: session.time_zone,
    }))
}

/// Ends the session.
pub async fn log_out(pool: &AppPool, signed_in: &SignedIn) -> Result<(), DbError> {
    let mut tx = pool.begin(signed_in.context).await?;
    sqlx::query!(
        "delete from tenant_sessions where tenant_id = $1 and id = $2",
        signed_in.context.tenant_id.as_uuid(),
        signed_in.session_id
    )
    .execute(tx.conn())
    .await?;
    tx.commit().await
}
