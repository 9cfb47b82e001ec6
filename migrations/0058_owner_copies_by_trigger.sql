-- Rows that follow a record's owner (activities, follow-ups, deal contacts, stage history, line
-- items and their history) carry a copy of it, so their policies compare columns (0024). The
-- copies were kept in step by keys on (tenant_id, id, assigned_to) with ON UPDATE CASCADE,
-- which Citus refuses on distributed tables ("CASCADE is not supported in ON UPDATE operation
-- when distribution key included in the foreign constraint", SCALING.md). The keys become
-- plain (tenant_id, id) keys under the same names, and two triggers keep the copies:
--
-- * `aura.take_record_owners` (before insert or update of a child row): the copies are the
--   records' current owners, whatever the statement says. Being what any change to the row
--   runs through, a copy can no more be wrong than under the composite key. A record the key
--   will refuse (none with that id) leaves the column as given, so the key's error still
--   names the key.
-- * `aura.pass_on_owner` (after a record's reassignment): the record's children take the new
--   owner, as the cascade did, through the same row triggers (the history tables' and
--   follow-ups' edit guards let the owner columns change).
--
-- Both are `security definer` (owner, empty search path): a copy is the truth even where the
-- caller's policies hide the record or forbid updating the child (the history tables are
-- append-only for `aura_app`), as a key's checks and cascades ignore policies and grants.

create function aura.take_record_owners() returns trigger
    language plpgsql security definer
    set search_path = ''
as $$
declare
    owner uuid;
begin
    if 'deal' = any (tg_argv) then
        if new.deal_id is null then
            new.deal_owner := null;
        else
            select d.assigned_to into owner from public.deals d
            where d.tenant_id = new.tenant_id and d.id = new.deal_id;
            if found then
                new.deal_owner := owner;
            end if;
        end if;
    end if;
    if 'contact' = any (tg_argv) then
        if new.contact_id is null then
            new.contact_owner := null;
        else
            select c.assigned_to into owner from public.contacts c
            where c.tenant_id = new.tenant_id and c.id = new.contact_id;
            if found then
                new.contact_owner := owner;
            end if;
        end if;
    end if;
    return new;
end $$;
revoke all on function aura.take_record_owners() from public;

create function aura.pass_on_owner() returns trigger
    language plpgsql security definer
    set search_path = ''
as $$
begin
    if tg_table_name = 'deals' then
        update public.deal_contacts set deal_owner = new.assigned_to
        where tenant_id = new.tenant_id and deal_id = new.id;
        update public.deal_stage_history set deal_owner = new.assigned_to
        where tenant_id = new.tenant_id and deal_id = new.id;
        update public.deal_line_items set deal_owner = new.assigned_to
        where tenant_id = new.tenant_id and deal_id = new.id;
        update public.deal_line_history set deal_owner = new.assigned_to
        where tenant_id = new.tenant_id and deal_id = new.id;
        update public.activities set deal_owner = new.assigned_to
        where tenant_id = new.tenant_id and deal_id = new.id;
        update public.follow_ups set deal_owner = new.assigned_to
        where tenant_id = new.tenant_id and deal_id = new.id;
    else
        update public.deal_contacts set contact_owner = new.assigned_to
        where tenant_id = new.tenant_id and contact_id = new.id;
        update public.activities set contact_owner = new.assigned_to
        where tenant_id = new.tenant_id and contact_id = new.id;
        update public.follow_ups set contact_owner = new.assigned_to
        where tenant_id = new.tenant_id and contact_id = new.id;
    end if;
    return null;
end $$;
revoke all on function aura.pass_on_owner() from public;

alter table deal_contacts
    drop constraint deal_contacts_deal_fkey,
    drop constraint deal_contacts_contact_fkey,
    add constraint deal_contacts_deal_fkey foreign key (tenant_id, deal_id)
        references deals (tenant_id, id),
    add constraint deal_contacts_contact_fkey foreign key (tenant_id, contact_id)
        references contacts (tenant_id, id);
alter table deal_stage_history
    drop constraint deal_stage_history_deal_fkey,
    add constraint deal_stage_history_deal_fkey foreign key (tenant_id, deal_id)
        references deals (tenant_id, id);
alter table deal_line_items
    drop constraint deal_line_items_deal_fkey,
    add constraint deal_line_items_deal_fkey foreign key (tenant_id, deal_id)
        references deals (tenant_id, id);
alter table deal_line_history
    drop constraint deal_line_history_deal_fkey,
    add constraint deal_line_history_deal_fkey foreign key (tenant_id, deal_id)
        references deals (tenant_id, id);
alter table activities
    drop constraint activities_contact_owner_fkey,
    drop constraint activities_deal_fkey,
    add constraint activities_contact_owner_fkey foreign key (tenant_id, contact_id)
        references contacts (tenant_id, id),
    add constraint activities_deal_fkey foreign key (tenant_id, deal_id)
        references deals (tenant_id, id);
alter table follow_ups
    drop constraint follow_ups_contact_fkey,
    drop constraint follow_ups_deal_fkey,
    add constraint follow_ups_contact_fkey foreign key (tenant_id, contact_id)
        references contacts (tenant_id, id),
    add constraint follow_ups_deal_fkey foreign key (tenant_id, deal_id)
        references deals (tenant_id, id);

-- Only the cascading keys used these.
alter table deals drop constraint deals_owner_key;
alter table contacts drop constraint contacts_owner_key;

create trigger deal_contacts_owners before insert or update on deal_contacts
    for each row execute function aura.take_record_owners('deal', 'contact');
create trigger deal_stage_history_owners before insert or update on deal_stage_history
    for each row execute function aura.take_record_owners('deal');
create trigger deal_line_items_owners before insert or update on deal_line_items
    for each row execute function aura.take_record_owners('deal');
create trigger deal_line_history_owners before insert or update on deal_line_history
    for each row execute function aura.take_record_owners('deal');
create trigger activities_owners before insert or update on activities
    for each row execute function aura.take_record_owners('deal', 'contact');
create trigger follow_ups_owners before insert or update on follow_ups
    for each row execute function aura.take_record_owners('deal', 'contact');

create trigger deals_owner_passes_on after update of assigned_to on deals
    for each row when (old.assigned_to is distinct from new.assigned_to)
    execute function aura.pass_on_owner();
create trigger contacts_owner_passes_on after update of assigned_to on contacts
    for each row when (old.assigned_to is distinct from new.assigned_to)
    execute function aura.pass_on_owner();
