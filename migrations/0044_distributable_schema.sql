-- Keep the schema distributable by workspace (Citus, issue #17): no subquery in a policy of a
-- tenant table and no identity column on one. The catalog test holds every later migration to
-- the same rules.

-- audit_log: an identity column cannot be distributed; a plain sequence default can (Citus hands
-- each node its own range). Same numbers, same order for keyset paging.
alter table audit_log alter column id drop identity;
create sequence audit_log_id_seq owned by audit_log.id;
select setval('audit_log_id_seq', coalesce(max(id), 0) + 1, false) from audit_log;
alter table audit_log alter column id set default nextval('audit_log_id_seq');
grant usage on sequence audit_log_id_seq to aura_app;

-- tenant_members_insert: the same two ways in, each asked of a function rather than a subquery.
-- Invoker rights: both read tables whose own policies already confine them to the workspace in
-- context. plpgsql so that the planner never inlines the subquery back into the policy.
create function aura.open_invitation_admits(workspace uuid, joining_role aura.member_role)
    returns boolean
    language plpgsql stable
    set search_path = pg_catalog
    as $$
begin
    return exists (select 1 from public.invitations i
                   where i.tenant_id = workspace
                     and i.role = joining_role
                     and i.email_norm = aura.current_user_email_norm()
                     and i.accepted_at is null and i.revoked_at is null
                     and i.expires_at > now());
end
$$;
grant execute on function aura.open_invitation_admits(uuid, aura.member_role) to aura_app;

create function aura.workspace_has_no_members(workspace uuid) returns boolean
    language plpgsql stable
    set search_path = pg_catalog
    as $$
begin
    return not exists (select 1 from public.tenant_members m where m.tenant_id = workspace);
end
$$;
grant execute on function aura.workspace_has_no_members(uuid) to aura_app;

drop policy tenant_members_insert on tenant_members;
create policy tenant_members_insert on tenant_members for insert with check (
    tenant_id = aura.current_tenant_id()
    and (
        -- An invitee joins, as themself, with the role of an open invitation to their email.
        (user_id = aura.current_user_id() and aura.open_invitation_admits(tenant_id, role))
        -- An operator provisioning a workspace makes its first member, an admin.
        or (role = 'admin'
            and aura.current_user_is_platform_admin()
            and aura.workspace_has_no_members(tenant_id))
    )
);
