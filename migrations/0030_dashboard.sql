-- The home dashboard (issue 12): indexes for its queries, each checked as `aura_app` with tenant
-- context at the benchmark's large tenant (plans and times in crates/aura-crm/src/dashboard.rs).
-- No new table, so no new policy.

-- A member's recent activity (newest first) and each member's activities this week: led by the
-- participant, so both read one member's range; the owner columns ride along for the policy,
-- so a count is an index-only scan.
create index activities_participant_idx
    on activities (tenant_id, participant_id, occurred_at desc, id desc)
    include (contact_owner, deal_owner)
    where deleted_at is null;

-- Closed deals by when they closed: won and lost per month, and won this month per owner,
-- read as an index-only range of the months asked for.
create index deals_closed_idx on deals (tenant_id, closed_at)
    include (outcome, amount, process_id, assigned_to)
    where deleted_at is null and closed_at is not null;

-- Open deals by expected close date: the weighted forecast of the next months, an index-only
-- range of those months.
create index deals_forecast_idx on deals (tenant_id, close_sort)
    include (amount, probability, process_id, assigned_to)
    where deleted_at is null and outcome = 'open';
