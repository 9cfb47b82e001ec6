-- Issue 17: no trigger on a tenant table writes `users`.
--
-- On Citus a tenant table's triggers fire on its shard, on a worker, and a write to `users` (a
-- reference table, copied on every node) from there is a distributed query inside a shard's
-- query, which Citus refuses ("cannot execute a distributed query from a query on a shard").
-- So the two triggers that wrote `users` become functions the server calls as statements of
-- the same transaction, which the coordinator routes like any other:
--
-- * `tenant_members` → `users.member_of` (0032). Once a membership change has committed, the
--   server calls `aura.sync_member_of(workspace, user)` in a transaction of its own. It reads
--   the truth (is there a membership row?) and sets the user's array to match, so calling it
--   can only make the column right: it takes no claim from the caller. Its own transaction,
--   because on Citus one transaction may not touch a workspace's shards as two roles once one
--   has written them ("modified in this transaction by a different user"): the change is
--   `aura_app`'s, this function the owner's. Until it runs (or if the server dies before), the
--   users policy shows a new member to nobody in the workspace (fail closed), or still shows a
--   removed one's name to the workspace they left; every writer of `tenant_members` goes
--   through `aura_platform::members::sync_member_of` (one place), and termination clears the
--   workspace from every array it ends.
-- * `api_keys` → a `users` row per key (0034). `aura.create_api_key` makes the identity, the key
--   and its audit entry together (all as the owner, so one role writes the workspace's shards in
--   that transaction), checking what the insert policy checked (an admin of the workspace in
--   context, as themself); `aura_app` loses its insert on `api_keys`, so no key can be made
--   without its identity, nor name an identity of the caller's choosing.

drop trigger tenant_members_member_of on tenant_members;
drop function aura.keep_member_of();

-- Locks the user's row first, then reads the membership in a statement of its own, so under
-- READ COMMITTED it sees every membership change committed by a transaction that held the lock
-- before it (two joins of one user at once queue here, and the second sees the first).
create function aura.sync_member_of(p_tenant uuid, p_user uuid)
    returns void
    language plpgsql security definer
    set search_path = ''
    as $$
begin
    perform 1 from public.users where id = p_user for update;
    if exists (select 1 from public.tenant_members m
               where m.tenant_id = p_tenant and m.user_id = p_user) then
        update public.users
        set member_of = array_append(array_remove(member_of, p_tenant), p_tenant)
        where id = p_user and not (p_tenant = any (member_of));
    else
        update public.users set member_of = array_remove(member_of, p_tenant)
        where id = p_user and p_tenant = any (member_of);
    end if;
end
$$;
revoke all on function aura.sync_member_of(uuid, uuid) from public;
grant execute on function aura.sync_member_of(uuid, uuid) to aura_app;

drop trigger api_keys_identity on api_keys;
drop function aura.api_key_identity();
drop policy api_keys_insert on api_keys;
revoke insert on api_keys from aura_app;

-- The key's identity: a user with no password and a reserved address (`.invalid` never
-- resolves), so nobody can sign in as a key, member of the key's workspace only so that its
-- members see the key's name wherever an actor is shown. Owner only: `create_api_key` and the
-- demo seed call it.
create function aura.new_api_key_identity(p_tenant uuid, p_key uuid, p_name text)
    returns uuid
    language plpgsql
    set search_path = ''
    as $$
declare
    v_user uuid := gen_random_uuid();
begin
    insert into public.users (id, email, display_name, member_of)
    values (v_user, 'api-key-' || p_key || '@keys.aura.invalid',
            'API key “' || btrim(p_name) || '”', array[p_tenant]);
    return v_user;
end
$$;
revoke all on function aura.new_api_key_identity(uuid, uuid, text) from public;

-- `security definer` (the owner bypasses the policies), so it asks what `api_keys_insert`
-- asked: a workspace and a user in context, the member's role admin. The workspace and the
-- creator come from the context, never from the caller; the audit entry is the one the server
-- wrote before (`api_key.created`, the admin as actor). A read-only transaction (a read-only
-- key's) still refuses the writes.
create function aura.create_api_key(p_key uuid, p_name text, p_role aura.api_key_role,
                                    p_secret_hash bytea, p_hint text, p_expires_at timestamptz)
    returns void
    language plpgsql security definer
    set search_path = ''
    as $$
declare
    v_tenant uuid := aura.current_tenant_id();
    v_creator uuid := aura.current_user_id();
begin
    if v_tenant is null or v_creator is null
       or aura.current_member_role() is distinct from 'admin' then
        raise exception 'only an admin of the workspace in context creates API keys'
            using errcode = 'insufficient_privilege';
    end if;
    insert into public.api_keys (tenant_id, id, user_id, name, role, secret_hash, hint,
                                 expires_at, created_by)
    values (v_tenant, p_key, aura.new_api_key_identity(v_tenant, p_key, p_name), p_name, p_role,
            p_secret_hash, p_hint, p_expires_at, v_creator);
    insert into public.audit_log (tenant_id, actor_user_id, action, entity_type, entity_id, after)
    values (v_tenant, v_creator, 'api_key.created', 'api_key', p_key,
            jsonb_build_object('name', p_name, 'role', p_role, 'expires_at', p_expires_at));
end
$$;
revoke all on function aura.create_api_key(uuid, text, aura.api_key_role, bytea, text,
                                           timestamptz) from public;
grant execute on function aura.create_api_key(uuid, text, aura.api_key_role, bytea, text,
                                              timestamptz) to aura_app;
