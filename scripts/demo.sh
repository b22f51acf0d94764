#!/usr/bin/env bash
# The README demo: build, start the relay on loopback, run the load generator
# (20 rooms x 4 audio participants for 10 s by default) and print its latency table.
# Environment: ROOMS, PARTICIPANTS, DURATION, PROFILE, PORT, SHARDS override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

ROOMS=${ROOMS:-20}
PARTICIPANTS=${PARTICIPANTS:-4}
DURATION=${DURATION:-10}
PROFILE=${PROFILE:-audio}
PORT=${PORT:-4433}
SHARDS=${SHARDS:-0}

cargo build --release --quiet -p switchyard-dataplane -p switchyard-bench
state=$(mktemp -d /tmp/switchyard-demo.XXXXXX)
./target/release/switchyard --listen "127.0.0.1:${PORT}" --shards "$SHARDS" \
  --identity "$state/relay-identity" --log-level warn >"$state/relay.log" 2>&1 &
relay=$!
stop() { kill -TERM "$relay" 2>/dev/null || true; wait "$relay" 2>/dev/null || true; }
trap stop EXIT

for _ in $(seq 1 100); do
  grep -q "listening on" "$state/relay.log" && break
  kill -0 "$relay" 2>/dev/null || { cat "$state/relay.log"; exit 1; }
  sleep 0.1
done
cat "$state/relay.log"

./target/release/switchyard-loadgen --relay "127.0.0.1:${PORT}" --rooms "$ROOMS" \
  --participants "$PARTICIPANTS" --profile "$PROFILE" --duration "$DURATION" \
  --relay-pid "$relay" --json "$state/summary.json" --hgrm "$state/latency.hgrm"
echo "JSON summary: $state/summary.json   latency distribution: $state/latency.hgrm"
