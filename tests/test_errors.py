"""Bad model files raise lanner.ModelError (a ValueError) naming the file and the problem.

Every file here is made or corrupted by the test itself; none may crash, abort or hang.
"""

from __future__ import annotations

import os
import struct

import gguf
import numpy as np
import pytest

import lanner
from tiny_model import write_tiny


@pytest.fixture()
def tiny(tmp_path):
    return write_tiny(tmp_path / "tiny.gguf")


def load(path):
    return lanner.Engine(path, threads=1)


def expect_model_error(path, *words):
    with pytest.raises(lanner.ModelError) as ei:
        load(path)
    msg = str(ei.value)
    assert str(path) in msg, f"message should name the file: {msg}"
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    return msg


def test_model_error_is_value_error():
    assert issubclass(lanner.ModelError, ValueError)


def test_tiny_model_loads(tiny):
    eng = load(tiny)
    assert eng.info["architecture"] == "llama"
    assert eng.info["n_layer"] == 2


def test_missing_file(tmp_path):
    expect_model_error(tmp_path / "nope.gguf", "cannot open")


def test_directory_is_not_a_model(tmp_path):
    expect_model_error(tmp_path, "directory")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.gguf"
    p.write_bytes(b"")
    expect_model_error(p, "empty")


def test_wrong_magic(tiny):
    data = bytearray(tiny.read_bytes())
    data[0:4] = b"GGML"
    tiny.write_bytes(data)
    expect_model_error(tiny, "not a GGUF file")


@pytest.mark.parametrize("version", [1, 4, 0xFFFFFFFF])
def test_unsupported_version(tiny, version):
    data = bytearray(tiny.read_bytes())
    data[4:8] = struct.pack("<I", version)
    tiny.write_bytes(data)
    expect_model_error(tiny, f"unsupported GGUF version {version}")


def test_truncated_everywhere(tiny, tmp_path):
    data = tiny.read_bytes()
    cuts = sorted({1, 4, 7, 12, 20, 24, 100, 1000, len(data) // 3, len(data) // 2, len(data) - 1})
    for cut in cuts:
        p = tmp_path / f"cut{cut}.gguf"
        p.write_bytes(data[:cut])
        expect_model_error(p)


def test_tensor_data_past_end(tiny):
    data = tiny.read_bytes()
    tiny.write_bytes(data[:-16])
    expect_model_error(tiny, "runs past the end of the file")


def _patch_tensor_type(path, name: str, new_type: int):
    data = bytearray(path.read_bytes())
    key = struct.pack("<Q", len(name)) + name.encode()
    i = data.find(key)
    assert i > 0
    j = i + len(key)
    (n_dims,) = struct.unpack_from("<I", data, j)
    type_at = j + 4 + 8 * n_dims
    struct.pack_into("<I", data, type_at, new_type)
    path.write_bytes(data)


def test_unknown_tensor_type(tiny):
    _patch_tensor_type(tiny, "blk.0.attn_q.weight", 99)
    expect_model_error(tiny, "blk.0.attn_q.weight", "unknown or unsupported tensor type 99")


def test_missing_tensor(tmp_path):
    p = write_tiny(tmp_path / "m.gguf", skip=("blk.1.ffn_up.weight",))
    expect_model_error(p, "missing tensor 'blk.1.ffn_up.weight'")


def test_shape_disagrees_with_metadata(tmp_path):
    p = write_tiny(tmp_path / "s.gguf", shape_override={"blk.0.attn_k.weight": (48, 64)})
    expect_model_error(p, "blk.0.attn_k.weight", "metadata implies")


def test_unknown_architecture(tmp_path):
    p = write_tiny(tmp_path / "a.gguf", arch="mamba9")
    expect_model_error(p, "unknown architecture 'mamba9'")


def test_random_corruption_never_crashes(tiny, tmp_path):
    """Flip bytes in the header region: every outcome is a clean load or a ModelError."""
    data = tiny.read_bytes()
    rng = np.random.default_rng(1234)
    header_len = min(len(data), 12000)
    for k in range(60):
        b = bytearray(data)
        for _ in range(4):
            b[int(rng.integers(0, header_len))] = int(rng.integers(0, 256))
        p = tmp_path / f"r{k}.gguf"
        p.write_bytes(b)
        try:
            eng = load(p)
        except (lanner.ModelError, ValueError):
            continue
        eng.close()
        os.remove(p)


def test_bad_arguments(tiny):
    with pytest.raises(ValueError, match="threads"):
        lanner.Engine(tiny, threads=0)
    with pytest.raises(ValueError, match="context_length"):
        lanner.Engine(tiny, context_length=0)
    with pytest.raises(ValueError, match='activations must be "int8" or "f32"'):
        lanner.Engine(tiny, activations="int4")
    assert lanner.Engine(tiny, activations="f32").info["activations"] == "f32"
    eng = load(tiny)
    s = eng.session()
    with pytest.raises(ValueError, match="logits"):
        s.feed("hi", logits="some")
    with pytest.raises(ValueError, match="empty"):
        s.feed([])
    with pytest.raises(ValueError, match="out of range"):
        s.feed([10**6])
    with pytest.raises(ValueError, match="temperature"):
        s.generate("hi", temperature=-1.0)
    with pytest.raises(TypeError):
        s.feed(3.5)
    assert len(s) == 0, "failed calls leave the session untouched"


def test_context_overflow(tmp_path):
    p = write_tiny(tmp_path / "c.gguf")
    eng = lanner.Engine(p, threads=1, context_length=8)
    s = eng.session()
    s.feed(list(range(5, 11)))
    with pytest.raises(lanner.ContextOverflowError, match="exceeds the context length 8"):
        s.feed(list(range(5, 10)))
    assert len(s) == 6
    s.feed([5, 6])  # exactly full is fine
    assert len(s) == 8


def test_kv_cache_full_is_clear_and_recoverable(tmp_path):
    p = write_tiny(tmp_path / "k.gguf")
    eng = lanner.Engine(p, threads=1, context_length=64, kv_cache_tokens=32, kv_block_size=16)
    a, b = eng.session(), eng.session()
    a.feed(list(range(5, 25)))  # 20 tokens: 2 blocks, the whole pool
    with pytest.raises(lanner.KVCacheFullError):
        b.feed(list(range(5, 10)))
    assert len(b) == 0
    a.reset()
    b.feed(list(range(5, 10)))  # blocks came back
    assert len(b) == 5


def test_closed_engine(tiny):
    eng = load(tiny)
    s = eng.session()
    eng.close()
    assert eng.closed
    with pytest.raises(lanner.EngineClosedError):
        eng.tokenize("x")
    with pytest.raises(lanner.EngineClosedError):
        s.feed("x")


def test_quantized_tiny_model_loads(tmp_path):
    for qt in (gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0, gguf.GGMLQuantizationType.F16):
        p = write_tiny(tmp_path / f"q{qt.name}.gguf", qtype=qt)
        eng = load(p)
        assert qt.name in eng.info["quant_types"]


def test_impossible_kv_cache_is_an_error_not_an_abort(tiny):
    with pytest.raises(lanner.KVCacheFullError, match="kv_cache_tokens"):
        lanner.Engine(tiny, threads=1, context_length=2**62)
    with pytest.raises(lanner.KVCacheFullError):
        lanner.Engine(tiny, threads=1, kv_cache_tokens=2**50)
