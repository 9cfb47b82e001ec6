-- CSV imports of organizations and contacts (issue 15, NFR-D1): the uploaded file, its column
-- mapping, and the background job that applies it. The file is kept here, in the workspace's
-- own rows, so any server's worker can process it; it is cleared once the import ends.
--
-- Only managers and admins import (an import assigns contacts to members): the policies refuse
-- a rep's context, whatever the application does. The worker runs each import in the context
-- of the member who started it, with their current role.

create type aura.import_entity as enum ('organization', 'contact');
create type aura.import_status as enum ('uploaded', 'queued', 'running', 'finished', 'failed');
-- What an import does with a row whose email (contact) or name (organization) is taken.
create type aura.import_duplicates as enum ('skip', 'update');

create table imports (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    entity aura.import_entity not null,
    status aura.import_status not null default 'uploaded',
    file_name text not null check (length(file_name) between 1 and 255),
    -- The file as uploaded (at most 20 MB), read with `encoding` and `delimiter`; null once the
    -- import has ended.
    content bytea check (length(content) <= 20 * 1024 * 1024),
    encoding text not null check (length(encoding) <= 40),
    delimiter text not null check (length(delimiter) = 1),
    headers text[] not null,
    -- The field each column goes to: {"<column index>": "<field key>"}.
    mapping jsonb not null default '{}' check (jsonb_typeof(mapping) = 'object'),
    duplicates aura.import_duplicates not null default 'skip',
    total_rows integer not null default 0 check (total_rows >= 0),
    processed_rows integer not null default 0 check (processed_rows >= 0),
    created_count integer not null default 0,
    updated_count integer not null default 0,
    rejected_count integer not null default 0,
    duplicate_count integer not null default 0,
    -- The rejected rows as CSV: each original row and the reason.
    rejected_report text,
    error text check (length(error) <= 2000),
    -- A worker holds a running import until then; past it, another worker takes it over
    -- (the first one's transaction died with it, so it starts from scratch).
    claimed_until timestamptz,
    created_by uuid not null references users (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    finished_at timestamptz,
    primary key (tenant_id, id)
);
create index imports_recent_idx on imports (tenant_id, created_at desc, id);
-- The workers' queue, across workspaces (read only by aura.claim_import).
create index imports_queue_idx on imports (claimed_until nulls first, created_at)
    where status in ('queued', 'running');

alter table imports enable row level security;
alter table imports force row level security;
create policy imports_select on imports for select
    using (tenant_id = aura.current_tenant_id()
           and aura.current_member_role() in ('admin', 'manager'));
create policy imports_insert on imports for insert
    with check (tenant_id = aura.current_tenant_id()
                and aura.current_member_role() in ('admin', 'manager')
                and created_by = aura.current_user_id());
create policy imports_update on imports for update
    using (tenant_id = aura.current_tenant_id()
           and aura.current_member_role() in ('admin', 'manager'))
    with check (tenant_id = aura.current_tenant_id()
                and aura.current_member_role() in ('admin', 'manager'));
create policy imports_delete on imports for delete using (false);
grant select on imports to aura_app;
grant insert (tenant_id, entity, file_name, content, encoding, delimiter, headers, mapping,
              total_rows, created_by) on imports to aura_app;
grant update (status, content, encoding, delimiter, mapping, duplicates, total_rows,
              processed_rows, created_count, updated_count, rejected_count, duplicate_count,
              rejected_report, error, claimed_until, updated_at, finished_at)
    on imports to aura_app;

-- The mapping a member confirmed, offered again for a file with the same headers.
create table import_mappings (
    tenant_id uuid not null references tenants (id),
    entity aura.import_entity not null,
    -- The file's headers, normalized (lower case, no spaces, `_` or `-`), joined by newlines.
    headers_key text not null check (length(headers_key) <= 20000),
    mapping jsonb not null check (jsonb_typeof(mapping) = 'object'),
    updated_by uuid not null references users (id),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, entity, headers_key)
);
alter table import_mappings enable row level security;
alter table import_mappings force row level security;
create policy import_mappings_select on import_mappings for select
    using (tenant_id = aura.current_tenant_id()
           and aura.current_member_role() in ('admin', 'manager'));
create policy import_mappings_insert on import_mappings for insert
    with check (tenant_id = aura.current_tenant_id()
                and aura.current_member_role() in ('admin', 'manager'));
create policy import_mappings_update on import_mappings for update
    using (tenant_id = aura.current_tenant_id()
           and aura.current_member_role() in ('admin', 'manager'))
    with check (tenant_id = aura.current_tenant_id()
                and aura.current_member_role() in ('admin', 'manager'));
create policy import_mappings_delete on import_mappings for delete using (false);
grant select, insert (tenant_id, entity, headers_key, mapping, updated_by),
      update (mapping, updated_by, updated_at) on import_mappings to aura_app;

-- Claims the oldest waiting import of any workspace (queued, or running with a lapsed claim:
-- its server died) for `p_lease_seconds`, SKIP LOCKED so that each is run by one server.
-- Answers the workspace, the import and who started it with their current role; the worker
-- then runs it in that member's context, where the policies apply. An import whose member is
-- no longer an active manager or admin is failed here instead: no context could finish it.
create function aura.claim_import(p_lease_seconds integer)
    returns table (tenant_id uuid, import_id uuid, user_id uuid, role aura.member_role)
    language plpgsql volatile security definer
    set search_path = ''
    as $$
declare
    waiting record;
begin
    select i.tenant_id, i.id, i.created_by into waiting
    from public.imports i
    where i.status in ('queued', 'running')
      and (i.claimed_until is null or i.claimed_until < now())
    order by i.claimed_until nulls first, i.created_at
    limit 1
    for update skip locked;
    if not found then
        return;
    end if;
    select waiting.tenant_id, waiting.id, waiting.created_by, m.role
    into tenant_id, import_id, user_id, role
    from public.tenant_members m
    where m.tenant_id = waiting.tenant_id and m.user_id = waiting.created_by
      and m.deactivated_at is null and m.role in ('admin', 'manager');
    if not found then
        update public.imports i
        set status = 'failed', content = null, claimed_until = null, finished_at = now(),
            updated_at = now(),
            error = 'The member who started the import may no longer import.'
        where i.tenant_id = waiting.tenant_id and i.id = waiting.id;
        return;
    end if;
    update public.imports i
    set status = 'running', processed_rows = 0,
        claimed_until = now() + make_interval(secs => greatest(p_lease_seconds, 10)),
        updated_at = now()
    where i.tenant_id = waiting.tenant_id and i.id = waiting.id;
    return next;
end
$$;
revoke all on function aura.claim_import(integer) from public;
grant execute on function aura.claim_import(integer) to aura_app;
