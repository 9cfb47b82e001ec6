-- Platform operators see every tenant's own row (name, slug, status) and may change it, to
-- suspend and reactivate workspaces (F1.9). This reaches only the `tenants` rows themselves:
-- every table of tenant data keeps its `tenant_id = aura.current_tenant_id()` policies.
drop policy tenants_select on tenants;
create policy tenants_select on tenants for select
    using (id = aura.current_tenant_id() or aura.current_user_is_platform_admin());
drop policy tenants_update on tenants;
create policy tenants_update on tenants for update
    using (id = aura.current_tenant_id() or aura.current_user_is_platform_admin())
    with check (id = aura.current_tenant_id() or aura.current_user_is_platform_admin());
