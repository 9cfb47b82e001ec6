#!/usr/bin/env bash
# Stops the cluster scripts/citus/start.sh started; `--remove` also deletes its data.
set -euo pipefail
dir=${AURA_CITUS_DIR:-/tmp/aura-citus}
bin=$(pg_config --bindir)
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
for port in 9702 9701 9700; do
  [ -d "$dir/$port" ] && as_owner "$bin/pg_ctl" -D "$dir/$port" -m fast -w stop >/dev/null || true
done
if [ "${1:-}" = --remove ]; then rm -rf "$dir"; fi
echo "stopped"
