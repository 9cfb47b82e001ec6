-- The pipeline snapshot and forecast of a process for a period (issue 12, journey 2 step 8;
-- queries and measured plans in crates/aura-crm/src/snapshot.rs). Two period-led indexes, so a
-- snapshot reads the period's rows of one process and not every row of the workspace:
--
-- * the stage moves of a process by date (entries into a stage, exits with the time spent in
--   it): without it the moves were read through the deal index, every move of the workspace;
-- * the deals of a process by the time they were closed (won or lost).
--
-- The open deals per stage and the forecast by expected-close month read 0027's
-- deals_board_totals_idx (tenant, process, stage) where open; deleted deals are left out by an
-- anti-join with 0024's deals_deleted_idx.
create index deal_stage_history_period_idx
    on deal_stage_history (tenant_id, process_id, moved_at);

create index deals_closed_period_idx on deals (tenant_id, process_id, closed_at)
    where deleted_at is null and closed_at is not null;
