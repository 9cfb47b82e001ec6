-- Closes the gap 0060 left: a membership change and its copy on `users.member_of` are two
-- transactions, so a server that dies between them leaves the copy wrong (a new member hidden
-- from their workspace, or a removed one's name still visible to it). Every server's worker
-- calls this when it starts and then every few minutes (`members::keep_member_of_reconciled`).
--
-- It finds every pair on which the memberships and the copies disagree, each way, and hands it
-- to `aura.sync_member_of`, which reads the truth itself: it takes nothing from its caller, so
-- any caller can only make copies right. `except` rather than a correlated subquery: on Citus a
-- subquery may not correlate with a reference table (`users`), and the set operation runs as
-- two plain scans. Sequential on Citus: it reads every shard and then writes `users`, a
-- reference table with foreign keys, which Citus allows in one transaction only over one
-- connection per node (the setting is a harmless placeholder on plain PostgreSQL).
create function aura.reconcile_member_of()
    returns integer
    language plpgsql security definer
    set search_path = ''
    set citus.multi_shard_modify_mode = 'sequential'
    as $$
declare
    stale record;
    mended integer := 0;
begin
    for stale in
        (select m.tenant_id, m.user_id from public.tenant_members m
         except
         select copy.tenant_id, u.id from public.users u, unnest(u.member_of) as copy (tenant_id))
        union
        (select copy.tenant_id, u.id from public.users u, unnest(u.member_of) as copy (tenant_id)
         except
         select m.tenant_id, m.user_id from public.tenant_members m)
    loop
        perform aura.sync_member_of(stale.tenant_id, stale.user_id);
        mended := mended + 1;
    end loop;
    return mended;
end
$$;
revoke all on function aura.reconcile_member_of() from public;
grant execute on function aura.reconcile_member_of() to aura_app;
