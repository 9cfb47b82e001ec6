-- An external contract-signing system may record that a prospect signed (journey 1, step 2),
-- authenticated by the platform API key. It acts as an integration, not a user: the context
-- names it in `app.current_integration`, and these policies let it read and advance workspace
-- requests, nothing else (no user, no tenant, no audit rows but its own, unattributed ones).
create function aura.current_integration() returns text
    language sql stable parallel safe
    as $$ select nullif(current_setting('app.current_integration', true), '') $$;
grant execute on function aura.current_integration() to aura_app;

drop policy signups_select on signups;
create policy signups_select on signups for select using (
    user_id = aura.current_user_id()
    or aura.current_user_is_platform_admin()
    or aura.current_integration() = 'contract_signing'
);
drop policy signups_update on signups;
create policy signups_update on signups for update
    using (aura.current_user_is_platform_admin() or aura.current_integration() = 'contract_signing')
    with check (aura.current_user_is_platform_admin() or aura.current_integration() = 'contract_signing');
