#!/usr/bin/env bash
# SQL through psql against a live 1+3 cluster (one coordinator, three
# participants on SQLite, or with SYNOD_TEST_BACKEND=postgres|mixed on
# PostgreSQL or both, with a private server that synodctl starts and
# stops): every tests/sql/*.sql script must print exactly its
# .out file; then the isolation scenarios (tests/isolation/*.spec) and the
# bank workload (8 clients, 10 accounts, BANK_SECONDS seconds, default 30)
# run against the same cluster.
#
# usage: test_sql_cluster.sh PATH/TO/synodctl SRCDIR PATH/TO/isotest PATH/TO/bank
set -euo pipefail
CTL=$(readlink -f "${1:?usage: test_sql_cluster.sh SYNODCTL SRCDIR ISOTEST BANK}")
SRC=$(readlink -f "$2")
ISOTEST=$(readlink -f "$3")
BANK=$(readlink -f "$4")
. "$(dirname "$0")/lib.sh"

BACKEND=${SYNOD_TEST_BACKEND:-sqlite}
step "up 1+3 on base port $BASE, backend $BACKEND"
ctl up --coordinators 1 --participants 3 --port "$BASE" --backend "$BACKEND" >/dev/null

step "sql scripts"
failed=0
for f in "$SRC"/tests/sql/*.sql; do
  name=$(basename "$f" .sql)
  # The same flags the expected files were written for: echo the input,
  # no psqlrc, keep going after errors.
  (cd "$SRC/tests/sql" && psql -X -a -q "$PSQL_CONN" -f "$name.sql") >"$WORK/$name.got" 2>&1 || true
  if diff -u "${f%.sql}.out" "$WORK/$name.got" >"$WORK/$name.diff"; then
    echo "ok   $name"
  else
    echo "FAIL $name"
    head -n 60 "$WORK/$name.diff"
    failed=1
  fi
done
[ $failed -eq 0 ] || fail "sql scripts differ from their expected output"

step "isolation scenarios"
"$ISOTEST" "$PSQL_CONN" "$SRC"/tests/isolation/*.spec || fail "isolation scenarios"

step "bank"
"$BANK" --conninfo "$PSQL_CONN" --init --accounts 10 --clients 8 --readers 2 \
  --seconds "${BANK_SECONDS:-30}" || fail "bank workload"

step "a participant that is down"
# Statements that need p2 fail within the RPC timeout with a message naming
# it, nothing half-commits, and everything works again once it is back.
ctl kill p2 >/dev/null
t0=$(date +%s)
if out=$(timeout 60 psql -X -q -A -t "$PSQL_CONN" -c "SELECT sum(balance) FROM accounts" 2>&1); then
  fail "a read over every shard succeeded with p2 down: $out"
fi
t1=$(date +%s)
echo "   $out"
case "$out" in *p2*) ;; *) fail "the error does not name the participant: $out" ;; esac
[ $((t1 - t0)) -le 15 ] || fail "the failure took $((t1 - t0)) s"
timeout 60 psql -X -q "$PSQL_CONN" -c "UPDATE accounts SET balance = balance + 1" >/dev/null 2>&1 \
  && fail "an update of every shard committed with p2 down"
ctl start p2 >/dev/null
total=$(sql -c "SELECT sum(balance) FROM accounts")
[ "$total" = 1000 ] || fail "total after p2 came back: $total, want 1000"

ctl down >/dev/null
if [ "$BACKEND" != sqlite ] && [ -f "$DIR/pg/data/postmaster.pid" ]; then
  fail "synodctl down left the PostgreSQL server running"
fi
echo "ok"
