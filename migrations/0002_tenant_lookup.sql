-- Which tenant a request's host names. The server must learn this before it has any tenant
-- context, so row-level security would (rightly) show it nothing: this one narrow function runs
-- as its owner instead. It answers only for an exact slug, and only with what the subdomain
-- already makes public (the tenant exists) plus what the sign-in page shows: id, name, status.
-- `security definer` hygiene: empty search_path, fully qualified names.
create function aura.tenant_by_slug(p_slug text)
    returns table (id uuid, name text, status aura.tenant_status)
    language sql stable security definer
    set search_path = ''
    as $$ select t.id, t.name, t.status from public.tenants t where t.slug = p_slug $$;

revoke all on function aura.tenant_by_slug(text) from public;
grant execute on function aura.tenant_by_slug(text) to aura_app;
