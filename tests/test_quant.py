"""lanner's dequantization (the scalar Rust references) against the `gguf` package's, on real
tensors of the three PyPI models and on random blocks of every other supported type."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

import lanner

Q = gguf.GGMLQuantizationType
ROWS = 48  # rows per tensor compared (keeps the test fast; the layout is per block anyway)


def _compare(path, reader_tensor):
    t = reader_tensor
    ours = lanner.read_tensor(path, t.name, max_rows=ROWS)
    ref = gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1, ours.shape[1])[:ROWS]
    assert ours.shape == ref.shape, t.name
    # same arithmetic (f16 scales widened to f32, one multiply-add per value): equal to f32 rounding
    np.testing.assert_allclose(ours, ref.astype(np.float32), rtol=1e-6, atol=1e-6 * (np.abs(ref).max() + 1e-30),
                               err_msg=f"{t.name} ({t.tensor_type.name})")


@pytest.mark.parametrize("model", ["smollm2", "qwen2.5-coder-0.5b", "gemma3-270m"])
def test_real_tensors_every_type(model):
    path = lanner.fetch_model(model)
    r = gguf.GGUFReader(path)
    seen = {}
    for t in r.tensors:
        # the first two tensors of each type, 2-D and 1-D alike
        if seen.get(t.tensor_type, 0) < 2:
            seen[t.tensor_type] = seen.get(t.tensor_type, 0) + 1
            _compare(path, t)
    assert len(seen) >= 3, f"expected several types in {model}: {seen}"


# Random blocks: every byte random except the f16 scales, which are set to sane values so the
# comparison is between finite numbers. (byte offsets of the f16 fields per block)
BLOCK_F16_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}


def _random_blocks(qt, n_blocks, rng):
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    raw = rng.integers(0, 256, size=(n_blocks, ts), dtype=np.uint8)
    for off in BLOCK_F16_FIELDS.get(qt, []):
        scales = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16)
        raw[:, off:off + 2] = scales.view(np.uint8).reshape(n_blocks, 2)
    return raw


@pytest.mark.parametrize("qt", list(BLOCK_F16_FIELDS) + [Q.F16, Q.BF16, Q.F32])
def test_random_blocks_every_type(tmp_path, qt):
    rng = np.random.default_rng(int(qt))
    rows, cols = 8, 512
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    w = gguf.GGUFWriter(str(tmp_path / "r.gguf"), "llama")
    if qt == Q.F32:
        arr = rng.standard_normal((rows, cols)).astype(np.float32)
        w.add_tensor("t", arr)
    elif qt == Q.F16:
        arr = rng.standard_normal((rows, cols)).astype(np.float16)
        w.add_tensor("t", arr)
    elif qt == Q.BF16:
        f = rng.standard_normal((rows, cols)).astype(np.float32)
        raw = (f.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(rows, cols * 2)
        w.add_tensor("t", raw, raw_dtype=qt)
    else:
        raw = _random_blocks(qt, rows * cols // bs, rng).reshape(rows, cols // bs * ts)
        w.add_tensor("t", raw, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    path = tmp_path / "r.gguf"
    t = gguf.GGUFReader(path).tensors[0]
    assert t.tensor_type == qt
    _compare(path, t)
