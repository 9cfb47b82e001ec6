-- Safe retries (issue 14): a POST sent with `Idempotency-Key` is answered once; a retry with the
-- same key and the same request within 24 hours gets the first answer again and changes
-- nothing. Keys belong to one principal (a member, or an API key's identity) in one workspace.
--
-- The server inserts the key's row before it runs the request and holds that transaction open
-- until the answer is stored in it: a concurrent duplicate's insert waits on the primary key,
-- then finds the stored answer. A request that fails (5xx) rolls its row back, so a retry runs.
create table idempotency_keys (
    tenant_id uuid not null references tenants (id),
    user_id uuid not null references users (id),
    key text not null check (length(key) between 1 and 255),
    -- SHA-256 of the method, path and body: the same key with another request is refused.
    request_hash bytea not null check (length(request_hash) = 32),
    -- The first answer, stored before the row commits.
    status smallint check (status between 100 and 599),
    content_type text,
    location text,
    body bytea,
    created_at timestamptz not null default now(),
    primary key (tenant_id, user_id, key)
);

alter table idempotency_keys enable row level security;
alter table idempotency_keys force row level security;
-- Each principal reaches its own keys only.
create policy idempotency_keys_select on idempotency_keys for select
    using (tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id());
create policy idempotency_keys_insert on idempotency_keys for insert
    with check (tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id());
create policy idempotency_keys_update on idempotency_keys for update
    using (tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id())
    with check (tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id());
-- Expired keys are deleted when their key is used again.
create policy idempotency_keys_delete on idempotency_keys for delete
    using (tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id()
           and created_at < now() - interval '24 hours');
grant select, insert, delete on idempotency_keys to aura_app;
grant update (status, content_type, location, body) on idempotency_keys to aura_app;
