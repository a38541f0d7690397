#!/usr/bin/env bash
# synodctl up --netns, partition shapes, heal, netem and down (needs root;
# skipped with exit 77 otherwise): every node in its own namespace on its
# own address, clients from the host, the routes each shape installs, a
# partition that really cuts (a coordinator cut from the others stops
# answering as leader), and nothing left behind by down.
#
# usage: test_netns.sh PATH/TO/synodctl
set -euo pipefail
CTL=$(readlink -f "${1:?usage: test_netns.sh PATH/TO/synodctl}")
if [ "$(id -u)" -ne 0 ] || ! command -v ip > /dev/null; then
  echo "SKIP: needs root and iproute2 for network namespaces"
  exit 77
fi
. "$(dirname "$0")/lib.sh"
NS_PREFIX="syn$BASE-"
net_cleanup() {
  local rc=$? n i=0
  for f in "$DIR"/*/pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && grep -qa -- "$DIR" "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  for n in c1 c2 c3 p1 p2; do
    ip link del "syn${BASE}v$i" 2>/dev/null || true
    ip netns del "$NS_PREFIX$n" 2>/dev/null || true
    i=$((i + 1))
  done
  ip link del "syn${BASE}br" 2>/dev/null || true
  (exit $rc)
  lib_cleanup
}
trap net_cleanup EXIT
A=$(( (BASE >> 8) & 255 )) B=$(( BASE & 255 ))
NET="10.$A.$B"
echo "cluster dir $DIR, base port $BASE, subnet $NET.0/24"

step "up --netns: 3 coordinators, 2 participants"
ctl up --netns --coordinators 3 --participants 2 --port "$BASE" > "$WORK/up.out"
grep -q "^network netns$" "$DIR/cluster.conf" || fail "cluster.conf does not record the network"
grep -q "psql -h $NET.2 -p $BASE " "$WORK/up.out" || { cat "$WORK/up.out"; fail "up does not print c1's address"; }
[ "$(ip netns list | grep -c "^$NS_PREFIX")" = 5 ] || fail "want 5 namespaces"
ip -n "${NS_PREFIX}p2" -4 addr show dev eth0 | grep -q "inet $NET.6/24" || fail "p2 is not on $NET.6"
ctl status | grep -q "c2 .*rpc=$NET.3:$((BASE + 101)) .*alive" || { ctl status; fail "status: c2 not alive on its address"; }

step "SQL from the host to every coordinator; DDL through c1 seen through c3"
psql -X -q "host=$NET.2 port=$BASE user=postgres" -c "CREATE TABLE t (id int PRIMARY KEY, v int)" \
  -c "INSERT INTO t VALUES (1, 10), (2, 20)"
for i in 1 2; do
  out=$(psql -X -A -t "host=$NET.$((i + 2)) port=$((BASE + i)) user=postgres" -c "SELECT sum(v) FROM t")
  [ "$out" = 30 ] || fail "c$((i + 1)) reads $out, want 30"
done
! psql -X -A -t "host=127.0.0.1 port=$BASE user=postgres connect_timeout=2" -c "SELECT 1" 2> /dev/null ||
  fail "c1 answers on loopback: it should listen on $NET.2 only"

# routes NODE: the partition routes in NODE's namespace, sorted, one line.
routes() { ip -n "$NS_PREFIX$1" route show type unreachable | awk '{print $2}' | sort | tr '\n' ' '; }

step "shapes install the documented routes"
ctl partition --isolate p1 > /dev/null
[ "$(routes p1)" = "$NET.2 $NET.3 $NET.4 $NET.6 " ] || fail "isolate p1: p1 has '$(routes p1)'"
[ "$(routes c1)" = "$NET.5 " ] || fail "isolate p1: c1 has '$(routes c1)'"
ctl partition 'c1,c2|c3' > /dev/null
[ "$(routes c3)" = "$NET.2 $NET.3 " ] && [ "$(routes c1)" = "$NET.4 " ] && [ -z "$(routes p1)" ] ||
  fail "groups: c3 '$(routes c3)' c1 '$(routes c1)' p1 '$(routes p1)'"
ctl partition --ring > /dev/null
# c1 does not hear c3, c2 not c1, c3 not c2: routes at the senders.
[ "$(routes c3)" = "$NET.2 " ] && [ "$(routes c1)" = "$NET.3 " ] && [ "$(routes c2)" = "$NET.4 " ] ||
  fail "ring: c1 '$(routes c1)' c2 '$(routes c2)' c3 '$(routes c3)'"
ctl partition --bridge > /dev/null
[ "$(routes c1)" = "$NET.4 " ] && [ "$(routes c3)" = "$NET.2 " ] && [ -z "$(routes c2)" ] ||
  fail "bridge: c1 '$(routes c1)' c2 '$(routes c2)' c3 '$(routes c3)'"
ctl partition --asymmetric c2 p2 > /dev/null
[ "$(routes c2)" = "$NET.6 " ] && [ -z "$(routes p2)" ] && [ -z "$(routes c1)" ] ||
  fail "asymmetric: c2 '$(routes c2)' p2 '$(routes p2)'"
ctl partition --majority-minority > "$WORK/mm.out"
grep -q "8 directions cut" "$WORK/mm.out" || { cat "$WORK/mm.out"; fail "majority-minority of 3+2: want 8 cut directions (leader <-> 4 others)"; }
ctl heal > /dev/null
for n in c1 c2 c3 p1 p2; do [ -z "$(routes $n)" ] || fail "heal left routes in $n"; done
ctl partition c1 > /dev/null 2>&1 && fail "a single group was accepted"
ctl partition --isolate zz > /dev/null 2>&1 && fail "an unknown node was accepted"

step "the leader alone loses the lead; the others elect one and serve"
L=""
for _ in $(seq 1 50); do
  L=$(ctl status | awk '/ running leader / {print $1}')
  [ -n "$L" ] && break
  sleep 0.1
done
[ -n "$L" ] || fail "no leader"
ctl partition --leader-alone > "$WORK/la.out"
grep -q "leader-alone $L" "$WORK/la.out" || { cat "$WORK/la.out"; fail "leader-alone did not pick $L"; }
ok=0
for _ in $(seq 1 100); do
  now=$(ctl status | awk '/ running leader / {print $1}' | tr '\n' ' ')
  # Exactly one leader, not L: the cut-off node lost its lease.
  if [ -n "$now" ] && [ "$now" != "$L " ] && [ "$(echo $now | wc -w)" = 1 ]; then ok=1; break; fi
  sleep 0.1
done
[ "$ok" = 1 ] || fail "no other leader after cutting $L off (leaders: '$now')"
echo "leader $L cut off; new leader $now"
O=c1
[ "$L" = c1 ] && O=c2
i=${O#c}
out=$(timeout 30 psql -X -A -t "host=$NET.$((i + 1)) port=$((BASE + i - 1)) user=postgres" \
  -c "UPDATE t SET v = v + 1 WHERE id = 1" -c "SELECT sum(v) FROM t" | tail -n 1)
[ "$out" = 31 ] || fail "$O on the majority side: $out, want 31"
ctl heal > /dev/null

step "netem: applied or refused clearly; --clear always works"
if ctl netem c1 --delay 5ms > "$WORK/netem.out" 2>&1; then
  ip netns exec "${NS_PREFIX}c1" tc qdisc show dev eth0 | grep -q netem || fail "no netem qdisc on c1"
else
  grep -q "sch_netem" "$WORK/netem.out" || { cat "$WORK/netem.out"; fail "netem failed without naming the cause"; }
  echo "this kernel has no netem: $(tail -n 1 "$WORK/netem.out" | cut -c1-80)..."
fi
ctl netem c1 --clear > /dev/null
grep -q " partition - shape=leader-alone $L cuts=" "$DIR/events.log" || fail "events.log lacks the partition"
grep -q " heal - partitions=removed" "$DIR/events.log" || fail "events.log lacks the heal"

step "down removes namespaces, veths and bridge"
ctl down > /dev/null
[ "$(ip netns list | grep -c "^$NS_PREFIX" || true)" = 0 ] || fail "namespaces left"
! ip link show "syn${BASE}br" > /dev/null 2>&1 || fail "bridge left"
! ip link show "syn${BASE}v0" > /dev/null 2>&1 || fail "veth left"
echo "PASS"
