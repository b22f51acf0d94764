#!/usr/bin/env bash
# Installs what building Switchyard needs and is missing: cmake and clang/libclang for
# quiche's BoringSSL build (Debian packages), and a Rust toolchain check. Idempotent.
set -euo pipefail

need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v clang >/dev/null 2>&1 || need+=(clang)
[ -e /usr/lib/llvm-14/lib/libclang.so ] || ls /usr/lib/llvm-*/lib/libclang*.so >/dev/null 2>&1 || need+=(libclang-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
  else
    SUDO=
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install a Rust toolchain (rustup) first" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    command -v rustup >/dev/null 2>&1 && rustup component add "$component" >/dev/null 2>&1 || true
  fi
done

# glommio locks memory for its io_uring rings; lift a low limit where we may (root).
if [ "$(ulimit -l)" != "unlimited" ] && [ "$(ulimit -l)" -lt 65536 ]; then
  ulimit -l 65536 2>/dev/null || true
fi
echo "setup: ok ($(cargo --version))"
