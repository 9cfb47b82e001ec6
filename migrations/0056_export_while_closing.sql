-- A workspace scheduled for deletion (0051) is suspended, yet its admins are told they can
-- export its data until the deletion is due (F1.8, NFR-D3). The host lookup therefore also says
-- when a suspended workspace's deletion is due, so the server can open its sign-in and export
-- routes, and only those, meanwhile. The function's columns change, so it is dropped and made
-- again, with the same hygiene and grant as 0002.
drop function aura.tenant_by_slug(text);

create function aura.tenant_by_slug(p_slug text)
    returns table (id uuid, name text, status aura.tenant_status, termination_due_at timestamptz)
    language sql stable security definer
    set search_path = ''
    as $$
        select t.id, t.name, t.status, t.termination_due_at
        from public.tenants t where t.slug = p_slug
    $$;

revoke all on function aura.tenant_by_slug(text) from public;
grant execute on function aura.tenant_by_slug(text) to aura_app;
