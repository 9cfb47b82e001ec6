-- Signing up before any tenant exists (F1.1-F1.3), and sessions on the apex domain.
--
-- A signup is a prospect's request for a workspace: who asked, for which company, and where
-- it stands. It belongs to a user, not to a tenant (there is none yet), so its policies confine
-- it to the user in context; platform operators see all of them.

-- Whether the user in context is a platform operator. `security definer` because the users
-- policy below asks it, and reading `users` under that same policy would recurse; it answers
-- only about the user in context, with a yes or no.
create function aura.current_user_is_platform_admin() returns boolean
    language sql stable security definer
    set search_path = ''
    as $$ select coalesce((select u.is_platform_admin from public.users u
                           where u.id = aura.current_user_id()), false) $$;
revoke all on function aura.current_user_is_platform_admin() from public;
grant execute on function aura.current_user_is_platform_admin() to aura_app;

-- Operators see every user: prospects have no tenant yet, and the activation queue names them.
drop policy users_select on users;
create policy users_select on users for select using (
    id = aura.current_user_id()
    or id in (select m.user_id from tenant_members m where m.tenant_id = aura.current_tenant_id())
    or aura.current_user_is_platform_admin()
);

-- prospect: signed up. pending: contract signed, awaiting approval. activated: provisioned.
create type aura.signup_status as enum ('prospect', 'pending', 'activated');

create table signups (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id),
    company_name text not null check (length(company_name) between 1 and 200),
    status aura.signup_status not null default 'prospect',
    contract_signed_at timestamptz,
    activated_at timestamptz,
    -- The workspace this request became (not `tenant_id`: a signup is not tenant data).
    provisioned_tenant_id uuid references tenants (id),
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
-- One open request per user.
create unique index signups_user_key on signups (user_id);
-- The operators' queue: pending first, oldest first.
create index signups_queue_idx on signups (status, created_at);

alter table signups enable row level security;
alter table signups force row level security;
create policy signups_select on signups for select
    using (user_id = aura.current_user_id() or aura.current_user_is_platform_admin());
create policy signups_insert on signups for insert
    with check (user_id = aura.current_user_id());
create policy signups_update on signups for update
    using (aura.current_user_is_platform_admin()) with check (aura.current_user_is_platform_admin());
grant select, insert, update on signups to aura_app;

-- Sessions on the apex (operators and pre-tenant users). The cookie names the user, which
-- only selects whose rows the policy lets the lookup see; the secret's hash must still match.
create table platform_sessions (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references users (id),
    token_hash bytea not null check (length(token_hash) = 32),
    csrf_token text not null check (length(csrf_token) >= 32),
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now()
);
create unique index platform_sessions_token_key on platform_sessions (user_id, token_hash);

alter table platform_sessions enable row level security;
alter table platform_sessions force row level security;
create policy platform_sessions_select on platform_sessions for select
    using (user_id = aura.current_user_id());
create policy platform_sessions_insert on platform_sessions for insert
    with check (user_id = aura.current_user_id());
create policy platform_sessions_update on platform_sessions for update
    using (user_id = aura.current_user_id()) with check (user_id = aura.current_user_id());
create policy platform_sessions_delete on platform_sessions for delete
    using (user_id = aura.current_user_id());
grant select, insert, update, delete on platform_sessions to aura_app;

-- Signing in on the apex starts from an email and no context at all. This answers only for an
-- exact (normalised) email, and only what checking a password needs.
create function aura.apex_login_candidate(p_email text)
    returns table (id uuid, password_hash text, locked boolean)
    language sql stable security definer
    set search_path = ''
    as $$ select u.id, u.password_hash, coalesce(u.locked_until > now(), false)
          from public.users u where u.email_norm = lower(p_email) $$;
revoke all on function aura.apex_login_candidate(text) from public;
grant execute on function aura.apex_login_candidate(text) to aura_app;
