-- Platform core: tenants, users, memberships, the audit log, and the tenant-context helpers that
-- every row-level security policy uses.
--
-- Runs as the schema owner. The server connects as `aura_app` (created by `aura migrate` before
-- this file runs): LOGIN NOSUPERUSER NOBYPASSRLS, owner of nothing, granted only what is below.
-- Every table that `aura_app` can reach has ENABLE + FORCE row level security; a test reads the
-- catalog and fails if a table with a `tenant_id` column lacks either, or lacks a policy for a
-- command that `aura_app` is granted.

create schema aura;
grant usage on schema aura to aura_app;
revoke create on schema public from public;

-- Tenant context. The server runs each request in one transaction that begins with
-- `SET LOCAL app.current_tenant_id = '<uuid>'` (and user id, role). These helpers read those
-- transaction-local settings; an absent or empty setting yields NULL, and `tenant_id = NULL` is
-- never true, so a query without context sees zero rows (fail closed).
-- They are `language sql stable` on purpose: PostgreSQL inlines them into the policy, so
-- `tenant_id = aura.current_tenant_id()` is an index condition on every `(tenant_id, ...)` index.
create function aura.current_tenant_id() returns uuid
    language sql stable parallel safe
    as $$ select nullif(current_setting('app.current_tenant_id', true), '')::uuid $$;

create function aura.current_user_id() returns uuid
    language sql stable parallel safe
    as $$ select nullif(current_setting('app.current_user_id', true), '')::uuid $$;

create type aura.member_role as enum ('admin', 'manager', 'sales_rep');

create function aura.current_member_role() returns aura.member_role
    language sql stable parallel safe
    as $$ select nullif(current_setting('app.current_role', true), '')::aura.member_role $$;

grant execute on all functions in schema aura to aura_app;

-- Users are platform identities: one account per email, which may belong to no tenant yet
-- (a "pre-tenant" signup) or to several. They carry no tenant_id; visibility is still confined
-- by policy to the user themself and the members of the current tenant.
create table users (
    id uuid primary key default gen_random_uuid(),
    email text not null check (length(email) between 3 and 254 and email like '%_@_%'),
    -- Stored normalised form: `lower()` is not leakproof, so under RLS only a stored column
    -- can serve an index lookup (see ARCHITECTURE.md, "Known traps").
    email_norm text generated always as (lower(email)) stored,
    display_name text not null check (length(display_name) between 1 and 200),
    password_hash text,
    is_platform_admin boolean not null default false,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create unique index users_email_norm_key on users (email_norm);

create type aura.tenant_status as enum ('active', 'suspended', 'deleted');

-- A tenant is identified by its id, so its own row is guarded by `id` rather than `tenant_id`.
-- The slug is globally unique because it is the tenant's public subdomain.
create table tenants (
    id uuid primary key default gen_random_uuid(),
    slug text not null check (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$'),
    name text not null check (length(name) between 1 and 200),
    status aura.tenant_status not null default 'active',
    currency char(3) not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
    timezone text not null default 'UTC',
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by uuid references users (id),
    updated_by uuid references users (id)
);
create unique index tenants_slug_key on tenants (slug);

create table tenant_members (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    user_id uuid not null references users (id),
    role aura.member_role not null,
    deactivated_at timestamptz,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by uuid references users (id),
    updated_by uuid references users (id),
    primary key (tenant_id, id),
    unique (tenant_id, user_id)
);
-- "Which tenants is this user in" (login, tenant switch) is led by user_id.
create index tenant_members_user_idx on tenant_members (user_id, tenant_id);

-- Append-only: `aura_app` is granted SELECT and INSERT only, so no role the server holds can
-- rewrite history. The actor must be the user in the transaction's context (no forged actors).
create table audit_log (
    tenant_id uuid not null references tenants (id),
    id bigint generated always as identity,
    occurred_at timestamptz not null default now(),
    actor_user_id uuid references users (id),
    action text not null check (length(action) between 1 and 100),
    entity_type text not null check (length(entity_type) between 1 and 100),
    entity_id uuid,
    before jsonb,
    after jsonb,
    primary key (tenant_id, id)
);
create index audit_log_recent_idx on audit_log (tenant_id, occurred_at desc, id desc);

-- Row level security -------------------------------------------------------------------------

alter table tenants enable row level security;
alter table tenants force row level security;
-- Provisioning sets the new tenant's id as the context and inserts under it, so even the
-- creation of a tenant goes through the same check as everything else.
create policy tenants_select on tenants for select using (id = aura.current_tenant_id());
create policy tenants_insert on tenants for insert with check (id = aura.current_tenant_id());
create policy tenants_update on tenants for update
    using (id = aura.current_tenant_id()) with check (id = aura.current_tenant_id());
grant select, insert, update on tenants to aura_app;

alter table tenant_members enable row level security;
alter table tenant_members force row level security;
create policy tenant_members_select on tenant_members for select
    using (tenant_id = aura.current_tenant_id());
create policy tenant_members_insert on tenant_members for insert
    with check (tenant_id = aura.current_tenant_id());
create policy tenant_members_update on tenant_members for update
    using (tenant_id = aura.current_tenant_id()) with check (tenant_id = aura.current_tenant_id());
create policy tenant_members_delete on tenant_members for delete
    using (tenant_id = aura.current_tenant_id());
grant select, insert, update, delete on tenant_members to aura_app;

alter table users enable row level security;
alter table users force row level security;
-- A user sees themself, and the members of the tenant in context (the subquery is itself
-- confined to that tenant by tenant_members' policy).
create policy users_select on users for select using (
    id = aura.current_user_id()
    or id in (select m.user_id from tenant_members m where m.tenant_id = aura.current_tenant_id())
);
create policy users_insert on users for insert with check (id = aura.current_user_id());
create policy users_update on users for update
    using (id = aura.current_user_id()) with check (id = aura.current_user_id());
grant select, insert, update on users to aura_app;

alter table audit_log enable row level security;
alter table audit_log force row level security;
create policy audit_log_select on audit_log for select
    using (tenant_id = aura.current_tenant_id());
create policy audit_log_insert on audit_log for insert with check (
    tenant_id = aura.current_tenant_id()
    and actor_user_id is not distinct from aura.current_user_id()
);
grant select, insert on audit_log to aura_app;
