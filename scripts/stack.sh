#!/usr/bin/env bash
# Production-shaped local stack: PostgreSQL + PgBouncer + Redis (scripts/services.sh), migrations,
# then the api and the worker as separate background processes, dev mode on.
#   scripts/stack.sh up DIR     start everything, wait for /readyz of api and worker, print URLs
#   scripts/stack.sh down DIR   SIGTERM the processes (KILL after 15 s), stop services, remove DIR
# Optional env: STACK_PORT (8080), STACK_OPS_PORT (9090), STACK_WORKER_OPS_PORT (9091),
# STACK_API_NODE_ARGS / STACK_WORKER_NODE_ARGS (node flags, e.g. --cpu-prof or heap bounds),
# CHALLENGE_CATALOG (examples/catalog.json), STACK_JWT_SECRET, STACK_API_KEY, LOG_LEVEL.
# DIR/env holds every URL and credential (source it; k6 reads JWT_SECRET / SERVICE_API_KEY from it).
set -euo pipefail

cmd=${1:?up|down}
dir=${2:?dir}
root=$(cd "$(dirname "$0")/.." && pwd)

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_ready() { # name url logfile pidfile
  local deadline=$((SECONDS + ${STACK_READY_TIMEOUT:-60}))
  while ((SECONDS < deadline)); do
    if curl -fsS -o /dev/null --max-time 2 "$2" 2>/dev/null; then return 0; fi
    if ! pid_alive "$4"; then
      echo "stack: $1 exited before it was ready; its log:" >&2
      tail -n 80 "$3" >&2 || true
      return 1
    fi
    sleep 0.25
  done
  echo "stack: $1 not ready at $2 after ${STACK_READY_TIMEOUT:-60} s; its log:" >&2
  tail -n 80 "$3" >&2 || true
  return 1
}

stop_pids() { # pidfile... : TERM all, wait up to 15 s for all, then KILL what is left
  local pids=() f pid
  for f in "$@"; do
    [ -f "$f" ] && pid=$(cat "$f") && kill -0 "$pid" 2>/dev/null && pids+=("$pid") && kill -TERM "$pid" 2>/dev/null
  done
  for _ in $(seq 1 150); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "stack: pid $pid still running after 15 s, sending KILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -f "$@"
}

up() {
  if pid_alive "$dir/api.pid" || pid_alive "$dir/worker.pid"; then
    echo "stack: already running in $dir (scripts/stack.sh down $dir first)" >&2
    exit 1
  fi
  [ -f "$root/dist/app/main.js" ] || { echo "stack: dist/app/main.js missing (npm run build)" >&2; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)

  local port=${STACK_PORT:-8080} ops=${STACK_OPS_PORT:-9090} wops=${STACK_WORKER_OPS_PORT:-9091}
  local catalog=${CHALLENGE_CATALOG:-$root/examples/catalog.json}
  case "$catalog" in /*) ;; *) catalog="$root/$catalog" ;; esac
  [ -f "$catalog" ] || { echo "stack: catalog $catalog not found" >&2; exit 1; }
  local secret=${STACK_JWT_SECRET:-local-stack-hs256-secret-0f3c9a7d2b6e4f18a5c1}
  local apikey=${STACK_API_KEY:-local-stack-service-key-7c2e91}

  # The servers run as the postgres user, which may not pass through the checkout's parent
  # directories (a clone under /root): their files live under /tmp, linked from DIR/services.
  local services
  services=$(mktemp -d /tmp/challenge-stack.XXXXXX)
  ln -sfn "$services" "$dir/services"
  PG_MAX_CONNECTIONS=${PG_MAX_CONNECTIONS:-200} "$root/scripts/services.sh" start "$services"
  # shellcheck disable=SC1091
  source "$dir/services/env"

  cat >"$dir/env" <<ENV
$(cat "$dir/services/env")
export CHALLENGE_CATALOG=$catalog
export DEV_MODE=1
export NODE_ENV=production
export JWT_HS256_SECRET=$secret
export JWT_SECRET=$secret
export SERVICE_API_KEYS=$apikey
export SERVICE_API_KEY=$apikey
export BASE_URL=http://127.0.0.1:$port/challenge
export API_OPS_URL=http://127.0.0.1:$ops
export WORKER_OPS_URL=http://127.0.0.1:$wops
export STACK_DIR=$dir
ENV
  # shellcheck disable=SC1091
  source "$dir/env"
  export LOG_LEVEL=${LOG_LEVEL:-info}

  echo "stack: migrating"
  if ! (cd "$root" && ROLE=migrate node dist/app/main.js >"$dir/migrate.log" 2>&1); then
    echo "stack: migrations failed; log:" >&2
    tail -n 80 "$dir/migrate.log" >&2 || true
    exit 1
  fi

  # exec: the recorded pid is node itself; all fds redirected so callers' pipes are not held open
  (cd "$root" && ROLE=api PORT=$port OPS_PORT=$ops exec nohup node ${STACK_API_NODE_ARGS:-} dist/app/main.js </dev/null >"$dir/api.log" 2>&1) &
  echo $! >"$dir/api.pid"
  (cd "$root" && ROLE=worker PORT=0 OPS_PORT=$wops exec nohup node ${STACK_WORKER_NODE_ARGS:-} dist/app/main.js </dev/null >"$dir/worker.log" 2>&1) &
  echo $! >"$dir/worker.pid"

  wait_ready api "http://127.0.0.1:$ops/readyz" "$dir/api.log" "$dir/api.pid" || exit 1
  wait_ready worker "http://127.0.0.1:$wops/readyz" "$dir/worker.log" "$dir/worker.pid" || exit 1

  cat <<MSG
stack up in $dir (catalog $(basename "$catalog"))
  player API   http://127.0.0.1:$port/challenge/v1   (pid $(cat "$dir/api.pid"), log $dir/api.log)
  api ops      http://127.0.0.1:$ops/metrics  /readyz
  worker ops   http://127.0.0.1:$wops/metrics  /readyz   (pid $(cat "$dir/worker.pid"), log $dir/worker.log)
  PostgreSQL   $DATABASE_DIRECT_URL   (via PgBouncer: $DATABASE_URL)
  Redis        $REDIS_URL
  env          source $dir/env
try:
  TOKEN=\$(curl -s -X POST http://127.0.0.1:$port/challenge/dev/token -H 'Content-Type: application/json' -d '{"userId":"alice"}' | sed -E 's/.*"token":"([^"]+)".*/\1/')
  curl -s -X POST http://127.0.0.1:$port/challenge/v1/challenges/initialize -H "Authorization: Bearer \$TOKEN"
  curl -s -X POST http://127.0.0.1:$port/challenge/v1/events -H 'X-Api-Key: $apikey' -H 'Content-Type: application/json' \\
    -d '{"events":[{"eventId":"e1","userId":"alice","type":"login","occurredAt":"'\$(date -u +%FT%TZ)'"}]}'
stop: make down
MSG
}

down() {
  [ -d "$dir" ] || { echo "stack: nothing in $dir"; return 0; }
  stop_pids "$dir/api.pid" "$dir/worker.pid"
  if [ -L "$dir/services" ]; then
    "$root/scripts/services.sh" stop "$(readlink -f "$dir/services")"
    rm -f "$dir/services"
  elif [ -d "$dir/services" ]; then
    "$root/scripts/services.sh" stop "$dir/services"
  fi
  rm -rf "$dir"
  echo "stack: down"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
esac
