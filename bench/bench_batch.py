"""Research/batch workloads: batched generation, scoring, memory, fork, logits processors, prefix reuse.

    python bench/bench_batch.py --runs 5          # full sizes, medians of 5 fresh runs each
    python bench/bench_batch.py --quick           # 1 run, small sizes (about a minute)
    python bench/bench_batch.py --only gen score --json out.json

What it measures, each in a fresh subprocess per run (medians over --runs):
  gen     SmolLM2: 16 prompts x 128 new tokens in one Engine.generate call (aggregate tokens/s)
          against single-stream decode of 128 tokens after the same prompt length (target >= 4x).
  score   SmolLM2: 64 (context ~90, continuation ~10 tokens) pairs, all tokens/s, against one
          1024-token prefill with logits="none" (target >= 1.0x).
  memory  Qwen2.5-0.5B, context_length=4096: peak RSS while scoring a 4096-token text, against
          file size + f32 KV of 4096 tokens + 100 MB; also the RSS right after loading.
  fork    SmolLM2: Session.fork() time on a 1000-token session (median of 200) and the RSS growth
          of 100 live forks (should be ~0), against the time to feed the 1000 tokens.
  logits  SmolLM2: 8 prompts x 64 tokens with a no-op logits processor against none (us per token).
  prefix  SmolLM2: 16 prompts sharing a ~400-token prefix plus a ~20-token question, max_tokens=1,
          with the prefix cache on (default) and off (prefix_cache_tokens=0); both as one batched
          call and as one call per prompt.
Prompts are windows of a token stream built from shuffled English sentences (no two alike).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time

SENTENCES = [
    "The river had flooded twice that spring, leaving a fine grey silt across the lower fields.",
    "Photosynthesis converts light energy into chemical energy stored in the bonds of glucose.",
    "She folded the letter carefully and slipped it between the pages of an old atlas.",
    "In 1854 John Snow traced a cholera outbreak in London to a single contaminated water pump.",
    "A binary search halves the interval at every step, so it needs about log2(n) comparisons.",
    "The bakery on the corner opens at six, and by seven the queue reaches the bus stop.",
    "Glaciers carve U-shaped valleys, while rivers tend to cut narrower V-shaped ones.",
    "Interest rates rose sharply, and many households postponed buying a new car or home.",
    "He tuned the violin slowly, listening for the faint beat between the two strings.",
    "The committee will publish its final report after reviewing the public comments.",
    "Octopuses can change the colour and texture of their skin in a fraction of a second.",
    "Our train was delayed by forty minutes because of a signal failure near the junction.",
    "Shakespeare wrote most of his sonnets during the years when the theatres were closed.",
    "To make the sauce, melt the butter, whisk in the flour, and add the warm milk gradually.",
    "The telescope revealed four small moons circling the planet like beads on a thread.",
    "Volunteers planted three hundred oak saplings along the edge of the old quarry.",
    "A contract is generally void if one of the parties signed it under duress.",
    "The children built a raft from driftwood and rope, and it floated for almost an hour.",
    "Compilers translate source code into machine instructions, often in several passes.",
    "Mount Kilimanjaro rises almost six thousand metres above the plains of Tanzania.",
    "The museum's new wing displays textiles from the Silk Road, some over a thousand years old.",
    "When the power failed, the hospital switched to its diesel generators within seconds.",
    "Bees communicate the direction of flowers to their hive mates through a waggle dance.",
    "Why do prices of airline tickets change so much from one week to the next?",
]
SMOL, QWEN = "smollm2", "qwen2.5-coder-0.5b"
FULL = dict(gen_n=16, gen_prompt=64, gen_tokens=128, score_n=64, score_ctx=90, score_cont=10, prefill=1024,
            mem_tokens=4096, fork_tokens=1000, forks_timed=200, forks_kept=100, lp_n=8, lp_tokens=64, lp_reps=2,
            pfx_n=16, pfx_prefix=400, pfx_question=20)
QUICK = dict(gen_n=4, gen_prompt=32, gen_tokens=16, score_n=8, score_ctx=90, score_cont=10, prefill=256,
             mem_tokens=256, fork_tokens=256, forks_timed=50, forks_kept=100, lp_n=4, lp_tokens=8, lp_reps=1,
             pfx_n=4, pfx_prefix=96, pfx_question=20)


# ---------------------------------------------------------------- child side (one measurement)

def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def token_stream(eng, n: int, seed: int = 0) -> list[int]:
    """At least n token ids of English text: the sentences in a fresh random order each round."""
    sent_ids = [eng.tokenize(" " + s, add_special=False) for s in SENTENCES]
    rng, out = random.Random(seed), []
    while len(out) < n:
        order = list(range(len(SENTENCES)))
        rng.shuffle(order)
        for i in order:
            out += sent_ids[i]
    return out


def windows(stream: list[int], count: int, length: int, start: int = 0) -> list[list[int]]:
    return [stream[start + i * length: start + (i + 1) * length] for i in range(count)]


def engine(name: str, threads: int, **kw):
    import lanner
    return lanner.Engine(str(lanner.fetch_model(name)), threads=threads, **kw)


def child_gen(z: dict, threads: int) -> dict:
    eng = engine(SMOL, threads)
    prompts = windows(token_stream(eng, (z["gen_n"] + 1) * z["gen_prompt"]), z["gen_n"] + 1, z["gen_prompt"])
    s = eng.session()
    s.feed(prompts[-1], logits="none")                   # the single stream's prompt is not in the batch
    t0 = time.perf_counter()
    n1 = sum(c.token is not None for c in s.generate(max_tokens=z["gen_tokens"], temperature=0, ignore_eos=True))
    single = n1 / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    outs = eng.generate(prompts[:-1], max_tokens=z["gen_tokens"], temperature=0, ignore_eos=True, progress=False)
    dt = time.perf_counter() - t0
    return dict(batch_tps=sum(len(o.tokens) for o in outs) / dt, single_tps=single)


def child_score(z: dict, threads: int) -> dict:
    eng = engine(SMOL, threads)
    n, lc, lx = z["score_n"], z["score_ctx"], z["score_cont"]
    stream = token_stream(eng, n * (lc + lx) + z["prefill"])
    pairs = [(w[:lc], w[lc:]) for w in windows(stream, n, lc + lx)]
    t0 = time.perf_counter()
    eng.session().feed(stream[n * (lc + lx):][:z["prefill"]], logits="none")
    prefill = z["prefill"] / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    res = eng.score(pairs)
    dt = time.perf_counter() - t0
    assert all(len(r.logprobs) == lx for r in res)
    return dict(score_tps=n * (lc + lx) / dt, prefill_tps=prefill)


def child_memory(z: dict, threads: int) -> dict:
    n = z["mem_tokens"]
    eng = engine(QWEN, threads, context_length=n)
    rss_load = peak_rss_mb()
    info = eng.info
    ids = token_stream(eng, n)[:n]
    t0 = time.perf_counter()
    r = eng.score([ids])[0]
    dt = time.perf_counter() - t0
    assert len(r.logprobs) == n - 1
    kv_mb = info["n_layer"] * 2 * info["n_kv_head"] * info["head_dim"] * 4 * n / 2**20
    return dict(load_rss_mb=rss_load, peak_rss_mb=peak_rss_mb(), file_mb=os.path.getsize(info["path"]) / 2**20,
                kv_mb=kv_mb, score_s=dt)


def child_fork(z: dict, threads: int) -> dict:
    eng = engine(SMOL, threads)
    s = eng.session()
    t0 = time.perf_counter()
    s.feed(token_stream(eng, z["fork_tokens"])[:z["fork_tokens"]], logits="none")
    feed_us = (time.perf_counter() - t0) * 1e6
    times = []
    for _ in range(z["forks_timed"]):
        t0 = time.perf_counter()
        f = s.fork()
        times.append((time.perf_counter() - t0) * 1e6)
        del f
    rss0 = current_rss_mb()
    kept = [s.fork() for _ in range(z["forks_kept"])]
    growth = current_rss_mb() - rss0
    assert all(len(f) == len(s) for f in kept)
    return dict(fork_us=statistics.median(times), feed_us=feed_us, rss_growth_mb=growth)


def child_logits(z: dict, threads: int) -> dict:
    eng = engine(SMOL, threads, prefix_cache_tokens=0)   # both variants prefill from scratch
    prompts = windows(token_stream(eng, (z["lp_n"] + 1) * 32), z["lp_n"] + 1, 32)
    eng.generate(prompts[-1:], max_tokens=2, progress=False)   # warm-up
    best = {"plain": float("inf"), "noop": float("inf")}
    n = z["lp_n"] * z["lp_tokens"]
    for _ in range(z["lp_reps"]):                         # interleaved, best of lp_reps each
        for key, procs in (("plain", None), ("noop", [lambda ids, logits: None])):
            t0 = time.perf_counter()
            outs = eng.generate(prompts[:-1], max_tokens=z["lp_tokens"], temperature=0, ignore_eos=True,
                                progress=False, logits_processors=procs)
            best[key] = min(best[key], time.perf_counter() - t0)
            assert sum(len(o.tokens) for o in outs) == n
    return dict(plain_us_tok=best["plain"] / n * 1e6, extra_us_tok=(best["noop"] - best["plain"]) / n * 1e6)


def child_prefix(z: dict, threads: int, cache: bool, batched: bool) -> dict:
    eng = engine(SMOL, threads, prefix_cache_tokens=None if cache else 0)
    stream = token_stream(eng, z["pfx_prefix"] + z["pfx_n"] * z["pfx_question"] + 64)
    prefix = stream[:z["pfx_prefix"]]
    prompts = [prefix + q for q in windows(stream, z["pfx_n"], z["pfx_question"], start=z["pfx_prefix"])]
    eng.score([stream[-64:]])                             # warm-up on unrelated tokens
    t0 = time.perf_counter()
    if batched:
        eng.generate(prompts, max_tokens=1, temperature=0, progress=False)
    else:
        for p in prompts:
            eng.generate([p], max_tokens=1, temperature=0, progress=False)
    pc = eng.prefix_cache
    return dict(seconds=time.perf_counter() - t0, hits=pc["hits"], reused_tokens=pc["reused_tokens"])


CHILDREN = {
    "gen": child_gen,
    "score": child_score,
    "memory": child_memory,
    "fork": child_fork,
    "logits": child_logits,
    "prefix-batch-on": lambda z, t: child_prefix(z, t, cache=True, batched=True),
    "prefix-batch-off": lambda z, t: child_prefix(z, t, cache=False, batched=True),
    "prefix-seq-on": lambda z, t: child_prefix(z, t, cache=True, batched=False),
    "prefix-seq-off": lambda z, t: child_prefix(z, t, cache=False, batched=False),
}


# ---------------------------------------------------------------- parent side

def run_child(name: str, sizes: dict, threads: int) -> dict | None:
    r = subprocess.run([sys.executable, __file__, "--child", name, "--sizes", json.dumps(sizes),
                        "--threads", str(threads)], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"  {name} failed: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def medians(name: str, sizes: dict, threads: int, runs: int) -> dict | None:
    rows = []
    for i in range(runs):
        print(f"  {name} run {i + 1}/{runs}", file=sys.stderr, flush=True)
        if (r := run_child(name, sizes, threads)) is not None:
            rows.append(r)
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]} if rows else None


def table_rows(m: dict, z: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    if g := m.get("gen"):
        rows.append((f"batched generate {z['gen_n']}x{z['gen_tokens']} tok, tok/s", f"{g['batch_tps']:.1f}",
                     f"single-stream decode {g['single_tps']:.1f}", f"{g['batch_tps'] / g['single_tps']:.2f}x (>= 4x)"))
    if s := m.get("score"):
        rows.append((f"score {z['score_n']} pairs of {z['score_ctx'] + z['score_cont']} tok, tok/s",
                     f"{s['score_tps']:.1f}", f"prefill {z['prefill']} tok {s['prefill_tps']:.1f}",
                     f"{s['score_tps'] / s['prefill_tps']:.2f}x (>= 1.0x)"))
    if mem := m.get("memory"):
        budget = mem["file_mb"] + mem["kv_mb"] + 100
        met = "met" if mem["peak_rss_mb"] <= budget else "NOT met"
        rows.append((f"peak RSS, Qwen-0.5B scoring {z['mem_tokens']} tok, MB", f"{mem['peak_rss_mb']:.0f}",
                     f"budget {budget:.0f} (file {mem['file_mb']:.0f} + KV {mem['kv_mb']:.0f} + 100)",
                     f"{mem['peak_rss_mb'] / budget:.2f}x budget: {met}"))
        rows.append(("RSS after loading Qwen-0.5B, MB", f"{mem['load_rss_mb']:.0f}", f"file {mem['file_mb']:.0f}",
                     f"{mem['load_rss_mb'] / mem['file_mb']:.2f}x file"))
    if f := m.get("fork"):
        rows.append((f"fork() of a {z['fork_tokens']}-tok session, us", f"{f['fork_us']:.1f}",
                     f"feed {z['fork_tokens']} tok {f['feed_us'] / 1000:.1f} ms",
                     f"feed / fork = {f['feed_us'] / f['fork_us']:,.0f}x"))
        rows.append((f"RSS growth, {z['forks_kept']} live forks, MB", f"{f['rss_growth_mb']:.2f}", "~0", ""))
    if lp := m.get("logits"):
        rows.append((f"no-op logits processor, {z['lp_n']}x{z['lp_tokens']} tok, extra us/tok",
                     f"{lp['extra_us_tok']:.1f}", f"{lp['plain_us_tok']:.0f} us/tok without",
                     f"{100 * lp['extra_us_tok'] / lp['plain_us_tok']:+.1f}% overhead"))
    for mode, label in (("batch", "one batched call"), ("seq", "one call per prompt")):
        on, off = m.get(f"prefix-{mode}-on"), m.get(f"prefix-{mode}-off")
        if on and off:
            rows.append((f"{z['pfx_n']} prompts, {z['pfx_prefix']}-tok shared prefix, {label}, s (cache on)",
                         f"{on['seconds']:.2f}", f"cache off {off['seconds']:.2f}",
                         f"{100 * (1 - on['seconds'] / off['seconds']):.0f}% saved ({on['hits']:.0f} hits, "
                         f"{on['reused_tokens']:.0f} tok reused)"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="1 run, small sizes (a smoke test, not a benchmark)")
    ap.add_argument("--only", nargs="+", choices=["gen", "score", "memory", "fork", "logits", "prefix"])
    ap.add_argument("--json", metavar="PATH", help="also write the medians and the table as JSON")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:                                        # inside a fresh subprocess
        print(json.dumps(CHILDREN[args.child](json.loads(args.sizes), args.threads)))
        return

    import lanner

    sizes, runs = (QUICK, 1) if args.quick else (FULL, args.runs)
    names = [n for n in CHILDREN if not args.only or n.split("-")[0] in args.only]
    print(f"lanner {lanner.__version__}; cpu tier {lanner.cpu_info()['tier']}; threads={args.threads}, "
          f"runs={runs}{' (quick sizes)' if args.quick else ''} (medians)", flush=True)
    results = {n: medians(n, sizes, args.threads, runs) for n in names}
    rows = table_rows({k: v for k, v in results.items() if v}, sizes)
    head = ("measurement", "lanner", "reference", "ratio / target")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]

    def line(r: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"

    print("\n" + line(head) + "\n|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(sizes=sizes, runs=runs, threads=args.threads, medians=results,
                           table=[dict(zip(head, r)) for r in rows]), f, indent=2)


if __name__ == "__main__":
    main()
