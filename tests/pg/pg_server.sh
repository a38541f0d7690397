# Sourced by tests: a private PostgreSQL server for one test run.
#   pg_server_start DIR   initdb + start under DIR (DIR/data, socket in DIR),
#                         port from a free range; sets PG_CONNINFO (no dbname)
#   pg_server_stop DIR    stop it (immediate) and remove DIR
# Binaries: $PG_BIN, else the newest /usr/lib/postgresql/*/bin. Missing
# binaries are a test failure with a clear message, never a skip: ./synod
# installs the server packages. Run as root, the server runs as user
# postgres (initdb refuses root).

pg_server_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  echo "${d:-/usr/lib/postgresql/15/bin}"
}

pg_server_as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_server_start() {
  local dir=$1 bin port
  bin=$(pg_server_bin)
  if [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
    echo "FAIL: PostgreSQL server binaries not found in $bin (install the" \
         "postgresql package; ./synod does that)" >&2
    return 1
  fi
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  pg_server_as "$bin/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2; echo "FAIL: initdb" >&2; return 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  pg_server_as "$bin/pg_ctl" -D "$dir/data" -w -t 60 -l "$dir/server.log" \
    -o "-p $port -k $dir -c listen_addresses='' -c max_connections=50" start >/dev/null || {
    cat "$dir/server.log" >&2; echo "FAIL: pg_ctl start" >&2; return 1; }
  PG_CONNINFO="host=$dir port=$port user=postgres"
  export PG_CONNINFO
}

pg_server_stop() {
  local dir=$1 bin
  bin=$(pg_server_bin)
  [ -f "$dir/data/postmaster.pid" ] &&
    pg_server_as "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$dir"
}
