-- F5.6: a refused attempt to reach a record is written to the audit log of the workspace that
-- holds the record: a member of another workspace naming it, or a sales rep naming a contact
-- (or its activity) assigned to someone else. The server calls this once with every id a
-- refused request named (in its path, or a bulk action's body), in a transaction of its own, so
-- the entries survive whatever the refused request rolled back.
--
-- Row-level security hides exactly these records from the caller, hence `security definer`:
-- it reads the record's workspace and owner as the schema owner, and writes one entry there.
-- The actor and their workspace come from the session's context, never from arguments. It
-- returns one reason per refused record, nothing for ids that name no record or one the caller
-- may see (such as a deleted one); nothing of the records goes back.
--
-- A table of tenant records that pages or the API name by id belongs in the union below.
create function aura.record_refused_access(p_ids uuid[], p_request text)
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
    foreach v_id in array p_ids loop
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
            select tenant_id, 'member', null from public.tenant_members
            where id = v_id or user_id = v_id
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
                    jsonb_build_object('reason', v_reason, 'request', left(p_request, 300),
                                       'from_workspace', v_tenant));
            return next v_reason;
        end if;
    end loop;
end
$$;

revoke all on function aura.record_refused_access(uuid[], text) from public;
grant execute on function aura.record_refused_access(uuid[], text) to aura_app;
