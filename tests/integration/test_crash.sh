#!/usr/bin/env bash
# Crash at every commit failpoint: for each one, a cross-shard transfer is
# run with the failpoint armed on one node, the node dies there (as if
# SIGKILLed), and is restarted. Afterwards the transfer must be wholly
# applied or wholly absent, the money total unchanged, and no participant
# may keep a prepared transaction.
#
#   part_after_prepare      participant: prepare durable, vote not yet sent
#   coord_after_prepare     coordinator: all votes in, decision not logged
#   coord_after_decision    coordinator: COMMIT durable, no phase-two message
#   coord_during_phase_two  coordinator: first COMMIT message sent
#   part_before_commit      participant: COMMIT received, not yet applied
#
# usage: test_crash.sh PATH/TO/synodctl
set -euo pipefail
CTL=$(readlink -f "${1:?usage: test_crash.sh PATH/TO/synodctl}")
. "$(dirname "$0")/lib.sh"

pid_of() {
  ctl status --json | python3 -c "import json,sys; print(next(n['pid'] or '' for n in json.load(sys.stdin) if n['name']=='$1'))"
}

# The transfer moves 1 from each of accounts 1..9 into account 0, so it
# writes on every shard.
TRANSFER="BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id > 0; UPDATE accounts SET balance = balance + 9 WHERE id = 0; COMMIT;"

run_case() {
  local fp=$1 node=$2
  step "$fp on $node"
  ctl up --coordinators 1 --participants 3 --port "$BASE" >/dev/null
  sql -c "DROP TABLE IF EXISTS accounts" \
      -c "CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL)" \
      -c "INSERT INTO accounts SELECT g, 100 FROM generate_series(0, 9) g" >/dev/null
  # The INSERT's decision is acknowledged (DONE) in the log up to 100 ms
  # after it returns (coord_rdl.c gathers DONEs); a decision still undone at
  # the restart below would be re-driven, and its phase-two message would
  # hit this case's failpoint before the transfer does.
  sleep 0.5
  ctl stop "$node" >/dev/null
  SYN_FAILPOINTS="$fp=crash" ctl start "$node" >/dev/null
  local pid
  pid=$(pid_of "$node")
  # The client sees an error or a dropped connection; either is fine here.
  timeout 60 psql -X -q "$PSQL_CONN" -c "$TRANSFER" >/dev/null 2>&1 || true
  wait_pid_gone "$pid" 20 || fail "$fp: $node did not crash at the failpoint"
  ctl start "$node" >/dev/null
  # Recovery: the coordinator re-drives logged decisions; participants ask
  # about in-doubt transactions. A read blocks on a prepared intent until
  # its decision is applied, so retry (bounded) until reads go through.
  local out="" i
  for i in $(seq 1 60); do
    out=$(timeout 10 psql -X -q -A -t "$PSQL_CONN" -c \
      "SELECT sum(balance), sum(CASE WHEN balance = 100 THEN 1 ELSE 0 END), sum(CASE WHEN balance = 99 THEN 1 ELSE 0 END), max(balance) FROM accounts" 2>/dev/null) && break
    sleep 0.5
  done
  [ -n "$out" ] || fail "$fp: the table stayed unreadable after recovery"
  case "$out" in
    "1000|10|0|100") echo "   transfer absent" ;;
    "1000|0|9|109") echo "   transfer applied" ;;
    *) fail "$fp: half a transfer or lost money: sum|n100|n99|max = $out" ;;
  esac
  ctl down >/dev/null
  local p n
  for p in p1 p2 p3; do
    n=$(sqlite3 "$DIR/$p/store.db" "SELECT count(*) FROM _syn_txns WHERE _syn_state = 1")
    [ "$n" = 0 ] || fail "$fp: $p still holds $n prepared transaction(s)"
  done
}

run_case part_after_prepare p2
run_case coord_after_prepare c1
run_case coord_after_decision c1
run_case coord_during_phase_two c1
run_case part_before_commit p3
echo "ok"
