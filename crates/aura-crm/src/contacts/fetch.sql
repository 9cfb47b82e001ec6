-- The contacts with these ids ($2) that the caller may see, in the order given: one page of the
-- list. Shared with the benchmark program, which EXPLAINs it (aura-bench, baselines.rs).
select c.id as "id: ContactId", c.first_name, c.last_name, c.email, c.phone, c.title,
       c.organization_id as "organization_id: OrganizationId",
       o.name as "organization_name?",
       c.assigned_to as "assigned_to: UserId", owner.display_name as "assigned_to_name?",
       c.custom_fields, c.deleted_at, c.version, c.created_at, c.updated_at,
       cu.display_name as "created_by?", uu.display_name as "updated_by?",
       next.due_at as "next_follow_up_at?", next.subject as "next_follow_up?",
       last.occurred_at as "last_activity_at?"
from unnest($2::uuid[]) with ordinality as wanted (id, position)
join contacts c on c.tenant_id = $1 and c.id = wanted.id
left join organizations o on o.tenant_id = c.tenant_id and o.id = c.organization_id
left join users owner on owner.id = c.assigned_to
left join users cu on cu.id = c.created_by
left join users uu on uu.id = c.updated_by
-- One probe each of follow_ups_contact_due_idx and activities_contact_timeline_idx
-- per contact of the page: the list stays a page's work at any size.
left join lateral (
    select f.due_at, f.subject from follow_ups f
    where f.tenant_id = c.tenant_id and f.contact_id = c.id
      and f.done_at is null and f.deleted_at is null
    order by f.due_at, f.id limit 1) next on true
left join lateral (
    select a.occurred_at from activities a
    where a.tenant_id = c.tenant_id and a.contact_id = c.id and a.deleted_at is null
    order by a.occurred_at desc, a.id desc limit 1) last on true
order by wanted.position
