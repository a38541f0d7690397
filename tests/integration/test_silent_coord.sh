#!/usr/bin/env bash
# A coordinator that goes silent (SIGSTOP here; a crash or a partition looks
# the same to a participant) while one of its transactions holds a row lock
# must not block the others for long: after 10 s without its GC reports the
# participants abort its ACTIVE transactions (participant/service_gc.c, "A
# silent coordinator"), a writer through another coordinator gets the row,
# and the resumed coordinator's COMMIT of the aborted transaction does not
# claim to commit (40001 or 40003, or ROLLBACK as for a failed block).
#
# usage: test_silent_coord.sh PATH/TO/synodctl
set -euo pipefail

CTL=$(readlink -f "${1:?usage: test_silent_coord.sh PATH/TO/synodctl}")
. "$(dirname "$0")/lib.sh"
echo "cluster dir $DIR, base port $BASE"

q() {
  local port=$((BASE + $1 - 1))
  shift
  psql -X -q -A -t -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$port user=postgres dbname=postgres" \
    -c "$@"
}

step "up: 3 coordinators, 2 participants"
ctl up --coordinators 3 --participants 2 --port "$BASE" >/dev/null
q 1 "CREATE TABLE t (id int PRIMARY KEY, v int)" >/dev/null
q 1 "INSERT INTO t VALUES (1, 0), (2, 0)" >/dev/null

step "a transaction through c2 locks row 1, then c2 is paused"
FIFO=$WORK/c2.in
mkfifo "$FIFO"
psql -X -A -t "host=127.0.0.1 port=$((BASE + 1)) user=postgres dbname=postgres" \
  <"$FIFO" >"$WORK/c2.out" 2>&1 &
PSQL=$!
exec 7>"$FIFO"
echo '\set VERBOSITY verbose' >&7
echo "BEGIN; UPDATE t SET v = 2 WHERE id = 1; SELECT 'locked';" >&7
for _ in $(seq 1 100); do grep -q locked "$WORK/c2.out" && break; sleep 0.1; done
grep -q locked "$WORK/c2.out" || fail "c2's transaction did not take the lock: $(cat "$WORK/c2.out")"
ctl pause c2 >/dev/null

step "a writer through c1 gets the row once c2 has been silent for 10 s"
t0=$(date +%s%N)
q 1 "UPDATE t SET v = 1 WHERE id = 1" >/dev/null || fail "the writer through c1 failed"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "   waited $ms ms for c2's lock"
[ "$ms" -lt 19000 ] || fail "waited $ms ms: the lock outlived the silence bound"
grep -q "coordinator c2 silent for" "$DIR/p1/p1.log" "$DIR/p2/p2.log" ||
  fail "no participant logged aborting c2's transaction"

step "c2 resumes: its COMMIT of the aborted transaction fails"
ctl resume c2 >/dev/null
echo "COMMIT;" >&7
exec 7>&-
wait "$PSQL" || true
# Its answer is an error (40001 while the participant still holds the
# aborted record, 40003 once it has collected it: then nobody can tell) or,
# when c2 learnt of the abort first, ROLLBACK, as PostgreSQL answers a
# COMMIT of a failed transaction block; never COMMIT.
last=$(grep -E "^(COMMIT|ROLLBACK)$|ERROR" "$WORK/c2.out" | tail -n 1)
case "$last" in
  ROLLBACK | *ERROR*) echo "   c2's COMMIT: $last" ;;
  *) fail "c2's COMMIT did not fail: $(cat "$WORK/c2.out")" ;;
esac
[ "$(q 3 "SELECT v FROM t WHERE id = 1")" = 1 ] || fail "row 1 is not the c1 writer's"
q 2 "UPDATE t SET v = 5 WHERE id = 2" >/dev/null || fail "c2 serves new transactions"

ctl down >/dev/null
echo "PASS"
