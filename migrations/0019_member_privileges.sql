-- Within a workspace, the database refuses what a member's role does not allow, so a member's
-- context (as `aura_app`, with their tenant, user and role set) cannot raise its own privileges:
--
-- - `users`: no column grant ever lets `aura_app` set `is_platform_admin`, and none lets it read
--   `password_hash`; sign-in reads a hash only through `aura.apex_login_candidate`.
-- - Memberships are created only by accepting an open invitation to one's own email (with its
--   role), or by an operator making the first admin of a workspace being provisioned; changed
--   and removed only by the workspace's admins, never on their own row, and never re-pointed.
-- - Invitations are written by admins; the invitee may only mark their own as accepted.
-- - Sessions, refresh tokens and one-time codes are created for the user in context only, and
--   cannot be re-pointed at another member.
-- - The audit log is read by admins only: entries hold before/after data of every record.
-- - Whom a contact is assigned to, and who took part in an activity, is a member of the
--   record's own workspace.

-- users ----------------------------------------------------------------------------------------

revoke select, insert, update on users from aura_app;
grant select (id, email, email_norm, display_name, is_platform_admin, version, created_at,
              updated_at, failed_logins, locked_until, sessions_valid_after) on users to aura_app;
grant insert (id, email, display_name, password_hash) on users to aura_app;
grant update (display_name, password_hash, version, updated_at, failed_logins, locked_until,
              sessions_valid_after) on users to aura_app;

-- The email of the user in context, for policies that match invitations to their invitee.
-- `language sql stable`: it runs under the users policy, which lets a user see themself.
create function aura.current_user_email_norm() returns text
    language sql stable parallel safe
    as $$ select u.email_norm from public.users u where u.id = aura.current_user_id() $$;
grant execute on function aura.current_user_email_norm() to aura_app;

-- tenant_members -------------------------------------------------------------------------------

drop policy tenant_members_insert on tenant_members;
create policy tenant_members_insert on tenant_members for insert with check (
    tenant_id = aura.current_tenant_id()
    and (
        -- An invitee joins, as themself, with the role of an open invitation to their email.
        (user_id = aura.current_user_id()
         and exists (select 1 from invitations i
                     where i.tenant_id = tenant_members.tenant_id
                       and i.role = tenant_members.role
                       and i.email_norm = aura.current_user_email_norm()
                       and i.accepted_at is null and i.revoked_at is null
                       and i.expires_at > now()))
        -- An operator provisioning a workspace makes its first member, an admin.
        or (role = 'admin'
            and aura.current_user_is_platform_admin()
            and not exists (select 1 from tenant_members m
                            where m.tenant_id = tenant_members.tenant_id))
    )
);
drop policy tenant_members_update on tenant_members;
create policy tenant_members_update on tenant_members for update
    using (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin')
    with check (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin');
drop policy tenant_members_delete on tenant_members;
create policy tenant_members_delete on tenant_members for delete
    using (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin');

-- A membership names one user in one workspace for good: only its role and state change.
revoke insert, update on tenant_members from aura_app;
grant insert (tenant_id, user_id, role, created_by, updated_by) on tenant_members to aura_app;
grant update (role, deactivated_at, version, updated_at, updated_by) on tenant_members to aura_app;

-- Nobody changes their own role or state, or removes themself, whatever their role.
create function aura.refuse_own_membership_change() returns trigger
    language plpgsql
    as $$
begin
    if old.user_id = aura.current_user_id()
       and (tg_op = 'DELETE'
            or new.role <> old.role
            or new.deactivated_at is distinct from old.deactivated_at) then
        raise exception 'a member cannot change or remove their own membership'
            using errcode = 'insufficient_privilege';
    end if;
    return case when tg_op = 'DELETE' then old else new end;
end
$$;
create trigger tenant_members_not_own before update or delete on tenant_members
    for each row execute function aura.refuse_own_membership_change();

-- invitations ----------------------------------------------------------------------------------

drop policy invitations_insert on invitations;
create policy invitations_insert on invitations for insert
    with check (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin');
-- The acceptance finds and locks its invitation before anyone is known (no user in context),
-- which the USING clause allows; only the invitee can then mark it accepted.
drop policy invitations_update on invitations;
create policy invitations_update on invitations for update
    using (tenant_id = aura.current_tenant_id()
           and accepted_at is null and revoked_at is null and expires_at > now()
           and (aura.current_user_id() is null
                or email_norm = aura.current_user_email_norm()))
    with check (tenant_id = aura.current_tenant_id() and accepted_by = aura.current_user_id());
revoke update on invitations from aura_app;
grant update (accepted_at, accepted_by) on invitations to aura_app;

-- Sessions, refresh tokens, one-time codes: the user in context's own ------------------------

drop policy tenant_sessions_insert on tenant_sessions;
create policy tenant_sessions_insert on tenant_sessions for insert
    with check (tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id());
revoke update on tenant_sessions from aura_app;
grant update (last_seen_at) on tenant_sessions to aura_app;

drop policy api_refresh_tokens_insert on api_refresh_tokens;
create policy api_refresh_tokens_insert on api_refresh_tokens for insert
    with check (tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id());
revoke update on api_refresh_tokens from aura_app;
grant update (used_at) on api_refresh_tokens to aura_app;

drop policy step_up_codes_insert on step_up_codes;
create policy step_up_codes_insert on step_up_codes for insert
    with check (tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id());
revoke update on step_up_codes from aura_app;
grant update (attempts, used_at) on step_up_codes to aura_app;

-- The workspace's own row: its admins edit the settings; operators suspend and reactivate.
drop policy tenants_update on tenants;
create policy tenants_update on tenants for update
    using ((id = aura.current_tenant_id() and aura.current_member_role() = 'admin')
           or aura.current_user_is_platform_admin())
    with check ((id = aura.current_tenant_id() and aura.current_member_role() = 'admin')
                or aura.current_user_is_platform_admin());

-- audit_log: admins read it ----------------------------------------------------------------

drop policy audit_log_select on audit_log;
create policy audit_log_select on audit_log for select
    using (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin');

-- Owners and participants are members of the record's workspace -------------------------------

-- A composite key to the membership: another workspace's user cannot be named, and the error
-- cannot tell whether such a user exists. Removing a member hands their contacts on first.
alter table contacts drop constraint contacts_assigned_to_fkey;
alter table contacts add constraint contacts_assigned_to_member_fkey
    foreign key (tenant_id, assigned_to) references tenant_members (tenant_id, user_id);

-- An activity is history and outlives its participant's membership (F3.5), so it keeps its
-- key to the user; the policy checks membership when it is logged, before any key is checked.
drop policy activities_insert on activities;
create policy activities_insert on activities for insert with check (
    tenant_id = aura.current_tenant_id()
    and created_by = aura.current_user_id()
    and exists (select 1 from contacts c
                where c.tenant_id = activities.tenant_id and c.id = activities.contact_id)
    and exists (select 1 from tenant_members m
                where m.tenant_id = activities.tenant_id and m.user_id = activities.participant_id)
);
