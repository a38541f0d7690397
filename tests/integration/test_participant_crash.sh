#!/usr/bin/env bash
# A participant that crashes right after a durable prepare (failpoint
# part_after_prepare=crash) comes back with the transaction still prepared,
# its write still locked and invisible; COMMIT then applies it and nothing
# stays prepared. The same for a crash just before applying a commit
# (part_before_commit=crash). The in-doubt resolver asks c1, which is down:
# it logs that once per transaction, not once per try.
#
# usage: test_participant_crash.sh PARTICIPANT PART_CLIENT
set -u
PART=$1 CLI=$2
WORK=$(mktemp -d)
PID=""
fail() {
  echo "FAIL: $*" >&2
  [ -f "$WORK/p1.log" ] && sed 's/^/  p1.log: /' "$WORK/p1.log" >&2
  exit 1
}
cleanup() {
  [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# A port nobody listens on, for the unreachable coordinator c1.
DEAD=$((30000 + RANDOM % 20000))

start_p1() { # env assignments for the daemon in "$@"
  : >"$WORK/p1.log"
  env "$@" "$PART" --name p1 --dir "$WORK/p1" --rpc-port 0 --log-file "$WORK/p1.log" \
    --coordinators "c1=127.0.0.1:$DEAD" --resolve-after-ms 200 &
  PID=$!
  PORT=""
  for _ in $(seq 1 200); do
    PORT=$(sed -n 's/.*started participant p1 rpc=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/p1.log" 2>/dev/null)
    [ -n "$PORT" ] && break
    kill -0 "$PID" 2>/dev/null || fail "participant exited at start"
    sleep 0.05
  done
  [ -n "$PORT" ] || fail "participant did not log 'started'"
}
cli() { "$CLI" 127.0.0.1 "$PORT" "$@"; }
field() { sed -n "s/^$1=//p"; }
expect_dead() { # wait for the crash and check its status (137 = failpoint crash)
  for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$PID" 2>/dev/null && fail "participant did not crash at $1"
  wait "$PID"; rc=$?
  PID=""
  [ $rc -eq 137 ] || fail "participant exited $rc at $1, want 137"
}

T1=$(( (1 << 56) | 11 ))
T2=$(( (1 << 56) | 12 ))

# ---- crash after a durable prepare -----------------------------------------
start_p1 SYN_FAILPOINTS=part_after_prepare=crash
out=$(cli create 1 k:INTEGER,v:TEXT 0) || fail "create: $out"
[ "$(echo "$out" | field code)" = 0 ] || fail "create: $out"
SNAP=$(cli now | field hlc)
out=$(cli write "$T1" 1 "$SNAP" 1 1 i:1 t:hello) || fail "write: $out"
[ "$(echo "$out" | field code)" = 0 ] || fail "write: $out"
cli prepare "$T1" >"$WORK/prep.out" 2>&1 && fail "prepare answered though the daemon should crash: $(cat "$WORK/prep.out")"
expect_dead part_after_prepare

start_p1
out=$(cli state "$T1") || fail "state: $out"
[ "$(echo "$out" | field state)" = 1 ] || fail "T1 not prepared after the crash: $out"
PTS=$(echo "$out" | field ts)
[ "$PTS" -gt "$SNAP" ] || fail "prepare_ts $PTS not above the snapshot $SNAP"
# The prepared write keeps its lock and blocks a read above prepare_ts.
NOW=$(cli now | field hlc)
out=$(cli scan 1 "$NOW") || fail "scan: $out"
[ "$(echo "$out" | field code)" = -11 ] || fail "a read above prepare_ts must wait for T1: $out"
[ "$(echo "$out" | field blocker)" = "$T1" ] || fail "blocker is not T1: $out"
out=$(cli commit "$T1" $((PTS + 1))) || fail "commit: $out"
[ "$(echo "$out" | field code)" = 0 ] || fail "commit: $out"
NOW=$(cli now | field hlc)
out=$(cli scan 1 "$NOW") || fail "scan: $out"
echo "$out" | grep -qx 'row=1|hello' || fail "committed row not visible: $out"
[ "$(cli state "$T1" | field state)" = 2 ] || fail "T1 not committed"

# ---- crash before applying a commit ------------------------------------------
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ $rc -eq 0 ] || fail "SIGTERM exit $rc"
start_p1 SYN_FAILPOINTS=part_before_commit=crash
SNAP=$(cli now | field hlc)
out=$(cli write "$T2" 1 "$SNAP" 2 1 i:1 t:world) || fail "write T2: $out"
[ "$(echo "$out" | field code)" = 0 ] || fail "write T2: $out"
PTS=$(cli prepare "$T2" | field ts)
[ -n "$PTS" ] && [ "$PTS" -gt 0 ] || fail "prepare T2"
cli commit "$T2" $((PTS + 1)) >/dev/null 2>&1 && fail "commit answered though the daemon should crash"
expect_dead part_before_commit

start_p1
[ "$(cli state "$T2" | field state)" = 1 ] || fail "T2 not prepared after the crash"
# c1 is unreachable: each ask times out (2 s) and is retried; the failure
# is logged once for T2, not once per try.
n=0
for _ in $(seq 1 120); do
  n=$(grep -c "cid=$T2 in-doubt txn not resolved yet" "$WORK/p1.log")
  [ "$n" -ge 1 ] && break
  sleep 0.05
done
[ "$n" -ge 1 ] || fail "the resolver never reported the unreachable coordinator"
sleep 2.5
n=$(grep -c "cid=$T2 in-doubt txn not resolved yet" "$WORK/p1.log")
[ "$n" -eq 1 ] || fail "resolver logged $n failure lines for T2, want 1"
out=$(cli commit "$T2" $((PTS + 1))) || fail "commit T2: $out"
[ "$(echo "$out" | field code)" = 0 ] || fail "commit T2: $out"
out=$(cli commit "$T2" $((PTS + 1))) || fail "commit T2 again: $out"
[ "$(echo "$out" | field code)" = 0 ] || fail "a repeated commit must be ok: $out"
NOW=$(cli now | field hlc)
out=$(cli scan 1 "$NOW") || fail "scan: $out"
echo "$out" | grep -qx 'row=1|world' || fail "T2's update not visible: $out"
[ "$(cli state "$T2" | field state)" = 2 ] || fail "T2 not committed"

# Bad payloads do not stop it (checked in unit tests too): a write with a bad mode.
out=$(cli write "$T2" 1 "$NOW" 9 1) || fail "bad mode call: $out"
[ "$(echo "$out" | field code)" = -1 ] || fail "bad mode: $out"
kill -0 "$PID" 2>/dev/null || fail "participant died"
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ $rc -eq 0 ] || fail "SIGTERM exit $rc"
grep -q 'stopped' "$WORK/p1.log" || fail "no 'stopped' line"
echo "ok"
