-- Deals (F8) in sales processes (F11), with the contacts on them, their stage history, and
-- activities logged on them. The rules the product is sold on are kept here, not only in Rust:
--
-- * A deal's process is chosen at creation and never changes (a trigger), and its stage is a
--   stage of that process (a composite foreign key that also carries the stage's outcome, so a
--   deal is open, won or lost exactly as its stage is).
-- * A live process always has at least one open, one won and one lost stage, and a workspace
--   with live processes has exactly one default (deferred constraint triggers, checked at commit,
--   so a reorder or a switch of the default is one transaction).
-- * A sales rep sees and changes only deals assigned to them. Rows whose visibility follows a
--   deal or a contact (the deal's contacts, its stage history, activities) carry the owner's id,
--   kept in step by a cascading composite foreign key, so every policy is a plain column
--   comparison: no subquery in a policy (ARCHITECTURE.md, known traps; Citus refuses them).

-- Processes ---------------------------------------------------------------------------------

-- A deleted process keeps its closed deals (they are bound to it forever) but takes no new ones
-- and leaves the lists; archived is only hidden from the choice for new deals.
alter table sales_processes add column deleted_at timestamptz;
alter table sales_processes add constraint sales_processes_default_is_live
    check (not is_default or (archived_at is null and deleted_at is null));

drop index sales_processes_name_key;
create unique index sales_processes_name_key on sales_processes (tenant_id, lower(name))
    where deleted_at is null;

-- At most one default, checked at commit, so switching it is one statement.
drop index sales_processes_default_key;
alter table sales_processes add constraint sales_processes_one_default
    exclude using btree (tenant_id with =) where (is_default)
    deferrable initially deferred;

-- Stages --------------------------------------------------------------------------------------

alter table deal_stages
    -- A deal in this stage longer than this is flagged as rotting (F11.7); null: never.
    add column rotting_days integer check (rotting_days between 1 and 3650),
    -- The fields a deal must have to enter this stage (F11.7).
    add column requires_amount boolean not null default false,
    add column requires_close_date boolean not null default false,
    add column requires_contact boolean not null default false,
    add column requires_product boolean not null default false,
    -- Lets a deal carry its stage's outcome under a foreign key.
    add constraint deal_stages_outcome_key unique (tenant_id, process_id, id, outcome);

-- Positions are unique among live stages, checked at commit, so a reorder is one statement.
drop index deal_stages_position_key;
alter table deal_stages add constraint deal_stages_position_key
    exclude using btree (tenant_id with =, process_id with =, position with =)
    where (archived_at is null)
    deferrable initially deferred;

create function aura.check_process_shape() returns trigger
    language plpgsql
    as $$
declare
    v_tenant uuid := coalesce(new.tenant_id, old.tenant_id);
    v_process uuid;
    v_outcomes aura.stage_outcome[];
begin
    if tg_table_name = 'sales_processes' then
        v_process := coalesce(new.id, old.id);
    else
        v_process := coalesce(new.process_id, old.process_id);
    end if;
    if not exists (select 1 from public.sales_processes p
                   where p.tenant_id = v_tenant and p.id = v_process and p.deleted_at is null) then
        return null;
    end if;
    select array_agg(distinct s.outcome) into v_outcomes
    from public.deal_stages s
    where s.tenant_id = v_tenant and s.process_id = v_process and s.archived_at is null;
    if v_outcomes is null or not (v_outcomes @> array['open', 'won', 'lost']::aura.stage_outcome[]) then
        raise exception 'a sales process needs at least one open, one won and one lost stage'
            using errcode = 'check_violation', constraint = 'sales_processes_stage_outcomes';
    end if;
    return null;
end $$;

create constraint trigger deal_stages_process_shape
    after insert or update or delete on deal_stages
    deferrable initially deferred
    for each row execute function aura.check_process_shape();
create constraint trigger sales_processes_process_shape
    after insert or update of deleted_at on sales_processes
    deferrable initially deferred
    for each row execute function aura.check_process_shape();

-- A workspace with live processes has a default (the exclusion constraint allows at most one).
create function aura.check_default_process() returns trigger
    language plpgsql
    as $$
declare
    v_tenant uuid := coalesce(new.tenant_id, old.tenant_id);
begin
    if exists (select 1 from public.sales_processes p
               where p.tenant_id = v_tenant and p.deleted_at is null and p.archived_at is null)
       and not exists (select 1 from public.sales_processes p
                       where p.tenant_id = v_tenant and p.is_default) then
        raise exception 'a workspace needs one default sales process'
            using errcode = 'check_violation', constraint = 'sales_processes_default_required';
    end if;
    return null;
end $$;

create constraint trigger sales_processes_default_required
    after insert or update or delete on sales_processes
    deferrable initially deferred
    for each row execute function aura.check_default_process();

-- Deals ---------------------------------------------------------------------------------------

create table deals (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    name text not null check (length(name) between 1 and 200),
    -- In the workspace's currency; null until known.
    amount numeric(14, 2) check (amount >= 0),
    process_id uuid not null,
    stage_id uuid not null,
    -- The stage's outcome, kept equal to it by `deals_stage_fkey`: open, won or lost.
    outcome aura.stage_outcome not null,
    -- Win probability in percent: the stage's default unless `probability_set` says a person
    -- chose it; 100 when won, 0 when lost.
    probability numeric(5, 2) not null check (probability between 0 and 100),
    probability_set boolean not null default false,
    expected_close_date date,
    organization_id uuid,
    -- The owner (F9.1): a sales rep sees and changes only the deals assigned to them.
    assigned_to uuid not null,
    notes text check (length(notes) <= 10000),
    custom_fields jsonb not null default '{}' check (jsonb_typeof(custom_fields) = 'object'),
    -- When the deal entered its current stage: time in stage, and rotting (F11.7).
    stage_entered_at timestamptz not null default now(),
    -- Set when the deal is won or lost: when, in which stage by the name it had then (F11.9:
    -- renaming a stage later does not rewrite a closed deal), and why it was lost.
    closed_at timestamptz,
    closed_stage_name text,
    lost_reason text check (length(lost_reason) between 1 and 500),
    name_key text collate "C" not null generated always as (lower(name)) stored,
    deleted_at timestamptz,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    created_by uuid references users (id),
    updated_by uuid references users (id),
    primary key (tenant_id, id),
    -- Rows that follow the deal's owner reference (tenant_id, id, assigned_to).
    constraint deals_owner_key unique (tenant_id, id, assigned_to),
    -- The stage is one of the deal's process, with the outcome it has (rule 6).
    constraint deals_stage_fkey foreign key (tenant_id, process_id, stage_id, outcome)
        references deal_stages (tenant_id, process_id, id, outcome),
    constraint deals_organization_fkey foreign key (tenant_id, organization_id)
        references organizations (tenant_id, id),
    -- Only a member of the workspace owns its deals.
    constraint deals_assigned_to_member_fkey foreign key (tenant_id, assigned_to)
        references tenant_members (tenant_id, user_id),
    constraint deals_closed_when_won_or_lost check (
        (outcome = 'open') = (closed_at is null)
        and (outcome = 'open') = (closed_stage_name is null)),
    constraint deals_lost_reason_only_when_lost check (outcome = 'lost' or lost_reason is null),
    constraint deals_probability_of_outcome check (
        (outcome <> 'won' or probability = 100) and (outcome <> 'lost' or probability = 0))
);
-- The list by name, and a prefix search on it; a rep's own list in the same order.
create index deals_name_idx on deals (tenant_id, name_key, id) where deleted_at is null;
create index deals_assigned_idx on deals (tenant_id, assigned_to, name_key, id)
    where deleted_at is null;
-- A process's board and a stage filter: one column's cards, longest in the stage first.
create index deals_stage_idx on deals (tenant_id, stage_id, stage_entered_at, id)
    where deleted_at is null;
create index deals_process_idx on deals (tenant_id, process_id, name_key, id)
    where deleted_at is null;
create index deals_organization_idx on deals (tenant_id, organization_id, name_key, id)
    where deleted_at is null and organization_id is not null;
create index deals_amount_idx on deals (tenant_id, amount, id) where deleted_at is null;
create index deals_close_date_idx on deals (tenant_id, expected_close_date, id)
    where deleted_at is null;
create index deals_updated_idx on deals (tenant_id, updated_at desc, id desc)
    where deleted_at is null;
create index deals_deleted_idx on deals (tenant_id, deleted_at desc, id)
    where deleted_at is not null;
-- The refused-access recorder looks a named id up across workspaces.
create index deals_id_idx on deals (id);

-- Rule 6: a deal's process never changes, from any role.
create function aura.refuse_deal_process_change() returns trigger language plpgsql as $$
begin
    if new.process_id is distinct from old.process_id then
        raise exception 'a deal''s sales process cannot change'
            using errcode = 'check_violation', constraint = 'deals_process_immutable';
    end if;
    return new;
end $$;
create trigger deals_process_immutable before update of process_id on deals
    for each row execute function aura.refuse_deal_process_change();

-- A new deal goes into a process that takes new deals (not archived, not deleted). A row for
-- another workspace is left to the insert policy.
create function aura.refuse_deal_in_closed_process() returns trigger language plpgsql as $$
begin
    if new.tenant_id = aura.current_tenant_id() and not exists (select 1 from public.sales_processes p
                   where p.tenant_id = new.tenant_id and p.id = new.process_id
                     and p.archived_at is null and p.deleted_at is null) then
        raise exception 'this sales process takes no new deals'
            using errcode = 'check_violation', constraint = 'deals_process_live';
    end if;
    return new;
end $$;
create trigger deals_process_live before insert on deals
    for each row execute function aura.refuse_deal_in_closed_process();

-- Rows that follow a contact's owner reference (tenant_id, id, assigned_to).
alter table contacts add constraint contacts_owner_key unique (tenant_id, id, assigned_to);

create type aura.deal_contact_role as enum
    ('decision_maker', 'influencer', 'technical', 'finance', 'other');

-- The contacts on a deal, each with a role. Both owners ride along (cascading keys): the deal's
-- owner sees the link, the contact's owner sees that their contact is on a deal; the contact's
-- name shows only to who may see the contact (its own policy).
create table deal_contacts (
    tenant_id uuid not null references tenants (id),
    deal_id uuid not null,
    contact_id uuid not null,
    role aura.deal_contact_role not null default 'other',
    deal_owner uuid not null,
    contact_owner uuid not null,
    created_at timestamptz not null default now(),
    created_by uuid not null references users (id),
    primary key (tenant_id, deal_id, contact_id),
    constraint deal_contacts_deal_fkey foreign key (tenant_id, deal_id, deal_owner)
        references deals (tenant_id, id, assigned_to) on update cascade,
    constraint deal_contacts_contact_fkey foreign key (tenant_id, contact_id, contact_owner)
        references contacts (tenant_id, id, assigned_to) on update cascade
);
create index deal_contacts_contact_idx on deal_contacts (tenant_id, contact_id);

-- Every stage move, in the move's transaction (F8.8, F11.6, F11.12). Append-only: `aura_app`
-- may insert and read, never change. Stage names are copied, so renaming a stage later does not
-- rewrite what happened.
create table deal_stage_history (
    tenant_id uuid not null references tenants (id),
    id uuid not null default gen_random_uuid(),
    deal_id uuid not null,
    deal_owner uuid not null,
    process_id uuid not null,
    -- Null for the stage a deal was created in.
    from_stage_id uuid,
    from_stage_name text,
    to_stage_id uuid not null,
    to_stage_name text not null,
    -- How long the deal spent in the stage it left.
    time_in_previous interval,
    moved_at timestamptz not null default now(),
    moved_by uuid not null references users (id),
    primary key (tenant_id, id),
    constraint deal_stage_history_deal_fkey foreign key (tenant_id, deal_id, deal_owner)
        references deals (tenant_id, id, assigned_to) on update cascade,
    constraint deal_stage_history_from_fkey foreign key (tenant_id, process_id, from_stage_id)
        references deal_stages (tenant_id, process_id, id),
    constraint deal_stage_history_to_fkey foreign key (tenant_id, process_id, to_stage_id)
        references deal_stages (tenant_id, process_id, id),
    check ((from_stage_id is null) = (from_stage_name is null)),
    check ((from_stage_id is null) = (time_in_previous is null))
);
create index deal_stage_history_deal_idx
    on deal_stage_history (tenant_id, deal_id, moved_at desc, id desc);
create index deal_stage_history_id_idx on deal_stage_history (id);

-- Custom fields for deals (F8.9), the existing mechanism.
alter type aura.custom_field_entity add value 'deal';

-- Activities on deals -------------------------------------------------------------------------

-- An activity is logged on a contact, on a deal, or on both (a call with a contact about a
-- deal). It carries the owner of each, kept in step by cascading keys, so its policy is a
-- column comparison; this replaces 0014's and 0019's subqueries.
alter table activities
    alter column contact_id drop not null,
    add column deal_id uuid,
    add column contact_owner uuid,
    add column deal_owner uuid;
update activities a set contact_owner = c.assigned_to
from contacts c where c.tenant_id = a.tenant_id and c.id = a.contact_id;
alter table activities
    add constraint activities_contact_owner_fkey foreign key (tenant_id, contact_id, contact_owner)
        references contacts (tenant_id, id, assigned_to) on update cascade,
    add constraint activities_deal_fkey foreign key (tenant_id, deal_id, deal_owner)
        references deals (tenant_id, id, assigned_to) on update cascade,
    add constraint activities_on_a_record check (contact_id is not null or deal_id is not null),
    add constraint activities_contact_owner_present check ((contact_id is null) = (contact_owner is null)),
    add constraint activities_deal_owner_present check ((deal_id is null) = (deal_owner is null));
create index activities_deal_timeline_idx
    on activities (tenant_id, deal_id, occurred_at desc, id desc)
    where deleted_at is null and deal_id is not null;

create or replace function aura.refuse_activity_edit() returns trigger language plpgsql as $$
begin
    -- The owners may change (they follow a reassignment); what happened may not.
    if (new.tenant_id, new.id, new.kind, new.description, new.occurred_at, new.participant_id,
        new.contact_id, new.deal_id, new.organization_id, new.created_at, new.created_by)
       is distinct from
       (old.tenant_id, old.id, old.kind, old.description, old.occurred_at, old.participant_id,
        old.contact_id, old.deal_id, old.organization_id, old.created_at, old.created_by) then
        raise exception 'activities are immutable; only deletion is allowed'
            using errcode = 'check_violation', constraint = 'activities_immutable';
    end if;
    return new;
end $$;

-- The participant is a member when the activity is logged (0019's rule, now a trigger: an
-- activity outlives its participant's membership, so it cannot be a foreign key). It refuses
-- as the policy did (42501), before the foreign key can tell whether such a user exists; a row
-- for another workspace it leaves to the insert policy.
create function aura.refuse_non_member_participant() returns trigger language plpgsql as $$
begin
    if new.tenant_id = aura.current_tenant_id()
       and not exists (select 1 from public.tenant_members m
                       where m.tenant_id = new.tenant_id and m.user_id = new.participant_id) then
        raise exception 'the participant is not a member of this workspace'
            using errcode = 'insufficient_privilege', constraint = 'activities_participant_member';
    end if;
    return new;
end $$;
create trigger activities_participant_member before insert on activities
    for each row execute function aura.refuse_non_member_participant();

drop policy activities_select on activities;
drop policy activities_insert on activities;
drop policy activities_update on activities;
create policy activities_select on activities for select using (
    tenant_id = aura.current_tenant_id()
    and (aura.current_member_role() <> 'sales_rep'
         or contact_owner = aura.current_user_id() or deal_owner = aura.current_user_id())
);
-- A rep logs only on their own records: on their contact, or on their deal (and then any
-- contact named must be theirs too).
create policy activities_insert on activities for insert with check (
    tenant_id = aura.current_tenant_id()
    and created_by = aura.current_user_id()
    and (aura.current_member_role() <> 'sales_rep'
         or ((contact_owner is null or contact_owner = aura.current_user_id())
             and (deal_owner is null or deal_owner = aura.current_user_id())))
);
create policy activities_update on activities for update
    using (
        tenant_id = aura.current_tenant_id()
        and (aura.current_member_role() <> 'sales_rep'
             or contact_owner = aura.current_user_id() or deal_owner = aura.current_user_id()))
    with check (tenant_id = aura.current_tenant_id());

-- Row level security --------------------------------------------------------------------------

-- Deals: as contacts. Managers and admins the whole workspace (F9.3), a rep only their own
-- (F9.4), and a rep can neither create a deal for someone else nor hand one away. Soft delete:
-- no DELETE grant.
alter table deals enable row level security;
alter table deals force row level security;
create policy deals_select on deals for select using (
    tenant_id = aura.current_tenant_id()
    and (aura.current_member_role() <> 'sales_rep' or assigned_to = aura.current_user_id())
);
create policy deals_insert on deals for insert with check (
    tenant_id = aura.current_tenant_id()
    and (aura.current_member_role() <> 'sales_rep' or assigned_to = aura.current_user_id())
);
create policy deals_update on deals for update
    using (
        tenant_id = aura.current_tenant_id()
        and (aura.current_member_role() <> 'sales_rep' or assigned_to = aura.current_user_id()))
    with check (
        tenant_id = aura.current_tenant_id()
        and (aura.current_member_role() <> 'sales_rep' or assigned_to = aura.current_user_id()));
create policy deals_delete on deals for delete using (false);
grant select, insert, update on deals to aura_app;

-- A deal's contacts: seen by the deal's owner and by the contact's owner; a rep links and
-- unlinks only their own contacts on their own deals.
alter table deal_contacts enable row level security;
alter table deal_contacts force row level security;
create policy deal_contacts_select on deal_contacts for select using (
    tenant_id = aura.current_tenant_id()
    and (aura.current_member_role() <> 'sales_rep'
         or deal_owner = aura.current_user_id() or contact_owner = aura.current_user_id())
);
create policy deal_contacts_insert on deal_contacts for insert with check (
    tenant_id = aura.current_tenant_id()
    and created_by = aura.current_user_id()
    and (aura.current_member_role() <> 'sales_rep'
         or (deal_owner = aura.current_user_id() and contact_owner = aura.current_user_id()))
);
create policy deal_contacts_update on deal_contacts for update
    using (
        tenant_id = aura.current_tenant_id()
        and (aura.current_member_role() <> 'sales_rep' or deal_owner = aura.current_user_id()))
    with check (
        tenant_id = aura.current_tenant_id()
        and (aura.current_member_role() <> 'sales_rep' or deal_owner = aura.current_user_id()));
create policy deal_contacts_delete on deal_contacts for delete using (
    tenant_id = aura.current_tenant_id()
    and (aura.current_member_role() <> 'sales_rep' or deal_owner = aura.current_user_id())
);
grant select, insert, delete on deal_contacts to aura_app;
grant update (role) on deal_contacts to aura_app;

-- Stage history: read with the deal; written only by the mover, for a deal they may change.
alter table deal_stage_history enable row level security;
alter table deal_stage_history force row level security;
create policy deal_stage_history_select on deal_stage_history for select using (
    tenant_id = aura.current_tenant_id()
    and (aura.current_member_role() <> 'sales_rep' or deal_owner = aura.current_user_id())
);
create policy deal_stage_history_insert on deal_stage_history for insert with check (
    tenant_id = aura.current_tenant_id()
    and moved_by = aura.current_user_id()
    and (aura.current_member_role() <> 'sales_rep' or deal_owner = aura.current_user_id())
);
create policy deal_stage_history_update on deal_stage_history for update using (false);
create policy deal_stage_history_delete on deal_stage_history for delete using (false);
grant select, insert on deal_stage_history to aura_app;

-- The refused-access recorder (0020) now knows deals and their history, and finds an
-- activity's owner on the activity itself.
create or replace function aura.record_refused_access(p_ids uuid[])
    returns setof text
    language plpgsql volatile security definer
    set search_path = ''
    as $$
declare
    v_actor uuid := aura.current_user_id();
    v_tenant uuid := aura.current_tenant_id();
    v_role aura.member_role := aura.current_member_role();
    v_id uuid;
    v_holder uuid;
    v_kind text;
    v_owners uuid[];
    v_reason text;
begin
    if v_actor is null or v_tenant is null then
        return;
    end if;
    for v_id in
        select named from unnest(p_ids) with ordinality as u (named, position)
        where named is not null
        group by named
        order by min(position)
        limit aura.refused_ids_limit()
    loop
        -- The caller's own workspace first: a user id may name a member of several workspaces.
        -- `owners` lists who may see the record as a rep; null: every member.
        select r.tenant_id, r.kind, r.owners into v_holder, v_kind, v_owners
        from (
            select tenant_id, 'contact' as kind, array[assigned_to] as owners
            from public.contacts where id = v_id
            union all
            select tenant_id, 'activity', array_remove(array[contact_owner, deal_owner], null)
            from public.activities where id = v_id
            union all
            select tenant_id, 'deal', array[assigned_to] from public.deals where id = v_id
            union all
            select tenant_id, 'deal_stage_history', array[deal_owner]
            from public.deal_stage_history where id = v_id
            union all
            select tenant_id, 'organization', null from public.organizations where id = v_id
            union all
            select tenant_id, 'custom_field', null from public.custom_field_definitions where id = v_id
            union all
            select tenant_id, 'member', null from public.tenant_members where id = v_id
            union all
            select tenant_id, 'member', null from public.tenant_members where user_id = v_id
            union all
            select tenant_id, 'invitation', null from public.invitations where id = v_id
            union all
            select tenant_id, 'sales_process', null from public.sales_processes where id = v_id
            union all
            select tenant_id, 'deal_stage', null from public.deal_stages where id = v_id
            union all
            select tenant_id, 'product', null from public.products where id = v_id
        ) r
        order by r.tenant_id = v_tenant desc
        limit 1;

        v_reason := case
            when v_holder is null then null
            when v_holder <> v_tenant then 'other_workspace'
            when v_role = 'sales_rep' and v_owners is not null and not (v_actor = any (v_owners))
                then 'not_owner'
        end;
        if v_reason is not null then
            insert into public.audit_log
                (tenant_id, actor_user_id, action, entity_type, entity_id, after)
            values (v_holder, v_actor, 'access.refused', v_kind, v_id,
                    jsonb_build_object('reason', v_reason));
            return next v_reason;
        end if;
    end loop;
end
$$;
