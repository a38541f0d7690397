#!/usr/bin/env bash
# Commit decisions in the coordinators' Multi-Paxos log (coord_rdl.c): bank
# transfers through c1 (a follower: it forwards its decisions to the
# leader) while the leader is SIGKILLed and later restarted. Every transfer
# must commit or abort (the bank checks every snapshot and the final total),
# commits must go on under the new leader, and once things settle no
# participant may keep a prepared transaction.
#
# usage: test_paxos_decisions.sh PATH/TO/synodctl PATH/TO/bank PATH/TO/part_client
set -euo pipefail

USAGE="usage: test_paxos_decisions.sh PATH/TO/synodctl PATH/TO/bank PATH/TO/part_client"
CTL=$(readlink -f "${1:?$USAGE}")
BANK=$(readlink -f "${2:?$USAGE}")
PC=$(readlink -f "${3:?$USAGE}")
. "$(dirname "$0")/lib.sh"
echo "cluster dir $DIR, base port $BASE"

leaders() {
  ctl status --json | python3 -c '
import json, sys
print(" ".join(n["name"] for n in json.load(sys.stdin)
               if n["role"] == "coordinator" and n["alive"] and n["leader"]))'
}

# wait_leader SECONDS [NOT]: the single leader, once there is one (not NOT).
wait_leader() {
  local secs=$1 not=${2:-} i l
  for i in $(seq 1 $((secs * 10))); do
    l=$(leaders)
    set -- $l
    [ $# -le 1 ] || fail "two leaders at once: $l"
    if [ $# -eq 1 ] && [ "$1" != "$not" ]; then
      echo "$1"
      return 0
    fi
    sleep 0.1
  done
  fail "no leader (other than '$not') within $secs s"
}

# txn_state PARTICIPANT_PORT TXN: the participant's state of one
# transaction (-1 unknown, 0 active, 1 prepared, 2 committed, 3 aborted).
# Participants hold their SQLite store exclusively, so this asks over RPC.
txn_state() {
  SYNOD_SECRET_FILE=$DIR/cluster.secret "$PC" 127.0.0.1 "$1" state "$2" 2>/dev/null |
    sed -n 's/^state=//p'
}

# settled: the whole table reads through c1. A read waits for prepared
# intents to be resolved, so this returns once nothing it meets is in doubt.
settled() {
  local i
  for i in $(seq 1 60); do
    timeout 20 psql -X -q -A -t "$PSQL_CONN" -c "SELECT sum(balance), count(*) FROM accounts" \
      2>/dev/null && return 0
    sleep 0.5
  done
  return 1
}

# final_prepared_check: with every node stopped, no store holds a prepared
# transaction (as test_crash.sh checks).
final_prepared_check() {
  local p n
  for p in p1 p2; do
    n=$(sqlite3 "$DIR/$p/store.db" "SELECT count(*) FROM _syn_txns WHERE _syn_state = 1")
    [ "$n" = 0 ] || fail "$p still holds $n prepared transaction(s)"
  done
}

TRANSFER="BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id > 0; UPDATE accounts SET balance = balance + 9 WHERE id = 0; COMMIT;"

step "up 3 coordinators + 2 participants, c1 a follower"
ctl up --coordinators 3 --participants 2 --port "$BASE" > /dev/null
L=$(wait_leader 10)
if [ "$L" = c1 ]; then
  # A restarted node comes back as a follower: the others elect a leader
  # while it is down.
  ctl stop c1 > /dev/null
  L=$(wait_leader 5 c1)
  ctl start c1 > /dev/null
fi
echo "leader: $L"

step "bank through c1; SIGKILL the leader $L meanwhile"
"$BANK" --conninfo "$PSQL_CONN" --init --accounts 10 --clients 4 --readers 1 --seconds 14 \
  > "$WORK/bank.out" 2>&1 &
BANK_PID=$!
sleep 4
ctl kill "$L" > /dev/null
L2=$(wait_leader 5 "$L")
echo "new leader: $L2"
# Commits go on under the new leader (the transfer writes on every shard, so
# it needs a decision in the log). It races the bank's transfers, so a
# deadlock or serialization failure is retried, as the bank does.
ok=0
for _ in $(seq 1 20); do
  if timeout 20 psql -X -q "$PSQL_CONN" -c "$TRANSFER" > /dev/null 2> "$WORK/t.err"; then
    ok=1
    break
  fi
  grep -qE "deadlock|could not serialize|40001|40P01" "$WORK/t.err" || { cat "$WORK/t.err"; fail "transfer failed after the leader change"; }
  sleep 0.2
done
[ "$ok" = 1 ] || fail "no commit after the leader change"
sleep 2
ctl start "$L" > /dev/null
rc=0
wait "$BANK_PID" || rc=$?
cat "$WORK/bank.out"
[ "$rc" -eq 0 ] || fail "bank workload failed (exit $rc)"

# The bank keeps its money; the test's transfer moved money inside the table.
TOTAL=1000
step "everything settles, the total holds"
# Through c1 only: the catalog is not replicated yet, so the table exists
# on the coordinator that created it.
out=$(settled) || fail "the table stays unreadable after the leader change"
[ "$out" = "$TOTAL|10" ] || fail "c1 sees $out, want $TOTAL|10"

step "SIGKILL c1, the coordinator of running transfers; restart it"
# Transfers in flight die with c1: some are decided in the log, some only
# prepared. The leader re-drives decided ones; c1 restarted answers the
# participants' questions from the replicated table, proposing ABORT where
# nothing was decided (first decision wins).
LOOP_PIDS=()
for k in 1 2 3; do
  ( for _ in $(seq 1 400); do
      [ -f "$WORK/stop" ] && break
      timeout 10 psql -X -q "$PSQL_CONN" -c "$TRANSFER" > /dev/null 2>&1 || true
    done ) &
  LOOP_PIDS+=($!)
done
sleep 2
ctl kill c1 > /dev/null
touch "$WORK/stop"
for pid in "${LOOP_PIDS[@]}"; do wait "$pid" || true; done
t0=$(date +%s)
sleep 1
ctl start c1 > /dev/null
out=$(settled) || fail "the table stays unreadable after c1 came back"
echo "settled $(( $(date +%s) - t0 )) s after the crash"
[ "$out" = "$TOTAL|10" ] || fail "after c1's crash: $out, want $TOTAL|10"

step "a decided COMMIT whose coordinator died is finished by the leader"
# c1 holds phase two back (failpoint) after its COMMIT decision is chosen,
# then dies: nobody but the group's leader knows the outcome, and it must
# re-drive it (coord_rdl.c: undone for COORD_RDL_REDRIVE_AGE_MS) while c1
# stays down.
before=$(timeout 20 psql -X -q -A -t "$PSQL_CONN" -c "SELECT balance FROM accounts WHERE id = 0")
ctl stop c1 > /dev/null
SYN_FAILPOINTS="coord_delay_phase_two=delay(60000)" ctl start c1 > /dev/null
wait_leader 10 > /dev/null
timeout 30 psql -X -q "$PSQL_CONN" -c "$TRANSFER" > /dev/null || fail "the held transfer did not commit"
# The client heard COMMIT (the decision is chosen); phase two is held.
TX=""
for _ in $(seq 1 50); do
  TX=$(sed -n 's/.* cid=\([0-9a-f]*\) failpoint coord_delay_phase_two: holding.*/\1/p' "$DIR/c1/c1.log" | tail -n 1)
  [ -n "$TX" ] && break
  sleep 0.1
done
[ -n "$TX" ] || fail "c1 did not hold phase two"
TXD=$(python3 -c "print(int('$TX', 16))")
P1=$((BASE + 200)) P2=$((BASE + 201))
[ "$(txn_state $P1 "$TXD")" = 1 ] && [ "$(txn_state $P2 "$TXD")" = 1 ] ||
  fail "txn $TX is not prepared on both participants: $(txn_state $P1 "$TXD") $(txn_state $P2 "$TXD")"
ctl kill c1 > /dev/null
t0=$(date +%s)
ok=0
for _ in $(seq 1 100); do
  if [ "$(txn_state $P1 "$TXD")" = 2 ] && [ "$(txn_state $P2 "$TXD")" = 2 ]; then ok=1; break; fi
  sleep 0.2
done
[ "$ok" = 1 ] || fail "the leader did not finish the decided transfer with c1 down: $(txn_state $P1 "$TXD") $(txn_state $P2 "$TXD")"
echo "finished by the leader $(( $(date +%s) - t0 )) s after c1 died"
ctl start c1 > /dev/null
after=""
for _ in $(seq 1 30); do
  after=$(timeout 20 psql -X -q -A -t "$PSQL_CONN" -c "SELECT balance FROM accounts WHERE id = 0" 2>/dev/null) && break
  sleep 0.5
done
[ "$after" = $((before + 9)) ] || fail "account 0: $before before, $after after; the COMMIT was lost"

step "down: no prepared transaction on disk"
ctl down > /dev/null
final_prepared_check
echo "PASS"
