#!/usr/bin/env bash
# Integration test of sql/pgwire: starts tests/pgwire_test_server on a free
# loopback port, runs psql scripts against expected output (both sslmode=
# disable and prefer), then raw-socket protocol checks (pgwire_raw.py) while a
# psql session runs concurrently, then the output cap on a second server.
#
# usage: test_pgwire.sh PATH/TO/pgwire_test_server PATH/TO/tests
set -u
SERVER=$1
TESTS=$2
HERE=$TESTS/integration
WORK=$(mktemp -d)
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; for f in "$WORK"/*.log; do echo "--- $f"; tail -n 30 "$f"; done; exit 1; }

# Only our flags reach psql/libpq.
unset PGHOST PGPORT PGUSER PGDATABASE PGOPTIONS PGSSLMODE PGTZ PGDATESTYLE PGAPPNAME \
      PGSERVICE PGSERVICEFILE PGPASSWORD PGCLIENTENCODING PGGSSENCMODE PSQLRC
export PGCONNECT_TIMEOUT=10 LC_ALL=C.UTF-8

# start_server NAME ARGS... : sets PORT and SPID
start_server() {
  local name=$1; shift
  "$SERVER" --host 127.0.0.1 --port 0 "$@" >"$WORK/$name.port" 2>"$WORK/$name.log" &
  SPID=$!
  PIDS+=("$SPID")
  PORT=
  for _ in $(seq 1 100); do
    PORT=$(awk '/^PORT /{print $2}' "$WORK/$name.port")
    [ -n "$PORT" ] && return 0
    kill -0 "$SPID" 2>/dev/null || fail "$name server exited at startup"
    sleep 0.05
  done
  fail "$name server did not report its port"
}

forget() {  # forget PID: it has been reaped, never signal it again
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

stop_server() {  # stop_server PID NAME: SIGTERM, expect a clean exit
  kill -TERM "$1"
  local rc=0
  wait "$1" || rc=$?
  forget "$1"
  [ "$rc" -eq 0 ] || fail "$2 server exited with status $rc after SIGTERM"
  # Sanitizer builds report UB without failing the process: make it fail.
  if grep -E "runtime error:|Sanitizer" "$WORK/$2.log"; then fail "$2 server: sanitizer report"; fi
}

start_server main --database postgres
MAIN_PID=$SPID
MAIN_PORT=$PORT

# ---- psql scripts against expected output ---------------------------------
for sql in "$HERE"/pgwire/*.sql; do
  name=$(basename "$sql" .sql)
  for mode in disable prefer; do
    out=$WORK/$name.$mode.actual
    (cd "$HERE/pgwire" && PGSSLMODE=$mode psql -X -a -h 127.0.0.1 -p "$MAIN_PORT" \
       -U postgres -d postgres -v ON_ERROR_STOP=0 -f "$name.sql" >"$out" 2>&1)
    if ! diff -u "$HERE/pgwire/$name.out" "$out"; then
      fail "$name.sql (sslmode=$mode) differs from $name.out"
    fi
    echo "ok   psql $name.sql sslmode=$mode"
  done
done

# sslmode=require must fail cleanly: the server answers SSLRequest with 'N'.
if PGSSLMODE=require psql -X -h 127.0.0.1 -p "$MAIN_PORT" -U postgres -d postgres \
     -c 'select 1' >"$WORK/require.out" 2>&1; then
  fail "sslmode=require unexpectedly succeeded"
fi
grep -q "server does not support SSL" "$WORK/require.out" || fail "sslmode=require: $(cat "$WORK/require.out")"
echo "ok   sslmode=require refused"

# A missing database is a FATAL from session_open.
if psql -X -h 127.0.0.1 -p "$MAIN_PORT" -U postgres -d nosuchdb -c 'select 1' \
     >"$WORK/nodb.out" 2>&1; then
  fail "connecting to nosuchdb unexpectedly succeeded"
fi
grep -q 'database "nosuchdb" does not exist' "$WORK/nodb.out" || fail "nosuchdb: $(cat "$WORK/nodb.out")"
echo "ok   missing database refused"

# ---- raw protocol checks, with a psql session running alongside ----------
{
  echo "create table c(i integer);"
  for i in $(seq 1 2000); do echo "insert into c values ($i);"; done
  echo "select count(*), sum(i) from c;"
} >"$WORK/concurrent.sql"
psql -X -q -t -A -h 127.0.0.1 -p "$MAIN_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -f "$WORK/concurrent.sql" >"$WORK/concurrent.out" 2>&1 &
PSQL_PID=$!
PIDS+=("$PSQL_PID")

python3 "$HERE/pgwire_raw.py" "$MAIN_PORT" "$WORK/main.log" main || fail "raw protocol checks"

PSQL_RC=0
wait "$PSQL_PID" || PSQL_RC=$?
forget "$PSQL_PID"
[ "$PSQL_RC" -eq 0 ] || fail "concurrent psql session failed: $(cat "$WORK/concurrent.out")"
[ "$(cat "$WORK/concurrent.out")" = "2000|2001000" ] || fail "concurrent psql: $(cat "$WORK/concurrent.out")"
echo "ok   concurrent psql session unaffected"

stop_server "$MAIN_PID" main
echo "ok   clean shutdown"

# ---- output cap: an executor that ignores back-pressure -------------------
start_server capped --no-backpressure 1 --max-output 2000000
python3 "$HERE/pgwire_raw.py" "$PORT" "$WORK/capped.log" capped || fail "output cap check"
stop_server "$SPID" capped
echo "PASS"
