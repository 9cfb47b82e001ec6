-- Lists sorted by last change, newest first (F6, F7: sortable lists), keyset paginated on
-- (updated_at, id): organizations, contacts, and one owner's contacts (a rep's list, or a
-- manager's filter by owner).
create index organizations_recent_idx on organizations (tenant_id, updated_at desc, id desc)
    where deleted_at is null;
create index contacts_recent_idx on contacts (tenant_id, updated_at desc, id desc)
    where deleted_at is null;
create index contacts_assigned_recent_idx
    on contacts (tenant_id, assigned_to, updated_at desc, id desc)
    where deleted_at is null;
