-- Signing in on the apex leads into a workspace (issue 18), and a new workspace's admin gets a
-- short checklist that can be put away.
--
-- The hand-off: a user signed in on the apex picks one of their workspaces; the apex stores the
-- SHA-256 of a fresh random code for that workspace and user, good for one minute, and sends
-- the browser to `<slug>.<base>/enter?code=<code>`. The workspace host deletes the row as it
-- reads it (so a code works once), checks the member is still active and opens a session on
-- its own host. No cookie is ever set for the parent domain, and a code is worth nothing on
-- another workspace's host: it is looked up inside that host's tenant.

-- The workspaces the apex session's user is an active member of, for the apex to list. The
-- caller learns nothing about anyone else: the user is the one in context
-- (`app.current_user_id`, set from an authenticated apex session). `security definer`: no
-- tenant is in context on the apex, so row-level security would rightly show nothing.
create function aura.own_workspaces()
    returns table (slug text, name text)
    language sql stable security definer
    set search_path = ''
    as $$
        select t.slug, t.name
        from public.tenant_members m
        join public.tenants t on t.id = m.tenant_id
        where m.user_id = aura.current_user_id()
          and m.deactivated_at is null
          and t.status = 'active'
        order by lower(t.name), t.slug
    $$;
revoke all on function aura.own_workspaces() from public;
grant execute on function aura.own_workspaces() to aura_app;

create table workspace_handoffs (
    tenant_id uuid not null references tenants (id),
    -- SHA-256 of the code; the code itself is only in the redirect the user's browser follows.
    code_hash bytea not null check (length(code_hash) = 32),
    user_id uuid not null references users (id),
    expires_at timestamptz not null,
    primary key (tenant_id, code_hash)
);
-- Spent and stale codes are deleted on the way (see the issue function).
create index workspace_handoffs_expiry_idx on workspace_handoffs (tenant_id, expires_at);

alter table workspace_handoffs enable row level security;
alter table workspace_handoffs force row level security;
-- The workspace host redeems (reads and deletes) codes of its own tenant only; `aura_app`
-- cannot insert: only the function below issues codes, after checking the membership.
create policy workspace_handoffs_select on workspace_handoffs for select
    using (tenant_id = aura.current_tenant_id());
create policy workspace_handoffs_delete on workspace_handoffs for delete
    using (tenant_id = aura.current_tenant_id());
grant select, delete on workspace_handoffs to aura_app;

-- Issues a hand-off code (by its hash) into the workspace at `p_slug` for the user in context,
-- if they are an active member of that active workspace; returns whether it did. Also clears
-- that workspace's expired codes, so the table stays small.
create function aura.issue_workspace_handoff(p_slug text, p_code_hash bytea)
    returns boolean
    language plpgsql volatile security definer
    set search_path = ''
    as $$
declare
    v_user uuid := aura.current_user_id();
    v_tenant uuid;
begin
    if v_user is null then
        return false;
    end if;
    select t.id into v_tenant
    from public.tenants t
    join public.tenant_members m on m.tenant_id = t.id
    where t.slug = p_slug and t.status = 'active'
      and m.user_id = v_user and m.deactivated_at is null;
    if v_tenant is null then
        return false;
    end if;
    delete from public.workspace_handoffs where tenant_id = v_tenant and expires_at < now();
    insert into public.workspace_handoffs (tenant_id, code_hash, user_id, expires_at)
    values (v_tenant, p_code_hash, v_user, now() + interval '1 minute');
    return true;
end
$$;
revoke all on function aura.issue_workspace_handoff(text, bytea) from public;
grant execute on function aura.issue_workspace_handoff(text, bytea) to aura_app;

-- A member who put the new workspace's checklist away; it stays away for them.
create table onboarding_dismissals (
    tenant_id uuid not null references tenants (id),
    user_id uuid not null references users (id),
    dismissed_at timestamptz not null default now(),
    primary key (tenant_id, user_id)
);
alter table onboarding_dismissals enable row level security;
alter table onboarding_dismissals force row level security;
create policy onboarding_dismissals_select on onboarding_dismissals for select
    using (tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id());
create policy onboarding_dismissals_insert on onboarding_dismissals for insert
    with check (tenant_id = aura.current_tenant_id() and user_id = aura.current_user_id());
grant select, insert on onboarding_dismissals to aura_app;
