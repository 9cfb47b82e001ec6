-- Workspace metadata (F1.6-F1.7), and an audit trail for the platform's own events: those that
-- happen before a tenant exists (a contract signed, a workspace approved) cannot go to the
-- tenant-scoped audit log.

alter table tenants
    add column industry text check (length(industry) <= 100),
    add column logo_url text check (logo_url ~ '^https://' and length(logo_url) <= 2000);

-- Append-only like `audit_log`: `aura_app` may insert (as the actor in context) and operators
-- may read; nobody the server connects as may update or delete.
create table platform_audit_log (
    id bigint generated always as identity primary key,
    occurred_at timestamptz not null default now(),
    actor_user_id uuid references users (id),
    action text not null check (length(action) between 1 and 100),
    entity_type text not null check (length(entity_type) between 1 and 100),
    entity_id uuid,
    before jsonb,
    after jsonb
);
create index platform_audit_log_recent_idx on platform_audit_log (occurred_at desc, id desc);

alter table platform_audit_log enable row level security;
alter table platform_audit_log force row level security;
create policy platform_audit_log_select on platform_audit_log for select
    using (aura.current_user_is_platform_admin());
create policy platform_audit_log_insert on platform_audit_log for insert
    with check (actor_user_id is not distinct from aura.current_user_id());
grant select, insert on platform_audit_log to aura_app;

-- Where an activated request's workspace lives, so its requester can be sent there.
alter table signups add column workspace_slug text;
