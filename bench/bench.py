"""Prefill and decode speed, load time and peak RSS: lanner beside llama-cpp-python, same run.

Decode is also reported against the memory roofline: the bytes a token reads (every weight
matrix but the embedding lookup, plus the f32 K/V cache at the mean decode position) over the
read bandwidth this machine gives for a working set that size (measured here with numpy's max
over an array that size, same thread count: a floor, the CPU may stream faster). Prefill is
reported as GFLOP/s: 2 x the matrix weights each prompt token multiplies (the output projection
runs for the last token only).

    python bench/bench.py                     # the three real models, 1 and 2 threads, 3 runs each
    python bench/bench.py --models smollm2 --threads 2 --runs 5 --prompt-tokens 128 --gen-tokens 64

Each measurement runs in a fresh subprocess (so peak RSS is per engine), repeated --runs times;
the table shows medians and lanner/llama.cpp ratios. llama-cpp-python is optional
(`pip install llama-cpp-python`); without it only lanner's figures are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    r"""
    import json, sys, time
    def hwm():  # this process's peak RSS in KB (VmHWM: ru_maxrss would include the parent's)
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
    engine, path, threads, n_prompt, n_gen = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    rss0 = hwm()
    ids = list(range(1000, 1000 + n_prompt))   # fixed ordinary token ids, same for both engines
    if engine == "lanner":
        import lanner
        t0 = time.perf_counter()
        eng = lanner.Engine(path, threads=threads, context_length=n_prompt + n_gen + 8)
        load = time.perf_counter() - t0
        rss_load = hwm()
        s = eng.session()
        t0 = time.perf_counter(); s.feed(ids); prefill = time.perf_counter() - t0
        t0 = time.perf_counter()
        n = sum(1 for _ in s.generate(max_tokens=n_gen, temperature=0, ignore_eos=True))
        decode = time.perf_counter() - t0
    else:
        import llama_cpp
        t0 = time.perf_counter()
        llm = llama_cpp.Llama(path, n_ctx=n_prompt + n_gen + 8, n_threads=threads, n_threads_batch=threads,
                              n_batch=512, verbose=False)
        load = time.perf_counter() - t0
        rss_load = hwm()
        t0 = time.perf_counter(); llm.eval(ids); prefill = time.perf_counter() - t0
        t0 = time.perf_counter()
        n = 0
        for tok in llm.generate([], temp=0.0, top_k=1, reset=False):
            n += 1
            if n >= n_gen:
                break
        decode = time.perf_counter() - t0
    rss = hwm()
    print(json.dumps(dict(load_s=load, prefill_tps=n_prompt / prefill, decode_tps=n / decode,
                          rss_after_load_mb=(rss_load - rss0) / 1024, peak_rss_mb=rss / 1024)))
    """
)


def model_bytes(path: str, n_ctx: int) -> tuple[int, int, int]:
    """(weight bytes read per decoded token, f32 K/V bytes per position, matrix weights a
    prompt token multiplies: all but the output projection, which only the last one needs)."""
    import gguf

    r = gguf.GGUFReader(path)
    names = {t.name for t in r.tensors}
    arch = str(bytes(r.fields["general.architecture"].parts[-1]), "utf-8")

    def field(key: str) -> int:
        f = r.fields[f"{arch}.{key}"]
        return int(f.parts[f.data[0]][0])

    read = params = 0
    output = "output.weight" if "output.weight" in names else "token_embd.weight"  # tied
    for t in r.tensors:
        if len(t.shape) < 2:
            continue
        if t.name == "token_embd.weight" and output != t.name:
            continue  # a lookup of one row per token
        read += int(t.n_bytes)
        if t.name != output:
            params += int(t.n_elements)
    n_layer, n_head, n_kv = field("block_count"), field("attention.head_count"), field("attention.head_count_kv")
    head_dim = field("embedding_length") // n_head
    try:
        head_dim = field("attention.key_length")
    except KeyError:
        pass
    kv_per_pos = 2 * n_layer * n_kv * head_dim * 4
    return read, kv_per_pos, params


BANDWIDTH = textwrap.dedent(
    r"""
    import sys, threading, time
    import numpy as np
    nbytes, threads = int(sys.argv[1]), int(sys.argv[2])
    parts = np.array_split(np.ones(nbytes // 4, dtype=np.float32), threads)
    best = float("inf")
    for i in range(6):
        ts = [threading.Thread(target=np.maximum.reduce, args=(p,)) for p in parts]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if i:
            best = min(best, time.perf_counter() - t0)
    print(nbytes / best / 1e9)
    """
)


def read_bandwidth(nbytes: int, threads: int) -> float:
    """GB/s reading a float32 array of nbytes with `threads` threads (numpy's reductions release
    the GIL), best of 5 passes after a warm-up. np.maximum.reduce is numpy's fastest streaming
    read here (16-18 GB/s on one core at 100 MB; its pairwise float sum manages only 9). In a
    child process, so the array is not part of this one's memory."""
    r = subprocess.run([sys.executable, "-c", BANDWIDTH, str(nbytes), str(threads)],
                       capture_output=True, text=True, check=True)
    return float(r.stdout.strip())


def run_child(engine: str, path: str, threads: int, n_prompt: int, n_gen: int) -> dict | None:
    r = subprocess.run([sys.executable, "-c", CHILD, engine, path, str(threads), str(n_prompt), str(n_gen)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"  {engine} failed: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["smollm2", "qwen2.5-coder-0.5b", "gemma3-270m"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()

    import lanner

    try:
        import llama_cpp  # noqa: F401
        engines = ["lanner"] if args.no_peer else ["lanner", "llama.cpp"]
    except ImportError:
        engines = ["lanner"]
    print(f"lanner {lanner.__version__}; cpu tier {lanner.cpu_info()['tier']}; runs={args.runs}, "
          f"prompt={args.prompt_tokens} tokens, generate={args.gen_tokens} tokens (medians)")
    # one core's int8 multiply-add peak (vpdpbusd, lanner's asm loop); prefill GFLOP/s (2 x the
    # matrix weights per token) are also given as a fraction of it times the threads
    peak = lanner._lanner._int8_peak_gops(0.5) if hasattr(lanner._lanner, "_int8_peak_gops") else None
    if peak:
        print(f"int8 peak (AVX-512 VNNI vpdpbusd, one core): {peak:.0f} GOP/s")
    header = (f"{'model':<22}{'thr':>4} {'engine':<10}{'load s':>8}{'prefill t/s':>13}{'GFLOP/s':>9}{'int8pk':>8}"
              f"{'decode t/s':>12}{'roofline':>10}{'RSS MB':>9}{'file MB':>9}")
    print(header)
    print("-" * len(header))
    import os
    for name in args.models:
        path = str(lanner.fetch_model(name))
        size_mb = os.path.getsize(path) / 2**20
        weights, kv_per_pos, params = model_bytes(path, args.prompt_tokens + args.gen_tokens)
        per_token = weights + kv_per_pos * (args.prompt_tokens + args.gen_tokens // 2)
        for th in args.threads:
            bw = read_bandwidth(per_token, th)
            print(f"{name}: {per_token / 1e6:.1f} MB read per decoded token ({weights / 1e6:.1f} MB weights); "
                  f"read bandwidth at that size, {th} thread(s): {bw:.1f} GB/s -> roofline {bw * 1e9 / per_token:.1f} tok/s")
            results: dict[str, list[dict]] = {e: [] for e in engines}
            for _ in range(args.runs):  # the engines alternate, so drifts of the machine hit both
                for eng in engines:
                    r = run_child(eng, path, th, args.prompt_tokens, args.gen_tokens)
                    if r:
                        results[eng].append(r)
            med = {}
            for eng, rows in results.items():
                if not rows:
                    continue
                med[eng] = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
                m = med[eng]
                gflops = m["prefill_tps"] * 2 * params / 1e9
                roof = m["decode_tps"] * per_token / (bw * 1e9)
                pk = f"{gflops / (peak * th):.0%}" if peak else "-"
                print(f"{name:<22}{th:>4} {eng:<10}{m['load_s']:>8.2f}{m['prefill_tps']:>13.1f}{gflops:>9.1f}{pk:>8}"
                      f"{m['decode_tps']:>12.2f}{roof:>10.0%}{m['peak_rss_mb']:>9.0f}{size_mb:>9.0f}", flush=True)
            if len(med) == 2:
                a, b = med["lanner"], med["llama.cpp"]
                print(f"{'':<26} ratio lanner/llama.cpp: prefill {a['prefill_tps'] / b['prefill_tps']:.2f}x, "
                      f"decode {a['decode_tps'] / b['decode_tps']:.2f}x")


if __name__ == "__main__":
    main()
