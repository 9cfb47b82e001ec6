-- Products and deal pricing (F12, F13): pricing blueprints on the catalog, their history, and
-- line items on deals whose sum IS the deal's amount. The money rules live here, not only in
-- Rust (ARCHITECTURE.md, "Rules: data and money"):
--
-- * Money is `numeric`, never float. Unit prices carry up to 4 decimals (sub-cent unit prices
--   exist: 0.0125 per message) and are at most 10,000,000; quantities are whole numbers from 1
--   to 1,000,000. A line's extended price is quantity x unit price rounded ONCE, half-even, to
--   the minor unit of the workspace's currency (ISO 4217: JPY 0, EUR 2, KWD 3 decimals), and
--   nowhere else: the deal's amount is the plain sum of its live lines' extended prices.
-- * `deals.amount` is kept equal to that sum by a trigger on the lines, in the line change's
--   transaction, and a deal save that sets another amount while it has live lines is refused
--   (`deals_amount_is_line_total`). Without lines, the amount is typed by hand as before; when
--   the last line is removed, the amount becomes unknown (null) until typed again.
-- * Concurrent line changes on one deal are serialized by locking the deal row before the line
--   changes, so each recomputation sees the other's committed lines (read committed).
-- * A line's product is a product of the same workspace (composite foreign key), active when
--   added; a rep's price override stays within the product's discount policy (also checked in
--   Rust, where the refusal names the limit).
-- * Line items follow the deal's owner (`deal_owner`, cascading composite key as 0024 does for
--   `deal_contacts`), so every policy is a plain column comparison: no subquery in a policy.

-- Currency rounding --------------------------------------------------------------------------

-- The number of decimals of a currency's minor unit (ISO 4217); 2 unless listed.
create function aura.currency_minor_unit(p_currency text) returns integer
    language sql immutable parallel safe
    as $$
    select case upper(p_currency)
        when 'BIF' then 0 when 'CLP' then 0 when 'DJF' then 0 when 'GNF' then 0
        when 'ISK' then 0 when 'JPY' then 0 when 'KMF' then 0 when 'KRW' then 0
        when 'PYG' then 0 when 'RWF' then 0 when 'UGX' then 0 when 'UYI' then 0
        when 'VND' then 0 when 'VUV' then 0 when 'XAF' then 0 when 'XOF' then 0
        when 'XPF' then 0
        when 'BHD' then 3 when 'IQD' then 3 when 'JOD' then 3 when 'KWD' then 3
        when 'LYD' then 3 when 'OMR' then 3 when 'TND' then 3
        else 2
    end
$$;

-- Round half to even ("banker's rounding") at `p_places` decimals: PostgreSQL's round()
-- rounds half away from zero. Exact: numeric arithmetic only.
create function aura.round_half_even(p_value numeric, p_places integer) returns numeric
    language sql immutable strict parallel safe
    as $$
    select round(
        case
            when abs(shifted - trunc(shifted)) = 0.5
                then (trunc(shifted) + case when mod(trunc(shifted), 2) = 0 then 0
                                            else sign(shifted) end)
                     / power(10::numeric, p_places)
            else round(p_value, p_places)
        end, p_places)
    from (select p_value * power(10::numeric, p_places) as shifted) s
$$;

-- Deals' amount -----------------------------------------------------------------------------

-- The amount holds KWD's three decimals and a sum of large lines (a line is at most
-- 1,000,000 x 10,000,000). Unconstrained `numeric` keeps the scale it is given, so an amount
-- typed as 1250.00 reads back as 1250.00. `amount_sort` (0025) depends on the column, so it
-- and its indexes are rebuilt around the type change.
drop index deals_amount_idx;
drop index deals_assigned_amount_idx;
alter table deals drop column amount_sort;
alter table deals alter column amount type numeric;
alter table deals add constraint deals_amount_bounds
    check (amount < 1000000000000000 and scale(amount) <= 3);
alter table deals
    add column amount_sort bigint not null
        generated always as (coalesce((amount * 100)::bigint, -1)) stored;
create index deals_amount_idx on deals (tenant_id, amount_sort desc, id desc)
    where deleted_at is null;
create index deals_assigned_amount_idx on deals (tenant_id, assigned_to, amount_sort desc, id desc)
    where deleted_at is null;

-- Products: pricing blueprints (F12.2) -------------------------------------------------------

-- `unit_price` (0006) is the list price. Prices take 4 decimals (see above).
alter table products alter column unit_price type numeric(18, 4);
alter table products
    add constraint products_unit_price_bound check (unit_price <= 10000000),
    add column unit_cost numeric(18, 4) not null default 0
        check (unit_cost between 0 and 10000000),
    -- The largest discount in percent a sales rep may give; managers and admins up to 100.
    add column max_discount_percent numeric(5, 2) not null default 0
        check (max_discount_percent between 0 and 100),
    -- Lines whose margin is under this are flagged; null: no target.
    add column margin_target_percent numeric(5, 2)
        check (margin_target_percent between -100 and 100),
    add column custom_fields jsonb not null default '{}'
        check (jsonb_typeof(custom_fields) = 'object'),
    -- Prefix search under RLS: leakproof "C" comparisons on stored keys (ARCHITECTURE.md).
    add column name_key text collate "C" not null generated always as (lower(name)) stored,
    add column sku_key text collate "C" not null generated always as (lower(sku)) stored;
create index products_name_idx on products (tenant_id, name_key, id) where archived_at is null;
create index products_sku_idx on products (tenant_id, sku_key, id) where archived_at is null;

-- Custom fields for products (F12.6), the existing mechanism.
alter type aura.custom_field_entity add value 'product';

-- Every blueprint change, with why (F12.5). Append-only: `aura_app` inserts and reads.
create table product_price_history (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    product_id uuid not null,
    -- The blueprint before and after: list price, unit cost, discount policy, margin target.
    before jsonb not null check (jsonb_typeof(before) = 'object'),
    after jsonb not null check (jsonb_typeof(after) = 'object'),
    reason text not null check (length(reason) between 1 and 500),
    changed_at timestamptz not null default now(),
    changed_by uuid not null references users (id),
    primary key (tenant_id, id),
    constraint product_price_history_product_fkey foreign key (tenant_id, product_id)
        references products (tenant_id, id)
);
create index product_price_history_product_idx
    on product_price_history (tenant_id, product_id, changed_at desc, id desc);
create index product_price_history_id_idx on product_price_history (id);

alter table product_price_history enable row level security;
alter table product_price_history force row level security;
create policy product_price_history_select on product_price_history for select
    using (tenant_id = aura.current_tenant_id());
create policy product_price_history_insert on product_price_history for insert with check (
    tenant_id = aura.current_tenant_id()
    and changed_by = aura.current_user_id()
    and aura.current_member_role() = 'admin'
);
create policy product_price_history_update on product_price_history for update using (false);
create policy product_price_history_delete on product_price_history for delete using (false);
grant select, insert on product_price_history to aura_app;

-- Line items (F13) ---------------------------------------------------------------------------

create table deal_line_items (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    deal_id uuid not null,
    -- The deal's owner, kept in step by `deal_line_items_deal_fkey` (cascade).
    deal_owner uuid not null,
    product_id uuid not null,
    quantity integer not null check (quantity between 1 and 1000000),
    -- Copied from the blueprint when the line is added (F13.2): a later blueprint change does
    -- not reprice a deal.
    list_price numeric(18, 4) not null check (list_price between 0 and 10000000),
    unit_cost numeric(18, 4) not null check (unit_cost between 0 and 10000000),
    unit_price numeric(18, 4) not null check (unit_price between 0 and 10000000),
    -- Why the unit price differs from the list price (F13.4).
    override_reason text check (length(override_reason) between 1 and 500),
    -- quantity x unit price, rounded half-even to the currency's minor unit: set by
    -- `deal_line_items_price` from the workspace's currency, never by a client.
    extended_price numeric not null,
    deleted_at timestamptz,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by uuid not null references users (id),
    updated_by uuid not null references users (id),
    primary key (tenant_id, id),
    constraint deal_line_items_deal_fkey foreign key (tenant_id, deal_id, deal_owner)
        references deals (tenant_id, id, assigned_to) on update cascade,
    -- A product of another workspace cannot be referenced.
    constraint deal_line_items_product_fkey foreign key (tenant_id, product_id)
        references products (tenant_id, id),
    constraint deal_line_items_override_reason
        check (unit_price = list_price or override_reason is not null)
);
create index deal_line_items_deal_idx on deal_line_items (tenant_id, deal_id, created_at, id)
    where deleted_at is null;
create index deal_line_items_product_idx on deal_line_items (tenant_id, product_id);
create index deal_line_items_id_idx on deal_line_items (id);

-- What was added never changes: only the quantity, the price and its reason, and removal.
create function aura.refuse_line_item_rewrite() returns trigger language plpgsql as $$
begin
    if (new.tenant_id, new.id, new.deal_id, new.product_id, new.list_price, new.unit_cost,
        new.created_at, new.created_by)
       is distinct from
       (old.tenant_id, old.id, old.deal_id, old.product_id, old.list_price, old.unit_cost,
        old.created_at, old.created_by) then
        raise exception 'a line item''s deal, product and list price cannot change'
            using errcode = 'check_violation', constraint = 'deal_line_items_immutable';
    end if;
    if old.deleted_at is not null then
        raise exception 'a removed line item cannot change'
            using errcode = 'check_violation', constraint = 'deal_line_items_removed';
    end if;
    return new;
end $$;
create trigger deal_line_items_immutable
    before update of tenant_id, id, deal_id, product_id, list_price, unit_cost, created_at,
        created_by, quantity, unit_price, override_reason, deleted_at on deal_line_items
    for each row execute function aura.refuse_line_item_rewrite();

-- Before a line changes: lock its deal (concurrent changes to one deal's lines queue here, so
-- each recomputation below sees the other's committed lines), check the product and the
-- discount policy, and price the line in the workspace's currency.
create function aura.price_line_item() returns trigger language plpgsql as $$
declare
    v_currency text;
    v_active boolean;
    v_max_discount numeric;
begin
    perform 1 from public.deals d
    where d.tenant_id = new.tenant_id and d.id = new.deal_id
    for update;
    select p.active and p.archived_at is null, p.max_discount_percent
        into v_active, v_max_discount
    from public.products p where p.tenant_id = new.tenant_id and p.id = new.product_id;
    -- A row for another workspace is left to the insert policy (its product is not visible).
    if new.tenant_id = aura.current_tenant_id() or aura.current_tenant_id() is null then
        -- Not found (another workspace's id): left to `deal_line_items_product_fkey`.
        if tg_op = 'INSERT' and v_active is false then
            raise exception 'an inactive product cannot be added to a deal'
                using errcode = 'check_violation', constraint = 'deal_line_items_product_active';
        end if;
        if aura.current_member_role() = 'sales_rep'
           and new.unit_price < new.list_price * (1 - coalesce(v_max_discount, 0) / 100)
           and (tg_op = 'INSERT' or new.unit_price is distinct from old.unit_price) then
            raise exception 'the discount exceeds the product''s limit of % %% for sales reps',
                    v_max_discount
                using errcode = 'check_violation', constraint = 'deal_line_items_discount_limit';
        end if;
    end if;
    select t.currency into v_currency from public.tenants t where t.id = new.tenant_id;
    new.extended_price := aura.round_half_even(new.quantity * new.unit_price,
                                               aura.currency_minor_unit(coalesce(v_currency, 'USD')));
    return new;
end $$;
create trigger deal_line_items_price
    before insert or update of quantity, unit_price, deleted_at on deal_line_items
    for each row execute function aura.price_line_item();

-- After a line changes: the deal's amount is the sum of its live lines (F13.5), in this
-- transaction. A new statement, so it sees what the lock above waited for.
create function aura.sum_deal_lines() returns trigger language plpgsql as $$
declare
    v_total numeric;
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
        updated_by = coalesce(aura.current_user_id(), d.updated_by)
    where d.tenant_id = new.tenant_id and d.id = new.deal_id
      and d.amount is distinct from v_total;
    return null;
end $$;
create trigger deal_line_items_sum
    after insert or update of quantity, unit_price, deleted_at on deal_line_items
    for each row execute function aura.sum_deal_lines();

-- A deal with live lines has the amount its lines sum to (F13.10): a save that sets another
-- one is refused.
create function aura.refuse_amount_off_lines() returns trigger language plpgsql as $$
declare
    v_total numeric;
begin
    if new.amount is not distinct from old.amount then
        return new;
    end if;
    select sum(l.extended_price) into v_total
    from public.deal_line_items l
    where l.tenant_id = new.tenant_id and l.deal_id = new.id and l.deleted_at is null;
    if v_total is not null and new.amount is distinct from v_total then
        raise exception 'this deal''s amount is the sum of its line items (%)', v_total
            using errcode = 'check_violation', constraint = 'deals_amount_is_line_total';
    end if;
    return new;
end $$;
create trigger deals_amount_is_line_total before update of amount on deals
    for each row execute function aura.refuse_amount_off_lines();

-- Lines follow the deal: seen by who sees the deal, changed by who may change it. A rep only
-- on their own deals (plain column comparison). Removal is soft: no DELETE.
alter table deal_line_items enable row level security;
alter table deal_line_items force row level security;
create policy deal_line_items_select on deal_line_items for select using (
    tenant_id = aura.current_tenant_id()
    and (aura.current_member_role() <> 'sales_rep' or deal_owner = aura.current_user_id())
);
create policy deal_line_items_insert on deal_line_items for insert with check (
    tenant_id = aura.current_tenant_id()
    and created_by = aura.current_user_id()
    and updated_by = aura.current_user_id()
    and (aura.current_member_role() <> 'sales_rep' or deal_owner = aura.current_user_id())
);
create policy deal_line_items_update on deal_line_items for update
    using (
        tenant_id = aura.current_tenant_id()
        and (aura.current_member_role() <> 'sales_rep' or deal_owner = aura.current_user_id()))
    with check (
        tenant_id = aura.current_tenant_id()
        and (aura.current_member_role() <> 'sales_rep' or deal_owner = aura.current_user_id()));
create policy deal_line_items_delete on deal_line_items for delete using (false);
grant select, insert on deal_line_items to aura_app;
grant update (quantity, unit_price, override_reason, deleted_at, version, updated_at, updated_by)
    on deal_line_items to aura_app;

-- The refused-access recorder (0020, 0024) knows line items and price history.
create or replace function aura.record_refused_access(p_ids uuid[])
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
    v_owners uuid[];
    v_reason text;
begin
    if v_actor is null or v_tenant is null then
        return;
    end if;
    for v_id in
        select named from unnest(p_ids) with ordinality as u (named, position)
        where named is not null
        group by named
        order by min(position)
        limit aura.refused_ids_limit()
    loop
        -- The caller's own workspace first: a user id may name a member of several workspaces.
        -- `owners` lists who may see the record as a rep; null: every member.
        select r.tenant_id, r.kind, r.owners into v_holder, v_kind, v_owners
        from (
            select tenant_id, 'contact' as kind, array[assigned_to] as owners
            from public.contacts where id = v_id
            union all
            select tenant_id, 'activity', array_remove(array[contact_owner, deal_owner], null)
            from public.activities where id = v_id
            union all
            select tenant_id, 'deal', array[assigned_to] from public.deals where id = v_id
            union all
            select tenant_id, 'deal_stage_history', array[deal_owner]
            from public.deal_stage_history where id = v_id
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
            union all
            select tenant_id, 'product_price_history', null
            from public.product_price_history where id = v_id
            union all
            select tenant_id, 'deal_line_item', array[deal_owner]
            from public.deal_line_items where id = v_id
        ) r
        order by r.tenant_id = v_tenant desc
        limit 1;

        v_reason := case
            when v_holder is null then null
            when v_holder <> v_tenant then 'other_workspace'
            when v_role = 'sales_rep' and v_owners is not null and not (v_actor = any (v_owners))
                then 'not_owner'
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
