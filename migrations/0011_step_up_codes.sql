-- One-time codes for sensitive operations (NFR-S8: user deletion, data export, pricing
-- changes, process deletion). A code is bound to one purpose and target, expires after ten
-- minutes, allows five attempts, and works once. Only its SHA-256 is stored.
create table step_up_codes (
    tenant_id uuid not null,
    id uuid not null default gen_random_uuid(),
    user_id uuid not null,
    -- What the code authorises, e.g. `member.remove:<user id>`.
    purpose text not null check (length(purpose) between 1 and 200),
    code_hash bytea not null check (length(code_hash) = 32),
    attempts integer not null default 0 check (attempts >= 0),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz,
    primary key (tenant_id, id),
    foreign key (tenant_id, user_id) references tenant_members (tenant_id, user_id) on delete cascade,
    check (expires_at > created_at)
);
create index step_up_codes_lookup_idx on step_up_codes (tenant_id, user_id, purpose, created_at desc);

alter table step_up_codes enable row level security;
alter table step_up_codes force row level security;
create policy step_up_codes_select on step_up_codes for select
    using (tenant_id = aura.current_tenant_id());
create policy step_up_codes_insert on step_up_codes for insert
    with check (tenant_id = aura.current_tenant_id());
create policy step_up_codes_update on step_up_codes for update
    using (tenant_id = aura.current_tenant_id()) with check (tenant_id = aura.current_tenant_id());
grant select, insert, update on step_up_codes to aura_app;
-- Removing a member deletes their membership (sessions, tokens and codes cascade).
