-- A member's sessions, refresh tokens and one-time codes are theirs to read: another member's
-- context sees none of them (a code's hash, of six digits, would give the code away; a session
-- row holds its CSRF token). The lookups that run before anyone is known (a session cookie, a
-- refresh token) have no user in context and still find their row by its hash; an admin sees
-- the sessions and tokens of the members they deactivate or remove, to end them.
drop policy tenant_sessions_select on tenant_sessions;
create policy tenant_sessions_select on tenant_sessions for select using (
    tenant_id = aura.current_tenant_id()
    and (aura.current_user_id() is null
         or user_id = aura.current_user_id()
         or aura.current_member_role() = 'admin')
);

drop policy api_refresh_tokens_select on api_refresh_tokens;
create policy api_refresh_tokens_select on api_refresh_tokens for select using (
    tenant_id = aura.current_tenant_id()
    and (aura.current_user_id() is null
         or user_id = aura.current_user_id()
         or aura.current_member_role() = 'admin')
);

drop policy step_up_codes_select on step_up_codes;
create policy step_up_codes_select on step_up_codes for select
    using (tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id());
