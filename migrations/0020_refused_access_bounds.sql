-- The refused-access recorders (0016, 0017), bounded and confined.
--
-- `aura.record_refused_access` looks ids up across workspaces by `id` alone, and every other
-- index is led by `tenant_id`: without these, each id was a sequential scan of nine tables, as
-- the owner, so one member could hold connections for a minute and slow every workspace.
create index contacts_id_idx on contacts (id);
create index activities_id_idx on activities (id);
create index organizations_id_idx on organizations (id);
create index custom_field_definitions_id_idx on custom_field_definitions (id);
create index tenant_members_id_idx on tenant_members (id);
create index invitations_id_idx on invitations (id);
create index sales_processes_id_idx on sales_processes (id);
create index deal_stages_id_idx on deal_stages (id);
create index products_id_idx on products (id);

-- At most this many distinct ids of one request are looked up (the server caps them too).
create function aura.refused_ids_limit() returns integer
    language sql immutable parallel safe
    as $$ select 100 $$;
grant execute on function aura.refused_ids_limit() to aura_app;

-- As in 0016, but each distinct id once, at most `aura.refused_ids_limit()` of them, and each
-- found through an index. The entry names who reached for which record, and why; neither the
-- caller's workspace (its identifier is none of the holder's business) nor the request's text
-- (the caller's to choose; the server's log has it).
drop function aura.record_refused_access(uuid[], text);
create function aura.record_refused_access(p_ids uuid[])
    returns setof text
    language plpgsql volatile security definer
    set search_path = ''
    as $$
declare
    v_actor uuid := aura.current_user_id();
    v_tenant uuid := aura.current_tenant_id();
    v_role aura.member_role := aura.current_member_role();
    v_id uuid;
    v_holder uuid;
    v_kind text;
    v_owner uuid;
    v_reason text;
begin
    if v_actor is null or v_tenant is null then
        return;
    end if;
    -- The first distinct ids, in the order the request named them.
    for v_id in
        select named from unnest(p_ids) with ordinality as u (named, position)
        where named is not null
        group by named
        order by min(position)
        limit aura.refused_ids_limit()
    loop
        -- The caller's own workspace first: a user id may name a member of several workspaces.
        select r.tenant_id, r.kind, r.owner into v_holder, v_kind, v_owner
        from (
            select tenant_id, 'contact' as kind, assigned_to as owner
            from public.contacts where id = v_id
            union all
            select a.tenant_id, 'activity', c.assigned_to
            from public.activities a
            join public.contacts c on c.tenant_id = a.tenant_id and c.id = a.contact_id
            where a.id = v_id
            union all
            select tenant_id, 'organization', null from public.organizations where id = v_id
            union all
            select tenant_id, 'custom_field', null from public.custom_field_definitions where id = v_id
            union all
            select tenant_id, 'member', null from public.tenant_members where id = v_id
            union all
            select tenant_id, 'member', null from public.tenant_members where user_id = v_id
            union all
            select tenant_id, 'invitation', null from public.invitations where id = v_id
            union all
            select tenant_id, 'sales_process', null from public.sales_processes where id = v_id
            union all
            select tenant_id, 'deal_stage', null from public.deal_stages where id = v_id
            union all
            select tenant_id, 'product', null from public.products where id = v_id
        ) r
        order by r.tenant_id = v_tenant desc
        limit 1;

        v_reason := case
            when v_holder is null then null
            when v_holder <> v_tenant then 'other_workspace'
            when v_role = 'sales_rep' and v_owner is not null and v_owner <> v_actor then 'not_owner'
        end;
        if v_reason is not null then
            insert into public.audit_log
                (tenant_id, actor_user_id, action, entity_type, entity_id, after)
            values (v_holder, v_actor, 'access.refused', v_kind, v_id,
                    jsonb_build_object('reason', v_reason));
            return next v_reason;
        end if;
    end loop;
end
$$;
revoke all on function aura.record_refused_access(uuid[]) from public;
grant execute on function aura.record_refused_access(uuid[]) to aura_app;

-- A genuine token of one workspace shown on another's host (0017), now confined like the
-- recorder above: the caller sets the token's own context (its workspace and user), so who
-- tried and from where come from the context, never from arguments, and they must be an active
-- member there. Only the host that was called is an argument.
drop function aura.record_foreign_token(uuid, uuid, uuid, text);
create function aura.record_foreign_token(p_host_tenant uuid)
    returns void
    language sql volatile security definer
    set search_path = ''
    as $$
    insert into public.audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, after)
    select t.id, m.user_id, 'access.refused', 'workspace', t.id,
           jsonb_build_object('reason', 'other_workspace_token')
    from public.tenants t, public.tenant_members m
    where t.id = p_host_tenant
      and m.tenant_id = aura.current_tenant_id()
      and m.user_id = aura.current_user_id()
      and m.deactivated_at is null
      and m.tenant_id <> p_host_tenant
$$;
revoke all on function aura.record_foreign_token(uuid) from public;
grant execute on function aura.record_foreign_token(uuid) to aura_app;

-- Entries written before this migration named the caller's workspace and their request's text:
-- the holder keeps only why.
update audit_log set after = jsonb_build_object('reason', after->'reason')
where action = 'access.refused' and after ?| array['from_workspace', 'request'];
