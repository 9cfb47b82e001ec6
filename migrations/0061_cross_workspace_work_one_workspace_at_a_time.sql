-- Issue 17: work across workspaces (the workers' claims, the operators' counts) touches one
-- workspace per statement, as Citus needs.
--
-- Each claim was one `select ... for update skip locked` over every workspace's queue. On Citus
-- that select spans all shards, and Citus takes no row locks in a query over several shards, so
-- no worker could claim anything there. Now a claim reads the oldest due rows without locking
-- (any number of shards may answer), then takes them one at a time with an update of that one
-- row (its workspace's shard alone) whose condition says again that the row is due. Two workers
-- after the same row: the second's update waits for the first's transaction and, under READ
-- COMMITTED, checks the condition again on the row the first left (claimed, leased into the
-- future), matches nothing and moves on to the next candidate. Same answers as before; a worker
-- may now wait a moment on a row another worker is claiming instead of skipping it.
-- All three stay `security definer` (the workers run with no workspace in context), PL/pgSQL
-- (Citus cannot plan a `language sql` function with parameters), with the same signatures.

create or replace function aura.claim_export(p_lease_seconds integer)
    returns table (tenant_id uuid, export_id uuid, requested_by uuid,
                   format aura.export_format, attempts integer)
    language plpgsql volatile security definer
    set search_path = ''
    as $$
#variable_conflict use_column
declare
    candidate record;
begin
    for candidate in
        select e.tenant_id, e.id from public.exports e
        where e.status = 'queued' or (e.status = 'running' and e.lease_until < now())
        order by e.created_at
        limit 10
    loop
        return query
            update public.exports e
            set status = 'running', attempts = e.attempts + 1,
                lease_until = now() + make_interval(secs => greatest(p_lease_seconds, 10)),
                started_at = now(), records_done = 0, bytes = 0, current_part = null,
                error = null
            where e.tenant_id = candidate.tenant_id and e.id = candidate.id
              and (e.status = 'queued' or (e.status = 'running' and e.lease_until < now()))
            returning e.tenant_id, e.id, e.requested_by, e.format, e.attempts;
        if found then
            return;
        end if;
    end loop;
end
$$;

create or replace function aura.claim_import(p_lease_seconds integer)
    returns table (tenant_id uuid, import_id uuid, user_id uuid, role aura.member_role)
    language plpgsql volatile security definer
    set search_path = ''
    as $$
declare
    candidate record;
    starter uuid;
begin
    for candidate in
        select i.tenant_id, i.id from public.imports i
        where i.status in ('queued', 'running')
          and (i.claimed_until is null or i.claimed_until < now())
        order by i.claimed_until nulls first, i.created_at
        limit 10
    loop
        update public.imports i
        set status = 'running', processed_rows = 0,
            claimed_until = now() + make_interval(secs => greatest(p_lease_seconds, 10)),
            updated_at = now()
        where i.tenant_id = candidate.tenant_id and i.id = candidate.id
          and i.status in ('queued', 'running')
          and (i.claimed_until is null or i.claimed_until < now())
        returning i.created_by into starter;
        continue when not found;
        -- Its starter may still import: else it fails, and the worker is told of nothing.
        select candidate.tenant_id, candidate.id, starter, m.role
        into tenant_id, import_id, user_id, role
        from public.tenant_members m
        where m.tenant_id = candidate.tenant_id and m.user_id = starter
          and m.deactivated_at is null and m.role in ('admin', 'manager');
        if found then
            return next;
        else
            update public.imports i
            set status = 'failed', content = null, claimed_until = null, finished_at = now(),
                updated_at = now(),
                error = 'The member who started the import may no longer import.'
            where i.tenant_id = candidate.tenant_id and i.id = candidate.id;
        end if;
        return;
    end loop;
end
$$;

create or replace function aura.claim_webhook_deliveries(p_limit integer,
                                                         p_lease_seconds integer)
    returns table (tenant_id uuid, delivery_id uuid, endpoint_id uuid, url text, secret text,
                   event_id uuid, event_type text, payload jsonb, event_created_at timestamptz,
                   attempt integer)
    language plpgsql volatile security definer
    set search_path = ''
    as $$
#variable_conflict use_column
declare
    candidate record;
    claimed record;
begin
    for candidate in
        select d.tenant_id, d.id
        from public.webhook_deliveries d
        join public.webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
        where d.status = 'pending' and d.next_attempt_at <= now() and e.enabled
        order by d.next_attempt_at
        limit least(greatest(p_limit, 1), 100)
    loop
        update public.webhook_deliveries d
        set attempts = d.attempts + 1,
            next_attempt_at = now() + make_interval(secs => greatest(p_lease_seconds, 10))
        where d.tenant_id = candidate.tenant_id and d.id = candidate.id
          and d.status = 'pending' and d.next_attempt_at <= now()
        returning d.endpoint_id, d.event_id, d.attempts into claimed;
        continue when not found;
        return query
            select candidate.tenant_id, candidate.id, e.id, e.url, e.secret, v.id, v.event_type,
                   v.payload, v.created_at, claimed.attempts
            from public.webhook_endpoints e, public.webhook_events v
            where e.tenant_id = candidate.tenant_id and e.id = claimed.endpoint_id
              and v.tenant_id = candidate.tenant_id and v.id = claimed.event_id;
    end loop;
end
$$;

-- The operators' counts, one workspace per statement: over a list of workspaces, Citus could not
-- plan the correlated subqueries ("complex joins are only supported when all distributed tables
-- are co-located and joined on their distribution columns"); for one workspace each subquery
-- names its shard. At most 100 workspaces (a console page), each a handful of index-only counts.
create or replace function aura.workspace_counts(tenant_ids uuid[])
    returns table (tenant_id uuid, members bigint, organizations bigint, contacts bigint,
                   deals bigint, last_activity timestamptz)
    language plpgsql stable security definer
    set search_path = ''
    as $$
#variable_conflict use_column
declare
    workspace uuid;
begin
    if not aura.current_user_is_platform_admin() or cardinality(tenant_ids) > 100 then
        return;
    end if;
    for workspace in select distinct u.id from unnest(tenant_ids) as u (id) loop
        return query
            select workspace,
                   (select count(*) from public.tenant_members m
                    where m.tenant_id = workspace and m.deactivated_at is null),
                   (select count(*) from public.organizations o
                    where o.tenant_id = workspace and o.deleted_at is null),
                   (select count(*) from public.contacts c
                    where c.tenant_id = workspace and c.deleted_at is null),
                   (select count(*) from public.deals d
                    where d.tenant_id = workspace and d.deleted_at is null),
                   (select max(a.occurred_at) from public.audit_log a
                    where a.tenant_id = workspace);
    end loop;
end
$$;
