#!/usr/bin/env bash
# The coordinators' Multi-Paxos group through synodctl (docs/consensus.md,
# "The daemon shell"): one leader appears; SIGKILL of the leader elects
# another within a few seconds; the killed one restarts and follows; a
# paused (SIGSTOP) leader is replaced and follows after resuming; a member
# whose acceptor log was wiped rejoins as a learner and votes again. At
# every sample at most one coordinator says it leads (the lease).
#
# With 3 coordinators a majority is 2, so the killed node is restarted
# before the next leader is paused: killing one and pausing another would
# leave a minority, which rightly elects nobody.
#
# usage: test_paxos_group.sh PATH/TO/synodctl PATH/TO/paxos_garbage
set -euo pipefail

CTL=${1:?usage: test_paxos_group.sh PATH/TO/synodctl PATH/TO/paxos_garbage}
CTL=$(readlink -f "$CTL")
GARBAGE=$(readlink -f "${2:?usage: test_paxos_group.sh PATH/TO/synodctl PATH/TO/paxos_garbage}")
. "$(dirname "$0")/lib.sh"
echo "cluster dir $DIR, base port $BASE"

# leaders: the names of alive coordinators whose health says leader.
leaders() {
  ctl status --json | python3 -c '
import json, sys
print(" ".join(n["name"] for n in json.load(sys.stdin)
               if n["role"] == "coordinator" and n["alive"] and n["leader"]))'
}

# wait_leader SECONDS [NOT]: print the single leader once exactly one alive
# coordinator leads (and it is not NOT); fail if two ever lead at once.
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
  fail "no leader (other than '$not') within $secs s; status: $(ctl status)"
}

# check_status PYTHON-EXPR...: each must hold for `nodes` / `by` (status --json).
check_status() {
  local json
  json=$(ctl status --json) || fail "status --json exited $?"
  STATUS_JSON=$json python3 - "$@" <<'PY' || fail "status check failed: $*
$json"
import json, os, sys
nodes = json.loads(os.environ["STATUS_JSON"])
by = {n["name"]: n for n in nodes}
for expr in sys.argv[1:]:
    if not eval(expr):
        print("failed:", expr, file=sys.stderr)
        sys.exit(1)
PY
}

# wait_log NODE PATTERN SECONDS
wait_log() {
  local i
  for i in $(seq 1 $(($3 * 10))); do
    grep -q -- "$2" "$DIR/$1/$1.log" && return 0
    sleep 0.1
  done
  fail "$1 never logged '$2'"
}

step "up 3 coordinators + 1 participant"
ctl up --coordinators 3 --participants 1 --port "$BASE" > "$WORK/up.out"
L1=$(wait_leader 10)
echo "leader: $L1"
check_status 'sum(1 for n in nodes if n["role"] == "coordinator" and n["leader"]) == 1' \
  'all(n["alive"] for n in nodes)' \
  'all(n["leader"] is False for n in nodes if n["role"] == "participant" and "leader" in n)'
for c in c1 c2 c3; do
  wait_log "$c" "paxos: node ${c#c} of 3" 5
done
wait_log "$L1" "paxos: this node ($L1) is the leader" 5

step "SIGKILL the leader $L1: another leads within a few seconds"
ctl kill "$L1"
t0=$(date +%s%N)
L2=$(wait_leader 5 "$L1")
echo "new leader: $L2 after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check_status "by['$L1']['alive'] is False" "by['$L2']['leader'] is True"

step "restart $L1: it rejoins as a follower"
ctl start "$L1" > /dev/null
wait_log "$L1" "paxos: leader is $L2 (this node FOLLOWER)" 10
[ "$(wait_leader 5)" = "$L2" ] || fail "the leader changed when $L1 came back"
check_status 'all(n["alive"] for n in nodes)' "by['$L1']['leader'] is False"

step "pause the leader $L2: another takes over"
ctl pause "$L2" > /dev/null
L3=$(wait_leader 5 "$L2")
echo "leader while $L2 is paused: $L3"
check_status "by['$L2']['state'] == 'paused'" "by['$L3']['leader'] is True"

step "resume $L2: it follows, still exactly one leader"
ctl resume "$L2" > /dev/null
# The resumed node's lease has run out while it slept: it must not claim
# the lead on resuming (wait_leader fails on two leaders).
for _ in $(seq 1 10); do wait_leader 5 > /dev/null; sleep 0.1; done
L4=$(wait_leader 5)
check_status 'all(n["alive"] for n in nodes)' \
  'sum(1 for n in nodes if n["role"] == "coordinator" and n["leader"]) == 1'
echo "leader after resume: $L4"

step "a follower whose acceptor log is wiped rejoins as a learner"
W=c1
[ "$W" != "$L4" ] || W=c2
[ "$W" != "$L4" ] || W=c3
ctl stop "$W" > /dev/null
rm -rf "${DIR:?}/$W/paxos"
ctl start "$W" > /dev/null
wait_log "$W" "paxos: rejoining as a learner" 10
wait_log "$W" "paxos: rejoined, voting again" 15
L5=$(wait_leader 5)
echo "leader after the rejoin: $L5"

step "the rejoined member counts: stop the two others one at a time"
# With W voting again, any two of three elect a leader.
O=$(for c in c1 c2 c3; do [ "$c" = "$W" ] || echo "$c"; done | head -n 1)
ctl kill "$O" > /dev/null
wait_leader 10 "$O" > /dev/null
ctl start "$O" > /dev/null
wait_log "$O" "paxos: leader is" 10

step "garbage on methods 300/301 is refused; the group keeps its leader"
LG=$(wait_leader 5)
SYNOD_SECRET_FILE=$DIR/cluster.secret "$GARBAGE" 127.0.0.1 $((BASE + 100 + ${LG#c} - 1)) \
  || fail "paxos_garbage against the leader $LG"
check_status 'all(n["alive"] for n in nodes)'
wait_leader 5 > /dev/null

step "down"
ctl down > /dev/null
check_status 'all(not n["alive"] for n in nodes)'
echo "PASS"
