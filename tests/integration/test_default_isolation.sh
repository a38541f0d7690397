#!/usr/bin/env bash
# Cluster-wide default_transaction_isolation: `synodctl up
# --default-isolation` records it in cluster.conf and passes it to every
# coordinator (also on `start NODE`); sessions start with it, SET overrides
# it, RESET returns to it, and a plain BEGIN really runs at that level.
# Bad values and a contradicting later `up` are usage errors (exit 2).
#
# usage: test_default_isolation.sh PATH/TO/synodctl PATH/TO/synod-coordinator PATH/TO/isotest
set -euo pipefail
CTL=$(readlink -f "${1:?usage: test_default_isolation.sh SYNODCTL COORDINATOR ISOTEST}")
COORD=$(readlink -f "$2")
ISOTEST=$(readlink -f "$3")
. "$(dirname "$0")/lib.sh"

# expect_exit CODE CMD...: run CMD (output to $WORK/out), demand exit CODE.
expect_exit() {
  local want=$1 rc=0
  shift
  "$@" >"$WORK/out" 2>&1 || rc=$?
  [ "$rc" -eq "$want" ] || fail "exit $rc (want $want) from: $* -- $(cat "$WORK/out")"
}

step "bad values are usage errors"
expect_exit 2 "$COORD" --name c9 --dir "$WORK/c9" --rpc-port 0 --sql-port 1 \
  --default-isolation snapshot
grep -q -- "--default-isolation" "$WORK/out" || fail "coordinator message: $(cat "$WORK/out")"
expect_exit 2 "$COORD" --name c9 --dir "$WORK/c9" --rpc-port 0 --sql-port 1 \
  --default-isolation ''
expect_exit 2 ctl up --coordinators 1 --participants 1 --port "$BASE" --default-isolation 'read uncommitted'
grep -q "unknown isolation level" "$WORK/out" || fail "synodctl message: $(cat "$WORK/out")"
[ ! -e "$DIR/cluster.conf" ] || fail "a refused up recorded a cluster"
expect_exit 0 "$COORD" --help
grep -q -- "--default-isolation" "$WORK/out" || fail "coordinator --help lacks the option"
expect_exit 0 "$CTL" up --help
grep -q -- "--default-isolation" "$WORK/out" || fail "synodctl up --help lacks the option"

step "up 1+1 with --default-isolation 'repeatable read' on base port $BASE"
ctl up --coordinators 1 --participants 1 --port "$BASE" --default-isolation 'repeatable read' \
  >"$WORK/up.out" || fail "up: $(cat "$WORK/up.out")"
grep -qx "default-isolation repeatable-read" "$DIR/cluster.conf" ||
  fail "cluster.conf lacks the level: $(cat "$DIR/cluster.conf")"
grep -qa -- "--default-isolation" "/proc/$(cat "$DIR/c1/pid")/cmdline" ||
  fail "c1 was not given the level"

step "SHOW, SET, RESET"
got=$(sql -c "SHOW default_transaction_isolation")
[ "$got" = "repeatable read" ] || fail "SHOW default_transaction_isolation: '$got'"
got=$(sql -c "SHOW transaction_isolation")
[ "$got" = "repeatable read" ] || fail "SHOW transaction_isolation: '$got'"
# One psql session (stdin): SET overrides the cluster default, RESET and
# RESET ALL return to it rather than to READ COMMITTED.
got=$(sql <<'SQL' | tr '\n' ','
SET default_transaction_isolation = 'serializable';
SHOW default_transaction_isolation;
RESET default_transaction_isolation;
SHOW default_transaction_isolation;
SET default_transaction_isolation TO 'read committed';
SHOW default_transaction_isolation;
SET default_transaction_isolation TO DEFAULT;
SHOW default_transaction_isolation;
SET default_transaction_isolation = 'read committed';
RESET ALL;
SHOW default_transaction_isolation;
BEGIN;
SHOW transaction_isolation;
COMMIT;
SQL
)
want="serializable,repeatable read,read committed,repeatable read,repeatable read,repeatable read,"
[ "$got" = "$want" ] || fail "SET/RESET: got '$got', want '$want'"
# A per-connection option still wins over the cluster default.
got=$(PGOPTIONS="-c default_transaction_isolation=serializable" sql -c "SHOW default_transaction_isolation")
[ "$got" = "serializable" ] || fail "startup option: '$got'"

step "a plain BEGIN runs at the cluster default (snapshot, first updater wins)"
cat >"$WORK/rr.spec" <<'SPEC'
setup DROP TABLE IF EXISTS iso_def; CREATE TABLE iso_def (k integer PRIMARY KEY, v integer); INSERT INTO iso_def VALUES (1, 0)
step s1 BEGIN
step s1 SELECT v FROM iso_def WHERE k = 1 => rows 0
step s2 UPDATE iso_def SET v = 1 WHERE k = 1
step s1 SELECT v FROM iso_def WHERE k = 1 => rows 0
step s1 UPDATE iso_def SET v = v + 10 WHERE k = 1 => error 40001
step s1 ROLLBACK
step s3 SET default_transaction_isolation = 'read committed'
step s3 BEGIN
step s3 SELECT v FROM iso_def WHERE k = 1 => rows 1
step s2 UPDATE iso_def SET v = 2 WHERE k = 1
step s3 SELECT v FROM iso_def WHERE k = 1 => rows 2
step s3 COMMIT
step s3 RESET default_transaction_isolation
step s3 BEGIN
step s3 SELECT v FROM iso_def WHERE k = 1 => rows 2
step s2 UPDATE iso_def SET v = 3 WHERE k = 1
step s3 SELECT v FROM iso_def WHERE k = 1 => rows 2
step s3 COMMIT
SPEC
"$ISOTEST" "$PSQL_CONN" "$WORK/rr.spec" || fail "isolation under the cluster default"

step "a later up must agree with the recorded level"
expect_exit 2 ctl up --default-isolation serializable
grep -q "contradicts" "$WORK/out" && grep -q "repeatable read" "$WORK/out" ||
  fail "contradiction message: $(cat "$WORK/out")"
expect_exit 0 ctl up --default-isolation repeatable_read
grep -q "already running" "$WORK/out" || fail "agreeing up: $(cat "$WORK/out")"

step "start NODE passes the recorded level"
ctl stop c1 >/dev/null
ctl start c1 >/dev/null
got=$(sql -c "SHOW default_transaction_isolation")
[ "$got" = "repeatable read" ] || fail "after start c1: '$got'"

step "a cluster.conf without the line (older synodctl) means read committed"
ctl down >/dev/null
sed -i '/^default-isolation/d' "$DIR/cluster.conf"
expect_exit 2 ctl up --default-isolation serializable
ctl up >/dev/null
got=$(sql -c "SHOW default_transaction_isolation")
[ "$got" = "read committed" ] || fail "without the line: '$got'"
ctl down >/dev/null
echo "PASS"
