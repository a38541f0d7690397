#!/usr/bin/env bash
# The extended query protocol against a live 1+2 cluster (one coordinator,
# two SQLite participants):
#  - tests/workload/extproto (libpq: PQprepare/PQexecPrepared with text and
#    binary values of every supported type, PQdescribePrepared/Portal,
#    unnamed statements, errors then Sync, pipeline mode with a failing
#    query, transactions across messages, single-row mode, a catalog change
#    under a prepared statement) must print exactly extproto/libpq.out;
#  - extproto_raw.py (row limits and PortalSuspended, named portals,
#    Describe/Close, skip until Sync, Flush) must print exactly
#    extproto/raw.out. Both expected files were written by running the same
#    programs against PostgreSQL 15;
#  - malformed extended-protocol messages end their own session only;
#  - pgbench -M prepared and -M extended with a custom script over a table
#    made here (pgbench -i needs COPY): every transaction succeeds and the
#    balance total equals the number of updates.
#
# usage: test_extproto.sh PATH/TO/synodctl SRCDIR PATH/TO/extproto
set -euo pipefail
CTL=$(readlink -f "${1:?usage: test_extproto.sh SYNODCTL SRCDIR EXTPROTO}")
SRC=$(readlink -f "$2")
CLIENT=$(readlink -f "$3")
. "$(dirname "$0")/lib.sh"
EXP=$SRC/tests/integration/extproto

step "up 1+2 on base port $BASE"
ctl up --coordinators 1 --participants 2 --port "$BASE" >/dev/null

step "libpq client"
"$CLIENT" "$PSQL_CONN sslmode=disable" >"$WORK/libpq.got" 2>&1 || fail "client: $(tail -3 "$WORK/libpq.got")"
diff -u "$EXP/libpq.out" "$WORK/libpq.got" || fail "libpq transcript differs from PostgreSQL's"

step "raw protocol"
python3 "$SRC/tests/integration/extproto_raw.py" "$BASE" >"$WORK/raw.got" 2>&1 ||
  fail "raw: $(tail -3 "$WORK/raw.got")"
diff -u "$EXP/raw.out" "$WORK/raw.got" || fail "raw transcript differs from PostgreSQL's"

step "malformed messages"
python3 "$SRC/tests/integration/extproto_raw.py" "$BASE" garbage || fail "garbage handling"

step "pgbench -M prepared / extended"
sql -c "DROP TABLE IF EXISTS ep_bench" >/dev/null 2>&1
sql -c "CREATE TABLE ep_bench (id int PRIMARY KEY, bal int NOT NULL)" >/dev/null
sql -c "INSERT INTO ep_bench SELECT g, 0 FROM generate_series(1, 50) g" >/dev/null
cat >"$WORK/bench.sql" <<'SQL'
\set id random(1, 50)
BEGIN;
UPDATE ep_bench SET bal = bal + 1 WHERE id = :id;
SELECT bal FROM ep_bench WHERE id = :id;
END;
SQL
for mode in prepared extended; do
  timeout 60 pgbench -n -M "$mode" -c 4 -t 100 -f "$WORK/bench.sql" "$PSQL_CONN sslmode=disable" \
    >"$WORK/pgbench.$mode" 2>&1 || fail "pgbench -M $mode: $(tail -5 "$WORK/pgbench.$mode")"
  grep -q "actually processed: 400/400" "$WORK/pgbench.$mode" ||
    fail "pgbench -M $mode: $(grep -E 'processed|error' "$WORK/pgbench.$mode")"
  echo "   $mode: $(grep -E '^tps' "$WORK/pgbench.$mode")"
done
total=$(sql -c "SELECT sum(bal) FROM ep_bench")
[ "$total" = 800 ] || fail "balance total $total, want 800"

ctl down >/dev/null
echo "PASS"
