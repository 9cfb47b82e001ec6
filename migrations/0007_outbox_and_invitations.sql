-- Outgoing email, and invitations to join a workspace (F2.4, F3.1-F3.3).

-- Every message Aura sends is first written here, in the same transaction as what caused it
-- (an invitation, a reset), so a message exists exactly when its cause does. Without SMTP
-- configured, this is where messages stay: operators read them, and the demo prints them.
-- A platform table (messages may precede any tenant): only operators read it, and a message
-- is written under the name of the user in context.
create table email_outbox (
    id uuid primary key default gen_random_uuid(),
    to_address text not null check (length(to_address) between 3 and 254),
    subject text not null check (length(subject) between 1 and 200),
    body_text text not null check (length(body_text) between 1 and 20000),
    created_by uuid not null references users (id),
    created_at timestamptz not null default now(),
    sent_at timestamptz
);
create index email_outbox_recent_idx on email_outbox (created_at desc, id desc);

alter table email_outbox enable row level security;
alter table email_outbox force row level security;
create policy email_outbox_select on email_outbox for select
    using (aura.current_user_is_platform_admin());
create policy email_outbox_insert on email_outbox for insert
    with check (created_by = aura.current_user_id());
grant select, insert on email_outbox to aura_app;

create table invitations (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    email text not null check (length(email) between 3 and 254),
    email_norm text generated always as (lower(email)) stored,
    role aura.member_role not null,
    -- SHA-256 of the link's secret; the secret itself is only in the message.
    token_hash bytea not null check (length(token_hash) = 32),
    invited_by uuid not null references users (id),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    accepted_at timestamptz,
    accepted_by uuid references users (id),
    revoked_at timestamptz,
    primary key (tenant_id, id),
    check (expires_at > created_at)
);
create unique index invitations_token_key on invitations (tenant_id, token_hash);
-- One open invitation per email and workspace.
create unique index invitations_open_email_key on invitations (tenant_id, email_norm)
    where accepted_at is null and revoked_at is null;

-- Tenant-scoped like memberships: the acceptance step runs in the workspace's context before
-- anyone is signed in; who may invite (admins) is enforced by the API.
alter table invitations enable row level security;
alter table invitations force row level security;
create policy invitations_select on invitations for select
    using (tenant_id = aura.current_tenant_id());
create policy invitations_insert on invitations for insert
    with check (tenant_id = aura.current_tenant_id());
create policy invitations_update on invitations for update
    using (tenant_id = aura.current_tenant_id()) with check (tenant_id = aura.current_tenant_id());
grant select, insert, update on invitations to aura_app;
