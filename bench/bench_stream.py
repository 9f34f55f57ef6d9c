"""What the Python streaming iterator costs: the same greedy generation driven from Rust (one call,
`Engine._generate_one`, which returns the text) and from Python (`for chunk in
Session.generate(...)`, one chunk object per token), interleaved, medians.

    python bench/bench_stream.py [--models smollm2 qwen2.5-coder-0.5b] [--threads 1 2] [--runs 7] [--tokens 128]
"""

from __future__ import annotations

import argparse
import statistics
import time

import lanner


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["smollm2", "qwen2.5-coder-0.5b"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--tokens", type=int, default=128)
    a = ap.parse_args()
    print(f"lanner {lanner.__version__}; {a.tokens} greedy tokens after a 16-token prompt; medians of {a.runs}")
    print(f"{'model':<22}{'thr':>4}{'rust loop s':>13}{'python iterator s':>19}{'overhead':>10}")
    for m in a.models:
        path = lanner.fetch_model(m)
        for t in a.threads:
            eng = lanner.Engine(path, threads=t, context_length=512, prefix_cache_tokens=0)
            ids = eng.tokenize("The history of the printing press begins in the fifteenth century, when")[:16]
            kw = dict(max_tokens=a.tokens, temperature=0, ignore_eos=True)

            def rust() -> float:
                t0 = time.perf_counter()
                eng._generate_one(ids, **kw)
                return time.perf_counter() - t0

            def python() -> float:
                t0 = time.perf_counter()
                n = sum(1 for _ in eng.session().generate(ids, **kw))
                assert n >= a.tokens
                return time.perf_counter() - t0

            rust(), python()  # warm-up
            rs, ps = [], []
            for _ in range(a.runs):
                rs.append(rust())
                ps.append(python())
            r, p = statistics.median(rs), statistics.median(ps)
            print(f"{m:<22}{t:>4}{r:>13.3f}{p:>19.3f}{p / r - 1:>+10.1%}")
            eng.close()


if __name__ == "__main__":
    main()
