-- Custom fields (F6.6, F7.6): a tenant's admins define extra fields for organizations and
-- contacts; the values live in each record's `custom_fields` JSONB object, keyed by `key`, and
-- the CRM validates them against these definitions on every write. Archived definitions keep
-- their values in the records (hidden), so archiving loses nothing.

create type aura.custom_field_entity as enum ('organization', 'contact');
create type aura.custom_field_kind as enum ('text', 'number', 'date', 'select', 'url');

create table custom_field_definitions (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    entity aura.custom_field_entity not null,
    -- The JSON key: stable once defined, so renaming the label never orphans values.
    key text not null check (key ~ '^[a-z][a-z0-9_]{0,39}$'),
    label text not null check (length(label) between 1 and 100),
    kind aura.custom_field_kind not null,
    -- The choices of a `select` field, in order; no other kind has any.
    options text[] not null default '{}',
    archived_at timestamptz,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by uuid references users (id),
    updated_by uuid references users (id),
    primary key (tenant_id, id),
    constraint custom_field_definitions_options_check check (
        (kind = 'select' and cardinality(options) between 1 and 50)
        or (kind <> 'select' and cardinality(options) = 0))
);
create unique index custom_field_definitions_key on custom_field_definitions (tenant_id, entity, key)
    where archived_at is null;

-- Everyone in the tenant reads the definitions (their forms show the fields); admins define.
alter table custom_field_definitions enable row level security;
alter table custom_field_definitions force row level security;
create policy custom_field_definitions_select on custom_field_definitions for select
    using (tenant_id = aura.current_tenant_id());
create policy custom_field_definitions_insert on custom_field_definitions for insert
    with check (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin');
create policy custom_field_definitions_update on custom_field_definitions for update
    using (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin')
    with check (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin');
grant select, insert, update on custom_field_definitions to aura_app;
