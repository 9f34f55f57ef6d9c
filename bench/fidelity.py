"""Decode fidelity: how far single-token (decode) logits move from an fp32 computation of the
same weights, for lanner at every CPU tier this machine has and for llama.cpp.

    python bench/fidelity.py                          # smollm2, qwen2.5-coder-0.5b, gemma3-270m
    python bench/fidelity.py --models smollm2 --tiers avx512 avx512vnni --tokens 200

A real text (openings of Pride and Prejudice, A Tale of Two Cities and Moby-Dick and the
Gettysburg Address, all public domain, about 1,100 tokens; or --text FILE) is tokenized
once and fed one token at a time (every position computed by the single-token path: at the
avx512vnni tier, lanner's int8 Q8A activations; llama.cpp's 8-bit activations and f16 KV cache).
Each engine runs in a fresh process (the tier is chosen once per process, `LANNER_CPU`).
The yardstick is tests/reference.py: an independent numpy fp32 forward pass over the weights
dequantized by the `gguf` package. Per engine:

- ppl: perplexity of the text (every token after the first), and its distance from the fp32
  reference's, |ppl / ppl_ref - 1|;
- |dlogp| mean / max: per position, |log p(next token) - the reference's|;
- KL: mean over positions of KL(reference || engine) over the whole vocabulary (nats).
`lanner prefill` feeds all tokens at once: with Engine(activations="f32") it shows the float32
floor; with the default activations (int8 Q8A at the avx512vnni tier, the int8 GEMM) what a
prompt's logits (and scoring through a session) carry.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TEXT = """It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.

However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters.

"My dear Mr. Bennet," said his lady to him one day, "have you heard that Netherfield Park is let at last?"

Mr. Bennet replied that he had not.

"But it is," returned she; "for Mrs. Long has just been here, and she told me all about it."

Mr. Bennet made no answer.

"Do you not want to know who has taken it?" cried his wife impatiently.

"You want to tell me, and I have no objection to hearing it."

This was invitation enough.

"Why, my dear, you must know, Mrs. Long says that Netherfield is taken by a young man of large fortune from the north of England; that he came down on Monday in a chaise and four to see the place, and was so much delighted with it, that he agreed with Mr. Morris immediately; that he is to take possession before Michaelmas, and some of his servants are to be in the house by the end of next week."

"What is his name?"

"Bingley."

"Is he married or single?"

"Oh! Single, my dear, to be sure! A single man of large fortune; four or five thousand a year. What a fine thing for our girls!"

"How so? How can it affect them?"

"My dear Mr. Bennet," replied his wife, "how can you be so tiresome! You must know that I am thinking of his marrying one of them."

"Is that his design in settling here?"

"Design! Nonsense, how can you talk so! But it is very likely that he may fall in love with one of them, and therefore you must visit him as soon as he comes."

It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it was the season of Darkness, it was the spring of hope, it was the winter of despair, we had everything before us, we had nothing before us, we were all going direct to Heaven, we were all going direct the other way - in short, the period was so far like the present period, that some of its noisiest authorities insisted on its being received, for good or for evil, in the superlative degree of comparison only.

There were a king with a large jaw and a queen with a plain face, on the throne of England; there were a king with a large jaw and a queen with a fair face, on the throne of France. In both countries it was clearer than crystal to the lords of the State preserves of loaves and fishes, that things in general were settled for ever.

Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in Liberty, and dedicated to the proposition that all men are created equal.

Now we are engaged in a great civil war, testing whether that nation, or any nation so conceived and so dedicated, can long endure. We are met on a great battle-field of that war. We have come to dedicate a portion of that field, as a final resting place for those who here gave their lives that that nation might live. It is altogether fitting and proper that we should do this.

But, in a larger sense, we can not dedicate -- we can not consecrate -- we can not hallow -- this ground. The brave men, living and dead, who struggled here, have consecrated it, far above our poor power to add or detract. The world will little note, nor long remember what we say here, but it can never forget what they did here. It is for us the living, rather, to be dedicated here to the unfinished work which they who fought here have thus far so nobly advanced. It is rather for us to be here dedicated to the great task remaining before us -- that from these honored dead we take increased devotion to that cause for which they gave the last full measure of devotion -- that we here highly resolve that these dead shall not have died in vain -- that this nation, under God, shall have a new birth of freedom -- and that government of the people, by the people, for the people, shall not perish from the earth.

Call me Ishmael. Some years ago - never mind how long precisely - having little or no money in my purse, and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world. It is a way I have of driving off the spleen and regulating the circulation. Whenever I find myself growing grim about the mouth; whenever it is a damp, drizzly November in my soul; whenever I find myself involuntarily pausing before coffin warehouses, and bringing up the rear of every funeral I meet; and especially whenever my hypos get such an upper hand of me, that it requires a strong moral principle to prevent me from deliberately stepping into the street, and methodically knocking people's hats off - then, I account it high time to get to sea as soon as I can.
"""

# Child process: feed the ids with one engine, save logits [n, vocab] as float32 .npy.
CHILD = r"""
import json, sys
import numpy as np
engine, path, ids_file, out, mode = sys.argv[1:6]
ids = json.load(open(ids_file))
n = len(ids)
if engine == "lanner":
    import lanner
    kw = {"activations": "f32"} if mode == "prefill-f32" else {}
    eng = lanner.Engine(path, threads=2, context_length=n + 16, **kw)
    s = eng.session()
    if mode.startswith("prefill"):
        rows = s.feed(ids, logits="all")
    else:
        rows = np.empty((n, eng.vocab_size), dtype=np.float32)
        for i, t in enumerate(ids):
            rows[i] = s.feed([t])
    tier = lanner.cpu_info()["tier"]
else:
    import llama_cpp
    llm = llama_cpp.Llama(path, n_ctx=n + 16, n_threads=2, n_threads_batch=2, logits_all=True, verbose=False)
    for t in ids:
        llm.eval([t])
    rows = np.array(llm.scores[:n], dtype=np.float32)
    tier = "llama.cpp"
np.save(out, np.asarray(rows, dtype=np.float32))
print(json.dumps({"tier": tier}))
"""


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def compare(ref_logits: np.ndarray, logits: np.ndarray, ids: list[int]) -> tuple[np.ndarray, np.ndarray, float]:
    """Per position (all but the last): the engine's and the reference's log-probability of
    the next token, and the mean KL(reference || engine), in float64, 64 rows at a time."""
    n = len(ids) - 1
    lp, ref_lp, kl = np.empty(n), np.empty(n), 0.0
    for i in range(0, n, 64):
        j = min(i + 64, n)
        r, e = log_softmax(ref_logits[i:j]), log_softmax(logits[i:j])
        tgt = np.array(ids[i + 1 : j + 1])
        ref_lp[i:j], lp[i:j] = r[np.arange(j - i), tgt], e[np.arange(j - i), tgt]
        kl += float(np.sum(np.exp(r) * (r - e)))
    return lp, ref_lp, kl / n


def run_child(engine: str, path: str, ids_file: str, mode: str, env: dict, tmp: str) -> np.ndarray | None:
    out = os.path.join(tmp, f"{engine}-{mode}-{env.get('LANNER_CPU', 'default')}.npy")
    r = subprocess.run([sys.executable, "-c", CHILD, engine, path, ids_file, out, mode],
                       capture_output=True, text=True, env={**os.environ, **env})
    if r.returncode != 0:
        print(f"  {engine} {mode} {env} failed: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return np.load(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["smollm2", "qwen2.5-coder-0.5b", "gemma3-270m"])
    ap.add_argument("--tiers", nargs="+", default=None, help="lanner tiers (default: every tier this machine has)")
    ap.add_argument("--tokens", type=int, default=None, help="use only the first N tokens of the text")
    ap.add_argument("--text", type=Path, default=None, help="a UTF-8 text file instead of the built-in text")
    ap.add_argument("--no-peer", action="store_true", help="skip llama.cpp")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import lanner
    from reference import ReferenceModel

    info = lanner.cpu_info()
    order = ["scalar", "avx2", "avx512", "avx512vnni", "neon", "neon-dotprod"]
    tiers = args.tiers or [t for t in order[: order.index(info["detected_tier"]) + 1]
                           if (t.startswith("neon") == info["detected_tier"].startswith("neon")) or t == "scalar"]
    try:
        import llama_cpp  # noqa: F401
        peer = not args.no_peer
    except ImportError:
        peer = False
    text = args.text.read_text() if args.text else TEXT
    results = []
    header = f"{'model':<20}{'engine':<28}{'ppl':>9}{'|ppl/ref-1|':>13}{'|dlogp| mean':>14}{'max':>9}{'KL mean':>11}"
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            path = str(lanner.fetch_model(name))
            eng = lanner.Engine(path, threads=2)
            ids = eng.tokenize(text)
            eng.close()
            if args.tokens:
                ids = ids[: args.tokens]
            ids_file = os.path.join(tmp, "ids.json")
            Path(ids_file).write_text(json.dumps(ids))
            ref_logits = ReferenceModel(path).forward(ids)
            ref_lp = None
            runs = [("lanner", "prefill-f32", {}, "lanner prefill f32"), ("lanner", "prefill", {}, "lanner prefill (default)")]
            runs += [("lanner", "decode", {"LANNER_CPU": t}, f"lanner decode {t}") for t in tiers]
            if peer:
                runs.append(("llama.cpp", "decode", {}, "llama.cpp decode"))
            for engine, mode, env, label in runs:
                logits = run_child(engine, path, ids_file, mode, env, tmp)
                if logits is None:
                    continue
                lp, r_lp, kl = compare(ref_logits, logits, ids)
                del logits
                if ref_lp is None:
                    ref_lp = r_lp
                    ref_ppl = float(np.exp(-ref_lp.mean()))
                    print(f"\n{name}: {len(ids)} tokens; fp32 numpy reference perplexity {ref_ppl:.4f}")
                    print(header)
                    print("-" * len(header))
                d = np.abs(lp - ref_lp)
                ppl = float(np.exp(-lp.mean()))
                row = dict(model=name, engine=label, tokens=len(ids), ppl=ppl, ppl_ref=ref_ppl,
                           ppl_rel=abs(ppl / ref_ppl - 1), dlogp_mean=float(d.mean()), dlogp_max=float(d.max()), kl=kl)
                results.append(row)
                print(f"{name:<20}{label:<28}{ppl:>9.4f}{row['ppl_rel']:>12.3%}{row['dlogp_mean']:>14.5f}"
                      f"{row['dlogp_max']:>9.4f}{kl:>11.2e}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
