#!/usr/bin/env bash
# The full test suite: formatting, clippy with warnings as errors, and every test
# (unit, property, end-to-end over loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --all-targets
