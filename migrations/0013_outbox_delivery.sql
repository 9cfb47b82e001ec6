-- With a mail server configured, the request that wrote a message sends it right after its
-- transaction commits, then marks it sent, as the same user: only the creator may set sent_at.
-- An UPDATE sees only rows the select policy shows, so creators now see their own messages
-- (what they were shown anyway: the invitation they sent, their own reset link or code).
drop policy email_outbox_select on email_outbox;
create policy email_outbox_select on email_outbox for select
    using (created_by = aura.current_user_id() or aura.current_user_is_platform_admin());
create policy email_outbox_update on email_outbox for update
    using (created_by = aura.current_user_id()) with check (created_by = aura.current_user_id());
grant update (sent_at) on email_outbox to aura_app;
