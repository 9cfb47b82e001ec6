-- Only admins (and the delivery worker, which acts in a workspace with no user in context)
-- change webhook endpoints and deliveries. 0036 let any member's context switch an endpoint
-- on or off, change what it subscribes to, or rewrite a delivery's status.
drop policy webhook_endpoints_update on webhook_endpoints;
create policy webhook_endpoints_update on webhook_endpoints for update
    using (tenant_id = aura.current_tenant_id()
           and (aura.current_member_role() = 'admin' or aura.current_user_id() is null))
    with check (tenant_id = aura.current_tenant_id()
                and (aura.current_member_role() = 'admin' or aura.current_user_id() is null));
drop policy webhook_deliveries_update on webhook_deliveries;
create policy webhook_deliveries_update on webhook_deliveries for update
    using (tenant_id = aura.current_tenant_id()
           and (aura.current_member_role() = 'admin' or aura.current_user_id() is null))
    with check (tenant_id = aura.current_tenant_id()
                and (aura.current_member_role() = 'admin' or aura.current_user_id() is null));

-- Reading them too: an event's payload names records (a deal another rep owns, say) that a
-- rep may not see, and an endpoint's address is an admin's business. The triggers that write
-- events run as the owner and need no read grant through these.
drop policy webhook_endpoints_select on webhook_endpoints;
create policy webhook_endpoints_select on webhook_endpoints for select
    using (tenant_id = aura.current_tenant_id()
           and (aura.current_member_role() = 'admin' or aura.current_user_id() is null));
drop policy webhook_events_select on webhook_events;
create policy webhook_events_select on webhook_events for select
    using (tenant_id = aura.current_tenant_id()
           and (aura.current_member_role() = 'admin' or aura.current_user_id() is null));
drop policy webhook_deliveries_select on webhook_deliveries;
create policy webhook_deliveries_select on webhook_deliveries for select
    using (tenant_id = aura.current_tenant_id()
           and (aura.current_member_role() = 'admin' or aura.current_user_id() is null));
