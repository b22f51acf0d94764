#!/usr/bin/env bash
# Conformance acceptance run: a 2-shard relay with every tier and the scorers enforcing, and one
# load-generator run mixing 40 legitimate rooms of 4 (speech, some over a lossy path; video;
# simulcast; the real H.264 file) with 10 rooms holding one abuser each (every abusive
# profile). Prints the load generator's report (each abuser's time from its first packet to
# the relay's Hangup; any legitimate participant touched), the relay's verdict lines (when a
# sender became Suspect or Abusive), and the relay's conformance line at exit.
#
#   scripts/conformance-acceptance.sh            DURATION=75 PORT=4733 override
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-75}
PORT=${PORT:-4733}
cargo build --release --quiet -p switchyard-dataplane -p switchyard-bench
state=$(mktemp -d /tmp/switchyard-conformance.XXXXXX)
cat >"$state/relay.toml" <<'EOF'
log_level = "info"
[conformance]
bitrate = "enforce"
packet_rate = "enforce"
timestamp_drift = "enforce"
payload_size = "enforce"
rate_cap = "enforce"
scorers = "enforce"
EOF
./target/release/switchyard --listen "127.0.0.1:${PORT}" --shards 2 --config "$state/relay.toml" \
  --identity "$state/relay-identity" >"$state/relay.log" 2>&1 &
relay=$!
stop() { kill -TERM "$relay" 2>/dev/null || true; wait "$relay" 2>/dev/null || true; }
trap 'stop; rm -rf "$state"' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$state/relay.log" && break
  kill -0 "$relay" 2>/dev/null || { cat "$state/relay.log" >&2; exit 1; }
  sleep 0.1
done

# Rooms 0-39 legitimate: 0-29 speech, 30-32 video, 33-34 simulcast, 35-39 the H.264 file;
# in rooms 0-4, 30 and 33 one participant has a 5 % lossy, jittery path, so the relay's
# judge lowers the room's tier and its senders follow. Rooms 40-49: one abuser each (room
# 49's bwe-ignoring video shares its room with a lossy participant and ignores the order).
status=0
./target/release/switchyard-loadgen --relay "127.0.0.1:${PORT}" --rooms 50 --participants 4 \
  --duration "$DURATION" --seed 9 --json "$state/summary.json" \
  --room-profile 30..33=video --room-profile 33..35=simulcast --room-profile 35..40=h264 \
  --h264 bench/fixtures/testsrc-640x360-30fps-gop60.h264 \
  --abuser 40..42=tunnel --abuser 42..44=stuffed --abuser 44..46=covert \
  --abuser 46=junk-mini --abuser 47=all-keyframe --abuser 48=no-keyframe \
  --abuser 49=bwe-ignoring \
  --loss 5% --jitter 10ms --impair-rooms 0,1,2,3,4,30,33,49 --impair-slot 0 \
  2> >(grep -v '^\[' >&2) || status=$?
stop
echo
echo "relay: verdicts and hang-ups (time after the sender's first packet)"
grep -a -E "conformance: participant .* (is (Suspect|Abusive)|hung up)" "$state/relay.log" \
  | sed -E 's/^\[[^]]*\] //' || true
grep -a "^conformance:" "$state/relay.log" || true
if [ -n "${KEEP:-}" ]; then
  cp "$state/summary.json" "$state/relay.log" "$KEEP"/
fi
exit "$status"
