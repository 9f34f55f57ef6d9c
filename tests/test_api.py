"""The Python API on the real SmolLM2-135M model: shapes, zero-copy logits, sessions, generation,
threads and Ctrl-C."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import lanner
from logits_check import assert_logits_close

PROMPT = "The capital of France is"


def test_info(smollm2):
    info = smollm2.info
    assert info["architecture"] == "llama"
    assert info["n_layer"] == 30
    assert info["n_embd"] == 576
    assert info["n_head"] == 9 and info["n_kv_head"] == 3
    assert info["vocab_size"] == 49152
    assert info["context_length"] == 2048
    assert info["train_context_length"] == 8192
    assert info["quant_types"] == {"Q4_1": 210, "Q8_0": 1}
    assert info["cpu_tier"] == lanner.cpu_info()["tier"]
    assert info["threads"] == 2


def test_cpu_info():
    ci = lanner.cpu_info()
    assert ci["tier"] in ("scalar", "avx2", "avx512", "avx512vnni", "neon", "neon-dotprod")
    assert ci["threads_available"] >= 1


def test_tokenize_roundtrip(smollm2):
    ids = smollm2.tokenize(PROMPT)
    assert all(isinstance(i, int) for i in ids)
    assert smollm2.detokenize(ids) == PROMPT


def test_feed_shapes_and_zero_copy(smollm2):
    s = smollm2.session()
    logits = s.feed(PROMPT)
    assert isinstance(logits, np.ndarray)
    assert logits.dtype == np.float32 and logits.shape == (49152,)
    assert np.isfinite(logits).all()
    # zero-copy: numpy's data pointer is the buffer the engine wrote, owned by the base object
    assert logits.ctypes.data == s._last_logits_address
    assert not logits.flags.owndata and logits.base is not None
    n = len(s)
    rows = s.feed(" Paris. The capital of Germany is", logits="all")
    assert rows.ndim == 2 and rows.shape[1] == 49152
    assert rows.shape[0] == len(s) - n
    assert rows.ctypes.data == s._last_logits_address
    assert s.feed(" Berlin", logits="none") is None


def test_logits_outlive_session_and_engine_refs(smollm2):
    s = smollm2.session()
    logits = s.feed(PROMPT)
    expected = logits.copy()
    del s
    gc.collect()
    assert np.array_equal(logits, expected), "the array's base keeps the buffer alive"


def test_incremental_equals_one_shot(smollm2):
    ids = smollm2.tokenize("One two three four five six seven")
    a = smollm2.session()
    full = a.feed(ids, logits="all")
    b = smollm2.session()
    rows = [b.feed([t]) for t in ids]
    # one token at a time runs the int8 decode kernels, the prompt the float32 GEMM: see
    # tests/logits_check.py for the tolerance (measured here: <= 0.0019 x std)
    assert_logits_close(np.stack(rows), full, what="token by token vs one shot")


def test_reset_and_tokens(smollm2):
    s = smollm2.session()
    s.feed(PROMPT)
    assert s.tokens == smollm2.tokenize(PROMPT)
    first = s.feed(" Paris").copy()
    s.reset()
    assert len(s) == 0 and s.tokens == []
    s.feed(PROMPT)
    np.testing.assert_allclose(s.feed(" Paris"), first, rtol=1e-5, atol=1e-5)


def test_greedy_generate_matches_argmax(smollm2):
    s = smollm2.session()
    logits = s.feed(PROMPT)
    chunks = list(s.generate(max_tokens=8, temperature=0))
    assert chunks[0].token == int(np.argmax(logits))
    assert len(chunks) == 8 and chunks[-1].finish_reason == "length"
    assert all(c.logprob <= 0 for c in chunks)
    # logprob is log-softmax of the raw logits at the chosen token
    ref = logits[chunks[0].token] - np.log(np.sum(np.exp(logits - logits.max()))) - logits.max()
    assert abs(chunks[0].logprob - ref) < 1e-3
    text = "".join(c.text for c in chunks)
    assert text == smollm2.detokenize([c.token for c in chunks])
    assert s.tokens[-8:] == [c.token for c in chunks]


def test_engine_generate_convenience(smollm2):
    a = smollm2.generate(PROMPT, max_tokens=12, temperature=0)
    s = smollm2.session()
    b = "".join(c.text for c in s.generate(PROMPT, max_tokens=12, temperature=0))
    assert a == b and len(a) > 0


def test_seeded_sampling_is_reproducible(smollm2):
    def run(seed):
        s = smollm2.session()
        return [c.token for c in s.generate(PROMPT, max_tokens=16, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=seed)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_stop_string_not_returned(smollm2):
    s = smollm2.session()
    full = "".join(c.text for c in s.generate(PROMPT, max_tokens=24, temperature=0))
    # pick a stop string from the middle of the greedy text
    stop = full[6:9]
    assert len(stop) == 3
    s2 = smollm2.session()
    chunks = list(s2.generate(PROMPT, max_tokens=24, temperature=0, stop=[stop]))
    text = "".join(c.text for c in chunks)
    assert text == full[: full.index(stop)]
    assert chunks[-1].finish_reason == "stop"


def test_stop_token_ids(smollm2):
    s = smollm2.session()
    toks = [c.token for c in s.generate(PROMPT, max_tokens=10, temperature=0)]
    s2 = smollm2.session()
    chunks = list(s2.generate(PROMPT, max_tokens=10, temperature=0, stop_token_ids=[toks[3]]))
    assert [c.token for c in chunks] == toks[: toks.index(toks[3]) + 1]
    assert chunks[-1].finish_reason == "stop"


def test_end_of_turn_token_stops_generation(smollm2):
    prompt = "<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\n"
    assert smollm2.tokenize(prompt).count(2) == 1, "<|im_end|> written in text is one token"
    s = smollm2.session()
    # make the end-of-turn token win after three tokens of ordinary text
    free = list(s.generate(prompt, max_tokens=3, temperature=0))
    s.reset()
    chunks = list(s.generate(prompt, max_tokens=3, temperature=0)) + list(
        s.generate(max_tokens=50, temperature=0, logit_bias={2: 100.0}))
    assert [c.token for c in chunks[:3]] == [c.token for c in free]
    assert chunks[-1].finish_reason == "stop" and chunks[-1].token == 2 and chunks[-1].text == ""
    assert 2 in smollm2.eos_token_ids
    assert len(chunks) == 4
    # with ignore_eos the same bias keeps going
    more = list(s.generate(max_tokens=3, temperature=0, logit_bias={2: 100.0}, ignore_eos=True))
    assert len(more) == 3 and more[-1].finish_reason == "length"


def test_generate_continues_a_fed_session(smollm2):
    s = smollm2.session()
    s.feed(PROMPT)
    a = [c.token for c in s.generate(max_tokens=5, temperature=0)]
    b = [c.token for c in smollm2.session().generate(PROMPT, max_tokens=5, temperature=0)]
    assert a == b


def test_threads_share_an_engine(smollm2):
    prompts = ["Hello there", "def f(x):", "1, 2, 3,", "The sky is"]
    expected = [smollm2.session().feed(p).copy() for p in prompts]
    results = [None] * len(prompts)
    errors = []

    def work(i):
        try:
            results[i] = smollm2.session().feed(prompts[i])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r, e in zip(results, expected):
        np.testing.assert_allclose(r, e, rtol=1e-5, atol=1e-5)


def test_one_session_two_threads_is_an_error(smollm2):
    s = smollm2.session()
    long_prompt = "word " * 600
    started = threading.Event()
    box = {}

    def work():
        started.set()
        box["r"] = s.feed(long_prompt)

    t = threading.Thread(target=work)
    t.start()
    started.wait()
    time.sleep(0.2)
    with pytest.raises(lanner.SessionBusyError, match="another thread"):
        s.feed("x")
    t.join()
    assert box["r"].shape == (49152,)


def test_gil_released_during_compute(smollm2):
    """A Python thread keeps running while the engine computes."""
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    t = threading.Thread(target=ticker)
    t.start()
    t0 = time.perf_counter()
    smollm2.session().feed(f"{time.time()} " + "word " * 1000)  # a fresh prefix: no cache hit
    elapsed = time.perf_counter() - t0
    done.set()
    t.join()
    assert elapsed > 0.2
    assert len(ticks) > elapsed / 0.005 * 0.3, "the ticker was starved: GIL held during compute"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT via os.kill is POSIX")
def test_ctrl_c_interrupts_feed_and_keeps_session(smollm2):
    s = smollm2.session()
    s.feed("Hello")
    before = s.tokens
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        s.feed("word " * 1500)
    assert time.perf_counter() - t0 < 5
    timer.join()
    assert s.tokens == before, "an interrupted feed leaves the session as it was"
    logits = s.feed(" world")
    ref = smollm2.session()
    ref.feed("Hello")
    np.testing.assert_allclose(logits, ref.feed(" world"), rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT via os.kill is POSIX")
def test_ctrl_c_interrupts_generate(smollm2):
    s = smollm2.session()
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    n = 0
    with pytest.raises(KeyboardInterrupt):
        for _ in s.generate(PROMPT, max_tokens=100000, temperature=0, ignore_eos=True):
            n += 1
    timer.join()
    assert n > 0
    # still usable
    assert s.feed(" and").shape == (49152,)


def test_context_manager(smollm2_path):
    with lanner.Engine(smollm2_path, threads=1, context_length=64) as eng:
        assert not eng.closed
        assert eng.context_length == 64
    assert eng.closed
