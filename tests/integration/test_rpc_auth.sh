#!/usr/bin/env bash
# Node-to-node RPC authentication on a cluster started by synodctl: every
# node proves DIR/cluster.secret (HMAC challenge-response, docs/protocol.md).
# A process that knows the ports but not the secret can neither read nor
# prepare nor commit, and each attempt is logged naming the peer; with the
# secret the same calls work; a secret file readable by others stops a node
# from starting.
#
# usage: test_rpc_auth.sh synodctl part_client rpc_ping synod-participant
set -euo pipefail

CTL=$(readlink -f "${1:?usage: test_rpc_auth.sh synodctl part_client rpc_ping synod-participant}")
PC=$(readlink -f "$2")
PING=$(readlink -f "$3")
PART=$(readlink -f "$4")
. "$(dirname "$0")/lib.sh"
P1=$((BASE + 200))

step "up creates a private cluster secret and every node uses it"
ctl up --coordinators 1 --participants 2 --port "$BASE" > "$WORK/up.out"
[ -f "$DIR/cluster.secret" ] || fail "no cluster.secret"
mode=$(stat -c %a "$DIR/cluster.secret")
[ "$mode" = 600 ] || fail "cluster.secret has mode $mode, want 600"
grep -q -- "--secret-file $DIR/cluster.secret" "/proc/$(cat "$DIR/p1/pid")/cmdline" 2>/dev/null ||
  tr '\0' ' ' < "/proc/$(cat "$DIR/p1/pid")/cmdline" | grep -q -- "--secret-file $DIR/cluster.secret" ||
  fail "p1 was not started with --secret-file"
ctl status | grep -c "alive running" | grep -qx 3 || fail "status does not show 3 healthy nodes (its probes authenticate)"

step "without the secret: health, scan, prepare and commit are refused and logged"
if "$PING" 127.0.0.1 "$P1" 2000 > "$WORK/ping.out" 2>&1; then fail "health answered without the secret"; fi
grep -q "requires authentication" "$WORK/ping.out" || fail "ping error: $(cat "$WORK/ping.out")"
for cmd in "scan 1 0" "prepare 77" "commit 77 5" "state 77"; do
  # shellcheck disable=SC2086
  if "$PC" 127.0.0.1 "$P1" $cmd > "$WORK/pc.out" 2>&1; then fail "'$cmd' answered without the secret"; fi
  grep -q "call_error=" "$WORK/pc.out" || fail "'$cmd': $(cat "$WORK/pc.out")"
done
n=$(grep -c "dropping connection from 127.0.0.1:[0-9]*.*did not authenticate" "$DIR/p1/p1.log" || true)
[ "$n" -ge 5 ] || fail "p1 logged $n refused peers, want 5"

step "with a wrong secret: refused, and the log says so"
printf '%064x\n' 12345 > "$WORK/wrong.secret"
chmod 600 "$WORK/wrong.secret"
if SYNOD_SECRET_FILE=$WORK/wrong.secret "$PC" 127.0.0.1 "$P1" state 77 > "$WORK/pc.out" 2>&1; then
  fail "a wrong secret was accepted"
fi
grep -q "failed authentication: wrong cluster secret" "$DIR/p1/p1.log" || fail "no log line for the wrong secret"

step "with the secret the same calls work"
SYNOD_SECRET_FILE=$DIR/cluster.secret "$PING" 127.0.0.1 "$P1" 2000 | grep -q "node=p1" || fail "authenticated health failed"
SYNOD_SECRET_FILE=$DIR/cluster.secret "$PC" 127.0.0.1 "$P1" state 77 > "$WORK/pc.out" ||
  fail "authenticated state call failed: $(cat "$WORK/pc.out")"
grep -q "^code=" "$WORK/pc.out" || fail "state reply: $(cat "$WORK/pc.out")"

step "the cluster still commits across shards"
if command -v psql >/dev/null; then
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$BASE" -U postgres -c \
    "create table t (id int primary key, v int); insert into t select g, g from generate_series(1, 20) g;" >/dev/null
  got=$(psql -X -At -h 127.0.0.1 -p "$BASE" -U postgres -c "select sum(v) from t")
  [ "$got" = 210 ] || fail "sum is '$got', want 210"
fi

step "a secret file readable by others stops a node from starting"
cp "$DIR/cluster.secret" "$WORK/open.secret"
chmod 644 "$WORK/open.secret"
set +e
timeout 20 "$PART" --name px --dir "$WORK/px" --rpc-port 0 --secret-file "$WORK/open.secret" \
  > "$WORK/px.out" 2>&1
st=$?
set -e
[ "$st" = 1 ] || fail "participant with an open secret exited $st, want 1"
grep -q "chmod 600" "$WORK/px.out" || fail "no clear message: $(cat "$WORK/px.out")"

step "down"
ctl down > /dev/null
echo "PASS"
