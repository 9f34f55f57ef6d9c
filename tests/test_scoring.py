"""Scoring and perplexity: checked against log-softmax of a float32 session's logits (numpy; scoring
computes in float32 whatever the engine's `activations`), batched
results equal one-at-a-time results bit for bit, windows follow the documented rule, memory stays
bounded, and bad input raises clear errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import lanner

TEXTS = [
    "The capital of France is Paris, and the capital of Italy is Rome.",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "Once upon a time, a small robot learned to paint the sky.",
]


def log_softmax(rows: np.ndarray) -> np.ndarray:
    rows = rows.astype(np.float64)
    m = rows.max(axis=-1, keepdims=True)
    return rows - m - np.log(np.exp(rows - m).sum(axis=-1, keepdims=True))


def reference_logprobs(eng, ids):
    """log p(ids[i] | ids[:i]) for i >= 1 from one session's logits at every position."""
    rows = eng.session().feed(ids, logits="all")
    lp = log_softmax(rows[:-1])
    return lp[np.arange(len(ids) - 1), ids[1:]], lp


def test_score_matches_log_softmax_of_session_logits(smollm2, smollm2_f32):
    for text in TEXTS:
        ids = smollm2.tokenize(text)
        want, lp = reference_logprobs(smollm2_f32, ids)
        (r,) = smollm2.score([text], top_logprobs=3)
        assert r.tokens == ids[1:]
        assert r.logprobs.dtype == np.float32 and r.logprobs.shape == (len(ids) - 1,)
        np.testing.assert_allclose(r.logprobs, want, atol=2e-4)
        assert r.total == pytest.approx(float(np.sum(r.logprobs)), rel=1e-6)
        assert r.greedy == bool(np.all(lp.argmax(axis=1) == np.asarray(ids[1:])))
        for i, top in enumerate(r.top_logprobs):
            best = np.argsort(-lp[i], kind="stable")[:3]
            assert [t for t, _ in top][0] == best[0]
            np.testing.assert_allclose([v for _, v in top], lp[i][[t for t, _ in top]], atol=2e-4)
            assert [v for _, v in top] == sorted((v for _, v in top), reverse=True)


def test_pairs_score_the_continuation_and_report_greedy(smollm2, smollm2_f32):
    ctx, cont = "The capital of France is", " Paris"
    ids = smollm2.tokenize(ctx) + smollm2.tokenize(cont, add_special=False)
    want, lp = reference_logprobs(smollm2_f32, ids)
    n_cont = len(smollm2.tokenize(cont, add_special=False))
    (r,) = smollm2.score([(ctx, cont)])
    np.testing.assert_allclose(r.logprobs, want[-n_cont:], atol=2e-4)
    assert r.greedy == bool(np.all(lp[-n_cont:].argmax(axis=1) == np.asarray(ids[-n_cont:])))
    # token ids work the same as text
    (r2,) = smollm2.score([(smollm2.tokenize(ctx), smollm2.tokenize(cont, add_special=False))])
    np.testing.assert_array_equal(r.logprobs, r2.logprobs)
    # a continuation the model would not pick is not greedy
    (r3,) = smollm2.score([(ctx, " banana")])
    assert not r3.greedy and r3.total < r.total


def test_batched_scoring_equals_one_at_a_time_bit_for_bit(smollm2_path):
    # a fresh engine without prefix cache and one with: neither changes a single bit
    items = TEXTS + [(TEXTS[0][:30], TEXTS[0][30:]), (TEXTS[1][:20], " pass"), "word " * 300]
    for cache in (0, None):
        eng = lanner.Engine(smollm2_path, threads=2, context_length=2048, prefix_cache_tokens=cache)
        together = eng.score(items)
        alone = [eng.score([it])[0] for it in items]
        for a, b in zip(together, alone):
            np.testing.assert_array_equal(a.logprobs, b.logprobs)
            assert a.greedy == b.greedy
        eng.close()


def test_prefix_cache_serves_shared_contexts(smollm2_path):
    eng = lanner.Engine(smollm2_path, threads=2, context_length=2048)
    ctx = "Question: which of these is a fruit? " * 8
    # within one call: the shared context is computed once, then every item reuses it
    choices = eng.score([(ctx, " apple"), (ctx, " stone")])
    assert eng.prefix_cache["hits"] >= 2
    eng.close()
    eng = lanner.Engine(smollm2_path, threads=2, context_length=2048)
    first = eng.score([(ctx, " apple")])[0]
    np.testing.assert_array_equal(choices[0].logprobs, first.logprobs)
    hits = eng.prefix_cache["hits"]
    again = eng.score([(ctx, " apple"), (ctx, " stone"), (ctx, " cloud")])
    assert eng.prefix_cache["hits"] >= hits + 3 and eng.prefix_cache["reused_tokens"] > 0
    np.testing.assert_array_equal(again[0].logprobs, first.logprobs)
    eng.close()


def test_perplexity_windows_follow_the_rule(smollm2):
    ids = smollm2.tokenize(" ".join(TEXTS) * 3)
    n = len(ids)
    full = smollm2.perplexity(ids)
    (r,) = smollm2.score([ids])
    np.testing.assert_array_equal(full.logprobs, r.logprobs)
    assert full.n_tokens == n and full.perplexity == pytest.approx(np.exp(-np.mean(r.logprobs.astype(np.float64))))

    for window, stride in [(32, None), (40, 10), (17, 16)]:
        p = smollm2.perplexity(ids, window=window, stride=stride)
        assert p.logprobs.shape == (n - 1,)
        # the rule, written out independently: token j is predicted once, by the window that
        # scores it, which starts max(window - stride, 1) tokens before that window's first token
        overlap = max(window - (stride or window), 1)
        want = []
        start = 1
        while start < n:
            b = max(start - overlap, 0)
            e = min(b + window, n)
            (w,) = smollm2.score([ids[b:e]])
            want.extend(w.logprobs[start - b - 1:])
            start = e
        np.testing.assert_array_equal(p.logprobs, np.asarray(want, dtype=np.float32))
        assert p.perplexity > full.perplexity * 0.9  # less context never helps much


def test_scoring_errors(smollm2):
    with pytest.raises(TypeError, match="list"):
        smollm2.score("just a string")
    with pytest.raises(ValueError, match="continuation is empty"):
        smollm2.score([("context", "")])
    with pytest.raises(ValueError, match="nothing to score"):
        smollm2.score([[1]])
    with pytest.raises(ValueError, match="out of range"):
        smollm2.score([[1, 10**7]])
    with pytest.raises(lanner.ContextOverflowError, match="item 0"):
        smollm2.score([[1] * 3000])
    with pytest.raises(ValueError, match="window"):
        smollm2.perplexity("some text here", window=1)
    with pytest.raises(ValueError, match="window"):
        smollm2.perplexity("some text here", window=10**6)
    with pytest.raises(ValueError, match="stride"):
        smollm2.perplexity("some text here", window=8, stride=9)
    with pytest.raises(ValueError, match="at least 2"):
        smollm2.perplexity([1])
    # still usable afterwards
    assert smollm2.score(["fine text"])[0].logprobs.size > 0


SCRIPT = """
import resource, sys, lanner
eng = lanner.Engine(sys.argv[1], threads=2, context_length=2048)
ids = (eng.tokenize("The history of science is full of surprises. ") * 400)[:2048]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = eng.score([ids])[0]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert r.logprobs.shape == (2047,)
print((after - before) // 1024)
"""


def test_scoring_a_long_text_keeps_memory_bounded(smollm2_path):
    # all logits at once would be 2048 x 49152 x 4 B = 400 MB; lanner holds a few rows at a time
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(smollm2_path)], capture_output=True, text=True, check=True)
    grew_mb = int(out.stdout.strip())
    kv_mb = 30 * 2 * 3 * 64 * 4 * 2048 / 2**20  # SmolLM2: 30 layers, 3 KV heads of 64
    assert grew_mb < kv_mb + 100, f"peak RSS grew {grew_mb} MB while scoring"
