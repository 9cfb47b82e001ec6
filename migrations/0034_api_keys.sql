-- API keys for integrations (issue 14): an admin creates a key with a name, a role (read-only,
-- or acting as a manager) and an optional expiry. The secret (`aura_live_` + 256 random bits)
-- is shown once; only its SHA-256 is stored (a random secret of that size needs no slow hash).
--
-- Each key is a principal of its own: a row in `users` made for it here, with no password and
-- a reserved address, that is no member of any workspace. The server runs a key's requests with
-- that user in context (and the manager role), so every existing rule applies unchanged: the
-- audit log's actor, `created_by`, the policies' "the user in context". Its `member_of` names
-- the key's workspace, so the workspace's members see the key's name wherever an actor is shown.
-- A read-only key's transactions are also `READ ONLY` (set by the server with the context), so
-- the database refuses its writes whatever the policies allow a manager.
create type aura.api_key_role as enum ('read_only', 'manager');

create table api_keys (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    -- The key's own identity, set by the trigger below: never chosen by the caller.
    user_id uuid not null references users (id),
    name text not null check (length(btrim(name)) between 1 and 100),
    role aura.api_key_role not null,
    secret_hash bytea not null check (length(secret_hash) = 32),
    -- The secret's last four characters, so a list can tell keys apart.
    hint text not null check (length(hint) = 4),
    expires_at timestamptz,
    created_at timestamptz not null default now(),
    created_by uuid not null references users (id),
    revoked_at timestamptz,
    revoked_by uuid references users (id),
    last_used_at timestamptz,
    last_used_from inet,
    primary key (tenant_id, id),
    unique (tenant_id, user_id),
    unique (tenant_id, secret_hash)
);
-- A presented secret is looked up by its hash before its workspace is known (to tell another
-- workspace's key from garbage): only through the functions below.
create index api_keys_secret_hash_idx on api_keys (secret_hash);
create index api_keys_list_idx on api_keys (tenant_id, created_at desc, id desc);

alter table api_keys enable row level security;
alter table api_keys force row level security;
-- Keys are an admin's business: members and keys themselves see none.
create policy api_keys_select on api_keys for select
    using (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin');
create policy api_keys_insert on api_keys for insert with check (
    tenant_id = aura.current_tenant_id()
    and aura.current_member_role() = 'admin'
    and created_by = aura.current_user_id()
);
-- Revoking is the only change; a revoked key stays revoked.
create policy api_keys_update on api_keys for update
    using (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin'
           and revoked_at is null)
    with check (tenant_id = aura.current_tenant_id() and aura.current_member_role() = 'admin'
                and revoked_by = aura.current_user_id());
grant select (tenant_id, id, user_id, name, role, hint, expires_at, created_at, created_by,
              revoked_at, revoked_by, last_used_at, last_used_from) on api_keys to aura_app;
grant insert (tenant_id, id, name, role, secret_hash, hint, expires_at, created_by)
    on api_keys to aura_app;
grant update (revoked_at, revoked_by) on api_keys to aura_app;

-- Makes the key's identity. `security definer`: `aura_app` may create no user but the one in
-- its context. The address is reserved (`.invalid` never resolves) and no password is set, so
-- nobody can sign in as a key.
create function aura.api_key_identity() returns trigger
    language plpgsql security definer
    set search_path = ''
    as $$
begin
    new.user_id := gen_random_uuid();
    insert into public.users (id, email, display_name, member_of)
    values (new.user_id, 'api-key-' || new.id || '@keys.aura.invalid',
            'API key “' || btrim(new.name) || '”', array[new.tenant_id]);
    return new;
end
$$;
revoke all on function aura.api_key_identity() from public;
create trigger api_keys_identity before insert on api_keys
    for each row execute function aura.api_key_identity();

-- What a presented secret amounts to on the host of the workspace in context: `valid` (and
-- its last use is noted, at most once a minute per address), `revoked`, `expired`,
-- `other_workspace`, or no row for a hash that names no key. `security definer`: the caller has
-- only the workspace in context (nobody is known yet) and the key may be another workspace's.
-- Of another workspace's key nothing but that fact comes back.
create function aura.use_api_key(p_hash bytea, p_from inet)
    returns table (state text, user_id uuid, role aura.api_key_role)
    language plpgsql volatile security definer
    set search_path = ''
    as $$
declare
    v_host uuid := aura.current_tenant_id();
    v_key public.api_keys;
begin
    if v_host is null then
        return;
    end if;
    select * into v_key from public.api_keys k where k.secret_hash = p_hash;
    if not found then
        return;
    end if;
    if v_key.tenant_id <> v_host then
        return query select 'other_workspace'::text, null::uuid, null::aura.api_key_role;
    elsif v_key.revoked_at is not null then
        return query select 'revoked'::text, v_key.user_id, v_key.role;
    elsif v_key.expires_at <= now() then
        return query select 'expired'::text, v_key.user_id, v_key.role;
    else
        update public.api_keys k set last_used_at = now(), last_used_from = p_from
        where k.tenant_id = v_key.tenant_id and k.id = v_key.id
          and (k.last_used_at is null or k.last_used_at < now() - interval '1 minute'
               or k.last_used_from is distinct from p_from);
        return query select 'valid'::text, v_key.user_id, v_key.role;
    end if;
end
$$;
revoke all on function aura.use_api_key(bytea, inet) from public;
grant execute on function aura.use_api_key(bytea, inet) to aura_app;

-- F5.6 for keys: a key refused on the host of the workspace in context (another workspace's,
-- revoked or expired) is written to that workspace's audit log, the key's identity as actor.
-- The secret's hash is the proof of who tried: nothing else comes from the caller.
create function aura.record_refused_api_key(p_hash bytea)
    returns void
    language sql volatile security definer
    set search_path = ''
    as $$
    insert into public.audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, after)
    select t.id, k.user_id, 'access.refused', 'workspace', t.id,
           jsonb_build_object('reason', case
               when k.tenant_id <> t.id then 'other_workspace_key'
               when k.revoked_at is not null then 'revoked_api_key'
               else 'expired_api_key' end)
    from public.tenants t, public.api_keys k
    where t.id = aura.current_tenant_id()
      and k.secret_hash = p_hash
      and (k.tenant_id <> t.id or k.revoked_at is not null or k.expires_at <= now())
$$;
revoke all on function aura.record_refused_api_key(bytea) from public;
grant execute on function aura.record_refused_api_key(bytea) to aura_app;
