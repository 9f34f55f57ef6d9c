"""Prefill speed with int8 activations (the default) against activations="f32", same process.

    python bench/bench_activations.py            # the three real models, 1 and 2 threads

Both engines feed a 512-token prompt in turn (fresh sessions, distinct tokens so the prefix cache
never hits), 4 rounds; the median of the last 3 is reported, with the ratio.
"""

from __future__ import annotations

import statistics
import time

import lanner

MODELS = ["smollm2", "qwen2.5-coder-0.5b", "gemma3-270m"]


def main() -> None:
    print(f"lanner {lanner.__version__}; cpu tier {lanner.cpu_info()['tier']}; 512-token prompts, medians of 3")
    for name in MODELS:
        path = lanner.fetch_model(name)
        for threads in (1, 2):
            engines = {a: lanner.Engine(path, threads=threads, context_length=1024, activations=a) for a in ("f32", "int8")}
            tps: dict[str, list[float]] = {a: [] for a in engines}
            for rep in range(4):
                for i, (a, eng) in enumerate(engines.items()):
                    start = 2000 + rep * 1200 + i * 600
                    t0 = time.perf_counter()
                    eng.session().feed(list(range(start, start + 512)))
                    tps[a].append(512 / (time.perf_counter() - t0))
            med = {a: statistics.median(v[1:]) for a, v in tps.items()}
            print(f"{name:<20} {threads} thr  f32 {med['f32']:7.1f} tok/s  int8 {med['int8']:7.1f} tok/s  "
                  f"int8/f32 {med['int8'] / med['f32']:.2f}x", flush=True)
            for eng in engines.values():
                eng.close()


if __name__ == "__main__":
    main()
