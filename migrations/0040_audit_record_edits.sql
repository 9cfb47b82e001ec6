-- Creates and edits of contacts, organizations and custom-field definitions are written to the
-- audit trail by the database (issue 18), so no path (page, API, import, a future one) can skip
-- them. Until now only their deletion, restoring and reassignment were recorded, by the app;
-- those keep their own entries, so this records only the other fields.
--
-- A plain (security invoker) trigger function: it inserts as the writer, so the trail's own
-- policy still decides (tenant in context, actor = the user in context), and `aura_app` keeps
-- only select and insert on `audit_log`: the trail stays append-only. Deals are audited by
-- `aura_crm::deals` in the same transaction already (created, updated, moved, reassigned).

create function aura.audit_record_change() returns trigger
    language plpgsql
    set search_path = ''
    as $$
declare
    -- The entity type of the entries (`contact`, `organization`, `custom_field`).
    v_kind text := tg_argv[0];
    -- Bookkeeping and derived columns, and the ones with entries of their own.
    v_skip text[] := array['tenant_id', 'id', 'version', 'created_at', 'updated_at',
                           'created_by', 'updated_by', 'deleted_at', 'assigned_to',
                           'sort_key', 'name_key', 'email_key', 'phone_key'];
    v_old jsonb;
    v_new jsonb := to_jsonb(new) - v_skip;
    v_before jsonb := '{}';
    v_after jsonb := '{}';
    v_key text;
begin
    -- The schema owner writing without a workspace in context (seeding, fixtures) has no actor
    -- to record; `aura_app` cannot write a row outside its context at all.
    if aura.current_tenant_id() is distinct from new.tenant_id then
        return null;
    end if;
    if tg_op = 'INSERT' then
        v_after := jsonb_strip_nulls(v_new);
    else
        -- Only the fields that changed, each with its value before and after.
        v_old := to_jsonb(old) - v_skip;
        for v_key in select jsonb_object_keys(v_new) loop
            if v_new -> v_key is distinct from v_old -> v_key then
                v_before := v_before || jsonb_build_object(v_key, v_old -> v_key);
                v_after := v_after || jsonb_build_object(v_key, v_new -> v_key);
            end if;
        end loop;
        if v_after = '{}' then
            return null;
        end if;
    end if;
    insert into public.audit_log
        (tenant_id, actor_user_id, action, entity_type, entity_id, before, after)
    values (new.tenant_id, aura.current_user_id(),
            v_kind || case tg_op when 'INSERT' then '.created' else '.updated' end,
            v_kind, new.id, nullif(v_before, '{}'), v_after);
    return null;
end
$$;

create trigger contacts_audit after insert or update on contacts
    for each row execute function aura.audit_record_change('contact');
create trigger organizations_audit after insert or update on organizations
    for each row execute function aura.audit_record_change('organization');
create trigger custom_field_definitions_audit after insert or update on custom_field_definitions
    for each row execute function aura.audit_record_change('custom_field');
