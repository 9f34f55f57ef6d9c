"""Where the time of a CUDA decode step and of a prefill goes, per kernel.

    LANNER_CUDA_PROFILE=1 python bench/cuda_profile.py [--shapes llama8b qwen05b] [--tokens 16]

With LANNER_CUDA_PROFILE=1 every kernel launch (and cuBLAS GEMM) is timed with CUDA events and
waited for, and decode steps run kernel by kernel instead of as CUDA graphs, so the totals are GPU
busy time without launch overlap. Prints, per shape: microseconds per decoded token by kernel,
their sum against the wall time per token, the bytes-per-token roofline, and the same for one
2048-token prefill. Random weights at the real shapes (as bench/cuda_bench.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cuda_bench  # noqa: E402  (its shapes and tokenizer)


def profile_of(eng) -> dict[str, tuple[int, float]]:
    c = dict(eng.info["device_counters"])
    return {k[3:]: (c.get("calls:" + k[3:], 0), v) for k, v in c.items() if k.startswith("us:")}


def diff(a: dict, b: dict) -> dict[str, tuple[int, float]]:
    return {k: (n - a.get(k, (0, 0.0))[0], us - a.get(k, (0, 0.0))[1]) for k, (n, us) in b.items()}


def show(title: str, prof: dict, per: int, wall_s: float, roof_s: float | None) -> None:
    total = sum(us for _, us in prof.values())
    print(f"\n### {title}")
    print(f"wall {wall_s / per * 1e6:.0f} us per unit; kernels {total / per:.0f} us per unit"
          + (f"; roofline {roof_s / per * 1e6:.0f} us" if roof_s else ""))
    print("| kernel | calls per unit | us per unit | share |")
    print("|---|---:|---:|---:|")
    for k, (n, us) in sorted(prof.items(), key=lambda kv: -kv[1][1])[:14]:
        print(f"| {k} | {n / per:.1f} | {us / per:.1f} | {us / max(total, 1e-9):.0%} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", nargs="*", default=["llama8b", "qwen05b"])
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--bandwidth", type=float, default=4.2e12, help="bytes/s for the roofline line")
    a = ap.parse_args()
    if os.environ.get("LANNER_CUDA_PROFILE") != "1":
        sys.exit("set LANNER_CUDA_PROFILE=1")
    import lanner

    shapes = {"llama8b": cuda_bench.LLAMA3_8B, "qwen05b": cuda_bench.QWEN25_05B}
    tmp = Path(tempfile.mkdtemp())
    for key in a.shapes:
        d = tmp / key
        d.mkdir()
        (d / "config.json").write_text(json.dumps(shapes[key]))
        for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            (d / f).write_bytes((cuda_bench.TOKENIZER_DIR / f).read_bytes())
        eng = lanner.Engine(d, weights="random", device="cuda", context_length=4096, kv_cache_tokens=8192,
                            prefix_cache_tokens=0)
        wb = eng.info["weight_bytes"]
        prompt = [0] + list(range(4, 20))
        s = eng.session()
        s.feed(prompt, logits="last")
        before = profile_of(eng)
        t = time.perf_counter()
        n = 0
        for _ in s.generate(max_tokens=a.tokens, temperature=0, ignore_eos=True):
            n += 1
        wall = time.perf_counter() - t
        show(f"{key}: decode ({n} tokens, profiled: kernel by kernel, each waited for)",
             diff(before, profile_of(eng)), n, wall, wb / a.bandwidth * n)
        before = profile_of(eng)
        ids = [0] + [4 + i % 300 for i in range(2047)]
        t = time.perf_counter()
        eng.session().feed(ids, logits="last")
        wall = time.perf_counter() - t
        show(f"{key}: prefill of 2048 tokens (per token)", diff(before, profile_of(eng)), 2048, wall, None)
        eng.close()
        del eng


if __name__ == "__main__":
    main()
