-- An import is changed only by the member who uploaded it, or by an admin (0048 let any manager's
-- context re-map or start another member's import, which then ran in its creator's context).
-- The worker runs in the creator's context, so it still passes.
drop policy imports_update on imports;
create policy imports_update on imports for update
    using (tenant_id = aura.current_tenant_id()
           and (aura.current_member_role() = 'admin'
                or (aura.current_member_role() = 'manager'
                    and created_by = aura.current_user_id())))
    with check (tenant_id = aura.current_tenant_id()
                and aura.current_member_role() in ('admin', 'manager'));
