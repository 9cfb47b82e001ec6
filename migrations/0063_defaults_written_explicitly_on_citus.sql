-- Issue 17: on Citus an insert reaches a shard with every column named, the defaults written
-- out by the coordinator (PostgreSQL's rewriter fills them in before Citus deparses the
-- statement), so the worker checks `aura_app`'s insert privilege on columns the server never
-- sets. Where `aura_app` inserts through column grants, it now also holds insert on the
-- defaulted columns that decide nothing: ids, timestamps, version counters, and an import's own
-- bookkeeping (its status and counts, which the worker sets again when it claims and finishes
-- it, in the member's context). The columns that carry power stay ungranted:
-- `users.is_platform_admin` and `users.member_of` (SCALING.md, "What remains": the server's
-- own inserts of users need another way on a cluster).
grant insert (updated_at) on import_mappings to aura_app;
grant insert (id, created_at, updated_at, status, duplicates, processed_rows, created_count,
              updated_count, duplicate_count, rejected_count)
    on imports to aura_app;
grant insert (id, created_at, updated_at, version) on tenant_members to aura_app;
grant insert (created_at, updated_at, version, sessions_valid_after) on users to aura_app;
