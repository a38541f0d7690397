#!/usr/bin/env bash
# psql meta-commands and tab completion over synod's pg_catalog, against a
# live 1+2 cluster: every tests/psql/*.sql script, run as psql -X -a -q -f,
# must print exactly its .out file (synod's output, checked against
# PostgreSQL 15: differences are listed in docs/engine.md "System
# catalogs"); the tab-completion queries must not fail; \conninfo names
# the user and database.
#
# usage: test_psql_meta.sh PATH/TO/synodctl SRCDIR
set -euo pipefail
CTL=$(readlink -f "${1:?usage: test_psql_meta.sh SYNODCTL SRCDIR}")
SRC=$(readlink -f "${2:?usage: test_psql_meta.sh SYNODCTL SRCDIR}")
. "$(dirname "$0")/lib.sh"

step "up 1+2 on base port $BASE"
ctl up --coordinators 1 --participants 2 --port "$BASE" >/dev/null

step "meta-commands"
failed=0
for f in "$SRC"/tests/psql/*.sql; do
  name=$(basename "$f" .sql)
  (cd "$SRC/tests/psql" && psql -X -a -q "$PSQL_CONN" -f "$name.sql") >"$WORK/$name.got" 2>&1 || true
  if diff -u "${f%.sql}.out" "$WORK/$name.got" >"$WORK/$name.diff"; then
    echo "ok   $name"
  else
    echo "FAIL $name"
    head -n 80 "$WORK/$name.diff"
    failed=1
  fi
done
[ $failed -eq 0 ] || fail "psql output differs from the expected files"

step "tab completion queries do not fail"
if grep -n "ERROR" "$WORK/tab_complete.got"; then
  fail "a tab-completion query failed"
fi

step "\\conninfo"
out=$(psql -X "$PSQL_CONN" -c '\conninfo')
echo "   $out"
case "$out" in
*'database "postgres" as user "postgres"'*) ;;
*) fail "unexpected \\conninfo: $out" ;;
esac

step "a bad pattern is an error, the session serves on"
out=$(psql -X -q "$PSQL_CONN" -c '\dt (' 2>&1 || true)
case "$out" in *"invalid regular expression"*) ;; *) fail "\\dt ( said: $out" ;; esac
[ "$(sql -c "SELECT 1")" = 1 ] || fail "no answer after the regex error"

ctl down >/dev/null
echo "ok"
