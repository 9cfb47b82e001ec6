//! A workspace's team (F3, F4.2): the members page, invitations, role changes, deactivation;
//! and joining through an invitation link.

use askama::Template;
use aura_platform::auth::{LoginSource, Secret};
use aura_platform::ids::{Email, MemberRole, UserId};
use aura_platform::invitations::{self, AcceptError, AcceptInput, InviteError, OpenInvitation};
use aura_platform::members::{self, Member as TeamMember, MemberChangeError, PendingInvitation};
use aura_platform::permissions::Permission;
use aura_platform::tenants::Workspace;

use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::extract::{Id, MemberForm};
use crate::forms::NoFields;
use crate::layout::{render, Chrome, Section};
use crate::rate_limit::{self, ClientAddress};
use crate::session::{
    self, form_token_matches, issue_form_token, removal, session_cookie, Member, FORM_CSRF_COOKIE,
};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/members", get(members_page))
        .route("/members/invitations", post(invite))
        .route("/members/{user_id}/role", post(change_role))
        .route("/members/{user_id}/deactivate", post(deactivate))
        .route("/members/{user_id}/reactivate", post(reactivate))
        .route(
            "/invitations/{secret}",
            get(invitation_page).post(accept_invitation),
        )
        .route("/members/{user_id}/remove", get(removal_page).post(remove))
        .route("/members/{user_id}/remove/code", post(send_removal_code))
}

#[derive(Template)]
#[template(path = "team/remove_member.html")]
struct RemovalPage {
    chrome: Chrome,
    target: TeamMember,
    /// No mail server carries codes: the admin gives their password again instead.
    by_password: bool,
    /// A code was just sent.
    code_sent: bool,
    error: Option<&'static str>,
}

impl RemovalPage {
    fn new(state: &AppState, member: &Member, target: TeamMember) -> Self {
        Self {
            chrome: Chrome::for_member(Section::Members, member),
            target,
            by_password: !state.mailer.delivers(),
            code_sent: false,
            error: None,
        }
    }
}

/// The member `user_id`, for an admin about to remove them.
async fn removal_target(
    state: &AppState,
    member: &Member,
    user_id: UserId,
) -> Result<TeamMember, WebError> {
    member.require(Permission::RemoveMembers)?;
    members::list(&state.db, member.signed_in.context)
        .await?
        .into_iter()
        .find(|m| m.user_id == user_id)
        .ok_or(WebError::NotFound)
}

async fn removal_page(
    State(state): State<AppState>,
    member: Member,
    Id(user_id): Id<UserId>,
) -> Result<Response, WebError> {
    let target = removal_target(&state, &member, user_id).await?;
    Ok(render(&RemovalPage::new(&state, &member, target)))
}

async fn send_removal_code(
    State(state): State<AppState>,
    Id(user_id): Id<UserId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    // Without a mail server no code is issued: only the page could show it, and a code on the
    // page proves nothing about who holds the session.
    if !state.mailer.delivers() {
        return Err(WebError::NotFound);
    }
    let target = removal_target(&state, &member, user_id).await?;
    let issued = members::request_removal_code(&state.db, member.signed_in.context, target.user_id)
        .await
        .map_err(member_change_error)?;
    state.mailer.deliver(&state.db, &issued.message).await;
    Ok(render(&RemovalPage {
        code_sent: true,
        ..RemovalPage::new(&state, &member, target)
    }))
}

#[derive(Deserialize)]
struct RemovalForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

async fn remove(
    State(state): State<AppState>,
    client: ClientAddress,
    Id(user_id): Id<UserId>,
    MemberForm { member, form }: MemberForm<RemovalForm>,
) -> Result<Response, WebError> {
    let target = removal_target(&state, &member, user_id).await?;
    let source = LoginSource::from(client.ip());
    let proof = state.step_up_proof(&form.code, &form.password, &source);
    let error = match members::remove(&state.db, member.signed_in.context, target.user_id, proof).await {
        Ok(()) => return Ok(Redirect::to("/members").into_response()),
        Err(MemberChangeError::WrongCode) => "That code is not right. Check the latest email and try again.",
        Err(MemberChangeError::NoCode) => {
            "There is no usable code: it expired (codes last ten minutes), was used, or was guessed \
             wrong five times. Ask for a new one."
        }
        Err(MemberChangeError::WrongPassword) => {
            "That is not your password, or your account is locked for a while. After 5 failed \
             attempts it is locked for 15 minutes."
        }
        Err(other) => return Err(member_change_error(other)),
    };
    let page = RemovalPage {
        error: Some(error),
        ..RemovalPage::new(&state, &member, target)
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

#[derive(Template)]
#[template(path = "team/members.html")]
struct MembersPage {
    chrome: Chrome,
    /// Role changes, deactivation and invitations are offered.
    can_manage: bool,
    can_remove: bool,
    own_id: UserId,
    members: Vec<TeamMember>,
    pending: Vec<PendingInvitation>,
    roles: [MemberRole; 3],
    invite_email: String,
    invite_role: MemberRole,
    invite_error: Option<String>,
    /// After an invitation: who was invited.
    invited: Option<String>,
    /// Their link, to pass on by hand while no mail server is configured.
    invite_link: Option<String>,
}

impl MembersPage {
    async fn load(state: &AppState, member: &Member) -> Result<Self, WebError> {
        let context = member.signed_in.context;
        member.require(Permission::SeeMembers)?;
        Ok(Self {
            chrome: Chrome::for_member(Section::Members, member),
            can_manage: member.may(Permission::ManageMembers),
            can_remove: member.may(Permission::RemoveMembers),
            own_id: context.user_id,
            members: members::list(&state.db, context).await?,
            pending: members::pending_invitations(&state.db, context).await?,
            roles: MemberRole::ALL,
            invite_email: String::new(),
            invite_role: MemberRole::SalesRep,
            invite_error: None,
            invited: None,
            invite_link: None,
        })
    }
}

async fn members_page(State(state): State<AppState>, member: Member) -> Result<Response, WebError> {
    Ok(render(&MembersPage::load(&state, &member).await?))
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

fn parse_role(value: &str) -> Option<MemberRole> {
    MemberRole::ALL
        .into_iter()
        .find(|role| role.as_str() == value)
}

async fn invite(
    State(state): State<AppState>,
    MemberForm { member, form }: MemberForm<InviteForm>,
) -> Result<Response, WebError> {
    let context = member.signed_in.context;
    member.require(Permission::ManageMembers)?;
    let role = parse_role(&form.role).ok_or(WebError::Invalid {
        constraint: "role".into(),
    })?;
    let email = form.email.parse::<Email>();
    let sent = match &email {
        Ok(email) => {
            let link_base = state.site.workspace_url(member.workspace.slug.as_str());
            Some(
                invitations::invite(
                    &state.db,
                    context,
                    &member.workspace.name,
                    email,
                    role,
                    &link_base,
                )
                .await,
            )
        }
        Err(_) => None,
    };
    let mut page = MembersPage::load(&state, &member).await?;
    page.invite_email = form.email.trim().to_owned();
    page.invite_role = role;
    let status = match sent {
        Some(Ok(sent)) => {
            state.mailer.deliver(&state.db, &sent.message).await;
            page.invite_email.clear();
            page.invited = Some(sent.email.to_string());
            page.invite_link = (!state.mailer.delivers()).then_some(sent.link);
            StatusCode::OK
        }
        None => {
            page.invite_error = Some("Enter an email address like name@company.com.".into());
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Some(Err(InviteError::AlreadyMember)) => {
            page.invite_error = Some("This person is already a member of this workspace.".into());
            StatusCode::CONFLICT
        }
        Some(Err(InviteError::AlreadyInvited)) => {
            page.invite_error = Some("This person already has an open invitation.".into());
            StatusCode::CONFLICT
        }
        Some(Err(InviteError::NotAdmin)) => return Err(WebError::Forbidden),
        Some(Err(InviteError::Db(err))) => return Err(err.into()),
    };
    Ok((status, render(&page)).into_response())
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    role: String,
}

async fn change_role(
    State(state): State<AppState>,
    Id(user_id): Id<UserId>,
    MemberForm { member, form }: MemberForm<RoleForm>,
) -> Result<Response, WebError> {
    let role = parse_role(&form.role).ok_or(WebError::Invalid {
        constraint: "role".into(),
    })?;
    members::change_role(&state.db, member.signed_in.context, user_id, role)
        .await
        .map_err(member_change_error)?;
    Ok(Redirect::to("/members").into_response())
}

async fn deactivate(
    State(state): State<AppState>,
    Id(user_id): Id<UserId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    set_active(state, member, user_id, false).await
}

async fn reactivate(
    State(state): State<AppState>,
    Id(user_id): Id<UserId>,
    MemberForm { member, .. }: MemberForm<NoFields>,
) -> Result<Response, WebError> {
    set_active(state, member, user_id, true).await
}

async fn set_active(
    state: AppState,
    member: Member,
    user_id: UserId,
    active: bool,
) -> Result<Response, WebError> {
    members::set_active(&state.db, member.signed_in.context, user_id, active)
        .await
        .map_err(member_change_error)?;
    Ok(Redirect::to("/members").into_response())
}

fn member_change_error(err: MemberChangeError) -> WebError {
    match err {
        MemberChangeError::NotAdmin | MemberChangeError::OwnAccount => WebError::Forbidden,
        MemberChangeError::NotFound => WebError::NotFound,
        MemberChangeError::LastAdmin => WebError::Conflict {
            constraint: "last_admin".into(),
        },
        MemberChangeError::WrongCode
        | MemberChangeError::NoCode
        | MemberChangeError::WrongPassword => WebError::Forbidden,
        MemberChangeError::Db(err) => err.into(),
    }
}

#[derive(Template)]
#[template(path = "team/accept_invitation.html")]
struct InvitationPage {
    chrome: Chrome,
    workspace_name: String,
    invitation: OpenInvitation,
    secret: String,
    csrf_token: String,
    display_name: String,
    name_error: Option<String>,
    password_error: Option<String>,
}

/// The open invitation at this workspace named by the link's secret.
async fn open_invitation(
    state: &AppState,
    parts: &Parts,
    secret: &str,
) -> Result<(Workspace, Secret, OpenInvitation), WebError> {
    let workspace = session::workspace(parts)?;
    let secret = Secret::parse(secret).ok_or(WebError::InvitationGone)?;
    let invitation = invitations::find_open(&state.db, workspace.id, &secret)
        .await?
        .ok_or(WebError::InvitationGone)?;
    Ok((workspace, secret, invitation))
}

/// The acceptance form, with a fresh double-submit token (also set in the returned jar).
fn invitation_form(
    state: &AppState,
    jar: CookieJar,
    workspace: &Workspace,
    invitation: OpenInvitation,
    secret: &str,
    display_name: String,
) -> (CookieJar, InvitationPage) {
    let (jar, token) = issue_form_token(state, jar);
    let page = InvitationPage {
        chrome: Chrome::for_workspace(Section::None, workspace),
        workspace_name: workspace.name.clone(),
        invitation,
        secret: secret.to_owned(),
        csrf_token: token,
        display_name,
        name_error: None,
        password_error: None,
    };
    (jar, page)
}

async fn invitation_page(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    parts: Parts,
) -> Result<Response, WebError> {
    let (workspace, _, invitation) = open_invitation(&state, &parts, &secret).await?;
    let (jar, page) = invitation_form(
        &state,
        CookieJar::new(),
        &workspace,
        invitation,
        &secret,
        String::new(),
    );
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
struct AcceptForm {
    #[serde(flatten)]
    input: AcceptInput,
    #[serde(default)]
    csrf_token: String,
}

async fn accept_invitation(
    State(state): State<AppState>,
    client: ClientAddress,
    Path(secret_text): Path<String>,
    jar: CookieJar,
    parts: Parts,
    Form(form): Form<AcceptForm>,
) -> Result<Response, WebError> {
    rate_limit::per_client_address(&state, &client).await?;
    let csrf_ok = form_token_matches(&jar, &form.csrf_token);
    let (workspace, secret, invitation) = open_invitation(&state, &parts, &secret_text).await?;
    let name = form.input.display_name.trim().to_owned();
    let (jar, mut page) = invitation_form(&state, jar, &workspace, invitation, &secret_text, name);
    if !csrf_ok {
        page.password_error =
            Some("This form had expired. Please enter your password again.".into());
        return Ok((StatusCode::FORBIDDEN, jar, render(&page)).into_response());
    }
    match invitations::accept(
        &state.db,
        workspace.id,
        &secret,
        &form.input,
        &LoginSource::from(client.ip()),
    )
    .await
    {
        Ok((token, _)) => {
            let jar = jar
                .remove(removal(FORM_CSRF_COOKIE))
                .add(session_cookie(&state, &token));
            Ok((jar, Redirect::to("/")).into_response())
        }
        Err(AcceptError::Invalid(errors)) => {
            for (field, message) in errors {
                match field {
                    "display_name" => page.name_error = Some(message),
                    _ => page.password_error = Some(message),
                }
            }
            Ok((StatusCode::UNPROCESSABLE_ENTITY, jar, render(&page)).into_response())
        }
        Err(AcceptError::WrongPassword) => {
            page.password_error = Some(
                "That is not this account's password. After 5 failed attempts from one place the account is locked there for a while."
                    .into(),
            );
            Ok((StatusCode::UNPROCESSABLE_ENTITY, jar, render(&page)).into_response())
        }
        Err(AcceptError::Gone) => Err(WebError::InvitationGone),
        Err(AcceptError::Db(err)) => Err(err.into()),
    }
}
