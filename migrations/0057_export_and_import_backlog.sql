-- The queue backlog (0053) also counts the two job tables that came with it: exports and
-- imports waiting for a worker or running. Same columns, same hygiene and grant; a few rows
-- each at most (one export at a time per workspace), so counting them is cheap.
create or replace function aura.queue_backlog()
    returns table (queue text, depth bigint, oldest timestamptz)
    language sql stable security definer
    set search_path = ''
    as $$
        select 'email_outbox', count(*), min(o.created_at)
        from public.email_outbox o where o.sent_at is null
        union all
        select 'exports', count(*), min(e.created_at)
        from public.exports e where e.status in ('queued', 'running')
        union all
        select 'imports', count(*), min(i.created_at)
        from public.imports i where i.status in ('queued', 'running')
        union all
        select 'webhook_deliveries', count(*), min(d.created_at)
        from public.webhook_deliveries d where d.status = 'pending'
    $$;
