"""Hugging Face checkpoint folders: small random models of every supported architecture, made with
transformers by tests/goldens/make_hf_goldens.py, whose logits transformers recorded at every
position of three prompts. lanner loads each folder (safetensors in place, config.json,
tokenizer.json) and must reproduce those logits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import lanner

HF = Path(__file__).parent / "goldens" / "hf"
CASES = sorted(p.name for p in HF.iterdir() if (p / "goldens.json").is_file())


def goldens(name: str) -> dict:
    return json.loads((HF / name / "goldens.json").read_text())


@pytest.mark.parametrize("name", CASES)
def test_logits_match_transformers_at_every_position(name):
    g = goldens(name)
    eng = lanner.Engine(str(HF / name), threads=1)
    for p in g["prompts"]:
        # the tokenizer reproduces transformers' ids (BOS from tokenizer.json's post-processor)
        assert eng.tokenize(p["text"]) == p["ids"], (name, p["text"])
        ours = eng.session().feed(p["ids"], logits="all")
        ref = np.asarray(p["logits"], dtype=np.float32)
        assert ours.shape == ref.shape
        err = np.abs(ours - ref).max() / np.abs(ref).max()
        assert err < 2e-4, f"{name}: relative max error {err:.2e} on {p['text']!r}"
    # greedy continuation of the first prompt
    if "greedy_ids" in g:
        p = g["prompts"][0]
        s = eng.session()
        s.feed(p["ids"])
        out = [c.token for c in s.generate(max_tokens=len(g["greedy_ids"]), temperature=0, ignore_eos=True) if c.token is not None]
        assert out == g["greedy_ids"]


def test_folder_metadata_tokenizer_and_template():
    eng = lanner.Engine(str(HF / "llama"))
    info = eng.info
    assert info["format"] == "huggingface"
    assert info["architecture"] == "llama"
    assert info["n_layer"] == 2 and info["n_embd"] == 64
    assert info["quant_types"] == {"F32": 16}
    # generation_config.json's eos ids [1, 3] both end generation
    assert eng.chat_template and "<|im_start|>" in eng.chat_template
    text = eng.apply_chat_template([{"role": "user", "content": "hi"}])
    assert text.endswith("<|im_start|>assistant\n")


def test_sharded_f16_folder_keeps_weights_mapped():
    eng = lanner.Engine(str(HF / "qwen2_yarn"))
    assert eng.info["quant_types"] == {"F16": 7 * 2 + 2}


@pytest.mark.parametrize("quant,stored,tol", [
    ("q8_0", "Q8_0", 0.03), ("f16", "F16", 0.003), ("q4_0", "Q4_0", 0.25),
    # 64-wide rows are not whole Q4_K blocks: llama.cpp's fallback type, Q5_0
    ("q4_k", "Q5_0", 0.15),
])
def test_quantize_at_load_stays_close_to_the_float_model(quant, stored, tol):
    g = goldens("llama")
    eng = lanner.Engine(str(HF / "llama"), quantize=quant)
    assert eng.info["quantize_seconds"] > 0
    assert set(eng.info["quant_types"]) == {stored}
    p = g["prompts"][2]
    ours = eng.session().feed(p["ids"], logits="all")
    ref = np.asarray(p["logits"], dtype=np.float32)
    err = np.abs(ours - ref).max() / np.abs(ref).max()
    assert err < tol, f"{quant}: {err:.3g}"
    assert err > 0 or quant == "f16"


def test_bad_quantize_argument():
    with pytest.raises(ValueError, match="quantize"):
        lanner.Engine(str(HF / "llama"), quantize="q9_9")


def _copy(tmp_path: Path, name: str = "llama") -> Path:
    dst = tmp_path / name
    shutil.copytree(HF / name, dst)
    return dst


def test_bad_folders_are_model_errors(tmp_path):
    d = _copy(tmp_path)
    (d / "config.json").unlink()
    with pytest.raises(lanner.ModelError, match="config.json"):
        lanner.Engine(str(d))

    d = _copy(tmp_path / "a")
    (d / "config.json").write_text("{not json")
    with pytest.raises(lanner.ModelError, match="config.json is not valid JSON"):
        lanner.Engine(str(d))

    d = _copy(tmp_path / "b")
    cfg = json.loads((d / "config.json").read_text())
    cfg["model_type"] = "mamba"
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(lanner.ModelError, match="unsupported model_type 'mamba'"):
        lanner.Engine(str(d))

    d = _copy(tmp_path / "c")
    cfg = json.loads((d / "config.json").read_text())
    del cfg["hidden_size"]
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(lanner.ModelError, match="hidden_size"):
        lanner.Engine(str(d))

    # a tensor with the wrong shape: the config says more layers' worth of width
    d = _copy(tmp_path / "d")
    cfg = json.loads((d / "config.json").read_text())
    cfg["intermediate_size"] = 256
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(lanner.ModelError, match="ffn_gate.weight.*shape"):
        lanner.Engine(str(d))

    # a missing tensor: more layers than the weights hold
    d = _copy(tmp_path / "e")
    cfg = json.loads((d / "config.json").read_text())
    cfg["num_hidden_layers"] = 3
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(lanner.ModelError, match="missing tensor 'blk.2"):
        lanner.Engine(str(d))

    # a safetensors header that lies about a tensor's size
    d = _copy(tmp_path / "f")
    st = d / "model.safetensors"
    raw = st.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [x * 2 for x in header[name]["shape"]]
    hb = json.dumps(header).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    st.write_bytes(len(hb).to_bytes(8, "little") + hb + raw[8 + n:])
    with pytest.raises(lanner.ModelError, match="model.safetensors"):
        lanner.Engine(str(d))

    # truncated weights
    d = _copy(tmp_path / "g")
    st = d / "model.safetensors"
    st.write_bytes(st.read_bytes()[:-1000])
    with pytest.raises(lanner.ModelError, match="model.safetensors"):
        lanner.Engine(str(d))

    # no weights, no tokenizer
    d = _copy(tmp_path / "h")
    (d / "model.safetensors").unlink()
    with pytest.raises(lanner.ModelError, match="model.safetensors"):
        lanner.Engine(str(d))
    d = _copy(tmp_path / "i")
    (d / "tokenizer.json").unlink()
    with pytest.raises(lanner.ModelError, match="tokenizer.json"):
        lanner.Engine(str(d))


def test_hybrid_recurrent_state_through_every_session_operation(tmp_path):
    """Qwen3.5's linear-attention layers keep a recurrent state per session: feeding in pieces,
    generating after a prompt, reset, fork and save/load must all give transformers' numbers."""
    g = goldens("qwen3_5")
    eng = lanner.Engine(str(HF / "qwen3_5"), threads=1)
    p = g["prompts"][2]
    ids, ref = p["ids"], np.asarray(p["logits"], dtype=np.float32)
    tol = 2e-4 * np.abs(ref).max()

    s = eng.session()
    a = s.feed(ids[:5], logits="all")
    b = s.feed(ids[5:12], logits="all")
    c = s.feed(ids[12:], logits="all")
    assert np.abs(np.concatenate([a, b, c]) - ref).max() < tol

    # fork: each branch continues from the same state without disturbing the other
    f = s.fork()
    x = s.feed([5], logits="last")
    y = f.feed([5], logits="last")
    assert np.array_equal(x, y)
    fresh = eng.session()
    fresh.feed(ids)
    assert np.abs(fresh.feed([5], logits="last") - x).max() < tol

    # save / load carries the state
    path = tmp_path / "s.lkv"
    f.save(path)
    r = eng.load_session(path)
    assert np.abs(r.feed([7], logits="last") - f.feed([7], logits="last")).max() < tol

    # reset starts over
    s.reset()
    assert np.abs(s.feed(ids[:6], logits="all") - ref[:6]).max() < tol

    # greedy generation after a prompt whose logits were already handed out
    g0 = g["prompts"][0]
    s = eng.session()
    s.feed(g0["ids"])
    out = [c.token for c in s.generate(max_tokens=len(g["greedy_ids"]), temperature=0, ignore_eos=True) if c.token is not None]
    assert out == g["greedy_ids"]


def test_generation_config_gives_sampling_defaults(smollm2_path):
    eng = lanner.Engine(str(HF / "llama"))
    d = eng.generation_defaults
    assert d == {"temperature": pytest.approx(0.7), "top_k": 20, "top_p": pytest.approx(0.9)}
    prompt = "Hello"
    implicit = eng.generate(prompt, max_tokens=12, seed=3, ignore_eos=True)
    explicit = eng.generate(prompt, max_tokens=12, seed=3, ignore_eos=True, temperature=0.7, top_k=20, top_p=0.9)
    assert implicit == explicit
    # the caller's arguments win
    assert eng.generate(prompt, max_tokens=12, temperature=0, ignore_eos=True) == \
        eng.generate(prompt, max_tokens=12, temperature=0, top_k=1, ignore_eos=True)
    # a GGUF without general.sampling.* has none
    assert lanner.Engine(str(smollm2_path)).generation_defaults == {}
