-- Account safety (issue 9).

-- The outbox keeps no usable secret. A message's secret-bearing text (a reset or invitation
-- link, a one-time code) is kept only until it is delivered: the delivery clears it in the same
-- update that sets sent_at, and the database refuses a sent message that still holds it.
-- Undelivered, it is useless once its link or code expires. What operators read is the
-- redacted copy; `aura_app` may not read the secret text at all (column grants), only write it.
alter table email_outbox add column body_redacted text
    check (length(body_redacted) between 1 and 20000);
-- Messages written before this had their secret in the only copy: redact it, and drop the
-- original (none is resent).
update email_outbox set
    body_redacted = regexp_replace(
        regexp_replace(body_text, '(/password-reset/|/invitations/)\S+', '\1[redacted]', 'g'),
        'code is [0-9]+', 'code is [redacted]', 'g'),
    body_text = null;
alter table email_outbox alter column body_redacted set not null;
alter table email_outbox alter column body_text drop not null;
alter table email_outbox add constraint email_outbox_sent_holds_no_secret
    check (sent_at is null or body_text is null);
revoke select, update on email_outbox from aura_app;
grant select (id, to_address, subject, body_redacted, created_by, created_at, sent_at)
    on email_outbox to aura_app;
grant update (sent_at, body_text) on email_outbox to aura_app;

-- Refresh tokens descend from one sign-in (a family). A spent token presented again means a
-- copy is in someone else's hands: every token of its family is revoked.
-- A token written without a family starts one of its own (as every earlier token does).
alter table api_refresh_tokens add column family_id uuid;
update api_refresh_tokens set family_id = id;
alter table api_refresh_tokens alter column family_id set not null,
    alter column family_id set default gen_random_uuid();
alter table api_refresh_tokens add column revoked_at timestamptz;
-- 0019 lets `aura_app` update only what a token's life changes, never whose it is.
grant update (revoked_at) on api_refresh_tokens to aura_app;
create index api_refresh_tokens_family_idx on api_refresh_tokens (tenant_id, family_id);

-- Failed sign-ins count per account AND per place they come from (an IPv4 address, an IPv6
-- /64), so an attacker elsewhere cannot lock the account's owner out. Each failure past the
-- limit doubles the lock (capped by the application). Success from a place clears that place's
-- count; a password reset clears them all. The account-wide count on `users` goes (below).
create table login_failures (
    user_id uuid not null references users (id),
    source text not null check (length(source) between 1 and 64),
    failures integer not null check (failures > 0),
    last_failed_at timestamptz not null default now(),
    locked_until timestamptz,
    primary key (user_id, source)
);

-- Only the account's own counts, with the user in context (set once the password is checked).
alter table login_failures enable row level security;
alter table login_failures force row level security;
create policy login_failures_select on login_failures for select
    using (user_id = aura.current_user_id());
create policy login_failures_insert on login_failures for insert
    with check (user_id = aura.current_user_id());
create policy login_failures_update on login_failures for update
    using (user_id = aura.current_user_id()) with check (user_id = aura.current_user_id());
create policy login_failures_delete on login_failures for delete
    using (user_id = aura.current_user_id());
grant select, insert, update, delete on login_failures to aura_app;

-- A signup proves its email address by an emailed single-use link (only its SHA-256 kept here)
-- before an operator may approve the request. One per account; operators see whether it is done.
create table email_verifications (
    user_id uuid primary key references users (id),
    token_hash bytea not null check (length(token_hash) = 32),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    verified_at timestamptz,
    check (expires_at > created_at)
);

alter table email_verifications enable row level security;
alter table email_verifications force row level security;
create policy email_verifications_select on email_verifications for select
    using (user_id = aura.current_user_id() or aura.current_user_is_platform_admin());
create policy email_verifications_insert on email_verifications for insert
    with check (user_id = aura.current_user_id());
-- Verifying only marks it done, once: the token and whose it is never change.
create policy email_verifications_update on email_verifications for update
    using (user_id = aura.current_user_id() and verified_at is null)
    with check (user_id = aura.current_user_id());
grant select, insert on email_verifications to aura_app;
grant update (verified_at) on email_verifications to aura_app;

-- Requests made before verification existed went through as they were: they count as verified.
insert into email_verifications (user_id, token_hash, created_at, expires_at, verified_at)
select user_id, sha256(gen_random_uuid()::text::bytea), created_at, created_at + interval '1 day',
       created_at
from signups;

-- The lock lives in login_failures now: the sign-in lookup answers with the account and its
-- hash only, and the account-wide count and lock on users go.
drop function aura.apex_login_candidate(text);
create function aura.apex_login_candidate(p_email text)
    returns table (id uuid, password_hash text)
    language sql stable security definer
    set search_path = ''
    as $$ select u.id, u.password_hash from public.users u where u.email_norm = lower(p_email) $$;
revoke all on function aura.apex_login_candidate(text) from public;
grant execute on function aura.apex_login_candidate(text) to aura_app;
alter table users drop column failed_logins, drop column locked_until;
