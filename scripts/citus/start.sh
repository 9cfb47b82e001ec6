#!/usr/bin/env bash
# Starts a Citus cluster on loopback: a coordinator (port 9700) and two workers (9701, 9702),
# each a PostgreSQL cluster under $AURA_CITUS_DIR (default /tmp/aura-citus), trust auth.
# Needs Citus installed (scripts/citus/build.sh). Prints the coordinator's superuser URL.
set -euo pipefail
dir=${AURA_CITUS_DIR:-/tmp/aura-citus}
bin=$(pg_config --bindir)
ports=(9700 9701 9702)

# PostgreSQL refuses to run as root: run the clusters as the postgres system user then.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
sql() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atc "$2"; }

mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
for port in "${ports[@]}"; do
  data="$dir/$port"
  if [ ! -d "$data" ]; then
    as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
    cat >>"$data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
shared_preload_libraries = 'citus'
max_connections = 200
# A maintenance daemon per database that holds the extension: one per test database.
max_worker_processes = 64
# SET LOCAL of the tenant context reaches the workers with the statement that needs it.
citus.propagate_set_commands = 'local'
# Aura's audit and history triggers run on the shards.
citus.enable_unsafe_triggers = on
CONF
    fresh=yes
  fi
  as_owner "$bin/pg_ctl" -D "$data" -l "$dir/$port.log" -w start >/dev/null
done

if [ "${fresh:-}" = yes ]; then
  for port in "${ports[@]}"; do sql "$port" "create extension if not exists citus"; done
  sql 9700 "select citus_set_coordinator_host('127.0.0.1', 9700)" >/dev/null
  sql 9700 "select citus_add_node('127.0.0.1', 9701)" >/dev/null
  sql 9700 "select citus_add_node('127.0.0.1', 9702)" >/dev/null
fi
sql 9700 "select count(*) || ' workers active' from citus_get_active_worker_nodes()"
echo "coordinator: postgres://postgres@127.0.0.1:9700/postgres?sslmode=disable"
