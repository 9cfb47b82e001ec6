-- A line's list price and unit cost come from the catalog when it is added (0026 trusted the
-- inserted row's, which the application copies from the catalog, but a member's own context in
-- psql could name any list price and so any discount). Otherwise as 0026.
create or replace function aura.price_line_item() returns trigger language plpgsql as $$
declare
    v_currency text;
    v_active boolean;
    v_max_discount numeric;
    v_list_price numeric;
    v_unit_cost numeric;
begin
    perform 1 from public.deals d
    where d.tenant_id = new.tenant_id and d.id = new.deal_id
    for update;
    select p.active and p.archived_at is null, p.max_discount_percent, p.unit_price, p.unit_cost
        into v_active, v_max_discount, v_list_price, v_unit_cost
    from public.products p where p.tenant_id = new.tenant_id and p.id = new.product_id;
    -- A new line's list price and cost are the catalog's at that moment, whatever the row says:
    -- otherwise a rep's own context could name a low list price and pass the discount check.
    if tg_op = 'INSERT' and v_list_price is not null then
        new.list_price := v_list_price;
        new.unit_cost := v_unit_cost;
    end if;
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
