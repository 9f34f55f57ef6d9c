#!/usr/bin/env bash
# Cross-build the AArch64 kernels (asm/aarch64/*.S) with their checkasm-style C harness and run it
# under qemu-aarch64 on two CPU models, as lanner's run-time dispatch would see them:
#   -cpu cortex-a53   NEON without the dot-product instructions: dotprod kernels must be skipped
#   -cpu max          NEON + dotprod (and everything newer): every kernel runs
# Needs Debian's gcc-aarch64-linux-gnu and qemu-user. Extra arguments go to the harness
# (--seed N); CHECKASM_SEED=N replays a failing seed too.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cc="${AARCH64_CC:-aarch64-linux-gnu-gcc}"
qemu="${QEMU_AARCH64:-qemu-aarch64}"

build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT

# -ffp-contract=off: the C references must round like the Rust ones (no fused multiply-add).
"$cc" -O2 -static -std=gnu11 -Wall -Wextra -Werror -ffp-contract=off \
    -o "$build/harness" "$here/harness.c" "$here/checked_call.S" "$root"/asm/aarch64/*.S -lm

status=0
for model in cortex-a53 max; do
    case "$model" in
        cortex-a53) expect=no ;;
        *) expect=yes ;;
    esac
    echo "== qemu-aarch64 -cpu $model"
    "$qemu" -cpu "$model" "$build/harness" --expect-dotprod "$expect" "$@" || status=1
done
exit "$status"
