//! Inviting people into a workspace (F2.4, F3.1-F3.3): an admin names an email and a role, the
//! invitee gets a single-use link valid for 7 days, and joining through it makes them a member,
//! with a new account or the one they already have.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::{
    check_password, open_session, Candidate, LoginError, LoginSource, Secret, SignedIn,
};
use crate::db::{set_context, AppPool, DbError, TenantContext};
use crate::ids::{Email, MemberRole, TenantId, UserId};
use crate::permissions::Permission;
use crate::{outbox, password};

pub const INVITATION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);

#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("only admins invite people")]
    NotAdmin,
    #[error("this person is already a member")]
    AlreadyMember,
    #[error("this person already has an open invitation")]
    AlreadyInvited,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A sent invitation, and its link (for showing when no mail server is configured).
#[derive(Debug, Clone)]
pub struct Sent {
    pub email: Email,
    pub link: String,
    pub expires_at: DateTime<Utc>,
    /// The invitation message, for the mailer to send now that it is committed.
    pub message: outbox::QueuedEmail,
}

/// Invites `email` as `role` into the context's workspace; `link_base` is the workspace's
/// address, to which the link's path is appended. The message goes to the outbox in the same
/// transaction, and the invitation is audited.
pub async fn invite(
    pool: &AppPool,
    context: TenantContext,
    workspace_name: &str,
    email: &Email,
    role: MemberRole,
    link_base: &str,
) -> Result<Sent, InviteError> {
    if !context.role.may(Permission::ManageMembers) {
        return Err(InviteError::NotAdmin);
    }
    let mut tx = pool.begin(context).await?;
    let already_member = sqlx::query_scalar!(
        r#"select exists (select 1 from tenant_members m join users u on u.id = m.user_id
                          where m.tenant_id = $1 and u.email_norm = lower($2)) as "exists!""#,
        context.tenant_id.as_uuid(),
        email.as_str(),
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    if already_member {
        return Err(InviteError::AlreadyMember);
    }
    let secret = Secret::generate();
    let inserted = sqlx::query_scalar!(
        "insert into invitations (tenant_id, email, role, token_hash, invited_by, expires_at)
         values ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
         returning expires_at",
        context.tenant_id.as_uuid(),
        email.as_str(),
        role as MemberRole,
        secret.sha256(),
        context.user_id as UserId,
        INVITATION_LIFETIME.as_secs_f64(),
    )
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from);
    let expires_at = match inserted {
        Err(err) if err.unique_violation() == Some("invitations_open_email_key") => {
            return Err(InviteError::AlreadyInvited)
        }
        other => other?,
    };
    let link = format!(
        "{}/invitations/{}",
        link_base.trim_end_matches('/'),
        secret.as_str()
    );
    let body = format!(
        "You have been invited to join {workspace_name} on Aura CRM as {role}.\n\n\
         Open this link to accept (it works once, until {expires}):\n{link}\n\n\
         If you did not expect this invitation, you can ignore this message.\n",
        role = role.label(),
        expires = expires_at.format("%Y-%m-%d %H:%M UTC"),
    );
    let subject = format!("You are invited to {workspace_name} on Aura");
    let message = outbox::enqueue(
        tx.conn(),
        context.user_id,
        email.as_str(),
        &subject,
        &body,
        secret.as_str(),
    )
    .await?;
    sqlx::query!(
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type, after)
         values ($1, $2, 'member.invited', 'invitation', $3)",
        context.tenant_id.as_uuid(),
        context.user_id as UserId,
        serde_json::json!({ "email": email.as_str(), "role": role.as_str() }),
    )
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(Sent {
        email: email.clone(),
        link,
        expires_at,
        message,
    })
}

/// An invitation that can still be accepted.
#[derive(Debug, Clone)]
pub struct OpenInvitation {
    pub id: Uuid,
    pub email: String,
    pub role: MemberRole,
    pub expires_at: DateTime<Utc>,
}

/// The open invitation `secret` names in `tenant`: not used, not revoked, not expired. Whether
/// its email has an account is not said: the link may be in other hands than its invitee's.
pub async fn find_open(
    pool: &AppPool,
    tenant: TenantId,
    secret: &Secret,
) -> Result<Option<OpenInvitation>, DbError> {
    let mut tx = pool.begin_tenant_scope(tenant).await?;
    let found = sqlx::query!(
        r#"select i.id, i.email, i.role as "role: MemberRole", i.expires_at
           from invitations i
           where i.tenant_id = $1 and i.token_hash = $2
             and i.accepted_at is null and i.revoked_at is null and i.expires_at > now()"#,
        tenant.as_uuid(),
        secret.sha256(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(found.map(|row| OpenInvitation {
        id: row.id,
        email: row.email,
        role: row.role,
        expires_at: row.expires_at,
    }))
}

/// What the invitee fills in: a name and new password, or their existing account's password
/// (the name is then ignored).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct AcceptInput {
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub password: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("this invitation has been used, withdrawn, or has expired")]
    Gone,
    #[error("the password does not match the existing account")]
    WrongPassword,
    #[error("the form has problems")]
    Invalid(Vec<(&'static str, String)>),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Accepts the invitation: the invitee becomes a member with the invited role and is signed in.
/// Single use: the invitation row is locked and marked accepted in the same transaction.
/// An existing account's password is checked with the sign-in's lockout at `source`.
pub async fn accept(
    pool: &AppPool,
    tenant: TenantId,
    secret: &Secret,
    input: &AcceptInput,
    source: &LoginSource,
) -> Result<(Secret, SignedIn), AcceptError> {
    // Password work waits for its turn before it takes a connection (`password::turn`).
    let _turn = password::turn().await;
    let mut tx = pool.begin_tenant_scope(tenant).await?;
    let invitation = sqlx::query!(
        r#"select id, email, role as "role: MemberRole", invited_by from invitations
           where tenant_id = $1 and token_hash = $2
             and accepted_at is null and revoked_at is null and expires_at > now()
           for update"#,
        tenant.as_uuid(),
        secret.sha256(),
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(DbError::from)?
    .ok_or(AcceptError::Gone)?;
    let existing = sqlx::query!(
        r#"select id as "id!: UserId", password_hash from aura.apex_login_candidate($1)"#,
        invitation.email
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(DbError::from)?;

    let (mut tx, user_id, display_name) = match existing {
        Some(account) => {
            let candidate = Candidate {
                id: account.id,
                password_hash: account.password_hash,
                barred: false,
            };
            let (tx, user_id) = check_password(tx, Some(candidate), &input.password, source)
                .await
                .map_err(|err| match err {
                    LoginError::Rejected => AcceptError::WrongPassword,
                    LoginError::Db(err) => AcceptError::Db(err),
                })?;
            (tx, user_id, None)
        }
        None => {
            let display_name = validate_new_account(input)?;
            let user_id = UserId::new();
            let plaintext = input.password.clone();
            let hash = password::off_executor(move || password::hash(&plaintext)).await;
            set_context(&mut tx, None, Some(user_id), None).await?;
            sqlx::query!(
                "select aura.create_account($1, $2, $3, $4)",
                user_id as UserId,
                invitation.email,
                display_name,
                hash,
            )
            .execute(&mut *tx)
            .await
            .map_err(DbError::from)?;
            (tx, user_id, Some(display_name))
        }
    };
    // From here the invitee acts, as the member they become.
    set_context(&mut tx, None, Some(user_id), Some(invitation.role)).await?;
    sqlx::query!(
        "insert into tenant_members (tenant_id, user_id, role, created_by, updated_by)
         values ($1, $2, $3, $4, $4)",
        tenant.as_uuid(),
        user_id as UserId,
        invitation.role as MemberRole,
        invitation.invited_by,
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    sqlx::query!(
        "update invitations set accepted_at = now(), accepted_by = $3 where tenant_id = $1 and id = $2",
        tenant.as_uuid(),
        invitation.id,
        user_id as UserId,
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    sqlx::query!(
        "insert into audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, after)
         values ($1, $2, 'member.joined', 'user', $2, $3)",
        tenant.as_uuid(),
        user_id as UserId,
        serde_json::json!({ "role": invitation.role.as_str(), "invitation": invitation.id }),
    )
    .execute(&mut *tx)
    .await
    .map_err(DbError::from)?;
    let display_name = match display_name {
        Some(name) => name,
        None => sqlx::query_scalar!(
            "select display_name from users where id = $1",
            user_id as UserId
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(DbError::from)?,
    };
    let opened = open_session(
        &mut tx,
        tenant,
        user_id,
        invitation.role,
        display_name,
        invitation.email,
    )
    .await?;
    tx.commit().await.map_err(DbError::from)?;
    crate::members::sync_member_of(pool, tenant, user_id).await;
    Ok(opened)
}

fn validate_new_account(input: &AcceptInput) -> Result<String, AcceptError> {
    let mut errors = Vec::new();
    let name = input.display_name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push((
            "display_name",
            "Enter your name (at most 200 characters).".to_owned(),
        ));
    }
    if let Some(problem) = password::weakness(&input.password, &[name]) {
        errors.push(("password", problem));
    }
    if errors.is_empty() {
        Ok(name.to_owned())
    } else {
        Err(AcceptError::Invalid(errors))
    }
}
