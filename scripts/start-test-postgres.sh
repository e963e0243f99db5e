#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests (CI and developers), from the system's packages.
#
#   url=$(bash scripts/start-test-postgres.sh start DIR)   # prints the SQLAlchemy URL on stdout
#   bash scripts/start-test-postgres.sh stop DIR            # stops it and deletes DIR
#
# DIR must not exist yet or be empty (default for `start`: a new directory under $TMPDIR). The
# cluster listens on 127.0.0.1 on a free port, with password authentication for user `cds`, and
# holds one database `cds_test`. PostgreSQL refuses to run as root, so as root the cluster runs as
# the `postgres` system user (created by Debian's package) through runuser. Diagnostics go to
# stderr; a non-zero exit means no database (the PostgreSQL tests then skip and say why).
set -euo pipefail

say() { echo "start-test-postgres: $*" >&2; }

find_bindir() {
  if [ -n "${PG_BINDIR:-}" ]; then
    echo "$PG_BINDIR"
    return
  fi
  local dir
  # Debian keeps the server binaries out of PATH, one directory per major version: take the newest
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return
    fi
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v initdb)"
    return
  fi
  return 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# as_owner CMD...: run CMD as the cluster's owner (root cannot run PostgreSQL)
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$owner" -- "$@"
  else
    "$@"
  fi
}

start() {
  local dir=${1:-}
  if [ -z "$dir" ]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/cds-test-pg.XXXXXX")
  fi
  mkdir -p "$dir"
  if [ -n "$(ls -A "$dir")" ]; then
    say "$dir is not empty; give a new directory"
    return 1
  fi
  local bindir
  if ! bindir=$(find_bindir); then
    say "no PostgreSQL server binaries (initdb, pg_ctl) found; install Debian's postgresql package"
    return 1
  fi
  owner=$(id -un)
  if [ "$(id -u)" -eq 0 ]; then
    owner=${PG_TEST_USER:-postgres}
    if ! id -u "$owner" >/dev/null 2>&1; then
      say "running as root and there is no '$owner' user to run PostgreSQL as"
      return 1
    fi
    if ! command -v runuser >/dev/null; then
      say "running as root and runuser is missing: cannot drop privileges for PostgreSQL"
      return 1
    fi
    chown "$owner" "$dir"
    chmod 700 "$dir"
  fi
  local data="$dir/data" pwfile="$dir/pwfile" password=cds
  as_owner mkdir -p "$data"
  printf '%s\n' "$password" | as_owner tee "$pwfile" >/dev/null
  if ! as_owner "$bindir/initdb" --pgdata="$data" --username=cds --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1; then
    say "initdb failed:"
    cat "$dir/initdb.log" >&2
    return 1
  fi
  local port attempt
  for attempt in 1 2 3; do
    port=$(free_port)
    # the socket lives in DIR (the default /var/run/postgresql may not be writable)
    if as_owner "$bindir/pg_ctl" --pgdata="$data" --log="$dir/server.log" --wait --timeout=60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir'" \
        -o "-c max_connections=200" start >/dev/null 2>&1; then
      break
    fi
    say "start on port $port failed (attempt $attempt):"
    tail -n 20 "$dir/server.log" >&2 || true
    port=
  done
  if [ -z "$port" ]; then
    return 1
  fi
  if ! as_owner "$bindir/createdb" --host="$dir" --port="$port" --username=cds cds_test; then
    say "createdb failed"
    return 1
  fi
  echo "$port" >"$dir/port"
  say "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') in $dir on 127.0.0.1:$port"
  echo "postgresql+psycopg://cds:$password@127.0.0.1:$port/cds_test"
}

stop() {
  local dir=${1:?give the directory that start used}
  local bindir
  bindir=$(find_bindir) || true
  owner=$(stat -c %U "$dir" 2>/dev/null || id -un)
  if [ -n "$bindir" ] && [ -d "$dir/data" ]; then
    as_owner "$bindir/pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >/dev/null 2>&1 ||
      say "pg_ctl stop failed (already stopped?)"
  fi
  rm -rf "$dir"
}

owner=
case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *)
    echo "usage: $0 start [DIR] | stop DIR" >&2
    exit 64
    ;;
esac
