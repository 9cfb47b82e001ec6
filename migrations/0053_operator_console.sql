-- The operator console and `/metrics` (issue 15): workspaces searched by name or slug prefix,
-- counts across workspaces for operators, and the platform's queue backlogs.

-- Search and keyset order by name. A stored, lower-cased key in the "C" collation: one btree
-- index serves the order, the keyset comparison and the prefix search (`^@` uses a btree only
-- in "C"), and `starts_with`/`text_gt` are leakproof, so the tenants policy does not stop the
-- index from being used (ARCHITECTURE.md "Known traps").
alter table tenants add column name_key text collate "C" generated always as (lower(name)) stored;
create index tenants_name_key_idx on tenants (name_key, id);
create index tenants_slug_prefix_idx on tenants (slug collate "C");

-- The outbox's backlog is counted at every scrape: only the unsent messages, by age.
create index email_outbox_unsent_idx on email_outbox (created_at) where sent_at is null;

-- Work waiting in the platform's queues, for `/metrics` and the operators' health panel, with
-- no one in context (a scrape has no user). `security definer`: the queues hold every
-- workspace's rows and `aura_app` sees none without context; it answers a count and the oldest
-- waiting item's time per queue, never a row, an id or a workspace. A new queue (the export and
-- import jobs) is one more `union all` line here; the metrics and the panel need no change.
create function aura.queue_backlog()
    returns table (queue text, depth bigint, oldest timestamptz)
    language sql stable security definer
    set search_path = ''
    as $$
        select 'email_outbox', count(*), min(o.created_at)
        from public.email_outbox o where o.sent_at is null
        union all
        select 'webhook_deliveries', count(*), min(d.created_at)
        from public.webhook_deliveries d where d.status = 'pending'
    $$;
revoke all on function aura.queue_backlog() from public;
grant execute on function aura.queue_backlog() to aura_app;

-- Per workspace counts for the operators' list (003 "Super Admin"): active members, live
-- organizations, contacts and deals, and the time of the last audited change. `security
-- definer`: operators have no tenant context and the tenant tables show them nothing (0008);
-- this answers numbers and a time per workspace asked for, never a row of a workspace, and
-- nothing at all unless the user in context is a platform operator. At most 100 workspaces
-- per call (a page of the list).
create function aura.workspace_counts(tenant_ids uuid[])
    returns table (tenant_id uuid, members bigint, organizations bigint, contacts bigint,
                   deals bigint, last_activity timestamptz)
    language sql stable security definer
    set search_path = ''
    as $$
        select t.id,
               (select count(*) from public.tenant_members m
                where m.tenant_id = t.id and m.deactivated_at is null),
               (select count(*) from public.organizations o
                where o.tenant_id = t.id and o.deleted_at is null),
               (select count(*) from public.contacts c
                where c.tenant_id = t.id and c.deleted_at is null),
               (select count(*) from public.deals d
                where d.tenant_id = t.id and d.deleted_at is null),
               (select max(a.occurred_at) from public.audit_log a where a.tenant_id = t.id)
        from (select distinct u.id from unnest(tenant_ids) as u (id)) as t
        where aura.current_user_is_platform_admin() and cardinality(tenant_ids) <= 100
    $$;
revoke all on function aura.workspace_counts(uuid[]) from public;
grant execute on function aura.workspace_counts(uuid[]) to aura_app;
