-- Audit retention (F14.4): the workspace audit log is partitioned by month of `occurred_at`
-- (UTC), so `aura audit prune` drops whole months instead of deleting rows.
--
-- Partitions do not apply the parent's policies when queried by name (ARCHITECTURE.md, "Known
-- traps"). So `aura_app` is granted nothing on any partition: it reaches the rows only through
-- `audit_log`, whose policies apply to every partition it reads. Each partition also has row
-- level security enabled and forced with no policy, so a grant added by mistake shows nothing.
--
-- Partitions exist ahead of time: this migration and every `aura migrate` and `aura audit prune`
-- call `aura.create_audit_log_partitions`, which makes those of the next months; a default
-- partition takes any entry no month's partition covers (the server, as `aura_app`, cannot
-- create tables). When that month's partition is made later, its entries move out of the
-- default partition into it.

alter sequence audit_log_id_seq owned by none;
alter table audit_log rename to audit_log_unpartitioned;
alter table audit_log_unpartitioned rename constraint audit_log_pkey to audit_log_unpartitioned_pkey;
alter index audit_log_recent_idx rename to audit_log_unpartitioned_recent_idx;

-- Same columns, checks and foreign keys. The primary key must hold the partition key; ids stay
-- unique by the sequence, and `(tenant_id, id, occurred_at)` still leads with the workspace.
create table audit_log (
    tenant_id uuid not null references tenants (id),
    id bigint not null default nextval('audit_log_id_seq'),
    occurred_at timestamptz not null default now(),
    actor_user_id uuid references users (id),
    action text not null check (length(action) between 1 and 100),
    entity_type text not null check (length(entity_type) between 1 and 100),
    entity_id uuid,
    before jsonb,
    after jsonb,
    primary key (tenant_id, id, occurred_at)
) partition by range (occurred_at);
alter sequence audit_log_id_seq owned by audit_log.id;
-- The audit page's keyset order, in every partition.
create index audit_log_recent_idx on audit_log (tenant_id, occurred_at desc, id desc);

-- Append-only for the server: select (admins, 0019) and insert (as the context's user), never
-- update or delete.
alter table audit_log enable row level security;
alter table audit_log force row level security;
create policy audit_log_select on audit_log for select
    using (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin');
create policy audit_log_insert on audit_log for insert with check (
    tenant_id = aura.current_tenant_id()
    and actor_user_id is not distinct from aura.current_user_id()
);
grant select, insert on audit_log to aura_app;

create table audit_log_default partition of audit_log default;
alter table audit_log_default enable row level security;
alter table audit_log_default force row level security;

-- The partition of the month starting at `month` (UTC), made unless it exists; entries of that
-- month already in the default partition move into it. Owner only: run by `aura migrate` and
-- `aura audit prune`, never by the server.
create function aura.create_audit_log_partition(month date) returns boolean
    language plpgsql
    set search_path = pg_catalog
    as $$
declare
    name text := format('audit_log_y%sm%s', to_char(month, 'YYYY'), to_char(month, 'MM'));
    low timestamptz := make_timestamptz(extract(year from month)::int,
                                        extract(month from month)::int, 1, 0, 0, 0, 'UTC');
    high timestamptz := low + interval '1 month';
begin
    if to_regclass(format('public.%I', name)) is not null then
        return false;
    end if;
    create temporary table audit_log_moving on commit drop as
        select * from public.audit_log_default where occurred_at >= low and occurred_at < high;
    delete from public.audit_log_default where occurred_at >= low and occurred_at < high;
    execute format('create table public.%I partition of public.audit_log for values from (%L) to (%L)',
                   name, low, high);
    execute format('alter table public.%I enable row level security', name);
    execute format('alter table public.%I force row level security', name);
    insert into public.audit_log select * from pg_temp.audit_log_moving;
    drop table pg_temp.audit_log_moving;
    return true;
end
$$;
revoke all on function aura.create_audit_log_partition(date) from public;

-- This month's partition and those of the next `months_ahead` months, and those of months whose
-- entries wait in the default partition; the number made.
create function aura.create_audit_log_partitions(months_ahead integer) returns integer
    language plpgsql
    set search_path = pg_catalog
    as $$
declare
    this_month date := date_trunc('month', now() at time zone 'UTC')::date;
    waiting date;
    made integer := 0;
begin
    for waiting in
        select distinct date_trunc('month', occurred_at at time zone 'UTC')::date
        from public.audit_log_default
    loop
        if aura.create_audit_log_partition(waiting) then
            made := made + 1;
        end if;
    end loop;
    for i in 0 .. months_ahead loop
        if aura.create_audit_log_partition((this_month + make_interval(months => i))::date) then
            made := made + 1;
        end if;
    end loop;
    return made;
end
$$;
revoke all on function aura.create_audit_log_partitions(integer) from public;

-- Drops the months whose every entry is older than `older_than_months` months; what it dropped
-- and how many entries each held. Refuses less than a year (F14.4 keeps at least 12 months).
-- The default partition is never dropped.
create function aura.prune_audit_log(older_than_months integer)
    returns table (partition_name text, entries bigint)
    language plpgsql
    set search_path = pg_catalog
    as $$
declare
    cutoff timestamptz := now() - make_interval(months => older_than_months);
    month_start timestamptz;
begin
    if older_than_months is null or older_than_months < 12 then
        raise exception 'audit entries are kept at least 12 months (asked: %)', older_than_months;
    end if;
    for partition_name in
        select c.relname::text from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'public.audit_log'::regclass and c.relname ~ '^audit_log_y\d{4}m\d{2}$'
        order by 1
    loop
        month_start := make_timestamptz(substr(partition_name, 12, 4)::int,
                                        substr(partition_name, 17, 2)::int, 1, 0, 0, 0, 'UTC');
        if month_start + interval '1 month' <= cutoff then
            execute format('select count(*) from public.%I', partition_name) into entries;
            execute format('drop table public.%I', partition_name);
            return next;
        end if;
    end loop;
end
$$;
revoke all on function aura.prune_audit_log(integer) from public;

-- A partition for every month that holds entries, then the next three months'.
select aura.create_audit_log_partition(month::date)
from generate_series(date_trunc('month', (select min(occurred_at) from audit_log_unpartitioned)
                                         at time zone 'UTC'),
                     date_trunc('month', now() at time zone 'UTC'),
                     interval '1 month') as month;
select aura.create_audit_log_partitions(3);

insert into audit_log (tenant_id, id, occurred_at, actor_user_id, action, entity_type, entity_id,
                       before, after)
select tenant_id, id, occurred_at, actor_user_id, action, entity_type, entity_id, before, after
from audit_log_unpartitioned;
drop table audit_log_unpartitioned;
-- The new table's constraints took suffixed names while the old table held theirs.
alter table audit_log rename constraint audit_log_action_check1 to audit_log_action_check;
alter table audit_log rename constraint audit_log_entity_type_check1 to audit_log_entity_type_check;
alter table audit_log rename constraint audit_log_actor_user_id_fkey1 to audit_log_actor_user_id_fkey;
alter table audit_log rename constraint audit_log_tenant_id_fkey1 to audit_log_tenant_id_fkey;
