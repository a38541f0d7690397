#!/usr/bin/env bash
# A reader waits for a prepared writer and then sees the right result.
#
# COMMIT is acknowledged once the decision is durable; phase two (COMMIT to
# the participants) follows asynchronously. The coordinator runs under
#   SYN_FAILPOINTS=coord_delay_phase_two=delay(1500)
# which holds phase two back for 1.5 s, so the participants stay PREPARED
# after the client heard COMMIT. A transaction started right after that has
# a snapshot above the commit timestamp, so (Clock-SI) its reads meet
# prepared intents with prepare_ts <= snapshot and must wait for the
# decision, then return the committed values: returning the old ones would
# break read-your-own-commits.
#
# Checked, for a read in one statement and for a REPEATABLE READ
# transaction (psql sessions, timed here), and again with two long-lived
# sessions (tests/isolation_fp/*.spec through isotest):
#   - the writer's COMMIT returns well before the delay is over;
#   - the reader takes about the delay (it waited) and sees the new values
#     and the same total;
#   - afterwards every transfer is applied, and after shutdown no
#     participant keeps a prepared transaction (as in test_crash.sh).
#
# usage: test_prepared_wait.sh PATH/TO/synodctl SRCDIR PATH/TO/isotest
set -euo pipefail
CTL=$(readlink -f "${1:?usage: test_prepared_wait.sh SYNODCTL SRCDIR ISOTEST}")
SRC=$(readlink -f "${2:?usage: test_prepared_wait.sh SYNODCTL SRCDIR ISOTEST}")
ISOTEST=$(readlink -f "${3:?usage: test_prepared_wait.sh SYNODCTL SRCDIR ISOTEST}")
. "$(dirname "$0")/lib.sh"

DELAY_MS=1500
COMMIT_MAX_MS=1000 # the writer must not wait for phase two
READ_MIN_MS=1000   # the reader must have waited for it

now_ms() { date +%s%3N; }

step "up 1+3 on base port $BASE"
ctl up --coordinators 1 --participants 3 --port "$BASE" >/dev/null
# Ten accounts; the transfer takes 1 from each of 1..9 and gives 9 to 0, so
# it writes on every shard that holds an account (checked at the end).
sql -c "CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL)" \
    -c "INSERT INTO accounts SELECT g, 100 FROM generate_series(0, 9) g" >/dev/null

step "restart c1 with coord_delay_phase_two=delay($DELAY_MS)"
ctl stop c1 >/dev/null
SYN_FAILPOINTS="coord_delay_phase_two=delay($DELAY_MS)" ctl start c1 >/dev/null

TRANSFER="BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id > 0; UPDATE accounts SET balance = balance + 9 WHERE id = 0; COMMIT;"
STMT_READ="SELECT sum(balance), min(balance), max(balance), count(*) FROM accounts"
RR_READ="BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT balance FROM accounts WHERE id = 0; SELECT balance FROM accounts WHERE id = 5; $STMT_READ; COMMIT;"

# transfer_then_read ROUND HOW: session 1 transfers and commits, session 2
# reads at once (HOW = stmt or rr); checks both durations and the values.
transfer_then_read() {
  local r=$1 how=$2 t0 t1 t2 out want
  t0=$(now_ms)
  timeout 30 psql -X -q "$PSQL_CONN" -v ON_ERROR_STOP=1 -c "$TRANSFER" >/dev/null ||
    fail "round $r: the transfer failed"
  t1=$(now_ms)
  if [ "$how" = stmt ]; then
    out=$(timeout 30 psql -X -q -A -t "$PSQL_CONN" -v ON_ERROR_STOP=1 -c "$STMT_READ") ||
      fail "round $r: the read failed"
    want="1000|$((100 - r))|$((100 + 9 * r))|10"
  else
    out=$(timeout 30 psql -X -q -A -t "$PSQL_CONN" -v ON_ERROR_STOP=1 -c "$RR_READ" | tr '\n' ' ') ||
      fail "round $r: the REPEATABLE READ transaction failed"
    want="$((100 + 9 * r)) $((100 - r)) 1000|$((100 - r))|$((100 + 9 * r))|10 "
  fi
  t2=$(now_ms)
  echo "   round $r ($how): COMMIT took $((t1 - t0)) ms, the read $((t2 - t1)) ms: $out"
  [ $((t1 - t0)) -lt $COMMIT_MAX_MS ] ||
    fail "round $r: COMMIT took $((t1 - t0)) ms: it waited for phase two (or the delay is not armed)"
  [ "$out" = "$want" ] ||
    fail "round $r ($how): read '$out', want '$want' (old values = the prepared writes were skipped)"
  [ $((t2 - t1)) -ge $READ_MIN_MS ] ||
    fail "round $r ($how): the read took $((t2 - t1)) ms: it did not wait for the prepared writer"
}

step "a read in one statement waits for the prepared transfer"
# Nothing is held yet (c1 was restarted after the INSERT); this only makes
# sure the restarted coordinator serves before anything is timed.
[ "$(sql -c "SELECT sum(balance) FROM accounts")" = 1000 ] || fail "setup: total is not 1000"
transfer_then_read 1 stmt

step "a REPEATABLE READ transaction waits for the prepared transfer"
transfer_then_read 2 rr

step "two long-lived sessions (tests/isolation_fp)"
"$ISOTEST" "$PSQL_CONN" "$SRC"/tests/isolation_fp/*.spec || fail "isolation_fp scenarios"

step "after the delay everything is committed"
sleep $((DELAY_MS / 1000 + 1))
[ "$(sql -c "$STMT_READ")" = "1000|98|118|10" ] || fail "final state: $(sql -c "$STMT_READ")"

ctl down >/dev/null
for p in p1 p2 p3; do
  n=$(sqlite3 "$DIR/$p/store.db" "SELECT count(*) FROM _syn_txns WHERE _syn_state = 1")
  [ "$n" = 0 ] || fail "$p still holds $n prepared transaction(s)"
  # Every shard held accounts, so every transfer was a distributed one.
  vt=$(sqlite3 "$DIR/$p/store.db" "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c
         WHERE m.type = 'table' AND m.name GLOB 'v[0-9]*' AND c.name = 'balance'")
  [ -n "$vt" ] || fail "$p has no accounts table"
  rows=$(sqlite3 "$DIR/$p/store.db" "SELECT count(DISTINCT _syn_key) FROM $vt")
  [ "$rows" -gt 0 ] || fail "$p holds no rows: the transfers did not cover every shard"
done
echo "ok"
