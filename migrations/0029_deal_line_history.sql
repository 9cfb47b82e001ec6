-- The deal's history of its product lines (F13.6, F14.6): every addition, removal, quantity
-- change and price override, with before/after, who and when, shown on the deal page. The audit
-- log has them too, but a rep cannot read the audit log, and the deal's own history is read
-- with the deal.
--
-- * Written by a trigger on `deal_line_items`, in the line change's transaction, so no code
--   path and no role can change a line without leaving its history row.
-- * Append-only and unforgeable: `aura_app` may only read it (no insert, update or delete
--   grant). The trigger function is `security definer` for that reason alone: it copies the
--   row the line change already wrote (which passed the line's own policies) and the user in
--   context, with an empty search_path and fully qualified names.
-- * Its visibility follows the deal's owner (`deal_owner`, kept in step by a cascading
--   composite key as 0024 does for `deal_contacts`): every policy is a plain column
--   comparison, no subquery.
-- * Product SKU and name are copied, as stage names are in `deal_stage_history`: renaming a
--   product later does not rewrite what happened.
-- * A fix to 0026: a deal that had a line removed could not be reassigned (see the end).

create table deal_line_history (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    deal_id uuid not null,
    deal_owner uuid not null,
    line_id uuid not null,
    product_id uuid not null,
    sku text not null,
    product_name text not null,
    change text not null check (change in ('added', 'changed', 'removed')),
    -- The line's quantity, unit price, reason and extended price before and after (money as
    -- text: exact decimals, never a JSON float); null before an addition and after a removal.
    before jsonb check (jsonb_typeof(before) = 'object'),
    after jsonb check (jsonb_typeof(after) = 'object'),
    changed_at timestamptz not null default now(),
    changed_by uuid not null references users (id),
    primary key (tenant_id, id),
    constraint deal_line_history_deal_fkey foreign key (tenant_id, deal_id, deal_owner)
        references deals (tenant_id, id, assigned_to) on update cascade,
    constraint deal_line_history_line_fkey foreign key (tenant_id, line_id)
        references deal_line_items (tenant_id, id),
    check ((change = 'added') = (before is null)),
    check ((change = 'removed') = (after is null))
);
-- The deal page reads it newest first, a page at a time (keyset on changed_at, id).
create index deal_line_history_deal_idx
    on deal_line_history (tenant_id, deal_id, changed_at desc, id desc);
create index deal_line_history_line_idx on deal_line_history (tenant_id, line_id);

create function aura.record_line_change() returns trigger
    language plpgsql volatile security definer
    set search_path = ''
    as $$
declare
    v_change text;
    v_before jsonb;
    v_after jsonb;
    v_sku text;
    v_name text;
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
            coalesce(aura.current_user_id(), new.updated_by));
    return null;
end $$;
revoke all on function aura.record_line_change() from public;
create trigger deal_line_items_history
    after insert or update of quantity, unit_price, override_reason, deleted_at
    on deal_line_items
    for each row execute function aura.record_line_change();

-- Read with the deal: a rep sees their own deals' history only. Written only by the trigger
-- above (as the owner, who is subject to these policies too: FORCE), never by `aura_app`.
alter table deal_line_history enable row level security;
alter table deal_line_history force row level security;
create policy deal_line_history_select on deal_line_history for select using (
    tenant_id = aura.current_tenant_id()
    and (aura.current_member_role() <> 'sales_rep' or deal_owner = aura.current_user_id())
);
create policy deal_line_history_insert on deal_line_history for insert with check (
    tenant_id = aura.current_tenant_id()
);
create policy deal_line_history_update on deal_line_history for update using (false);
create policy deal_line_history_delete on deal_line_history for delete using (false);
grant select on deal_line_history to aura_app;

-- A removed line still follows its deal's owner: 0026 refused any update of a removed line,
-- and the cascade from `deals` names `tenant_id` and `deal_id`, so reassigning a deal that
-- had a line removed failed. Only the owner may change on a removed line; otherwise as 0026.
create or replace function aura.refuse_line_item_rewrite() returns trigger language plpgsql as $$
begin
    if (new.tenant_id, new.id, new.deal_id, new.product_id, new.list_price, new.unit_cost,
        new.created_at, new.created_by)
       is distinct from
       (old.tenant_id, old.id, old.deal_id, old.product_id, old.list_price, old.unit_cost,
        old.created_at, old.created_by) then
        raise exception 'a line item''s deal, product and list price cannot change'
            using errcode = 'check_violation', constraint = 'deal_line_items_immutable';
    end if;
    if old.deleted_at is not null
       and (to_jsonb(new) - 'deal_owner') is distinct from (to_jsonb(old) - 'deal_owner') then
        raise exception 'a removed line item cannot change'
            using errcode = 'check_violation', constraint = 'deal_line_items_removed';
    end if;
    return new;
end $$;
