#!/usr/bin/env bash
# Two `aura serve` behind nginx on loopback, sharing one database and one Redis (issue 17).
#
#   AURA_DATABASE_URL=postgres://owner@127.0.0.1/aura AURA_APP_PASSWORD=... \
#   AURA_REDIS_URL=redis://127.0.0.1:6379 scripts/balancer/balancer.sh start
#   scripts/balancer/balancer.sh rolling-restart    # one server at a time, under load
#   scripts/balancer/balancer.sh stop
#
# nginx listens on 127.0.0.1:${AURA_BALANCER_PORT:-3000}, the servers on the next two ports.
# Both servers sign API tokens with the same AURA_JWT_SECRET (generated once into the state
# folder if unset), count rate limits in the same Redis, and believe X-Forwarded-For only from
# nginx. Sessions live in the database, so a member signed in through one server is signed in
# on the other. State (pids, logs, nginx's config) goes to target/balancer.
set -euo pipefail
cd "$(dirname "$0")/../.."

state=target/balancer
port=${AURA_BALANCER_PORT:-3000}
ports=($((port + 1)) $((port + 2)))
aura=${AURA_BIN:-target/release/aura}

need() { [ -n "${!1:-}" ] || { echo "$1 must be set" >&2; exit 2; }; }

start_server() { # index
  local i=$1
  AURA_LISTEN="127.0.0.1:${ports[$i]}" \
  AURA_PUBLIC_URL="${AURA_PUBLIC_URL:-http://localhost:$port}" \
  AURA_JWT_SECRET="$(cat "$state/jwt_secret")" \
  AURA_TRUSTED_PROXIES=127.0.0.1 \
    "$aura" serve >>"$state/aura-$i.log" 2>&1 &
  echo $! >"$state/aura-$i.pid"
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:${ports[$i]}/readyz" >/dev/null && return 0
    sleep 0.2
  done
  echo "server $i did not come up: see $state/aura-$i.log" >&2
  exit 1
}

stop_server() { # index: SIGTERM, then wait for the requests in flight to be answered
  local i=$1 pid
  pid=$(cat "$state/aura-$i.pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$state/aura-$i.pid"
}

case "${1:-}" in
  start)
    need AURA_DATABASE_URL
    need AURA_REDIS_URL
    [ -x "$aura" ] || { echo "build it first: cargo build --release -p aura" >&2; exit 2; }
    mkdir -p "$state"
    [ -s "$state/jwt_secret" ] || echo "${AURA_JWT_SECRET:-$(head -c 32 /dev/urandom | base64)}" >"$state/jwt_secret"
    start_server 0
    start_server 1
    sed -e "s|@DIR@|$PWD/$state|g" -e "s|@PORT@|$port|g" \
        -e "s|@FIRST@|${ports[0]}|g" -e "s|@SECOND@|${ports[1]}|g" \
        scripts/balancer/nginx.conf.template >"$state/nginx.conf"
    nginx -p "$PWD/$state" -e "$PWD/$state/error.log" -c "$PWD/$state/nginx.conf"
    echo "Aura behind nginx: http://localhost:$port (servers on ${ports[*]})"
    ;;
  rolling-restart)
    for i in 0 1; do
      stop_server "$i"
      start_server "$i"
      echo "server $i restarted"
    done
    ;;
  stop)
    [ -f "$state/nginx.pid" ] && nginx -p "$PWD/$state" -e "$PWD/$state/error.log" -c "$PWD/$state/nginx.conf" -s quit || true
    stop_server 0
    stop_server 1
    ;;
  *)
    echo "usage: $0 start|rolling-restart|stop" >&2
    exit 2
    ;;
esac
