-- The CRM's records: organizations (F6), contacts with an owner (F7, F9) and the activities
-- logged on them (F10). Same shape as every tenant table: `(tenant_id, id)` keys, composite
-- foreign keys, forced row level security, who and when on every row (F14.1-2), and a version
-- for optimistic concurrency. Records are soft-deleted: `aura_app` has no DELETE grant on them.
--
-- Search and sort keys are stored, normalized columns with collation "C" (byte order): under
-- RLS only leakproof operators become index conditions, and `text_ge`/`text_lt` are leakproof,
-- so a prefix search is the range `key >= 'abc' and key < 'abd'` on a plain btree index that
-- also gives the list its order (see aura-crm's contacts.rs for the measured plans). The price:
-- names sort bytewise, so accented initials sort after `z`.

-- Trigram similarity, for the contact search's typo-tolerant fallback.
create extension if not exists pg_trgm with schema aura;

create type aura.organization_size as enum
    ('1-10', '11-50', '51-200', '201-500', '501-1000', '1001-5000', '5001+');

create table organizations (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    name text not null check (length(name) between 1 and 200),
    industry text check (length(industry) <= 100),
    size_band aura.organization_size,
    location text check (length(location) <= 200),
    website text check (length(website) <= 2000),
    -- Subsidiaries point at their parent (F6.5); the CRM refuses cycles before writing.
    parent_id uuid,
    custom_fields jsonb not null default '{}' check (jsonb_typeof(custom_fields) = 'object'),
    name_key text collate "C" not null generated always as (lower(name)) stored,
    deleted_at timestamptz,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by uuid references users (id),
    updated_by uuid references users (id),
    primary key (tenant_id, id),
    constraint organizations_parent_fkey foreign key (tenant_id, parent_id)
        references organizations (tenant_id, id),
    constraint organizations_not_own_parent check (parent_id <> id)
);
-- One live organization per name (any case) in a tenant, so people and contacts can name it
-- unambiguously; the same index gives the list its order and the prefix search on the name.
create unique index organizations_name_key on organizations (tenant_id, name_key)
    where deleted_at is null;
create index organizations_parent_idx on organizations (tenant_id, parent_id)
    where parent_id is not null and deleted_at is null;
create index organizations_deleted_idx on organizations (tenant_id, deleted_at desc, id)
    where deleted_at is not null;

create table contacts (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    first_name text not null check (length(first_name) between 1 and 100),
    last_name text not null default '' check (length(last_name) <= 100),
    email text check (length(email) between 3 and 254),
    phone text check (length(phone) <= 40),
    title text check (length(title) <= 200),
    organization_id uuid,
    -- The owner (F9.1): a sales rep sees and edits only the contacts assigned to them.
    assigned_to uuid not null references users (id),
    custom_fields jsonb not null default '{}' check (jsonb_typeof(custom_fields) = 'object'),
    -- "last first": the list's order, and a last-name prefix search.
    sort_key text collate "C" not null
        generated always as (lower(last_name || ' ' || first_name)) stored,
    -- "first last": a first-name (or full-name) prefix search.
    name_key text collate "C" not null
        generated always as (lower(first_name || ' ' || last_name)) stored,
    email_key text collate "C" generated always as (lower(email)) stored,
    phone_key text collate "C"
        generated always as (nullif(regexp_replace(phone, '[^0-9]', '', 'g'), '')) stored,
    deleted_at timestamptz,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by uuid references users (id),
    updated_by uuid references users (id),
    primary key (tenant_id, id),
    constraint contacts_organization_fkey foreign key (tenant_id, organization_id)
        references organizations (tenant_id, id)
);
-- One live contact per email in a tenant (F7.7); a deleted contact frees its address.
create unique index contacts_email_key on contacts (tenant_id, email_key)
    where deleted_at is null and email_key is not null;
create index contacts_sort_idx on contacts (tenant_id, sort_key, id) where deleted_at is null;
-- A rep's own list, and a manager's "assigned to" filter, in the same order.
create index contacts_assigned_idx on contacts (tenant_id, assigned_to, sort_key, id)
    where deleted_at is null;
create index contacts_name_idx on contacts (tenant_id, name_key) where deleted_at is null;
create index contacts_phone_idx on contacts (tenant_id, phone_key)
    where deleted_at is null and phone_key is not null;
create index contacts_organization_idx on contacts (tenant_id, organization_id, sort_key, id)
    where deleted_at is null and organization_id is not null;
create index contacts_deleted_idx on contacts (tenant_id, deleted_at desc, id)
    where deleted_at is not null;

create type aura.activity_kind as enum ('call', 'email', 'meeting', 'note');

-- Immutable once written (F10.4): `aura_app` may only set the deletion columns, and a trigger
-- refuses any other change from any role.
create table activities (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    kind aura.activity_kind not null,
    description text not null check (length(description) between 1 and 10000),
    occurred_at timestamptz not null,
    -- The member who called, wrote, met or noted (F10.2).
    participant_id uuid not null references users (id),
    contact_id uuid not null,
    -- The contact's organization when the activity was logged, so the organization's
    -- timeline keeps its history when a contact moves on.
    organization_id uuid,
    deleted_at timestamptz,
    deleted_by uuid references users (id),
    created_at timestamptz not null default now(),
    created_by uuid not null references users (id),
    primary key (tenant_id, id),
    constraint activities_contact_fkey foreign key (tenant_id, contact_id)
        references contacts (tenant_id, id),
    constraint activities_organization_fkey foreign key (tenant_id, organization_id)
        references organizations (tenant_id, id)
);
create index activities_contact_timeline_idx
    on activities (tenant_id, contact_id, occurred_at desc, id desc) where deleted_at is null;
create index activities_organization_timeline_idx
    on activities (tenant_id, organization_id, occurred_at desc, id desc)
    where deleted_at is null and organization_id is not null;

create function aura.refuse_activity_edit() returns trigger language plpgsql as $$
begin
    if (new.tenant_id, new.id, new.kind, new.description, new.occurred_at, new.participant_id,
        new.contact_id, new.organization_id, new.created_at, new.created_by)
       is distinct from
       (old.tenant_id, old.id, old.kind, old.description, old.occurred_at, old.participant_id,
        old.contact_id, old.organization_id, old.created_at, old.created_by) then
        raise exception 'activities are immutable; only deletion is allowed'
            using errcode = 'check_violation', constraint = 'activities_immutable';
    end if;
    return new;
end $$;
create trigger activities_immutable before update on activities
    for each row execute function aura.refuse_activity_edit();

-- Row level security ---------------------------------------------------------------------------

-- Organizations: every member reads and writes them (F6.2-F6.3); deletion is a column, and the
-- CRM leaves it to managers and admins.
alter table organizations enable row level security;
alter table organizations force row level security;
create policy organizations_select on organizations for select
    using (tenant_id = aura.current_tenant_id());
create policy organizations_insert on organizations for insert
    with check (tenant_id = aura.current_tenant_id());
create policy organizations_update on organizations for update
    using (tenant_id = aura.current_tenant_id()) with check (tenant_id = aura.current_tenant_id());
grant select, insert, update on organizations to aura_app;

-- Contacts: managers and admins the whole tenant (F9.3), a rep only what is assigned to them
-- (F9.4), and a rep can neither create a contact for someone else nor hand one away.
alter table contacts enable row level security;
alter table contacts force row level security;
create policy contacts_select on contacts for select using (
    tenant_id = aura.current_tenant_id()
    and (aura.current_member_role() <> 'sales_rep' or assigned_to = aura.current_user_id())
);
create policy contacts_insert on contacts for insert with check (
    tenant_id = aura.current_tenant_id()
    and (aura.current_member_role() <> 'sales_rep' or assigned_to = aura.current_user_id())
);
create policy contacts_update on contacts for update
    using (
        tenant_id = aura.current_tenant_id()
        and (aura.current_member_role() <> 'sales_rep' or assigned_to = aura.current_user_id()))
    with check (
        tenant_id = aura.current_tenant_id()
        and (aura.current_member_role() <> 'sales_rep' or assigned_to = aura.current_user_id()));
grant select, insert, update on contacts to aura_app;

-- Activities follow their contact: the subquery runs under contacts' own policy, so a rep sees
-- (and logs, and deletes) activities only on contacts they may see.
alter table activities enable row level security;
alter table activities force row level security;
create policy activities_select on activities for select using (
    tenant_id = aura.current_tenant_id()
    and (aura.current_member_role() <> 'sales_rep'
         or exists (select 1 from contacts c
                    where c.tenant_id = activities.tenant_id and c.id = activities.contact_id))
);
create policy activities_insert on activities for insert with check (
    tenant_id = aura.current_tenant_id()
    and created_by = aura.current_user_id()
    and exists (select 1 from contacts c
                where c.tenant_id = activities.tenant_id and c.id = activities.contact_id)
);
create policy activities_update on activities for update
    using (
        tenant_id = aura.current_tenant_id()
        and (aura.current_member_role() <> 'sales_rep'
             or exists (select 1 from contacts c
                        where c.tenant_id = activities.tenant_id and c.id = activities.contact_id)))
    with check (tenant_id = aura.current_tenant_id());
grant select, insert on activities to aura_app;
grant update (deleted_at, deleted_by) on activities to aura_app;
