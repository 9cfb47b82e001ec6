-- Sort keys for the deal list that row-level security lets an index serve (ARCHITECTURE.md,
-- known traps). Under RLS a condition is an index condition only if its operators are
-- leakproof: `numeric` comparisons are not, so a keyset cursor `(amount, id) < (...)` on
-- 0024's `deals_amount_idx` was a filter and page N read every row before it. Nor is
-- `coalesce` over a column, so the unknown amounts and dates are folded into stored keys:
-- `amount_sort` is the amount in cents (bigint: leakproof comparisons), -1 when unknown, so
-- unknown amounts come last in the largest-first list; `close_sort` is the expected close date,
-- 'infinity' when unknown, so undated deals come last in the soonest-first list.
alter table deals
    add column amount_sort bigint not null
        generated always as (coalesce((amount * 100)::bigint, -1)) stored,
    add column close_sort date not null
        generated always as (coalesce(expected_close_date, 'infinity'::date)) stored;

drop index deals_amount_idx;
drop index deals_close_date_idx;
create index deals_amount_idx on deals (tenant_id, amount_sort desc, id desc)
    where deleted_at is null;
create index deals_close_date_idx on deals (tenant_id, close_sort, id)
    where deleted_at is null;

-- A rep's list in the other orders (0024 has theirs by name): led by the owner, so a rep who
-- owns few of many deals reads a page, not the workspace's deals until 26 of theirs turn up.
create index deals_assigned_amount_idx on deals (tenant_id, assigned_to, amount_sort desc, id desc)
    where deleted_at is null;
create index deals_assigned_close_date_idx on deals (tenant_id, assigned_to, close_sort, id)
    where deleted_at is null;
create index deals_assigned_updated_idx on deals (tenant_id, assigned_to, updated_at desc, id desc)
    where deleted_at is null;
