"""Qwen3.5 GGUF files as llama.cpp writes them. tests/goldens/qwen3_5_llamacpp.gguf is the tiny random
Qwen3.5 folder (tests/goldens/hf/qwen3_5) converted by llama.cpp's own convert_hf_to_gguf.py
(tests/goldens/make_qwen35_gguf.py); lanner must reproduce the transformers logits recorded for the
folder from it, and lanner.convert must write the same tensors and qwen35.* keys, so that files made
by either load in both engines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import lanner

gguf = pytest.importorskip("gguf")

GOLDENS = Path(__file__).parent / "goldens"
FOLDER = GOLDENS / "hf" / "qwen3_5"
LLAMACPP = GOLDENS / "qwen3_5_llamacpp.gguf"
G = json.loads((FOLDER / "goldens.json").read_text())


def rel_err(a, b) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def check_logits(path, tol=2e-4):
    eng = lanner.Engine(path, threads=1)
    assert eng.info["architecture"] == "qwen35"
    for p in G["prompts"]:
        assert eng.tokenize(p["text"]) == p["ids"], p["text"]
        ours = eng.session().feed(p["ids"], logits="all")
        ref = np.asarray(p["logits"], dtype=np.float32)
        assert ours.shape == ref.shape
        assert rel_err(ours, ref) < tol, f"{path}: {rel_err(ours, ref):.2e} on {p['text']!r}"
    return eng


def tensors(path) -> dict:
    return {t.name: t for t in gguf.GGUFReader(path).tensors}


def arch_keys(path) -> dict:
    r = gguf.GGUFReader(path)
    return {k: (f.contents(), [t.name for t in f.types]) for k, f in r.fields.items() if k.startswith("qwen35.")}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    dst = tmp_path_factory.mktemp("qwen35") / "model.gguf"
    lanner.convert(FOLDER, dst)
    return dst


def test_llamacpp_file_matches_transformers_at_every_position():
    eng = check_logits(LLAMACPP)
    assert eng.info["quant_types"] == {"BF16": 32}
    p = G["prompts"][0]
    s = eng.session()
    s.feed(p["ids"])
    out = [c.token for c in s.generate(max_tokens=len(G["greedy_ids"]), temperature=0, ignore_eos=True) if c.token is not None]
    assert out == G["greedy_ids"]


def test_llamacpp_file_and_folder_give_the_same_logits():
    a, b = lanner.Engine(LLAMACPP, threads=1), lanner.Engine(FOLDER, threads=1)
    for p in G["prompts"]:
        x, y = a.session().feed(p["ids"], logits="all"), b.session().feed(p["ids"], logits="all")
        assert rel_err(x, y) < 1e-5


def test_convert_writes_llamacpps_tensors_and_keys(converted):
    ours, theirs = tensors(converted), tensors(LLAMACPP)
    assert sorted(ours) == sorted(theirs)
    for name, t in theirs.items():
        o = ours[name]
        assert (o.tensor_type, list(o.shape)) == (t.tensor_type, list(t.shape)), name
        # same bits: -exp(A_log), the +1 norms, the tiled value heads, F32 conv kernels
        assert np.array_equal(np.asarray(o.data).view(np.uint8), np.asarray(t.data).view(np.uint8)), name
    assert arch_keys(converted) == arch_keys(LLAMACPP)
    check_logits(converted)


def test_rewriting_the_llamacpp_file_keeps_it(tmp_path):
    dst = tmp_path / "again.gguf"
    lanner.convert(LLAMACPP, dst)
    assert arch_keys(dst) == arch_keys(LLAMACPP)
    for name, t in tensors(LLAMACPP).items():
        assert np.array_equal(lanner.read_tensor(dst, name), lanner.read_tensor(LLAMACPP, name)), name
    check_logits(dst)


def test_quantized_conversion_keeps_conv_kernels_f32(tmp_path):
    # llama.cpp's convolution takes only F32 kernels
    for q, tol in (("f16", 3e-3), ("q8_0", 0.2)):
        dst = tmp_path / f"{q}.gguf"
        lanner.convert(FOLDER, dst, quantize=q)
        ts = tensors(dst)
        assert {ts[f"blk.{i}.ssm_conv1d.weight"].tensor_type for i in range(3)} == {gguf.GGMLQuantizationType.F32}
        check_logits(dst, tol)


def rewrite(src: Path, dst: Path, drop=(), set_keys=None, extra_tensors=None):
    """Copy a GGUF file with gguf's writer, dropping or setting keys and adding tensors."""
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(dst, "qwen35")
    set_keys = set_keys or {}
    for k, f in r.fields.items():
        if k.startswith("GGUF.") or k == "general.architecture" or k in drop or k in set_keys:
            continue
        sub = f.types[1] if len(f.types) > 1 else None
        w.add_key_value(k, f.contents(), f.types[0], sub_type=sub)
    for k, (v, vtype, sub) in set_keys.items():
        w.add_key_value(k, v, vtype, sub_type=sub)
    for t in r.tensors:
        w.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    for name, data in (extra_tensors or {}).items():
        w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_layer_kinds_from_the_full_attention_interval(tmp_path):
    # without recurrent_layers, llama.cpp makes every full_attention_interval-th layer attention
    dst = tmp_path / "interval.gguf"
    rewrite(LLAMACPP, dst, drop={"qwen35.attention.recurrent_layers"})
    check_logits(dst)


def test_folder_without_layer_types_uses_the_interval(tmp_path):
    # transformers' default: every 4th layer is full attention (the toy model's own layout)
    folder = tmp_path / "qwen3_5"
    shutil.copytree(FOLDER, folder)
    config = json.loads((folder / "config.json").read_text())
    del config["layer_types"]
    config["full_attention_interval"] = 4
    (folder / "config.json").write_text(json.dumps(config))
    check_logits(folder)
    dst = tmp_path / "model.gguf"
    lanner.convert(folder, dst)
    assert arch_keys(dst) == arch_keys(LLAMACPP)


def test_multi_token_prediction_blocks_are_not_run(tmp_path):
    # convert_hf_to_gguf.py without --no-mtp counts the MTP block in block_count, marks it
    # non-recurrent and names it in nextn_predict_layers
    V = gguf.GGUFValueType
    dst = tmp_path / "mtp.gguf"
    extra = {"blk.4.nextn.eh_proj.weight": np.zeros((64, 128), np.float32),
             "blk.4.attn_norm.weight": np.ones(64, np.float32)}
    rewrite(LLAMACPP, dst, set_keys={
        "qwen35.block_count": (5, V.UINT32, None),
        "qwen35.nextn_predict_layers": (1, V.UINT32, None),
        "qwen35.attention.recurrent_layers": ([True, True, True, False, False], V.ARRAY, V.BOOL),
    }, extra_tensors=extra)
    eng = check_logits(dst)
    assert eng.info["n_layer"] == 4


def test_raw_a_log_is_refused(tmp_path):
    # a file holding A_log itself (positive here) instead of -exp(A_log) is not silently wrong
    dst = tmp_path / "raw.gguf"
    r = gguf.GGUFReader(LLAMACPP)
    w = gguf.GGUFWriter(dst, "qwen35")
    for k, f in r.fields.items():
        if not k.startswith("GGUF.") and k != "general.architecture":
            w.add_key_value(k, f.contents(), f.types[0], sub_type=f.types[1] if len(f.types) > 1 else None)
    for t in r.tensors:
        data = np.asarray(t.data)
        if t.name == "blk.0.ssm_a":
            data = np.log(-data).astype(np.float32)
        w.add_tensor(t.name, data, raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(lanner.ModelError, match="ssm_a"):
        lanner.Engine(dst)


def test_llamacpp_runs_lanners_conversion(tmp_path):
    """Optional: llama.cpp itself (llama-cpp-python) runs lanner's F32 conversion and gives the
    transformers logits (its KV cache is F16, hence the tolerance)."""
    llama_cpp = pytest.importorskip("llama_cpp")
    dst = tmp_path / "f32.gguf"
    lanner.convert(FOLDER, dst, quantize="f32")
    try:
        m = llama_cpp.Llama(str(dst), logits_all=True, n_ctx=256, n_threads=1, verbose=False)
    except ValueError as e:  # a llama.cpp too old to know qwen35
        pytest.skip(f"llama.cpp cannot load qwen35: {e}")
    for p in G["prompts"]:
        m.reset()
        m.eval(p["ids"])
        ours = np.array(m.scores[: len(p["ids"])], dtype=np.float32)
        assert rel_err(ours, np.asarray(p["logits"], dtype=np.float32)) < 1e-3
    m.close()
