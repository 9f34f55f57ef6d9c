"""The AArch64 kernels (asm/aarch64/) against their scalar references: cross-built with Debian's
gcc-aarch64-linux-gnu and run under qemu-aarch64 on a CPU model without the dot-product
instructions (cortex-a53: dotprod kernels skipped, as lanner's dispatch would) and on one with them
(max: everything runs). The harness is C (tests/aarch64/harness.c): no Rust standard library for
aarch64 is available here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RUN_SH = Path(__file__).parent / "aarch64" / "run.sh"
TOOLS = ("aarch64-linux-gnu-gcc", "qemu-aarch64")


def test_aarch64_kernels_under_qemu():
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(
            f"AArch64 kernel check needs {' and '.join(missing)} on PATH "
            "(Debian/Ubuntu: apt-get install gcc-aarch64-linux-gnu qemu-user)"
        )
    proc = subprocess.run(["bash", str(RUN_SH)], capture_output=True, text=True, timeout=900)
    print(proc.stdout)
    print(proc.stderr, file=sys.stderr)
    assert proc.returncode == 0, f"tests/aarch64/run.sh failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    no_dotprod, with_dotprod = proc.stdout.split("== qemu-aarch64 -cpu max")
    assert "asimddp=0" in no_dotprod and "asimddp=1" in with_dotprod
    for t in ("q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q2_k", "q3_k"):
        assert f"skip dot_{t}_q8a_dotprod" in no_dotprod
        assert f"ok   dot_{t}_q8a_dotprod" in with_dotprod
    assert "ok   quantize_q8a_neon" in no_dotprod and "ok   quantize_q8a_neon" in with_dotprod
    assert "ok   gemm_packed_8x12_neon" in no_dotprod and "ok   gemm_packed_8x12_neon" in with_dotprod
    for k in ("dot_f16_f32_neon", "dot_bf16_f32_neon"):
        assert f"ok   {k}" in no_dotprod and f"ok   {k}" in with_dotprod
    assert proc.stdout.count("cases passed") == 2
