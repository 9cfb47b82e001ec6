-- Issue 17: Citus cannot plan a query with parameters inside a `language sql` function ("could
-- not create distributed plan ... parameters in SQL functions"), so every function that takes
-- parameters and reads or writes a table becomes PL/pgSQL, with the same signature, body and
-- privileges. PL/pgSQL hands each statement to the planner with its parameters bound, which
-- Citus routes to the workspace's shard. None of these was inlined before (security definer, or
-- called from PL/pgSQL), so plain PostgreSQL plans them as it did.
-- `#variable_conflict use_column`: a `returns table` column is also a PL/pgSQL variable, and
-- the bodies mean the table's columns wherever the names meet.

create or replace function aura.webhook_wanted(p_tenant uuid, p_type text)
    returns boolean
    language plpgsql stable
    as $$
begin
    return exists (select 1 from public.webhook_endpoints e
                   where e.tenant_id = p_tenant and e.enabled and p_type = any (e.event_types));
end
$$;

create or replace function aura.record_foreign_token(p_host_tenant uuid)
    returns void
    language plpgsql security definer
    set search_path = ''
    as $$
begin
    insert into public.audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, after)
    select t.id, m.user_id, 'access.refused', 'workspace', t.id,
           jsonb_build_object('reason', 'other_workspace_token')
    from public.tenants t, public.tenant_members m
    where t.id = p_host_tenant
      and m.tenant_id = aura.current_tenant_id()
      and m.user_id = aura.current_user_id()
      and m.deactivated_at is null
      and m.tenant_id <> p_host_tenant;
end
$$;

create or replace function aura.record_refused_api_key(p_hash bytea)
    returns void
    language plpgsql security definer
    set search_path = ''
    as $$
begin
    insert into public.audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, after)
    select t.id, k.user_id, 'access.refused', 'workspace', t.id,
           jsonb_build_object('reason', case
               when k.tenant_id <> t.id then 'other_workspace_key'
               when k.revoked_at is not null then 'revoked_api_key'
               else 'expired_api_key' end)
    from public.tenants t, public.api_keys k
    where t.id = aura.current_tenant_id()
      and k.secret_hash = p_hash
      and (k.tenant_id <> t.id or k.revoked_at is not null or k.expires_at <= now());
end
$$;

create or replace function aura.workspace_counts(tenant_ids uuid[])
    returns table (tenant_id uuid, members bigint, organizations bigint, contacts bigint,
                   deals bigint, last_activity timestamptz)
    language plpgsql stable security definer
    set search_path = ''
    as $$
#variable_conflict use_column
begin
    return query
        select t.id,
               (select count(*) from public.tenant_members m
                where m.tenant_id = t.id and m.deactivated_at is null),
               (select count(*) from public.organizations o
                where o.tenant_id = t.id and o.deleted_at is null),
               (select count(*) from public.contacts c
                where c.tenant_id = t.id and c.deleted_at is null),
               (select count(*) from public.deals d
                where d.tenant_id = t.id and d.deleted_at is null),
               (select max(a.occurred_at) from public.audit_log a where a.tenant_id = t.id)
        from (select distinct u.id from unnest(tenant_ids) as u (id)) as t
        where aura.current_user_is_platform_admin() and cardinality(tenant_ids) <= 100;
end
$$;

create or replace function aura.apex_login_candidate(p_email text)
    returns table (id uuid, password_hash text)
    language plpgsql stable security definer
    set search_path = ''
    as $$
#variable_conflict use_column
begin
    return query select u.id, u.password_hash from public.users u
                 where u.email_norm = lower(p_email);
end
$$;

create or replace function aura.tenant_by_slug(p_slug text)
    returns table (id uuid, name text, status aura.tenant_status,
                   termination_due_at timestamptz)
    language plpgsql stable security definer
    set search_path = ''
    as $$
#variable_conflict use_column
begin
    return query select t.id, t.name, t.status, t.termination_due_at
                 from public.tenants t where t.slug = p_slug;
end
$$;
