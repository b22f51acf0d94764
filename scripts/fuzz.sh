#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 30): every proto decoder, and the
# relay endpoint's datagram input (endpoint_datagram, before and after a join).
# Needs cargo-fuzz (installed here when missing). The unit tests run the same entry points
# over random and truncated inputs on every test run; this goes deeper, coverage-guided.
set -euo pipefail
cd "$(dirname "$0")/../proto"
SECONDS_EACH=${1:-30}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
for target in media_packet compact_frame inbound_datagram trunk_frame signal_frame endpoint_datagram; do
  echo "== $target (${SECONDS_EACH}s)"
  # RUSTC_BOOTSTRAP lets cargo-fuzz pass its -Z flags on a stable toolchain.
  RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" -- -max_total_time="$SECONDS_EACH" -max_len=4096
done
