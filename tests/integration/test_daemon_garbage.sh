#!/usr/bin/env bash
# A participant keeps serving after garbage, an oversized length header and a
# truncated frame, logs a WARN naming each bad peer, and stops cleanly on
# SIGTERM. Also: --help exits 0 and --bogus exits 2 for both daemons, and a
# second daemon on a taken port refuses to start (exit 1).
#
# usage: test_daemon_garbage.sh PARTICIPANT COORDINATOR RPC_PING
set -u
PART=$1 COORD=$2 PING=$3
WORK=$(mktemp -d)
PIDS=()
fail() {
  echo "FAIL: $*" >&2
  [ -f "$WORK/p1.log" ] && sed 's/^/  p1.log: /' "$WORK/p1.log" >&2
  exit 1
}
cleanup() {
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- command line --------------------------------------------------------
for bin in "$PART" "$COORD"; do
  "$bin" --help >"$WORK/help.out" 2>&1 || fail "$bin --help exited $?"
  grep -q -- '--rpc-port' "$WORK/help.out" || fail "$bin --help shows no options"
  "$bin" --bogus >/dev/null 2>"$WORK/bogus.err"; rc=$?
  [ $rc -eq 2 ] || fail "$bin --bogus exited $rc, want 2"
  grep -q "usage:" "$WORK/bogus.err" || fail "$bin --bogus printed no usage line"
done
"$PART" --name p1 --dir "$WORK/x" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "missing --rpc-port exited $rc, want 2"
"$COORD" --name c1 --dir "$WORK/x" --rpc-port 0 --sql-port 1 --participants 'p1=nohostport' \
  >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "bad --participants entry exited $rc, want 2"

# ---- start a participant on a kernel-chosen port ---------------------------
"$PART" --name p1 --dir "$WORK/p1" --rpc-port 0 --log-file "$WORK/p1.log" &
PPID1=$!
PIDS+=("$PPID1")
PORT=""
for _ in $(seq 1 100); do
  PORT=$(sed -n 's/.*started participant p1 rpc=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/p1.log" 2>/dev/null)
  [ -n "$PORT" ] && break
  sleep 0.05
done
[ -n "$PORT" ] || fail "participant did not log 'started'"

"$PING" 127.0.0.1 "$PORT" >"$WORK/h1" || fail "health before garbage"
grep -qx "node=p1" "$WORK/h1" && grep -qx "role=participant" "$WORK/h1" \
  && grep -qx "pid=$PPID1" "$WORK/h1" || fail "bad health answer: $(cat "$WORK/h1")"

# ---- port already taken ---------------------------------------------------
"$PART" --name p2 --dir "$WORK/p2" --rpc-port "$PORT" 2>"$WORK/taken.err"; rc=$?
[ $rc -eq 1 ] || fail "second daemon on a taken port exited $rc, want 1"
grep -q "in use" "$WORK/taken.err" || fail "no clear message for a taken port: $(cat "$WORK/taken.err")"
"$PART" --name p1b --dir "$WORK/p1" --rpc-port 0 2>"$WORK/lock.err"; rc=$?
[ $rc -eq 1 ] || fail "second daemon on the same data dir exited $rc, want 1"

# ---- hostile peers ----------------------------------------------------------
# Send bytes; with "wait", check (bounded) that the daemon hangs up on us,
# else close at once so the daemon sees EOF after a partial frame.
send_bad() {
  exec 3<>"/dev/tcp/127.0.0.1/$PORT" || fail "connect for $1"
  # The daemon may hang up mid-write: that must not kill this script.
  ( trap '' PIPE; printf "$2" >&3 ) 2>/dev/null
  if [ "${3:-}" = wait ]; then
    timeout 5 cat <&3 >/dev/null 2>&1; rc=$?
    [ $rc -eq 124 ] && fail "daemon did not hang up on the $1 peer"
  fi
  exec 3<&- 3>&-
}
warns_before=$(grep -c ' WARN ' "$WORK/p1.log")
send_bad garbage 'GET / HTTP/1.1\r\nHost: synod\r\n\r\n' wait
send_bad oversized '\x7f\xff\xff\xff' wait
# A header announcing 100 bytes, then only 3 of them, then EOF.
send_bad truncated '\x00\x00\x00\x64abc'
send_bad undecodable '\x00\x00\x00\x04\xff\xff\xff\xff' wait
for _ in $(seq 1 50); do
  n=$(grep -c ' WARN .*dropping connection from 127\.0\.0\.1:[0-9]' "$WORK/p1.log")
  [ "$n" -ge $((warns_before + 4)) ] && break
  sleep 0.05
done
grep -q 'WARN .*dropping connection from 127\.0\.0\.1:[0-9]*: frame length .* exceeds' "$WORK/p1.log" \
  || fail "no WARN naming the peer for the oversized frame"
grep -q 'WARN .*dropping connection from 127\.0\.0\.1:[0-9]*: truncated frame' "$WORK/p1.log" \
  || fail "no WARN for the truncated frame"
grep -q 'WARN .*dropping connection from 127\.0\.0\.1:[0-9]*: .*does not decode' "$WORK/p1.log" \
  || fail "no WARN for the undecodable frame"

"$PING" 127.0.0.1 "$PORT" >"$WORK/h2" || fail "health after garbage"
grep -qx "node=p1" "$WORK/h2" || fail "bad health answer after garbage"
kill -0 "$PPID1" 2>/dev/null || fail "participant died"

# ---- coordinator health ---------------------------------------------------
# The SQL port only appears in health here; random so that a coordinator
# that binds it later does not collide with a parallel run.
SQLPORT=$((20000 + RANDOM % 20000))
"$COORD" --name c1 --dir "$WORK/c1" --rpc-port 0 --sql-port "$SQLPORT" \
  --participants "p1=127.0.0.1:$PORT" --log-file "$WORK/c1.log" &
CPID=$!
PIDS+=("$CPID")
CPORT=""
for _ in $(seq 1 100); do
  CPORT=$(sed -n 's/.*started coordinator c1 rpc=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/c1.log" 2>/dev/null)
  [ -n "$CPORT" ] && break
  sleep 0.05
done
[ -n "$CPORT" ] || fail "coordinator did not log 'started'"
"$PING" 127.0.0.1 "$CPORT" >"$WORK/hc" || fail "coordinator health"
grep -qx "role=coordinator" "$WORK/hc" && grep -qx "sql_addr=127.0.0.1:$SQLPORT" "$WORK/hc" \
  || fail "bad coordinator health: $(cat "$WORK/hc")"

# ---- clean stop ------------------------------------------------------------
for pid in "$PPID1" "$CPID"; do
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && fail "pid $pid ignored SIGTERM"
  wait "$pid"; rc=$?
  [ $rc -eq 0 ] || fail "pid $pid exited $rc after SIGTERM, want 0"
done
PIDS=()
grep -q 'INFO .*stopping (SIGTERM)' "$WORK/p1.log" || fail "no 'stopping' line"
grep -q 'INFO .*stopped' "$WORK/p1.log" || fail "no 'stopped' line"
grep -q 'stopping (SIGTERM)' "$WORK/c1.log" || fail "coordinator logged no 'stopping' line"
echo "ok"
