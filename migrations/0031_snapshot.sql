-- The pipeline snapshot and forecast of a process for a period (issue 12, journey 2 step 8;
-- queries in crates/aura-crm/src/snapshot.rs). Two period-led indexes, so a snapshot reads the
-- period's rows and not every row of the workspace:
--
-- * the stage moves of a process dated in the period (entries into a stage, exits with their
--   time in the stage), with what the aggregates read carried along (index-only for the owner
--   filter and the grouping);
-- * the deals of a process closed (won or lost) in the period, with outcome, amount, owner and
--   lost reason carried along.
--
-- The open deals per stage and the forecast by expected-close month read 0027's
-- deals_board_totals_idx (tenant, process, stage) include (amount, probability, owner, close
-- date) where open: an index-only scan.
create index deal_stage_history_period_idx
    on deal_stage_history (tenant_id, process_id, moved_at)
    include (deal_id, deal_owner, from_stage_id, to_stage_id, time_in_previous);

create index deals_closed_period_idx on deals (tenant_id, process_id, closed_at)
    include (outcome, amount, assigned_to, lost_reason)
    where deleted_at is null and closed_at is not null;
