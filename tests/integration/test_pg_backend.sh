#!/usr/bin/env bash
# PostgreSQL participants under failure (backend postgres, 1+2 cluster with
# the private server synodctl runs in DIR/pg):
#  1. the server is down when a participant starts: the participant logs a
#     clear error naming the conninfo (never its password) and retries with
#     backoff; once the server is back it starts and serves;
#  2. the server restarts (immediate shutdown: a crash) under the bank
#     workload: participants reconnect, in-flight transactions abort or
#     complete, prepared ones survive, and the totals hold.
#
# usage: test_pg_backend.sh PATH/TO/synodctl PATH/TO/synod-participant PATH/TO/bank
set -euo pipefail
CTL=$(readlink -f "${1:?usage: test_pg_backend.sh SYNODCTL PARTICIPANT BANK}")
PART=$(readlink -f "$2")
BANK=$(readlink -f "$3")
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
kill -KILL "$ppid" 2>/dev/null || true
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
