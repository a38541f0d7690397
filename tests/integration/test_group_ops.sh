#!/usr/bin/env bash
# Operating the coordinator group (docs/operations.md): status and leader,
# in-doubt resolution against the group, 40003 when no majority confirms a
# COMMIT, and a paused leader that resumes with a stale ballot.
#
#  1. `status --json` carries each coordinator's paxos_role, ballot,
#     promised, chosen, applied, leader_id; chosen/applied grow under load
#     and agree across the group; `leader` names the one status shows.
#  2. A transaction prepared through c2 whose coordinator crashes before
#     deciding (failpoint coord_after_prepare=crash) and stays down is
#     aborted by the others: the participants ask c2, then c1/c3, which
#     propose ABORT to the group's log.
#  3. c2 and c3 SIGSTOPped while a client on c1 COMMITs a cross-shard
#     transaction: 40003 within the commit wait (10 s), not a hang, not
#     40001; after SIGCONT the outcome is the same on both shards and
#     nothing stays prepared.
#  4. The leader SIGSTOPped for 10 s while banks run through it and through
#     c1: the others elect a new leader and keep committing; on resuming the
#     old leader logs that it stepped down, its clients get definite answers
#     or errors, both banks' totals hold.
#  5. A follower whose data dir is wiped is refused by a plain `start`,
#     and with `start --rejoin` rejoins as a learner and catches up.
#
# usage: test_group_ops.sh PATH/TO/synodctl PATH/TO/bank PATH/TO/part_client
set -euo pipefail

USAGE="usage: test_group_ops.sh PATH/TO/synodctl PATH/TO/bank PATH/TO/part_client"
CTL=$(readlink -f "${1:?$USAGE}")
BANK=$(readlink -f "${2:?$USAGE}")
PC=$(readlink -f "${3:?$USAGE}")
. "$(dirname "$0")/lib.sh"
echo "cluster dir $DIR, base port $BASE"
P1=$((BASE + 200)) P2=$((BASE + 201))

# jq-less JSON access: status_field NODE FIELD
status_field() {
  ctl status --json | python3 -c '
import json, sys
for n in json.load(sys.stdin):
    if n["name"] == sys.argv[1]:
        print(json.dumps(n[sys.argv[2]]))' "$1" "$2"
}

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

txn_state() {
  SYNOD_SECRET_FILE=$DIR/cluster.secret "$PC" 127.0.0.1 "$1" state "$2" 2>/dev/null |
    sed -n 's/^state=//p'
}

# sqlc N ARGS: psql against coordinator cN.
sqlc() {
  local n=$1
  shift
  psql -X -q -A -t -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$((BASE + n - 1)) user=postgres dbname=postgres" "$@"
}

TRANSFER="BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id > 0; UPDATE accounts SET balance = balance + 9 WHERE id = 0; COMMIT;"

step "usage: an even or oversized group is refused"
rc=0
"$CTL" up --dir "$WORK/even" --coordinators 4 --port "$BASE" > /dev/null 2> "$WORK/even.err" || rc=$?
[ "$rc" = 2 ] || fail "up --coordinators 4 exit $rc, want 2"
grep -q "want 1, 3 or 5" "$WORK/even.err" || fail "no clear message: $(cat "$WORK/even.err")"
[ ! -e "$WORK/even/cluster.conf" ] || fail "a refused up created a cluster"

step "1. up 3 coordinators + 2 participants; status fields; leader agrees"
ctl up --coordinators 3 --participants 2 --port "$BASE" > /dev/null
L=$(wait_leader 10)
[ "$(ctl leader)" = "$L" ] || fail "leader says $(ctl leader), status says $L"
ctl status --json | python3 -c '
import json, sys
L = sys.argv[1]
nodes = [n for n in json.load(sys.stdin) if n["role"] == "coordinator"]
assert len(nodes) == 3, nodes
for n in nodes:
    for k in ("paxos_role", "ballot", "promised", "chosen", "applied", "snap_slot",
              "leader_id", "leader_name", "group_size", "leader"):
        assert k in n, (k, n)
    assert n["group_size"] == 3, n
    assert n["leader_name"] == L, (n, L)
    assert len(n["ballot"]) == 2 and len(n["promised"]) == 2, n
    if n["name"] == L:
        assert n["leader"] and n["paxos_role"] == "leader", n
        assert n["ballot"][1] == int(L[1:]), n
    else:
        assert not n["leader"] and n["paxos_role"] == "follower", n
        assert n["promised"][1] == int(L[1:]), n
' "$L" || fail "status --json fields: $(ctl status --json)"
ctl status | grep -q "^$L .* leader paxos=leader ballot=" || fail "text status: $(ctl status)"
C0=$(status_field "$L" chosen)
"$BANK" --conninfo "$PSQL_CONN" --init --accounts 10 --clients 3 --readers 1 --seconds 4 \
  > "$WORK/bank1.out" 2>&1 || { cat "$WORK/bank1.out"; fail "bank under status check failed"; }
cat "$WORK/bank1.out"
# Every transfer that touched both shards put a decision (and a DONE) in
# the log; every coordinator learns and applies them.
ok=0
for _ in $(seq 1 50); do
  if ctl status --json | python3 -c '
import json, sys
c0 = int(sys.argv[1])
cs = [n for n in json.load(sys.stdin) if n["role"] == "coordinator"]
ch = [n["chosen"] for n in cs]
ap = [n["applied"] for n in cs]
sys.exit(0 if min(ch) > c0 + 10 and ch == ap and len(set(ch)) == 1 else 1)
' "$C0"; then ok=1; break; fi
  sleep 0.1
done
[ "$ok" = 1 ] || fail "chosen/applied did not grow to one value on all (before $C0): $(ctl status)"
echo "chosen $C0 -> $(status_field "$L" chosen)"

step "2. a txn prepared through c2, c2 crashes before deciding and stays down"
# The accounts table of step 1 (bank --init through c1): the catalog is the
# group's, so c2 serves it too.
ctl stop c2 > /dev/null
SYN_FAILPOINTS="coord_after_prepare=crash" ctl start c2 > /dev/null
PID2=$(cat "$DIR/c2/pid")
P1LINES=$(wc -l < "$DIR/p1/p1.log")
rc=0
timeout 20 psql -X -q "host=127.0.0.1 port=$((BASE + 1)) user=postgres dbname=postgres" \
  -c "$TRANSFER" > /dev/null 2> "$WORK/c2.err" || rc=$?
[ "$rc" != 0 ] || fail "the transfer through c2 committed although c2 crashes before deciding"
wait_pid_gone "$PID2" 5 || fail "c2 did not crash at coord_after_prepare"
t0=$(date +%s)
TX=""
for _ in $(seq 1 200); do
  TX=$(tail -n +"$((P1LINES + 1))" "$DIR/p1/p1.log" |
    sed -n 's/.* cid=\([0-9]*\) in-doubt txn resolved: ABORT (answered by c[13]).*/\1/p' | tail -n 1)
  [ -n "$TX" ] && break
  sleep 0.1
done
[ -n "$TX" ] || fail "p1 did not resolve c2's txn through the group: $(grep in-doubt "$DIR/p1/p1.log" | tail -n 5)"
[ $((TX >> 56)) = 2 ] || fail "txn $TX is not c2's"
grep -q "cid=$TX txn prepared .* in doubt; asking c2" "$DIR/p1/p1.log" || fail "p1 did not ask c2 first"
for _ in $(seq 1 100); do
  [ "$(txn_state $P1 "$TX")" = 3 ] && [ "$(txn_state $P2 "$TX")" = 3 ] && break
  sleep 0.1
done
[ "$(txn_state $P1 "$TX")" = 3 ] && [ "$(txn_state $P2 "$TX")" = 3 ] ||
  fail "txn $TX not aborted on both: $(txn_state $P1 "$TX") $(txn_state $P2 "$TX")"
echo "aborted by the group $(( $(date +%s) - t0 )) s after c2 died: $(grep -o "cid=$TX in-doubt txn resolved.*" "$DIR/p1/p1.log")"
# The others keep committing meanwhile.
sqlc 1 -c "$TRANSFER" > /dev/null || fail "no commit through c1 with c2 down"
ctl start c2 > /dev/null
[ "$(sqlc 2 -c "SELECT sum(balance) FROM accounts")" = 1000 ] || fail "the table lost money"

step "3. c2 and c3 paused: a COMMIT through c1 gets 40003, then settles"
wait_leader 10 > /dev/null
BEFORE=$(sqlc 1 -c "SELECT id, balance FROM accounts ORDER BY id" | tr '\n' ' ')
# The transfer's writes are done while the group is whole; only its COMMIT
# meets the paused majority. (A statement that starts with the majority
# gone fails at its catalog read barrier with 08006 instead: it never
# reaches a decision, so its outcome is known.)
FIFO=$WORK/c1.in
mkfifo "$FIFO"
timeout 40 psql -X -q -v VERBOSITY=verbose "$PSQL_CONN" < "$FIFO" > "$WORK/c1.out" \
  2> "$WORK/c1.err" &
PSQL=$!
exec 7> "$FIFO"
echo "${TRANSFER%COMMIT;} SELECT 'ready';" >&7
for _ in $(seq 1 100); do grep -q ready "$WORK/c1.out" && break; sleep 0.1; done
grep -q ready "$WORK/c1.out" || fail "the transfer's writes did not finish: $(cat "$WORK/c1.err")"
ctl pause c2 > /dev/null
ctl pause c3 > /dev/null
t0=$(date +%s.%N)
rc=0
echo "COMMIT;" >&7
exec 7>&-
wait "$PSQL" || rc=$?
t1=$(date +%s.%N)
# c1 alone holds no lease by now: `leader` finds none and says so.
rc=0
ctl leader --wait 1 > /dev/null 2> "$WORK/leader.err" || rc=$?
[ "$rc" = 1 ] && grep -q "no leader within 1 s (1 of 3 coordinators alive" "$WORK/leader.err" ||
  fail "leader with the majority paused: exit $rc, $(cat "$WORK/leader.err")"
ctl resume c2 > /dev/null
ctl resume c3 > /dev/null
cat "$WORK/c1.err"
[ "$rc" != 124 ] || fail "COMMIT hung with no majority"
grep -q "ERROR:  40003: statement completion unknown: transaction [0-9a-f]* may or may not have committed" \
  "$WORK/c1.err" || fail "want 40003"
elapsed=$(python3 -c "print(round($t1 - $t0, 1))")
python3 -c "import sys; sys.exit(0 if 9.5 <= $t1 - $t0 <= 20 else 1)" ||
  fail "40003 after $elapsed s, want about 10 s"
echo "40003 after $elapsed s"
TXH=$(sed -n 's/.*transaction \([0-9a-f]*\) may or may not.*/\1/p' "$WORK/c1.err")
TX=$(python3 -c "print(int('$TXH', 16))")
# Nothing stays prepared. (A decided txn's record may be garbage-collected
# soon after, state -1, so the outcome is read from the rows themselves.)
ok=0
for _ in $(seq 1 200); do
  s1=$(txn_state $P1 "$TX") s2=$(txn_state $P2 "$TX")
  if [ -n "$s1" ] && [ -n "$s2" ] && [ "$s1" != 1 ] && [ "$s2" != 1 ] && [ "$s1" != 0 ] && [ "$s2" != 0 ]; then ok=1; break; fi
  sleep 0.1
done
[ "$ok" = 1 ] || fail "txn $TXH still in doubt after the resume: $s1 $s2"
[ "$s1" = "$s2" ] || [ "$s1" = -1 ] || [ "$s2" = -1 ] || fail "txn $TXH: p1 $s1, p2 $s2"
AFTER=$(sqlc 1 -c "SELECT id, balance FROM accounts ORDER BY id" | tr '\n' ' ')
# Committed on every shard (account 0 +9, each other -1) or on none.
how=$(python3 -c '
import sys
def rows(s): return dict(tuple(map(int, r.split("|"))) for r in s.split())
b, a = rows(sys.argv[1]), rows(sys.argv[2])
if a == b: print("ABORT")
elif a == {k: v + (9 if k == 0 else -1) for k, v in b.items()}: print("COMMIT")
else: print("MIXED")' "$BEFORE" "$AFTER")
[ "$how" != MIXED ] || fail "txn $TXH half applied: before $BEFORE after $AFTER"
[ "$s1" != 2 ] && [ "$s2" != 2 ] || [ "$how" = COMMIT ] || fail "txn $TXH committed but rows say $how"
[ "$s1" != 3 ] && [ "$s2" != 3 ] || [ "$how" = ABORT ] || fail "txn $TXH aborted but rows say $how"
echo "txn $TXH settled as $how on both shards (states $s1 $s2)"
out=$(sqlc 1 -c "SELECT sum(balance), count(*) FROM accounts")
[ "$out" = "1000|10" ] || fail "c1 sees $out, want 1000|10"

step "4. the leader paused 10 s under load resumes with a stale ballot"
L=$(wait_leader 10)
if [ "$L" = c1 ]; then
  # The bank through c1 must run while the leader is paused: make another
  # coordinator lead (a restarted node comes back as a follower).
  ctl stop c1 > /dev/null
  L=$(wait_leader 10 c1)
  ctl start c1 > /dev/null
fi
OLD_BALLOT=$(status_field "$L" ballot)
echo "leader $L, ballot $OLD_BALLOT"
LN=${L#c}
# Two banks on disjoint accounts of one table: a paused coordinator's open
# transactions keep their row locks until it resumes (docs/architecture.md),
# so the majority's transfers must not need the paused leader's rows.
"$BANK" --conninfo "$PSQL_CONN" --init --accounts 20 --range 0-10 --clients 3 --readers 1 \
  --seconds 16 > "$WORK/bank_c1.out" 2>&1 &
B1=$!
# The second bank shares the first one's table (one catalog): it starts once
# the first has created it, and both keep its total.
sleep 1
"$BANK" --conninfo "host=127.0.0.1 port=$((BASE + LN - 1)) user=postgres dbname=postgres" \
  --accounts 20 --range 10-20 --clients 2 --readers 0 --seconds 15 > "$WORK/bank_l.out" 2>&1 &
B2=$!
sleep 3
LOGLINES=$(wc -l < "$DIR/$L/$L.log")
ctl pause "$L" > /dev/null
L2=$(wait_leader 10 "$L")
before=$(status_field "$L2" chosen)
sleep 8
after=$(status_field "$L2" chosen)
[ "$after" -gt "$before" ] || fail "the majority stopped committing while $L was paused ($before -> $after)"
echo "new leader $L2 kept committing: chosen $before -> $after"
ctl resume "$L" > /dev/null
rc1=0 rc2=0
wait "$B1" || rc1=$?
wait "$B2" || rc2=$?
cat "$WORK/bank_c1.out" "$WORK/bank_l.out"
[ "$rc1" = 0 ] || fail "bank through c1 failed (exit $rc1)"
[ "$rc2" = 0 ] || fail "bank through the paused leader $L failed (exit $rc2)"
tail -n +"$((LOGLINES + 1))" "$DIR/$L/$L.log" | grep -q "paxos: this node ($L) stopped leading" ||
  fail "$L does not log that it stepped down"
# It promised a ballot above the one it led with: whatever it proposed
# under the old ballot after resuming was refused by every acceptor.
wait_leader 10 > /dev/null
python3 -c '
import json, sys
old, prom = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.exit(0 if prom > old else 1)' "$OLD_BALLOT" "$(status_field "$L" promised)" ||
  fail "$L promised $(status_field "$L" promised), not above its old ballot $OLD_BALLOT"
# The log is one: every coordinator applied the same slots once settled.
ok=0
for _ in $(seq 1 50); do
  if ctl status --json | python3 -c '
import json, sys
cs = [n for n in json.load(sys.stdin) if n["role"] == "coordinator"]
sys.exit(0 if len({n["applied"] for n in cs}) == 1 and len({n["leader_id"] for n in cs}) == 1 else 1)'
  then ok=1; break; fi
  sleep 0.2
done
[ "$ok" = 1 ] || fail "the group did not converge: $(ctl status)"

step "5. a follower whose whole data dir was wiped rejoins by catching up"
L=$(wait_leader 10)
W=c3
[ "$W" != "$L" ] || W=c2
ctl stop "$W" > /dev/null
rm -rf "${DIR:?}/$W"
mkdir -p "$DIR/$W"
rc=0
ctl start "$W" > /dev/null 2> "$WORK/start.err" || rc=$?
[ "$rc" = 1 ] && grep -q -- "--rejoin" "$WORK/start.err" ||
  fail "start of a wiped coordinator without --rejoin: exit $rc, $(cat "$WORK/start.err")"
# Work goes on meanwhile, so there is something to catch up on.
sqlc 1 -c "$TRANSFER" > /dev/null
TARGET=$(status_field "$L" chosen)
ctl start "$W" --rejoin > /dev/null
ok=0
for _ in $(seq 1 150); do
  grep -q "paxos: rejoined, voting again" "$DIR/$W/$W.log" &&
    [ "$(status_field "$W" applied)" -ge "$TARGET" ] && { ok=1; break; }
  sleep 0.1
done
grep -q "paxos: rejoining as a learner" "$DIR/$W/$W.log" || fail "$W did not rejoin as a learner"
[ "$ok" = 1 ] || fail "$W did not catch up to slot $TARGET: $(ctl status)"
echo "$W caught up: applied $(status_field "$W" applied) >= $TARGET"
# Its ids resume above every epoch its earlier lives used (coord_ids.c,
# "A lost disk"), and it serves the tables it no longer had on disk.
for _ in $(seq 1 100); do
  grep -q "ids: an earlier life of this coordinator used epoch" "$DIR/$W/$W.log" && break
  sleep 0.1
done
grep -q "ids: an earlier life of this coordinator used epoch" "$DIR/$W/$W.log" ||
  fail "$W did not move its id epoch above its earlier lives"
sqlc "${W#c}" -c "$TRANSFER" > /dev/null || fail "$W cannot run a transfer after rejoining"

step "down: no prepared transaction on disk"
ctl down > /dev/null
for p in p1 p2; do
  n=$(sqlite3 "$DIR/$p/store.db" "SELECT count(*) FROM _syn_txns WHERE _syn_state = 1")
  [ "$n" = 0 ] || fail "$p still holds $n prepared transaction(s)"
done
echo "PASS"
