#!/usr/bin/env bash
# synod-coordinator with its cluster services wired in: it opens its catalog
# and decision log in its data dir, connects to the participants, stops
# cleanly on SIGTERM (no handle left open), restarts on the same data, and
# refuses a name without a coordinator index.
#
# usage: test_coord_daemon.sh PARTICIPANT COORDINATOR
set -u
PART=$1 COORD=$2
WORK=$(mktemp -d)
PIDS=()
fail() {
  echo "FAIL: $*" >&2
  for f in "$WORK"/*.log; do [ -f "$f" ] && sed "s|^|  $(basename "$f"): |" "$f" >&2; done
  exit 1
}
cleanup() {
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_started() { # log pattern -> prints port
  for _ in $(seq 1 200); do
    p=$(sed -n "s/.*started $2 rpc=127\.0\.0\.1:\([0-9]*\).*/\1/p" "$1" 2>/dev/null | tail -1)
    [ -n "$p" ] && { echo "$p"; return 0; }
    sleep 0.05
  done
  return 1
}

SPEC=""
for i in 1 2; do
  "$PART" --name p$i --dir "$WORK/p$i" --rpc-port 0 --log-file "$WORK/p$i.log" &
  PIDS+=("$!")
  port=$(wait_started "$WORK/p$i.log" "participant p$i") || fail "p$i did not start"
  SPEC="${SPEC:+$SPEC,}p$i=127.0.0.1:$port"
done

run_coord() {
  before=$(grep -c "started coordinator" "$WORK/c1.log" 2>/dev/null)
  "$COORD" --name c1 --dir "$WORK/c1" --rpc-port 0 --sql-port 1 --participants "$SPEC" \
    --log-file "$WORK/c1.log" &
  CPID=$!
  PIDS+=("$CPID")
  for _ in $(seq 1 200); do
    [ "$(grep -c "started coordinator" "$WORK/c1.log" 2>/dev/null)" -gt "${before:-0}" ] && return 0
    sleep 0.05
  done
  fail "coordinator did not start"
}
stop_coord() {
  kill -TERM "$CPID"
  wait "$CPID"; rc=$?
  [ $rc -eq 0 ] || fail "coordinator exited $rc after SIGTERM, want 0"
  grep -q "still open" "$WORK/c1.log" && fail "coordinator left handles open"
  true
}

run_coord
[ -f "$WORK/c1/catalog.db" ] || fail "no catalog.db in the data dir"
[ -f "$WORK/c1/paxos/MEMBER" ] || fail "no paxos acceptor log (decisions) in the data dir"
stop_coord
run_coord   # restart on the same data (new id epoch, log replay)
stop_coord

"$COORD" --name cx --dir "$WORK/cx" --rpc-port 0 --sql-port 1 --participants "$SPEC" \
  2>"$WORK/cx.err"; rc=$?
[ $rc -eq 1 ] || fail "a name without an index exited $rc, want 1"
grep -q "index" "$WORK/cx.err" || fail "no clear message: $(cat "$WORK/cx.err")"
echo OK
