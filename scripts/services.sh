#!/usr/bin/env bash
# Start / stop real PostgreSQL, PgBouncer (transaction pooling) and Redis on free loopback
# ports under a temp dir. Used by `make test`, `make up` and benches.
#   scripts/services.sh start DIR   -> writes DIR/env (source it), servers keep running
#   scripts/services.sh stop DIR    -> stops what DIR's start started, removes DIR
#   scripts/with-services.sh CMD... -> start, run CMD with the env, stop even on failure
set -euo pipefail

cmd=${1:?start|stop}
dir=${2:?dir}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()
PY
}

ensure_postgres_user() {
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  chmod 755 "$dir"
  ensure_postgres_user
  local bin; bin=$(pg_bin)
  [ -n "$bin" ] || { echo "postgresql server not installed (make deps)" >&2; exit 1; }
  local pg_port pgb_port redis_port
  pg_port=$(free_port); pgb_port=$(free_port); redis_port=$(free_port)
  mkdir -p "$dir/pg" "$dir/pgbouncer" "$dir/redis"
  chown -R postgres "$dir/pg" "$dir/pgbouncer"
  chmod 700 "$dir/pg"
  as_pg "$bin/initdb" -D "$dir/pg/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/pg/initdb.log"
  cat >>"$dir/pg/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$dir/pg'
max_connections = ${PG_MAX_CONNECTIONS:-200}
shared_buffers = 256MB
fsync = ${PG_FSYNC:-on}
synchronous_commit = ${PG_SYNCHRONOUS_COMMIT:-on}
full_page_writes = ${PG_FSYNC:-on}
track_counts = on
log_min_messages = warning
CONF
  as_pg "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 60 start >/dev/null
  as_pg "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE challenge" >/dev/null

  cat >"$dir/pgbouncer/pgbouncer.ini" <<INI
[databases]
challenge = host=127.0.0.1 port=$pg_port dbname=challenge user=postgres
* = host=127.0.0.1 port=$pg_port user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir =
auth_type = trust
auth_file = $dir/pgbouncer/userlist.txt
pool_mode = transaction
default_pool_size = ${PGBOUNCER_POOL_SIZE:-40}
max_client_conn = 2000
ignore_startup_parameters = extra_float_digits,statement_timeout,options
logfile = $dir/pgbouncer/pgbouncer.log
pidfile = $dir/pgbouncer/pgbouncer.pid
admin_users = postgres
; retry a failed server login after 1 s, not the 15 s default: PostgreSQL back = pool back
server_login_retry = 1
INI
  echo '"postgres" ""' >"$dir/pgbouncer/userlist.txt"
  chown -R postgres "$dir/pgbouncer"
  as_pg pgbouncer -d -q "$dir/pgbouncer/pgbouncer.ini"

  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir/redis" --daemonize yes \
    --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" \
    --appendonly yes --appendfsync everysec --save '' >/dev/null

  for _ in $(seq 1 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  for _ in $(seq 1 100); do
    "$bin/psql" -h 127.0.0.1 -p "$pgb_port" -U postgres -d challenge -qc 'select 1' >/dev/null 2>&1 && break
    sleep 0.1
  done

  cat >"$dir/env" <<ENV
export DATABASE_URL=postgres://postgres@127.0.0.1:$pgb_port/challenge
export DATABASE_DIRECT_URL=postgres://postgres@127.0.0.1:$pg_port/challenge
export REDIS_URL=redis://127.0.0.1:$redis_port
export TEST_PG_PORT=$pg_port
export TEST_PGBOUNCER_PORT=$pgb_port
export TEST_REDIS_PORT=$redis_port
export TEST_PG_BIN=$bin
export TEST_SERVICES_DIR=$dir
ENV
}

stop() {
  [ -d "$dir" ] || return 0
  local bin; bin=$(pg_bin)
  if [ -f "$dir/redis/redis.pid" ]; then kill "$(cat "$dir/redis/redis.pid")" 2>/dev/null || true; fi
  if [ -f "$dir/pgbouncer/pgbouncer.pid" ]; then kill "$(cat "$dir/pgbouncer/pgbouncer.pid")" 2>/dev/null || true; fi
  if [ -f "$dir/pg/data/postmaster.pid" ]; then as_pg "$bin/pg_ctl" -D "$dir/pg/data" -m immediate -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
