-- On Citus a policy runs on the shard, and a function in it that reads a table (here `users`,
-- through `aura.current_user_is_platform_admin`) is a nested distributed query, which Citus
-- refuses: the workspace's audit trail joins the actors' names and failed there.
--
-- An operator's view of every user is for the operator console, which has no workspace in
-- context. Inside a workspace an operator sees its members, like anyone else, and the
-- function is not asked: `and` stops at the first false operand.
drop policy users_select on users;
create policy users_select on users for select using (
    id = aura.current_user_id()
    or aura.current_tenant_id() = any (member_of)
    or (aura.current_tenant_id() is null and aura.current_user_is_platform_admin())
);
