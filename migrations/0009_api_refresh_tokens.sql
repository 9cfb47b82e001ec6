-- API clients hold a short-lived signed access token (JWT) and a refresh token to get the next
-- one. A refresh token works once: each use replaces it (rotation), so a stolen copy is
-- worthless after its owner's next refresh. Only its SHA-256 is stored.
create table api_refresh_tokens (
    tenant_id uuid not null,
    id uuid not null default gen_random_uuid(),
    user_id uuid not null,
    token_hash bytea not null check (length(token_hash) = 32),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz,
    primary key (tenant_id, id),
    foreign key (tenant_id, user_id) references tenant_members (tenant_id, user_id) on delete cascade,
    check (expires_at > created_at)
);
create unique index api_refresh_tokens_token_key on api_refresh_tokens (tenant_id, token_hash);

alter table api_refresh_tokens enable row level security;
alter table api_refresh_tokens force row level security;
create policy api_refresh_tokens_select on api_refresh_tokens for select
    using (tenant_id = aura.current_tenant_id());
create policy api_refresh_tokens_insert on api_refresh_tokens for insert
    with check (tenant_id = aura.current_tenant_id());
create policy api_refresh_tokens_update on api_refresh_tokens for update
    using (tenant_id = aura.current_tenant_id()) with check (tenant_id = aura.current_tenant_id());
create policy api_refresh_tokens_delete on api_refresh_tokens for delete
    using (tenant_id = aura.current_tenant_id());
grant select, insert, update, delete on api_refresh_tokens to aura_app;
