-- F5.6, continued: an API token of one workspace presented on another workspace's host. The
-- server has verified the token's signature, so its user and workspace are known; the attempt
-- goes to the audit log of the workspace whose host was called. No tenant context exists yet
-- (the token was refused), hence `security definer`. It writes for an existing user and
-- workspace only, and returns nothing.
create function aura.record_foreign_token(
    p_host_tenant uuid, p_user uuid, p_token_tenant uuid, p_request text)
    returns void
    language sql volatile security definer
    set search_path = ''
    as $$
    insert into public.audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, after)
    select t.id, u.id, 'access.refused', 'workspace', t.id,
           jsonb_build_object('reason', 'other_workspace_token', 'request', left(p_request, 300),
                              'from_workspace', p_token_tenant)
    from public.tenants t, public.users u
    where t.id = p_host_tenant and u.id = p_user and p_token_tenant <> p_host_tenant
$$;

revoke all on function aura.record_foreign_token(uuid, uuid, uuid, text) from public;
grant execute on function aura.record_foreign_token(uuid, uuid, uuid, text) to aura_app;
