#!/bin/bash
# The store unit tests (tests/unit/test_store.c) against the PostgreSQL
# backend: a private server under a temp dir, one database per test.
# usage: store_pg.sh TEST_STORE_BINARY
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pg_server.sh"
dir=$(mktemp -d /tmp/synod-pgstore-XXXXXX)
trap 'pg_server_stop "$dir"' EXIT
pg_server_start "$dir" || exit 1
SYN_STORE_BACKEND=postgres SYN_STORE_PG="$PG_CONNINFO" "$1" --jobs=2
