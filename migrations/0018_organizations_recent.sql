-- The organizations list sorted by last change, newest first (F6: sortable lists), keyset
-- paginated on (updated_at, id).
create index organizations_recent_idx on organizations (tenant_id, updated_at desc, id desc)
    where deleted_at is null;
