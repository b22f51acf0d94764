#!/usr/bin/env bash
# Relay CPU per delivered datagram, measured the project's way on a 2-core host: the relay
# with one shard pinned to core 0, the load generator on core 1, one run.
#
#   scripts/cpu-per-delivery.sh [LOADGEN ARGS...]      e.g. --rooms 25 --participants 8
#
# RELAY and LOADGEN name the binaries (default: this checkout's release builds), so two builds
# can be compared with the same command in the same session; RELAY_ARGS adds relay flags (e.g.
# "--config enforce.toml"). Prints one line:
#   cpu_us_per_delivered=... delivered=... ratio=... p50_ms=... p99_ms=... relay_cpu_s=... joined=J/P
# and exits with the load generator's status (non-zero when someone could not join).
set -euo pipefail
cd "$(dirname "$0")/.."
RELAY=${RELAY:-target/release/switchyard}
LOADGEN=${LOADGEN:-target/release/switchyard-loadgen}
PORT=${PORT:-4533}
state=$(mktemp -d /tmp/switchyard-cpu.XXXXXX)
taskset -c 0 "$RELAY" --listen "127.0.0.1:${PORT}" --shards 1 --pin on \
  --identity "$state/relay-identity" --log-level warn ${RELAY_ARGS:-} >"$state/relay.log" 2>&1 &
relay=$!
stop() { kill -TERM "$relay" 2>/dev/null || true; wait "$relay" 2>/dev/null || true; rm -rf "$state"; }
trap stop EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$state/relay.log" && break
  kill -0 "$relay" 2>/dev/null || { cat "$state/relay.log" >&2; exit 1; }
  sleep 0.1
done
status=0
taskset -c 1 "$LOADGEN" --relay "127.0.0.1:${PORT}" --relay-pid "$relay" \
  --json "$state/summary.json" "$@" >"$state/loadgen.out" 2>"$state/loadgen.err" || status=$?
if [ ! -s "$state/summary.json" ]; then
  cat "$state/loadgen.out" "$state/loadgen.err" >&2
  exit "${status:-1}"
fi
[ "$status" -eq 0 ] || grep -v '^\[' "$state/loadgen.err" >&2 || true
python3 - "$state/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("cpu_us_per_delivered=%.2f delivered=%d ratio=%.6f p50_ms=%.3f p99_ms=%.3f relay_cpu_s=%.2f joined=%d/%d" % (
    s["relay_cpu_us_per_delivered"] or 0, s["delivered"], s["delivery_ratio"],
    s["latency_us"]["p50"] / 1000, s["latency_us"]["p99"] / 1000, s["relay_cpu_s"] or 0,
    s["joined"], s["participants"]))
PY
exit "$status"
