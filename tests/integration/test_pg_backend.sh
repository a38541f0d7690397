#!/usr/bin/env bash
# PostgreSQL participants under failure (backend postgres, 1+2 cluster with
# the private server synodctl runs in DIR/pg):
#  1. the server is down when a participant starts: the participant logs a
#     clear error naming the conninfo (never its password) and retries with
#     backoff; once the server is back it starts and serves;
#  2. a prepared transaction survives a crash of the participant and of
#     the server together, an unprepared one is aborted by recovery;
#  3. the server restarts (immediate shutdown: a crash) under the bank
#     workload: participants reconnect, in-flight transactions abort or
#     complete, and the totals hold.
#
# usage: test_pg_backend.sh SYNODCTL PARTICIPANT BANK PART_CLIENT
set -euo pipefail
CTL=$(readlink -f "${1:?usage: test_pg_backend.sh SYNODCTL PARTICIPANT BANK PART_CLIENT}")
PART=$(readlink -f "$2")
BANK=$(readlink -f "$3")
CLI=$(readlink -f "$4")
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../pg/pg_server.sh"

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PG_BIN=$(pg_server_bin)
pg_port() { sed -n 's/^pg-port //p' "$DIR/cluster.conf"; }
pg_stop() { as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg/data" -m immediate -w stop >/dev/null; }
pg_start() {
  as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg/data" -w -t 60 -l "$DIR/pg/server.log" \
    -o "-p $(pg_port) -k '$DIR/pg' -c listen_addresses=''" start >/dev/null
}

step "up 1+2 on base port $BASE, backend postgres"
ctl up --coordinators 1 --participants 2 --port "$BASE" --backend postgres >/dev/null
[ -f "$DIR/pg/data/postmaster.pid" ] || fail "no private PostgreSQL server in $DIR/pg"

step "a password never reaches the log"
: >"$WORK/pw.log"
"$PART" --name px --dir "$WORK/px" --rpc-port 0 --log-file "$WORK/pw.log" --backend postgres \
  --pg-conninfo "host=$WORK/nowhere port=1 user=synod password=hunter2 dbname=synod_px" &
ppid=$!
for _ in $(seq 1 100); do grep -q "retrying" "$WORK/pw.log" && break; sleep 0.05; done
# SIGTERM ends the retries at once.
kill -TERM "$ppid" 2>/dev/null || true
wait_pid_gone "$ppid" 3 || { kill -KILL "$ppid"; fail "SIGTERM did not stop the retrying participant"; }
wait "$ppid" 2>/dev/null || true
grep -q "cannot connect to PostgreSQL (.*host='$WORK/nowhere'.*)" "$WORK/pw.log" ||
  fail "no clear connection error: $(head -3 "$WORK/pw.log")"
grep -q "hunter2" "$WORK/pw.log" && fail "the password was logged"

step "server down at participant start"
sql -c "CREATE TABLE kv(k int PRIMARY KEY, v text)"
sql -c "INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 50) g"
ctl kill p1 >/dev/null
pg_stop
: >"$DIR/p1/p1.log"
ctl start p1 >"$WORK/start.out" 2>&1 &
spid=$!
for _ in $(seq 1 100); do grep -q "retrying in" "$DIR/p1/p1.log" 2>/dev/null && break; sleep 0.05; done
grep -q "cannot connect to PostgreSQL (.*dbname='synod_p1'.*retrying in" "$DIR/p1/p1.log" ||
  fail "p1 did not log a retried connection error: $(tail -3 "$DIR/p1/p1.log")"
sleep 1
pg_start
wait "$spid" || fail "p1 did not start once the server was back: $(cat "$WORK/start.out")"
n=""
for _ in $(seq 1 100); do
  n=$(sql -c "SELECT count(*) FROM kv" 2>/dev/null) && [ "$n" = 50 ] && break
  sleep 0.1
done
[ "$n" = 50 ] || fail "after the restart kv has '$n' rows, want 50"

step "a prepared transaction survives a participant crash and a server crash"
as_pg psql -X -q -h "$DIR/pg" -p "$(pg_port)" -U postgres -d postgres -c "CREATE DATABASE synod_px"
PX_CI="host=$DIR/pg port=$(pg_port) user=postgres dbname=synod_px"
start_px() {
  : >"$WORK/px.log"
  "$PART" --name px --dir "$WORK/px2" --rpc-port 0 --log-file "$WORK/px.log" \
    --backend postgres --pg-conninfo "$PX_CI" &
  PXPID=$!
  PXPORT=""
  for _ in $(seq 1 200); do
    PXPORT=$(sed -n 's/.*started participant px rpc=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/px.log")
    [ -n "$PXPORT" ] && break
    sleep 0.05
  done
  [ -n "$PXPORT" ] || fail "px did not start: $(tail -3 "$WORK/px.log")"
}
cli() { "$CLI" 127.0.0.1 "$PXPORT" "$@"; }
field() { sed -n "s/^$1=//p"; }
T1=$(( (1 << 56) | 21 ))
T2=$(( (1 << 56) | 22 ))
start_px
out=$(cli create 1 k:INTEGER,v:TEXT 0); [ "$(echo "$out" | field code)" = 0 ] || fail "create: $out"
SNAP=$(cli now | field hlc)
out=$(cli write "$T1" 1 "$SNAP" 1 1 i:1 t:kept); [ "$(echo "$out" | field code)" = 0 ] || fail "write T1: $out"
out=$(cli write "$T2" 1 "$SNAP" 1 2 i:2 t:lost); [ "$(echo "$out" | field code)" = 0 ] || fail "write T2: $out"
PTS=$(cli prepare "$T1" | field ts)
[ -n "$PTS" ] && [ "$PTS" -gt 0 ] || fail "prepare T1"
kill -KILL "$PXPID"; wait "$PXPID" 2>/dev/null || true
pg_stop
pg_start
start_px
out=$(cli state "$T1"); [ "$(echo "$out" | field state)" = 1 ] || fail "T1 not prepared after both crashes: $out"
[ "$(echo "$out" | field ts)" = "$PTS" ] || fail "T1 prepare_ts changed: $out"
out=$(cli state "$T2"); [ "$(echo "$out" | field state)" = 3 ] || fail "unprepared T2 not aborted: $out"
out=$(cli commit "$T1" $((PTS + 1))); [ "$(echo "$out" | field code)" = 0 ] || fail "commit T1: $out"
NOW=$(cli now | field hlc)
out=$(cli scan 1 "$NOW")
echo "$out" | grep -qx 'row=1|kept' || fail "committed row of T1 not visible: $out"
echo "$out" | grep -q 'lost' && fail "aborted T2's row is visible: $out"
kill -TERM "$PXPID"; wait "$PXPID" 2>/dev/null || true

step "server crash and restart under the bank workload"
"$BANK" --conninfo "$PSQL_CONN" --init --accounts 10 --clients 6 --readers 1 --seconds 12 \
  >"$WORK/bank.out" 2>&1 &
bpid=$!
sleep 4
pg_stop
sleep 1
pg_start
wait "$bpid" || { cat "$WORK/bank.out" >&2; fail "bank workload across the server restart"; }
tail -n 1 "$WORK/bank.out"
total=""
for _ in $(seq 1 100); do
  total=$(sql -c "SELECT sum(balance) FROM accounts" 2>/dev/null) && [ "$total" = 1000 ] && break
  sleep 0.1
done
[ "$total" = 1000 ] || fail "total after the restart: '$total', want 1000"
left=$(as_pg psql -X -A -t -h "$DIR/pg" -p "$(pg_port)" -U postgres synod_p1 \
  -c "SELECT count(*) FROM _syn_txns WHERE _syn_state IN (0, 1)")
echo "   p1 transactions still active or prepared: $left"

step "down stops the server"
ctl down >/dev/null
[ -f "$DIR/pg/data/postmaster.pid" ] && fail "synodctl down left the PostgreSQL server running"
echo "ok"
