-- Issue 17: triggers as Citus runs them, on a worker, on a shard (`deals_102040`, not `deals`).
--
-- * A trigger function that asked `tg_table_name` which table fired it got the shard's name and
--   took the wrong branch. The two shared trigger functions now read what fired them from the
--   trigger's argument instead.
-- * Citus evaluates a stable function inside `coalesce` or `case` of a statement it routes only
--   if the function is immutable ("non-IMMUTABLE functions are not allowed in CASE or COALESCE
--   statements"), so the line history's insert and the deal total's update now take the
--   changer from a PL/pgSQL variable, as the stage history's trigger already does (0033).
-- Bodies otherwise unchanged.

create or replace function aura.record_line_change() returns trigger
    language plpgsql volatile security definer
    set search_path = ''
    as $$
declare
    v_change text;
    v_before jsonb;
    v_after jsonb;
    v_sku text;
    v_name text;
    v_changer uuid := coalesce(aura.current_user_id(), new.updated_by);
begin
    if tg_op = 'INSERT' then
        v_change := 'added';
    elsif old.deleted_at is null and new.deleted_at is not null then
        v_change := 'removed';
    elsif (new.quantity, new.unit_price, new.override_reason)
          is distinct from (old.quantity, old.unit_price, old.override_reason) then
        v_change := 'changed';
    else
        return null;
    end if;
    if tg_op = 'UPDATE' then
        v_before := jsonb_build_object(
            'quantity', old.quantity, 'unit_price', old.unit_price::text,
            'override_reason', old.override_reason, 'extended_price', old.extended_price::text);
    end if;
    if v_change <> 'removed' then
        v_after := jsonb_build_object(
            'quantity', new.quantity, 'unit_price', new.unit_price::text,
            'override_reason', new.override_reason, 'extended_price', new.extended_price::text);
    end if;
    select p.sku, p.name into v_sku, v_name
    from public.products p where p.tenant_id = new.tenant_id and p.id = new.product_id;
    insert into public.deal_line_history
        (tenant_id, deal_id, deal_owner, line_id, product_id, sku, product_name, change,
         before, after, changed_by)
    values (new.tenant_id, new.deal_id, new.deal_owner, new.id, new.product_id,
            coalesce(v_sku, ''), coalesce(v_name, ''), v_change, v_before, v_after,
            v_changer);
    return null;
end $$;

create or replace function aura.check_process_shape() returns trigger
    language plpgsql
    as $$
declare
    v_tenant uuid := coalesce(new.tenant_id, old.tenant_id);
    v_process uuid;
    v_outcomes aura.stage_outcome[];
begin
    if tg_argv[0] = 'process' then
        v_process := coalesce(new.id, old.id);
    else
        v_process := coalesce(new.process_id, old.process_id);
    end if;
    if not exists (select 1 from public.sales_processes p
                   where p.tenant_id = v_tenant and p.id = v_process and p.deleted_at is null) then
        return null;
    end if;
    select array_agg(distinct s.outcome) into v_outcomes
    from public.deal_stages s
    where s.tenant_id = v_tenant and s.process_id = v_process and s.archived_at is null;
    if v_outcomes is null or not (v_outcomes @> array['open', 'won', 'lost']::aura.stage_outcome[]) then
        raise exception 'a sales process needs at least one open, one won and one lost stage'
            using errcode = 'check_violation', constraint = 'sales_processes_stage_outcomes';
    end if;
    return null;
end $$;

drop trigger deal_stages_process_shape on deal_stages;
create constraint trigger deal_stages_process_shape
    after insert or update or delete on deal_stages
    deferrable initially deferred
    for each row execute function aura.check_process_shape('stage');
drop trigger sales_processes_process_shape on sales_processes;
create constraint trigger sales_processes_process_shape
    after insert or update of deleted_at on sales_processes
    deferrable initially deferred
    for each row execute function aura.check_process_shape('process');

create or replace function aura.pass_on_owner() returns trigger
    language plpgsql security definer
    set search_path = ''
as $$
begin
    if tg_argv[0] = 'deal' then
        update public.deal_contacts set deal_owner = new.assigned_to
        where tenant_id = new.tenant_id and deal_id = new.id;
        update public.deal_stage_history set deal_owner = new.assigned_to
        where tenant_id = new.tenant_id and deal_id = new.id;
        update public.deal_line_items set deal_owner = new.assigned_to
        where tenant_id = new.tenant_id and deal_id = new.id;
        update public.deal_line_history set deal_owner = new.assigned_to
        where tenant_id = new.tenant_id and deal_id = new.id;
        update public.activities set deal_owner = new.assigned_to
        where tenant_id = new.tenant_id and deal_id = new.id;
        update public.follow_ups set deal_owner = new.assigned_to
        where tenant_id = new.tenant_id and deal_id = new.id;
    else
        update public.deal_contacts set contact_owner = new.assigned_to
        where tenant_id = new.tenant_id and contact_id = new.id;
        update public.activities set contact_owner = new.assigned_to
        where tenant_id = new.tenant_id and contact_id = new.id;
        update public.follow_ups set contact_owner = new.assigned_to
        where tenant_id = new.tenant_id and contact_id = new.id;
    end if;
    return null;
end $$;

drop trigger deals_owner_passes_on on deals;
create trigger deals_owner_passes_on after update of assigned_to on deals
    for each row when (old.assigned_to is distinct from new.assigned_to)
    execute function aura.pass_on_owner('deal');
drop trigger contacts_owner_passes_on on contacts;
create trigger contacts_owner_passes_on after update of assigned_to on contacts
    for each row when (old.assigned_to is distinct from new.assigned_to)
    execute function aura.pass_on_owner('contact');

create or replace function aura.sum_deal_lines() returns trigger language plpgsql as $$
declare
    v_total numeric;
    v_changer uuid := aura.current_user_id();
begin
    select sum(l.extended_price) into v_total
    from public.deal_line_items l
    where l.tenant_id = new.tenant_id and l.deal_id = new.deal_id and l.deleted_at is null;
    if v_total >= 1000000000000000 then
        raise exception 'a deal''s total must stay under 1,000,000,000,000,000'
            using errcode = 'check_violation', constraint = 'deals_amount_bounds';
    end if;
    update public.deals d
    set amount = v_total, version = d.version + 1, updated_at = now(),
        updated_by = coalesce(v_changer, d.updated_by)
    where d.tenant_id = new.tenant_id and d.id = new.deal_id
      and d.amount is distinct from v_total;
    return null;
end $$;
