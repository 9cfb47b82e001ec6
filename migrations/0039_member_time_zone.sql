-- A member's own time zone (issue 18): pages show and read times in it; null means the
-- workspace's. It is the user's choice, kept on the user (as the display name is), so the users
-- policy already lets only the user themself change it. Checked against the server's zone
-- names by the platform before writing.
alter table users add column time_zone text check (length(time_zone) between 1 and 64);
grant select (time_zone), update (time_zone) on users to aura_app;
