-- The users policy without a subquery (issue 16).
--
-- 0004's policy let a member see a user when `id in (select user_id from tenant_members where
-- tenant_id = <context>)`, else asked `aura.current_user_is_platform_admin()` (security
-- definer, not inlinable). Every list joins `users` up to three times (owner, created by,
-- updated by), and measured by the benchmark program at its large workspace among others
-- (`aura-bench`, BENCHMARKS.md), the contacts' fetch of one page as `aura_app` with a
-- manager's context planned a sequential scan of `users` per join, the subquery hashed and the
-- definer function called for every user of another workspace: 17-27 ms against 0.6 ms as the
-- owner, on 95 users; it grows with every workspace's members.
--
-- Now a user row carries the workspaces it is a member of (`member_of`), kept in step with
-- `tenant_members` by a trigger in the membership change's own transaction, so the policy is
-- a plain column comparison (ARCHITECTURE.md, "No subquery in a policy") and the joins are
-- index probes of `users_pkey` (the same page: 1.0 ms). Who sees whom is unchanged: the user
-- themself, the members of the workspace in context (deactivated ones too, as before), and
-- platform operators everyone.
--
-- `aura_app` can neither write nor read the column (its grants on `users` name columns, 0019):
-- no context can claim a membership it does not have.

alter table users add column member_of uuid[] not null default '{}';

update users u
set member_of = coalesce((select array_agg(m.tenant_id order by m.tenant_id)
                          from tenant_members m where m.user_id = u.id), '{}');

-- Each change edits the array of the row as it is when the update runs (array_remove and
-- array_append of one workspace), never recomputes it from a snapshot: two concurrent
-- membership changes of one user queue on the user's row, and the second applies its change
-- to what the first committed. `security definer`: the members' own roles may not write
-- `users`. Called only as a trigger.
create function aura.keep_member_of() returns trigger
    language plpgsql security definer
    set search_path = ''
    as $$
begin
    if tg_op in ('DELETE', 'UPDATE') then
        update public.users set member_of = array_remove(member_of, old.tenant_id)
        where id = old.user_id;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        update public.users
        set member_of = array_append(array_remove(member_of, new.tenant_id), new.tenant_id)
        where id = new.user_id;
    end if;
    return null;
end
$$;
revoke all on function aura.keep_member_of() from public;
create trigger tenant_members_member_of
    after insert or delete or update of tenant_id, user_id on tenant_members
    for each row execute function aura.keep_member_of();

drop policy users_select on users;
create policy users_select on users for select using (
    id = aura.current_user_id()
    or aura.current_tenant_id() = any (member_of)
    or aura.current_user_is_platform_admin()
);
