-- Webhooks: events out to a workspace's own HTTPS endpoints (issue 14), signed as the
-- "Standard Webhooks" layout says.
--
-- * Admins register endpoints. The signing secret is written once and never read back by
--   `aura_app` (no select grant on the column): the page shows it once, at creation, and only
--   the delivery worker's claim function below reads it.
-- * Events are written by triggers on the record tables, in the transaction of their cause, so no
--   code path and no role can change a record without its event. A trigger writes an event only
--   when an enabled endpoint of the workspace subscribes to its type (one probe of a partial
--   index holding a workspace's few enabled endpoints, before any payload is built), and fans
--   it out there and then: one delivery row per subscribed endpoint, which is the worker's unit
--   of work. Measured in BENCHMARKS-style numbers in the issue note: see the README item.
-- * Composite keys tie a delivery to an endpoint and an event of the same workspace: the schema
--   cannot send tenant A's event to tenant B's endpoint.
-- * The worker runs as `aura_app` across workspaces: it claims due deliveries through one narrow
--   `security definer` function (FOR UPDATE SKIP LOCKED, so several servers share the work and
--   each delivery goes to one of them), then records each outcome in that workspace's context.

create table webhook_endpoints (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    url text not null check (length(url) between 8 and 2000),
    description text not null default '' check (length(description) <= 200),
    -- Event type names (`deal.won`, ...); the app checks them against its list.
    event_types text[] not null check (cardinality(event_types) between 1 and 50),
    -- `whsec_` + base64 of 32 random bytes (Standard Webhooks).
    secret text not null check (secret ~ '^whsec_[A-Za-z0-9+/=]{40,100}$'),
    enabled boolean not null default true,
    -- Why the worker switched it off (a run of failures); cleared when an admin enables it.
    disabled_reason text check (length(disabled_reason) <= 500),
    -- Failed attempts in a row, across its deliveries; a success resets it.
    failure_streak integer not null default 0 check (failure_streak >= 0),
    created_at timestamptz not null default now(),
    created_by uuid not null references users (id),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, id)
);
-- The triggers' probe: a workspace's enabled endpoints.
create index webhook_endpoints_enabled_idx on webhook_endpoints (tenant_id) where enabled;

create table webhook_events (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    event_type text not null check (event_type ~ '^[a-z_]+\.[a-z_]+$'),
    -- Compact: ids, names, changed field names, stage from/to; money as text.
    payload jsonb not null check (jsonb_typeof(payload) = 'object'),
    created_at timestamptz not null default now(),
    primary key (tenant_id, id)
);

create table webhook_deliveries (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    endpoint_id uuid not null,
    event_id uuid not null,
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0 check (attempts >= 0),
    -- When the worker may next try. A claim pushes it past the attempt's lease, so a server that
    -- dies mid-attempt leaves the delivery to another one after the lease.
    next_attempt_at timestamptz not null default now(),
    last_attempt_at timestamptz,
    -- The receiver's HTTP status, or null when there was no answer (refused, timed out).
    response_code integer check (response_code between 100 and 599),
    error text check (length(error) <= 500),
    created_at timestamptz not null default now(),
    primary key (tenant_id, id),
    constraint webhook_deliveries_endpoint_fkey foreign key (tenant_id, endpoint_id)
        references webhook_endpoints (tenant_id, id) on delete cascade,
    constraint webhook_deliveries_event_fkey foreign key (tenant_id, event_id)
        references webhook_events (tenant_id, id)
);
-- The delivery log: an endpoint's deliveries newest first, a page at a time.
create index webhook_deliveries_log_idx
    on webhook_deliveries (tenant_id, endpoint_id, created_at desc, id desc);
-- The worker's queue, across workspaces: the one index not led by tenant_id, read only by the
-- claim function (on Citus: a query over all shards, like any queue).
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at)
    where status = 'pending';
create index webhook_deliveries_event_idx on webhook_deliveries (tenant_id, event_id);

-- Policies. Reading endpoints and the log is for the workspace (the pages check admin); creating
-- and deleting endpoints is for admins; updates come from admins and from the worker, which acts
-- with the workspace in context and no user. Events and deliveries are inserted by the triggers
-- (as the owner); `aura_app` inserts only an admin's test event.
alter table webhook_endpoints enable row level security;
alter table webhook_endpoints force row level security;
create policy webhook_endpoints_select on webhook_endpoints for select
    using (tenant_id = aura.current_tenant_id());
create policy webhook_endpoints_insert on webhook_endpoints for insert
    with check (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin');
create policy webhook_endpoints_update on webhook_endpoints for update
    using (tenant_id = aura.current_tenant_id()) with check (tenant_id = aura.current_tenant_id());
create policy webhook_endpoints_delete on webhook_endpoints for delete
    using (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin');
grant select (tenant_id, id, url, description, event_types, enabled, disabled_reason,
              failure_streak, created_at, created_by, updated_at)
    on webhook_endpoints to aura_app;
grant insert on webhook_endpoints to aura_app;
grant update (event_types, description, enabled, disabled_reason, failure_streak, updated_at)
    on webhook_endpoints to aura_app;
grant delete on webhook_endpoints to aura_app;

alter table webhook_events enable row level security;
alter table webhook_events force row level security;
create policy webhook_events_select on webhook_events for select
    using (tenant_id = aura.current_tenant_id());
create policy webhook_events_insert on webhook_events for insert
    with check (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin');
grant select, insert on webhook_events to aura_app;

alter table webhook_deliveries enable row level security;
alter table webhook_deliveries force row level security;
create policy webhook_deliveries_select on webhook_deliveries for select
    using (tenant_id = aura.current_tenant_id());
create policy webhook_deliveries_insert on webhook_deliveries for insert
    with check (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin');
create policy webhook_deliveries_update on webhook_deliveries for update
    using (tenant_id = aura.current_tenant_id()) with check (tenant_id = aura.current_tenant_id());
grant select, insert on webhook_deliveries to aura_app;
grant update (status, next_attempt_at, last_attempt_at, response_code, error)
    on webhook_deliveries to aura_app;

-- Writing events ------------------------------------------------------------------------------

-- Whether an enabled endpoint of the workspace subscribes to `p_type`: the triggers ask this
-- first, so a workspace without webhooks pays one probe of a tiny partial index per write.
-- (Not `security definer`, names qualified: it runs inside the triggers below; no `set`
-- clause, which would cost a settings save and restore on every write.)
create function aura.webhook_wanted(p_tenant uuid, p_type text) returns boolean
    language sql stable
    as $$
    select exists (select 1 from public.webhook_endpoints e
                   where e.tenant_id = p_tenant and e.enabled and p_type = any (e.event_types))
$$;
revoke all on function aura.webhook_wanted(uuid, text) from public;

-- Writes `p_type` for the workspace if an enabled endpoint subscribes, with a delivery for
-- each such endpoint. Called by the trigger functions below only (they run as the owner;
-- `aura_app` may not). plpgsql, not sql: its statements' plans are cached across calls.
create function aura.enqueue_webhook_event(p_tenant uuid, p_type text, p_payload jsonb)
    returns void
    language plpgsql volatile
    as $$
declare
    v_event uuid;
begin
    if not aura.webhook_wanted(p_tenant, p_type) then
        return;
    end if;
    insert into public.webhook_events (tenant_id, event_type, payload)
    values (p_tenant, p_type, p_payload)
    returning id into v_event;
    insert into public.webhook_deliveries (tenant_id, endpoint_id, event_id)
    select p_tenant, e.id, v_event from public.webhook_endpoints e
    where e.tenant_id = p_tenant and e.enabled and p_type = any (e.event_types);
end $$;
revoke all on function aura.enqueue_webhook_event(uuid, text, jsonb) from public;

-- The names of the fields that changed between two versions of a row, leaving out bookkeeping
-- (version, timestamps of the update, derived keys and owner copies).
create function aura.webhook_changed_fields(p_old jsonb, p_new jsonb) returns jsonb
    language sql immutable
    set search_path = ''
    as $$
    select coalesce(jsonb_agg(k order by k), '[]'::jsonb)
    from jsonb_object_keys(p_new) k
    where p_new -> k is distinct from p_old -> k
      and k not in ('version', 'updated_at', 'updated_by', 'stage_entered_at', 'deal_owner',
                    'contact_owner', 'deleted_by')
      and k not like '%\_key' and k not like '%\_norm'
$$;

-- Created, updated or deleted (soft: `deleted_at` set) for contacts and organizations. The
-- payload is built only when an endpoint wants the event.
create function aura.record_webhook_event() returns trigger
    language plpgsql volatile security definer
    set search_path = ''
    as $$
declare
    v_entity text := tg_argv[0];
    v_type text;
    v_row jsonb;
    v_payload jsonb;
begin
    v_type := v_entity || case
        when tg_op = 'INSERT' then '.created'
        when old.deleted_at is null and new.deleted_at is not null then '.deleted'
        else '.updated' end;
    if not aura.webhook_wanted(new.tenant_id, v_type) then
        return null;
    end if;
    v_row := to_jsonb(new);
    v_payload := case v_entity
        when 'contact' then jsonb_build_object(
            'id', new.id, 'first_name', v_row -> 'first_name', 'last_name', v_row -> 'last_name',
            'organization_id', v_row -> 'organization_id', 'assigned_to', v_row -> 'assigned_to')
        else jsonb_build_object('id', new.id, 'name', v_row -> 'name')
    end;
    if v_type = v_entity || '.updated' then
        v_payload := v_payload || jsonb_build_object(
            'changed', aura.webhook_changed_fields(to_jsonb(old), v_row));
        if v_payload -> 'changed' = '[]'::jsonb then
            return null;
        end if;
    end if;
    perform aura.enqueue_webhook_event(new.tenant_id, v_type, v_payload);
    return null;
end $$;
revoke all on function aura.record_webhook_event() from public;

create trigger contacts_webhook_events after insert or update on contacts
    for each row execute function aura.record_webhook_event('contact');
create trigger organizations_webhook_events after insert or update on organizations
    for each row execute function aura.record_webhook_event('organization');

-- Deals: created, updated, deleted, and a stage change as its own event (with won or lost when
-- the new stage closes the deal), stage names as they are now.
create function aura.record_deal_webhook_event() returns trigger
    language plpgsql volatile security definer
    set search_path = ''
    as $$
declare
    v_payload jsonb;
    v_changed jsonb;
    v_move jsonb;
begin
    -- One probe for the common case: no enabled endpoint wants any deal event.
    if not exists (select 1 from public.webhook_endpoints e
                   where e.tenant_id = new.tenant_id and e.enabled
                     and e.event_types && array['deal.created', 'deal.updated', 'deal.deleted',
                                                'deal.stage_changed', 'deal.won', 'deal.lost']) then
        return null;
    end if;
    v_payload := jsonb_build_object(
        'id', new.id, 'name', new.name, 'amount', new.amount::text,
        'process_id', new.process_id, 'stage_id', new.stage_id, 'outcome', new.outcome,
        'assigned_to', new.assigned_to);
    if tg_op = 'INSERT' then
        perform aura.enqueue_webhook_event(new.tenant_id, 'deal.created', v_payload);
        return null;
    end if;
    if old.deleted_at is null and new.deleted_at is not null then
        perform aura.enqueue_webhook_event(new.tenant_id, 'deal.deleted', v_payload);
        return null;
    end if;
    if new.stage_id is distinct from old.stage_id then
        select jsonb_build_object(
                   'from', jsonb_build_object('id', f.id, 'name', f.name, 'outcome', f.outcome),
                   'to', jsonb_build_object('id', t.id, 'name', t.name, 'outcome', t.outcome))
        into v_move
        from public.deal_stages f, public.deal_stages t
        where f.tenant_id = old.tenant_id and f.id = old.stage_id
          and t.tenant_id = new.tenant_id and t.id = new.stage_id;
        v_payload := v_payload || jsonb_build_object('stage', v_move);
        perform aura.enqueue_webhook_event(new.tenant_id, 'deal.stage_changed', v_payload);
        if new.outcome <> old.outcome and new.outcome in ('won', 'lost') then
            perform aura.enqueue_webhook_event(new.tenant_id, 'deal.' || new.outcome::text,
                                               v_payload);
        end if;
    end if;
    -- Other fields than the stage and what follows from it.
    v_changed := aura.webhook_changed_fields(to_jsonb(old), to_jsonb(new))
        - 'stage_id' - 'outcome' - 'probability' - 'closed_at' - 'closed_stage_name';
    if v_changed <> '[]'::jsonb then
        perform aura.enqueue_webhook_event(new.tenant_id, 'deal.updated',
                                           v_payload || jsonb_build_object('changed', v_changed));
    end if;
    return null;
end $$;
revoke all on function aura.record_deal_webhook_event() from public;

create trigger deals_webhook_events after insert or update on deals
    for each row execute function aura.record_deal_webhook_event();

-- A deal's product lines: from the line history row the database already writes (0029).
create function aura.record_line_webhook_event() returns trigger
    language plpgsql volatile security definer
    set search_path = ''
    as $$
begin
    if not aura.webhook_wanted(new.tenant_id, 'deal.line_item_' || new.change) then
        return null;
    end if;
    perform aura.enqueue_webhook_event(
        new.tenant_id, 'deal.line_item_' || new.change,
        jsonb_build_object('deal_id', new.deal_id, 'line_id', new.line_id,
                           'product_id', new.product_id, 'sku', new.sku,
                           'product_name', new.product_name, 'before', new.before,
                           'after', new.after));
    return null;
end $$;
revoke all on function aura.record_line_webhook_event() from public;

create trigger deal_line_history_webhook_events after insert on deal_line_history
    for each row execute function aura.record_line_webhook_event();

create function aura.record_member_webhook_event() returns trigger
    language plpgsql volatile security definer
    set search_path = ''
    as $$
begin
    if not aura.webhook_wanted(new.tenant_id, 'member.joined') then
        return null;
    end if;
    perform aura.enqueue_webhook_event(
        new.tenant_id, 'member.joined',
        jsonb_build_object('user_id', new.user_id, 'role', new.role,
                           'name', (select u.display_name from public.users u
                                    where u.id = new.user_id)));
    return null;
end $$;
revoke all on function aura.record_member_webhook_event() from public;

create trigger tenant_members_webhook_events after insert on tenant_members
    for each row execute function aura.record_member_webhook_event();

-- Delivering ----------------------------------------------------------------------------------

-- Claims up to `p_limit` due deliveries of enabled endpoints, in any workspace, for
-- `p_lease_seconds`: their next attempt moves past the lease and their attempt count goes up,
-- so another server skips them (SKIP LOCKED while this transaction runs, the lease after).
-- Answers what the worker needs to send each one, the secret included; it changes nothing else,
-- and the worker records the outcome in the delivery's own workspace context.
create function aura.claim_webhook_deliveries(p_limit integer, p_lease_seconds integer)
    returns table (tenant_id uuid, delivery_id uuid, endpoint_id uuid, url text, secret text,
                   event_id uuid, event_type text, payload jsonb, event_created_at timestamptz,
                   attempt integer)
    language sql volatile security definer
    set search_path = ''
    as $$
    with due as (
        select d.tenant_id, d.id
        from public.webhook_deliveries d
        join public.webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
        where d.status = 'pending' and d.next_attempt_at <= now() and e.enabled
        order by d.next_attempt_at
        limit least(greatest(p_limit, 1), 100)
        for update of d skip locked
    ), claimed as (
        update public.webhook_deliveries d
        set attempts = d.attempts + 1,
            next_attempt_at = now() + make_interval(secs => greatest(p_lease_seconds, 10))
        from due
        where d.tenant_id = due.tenant_id and d.id = due.id
        returning d.tenant_id, d.id, d.endpoint_id, d.event_id, d.attempts
    )
    select c.tenant_id, c.id, c.endpoint_id, e.url, e.secret, v.id, v.event_type, v.payload,
           v.created_at, c.attempts
    from claimed c
    join public.webhook_endpoints e on e.tenant_id = c.tenant_id and e.id = c.endpoint_id
    join public.webhook_events v on v.tenant_id = c.tenant_id and v.id = c.event_id
$$;
revoke all on function aura.claim_webhook_deliveries(integer, integer) from public;
grant execute on function aura.claim_webhook_deliveries(integer, integer) to aura_app;

