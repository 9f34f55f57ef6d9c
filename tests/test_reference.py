"""lanner's logits against the independent numpy reference (tests/reference.py: weights dequantized
with the `gguf` package, plain float32 transformer) at every position of several prompts.

Tolerance and why: with Engine(activations="f32") both compute in float32 from the same
dequantized weights; they differ only in summation order (blocked dot products, f64 vs f32
accumulations), which after 24-30 layers moves logits by ~1e-5 of their spread (measured: <=
2.2e-5). There we require max |diff| <= 5e-4 x std(reference logits) at every position (a wrong op
gives differences of order 1) and the same arg-max wherever the reference's top-2 margin exceeds
that tolerance. The default engine rounds activations to Q8A (16-bit steps) on CPUs with int8
kernels, prompts included: that is checked at tests/logits_check.py's tolerance (0.01 x std;
measured <= 0.0026 x std).
"""

from __future__ import annotations

import gguf
import numpy as np
import pytest

import lanner
from logits_check import DECODE_TOL, assert_logits_close
from reference import ReferenceModel
from tiny_model import write_tiny

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who",
]


_FORWARDS: dict = {}


def _forward(ref, ids):
    """The reference's logits, computed once per (model, prompt). The key holds the model itself
    (an id() could be reused by a later model once this one is freed)."""
    key = (ref, tuple(ids))
    if key not in _FORWARDS:
        _FORWARDS[key] = ref.forward(ids)
    return _FORWARDS[key]


def _check(eng, ref, ids):
    ours = eng.session().feed(ids, logits="all")
    theirs = _forward(ref, ids)
    assert ours.shape == theirs.shape
    rel = 5e-4 if eng.info["activations"] == "f32" else DECODE_TOL
    for pos in range(len(ids)):
        a, b = ours[pos], theirs[pos]
        tol = rel * float(np.std(b))
        err = float(np.max(np.abs(a - b)))
        assert err <= tol, f"position {pos}: max|diff| {err:.3g} > {tol:.3g}"
        top2 = np.sort(b)[-2:]
        if top2[1] - top2[0] > tol:
            assert int(np.argmax(a)) == int(np.argmax(b)), f"arg-max differs at position {pos}"
    return float(np.max(np.abs(ours - theirs)) / np.std(theirs))


@pytest.fixture(scope="module")
def smollm2_ref(smollm2_path):
    return ReferenceModel(str(smollm2_path))


@pytest.fixture(scope="module")
def qwen_ref(qwen_path):
    return ReferenceModel(str(qwen_path))


@pytest.fixture(scope="module")
def gemma3_path():
    return lanner.fetch_model("gemma3-270m")


@pytest.fixture(scope="module")
def gemma3(gemma3_path):
    eng = lanner.Engine(gemma3_path, threads=2, context_length=2048)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def gemma3_f32(gemma3_path):
    eng = lanner.Engine(gemma3_path, threads=2, context_length=2048, activations="f32")
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def gemma3_ref(gemma3_path):
    return ReferenceModel(str(gemma3_path))


@pytest.mark.parametrize("activations", ["f32", "int8"])
@pytest.mark.parametrize("prompt", PROMPTS)
def test_smollm2_matches_reference(smollm2, smollm2_f32, smollm2_ref, prompt, activations):
    eng = smollm2_f32 if activations == "f32" else smollm2
    _check(eng, smollm2_ref, eng.tokenize(prompt))


@pytest.mark.parametrize("activations", ["f32", "int8"])
@pytest.mark.parametrize("prompt", PROMPTS)
def test_qwen2_matches_reference(qwen, qwen_f32, qwen_ref, prompt, activations):
    eng = qwen_f32 if activations == "f32" else qwen
    _check(eng, qwen_ref, eng.tokenize(prompt))


@pytest.mark.parametrize("activations", ["f32", "int8"])
@pytest.mark.parametrize("prompt", PROMPTS)
def test_gemma3_matches_reference(gemma3, gemma3_f32, gemma3_ref, prompt, activations):
    eng = gemma3_f32 if activations == "f32" else gemma3
    _check(eng, gemma3_ref, eng.tokenize(prompt))


@pytest.mark.parametrize("activations", ["f32", "int8"])
def test_gemma3_sliding_window_matches_reference(gemma3, gemma3_f32, gemma3_ref, activations):
    """A prompt longer than the 512-token sliding window, fed in two pieces: the last positions
    see only the window on 5 of every 6 layers. Logits at the last 48 positions (all positions
    of a 262k vocabulary would be 0.6 GB per side)."""
    eng = gemma3_f32 if activations == "f32" else gemma3
    ids = eng.tokenize(" ".join(f"item{i} costs {i * 7 % 13} coins" for i in range(120)))
    assert len(ids) > 600
    ids = ids[:600]
    s = eng.session()
    s.feed(ids[:-48], logits="none")
    ours = s.feed(ids[-48:], logits="all")
    key = (gemma3_ref, "window")
    if key not in _FORWARDS:
        _FORWARDS[key] = gemma3_ref.forward(ids, last=48)
    theirs = _FORWARDS[key]
    assert ours.shape == theirs.shape
    err = np.abs(ours - theirs).max(axis=1) / theirs.std(axis=1)
    rel = 5e-4 if activations == "f32" else DECODE_TOL
    assert err.max() <= rel, f"max|diff|/std {err.max():.3g} at position {len(ids) - 48 + int(err.argmax())}"


@pytest.mark.parametrize("activations", ["f32", "int8"])
def test_chunked_prefill_matches_reference(smollm2, smollm2_f32, smollm2_ref, activations):
    """A prompt longer than one prefill chunk (512 tokens) crosses chunk and KV-block edges."""
    eng = smollm2_f32 if activations == "f32" else smollm2
    ids = eng.tokenize(" ".join(f"item{i}" for i in range(300)))
    assert len(ids) > 600
    _check(eng, smollm2_ref, ids)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("qtype", [Q for Q in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16,
                                              gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0,
                                              gguf.GGMLQuantizationType.Q5_1)])
@pytest.mark.parametrize("activations", ["f32", "int8"])
def test_tiny_random_models(tmp_path, arch, qtype, activations):
    p = write_tiny(tmp_path / "t.gguf", arch=arch, qtype=qtype, tied=(arch == "llama"))
    eng = lanner.Engine(p, threads=2, kv_block_size=4, activations=activations)  # small blocks: many block edges
    ref = ReferenceModel(str(p))
    rng = np.random.default_rng(0)
    ids = [int(i) for i in rng.integers(3, eng.vocab_size, size=37)]
    _check(eng, ref, ids)


TIER_SCRIPT = """
import sys, numpy as np, lanner
eng32 = lanner.Engine(sys.argv[1], threads=2, context_length=512, activations="f32")
eng = lanner.Engine(sys.argv[1], threads=2, context_length=512)
assert lanner.cpu_info()["tier"] == sys.argv[3], (lanner.cpu_info(), sys.argv[3])
ids = eng.tokenize(PROMPT)
np.save(sys.argv[2], eng32.session().feed(ids, logits="all"))
np.save(sys.argv[2].replace(".npy", "_default.npy"), eng.session().feed(ids, logits="all"))
s = eng.session()
np.save(sys.argv[2].replace(".npy", "_decode.npy"), np.stack([s.feed([t]).copy() for t in ids]))
"""


def test_every_cpu_tier_matches_reference(smollm2, smollm2_ref, tmp_path):
    """The same model-level check with LANNER_CPU capping the kernel tier at each tier the
    machine has (scalar references included), float32 activations; and with the default
    activations (int8 where the tier has kernels), the prompt fed at once and one token at a time,
    within tests/logits_check.py's tolerance (measured: <= 0.0026 x std)."""
    import os
    import subprocess
    import sys

    order = ["scalar", "avx2", "avx512", "avx512vnni"] if lanner.cpu_info()["arch"] == "x86_64" else ["scalar", "neon", "neon-dotprod"]
    top = lanner.cpu_info()["detected_tier"]
    tiers = order[: order.index(top) + 1] if top in order else ["scalar"]
    prompt = PROMPTS[1]
    ids = smollm2.tokenize(prompt)
    ref = smollm2_ref.forward(ids)
    for tier in tiers:
        out = tmp_path / f"{tier}.npy"
        env = dict(os.environ, LANNER_CPU=tier)
        script = TIER_SCRIPT.replace("PROMPT", repr(prompt))
        subprocess.run([sys.executable, "-c", script, str(smollm2.info["path"]), str(out), tier], env=env, check=True)
        ours = np.load(out)
        err = np.abs(ours - ref).max(axis=1) / ref.std(axis=1)
        assert err.max() <= 5e-4, f"tier {tier}: max|diff|/std {err.max():.3g}"
        assert (ours.argmax(1) == ref.argmax(1)).all(), f"tier {tier}"
        assert_logits_close(np.load(tmp_path / f"{tier}_default.npy"), ref, what=f"tier {tier}, default activations")
        assert_logits_close(np.load(tmp_path / f"{tier}_decode.npy"), ref, what=f"tier {tier}, token by token")
