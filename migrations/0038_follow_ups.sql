-- Follow-ups (issue 18): planned calls, meetings and tasks with a due time, an owner and a done
-- state, on a contact or a deal. "Call back Tuesday" is a row here, not a sentence in a note.
--
-- The plan and what happened are two rows: while open, a follow-up may be rescheduled, renamed
-- or handed to another member; completing it logs an ordinary activity (immutable, 0014/0024)
-- and stamps the follow-up done with that activity's id, after which the follow-up itself is
-- frozen too (a trigger), so the done record cannot be rewritten through either table.
--
-- Visibility: a sales rep sees, changes and completes only follow-ups they own, and plans them
-- only on their own contacts and deals; managers and admins all of the workspace's. The rows
-- carry the contact's and deal's owner (kept in step by cascading composite keys, as activities
-- do), so every policy is a plain column comparison (no subquery: ARCHITECTURE.md).

create type aura.follow_up_kind as enum ('call', 'meeting', 'task');

create table follow_ups (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    kind aura.follow_up_kind not null,
    subject text not null check (length(subject) between 1 and 500),
    due_at timestamptz not null,
    -- Who is to do it: a member of this workspace.
    owner_id uuid not null,
    contact_id uuid,
    contact_owner uuid,
    deal_id uuid,
    deal_owner uuid,
    -- Done: when, and the activity that records it.
    done_at timestamptz,
    done_activity_id uuid,
    deleted_at timestamptz,
    deleted_by uuid references users (id),
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    created_by uuid not null references users (id),
    updated_at timestamptz not null default now(),
    updated_by uuid references users (id),
    primary key (tenant_id, id),
    constraint follow_ups_owner_member_fkey foreign key (tenant_id, owner_id)
        references tenant_members (tenant_id, user_id),
    constraint follow_ups_contact_fkey foreign key (tenant_id, contact_id, contact_owner)
        references contacts (tenant_id, id, assigned_to) on update cascade,
    constraint follow_ups_deal_fkey foreign key (tenant_id, deal_id, deal_owner)
        references deals (tenant_id, id, assigned_to) on update cascade,
    constraint follow_ups_done_activity_fkey foreign key (tenant_id, done_activity_id)
        references activities (tenant_id, id),
    constraint follow_ups_on_a_record check (contact_id is not null or deal_id is not null),
    constraint follow_ups_contact_owner_present check ((contact_id is null) = (contact_owner is null)),
    constraint follow_ups_deal_owner_present check ((deal_id is null) = (deal_owner is null)),
    constraint follow_ups_done_with_activity check ((done_at is null) = (done_activity_id is null))
);

-- A member's open follow-ups by due time: the dashboard's overdue and due-today lists and the
-- API's "mine" are a range of this index.
create index follow_ups_owner_due_idx on follow_ups (tenant_id, owner_id, due_at, id)
    where done_at is null and deleted_at is null;
-- A contact's next open follow-up (the contact list's column, the contact page's list).
create index follow_ups_contact_due_idx on follow_ups (tenant_id, contact_id, due_at, id)
    include (owner_id)
    where done_at is null and deleted_at is null and contact_id is not null;
create index follow_ups_deal_due_idx on follow_ups (tenant_id, deal_id, due_at, id)
    where done_at is null and deleted_at is null and deal_id is not null;

-- Done is final: only the owner columns may still follow a reassignment of the record.
create function aura.refuse_done_follow_up_edit() returns trigger language plpgsql as $$
begin
    if old.done_at is not null
       and (new.tenant_id, new.id, new.kind, new.subject, new.due_at, new.owner_id,
            new.contact_id, new.deal_id, new.done_at, new.done_activity_id, new.deleted_at,
            new.version, new.created_at, new.created_by)
           is distinct from
           (old.tenant_id, old.id, old.kind, old.subject, old.due_at, old.owner_id,
            old.contact_id, old.deal_id, old.done_at, old.done_activity_id, old.deleted_at,
            old.version, old.created_at, old.created_by) then
        raise exception 'a done follow-up cannot change'
            using errcode = 'check_violation', constraint = 'follow_ups_done_final';
    end if;
    return new;
end $$;
create trigger follow_ups_done_final before update on follow_ups
    for each row execute function aura.refuse_done_follow_up_edit();

alter table follow_ups enable row level security;
alter table follow_ups force row level security;
create policy follow_ups_select on follow_ups for select using (
    tenant_id = aura.current_tenant_id()
    and (aura.current_member_role() <> 'sales_rep' or owner_id = aura.current_user_id())
);
-- A rep plans only for themself, on their own contacts and deals.
create policy follow_ups_insert on follow_ups for insert with check (
    tenant_id = aura.current_tenant_id()
    and created_by = aura.current_user_id()
    and (aura.current_member_role() <> 'sales_rep'
         or (owner_id = aura.current_user_id()
             and (contact_owner is null or contact_owner = aura.current_user_id())
             and (deal_owner is null or deal_owner = aura.current_user_id())))
);
-- A rep changes and completes only their own, and cannot hand one away.
create policy follow_ups_update on follow_ups for update
    using (
        tenant_id = aura.current_tenant_id()
        and (aura.current_member_role() <> 'sales_rep' or owner_id = aura.current_user_id()))
    with check (
        tenant_id = aura.current_tenant_id()
        and (aura.current_member_role() <> 'sales_rep' or owner_id = aura.current_user_id()));
create policy follow_ups_delete on follow_ups for delete using (false);
grant select, insert on follow_ups to aura_app;
grant update (kind, subject, due_at, owner_id, done_at, done_activity_id, deleted_at, deleted_by,
              version, updated_at, updated_by) on follow_ups to aura_app;

-- The contact list's "last activity" reads one row per contact of the page from
-- activities_contact_timeline_idx (0014): no new index.
