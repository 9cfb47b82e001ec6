-- A new account (a signup, an invitee without one) is made by `aura.create_account` only:
-- `aura_app` loses its insert on `users`. On Citus the server's insert of a `users` row (a
-- reference table) reaches every node with the defaults of `is_platform_admin` and `member_of`
-- written out, and `aura_app` must never hold a privilege on those columns; the function
-- inserts as the owner, naming only what a new account may say.
--
-- It checks what the insert policy checks: an account is made by itself, that is, with the id
-- the server put in context for it. The function takes no other claim; a platform operator is
-- made only by the operators' own tooling (`aura` CLI, as the owner).
create function aura.create_account(
    account uuid,
    account_email text,
    name text,
    hash text
)
    returns void
    language plpgsql security definer
    set search_path = ''
    as $$
begin
    if account is null or account is distinct from aura.current_user_id() then
        raise exception 'an account is made only by itself (the user in context)'
            using errcode = '42501';
    end if;
    insert into public.users (id, email, display_name, password_hash)
    values (account, account_email, name, hash);
end
$$;
revoke all on function aura.create_account(uuid, text, text, text) from public;
grant execute on function aura.create_account(uuid, text, text, text) to aura_app;

-- The insert policy stays: `users` forces row-level security, so it binds the owner here too.
revoke insert on users from aura_app;
