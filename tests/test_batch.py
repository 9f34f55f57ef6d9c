"""One forward pass over spans of several sessions (prefills and decode tokens mixed) gives the
same logits as feeding each session alone: the batch path later issues build on."""

from __future__ import annotations

import numpy as np
import pytest

import lanner
from logits_check import assert_logits_close


def test_mixed_batch_equals_separate(smollm2):
    """feed_batch runs on the batch-invariant backend: a span's logits are the same bits as the
    same span fed through feed_batch alone. Session.feed takes the single-token paths (int8
    activations on tiers that have them) for decode steps and the last row's output projection,
    so against it the rows agree within tests/logits_check.py's tolerance (measured: <= 0.0007 x
    std)."""
    prompts = ["The capital of France is", "def add(a, b):", "Once upon a time there"]
    long_prompt = "A long new prompt " * 5
    alone = [smollm2.session().feed(p).copy() for p in prompts]
    sessions = [smollm2.session() for _ in prompts]
    rows = smollm2.feed_batch(list(zip(sessions, prompts))).copy()
    assert rows.shape == (3, smollm2.vocab_size)
    solo = [smollm2.session() for _ in prompts]
    for i, p in enumerate(prompts):
        np.testing.assert_array_equal(rows[i], smollm2.feed_batch([(solo[i], p)])[0], err_msg=f"prompt {i}")
    assert_logits_close(rows, np.stack(alone), what="batched prompts vs Session.feed")

    # next step: one decode token each, plus a fresh long prefill in the same batch
    nxt = [int(np.argmax(r)) for r in rows]
    fresh = smollm2.session()
    rows2 = smollm2.feed_batch([(s, [t]) for s, t in zip(sessions, nxt)] + [(fresh, long_prompt)]).copy()
    for i, p in enumerate(prompts):
        np.testing.assert_array_equal(rows2[i], smollm2.feed_batch([(solo[i], [nxt[i]])])[0], err_msg=f"decode {i}")
        ref = smollm2.session()
        ref.feed(p)
        assert_logits_close(rows2[i], ref.feed([nxt[i]]), what=f"batched decode {i} vs Session.feed")
    np.testing.assert_array_equal(rows2[3], smollm2.feed_batch([(smollm2.session(), long_prompt)])[0])
    assert_logits_close(rows2[3], smollm2.session().feed(long_prompt), what="batched long prompt vs Session.feed")
    assert [len(s) for s in sessions] == [len(smollm2.tokenize(p)) + 1 for p in prompts]


def test_batch_errors_leave_sessions_untouched(smollm2):
    a, b = smollm2.session(), smollm2.session()
    a.feed("hello")
    with pytest.raises(ValueError, match="out of range"):
        smollm2.feed_batch([(a, " there"), (b, [10**7])])
    assert len(a) == len(smollm2.tokenize("hello")) and len(b) == 0
    with pytest.raises(lanner.SessionBusyError):
        smollm2.feed_batch([(a, "x"), (a, "y")])
