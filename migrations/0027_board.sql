-- The pipeline board (issue 12). Each member's board remembers the process they last chose
-- (NFR-U6): one row per member of a workspace, seen and changed only by that member. A
-- deleted or archived process is not forgotten here; the board falls back to the default.
create table board_choices (
    tenant_id uuid not null references tenants (id),
    user_id uuid not null,
    process_id uuid not null,
    updated_at timestamptz not null default now(),
    primary key (tenant_id, user_id),
    constraint board_choices_member_fkey foreign key (tenant_id, user_id)
        references tenant_members (tenant_id, user_id) on delete cascade,
    constraint board_choices_process_fkey foreign key (tenant_id, process_id)
        references sales_processes (tenant_id, id) on delete cascade
);

alter table board_choices enable row level security;
alter table board_choices force row level security;
-- Plain column comparisons (no subquery in a policy): the caller's own row in the caller's
-- workspace.
create policy board_choices_select on board_choices for select using (
    tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id());
create policy board_choices_insert on board_choices for insert with check (
    tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id());
create policy board_choices_update on board_choices for update
    using (tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id())
    with check (tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id());
create policy board_choices_delete on board_choices for delete using (
    tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id());
grant select, insert, update, delete on board_choices to aura_app;

-- The board's column totals (count, sum, weighted sum of open deals per stage of a process) as
-- an index-only scan of the process's open deals: without it the aggregate read the deals from
-- the heap (a sequential scan of the workspace's deals, 25 ms at 10,000; worse on a shared
-- table). The owner, organization and close date ride along for the filters and the rep's
-- policy. Measured numbers are in crates/aura-crm/src/board.rs.
create index deals_board_totals_idx on deals (tenant_id, process_id, stage_id)
    include (amount, probability, assigned_to, organization_id, expected_close_date)
    where deleted_at is null and outcome = 'open';
-- A rep's column, longest in the stage first: without it a rep's page read the column's deals
-- of every owner until 26 of theirs turned up (750 rows for a rep owning a fifth).
create index deals_assigned_stage_idx on deals (tenant_id, assigned_to, stage_id, stage_entered_at, id)
    where deleted_at is null;
