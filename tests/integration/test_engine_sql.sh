#!/usr/bin/env bash
# Integration test of the SQL engine behind pgwire: starts
# tests/engine_test_server (engine over the local test cluster) on a free
# loopback port, runs every tests/sql/*.sql through `psql -X -a -q` and
# diffs the output with tests/sql/*.out (written as PostgreSQL 15 prints
# it), then checks concurrent increments from two psql clients.
#
# usage: test_engine_sql.sh PATH/TO/engine_test_server PATH/TO/tests
# The .sql files are cluster-agnostic: run them against any synod
# coordinator with the same psql command line.
set -u
SERVER=$1
TESTS=$2
SQLDIR=$TESTS/sql
WORK=$(mktemp -d)
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; tail -n 30 "$WORK/server.log"; exit 1; }

unset PGHOST PGPORT PGUSER PGDATABASE PGOPTIONS PGSSLMODE PGTZ PGDATESTYLE PGAPPNAME \
      PGSERVICE PGSERVICEFILE PGPASSWORD PGCLIENTENCODING PGGSSENCMODE PSQLRC
export PGCONNECT_TIMEOUT=10 LC_ALL=C.UTF-8 PGSSLMODE=disable

"$SERVER" --dir "$WORK/data" --host 127.0.0.1 --port 0 --database postgres --workers 2 >"$WORK/port" 2>"$WORK/server.log" &
SPID=$!
PIDS+=("$SPID")
PORT=
for _ in $(seq 1 100); do
  PORT=$(awk '/^PORT /{print $2}' "$WORK/port")
  [ -n "$PORT" ] && break
  kill -0 "$SPID" 2>/dev/null || fail "server exited at startup"
  sleep 0.05
done
[ -n "$PORT" ] || fail "server did not report its port"

PSQL=(psql -X -h 127.0.0.1 -p "$PORT" -U postgres -d postgres)

for sql in "$SQLDIR"/*.sql; do
  name=$(basename "$sql" .sql)
  out=$WORK/$name.actual
  (cd "$SQLDIR" && "${PSQL[@]}" -a -q -v ON_ERROR_STOP=0 -f "$name.sql" >"$out" 2>&1)
  if ! diff -u "$SQLDIR/$name.out" "$out"; then
    fail "$name.sql differs from $name.out"
  fi
  echo "ok   $name.sql"
done

# Two clients increment one row concurrently under READ COMMITTED: every
# increment must land (the engine re-runs statements that lost the race).
"${PSQL[@]}" -q -c "create table hot (id int primary key, v int); insert into hot values (1, 0)" \
  >/dev/null 2>&1 || fail "hot table setup"
for c in 1 2; do
  (for i in $(seq 1 100); do echo "update hot set v = v + 1 where id = 1;"; done) \
    >"$WORK/inc$c.sql"
  "${PSQL[@]}" -q -v ON_ERROR_STOP=1 -f "$WORK/inc$c.sql" >"$WORK/inc$c.out" 2>&1 &
  PIDS+=("$!")
  eval "INC$c=$!"
done
wait "$INC1" || fail "incrementer 1: $(cat "$WORK/inc1.out")"
wait "$INC2" || fail "incrementer 2: $(cat "$WORK/inc2.out")"
V=$("${PSQL[@]}" -t -A -c "select v from hot")
[ "$V" = "200" ] || fail "concurrent increments: v = $V, want 200"
echo "ok   concurrent increments"

# Six clients run transaction blocks on one hot row with only two workers:
# a session inside a block holds its lock between statements, so its COMMIT
# must get a worker even while every worker waits for that lock (the pool
# grows for sessions in a block instead of starving them).
for c in 1 2 3 4 5 6; do
  (for i in $(seq 1 20); do
     echo "begin;"
     echo "update hot set v = v + 1 where id = 1;"
     echo "update hot set v = v + 1 where id = 1;"
     echo "commit;"
   done) >"$WORK/blk$c.sql"
done
BPIDS=()
for c in 1 2 3 4 5 6; do
  "${PSQL[@]}" -q -v ON_ERROR_STOP=1 -f "$WORK/blk$c.sql" >"$WORK/blk$c.out" 2>&1 &
  PIDS+=("$!")
  BPIDS+=("$!")
done
for c in 1 2 3 4 5 6; do
  wait "${BPIDS[$((c - 1))]}" || fail "block client $c: $(cat "$WORK/blk$c.out")"
done
V=$("${PSQL[@]}" -t -A -c "select v from hot")
[ "$V" = "440" ] || fail "transaction blocks on a hot row: v = $V, want 440"
echo "ok   transaction blocks with a small worker pool"

# Only the configured database exists: FATAL from session_open.
if "${PSQL[@]/postgres/nosuchdb}" -c 'select 1' >"$WORK/nodb.out" 2>&1; then
  fail "connecting to nosuchdb unexpectedly succeeded"
fi
grep -q 'database "nosuchdb" does not exist' "$WORK/nodb.out" || fail "nosuchdb: $(cat "$WORK/nodb.out")"
echo "ok   missing database refused"

# A large result streams through the executor's bounded queue (the worker
# waits while psql is slow) and arrives complete.
N=$("${PSQL[@]}" -t -A -c "select g, g * 2 from generate_series(1, 200000) g" | wc -l)
[ "$N" = "200000" ] || fail "large result: $N rows, want 200000"
echo "ok   large result streamed"

kill -TERM "$SPID"
RC=0
wait "$SPID" || RC=$?
PIDS=()
[ "$RC" -eq 0 ] || fail "server exited with status $RC after SIGTERM"
if grep -E "runtime error:|Sanitizer" "$WORK/server.log"; then fail "sanitizer report"; fi
echo "PASS"
