"""One forward pass over spans of several sessions (prefills and decode tokens mixed) gives the
same logits as feeding each session alone: the batch path later issues build on."""

from __future__ import annotations

import numpy as np
import pytest

import lanner

TOL = dict(rtol=1e-4, atol=1e-4)  # f32 summation order differs with the batch's row count


def test_mixed_batch_equals_separate(smollm2):
    prompts = ["The capital of France is", "def add(a, b):", "Once upon a time there"]
    alone = [smollm2.session().feed(p).copy() for p in prompts]
    sessions = [smollm2.session() for _ in prompts]
    rows = smollm2.feed_batch(list(zip(sessions, prompts)))
    assert rows.shape == (3, smollm2.vocab_size)
    for r, a in zip(rows, alone):
        np.testing.assert_allclose(r, a, **TOL)

    # next step: one decode token each, plus a fresh long prefill in the same batch
    nxt = [int(np.argmax(r)) for r in rows]
    fresh = smollm2.session()
    rows2 = smollm2.feed_batch([(s, [t]) for s, t in zip(sessions, nxt)] + [(fresh, "A long new prompt " * 5)])
    for i, p in enumerate(prompts):
        ref = smollm2.session()
        ref.feed(p)
        np.testing.assert_allclose(rows2[i], ref.feed([nxt[i]]), **TOL)
    np.testing.assert_allclose(rows2[3], smollm2.session().feed("A long new prompt " * 5), **TOL)
    assert [len(s) for s in sessions] == [len(smollm2.tokenize(p)) + 1 for p in prompts]


def test_batch_errors_leave_sessions_untouched(smollm2):
    a, b = smollm2.session(), smollm2.session()
    a.feed("hello")
    with pytest.raises(ValueError, match="out of range"):
        smollm2.feed_batch([(a, " there"), (b, [10**7])])
    assert len(a) == len(smollm2.tokenize("hello")) and len(b) == 0
    with pytest.raises(lanner.SessionBusyError):
        smollm2.feed_batch([(a, "x"), (a, "y")])
