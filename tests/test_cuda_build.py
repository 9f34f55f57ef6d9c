"""The CUDA kernels compile (no GPU needed): every cuda/*.cu to PTX with nvcc, every kernel of
cuda/CONTRACT.md exported, and, when the wheel was built with nvcc, the PTX embedded in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lanner

ROOT = Path(__file__).resolve().parent.parent


def _nvcc() -> str | None:
    sys.path.insert(0, str(ROOT / "cuda"))
    try:
        import check_ptx  # noqa: PLC0415

        return check_ptx.find_nvcc()
    finally:
        sys.path.pop(0)


def test_every_kernel_compiles_and_is_exported():
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("no nvcc here (pip install nvidia-cuda-nvcc gives one)")
    r = subprocess.run([sys.executable, str(ROOT / "cuda" / "check_ptx.py")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "skipped" not in r.stdout


def test_wheel_embeds_ptx_when_built_with_nvcc():
    if not os.environ.get("NVCC") or not shutil.which(os.environ["NVCC"]) and not os.path.isfile(os.environ["NVCC"]):
        pytest.skip("the wheel was not built with $NVCC set (its kernels compile with NVRTC at first use)")
    assert lanner.cuda_info()["kernels"].startswith("nvcc"), lanner.cuda_info()["kernels"]
