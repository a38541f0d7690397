#!/usr/bin/env bash
# Commit decisions in the coordinators' Multi-Paxos log (coord_rdl.c): bank
# transfers through c1 (a follower: it forwards its decisions to the
# leader) while the leader is SIGKILLed and later restarted. Every transfer
# must commit or abort (the bank checks every snapshot and the final total),
# commits must go on under the new leader, and once things settle no
# participant may keep a prepared transaction.
#
# usage: test_paxos_decisions.sh PATH/TO/synodctl PATH/TO/bank
set -euo pipefail

CTL=${1:?usage: test_paxos_decisions.sh PATH/TO/synodctl PATH/TO/bank}
CTL=$(readlink -f "$CTL")
BANK=$(readlink -f "${2:?usage: test_paxos_decisions.sh PATH/TO/synodctl PATH/TO/bank}")
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

prepared_count() {
  local p n total=0
  for p in p1 p2; do
    n=$(sqlite3 "$DIR/$p/store.db" "SELECT count(*) FROM _syn_txns WHERE _syn_state = 1" 2>/dev/null || echo 0)
    total=$((total + n))
  done
  echo "$total"
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
step "no prepared transaction left, the total holds"
n=1
for _ in $(seq 1 100); do
  n=$(prepared_count)
  [ "$n" = 0 ] && break
  sleep 0.3
done
[ "$n" = 0 ] || fail "participants still hold $n prepared transaction(s)"
# Through c1 only: the catalog is not replicated yet, so the table exists
# on the coordinator that created it.
out=$(timeout 20 psql -X -q -A -t "$PSQL_CONN" -c "SELECT sum(balance), count(*) FROM accounts")
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
echo "prepared at the participants right after the crash: $(prepared_count)"
sleep 1
ctl start c1 > /dev/null
n=1
for _ in $(seq 1 100); do
  n=$(prepared_count)
  [ "$n" = 0 ] && break
  sleep 0.3
done
[ "$n" = 0 ] || fail "participants still hold $n prepared transaction(s) after c1 came back"
echo "settled $(( $(date +%s) - t0 )) s after the crash"
out=""
for _ in $(seq 1 30); do
  out=$(timeout 20 psql -X -q -A -t "$PSQL_CONN" -c "SELECT sum(balance), count(*) FROM accounts" 2>/dev/null) && break
  sleep 0.5
done
[ "$out" = "$TOTAL|10" ] || fail "after c1's crash: $out, want $TOTAL|10"

step "down"
ctl down > /dev/null
echo "PASS"
