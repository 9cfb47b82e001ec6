-- Browser sessions on a tenant's host. The cookie holds a random secret; only its SHA-256 is
-- stored, so a copy of this table logs nobody in. A session belongs to one tenant: looked up
-- under that tenant's context (from the request's host), it is invisible on any other host.
-- The composite foreign key ties it to a membership of that same tenant.

alter table users
    add column failed_logins integer not null default 0 check (failed_logins >= 0),
    add column locked_until timestamptz;

create table tenant_sessions (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    token_hash bytea not null check (length(token_hash) = 32),
    user_id uuid not null,
    csrf_token text not null check (length(csrf_token) >= 32),
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    primary key (tenant_id, id),
    foreign key (tenant_id, user_id) references tenant_members (tenant_id, user_id) on delete cascade
);
create unique index tenant_sessions_token_key on tenant_sessions (tenant_id, token_hash);
-- Logging a user out everywhere (password change, deactivation).
create index tenant_sessions_user_idx on tenant_sessions (tenant_id, user_id);

alter table tenant_sessions enable row level security;
alter table tenant_sessions force row level security;
create policy tenant_sessions_select on tenant_sessions for select
    using (tenant_id = aura.current_tenant_id());
create policy tenant_sessions_insert on tenant_sessions for insert
    with check (tenant_id = aura.current_tenant_id());
create policy tenant_sessions_update on tenant_sessions for update
    using (tenant_id = aura.current_tenant_id()) with check (tenant_id = aura.current_tenant_id());
create policy tenant_sessions_delete on tenant_sessions for delete
    using (tenant_id = aura.current_tenant_id());
grant select, insert, update, delete on tenant_sessions to aura_app;
