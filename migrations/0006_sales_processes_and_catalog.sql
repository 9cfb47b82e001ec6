-- The CRM's configuration: sales processes with their ordered stages (F11), and the product
-- catalog (F12). Every table is tenant data: `(tenant_id, id)` keys, composite foreign keys,
-- forced row level security. Everyone in a tenant reads them; only admins change them (F4.1:
-- managers and reps have read-only access to processes and products), in the policies too.

create table sales_processes (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    name text not null check (length(name) between 1 and 100),
    description text check (length(description) <= 2000),
    -- The process new deals get unless another is chosen (F11.13); one per tenant.
    is_default boolean not null default false,
    archived_at timestamptz,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by uuid references users (id),
    updated_by uuid references users (id),
    primary key (tenant_id, id)
);
create unique index sales_processes_name_key on sales_processes (tenant_id, lower(name))
    where archived_at is null;
create unique index sales_processes_default_key on sales_processes (tenant_id)
    where is_default and archived_at is null;

create type aura.stage_outcome as enum ('open', 'won', 'lost');

create table deal_stages (
    tenant_id uuid not null,
    id uuid not null default gen_random_uuid(),
    process_id uuid not null,
    name text not null check (length(name) between 1 and 100),
    -- Order within the process, from 0 (F11.2, F11.8).
    position integer not null check (position >= 0),
    outcome aura.stage_outcome not null default 'open',
    -- Default win probability for deals in this stage, in percent (F11.7).
    win_probability numeric(5, 2) not null check (win_probability between 0 and 100),
    archived_at timestamptz,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by uuid references users (id),
    updated_by uuid references users (id),
    primary key (tenant_id, id),
    -- Lets a deal reference (tenant_id, process_id, stage_id): its stage must be of its process.
    unique (tenant_id, process_id, id),
    foreign key (tenant_id, process_id) references sales_processes (tenant_id, id),
    check (outcome <> 'won' or win_probability = 100),
    check (outcome <> 'lost' or win_probability = 0)
);
create unique index deal_stages_position_key on deal_stages (tenant_id, process_id, position)
    where archived_at is null;
create unique index deal_stages_name_key on deal_stages (tenant_id, process_id, lower(name))
    where archived_at is null;

create table products (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    sku text not null check (length(sku) between 1 and 64),
    name text not null check (length(name) between 1 and 200),
    description text check (length(description) <= 5000),
    category text check (length(category) <= 100),
    -- The price a line item starts from (F13.2); the tenant's currency.
    unit_price numeric(14, 2) not null check (unit_price >= 0),
    active boolean not null default true,
    archived_at timestamptz,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by uuid references users (id),
    updated_by uuid references users (id),
    primary key (tenant_id, id)
);
create unique index products_sku_key on products (tenant_id, lower(sku)) where archived_at is null;

-- Row level security: the same four policies on each table.
do $$
declare
    t text;
begin
    foreach t in array array['sales_processes', 'deal_stages', 'products'] loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format(
            'create policy %I on %I for select using (tenant_id = aura.current_tenant_id())',
            t || '_select', t);
        execute format(
            'create policy %I on %I for insert with check (tenant_id = aura.current_tenant_id()
                 and aura.current_member_role() = ''admin'')', t || '_insert', t);
        execute format(
            'create policy %I on %I for update
                 using (tenant_id = aura.current_tenant_id() and aura.current_member_role() = ''admin'')
                 with check (tenant_id = aura.current_tenant_id() and aura.current_member_role() = ''admin'')',
            t || '_update', t);
        execute format(
            'create policy %I on %I for delete
                 using (tenant_id = aura.current_tenant_id() and aura.current_member_role() = ''admin'')',
            t || '_delete', t);
        execute format('grant select, insert, update, delete on %I to aura_app', t);
    end loop;
end $$;
