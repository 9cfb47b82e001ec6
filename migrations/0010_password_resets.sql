-- Password reset by emailed single-use link (F2.3), and signing out everywhere when a password
-- changes: sessions, refresh tokens and access tokens issued before `sessions_valid_after`
-- stop working, in every workspace at once, without touching other tenants' rows.

alter table users add column sessions_valid_after timestamptz not null default '-infinity';

create table password_resets (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id),
    token_hash bytea not null check (length(token_hash) = 32),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz,
    check (expires_at > created_at)
);
create unique index password_resets_token_key on password_resets (user_id, token_hash);

-- The link names its user, which only chooses whose rows the lookup may see; the secret's hash
-- must still match.
alter table password_resets enable row level security;
alter table password_resets force row level security;
create policy password_resets_select on password_resets for select
    using (user_id = aura.current_user_id());
create policy password_resets_insert on password_resets for insert
    with check (user_id = aura.current_user_id());
create policy password_resets_update on password_resets for update
    using (user_id = aura.current_user_id()) with check (user_id = aura.current_user_id());
grant select, insert, update on password_resets to aura_app;
