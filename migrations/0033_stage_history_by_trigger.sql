-- The stage history is written by the database, not by the app (issue 11 review).
--
-- Until now the app inserted a `deal_stage_history` row beside each stage change, and `aura_app`
-- could insert history rows itself: a rep's own context in psql could change their deal's stage
-- without a row, or write rows of moves that never happened (with any stage names and times),
-- which the board's days in stage and the snapshot's time in stage are computed from. Now a
-- trigger on `deals` writes the row for every creation and every stage change, whoever makes it,
-- and `aura_app` may only read the history.

-- For the app, the stage clock runs only from stage changes: a change restarts it, and nothing
-- else sets it, so days in stage (the rotting flag) and time in stage cannot be back-dated or
-- reset. The schema owner (seeding, fixtures) sets it freely.
create function aura.keep_stage_clock() returns trigger language plpgsql as $$
begin
    if current_user <> 'aura_app' then
        return new;
    end if;
    if new.stage_id is distinct from old.stage_id then
        new.stage_entered_at := now();
    else
        new.stage_entered_at := old.stage_entered_at;
    end if;
    return new;
end
$$;

create trigger deals_stage_clock before update of stage_id, stage_entered_at on deals
    for each row execute function aura.keep_stage_clock();

-- Security definer: the history is not insertable by `aura_app`, and this function only copies
-- what the deal row (already past the deals policies) says. Stage names are copied so renaming a
-- stage later does not rewrite what happened.
create function aura.record_stage_move() returns trigger
    language plpgsql security definer
    set search_path = ''
    as $$
declare
    v_mover uuid := coalesce(aura.current_user_id(), new.updated_by, new.created_by,
                             new.assigned_to);
begin
    if tg_op = 'INSERT' then
        insert into public.deal_stage_history
            (tenant_id, deal_id, deal_owner, process_id, to_stage_id, to_stage_name, moved_by)
        select new.tenant_id, new.id, new.assigned_to, new.process_id, new.stage_id, s.name,
               v_mover
        from public.deal_stages s
        where s.tenant_id = new.tenant_id and s.id = new.stage_id;
    else
        insert into public.deal_stage_history
            (tenant_id, deal_id, deal_owner, process_id, from_stage_id, from_stage_name,
             to_stage_id, to_stage_name, time_in_previous, moved_by)
        select new.tenant_id, new.id, new.assigned_to, new.process_id, old.stage_id, f.name,
               new.stage_id, t.name, now() - old.stage_entered_at, v_mover
        from public.deal_stages f, public.deal_stages t
        where f.tenant_id = old.tenant_id and f.id = old.stage_id
          and t.tenant_id = new.tenant_id and t.id = new.stage_id;
    end if;
    return null;
end
$$;

-- A trigger function cannot be called directly; nobody else needs it.
revoke execute on function aura.record_stage_move() from public;

create trigger deals_stage_history_created after insert on deals
    for each row execute function aura.record_stage_move();
create trigger deals_stage_history_moved after update of stage_id on deals
    for each row when (old.stage_id is distinct from new.stage_id)
    execute function aura.record_stage_move();

revoke insert on deal_stage_history from aura_app;
