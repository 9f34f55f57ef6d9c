"""lanner.convert: Hugging Face folders (tests/goldens/hf) written as GGUF files. The converted file,
loaded with the GGUF tokenizer (no tokenizer.json beside it), must give the folder's logits and
token ids; its layout is checked with the `gguf` package, independently of lanner's reader."""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest

import lanner

gguf = pytest.importorskip("gguf")

HF = Path(__file__).parent / "goldens" / "hf"
CASES = sorted(p.name for p in HF.iterdir() if (p / "goldens.json").is_file())
TEXTS = [
    "Hello, world!",
    "I'm 12345 DON'T stop\n\n  x",
    "<|im_start|>user\nhi<|im_end|>\n",
    "  leading spaces, ünïcödé and 日本語",
    "tabs\tand\r\nnewlines 3.14159",
]


def goldens(name: str) -> dict:
    return json.loads((HF / name / "goldens.json").read_text())


def rel_err(a, b) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def read_safetensors_f32(path: Path, name: str) -> np.ndarray:
    """One F32 tensor of a safetensors file (8-byte header length, JSON header, data)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    info = json.loads(raw[8 : 8 + n])[name]
    assert info["dtype"] == "F32"
    start, end = info["data_offsets"]
    return np.frombuffer(raw[8 + n + start : 8 + n + end], dtype=np.float32).reshape(info["shape"])


def fields(reader) -> dict:
    return {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Each folder converted once (unquantized), in a folder of its own without tokenizer.json."""
    out = {}
    for name in CASES:
        dst = tmp_path_factory.mktemp(name) / "model.gguf"
        out[name] = (dst, lanner.convert(HF / name, dst))
    return out


@pytest.mark.parametrize("name", CASES)
def test_converted_file_gives_the_folders_logits_and_tokens(name, converted):
    dst, report = converted[name]
    assert report["tensors"] > 0 and report["bytes"] == os.path.getsize(dst) and report["seconds"] >= 0
    assert report["pre_tokenizer"] == "gpt-2"
    g = goldens(name)
    eng = lanner.Engine(dst, threads=1)
    folder = lanner.Engine(HF / name, threads=1)
    assert eng.info["format"] == "gguf" and eng.info["architecture"] == folder.info["architecture"]
    for p in g["prompts"]:
        assert eng.tokenize(p["text"]) == p["ids"]
        ours = eng.session().feed(p["ids"], logits="all")
        ref = np.asarray(p["logits"], dtype=np.float32)
        assert rel_err(ours, ref) < 2e-4, f"{name}: vs transformers on {p['text']!r}"
        assert rel_err(ours, folder.session().feed(p["ids"], logits="all")) < 2e-4, f"{name}: vs the folder"
    for text in TEXTS:
        for special in (True, False):
            assert eng.tokenize(text, add_special=special) == folder.tokenize(text, add_special=special), text
        ids = folder.tokenize(text)
        assert eng.detokenize(ids) == folder.detokenize(ids)
    assert eng.bos_token_id == folder.bos_token_id
    assert eng.eos_token_ids == folder.eos_token_ids
    assert eng.chat_template == folder.chat_template


@pytest.mark.parametrize("name", CASES)
def test_gguf_package_reads_the_file(name, converted):
    dst, _ = converted[name]
    r = gguf.GGUFReader(dst)
    meta = fields(r)
    assert not [k for k in meta if k.startswith("lanner.")]
    assert meta["general.architecture"] == lanner.Engine(HF / name).info["architecture"]
    n_vocab = next(t for t in r.tensors if t.name == "token_embd.weight").shape[1]
    assert meta["tokenizer.ggml.model"] == "gpt2"
    assert len(meta["tokenizer.ggml.tokens"]) == len(meta["tokenizer.ggml.token_type"]) == n_vocab
    tok = json.loads(meta["tokenizer.huggingface.json"])
    assert meta["tokenizer.huggingface.json"] == (HF / name / "tokenizer.json").read_text()
    for a in tok["added_tokens"]:
        assert meta["tokenizer.ggml.tokens"][a["id"]] == a["content"]
        assert meta["tokenizer.ggml.token_type"][a["id"]] == (3 if a["special"] else 4)
    assert len(meta["tokenizer.ggml.merges"]) == len(tok["model"]["merges"])
    assert meta["tokenizer.ggml.bos_token_id"] == 0 and meta["tokenizer.ggml.eos_token_id"] == 1
    assert meta["tokenizer.ggml.add_bos_token"] is True
    names = [t.name for t in r.tensors]
    assert len(names) == len(set(names))
    assert "token_embd.weight" in names and "output_norm.weight" in names
    for t in r.tensors:
        assert t.name == "rope_freqs.weight" or t.name in ("token_embd.weight", "output.weight", "output_norm.weight") or t.name.startswith("blk."), t.name
        if len(t.shape) == 1:
            assert t.tensor_type == gguf.GGMLQuantizationType.F32, f"{t.name}: vectors are F32 for llama.cpp"
        else:
            assert t.tensor_type in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.BF16)
    assert meta["general.file_type"] in (0, 1, 32)


def test_llama_q_k_rows_are_in_llama_cpp_order(converted):
    dst, _ = converted["llama"]
    r = gguf.GGUFReader(dst)
    meta = fields(r)
    n_head, n_kv = meta["llama.attention.head_count"], meta["llama.attention.head_count_kv"]
    tensors = {t.name: np.asarray(t.data) for t in r.tensors}

    def permute(w, heads):  # llama.cpp's convert_hf_to_gguf.py LlamaModel.permute
        return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    st = HF / "llama" / "model.safetensors"
    for i in range(meta["llama.block_count"]):
        q = read_safetensors_f32(st, f"model.layers.{i}.self_attn.q_proj.weight")
        k = read_safetensors_f32(st, f"model.layers.{i}.self_attn.k_proj.weight")
        v = read_safetensors_f32(st, f"model.layers.{i}.self_attn.v_proj.weight")
        np.testing.assert_array_equal(tensors[f"blk.{i}.attn_q.weight"], permute(q, n_head))
        np.testing.assert_array_equal(tensors[f"blk.{i}.attn_k.weight"], permute(k, n_kv))
        np.testing.assert_array_equal(tensors[f"blk.{i}.attn_v.weight"], v)


def test_llama3_rope_scaling_becomes_rope_freqs(converted):
    dst, _ = converted["llama3_rope"]
    r = gguf.GGUFReader(dst)
    meta = fields(r)
    assert not [k for k in meta if k.startswith("llama.rope.scaling.")]
    freqs = np.asarray(next(t for t in r.tensors if t.name == "rope_freqs.weight").data)
    # transformers' _compute_llama3_parameters, as divisors of the plain inverse frequencies
    s = json.loads((HF / "llama3_rope" / "config.json").read_text())["rope_scaling"]
    dim, base = meta["llama.rope.dimension_count"], meta["llama.rope.freq_base"]
    inv = 1.0 / base ** (np.arange(0, dim, 2) / dim)
    wavelen = 2 * math.pi / inv
    orig, lo, hi, f = s["original_max_position_embeddings"], s["low_freq_factor"], s["high_freq_factor"], s["factor"]
    scaled = np.where(wavelen > orig / lo, inv / f, inv)
    smooth = (orig / wavelen - lo) / (hi - lo)
    medium = (wavelen >= orig / hi) & (wavelen <= orig / lo)
    scaled = np.where(medium, (1 - smooth) * scaled / f + smooth * scaled, scaled)
    np.testing.assert_allclose(freqs, inv / scaled, rtol=1e-5)
    assert len(set(np.round(freqs, 4))) > 2  # the tiny model's context puts frequencies in all three bands


def test_yarn_keys_are_llama_cpp_s(converted):
    meta = fields(gguf.GGUFReader(converted["qwen2_yarn"][0]))
    assert meta["qwen2.rope.scaling.type"] == "yarn"
    assert meta["qwen2.rope.scaling.factor"] == pytest.approx(4.0)
    assert meta["qwen2.rope.scaling.original_context_length"] == 64


def test_quantize_q8_0_stays_close(tmp_path):
    dst = tmp_path / "q8.gguf"
    report = lanner.convert(HF / "llama", dst, quantize="q8_0")
    assert report["file_type"] == 7
    r = gguf.GGUFReader(dst)
    types = {t.name: t.tensor_type for t in r.tensors}
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32
    assert fields(r)["general.quantization_version"] == 2
    eng = lanner.Engine(dst, threads=1)
    assert eng.info["quant_types"] == {"Q8_0": 16}
    folder = lanner.Engine(HF / "llama", threads=1, quantize="q8_0")
    for p in goldens("llama")["prompts"]:
        ours = eng.session().feed(p["ids"], logits="all")
        assert rel_err(ours, np.asarray(p["logits"], dtype=np.float32)) < 0.03
        # the same quantized rows, permuted: the same numbers up to rounding
        assert rel_err(ours, folder.session().feed(p["ids"], logits="all")) < 1e-4


def test_gguf_source_is_rewritten_as_it_is(tmp_path, converted):
    src, _ = converted["qwen3"]
    dst = tmp_path / "again.gguf"
    report = lanner.convert(src, dst)
    assert report["pre_tokenizer"] is None
    assert dst.read_bytes() == src.read_bytes()
    with pytest.raises(ValueError, match="Hugging Face folders"):
        lanner.convert(src, tmp_path / "q.gguf", quantize="q8_0")
    assert sorted(os.listdir(tmp_path)) == ["again.gguf"]


def _folder_with_tokenizer(tmp_path: Path, edit) -> Path:
    """The tiny llama folder with an edited tokenizer.json."""
    d = tmp_path / "folder"
    d.mkdir()
    for f in (HF / "llama").iterdir():
        if f.name != "tokenizer.json":
            (d / f.name).symlink_to(f)
    tok = json.loads((HF / "llama" / "tokenizer.json").read_text())
    edit(tok)
    (d / "tokenizer.json").write_text(json.dumps(tok))
    return d


LLAMA3_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_SPLIT = LLAMA3_SPLIT.replace(r"\p{N}{1,3}", r"\p{N}")


@pytest.mark.parametrize("regex,pre,ignore_merges", [
    (LLAMA3_SPLIT, "llama-bpe", True),
    (QWEN2_SPLIT, "qwen2", False),
    (None, "smollm", False),
    (r"\w+|\s+|[^\w\s]+", "default", False),
])
def test_pre_tokenizer_is_named_from_the_split_rule(tmp_path, regex, pre, ignore_merges):
    def edit(tok):
        byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": regex is None}
        first = (
            {"type": "Digits", "individual_digits": True}
            if regex is None
            else {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}
        )
        tok["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [first, byte_level]}
        tok["model"]["ignore_merges"] = ignore_merges

    src = _folder_with_tokenizer(tmp_path, edit)
    dst = tmp_path / "out" / "model.gguf"
    dst.parent.mkdir()
    assert lanner.convert(src, dst)["pre_tokenizer"] == pre
    if pre == "default":
        return  # a rule neither lanner nor llama.cpp knows: written, tokenization not promised
    eng, folder = lanner.Engine(dst), lanner.Engine(src)
    for text in TEXTS:
        assert eng.tokenize(text) == folder.tokenize(text), (pre, text)


@pytest.mark.parametrize("edit,match", [
    (lambda t: t["model"].update(type="Unigram"), "byte-level BPE.*'Unigram'"),
    (lambda t: t.update(pre_tokenizer={"type": "Metaspace", "replacement": "\u2581"}), "no ByteLevel pre-tokenizer"),
])
def test_other_tokenizers_are_refused_clearly(tmp_path, edit, match):
    src = _folder_with_tokenizer(tmp_path, edit)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(lanner.ModelError, match=match):
        lanner.convert(src, out / "model.gguf")
    assert os.listdir(out) == []


def test_bad_arguments_raise_and_leave_no_file(tmp_path):
    dst = tmp_path / "model.gguf"
    with pytest.raises(lanner.ModelError, match="does not exist"):
        lanner.convert(tmp_path / "missing", dst)
    with pytest.raises(ValueError, match="does not exist"):
        lanner.convert(HF / "llama", tmp_path / "no" / "such" / "dir" / "model.gguf")
    with pytest.raises(ValueError, match="unknown or unsupported type 'q9_9'"):
        lanner.convert(HF / "llama", dst, quantize="q9_9")
    with pytest.raises(ValueError, match="is a directory"):
        lanner.convert(HF / "llama", tmp_path)
    with pytest.raises(lanner.ModelError, match="config.json"):
        lanner.convert(tmp_path, dst)  # a folder, but not a checkpoint
    assert os.listdir(tmp_path) == []
