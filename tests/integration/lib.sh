# Shared helpers for integration scripts that run a whole cluster.
# Source it after setting CTL (path to synodctl). It sets WORK (a temp dir),
# DIR (the cluster dir), BASE (a free base port) and installs a trap that
# kills, by pid, every node of the cluster still running, prints the nodes'
# log tails on failure, and removes WORK.

WORK=$(mktemp -d)
DIR=$WORK/data
# A PostgreSQL-backed cluster runs its server as user postgres (when we are
# root), which must be able to traverse WORK to reach DIR/pg.
chmod o+x "$WORK"

lib_cleanup() {
  local rc=$?
  local f pid
  for f in "$DIR"/*/pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && grep -qa -- "$DIR" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -CONT "$pid" 2>/dev/null || true
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  # The cluster's private PostgreSQL server (backend postgres/mixed):
  # immediate shutdown (SIGQUIT) of the postmaster whose pid it recorded.
  if [ -f "$DIR/pg/data/postmaster.pid" ]; then
    pid=$(head -n 1 "$DIR/pg/data/postmaster.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && grep -qa -- "$DIR/pg" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -QUIT "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
  fi
  if [ $rc -ne 0 ]; then
    [ -f "$DIR/pg/server.log" ] && { echo "---- $DIR/pg/server.log (last 30 lines)" >&2; tail -n 30 "$DIR/pg/server.log" >&2; }
    for f in "$DIR"/*/; do
      f="$f$(basename "$f").log"
      [ -f "$f" ] || continue
      echo "---- $f (last 30 lines)" >&2
      tail -n 30 "$f" >&2
    done
  fi
  rm -rf "$WORK"
  exit $rc
}
trap lib_cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "== $*"; }

. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
BASE=$(lib_free_base)

ctl() { "$CTL" "$@" --dir "$DIR"; }

# psql against coordinator 1, quiet, no psqlrc; extra args follow.
PSQL_CONN="host=127.0.0.1 port=$BASE user=postgres dbname=postgres"
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$PSQL_CONN" "$@"; }

# wait_pid_gone PID SECONDS: 0 once the process is gone (or a zombie).
wait_pid_gone() {
  local pid=$1 i
  for i in $(seq 1 $(($2 * 20))); do
    if ! kill -0 "$pid" 2>/dev/null; then return 0; fi
    if grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}
