-- Workspace exports (NFR-D2, issue 15): an admin asks for the whole workspace as a zip of CSV
-- files or as JSON lines; a background job in any server writes it, and the file is kept for a
-- day, then deleted.
--
-- * The finished file is stored in the database, in 1 MiB chunks: any server can serve it (no
--   shared disk between servers), it goes with the workspace (backups, termination, Citus
--   distribution by tenant_id) and row-level security guards it like every other record. A file
--   under one server's data directory would do none of that.
-- * The job is claimed across workspaces by one narrow `security definer` function (FOR UPDATE
--   SKIP LOCKED plus a lease, like the webhook worker's), then run in the requesting admin's
--   context, so the export reads exactly what that admin may read, under RLS, never as owner.
--   A server that dies mid-export leaves its lease to run out; the job is then claimed again and
--   starts over (its partial chunks are deleted first).
-- * Only admins, and the worker's housekeeping with the workspace in context and no user, read
--   or change exports: a manager's or a rep's context sees none.

create type aura.export_format as enum ('csv', 'jsonl');
create type aura.export_status as enum ('queued', 'running', 'done', 'failed', 'expired');

create table exports (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    format aura.export_format not null,
    status aura.export_status not null default 'queued',
    -- The admin who asked: the job runs in their context, and the audit names them.
    requested_by uuid not null references users (id),
    -- Progress: records written so far of the total counted when the run began, the record
    -- type being written, and the bytes of the file so far.
    records_done bigint not null default 0 check (records_done >= 0),
    records_total bigint check (records_total >= 0),
    current_part text check (length(current_part) <= 50),
    bytes bigint not null default 0 check (bytes >= 0),
    -- Runs begun (a run interrupted by a restart is claimed again); the claim's lease.
    attempts integer not null default 0 check (attempts >= 0),
    lease_until timestamptz,
    error text check (length(error) <= 500),
    created_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    -- When the download link stops working and the file is deleted.
    expires_at timestamptz,
    primary key (tenant_id, id),
    constraint exports_expiry_when_done check ((status in ('done', 'expired')) = (expires_at is not null))
);
-- One export at a time per workspace: a second start while one waits or runs is refused.
create unique index exports_one_at_a_time on exports (tenant_id)
    where status in ('queued', 'running');
-- The settings page: a workspace's exports, newest first.
create index exports_recent_idx on exports (tenant_id, created_at desc, id desc);
-- The worker's queue across workspaces: like the webhook queue, the one kind of index not led
-- by tenant_id, read only by the claim and expiry functions.
create index exports_queue_idx on exports (status, lease_until)
    where status in ('queued', 'running');
create index exports_expiry_idx on exports (expires_at) where status = 'done';

create table export_chunks (
    tenant_id uuid not null,
    export_id uuid not null,
    seq integer not null check (seq >= 0),
    data bytea not null,
    primary key (tenant_id, export_id, seq),
    constraint export_chunks_export_fkey foreign key (tenant_id, export_id)
        references exports (tenant_id, id) on delete cascade
);
-- The chunks are zip (deflated) or are read whole: no point in TOAST compressing them again.
alter table export_chunks alter column data set storage external;

alter table exports enable row level security;
alter table exports force row level security;
create policy exports_select on exports for select
    using (tenant_id = aura.current_tenant_id()
           and (aura.current_member_role() = 'admin' or aura.current_user_id() is null));
create policy exports_insert on exports for insert
    with check (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin'
                and requested_by = aura.current_user_id());
create policy exports_update on exports for update
    using (tenant_id = aura.current_tenant_id()
           and (aura.current_member_role() = 'admin' or aura.current_user_id() is null))
    with check (tenant_id = aura.current_tenant_id()
                and (aura.current_member_role() = 'admin' or aura.current_user_id() is null));
grant select, insert on exports to aura_app;
grant update (status, records_done, records_total, current_part, bytes, lease_until, error,
              finished_at, expires_at)
    on exports to aura_app;

alter table export_chunks enable row level security;
alter table export_chunks force row level security;
create policy export_chunks_select on export_chunks for select
    using (tenant_id = aura.current_tenant_id()
           and (aura.current_member_role() = 'admin' or aura.current_user_id() is null));
create policy export_chunks_insert on export_chunks for insert
    with check (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin');
create policy export_chunks_delete on export_chunks for delete
    using (tenant_id = aura.current_tenant_id()
           and (aura.current_member_role() = 'admin' or aura.current_user_id() is null));
grant select, insert, delete on export_chunks to aura_app;

-- Claims the oldest waiting export of any workspace, or one whose run's lease ran out (its
-- server died): marks it running with a fresh lease and answers what running it takes. The
-- caller then works in that workspace's context, where RLS confines it.
create function aura.claim_export(p_lease_seconds integer)
    returns table (tenant_id uuid, export_id uuid, requested_by uuid,
                   format aura.export_format, attempts integer)
    language sql volatile security definer
    set search_path = ''
    as $$
    with due as (
        select e.tenant_id, e.id
        from public.exports e
        where e.status = 'queued' or (e.status = 'running' and e.lease_until < now())
        order by e.created_at
        limit 1
        for update skip locked
    )
    update public.exports e
    set status = 'running', attempts = e.attempts + 1,
        lease_until = now() + make_interval(secs => greatest(p_lease_seconds, 10)),
        started_at = now(), records_done = 0, bytes = 0, current_part = null, error = null
    from due
    where e.tenant_id = due.tenant_id and e.id = due.id
    returning e.tenant_id, e.id, e.requested_by, e.format, e.attempts
$$;
revoke all on function aura.claim_export(integer) from public;
grant execute on function aura.claim_export(integer) to aura_app;

-- Marks finished exports past their expiry as expired and deletes their files, in every
-- workspace; answers how many. Their rows stay, so the page can say the file is gone.
create function aura.expire_exports()
    returns bigint
    language sql volatile security definer
    set search_path = ''
    as $$
    with gone as (
        update public.exports e set status = 'expired'
        where e.status = 'done' and e.expires_at <= now()
        returning e.tenant_id, e.id
    ), dropped as (
        delete from public.export_chunks c using gone
        where c.tenant_id = gone.tenant_id and c.export_id = gone.id
        returning 1
    )
    select count(*) from gone
$$;
revoke all on function aura.expire_exports() from public;
grant execute on function aura.expire_exports() to aura_app;
