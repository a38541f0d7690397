#!/usr/bin/env bash
# Cluster lifecycle through synodctl: up, status --json, idempotent up,
# kill/start, pause/resume, usage errors, pid-reuse safety, busy ports,
# down, restart from the same directory.
#
# usage: test_cluster.sh PATH/TO/synodctl
set -euo pipefail

CTL=${1:?usage: test_cluster.sh PATH/TO/synodctl}
CTL=$(readlink -f "$CTL")
WORK=$(mktemp -d)
DIR=$WORK/data
EXTRA_PIDS=()

cleanup() {
  local rc=$?
  # Kill, by pid, every daemon this test started that is still around, and
  # the helper processes (decoy sleep, port squatter).
  local f pid
  for f in "$DIR"/*/pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && grep -qa -- "$DIR" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -CONT "$pid" 2>/dev/null || true
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${EXTRA_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  if [ $rc -ne 0 ]; then
    echo "---- events.log" >&2
    cat "$DIR/events.log" >&2 2>/dev/null || true
    for f in "$DIR"/*/*.log; do
      [ -f "$f" ] || continue
      echo "---- $f (last 20 lines)" >&2
      tail -n 20 "$f" >&2
    done
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "== $*"; }

. "$(dirname "$0")/ports.sh"
BASE=$(lib_free_base)
echo "cluster dir $DIR, base port $BASE"

ctl() { "$CTL" "$@" --dir "$DIR"; }

# check_status PYTHON-EXPR...: each expression must hold for the parsed
# status --json array `nodes` (dict `by` maps name -> node).
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
pid_of() { ctl status --json | python3 -c "import json,sys; print(next(n['pid'] for n in json.load(sys.stdin) if n['name']=='$1'))"; }
all_pids() { ctl status --json | python3 -c "import json,sys; print(' '.join(str(n['pid']) for n in json.load(sys.stdin)))"; }

step "up a 3+3 cluster"
ctl up --coordinators 3 --participants 3 --port "$BASE" > "$WORK/up.out"
cat "$WORK/up.out"
grep -q "psql -h 127.0.0.1 -p $BASE -U postgres" "$WORK/up.out" || fail "up did not print the psql line for c1"
grep -q "psql -h 127.0.0.1 -p $((BASE + 2)) -U postgres" "$WORK/up.out" || fail "no psql line for c3"
[ -f "$DIR/cluster.conf" ] || fail "no cluster.conf"

step "status --json: 6 nodes, all alive"
check_status 'len(nodes) == 6' \
  'sorted(by) == ["c1", "c2", "c3", "p1", "p2", "p3"]' \
  'all(n["alive"] is True and isinstance(n["pid"], int) for n in nodes)' \
  'all(by[c]["role"] == "coordinator" for c in ("c1", "c2", "c3"))' \
  'all(by[p]["role"] == "participant" for p in ("p1", "p2", "p3"))' \
  "by['c1']['sql_port'] == $BASE and by['c1']['rpc_port'] == $BASE + 100" \
  "by['c3']['sql_port'] == $BASE + 2 and by['p2']['rpc_port'] == $BASE + 201" \
  'all(isinstance(by[c]["leader"], bool) for c in ("c1", "c2", "c3"))' \
  'all("sql_port" not in by[p] for p in ("p1", "p2", "p3"))' \
  "by['p1']['data_dir'] == '$DIR/p1' and by['p1']['log_file'] == '$DIR/p1/p1.log'"
ctl status | tee "$WORK/status.txt"
[ "$(wc -l < "$WORK/status.txt")" -eq 6 ] || fail "text status is not one line per node"
for n in c1 c2 c3 p1 p2 p3; do
  [ -s "$DIR/$n/$n.log" ] || fail "no log file for $n"
done

step "second up starts nothing"
before=$(all_pids)
ctl up > "$WORK/up2.out"
grep -q "already running" "$WORK/up2.out" || fail "second up did not say the cluster runs"
[ "$(all_pids)" = "$before" ] || fail "second up changed pids: $before -> $(all_pids)"

step "kill p2, start p2"
old=$(pid_of p2)
ctl kill p2
check_status 'by["p2"]["alive"] is False' 'by["p2"]["pid"] is None' \
  'all(by[n]["alive"] for n in ("c1", "c2", "c3", "p1", "p3"))'
grep -q " kill p2 pid=$old signal=SIGKILL" "$DIR/events.log" || fail "kill not in events.log"
ctl start p2
new=$(pid_of p2)
check_status 'by["p2"]["alive"] is True'
[ "$new" != "$old" ] || fail "p2 kept pid $old after restart"
grep -q " start p2 pid=$new" "$DIR/events.log" || fail "start not in events.log"

step "pause and resume c2"
ctl pause c2
check_status 'by["c2"]["alive"] is False' 'by["c2"]["state"] == "paused"' 'isinstance(by["c2"]["pid"], int)'
ctl resume c2
check_status 'by["c2"]["alive"] is True' 'by["c2"]["state"] == "running"'
grep -q " pause c2 " "$DIR/events.log" || fail "pause not in events.log"
grep -q " resume c2 " "$DIR/events.log" || fail "resume not in events.log"

step "usage errors"
expect_rc() {
  local want=$1 rc=0
  shift
  "$CTL" "$@" > "$WORK/err.out" 2>&1 || rc=$?
  [ "$rc" -eq "$want" ] || { cat "$WORK/err.out"; fail "'$*' exited $rc, want $want"; }
}
expect_rc 2 up --bogus --dir "$DIR"
grep -q "usage: synodctl up" "$WORK/err.out" || fail "bad flag printed no usage line"
expect_rc 2 status --dir "$DIR" --frobnicate
expect_rc 2 up --backend postgres --dir "$DIR"
grep -q -- "--backend" "$WORK/err.out" || fail "backend error does not name the option"
expect_rc 2 up --coordinators 5 --dir "$DIR"
grep -q "contradicts" "$WORK/err.out" || fail "contradicting flag not explained"
expect_rc 2 up --port notaport --dir "$DIR"
expect_rc 2 kill --dir "$DIR"
expect_rc 1 kill p9 --dir "$DIR"
grep -q "unknown node 'p9'" "$WORK/err.out" || fail "unknown node not reported"
expect_rc 1 status --dir "$WORK/nowhere"
expect_rc 2 frobnicate
expect_rc 2

step "down"
ctl down
check_status 'all(n["alive"] is False and n["pid"] is None for n in nodes)'
[ "$(grep -c ' down ' "$DIR/events.log")" -eq 6 ] || fail "down did not log 6 events"

step "a reused pid is not mistaken for a node"
sleep 60 &
decoy=$!
disown "$decoy"
EXTRA_PIDS+=("$decoy")
echo "$decoy" > "$DIR/p1/pid"
check_status 'by["p1"]["alive"] is False' 'by["p1"]["pid"] is None'
ctl stop p1 | grep -q "not running" || fail "stop signalled a stranger"
kill -0 "$decoy" || fail "the decoy process was signalled"

step "a busy port is refused"
python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $BASE + 200)); s.listen(); time.sleep(120)" &
squatter=$!
disown "$squatter"
EXTRA_PIDS+=("$squatter")
for _ in $(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $BASE + 200), 0.2)" 2>/dev/null && break
  sleep 0.1
done
expect_rc 1 up --dir "$DIR"
grep -q "busy" "$WORK/err.out" || fail "busy port not explained"
check_status 'all(n["alive"] is False for n in nodes)'
kill -9 "$squatter"
# SIGKILL is asynchronous: wait (bounded) until the port is really free.
for _ in $(seq 100); do
  python3 -c "
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(('127.0.0.1', $BASE + 200))
except OSError: sys.exit(1)" && break
  sleep 0.05
done

step "up again restarts the same cluster from its directory"
ctl up > "$WORK/up3.out"
check_status 'len(nodes) == 6' 'all(n["alive"] for n in nodes)' \
  "by['p1']['data_dir'] == '$DIR/p1'"
[ "$(grep -c '^node ' "$DIR/cluster.conf")" -eq 6 ] || fail "cluster.conf changed"

step "stop and start c3"
ctl stop c3 | grep -q "stopped c3" || fail "stop c3 did not report"
check_status 'by["c3"]["alive"] is False' 'by["c3"]["pid"] is None'
grep -q " stop c3 pid=[0-9]* signal=SIGTERM" "$DIR/events.log" || fail "stop not in events.log"
ctl start c3
check_status 'by["c3"]["alive"] is True'

step "final down, with c1 paused (down must still end it)"
ctl pause c1
ctl down > "$WORK/down.out"
cat "$WORK/down.out"
grep -q "^c1 *stopped" "$WORK/down.out" || fail "paused c1 was not stopped by down"
check_status 'all(not n["alive"] for n in nodes)'
echo "PASS"
