#!/usr/bin/env bash
# Client authentication and TLS end to end with psql (docs/pgwire.md
# "Authentication", "TLS"): `synodctl up --tls --hba FILE` on a 1+1
# cluster whose rules are
#   hostssl all postgres 127.0.0.1/32 trust          (bootstrap user)
#   hostssl all carol    127.0.0.1/32 md5
#   hostssl all dave     127.0.0.1/32 password
#   hostssl all all      127.0.0.1/32 scram-sha-256
# so every connection must use TLS. Roles are created by the bootstrap
# user; then: verify-full with the right password works, a wrong one gets
# 28P01, plaintext is refused with 28000 "no pg_hba.conf entry", md5 and
# cleartext-over-TLS roles log in, \du lists the roles, NOLOGIN and
# dropped roles cannot log in, a non-superuser cannot create roles, and no
# password appears in the coordinator's log.
#
# usage: test_auth_tls.sh PATH/TO/synodctl
set -euo pipefail
CTL=$(readlink -f "${1:?usage: test_auth_tls.sh SYNODCTL}")
. "$(dirname "$0")/lib.sh"

cat >"$WORK/hba.conf" <<'EOF'
# TYPE   DATABASE USER     ADDRESS       METHOD
hostssl  all      postgres 127.0.0.1/32  trust
hostssl  all      carol    127.0.0.1/32  md5
hostssl  all      dave     127.0.0.1/32  password
hostssl  all      all      127.0.0.1/32  scram-sha-256
EOF

step "up 1+1 with --tls --hba on base port $BASE"
out=$(ctl up --coordinators 1 --participants 1 --port "$BASE" --tls --hba "$WORK/hba.conf")
echo "$out" | grep -q "sslmode=verify-full sslrootcert=$DIR/tls/ca.crt" ||
  fail "up did not print a verify-full psql line: $out"
[ -f "$DIR/tls/ca.crt" ] && [ -f "$DIR/tls/c1.crt" ] && [ -f "$DIR/tls/c1.key" ] ||
  fail "no certificates in $DIR/tls"
[ "$(stat -c %a "$DIR/tls/c1.key")" = 600 ] || fail "c1.key is not 0600"

TLS="host=localhost port=$BASE dbname=postgres sslmode=verify-full sslrootcert=$DIR/tls/ca.crt"
# One command; prints the value(s) or the error text (never fails the script).
try() {
  local conn=$1
  shift
  PGCONNECT_TIMEOUT=10 psql -X -q -A -t -v ON_ERROR_STOP=1 "$conn" "$@" 2>&1 || true
}
expect() { # expect WHAT GOT PATTERN
  case "$2" in
  *$3*) echo "   ok: $1" ;;
  *) fail "$1: expected '$3', got: $2" ;;
  esac
}

step "bootstrap user over verify-full (trust) creates roles"
out=$(try "$TLS user=postgres" -c "SELECT current_user, ssl FROM (SELECT 1 AS ssl) s" )
expect "bootstrap login" "$out" "postgres|1"
out=$(try "$TLS user=postgres" \
  -c "CREATE ROLE alice LOGIN PASSWORD 'S3cr3t-alice'" \
  -c "CREATE USER carol PASSWORD 'md5$(printf '%s' 'Pw-carolcarol' | md5sum | cut -c1-32)'" \
  -c "CREATE USER dave PASSWORD 'D-pw-dave'" \
  -c "CREATE ROLE nologin_erin PASSWORD 'x'" \
  -c "SELECT rolname || ':' || rolcanlogin || ':' || rolsuper FROM pg_roles WHERE rolname IN ('alice','carol','dave','nologin_erin') ORDER BY 1")
expect "roles created" "$out" "alice:1:0"
expect "CREATE USER has LOGIN" "$out" "carol:1:0"
expect "CREATE ROLE defaults to NOLOGIN" "$out" "nologin_erin:0:0"

step "errors as PostgreSQL 15"
out=$(try "$TLS user=postgres" -c '\set VERBOSITY verbose' -c "CREATE ROLE alice")
expect "duplicate role" "$out" '42710: role "alice" already exists'
out=$(try "$TLS user=postgres" -c '\set VERBOSITY verbose' -c "ALTER ROLE nobody LOGIN")
expect "unknown role" "$out" '42704: role "nobody" does not exist'
out=$(try "$TLS user=postgres" -c '\set VERBOSITY verbose' -c "CREATE ROLE x CREATEDB")
expect "unsupported option" "$out" '0A000: role option CREATEDB is not supported'
out=$(try "$TLS user=postgres" -c "DROP ROLE IF EXISTS nobody")
[ -z "$out" ] || expect "DROP ROLE IF EXISTS" "$out" "does not exist, skipping"

step "\\du lists the roles"
out=$(PGCONNECT_TIMEOUT=10 psql -X "$TLS user=postgres" -c '\du' 2>&1)
expect "\\du alice" "$out" "alice"
expect "\\du nologin" "$out" "Cannot login"
expect "\\du bootstrap superuser" "$out" "Superuser"

step "SCRAM-SHA-256 with verify-full"
out=$(try "$TLS user=alice password=S3cr3t-alice" -c "SELECT current_user")
expect "alice logs in" "$out" "alice"
# 127.0.0.1 is in the certificate's SANs too.
out=$(try "host=127.0.0.1 port=$BASE dbname=postgres sslmode=verify-full sslrootcert=$DIR/tls/ca.crt user=alice password=S3cr3t-alice" -c "SELECT 7")
expect "verify-full by IP" "$out" "7"
out=$(try "$TLS user=alice password=Wr0ng-pw" -c "SELECT 1")
expect "wrong password (28P01)" "$out" 'password authentication failed for user "alice"'
out=$(try "$TLS user=ghost password=S3cr3t-alice" -c "SELECT 1")
expect "unknown user looks the same" "$out" 'password authentication failed for user "ghost"'
out=$(try "$TLS user=alice" -w -c "SELECT 'in'" </dev/null)
expect "no password, no login" "$out" "no password supplied"

step "plaintext is refused by the rules (28000)"
out=$(try "host=127.0.0.1 port=$BASE dbname=postgres sslmode=disable user=alice password=S3cr3t-alice" -c "SELECT 1")
expect "sslmode=disable" "$out" 'no pg_hba.conf entry for host "127.0.0.1", user "alice", database "postgres", SSL off'
out=$(try "host=127.0.0.1 port=$BASE dbname=postgres sslmode=disable user=postgres" -c "SELECT 1")
expect "bootstrap plaintext" "$out" "no pg_hba.conf entry"
# A wrong CA fails on the client side.
out=$(try "$TLS user=alice password=S3cr3t-alice sslrootcert=$DIR/tls/c1.crt" -c "SELECT 1")
expect "verify-full with the wrong CA" "$out" "certificate verify failed"

step "md5 and cleartext-over-TLS roles"
out=$(try "$TLS user=carol password=Pw-carol" -c "SELECT current_user")
expect "md5 role" "$out" "carol"
out=$(try "$TLS user=carol password=N0pe-carol" -c "SELECT 1")
expect "md5 wrong password" "$out" 'password authentication failed for user "carol"'
out=$(try "$TLS user=dave password=D-pw-dave" -c "SELECT current_user")
expect "password method over TLS" "$out" "dave"

step "NOLOGIN, non-superuser, ALTER and DROP"
out=$(try "$TLS user=nologin_erin password=x" -c "SELECT 1")
expect "NOLOGIN refused" "$out" 'role "nologin_erin" is not permitted to log in'
out=$(try "$TLS user=alice password=S3cr3t-alice" -c '\set VERBOSITY verbose' -c "CREATE ROLE mallory SUPERUSER")
expect "non-superuser cannot create roles" "$out" "42501: permission denied to create role"
out=$(try "$TLS user=alice password=S3cr3t-alice" -c "ALTER ROLE alice PASSWORD 'N3w-alice'")
out=$(try "$TLS user=alice password=N3w-alice" -c "SELECT 'changed'")
expect "own password changed" "$out" "changed"
out=$(try "$TLS user=postgres" -c "DROP ROLE dave, nologin_erin")
out=$(try "$TLS user=dave password=D-pw-dave" -c "SELECT 1")
expect "dropped role cannot log in" "$out" 'password authentication failed for user "dave"'

step "restart keeps roles (catalog.db) and TLS"
ctl down >/dev/null
ctl up >/dev/null
out=$(try "$TLS user=alice password=N3w-alice" -c "SELECT 'after restart'")
expect "alice after restart" "$out" "after restart"

step "the log names failures but no password"
LOG="$DIR/c1/c1.log"
grep -q 'password authentication failed for user "alice"' "$LOG" || fail "failure not logged"
for pw in S3cr3t-alice N3w-alice Wr0ng-pw Pw-carol N0pe-carol D-pw-dave; do
  if grep -qF -- "$pw" "$LOG"; then
    grep -nF -- "$pw" "$LOG" | head -3
    fail "the log contains password '$pw'"
  fi
done
echo "   ok"

ctl down >/dev/null
echo "ok"
