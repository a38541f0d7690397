#!/usr/bin/env bash
# Commit decisions through the coordinators' Multi-Paxos log under the bank
# workload: commits/s, 2PC decisions/s, Paxos slots/s (so how many decisions
# share a slot) and the proposal-to-decision latency (p50/p99 over each
# coordinator's last 4096 decisions), for each coordinator-group size.
#
# usage: tests/bench/decisions.sh [--clients N] [--seconds S] [--sizes "1 3"]
#                                 [--build DIR]
# Starts its own clusters (3 SQLite participants) under a temporary dir on a
# free port range and stops them; prints one line per size and a JSON line
# (prefix "json:") that docs/performance.md quotes.
set -euo pipefail

CLIENTS=16 SECONDS_RUN=20 SIZES="1 3"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) CLIENTS=$2; shift 2 ;;
    --seconds) SECONDS_RUN=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --build) BUILD=$(readlink -f "$2"); shift 2 ;;
    *) echo "usage: $0 [--clients N] [--seconds S] [--sizes \"1 3\"] [--build DIR]" >&2; exit 2 ;;
  esac
done
CTL=$BUILD/coordinator/ctl/synodctl
BANK=$BUILD/tests/bank
[ -x "$CTL" ] && [ -x "$BANK" ] || { echo "build first: $CTL, $BANK" >&2; exit 2; }
. "$ROOT/tests/integration/lib.sh"

# sums N: "chosen_max decided_sum p50_max p99_max" over the coordinators
sums() {
  ctl status --json | python3 -c '
import json, sys
cs = [n for n in json.load(sys.stdin) if n["role"] == "coordinator" and n.get("chosen") is not None]
print(max(c["chosen"] for c in cs), sum(c["decided"] for c in cs),
      max(c["decide_p50_us"] for c in cs), max(c["decide_p99_us"] for c in cs))'
}

for n in $SIZES; do
  ctl up --coordinators "$n" --participants 3 --port "$BASE" >/dev/null
  "$CTL" leader --dir "$DIR" --wait 10 >/dev/null
  args=()
  for i in $(seq 0 $((n - 1))); do
    args+=(--conninfo "host=127.0.0.1 port=$((BASE + i)) user=postgres dbname=postgres")
  done
  "$BANK" "${args[0]}" "${args[1]}" --init --accounts 1000 --clients 1 --readers 0 \
    --seconds 1 >/dev/null
  read -r c0 d0 _ _ < <(sums)
  out=$("$BANK" "${args[@]}" --accounts 1000 --clients "$CLIENTS" --readers 0 \
    --seconds "$SECONDS_RUN")
  read -r c1 d1 p50 p99 < <(sums)
  ok=$(sed -n 's/.*transfers ok=\([0-9]*\).*/\1/p' <<<"$out")
  secs=$(sed -n 's/^bank: \([0-9.]*\)s.*/\1/p' <<<"$out")
  python3 - "$n" "$CLIENTS" "$ok" "$secs" "$((c1 - c0))" "$((d1 - d0))" "$p50" "$p99" <<'PY'
import json, sys
n, clients, ok, secs, slots, dec, p50, p99 = sys.argv[1:]
secs = float(secs)
r = {"coordinators": int(n), "clients": int(clients), "commits_per_s": round(int(ok) / secs, 1),
     "decisions_per_s": round(int(dec) / secs, 1), "slots_per_s": round(int(slots) / secs, 1),
     "decisions_per_slot": round(int(dec) / max(1, int(slots)), 2),
     "decide_p50_ms": round(int(p50) / 1000, 2), "decide_p99_ms": round(int(p99) / 1000, 2)}
print("coordinators=%(coordinators)d clients=%(clients)d commits/s=%(commits_per_s)s "
      "decisions/s=%(decisions_per_s)s slots/s=%(slots_per_s)s decisions/slot=%(decisions_per_slot)s "
      "decide p50=%(decide_p50_ms)sms p99=%(decide_p99_ms)sms" % r)
print("json: " + json.dumps(r))
PY
  ctl down >/dev/null
  rm -rf "$DIR"
done
