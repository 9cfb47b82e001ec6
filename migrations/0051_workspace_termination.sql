-- Workspace termination (F1.8, NFR-D3): an operator schedules the deletion of a suspended
-- workspace with a grace period; when it is over, `aura terminate-due` (as the owner) deletes
-- every row of the workspace in every table with a `tenant_id` and marks the workspace
-- terminated. The `tenants` row stays as the tombstone (status `deleted`): its slug stays
-- taken, so links and mail naming the old address never reach someone else's workspace.
--
-- Operators set and clear `termination_due_at` through the existing `tenants_update` policy
-- (0008: platform admins). Only a suspended workspace can be scheduled, and reactivating one
-- requires cancelling first.
alter table tenants
    add column termination_due_at timestamptz,
    add column terminated_at timestamptz,
    add constraint tenants_termination_only_when_suspended
        check (termination_due_at is null or status = 'suspended'),
    add constraint tenants_terminated_are_deleted
        check (terminated_at is null or status = 'deleted');
