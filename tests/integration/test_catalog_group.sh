#!/usr/bin/env bash
# The replicated catalog (coord_rcat.c, coord_catrep.c): DDL through one
# coordinator is visible through every other as soon as it returns; serial
# values are unique across coordinators; concurrent DDL of one table through
# three coordinators behaves as PostgreSQL's (one wins, the others see it);
# a DDL left half done by a coordinator that died is finished by another;
# DDL goes on through a follower while the leader is dead; and restarting
# every coordinator at once keeps the catalog.
#
# usage: test_catalog_group.sh PATH/TO/synodctl
set -euo pipefail

CTL=$(readlink -f "${1:?usage: test_catalog_group.sh PATH/TO/synodctl}")
. "$(dirname "$0")/lib.sh"
echo "cluster dir $DIR, base port $BASE"

# q N SQL: run SQL through coordinator N (1-based), unaligned, no headers.
q() {
  local port=$((BASE + $1 - 1))
  shift
  psql -X -q -A -t -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$port user=postgres dbname=postgres" \
    -c "$@"
}

leader() {
  ctl status --json | python3 -c '
import json, sys
print(" ".join(n["name"] for n in json.load(sys.stdin)
               if n["role"] == "coordinator" and n["alive"] and n["leader"]))'
}

wait_leader() {
  local i l
  for i in $(seq 1 100); do
    l=$(leader)
    if [ -n "$l" ] && [ "$l" != "${1:-}" ]; then echo "$l"; return 0; fi
    sleep 0.1
  done
  fail "no leader within 10 s"
}

step "up: 3 coordinators, 3 participants"
ctl up --coordinators 3 --participants 3 --port "$BASE" >/dev/null
wait_leader >/dev/null

step "DDL through one coordinator is visible through the next at once"
for i in $(seq 1 12); do
  a=$(( (i % 3) + 1 )) b=$(( ((i + 1) % 3) + 1 ))
  q $a "CREATE TABLE t$i (id int PRIMARY KEY, v text)" >/dev/null
  q $b "INSERT INTO t$i VALUES ($i, 'x')" >/dev/null || fail "t$i created through c$a not usable through c$b"
  q $a "ALTER TABLE t$i ADD COLUMN w int DEFAULT 7" >/dev/null
  got=$(q $b "SELECT id, v, w FROM t$i")
  [ "$got" = "$i|x|7" ] || fail "after ALTER through c$a, c$b reads '$got'"
done

step "serial values are unique across coordinators"
q 1 "CREATE TABLE s (id serial PRIMARY KEY, who int)" >/dev/null
for n in 1 2 3; do
  for k in $(seq 1 15); do q $n "INSERT INTO s(who) VALUES ($n)" >/dev/null; done
done
total=$(q 2 "SELECT count(*), count(DISTINCT id) FROM s")
[ "$total" = "45|45" ] || fail "serial ids not unique: $total"

step "the same CREATE TABLE through three coordinators at once: one wins"
for r in 1 2 3; do
  out=$WORK/race$r
  for n in 1 2 3; do
    ( q $n "CREATE TABLE race$r (a int)" >"$out.$n" 2>&1 || true ) &
  done
  wait
  ok=$(grep -l "already exists" "$out".* | wc -l)
  created=$(q 1 "SELECT count(*) FROM information_schema.tables WHERE table_name = 'race$r'")
  [ "$created" = 1 ] || fail "race$r: $created tables"
  [ "$ok" = 2 ] || fail "race$r: expected two 'already exists' errors: $(cat "$out".*)"
done

step "a DDL left half done by a dead coordinator is finished by another"
# c2 records the intent of CREATE TABLE orphan and crashes before any
# participant has it; c1 finishes it (takeover after SYNOD_DDL_TAKEOVER_MS).
ctl stop c2 >/dev/null
SYN_FAILPOINTS="coord_ddl_after_intent=crash" ctl start c2 >/dev/null
q 2 "CREATE TABLE orphan (a int PRIMARY KEY)" >/dev/null 2>&1 && fail "c2 did not crash at the failpoint"
wait_pid_gone "$(cat "$DIR/c2/pid")" 10 || fail "c2 still running after its failpoint"
ctl stop c1 >/dev/null
SYNOD_DDL_TAKEOVER_MS=1500 ctl start c1 >/dev/null
t0=$(date +%s%N)
q 1 "CREATE TABLE after_orphan (a int)" >/dev/null
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "   DDL through c1 waited $ms ms for c2's intent"
grep -q "finishing DDL .* on orphan for coordinator c2" "$DIR/c1/c1.log" \
  || fail "c1 did not take over c2's intent"
q 1 "INSERT INTO orphan VALUES (1)" >/dev/null || fail "the rolled-forward table is not usable"
ctl start c2 >/dev/null
[ "$(q 2 "SELECT a FROM orphan")" = 1 ] || fail "c2 after restart does not see orphan's row"

step "DDL through a follower while the leader is dead"
L=$(wait_leader)
ctl kill "$L" >/dev/null
n=${L#c}
f=$(( (n % 3) + 1 ))
q $f "CREATE TABLE during_failover (a int)" >/dev/null || fail "DDL through c$f failed without leader $L"
q $f "INSERT INTO during_failover VALUES (42)" >/dev/null
ctl start "$L" >/dev/null
[ "$(q "$n" "SELECT a FROM during_failover")" = 42 ] || fail "restarted $L does not see the table"

step "restart every coordinator at once"
tables_of() {
  q "$1" "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1" |
    tr '\n' ','
}
before=$(tables_of 1)
for c in c1 c2 c3; do ctl kill $c >/dev/null; done
for c in c1 c2 c3; do ctl start $c >/dev/null; done
wait_leader >/dev/null
for n in 1 2 3; do
  after=$(tables_of $n)
  [ "$after" = "$before" ] || fail "c$n after restart lists '$after', before '$before'"
done
[ "$(q 3 "SELECT count(*) FROM s")" = 45 ] || fail "rows of s lost"
# Serial values continue above every range handed out before the restart.
q 3 "INSERT INTO s(who) VALUES (9)" >/dev/null
[ "$(q 1 "SELECT count(DISTINCT id) FROM s")" = 46 ] || fail "a serial value was handed out twice"

step "a coordinator with other participants than the shard map refuses to serve"
mapfile -d '' ARGS < "/proc/$(cat "$DIR/c3/pid")/cmdline"
ctl stop c3 >/dev/null
for i in "${!ARGS[@]}"; do
  [ "${ARGS[$i]}" = "--participants" ] && ARGS[$((i + 1))]="${ARGS[$((i + 1))]},p9=127.0.0.1:1"
done
"${ARGS[@]}" >/dev/null 2>&1 &
X=$!
out=""
for _ in $(seq 1 100); do
  out=$(q 3 "SELECT 1" 2>&1 || true)
  case "$out" in *"differ from the cluster's shard map"*) break ;; esac
  sleep 0.1
done
kill "$X"
wait "$X" || true
case "$out" in *"differ from the cluster's shard map"*) ;; *) fail "c3 with p9 answered: $out" ;; esac
ctl start c3 >/dev/null
[ "$(q 3 "SELECT count(*) FROM s")" = 46 ] || fail "c3 with its own list does not serve again"

ctl down >/dev/null
echo "PASS"
