#!/usr/bin/env python3
"""GPU speed check of cuda/*.cu, every timed result checked against numpy (a wrong fast kernel
is worse than a slow one). Needs only numpy, libcuda (driver) and nvcc (or libnvrtc).

  python3 bench/cuda_kernels_bench.py [--quick] [--tests] [--compiler nvrtc]

Prints matvec GB/s at n_tok = 1 per weight type (4096x4096, 14336x4096, and 128256x4096 bf16; for
f32/f16/bf16 also 1024x4096 and 4096x14336, each beside matvec2 on the same weights),
attention_split + combine on 8192 keys, and the prefill kernels (attn_gather_q / _kv, attn_softmax,
attn_scatter_out), then a markdown table. --tests first runs every kernel test (the suite of the
CPU-emulator harness, at full size). Exit status 1 if any check fails. Copied from the kernel test
harness (its numpy decoders are ports of src/quant, checked bit for bit against the Rust code).
"""
import argparse, ctypes, glob, math, os, re, shutil, subprocess, sys, tempfile, time
import numpy as np

def _find_root():
    if os.environ.get("LANNER_ROOT"):
        return os.environ["LANNER_ROOT"]
    d = os.path.dirname(os.path.abspath(__file__))
    for _ in range(4):  # the repository that holds cuda/common.cuh, at or above this file, or the cwd
        if os.path.exists(os.path.join(d, "cuda", "common.cuh")):
            return d
        d = os.path.dirname(d)
    return os.getcwd()


ROOT = _find_root()
F32, U8, U16, I32 = np.float32, np.uint8, np.uint16, np.int32

# ---------------------------------------------------------------------------------------------------
# numpy ports of the Rust reference decoders (blocks: uint8 [B, TS] -> float32 [B, QK])


def f16(b, off):
    return b[:, off:off + 2].copy().view("<f2")[:, 0].astype(F32)


def dq_q4_0(b):
    d = f16(b, 0)[:, None]
    qs = b[:, 2:18].astype(np.int32)
    return np.concatenate([((qs & 15) - 8).astype(F32) * d, ((qs >> 4) - 8).astype(F32) * d], 1)


def dq_q4_1(b):
    d, m = f16(b, 0)[:, None], f16(b, 2)[:, None]
    qs = b[:, 4:20].astype(np.int32)
    return np.concatenate([(qs & 15).astype(F32) * d + m, (qs >> 4).astype(F32) * d + m], 1)


def qh32(b, off):
    return b[:, off:off + 4].copy().view("<u4")[:, 0].astype(np.int64)


def dq_q5_0(b):
    d = f16(b, 0)[:, None]
    qh = qh32(b, 2)[:, None]
    qs = b[:, 6:22].astype(np.int64)
    j = np.arange(16)[None, :]
    h0, h1 = ((qh >> j) & 1) << 4, ((qh >> (j + 16)) & 1) << 4
    return np.concatenate([(((qs & 15) | h0) - 16).astype(F32) * d, (((qs >> 4) | h1) - 16).astype(F32) * d], 1)


def dq_q5_1(b):
    d, m = f16(b, 0)[:, None], f16(b, 2)[:, None]
    qh = qh32(b, 4)[:, None]
    qs = b[:, 8:24].astype(np.int64)
    j = np.arange(16)[None, :]
    h0, h1 = ((qh >> j) & 1) << 4, ((qh >> (j + 16)) & 1) << 4
    return np.concatenate([((qs & 15) | h0).astype(F32) * d + m, ((qs >> 4) | h1).astype(F32) * d + m], 1)


def dq_q8_0(b):
    return b[:, 2:34].view(np.int8).astype(F32) * f16(b, 0)[:, None]


def dq_q2_k(b):
    B = b.shape[0]
    scales, qs = b[:, 0:16].astype(np.int32), b[:, 16:80].astype(np.int32)
    d, dmin = f16(b, 80), f16(b, 82)
    y = np.empty((B, 256), F32)
    i = out = 0
    for half in range(2):
        q = qs[:, half * 32:half * 32 + 32]
        for shift in (0, 2, 4, 6):
            for part in range(2):
                sc = scales[:, i]
                i += 1
                dl, ml = d * (sc & 15).astype(F32), dmin * (sc >> 4).astype(F32)
                y[:, out:out + 16] = dl[:, None] * ((q[:, part * 16:part * 16 + 16] >> shift) & 3).astype(F32) - ml[:, None]
                out += 16
    return y


def q3_scales(s):
    out = np.empty((s.shape[0], 16), np.int32)
    for j in range(16):
        low = (s[:, j] & 15) if j < 8 else (s[:, j - 8] >> 4)
        high = (s[:, 8 + j % 4] >> (2 * (j // 4))) & 3
        out[:, j] = (low | (high << 4)) - 32
    return out


def dq_q3_k(b):
    B = b.shape[0]
    hmask, qs = b[:, 0:32].astype(np.int32), b[:, 32:96].astype(np.int32)
    scales = q3_scales(b[:, 96:108].astype(np.int32))
    d = f16(b, 108)
    y = np.empty((B, 256), F32)
    i = out = 0
    m = 1
    for half in range(2):
        q = qs[:, half * 32:half * 32 + 32]
        for shift in (0, 2, 4, 6):
            for part in range(2):
                dl = d * scales[:, i].astype(F32)
                i += 1
                sl = slice(part * 16, part * 16 + 16)
                v = ((q[:, sl] >> shift) & 3) - np.where(hmask[:, sl] & m, 0, 4)
                y[:, out:out + 16] = dl[:, None] * v.astype(F32)
                out += 16
            m <<= 1
    return y


def scale_min_k4(j, q):
    if j < 4:
        return q[:, j] & 63, q[:, j + 4] & 63
    return (q[:, j + 4] & 15) | ((q[:, j - 4] >> 6) << 4), (q[:, j + 4] >> 4) | ((q[:, j] >> 6) << 4)


def dq_q4_k(b):
    B = b.shape[0]
    d, dmin = f16(b, 0), f16(b, 2)
    sc, qs = b[:, 4:16].astype(np.int32), b[:, 16:144].astype(np.int32)
    y = np.empty((B, 256), F32)
    for c in range(4):
        s1, m1 = scale_min_k4(2 * c, sc)
        s2, m2 = scale_min_k4(2 * c + 1, sc)
        d1, mm1, d2, mm2 = d * s1.astype(F32), dmin * m1.astype(F32), d * s2.astype(F32), dmin * m2.astype(F32)
        q = qs[:, 32 * c:32 * c + 32]
        y[:, 64 * c:64 * c + 32] = d1[:, None] * (q & 15).astype(F32) - mm1[:, None]
        y[:, 64 * c + 32:64 * c + 64] = d2[:, None] * (q >> 4).astype(F32) - mm2[:, None]
    return y


def dq_q5_k(b):
    B = b.shape[0]
    d, dmin = f16(b, 0), f16(b, 2)
    sc, qh, qs = b[:, 4:16].astype(np.int32), b[:, 16:48].astype(np.int32), b[:, 48:176].astype(np.int32)
    y = np.empty((B, 256), F32)
    for c in range(4):
        s1, m1 = scale_min_k4(2 * c, sc)
        s2, m2 = scale_min_k4(2 * c + 1, sc)
        d1, mm1, d2, mm2 = d * s1.astype(F32), dmin * m1.astype(F32), d * s2.astype(F32), dmin * m2.astype(F32)
        u1, u2 = 1 << (2 * c), 2 << (2 * c)
        q = qs[:, 32 * c:32 * c + 32]
        h1, h2 = np.where(qh & u1, 16, 0), np.where(qh & u2, 16, 0)
        y[:, 64 * c:64 * c + 32] = d1[:, None] * ((q & 15) + h1).astype(F32) - mm1[:, None]
        y[:, 64 * c + 32:64 * c + 64] = d2[:, None] * ((q >> 4) + h2).astype(F32) - mm2[:, None]
    return y


def dq_q6_k(b):
    B = b.shape[0]
    d = f16(b, 208)
    y = np.empty((B, 256), F32)
    for h in range(2):
        ql = b[:, 64 * h:64 * h + 64].astype(np.int32)
        qh = b[:, 128 + 32 * h:128 + 32 * h + 32].astype(np.int32)
        sc = b[:, 192 + 8 * h:192 + 8 * h + 8].view(np.int8).astype(F32)
        l = np.arange(32)
        isx = l // 16
        q1 = ((ql[:, l] & 15) | ((qh[:, l] & 3) << 4)) - 32
        q2 = ((ql[:, l + 32] & 15) | (((qh[:, l] >> 2) & 3) << 4)) - 32
        q3 = ((ql[:, l] >> 4) | (((qh[:, l] >> 4) & 3) << 4)) - 32
        q4 = ((ql[:, l + 32] >> 4) | (((qh[:, l] >> 6) & 3) << 4)) - 32
        base = 128 * h
        y[:, base + l] = d[:, None] * sc[:, isx] * q1.astype(F32)
        y[:, base + 32 + l] = d[:, None] * sc[:, isx + 2] * q2.astype(F32)
        y[:, base + 64 + l] = d[:, None] * sc[:, isx + 4] * q3.astype(F32)
        y[:, base + 96 + l] = d[:, None] * sc[:, isx + 6] * q4.astype(F32)
    return y


# name: (block values, block bytes, decoder, offsets of f16 scale fields)
QTYPES = {
    "q4_0": (32, 18, dq_q4_0, [0]),
    "q4_1": (32, 20, dq_q4_1, [0, 2]),
    "q5_0": (32, 22, dq_q5_0, [0]),
    "q5_1": (32, 24, dq_q5_1, [0, 2]),
    "q8_0": (32, 34, dq_q8_0, [0]),
    "q2_k": (256, 84, dq_q2_k, [80, 82]),
    "q3_k": (256, 110, dq_q3_k, [108]),
    "q4_k": (256, 144, dq_q4_k, [0, 2]),
    "q5_k": (256, 176, dq_q5_k, [0, 2]),
    "q6_k": (256, 210, dq_q6_k, [208]),
}
FTYPES = {"f32": 4, "f16": 2, "bf16": 2}
ALL_TYPES = ["f32", "f16", "bf16"] + list(QTYPES)


def rand_bytes(rng, ty, rows, cols):
    """Random row bytes [rows, row_bytes] of type ty (f16 scale fields kept finite and small)."""
    if ty in FTYPES:
        return rng.integers(0, 256, (rows, cols * FTYPES[ty]), dtype=U8)
    qk, ts, dec, scl = QTYPES[ty]
    nb = rows * cols // qk
    b = rng.integers(0, 256, (nb, ts), dtype=U8)
    for off in scl:  # sane f16 scales (random bits would give inf / NaN)
        b[:, off:off + 2] = (rng.uniform(0.001, 0.05, nb) * rng.choice([-1, 1], nb)).astype(np.float16).view(U8).reshape(nb, 2)
    return b.reshape(rows, -1)


def rand_weights(rng, ty, rows, cols):
    """Random row bytes [rows, row_bytes] of type ty and their exact f32 values [rows, cols]."""
    if ty in FTYPES:
        w = rng.standard_normal((rows, cols)).astype(F32)
        if ty == "f32":
            return w.view(U8).reshape(rows, -1).copy(), w
        if ty == "f16":
            h = w.astype(np.float16)
            return h.view(U8).reshape(rows, -1).copy(), h.astype(F32)
        u = w.view(np.uint32) >> 16
        u = u.astype(U16)
        return u.view(U8).reshape(rows, -1).copy(), (u.astype(np.uint32) << 16).view(F32)
    b = rand_bytes(rng, ty, rows, cols)
    qk, ts, dec, _ = QTYPES[ty]
    return b, dec(b.reshape(-1, ts)).reshape(rows, cols)


def bf16_bits(x):
    u = np.ascontiguousarray(x, F32).view(np.uint32).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF
    return np.where(nan, (u >> 16) | 0x40, r).astype(U16)


# ---------------------------------------------------------------------------------------------------
# backends


def pasted_sources():
    common = open(os.path.join(ROOT, "cuda", "common.cuh")).read()
    out = {}
    for f in sorted(glob.glob(os.path.join(ROOT, "cuda", "*.cu"))):
        src = open(f).read()
        assert src.count('#include "common.cuh"') == 1, f
        out[os.path.basename(f)[:-3]] = src.replace('#include "common.cuh"', common)
    return out


def find_nvcc():
    for c in [os.environ.get("NVCC"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"]:
        if c and os.path.exists(c):
            return c
    return None


def nvrtc_ptx(name, src):
    cands = []
    try:
        import nvidia.cuda_nvrtc as m
        for p in m.__path__:
            cands += glob.glob(os.path.join(p, "lib", "libnvrtc.so*"))
    except ImportError:
        pass
    try:
        import nvidia
        for p in nvidia.__path__:
            cands += glob.glob(os.path.join(p, "*", "lib", "libnvrtc.so*"))
    except ImportError:
        pass
    cands += ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"] + sorted(glob.glob("/usr/local/cuda*/lib64/libnvrtc.so*"))
    lib = None
    for c in cands:
        if "builtins" in c:
            continue
        try:
            lib = ctypes.CDLL(c)
            break
        except OSError:
            pass
    assert lib is not None, "no libnvrtc"
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), src.encode(), (name + ".cu").encode(), 0, None, None) == 0
    opts = (ctypes.c_char_p * 1)(b"--gpu-architecture=compute_80")
    r = lib.nvrtcCompileProgram(prog, 1, opts)
    n = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
    log = ctypes.create_string_buffer(n.value)
    lib.nvrtcGetProgramLog(prog, log)
    assert r == 0, f"NVRTC failed on {name}: {log.value.decode()}"
    lib.nvrtcGetPTXSize(prog, ctypes.byref(n))
    buf = ctypes.create_string_buffer(n.value)
    lib.nvrtcGetPTX(prog, buf)
    return buf.value.decode()


def compile_ptx(compiler):
    from concurrent.futures import ThreadPoolExecutor
    nvcc = find_nvcc() if compiler != "nvrtc" else None
    with tempfile.TemporaryDirectory() as td:
        def one(item):
            name, src = item
            if nvcc:
                p = os.path.join(td, name + ".cu")
                open(p, "w").write(src)
                subprocess.run([nvcc, "-arch=compute_80", "--ptx", "-O3", "-o", p + ".ptx", p], check=True)
                return name, open(p + ".ptx").read()
            return name, nvrtc_ptx(name, src)
        with ThreadPoolExecutor(8) as ex:
            out = dict(ex.map(one, pasted_sources().items()))
    print(f"compiled {len(out)} files with {nvcc or 'NVRTC'}")
    return out


class Arg:
    def __init__(self, ct, v):
        self.ct, self.v = ct, v


def P(v):
    return Arg(ctypes.c_uint64, v)


def I(v):
    return Arg(ctypes.c_int32, v)


def L(v):
    return Arg(ctypes.c_int64, v)


def F(v):
    return Arg(ctypes.c_float, v)


def U64(v):
    return Arg(ctypes.c_uint64, v)


class CudaBackend:
    name = "cuda"

    def __init__(self, ptx):
        cu = self.cu = ctypes.CDLL("libcuda.so.1")
        self.chk(cu.cuInit(0))
        dev = ctypes.c_int()
        self.chk(cu.cuDeviceGet(ctypes.byref(dev), 0))
        ctx = ctypes.c_void_p()
        self.chk(cu.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev))
        self.chk(cu.cuCtxSetCurrent(ctx))
        self.funcs = {}
        for name, text in ptx.items():
            mod = ctypes.c_void_p()
            self.chk(cu.cuModuleLoadData(ctypes.byref(mod), ctypes.c_char_p(text.encode())), f"load {name}")
            for e in re.findall(r"\.visible \.entry (\w+)\(", text):
                f = ctypes.c_void_p()
                self.chk(cu.cuModuleGetFunction(ctypes.byref(f), mod, e.encode()))
                self.funcs[e] = f
        self.ptrs = []

    def chk(self, r, what=""):
        if r != 0:
            s = ctypes.c_char_p()
            self.cu.cuGetErrorString(r, ctypes.byref(s))
            raise RuntimeError(f"CUDA error {r} {s.value} {what}")

    def alloc(self, nbytes):
        p = ctypes.c_uint64()
        self.chk(self.cu.cuMemAlloc_v2(ctypes.byref(p), ctypes.c_size_t(max(nbytes, 16) + 512)))
        self.ptrs.append(p.value)
        return p.value

    def upload(self, a, offset=0):
        a = np.ascontiguousarray(a)
        p = self.alloc(a.nbytes + offset) + offset
        self.chk(self.cu.cuMemcpyHtoD_v2(ctypes.c_uint64(p), a.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(a.nbytes)))
        return p

    def download(self, ptr, shape, dtype):
        out = np.empty(shape, dtype)
        self.sync()
        self.chk(self.cu.cuMemcpyDtoH_v2(out.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint64(ptr), ctypes.c_size_t(out.nbytes)))
        return out

    def launch(self, name, grid, block, args):
        vals = [a.ct(a.v) for a in args]
        params = (ctypes.c_void_p * len(vals))(*[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in vals])
        self.chk(self.cu.cuLaunchKernel(self.funcs[name], *[ctypes.c_uint(x) for x in grid], *[ctypes.c_uint(x) for x in block],
                                        ctypes.c_uint(0), ctypes.c_void_p(0), params, ctypes.c_void_p(0)), name)

    def sync(self):
        self.chk(self.cu.cuCtxSynchronize(), "sync")

    def free_all(self):
        self.sync()
        for p in self.ptrs:
            self.cu.cuMemFree_v2(ctypes.c_uint64(p))
        self.ptrs = []

    def time(self, fn, reps=20):
        """Seconds per call of fn (which launches kernels), timed with CUDA events."""
        ev = [ctypes.c_void_p(), ctypes.c_void_p()]
        for e in ev:
            self.chk(self.cu.cuEventCreate(ctypes.byref(e), ctypes.c_uint(0)))
        fn()
        self.sync()
        self.chk(self.cu.cuEventRecord(ev[0], ctypes.c_void_p(0)))
        for _ in range(reps):
            fn()
        self.chk(self.cu.cuEventRecord(ev[1], ctypes.c_void_p(0)))
        self.chk(self.cu.cuEventSynchronize(ev[1]))
        ms = ctypes.c_float()
        self.chk(self.cu.cuEventElapsedTime(ctypes.byref(ms), ev[0], ev[1]))
        for e in ev:
            self.cu.cuEventDestroy_v2(e)
        return ms.value / 1e3 / reps


# ---------------------------------------------------------------------------------------------------
# checks

RESULTS = {"pass": 0, "fail": 0}


def report(name, ok, detail=""):
    RESULTS["pass" if ok else "fail"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}", flush=True)


def close(name, got, want, rtol, atol, scale=None):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    tol = atol + rtol * (np.abs(want) if scale is None else scale)
    err = np.abs(got - want)
    bad = ~(err <= tol)
    report(name, not bad.any(), f"max_err={np.nanmax(err) if err.size else 0:.3g}" + (f" bad={int(bad.sum())}/{bad.size} first={np.argwhere(bad)[0].tolist()}" if bad.any() else ""))


def exact(name, got, want):
    got, want = np.asarray(got), np.asarray(want)
    bad = got != want
    report(name, not bad.any(), f"bad={int(bad.sum())}/{bad.size} first={np.argwhere(bad)[0].tolist()} got={got[bad][:4]} want={want[bad][:4]}" if bad.any() else "")


def test_weights(be, rng, small):
    for ty in ALL_TYPES:
        if ty in FTYPES:
            shapes = [(37, 1283, 0), (37, 1024, 0), (21, 520, 2), (21, 4104, 0)]  # 4104: matvec's unrolled loop and its tail
        elif QTYPES[ty][0] == 32:
            shapes = [(37, 1280, 0), (19, 2048, 2), (17, 2336, 0)]  # 2336 = 73 blocks: batches of 64 + 9, short last batch
        else:
            shapes = [(37, 2304, 0), (19, 512, 2), (9, 4352, 0)]  # 4352 = 17 blocks: batches of 8 + 8 + 1
        for rows, cols, woff in shapes:
            wb, wf = rand_weights(rng, ty, rows, cols)
            rb = wb.shape[1]
            W = be.upload(wb, woff)
            tag = f"{ty} {rows}x{cols}" + (f" W+{woff}" if woff else "")
            for nt, xoff in ([(1, 0), (1, 1), (3, 1), (8, 0)] if not small else [(1, 0), (1, 1), (3, 1)]):
                x = rng.standard_normal((nt, cols)).astype(F32)
                X = be.upload(x, 4 * xoff)
                Y = be.alloc(nt * rows * 4)
                be.launch(f"matvec_{ty}", ((rows + 7) // 8, 1, 1), (32, 8, 1), [P(W), L(rb), P(X), P(Y), I(rows), I(cols), I(nt)])
                y = be.download(Y, (nt, rows), F32)
                want = x.astype(np.float64) @ wf.T.astype(np.float64)
                mag = np.abs(x).astype(np.float64) @ np.abs(wf).T.astype(np.float64)
                close(f"matvec {tag} n_tok={nt}" + (" x+1" if xoff else ""), y, want, 1e-5, 1e-6, mag)
            for nt in ([1, 67] if not small else [5]):
                x = rng.standard_normal((nt, cols)).astype(F32)
                X = be.upload(x)
                Y = be.alloc(nt * rows * 4)
                be.launch(f"gemm_{ty}", ((rows + 63) // 64, (nt + 63) // 64, 1), (16, 16, 1), [P(W), L(rb), P(X), P(Y), I(rows), I(cols), I(nt)])
                y = be.download(Y, (nt, rows), F32)
                want = x.astype(np.float64) @ wf.T.astype(np.float64)
                mag = np.abs(x).astype(np.float64) @ np.abs(wf).T.astype(np.float64)
                close(f"gemm {tag} n_tok={nt}", y, want, 1e-5, 1e-6, mag)
            O = be.alloc(rows * cols * 2)
            be.launch(f"dequant_bf16_{ty}", (rows, 1, 1), (256, 1, 1), [P(W), L(rb), P(O), I(rows), I(cols)])
            exact(f"dequant_bf16 {tag}", be.download(O, (rows, cols), U16), bf16_bits(wf))
            ids = np.array([rows - 1, 0, 3, 3, rows // 2], I32)
            IDS = be.upload(ids)
            O = be.alloc(len(ids) * cols * 4)
            be.launch(f"get_rows_{ty}", (len(ids), 1, 1), (256, 1, 1), [P(W), L(rb), P(IDS), P(O), I(len(ids)), I(cols)])
            exact(f"get_rows {tag}", be.download(O, (len(ids), cols), F32).view(np.uint32), wf[ids].view(np.uint32))


def test_convert(be, rng):
    x = np.concatenate([rng.standard_normal(1000).astype(F32) * 1e3,
                        np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 3.4e38, -3.4e38, 1e-40, 1.00390625, 1.01171875, 1.0 + 2 ** -8 + 2 ** -20], F32)])
    x = np.concatenate([x, np.frombuffer(np.array([0x7F800001, 0xFFC00001, 0x3F808000, 0x3F818000, 0x7F7FFFFF], np.uint32).tobytes(), F32)])
    n = len(x)
    X, Y = be.upload(x), be.alloc(n * 2)
    be.launch("f32_to_bf16", ((n + 255) // 256, 1, 1), (256, 1, 1), [P(X), P(Y), L(n)])
    exact("f32_to_bf16", be.download(Y, (n,), U16), bf16_bits(x))
    n = 100003
    A, B = be.alloc(n * 2), be.alloc(n * 2)
    be.launch("fill_random_bf16", ((n + 255) // 256, 1, 1), (256, 1, 1), [P(A), L(n), U64(1234), F(0.5)])
    be.launch("fill_random_bf16", (7, 1, 1), (256, 1, 1), [P(B), L(n), U64(1234), F(0.5)])
    a = (be.download(A, (n,), U16).astype(np.uint32) << 16).view(F32)
    b = be.download(B, (n,), U16)
    exact("fill_random_bf16 launch-independent", b, be.download(A, (n,), U16))
    report("fill_random_bf16 range/mean/std", a.min() >= -0.5 and a.max() <= 0.5 and abs(a.mean()) < 0.01 and abs(a.std() - 0.5 / math.sqrt(3)) < 0.01,
           f"min={a.min():.4f} max={a.max():.4f} mean={a.mean():.4f} std={a.std():.4f}")
    C = be.alloc(n * 4)
    be.launch("fill_random_f32", ((n + 255) // 256, 1, 1), (256, 1, 1), [P(C), L(n), U64(99), F(2.0), F(1.0)])
    c = be.download(C, (n,), F32)
    report("fill_random_f32 range/mean/std", c.min() >= -1.0 and c.max() < 3.0 and abs(c.mean() - 1.0) < 0.03 and abs(c.std() - 2 / math.sqrt(3)) < 0.02,
           f"min={c.min():.4f} max={c.max():.4f} mean={c.mean():.4f} std={c.std():.4f} distinct={len(np.unique(c))}")


def test_norm(be, rng):
    for dim, n_rows in [(1000, 3), (64, 5), (4096, 2)]:
        x = rng.standard_normal((n_rows, dim)).astype(F32)
        d = rng.standard_normal((n_rows, dim)).astype(F32)
        w = rng.standard_normal(dim).astype(F32)
        eps = 1e-5
        for with_delta, alias in [(True, False), (False, False), (True, True)]:
            X, D, Wt = be.upload(x), be.upload(d), be.upload(w)
            O = X if alias else be.alloc(x.nbytes)
            be.launch("add_rms_norm", (n_rows, 1, 1), (256, 1, 1), [P(X), P(D if with_delta else 0), P(Wt), P(O), I(dim), F(eps)])
            xs = (x + d) if with_delta else x
            ss = (xs.astype(np.float64) ** 2).sum(1, keepdims=True)
            inv = (1.0 / np.sqrt(ss / dim + eps)).astype(F32)
            want = xs * inv * w
            tag = f"add_rms_norm dim={dim} delta={int(with_delta)} alias={int(alias)}"
            if not alias:
                exact(tag + " x", be.download(X, x.shape, F32), xs)
            close(tag, be.download(O, x.shape, F32), want, 2e-6, 1e-6)
    n_rows, dim = 7, 333
    x = rng.standard_normal((n_rows, dim)).astype(F32)
    b = rng.standard_normal(dim).astype(F32)
    X = be.upload(x)
    be.launch("add_bias", ((n_rows * dim + 255) // 256, 1, 1), (256, 1, 1), [P(X), P(be.upload(b)), I(n_rows), I(dim)])
    exact("add_bias", be.download(X, x.shape, F32), x + b)
    n = 5000
    g, u = (rng.standard_normal(n) * 4).astype(F32), rng.standard_normal(n).astype(F32)
    G = be.upload(g)
    be.launch("add", ((n + 255) // 256, 1, 1), (256, 1, 1), [P(G), P(be.upload(u)), L(n)])
    exact("add", be.download(G, (n,), F32), g + u)
    G = be.upload(g)
    be.launch("scale", ((n + 255) // 256, 1, 1), (256, 1, 1), [P(G), F(0.37), L(n)])
    exact("scale", be.download(G, (n,), F32), g * F32(0.37))
    G = be.upload(g)
    be.launch("swiglu", ((n + 255) // 256, 1, 1), (256, 1, 1), [P(G), P(be.upload(u)), L(n)])
    gd = g.astype(np.float64)
    close("swiglu", be.download(G, (n,), F32), gd / (1 + np.exp(-gd)) * u, 1e-5, 2e-6)
    G = be.upload(g)
    be.launch("geglu", ((n + 255) // 256, 1, 1), (256, 1, 1), [P(G), P(be.upload(u)), L(n)])
    close("geglu", be.download(G, (n,), F32), 0.5 * gd * (1 + np.tanh(math.sqrt(2 / math.pi) * (gd + 0.044715 * gd ** 3))) * u, 1e-5, 2e-6)


def test_rope(be, rng):
    for neox in (0, 1):
        for head_dim, rope_dim in [(128, 128), (64, 32), (80, 80)]:
            n_tok, n_heads = 5, 3
            pos = np.array([0, 1, 17, 4095, 131071], I32)
            inv_freq = 1.0 / (10000.0 ** (np.arange(0, rope_dim, 2, dtype=np.float64) / rope_dim))
            pos_scale, mscale = 0.5, 1.25
            x = rng.standard_normal((n_tok, n_heads, head_dim)).astype(F32)
            X = be.upload(x)
            be.launch("rope", (n_tok, n_heads, 1), (rope_dim // 2, 1, 1),
                      [P(X), I(n_heads), I(head_dim), I(rope_dim), P(be.upload(pos)), P(be.upload(inv_freq)), F(pos_scale), F(mscale), I(neox), I(n_tok)])
            want = x.copy()
            half = rope_dim // 2
            th = (pos.astype(np.float64) * np.float64(F32(pos_scale)))[:, None] * inv_freq[None, :]
            c = np.cos(th).astype(F32) * F32(mscale)
            s = np.sin(th).astype(F32) * F32(mscale)
            ia = np.arange(half) if neox else 2 * np.arange(half)
            ib = ia + half if neox else ia + 1
            x0, x1 = x[:, :, ia], x[:, :, ib]
            want[:, :, ia] = x0 * c[:, None, :] - x1 * s[:, None, :]
            want[:, :, ib] = x0 * s[:, None, :] + x1 * c[:, None, :]
            close(f"rope neox={neox} head_dim={head_dim} rope_dim={rope_dim}", be.download(X, x.shape, F32), want, 1e-6, 1e-6)


def attention_case(be, rng, head_dim, n_head, n_kv_head, window, n_splits_list, seq_lens, prefill, block_size=16):
    kv_dim = n_kv_head * head_dim
    max_blocks = max((L + block_size - 1) // block_size for L in seq_lens) + 1
    n_phys = sum((L + block_size - 1) // block_size for L in seq_lens) + 5
    perm = rng.permutation(n_phys)
    bt = np.zeros((len(seq_lens), max_blocks), I32)
    k = 0
    for s, L in enumerate(seq_lens):
        nb = (L + block_size - 1) // block_size
        bt[s, :nb] = perm[k:k + nb]
        k += nb
    n_slots = n_phys * block_size
    kc = rng.standard_normal((n_slots, kv_dim)).astype(F32)
    vc = rng.standard_normal((n_slots, kv_dim)).astype(F32)
    # rows: the last position of each sequence, plus `prefill` rows of the last sequence
    row_seq, row_pos = [], []
    for s, L in enumerate(seq_lens):
        row_seq.append(s)
        row_pos.append(L - 1)
    Ls = seq_lens[-1]
    for p in range(max(0, Ls - 1 - prefill), Ls - 1):
        row_seq.append(len(seq_lens) - 1)
        row_pos.append(p)
    row_seq, row_pos = np.array(row_seq, I32), np.array(row_pos, I32)
    n_rows = len(row_seq)
    q = rng.standard_normal((n_rows, n_head, head_dim)).astype(F32)
    scale = 1.0 / math.sqrt(head_dim)
    # kv_store of the rows' own k, v (writes their slots; the reference reads the result)
    knew = rng.standard_normal((n_rows, kv_dim)).astype(F32)
    vnew = rng.standard_normal((n_rows, kv_dim)).astype(F32)
    slots = np.array([bt[s, p // block_size] * block_size + p % block_size for s, p in zip(row_seq, row_pos)], I32)
    KC, VC = be.upload(kc), be.upload(vc)
    be.launch("kv_store", (n_rows, 1, 1), (256, 1, 1), [P(be.upload(knew)), P(be.upload(vnew)), P(KC), P(VC), P(be.upload(slots)), I(kv_dim), I(n_rows)])
    kc[slots], vc[slots] = knew, vnew
    tag = f"hd={head_dim} heads={n_head}/{n_kv_head} win={window} lens={seq_lens} rows={n_rows}"
    exact(f"kv_store {tag}", be.download(KC, kc.shape, F32), kc)
    want = np.zeros((n_rows, n_head, head_dim))
    for r in range(n_rows):
        pos = row_pos[r]
        lo = max(0, pos - window + 1) if window > 0 else 0
        ps = np.arange(lo, pos + 1)
        sl = bt[row_seq[r], ps // block_size] * block_size + ps % block_size
        for h in range(n_head):
            kvh = h // (n_head // n_kv_head)
            K = kc[sl, kvh * head_dim:(kvh + 1) * head_dim].astype(np.float64)
            V = vc[sl, kvh * head_dim:(kvh + 1) * head_dim].astype(np.float64)
            sc = K @ q[r, h].astype(np.float64) * scale
            p = np.exp(sc - sc.max())
            want[r, h] = p @ V / p.sum()
    Q, BT, RS, RP = be.upload(q), be.upload(bt), be.upload(row_seq), be.upload(row_pos)
    max_keys = int(row_pos.max()) + 1
    keys = min(max_keys, window) if window > 0 else max_keys
    variants = [(None, "len")]
    if n_rows > 1:  # a permuted subset of the rows, through `rows`
        sub = rng.permutation(n_rows)[:max(1, n_rows - 1)].astype(I32)
        variants += [(sub, "len"), (sub, "auto")]
    variants += [(None, "auto")]
    for n_splits in n_splits_list:
        for rows, how in variants:
            # split_len > 0: one length for all rows; <= 0 (0 or -1): each row's ceil(n_keys_row / n_splits)
            split_len = max(1, -(-keys // n_splits)) if how == "len" else -(n_splits % 2)
            nr = n_rows if rows is None else len(rows)
            PO = be.alloc(nr * n_head * n_splits * head_dim * 4)
            PML = be.alloc(nr * n_head * n_splits * 2 * 4)
            OUT = be.upload(np.full((n_rows, n_head, head_dim), 7.0, F32))
            ROWS = 0 if rows is None else be.upload(rows)
            be.launch("attention_split", (nr, n_head, n_splits), (128, 1, 1),
                      [P(Q), P(KC), P(VC), P(BT), P(RS), P(RP), P(PO), P(PML), I(n_head), I(n_kv_head), I(head_dim), I(block_size), I(max_blocks),
                       F(scale), I(window), I(n_splits), I(split_len), P(ROWS)])
            be.launch("attention_combine", (nr, n_head, 1), (head_dim, 1, 1), [P(PO), P(PML), P(OUT), I(n_head), I(head_dim), I(n_splits), P(ROWS)])
            got = be.download(OUT, (n_rows, n_head, head_dim), F32)
            ml = be.download(PML, (nr, n_head, n_splits, 2), F32)
            empty = np.isneginf(ml[..., 0])
            po = be.download(PO, (nr, n_head, n_splits, head_dim), F32)
            ok_empty = bool(np.all(ml[..., 1][empty] == 0) and np.all(po[empty] == 0))
            rtag = "rows=all" if rows is None else f"rows={len(rows)}/{n_rows} permuted"
            sel = np.arange(n_rows) if rows is None else rows
            close(f"attention {tag} splits={n_splits} split_len={split_len} {rtag} (empty splits {int(empty.sum())}, zeroed={ok_empty})",
                  got[sel], want[sel], 1e-5, 1e-5)
            if not ok_empty:
                report(f"attention empty splits zeroed {tag}", False)
            if rows is not None:
                rest = np.setdiff1d(np.arange(n_rows), rows)
                exact(f"attention {tag} rows outside the list untouched", got[rest], np.full((len(rest), n_head, head_dim), 7.0, F32))
            if how == "auto":
                # the per-row split: split s of row r covers lo + s * ceil(n / n_splits) .. (empty iff that is past pos)
                rp = row_pos[sel]
                lo = np.maximum(0, rp - window + 1) if window > 0 else np.zeros_like(rp)
                n = rp - lo + 1
                sl_row = -(-n // n_splits)
                want_empty = (np.arange(n_splits)[None, :] * sl_row[:, None]) >= n[:, None]
                exact(f"attention {tag} splits={n_splits} per-row split_len: empty splits", empty, np.broadcast_to(want_empty[:, None, :], empty.shape))


def test_attention(be, rng, small):
    if small:
        attention_case(be, rng, 80, 4, 2, 0, [1, 3], [5, 40], 2)
        attention_case(be, rng, 64, 2, 1, 9, [1, 4], [1, 33], 2)
        attention_case(be, rng, 256, 2, 2, 0, [2], [20], 1)
        return
    for hd in (64, 80, 96, 128, 256):
        attention_case(be, rng, hd, 8, 2, 0, [1, 3, 16], [1, 37, 300], 5)
    attention_case(be, rng, 128, 8, 8, 50, [1, 7], [1, 37, 300], 5)
    attention_case(be, rng, 64, 4, 1, 4096, [1, 64], [2000, 3], 3, block_size=32)


def bf16_to_f32(u):
    return (np.asarray(u, U16).astype(np.uint32) << 16).view(F32)


def softmax_ref(s, n_tok, n_keys, pos0, scale, window):
    """Rows [n_rows, n_keys] of attn_softmax in float64 (0 outside each row's valid keys)."""
    n_rows = s.shape[0]
    out = np.zeros((n_rows, n_keys))
    for R in range(n_rows):
        pos = pos0 + R % n_tok
        lo = max(0, pos - window + 1) if window > 0 else 0
        v = np.float64(F32(scale)) * s[R, lo:pos + 1].astype(np.float64)
        e = np.exp(v - v.max())
        out[R, lo:pos + 1] = e / e.sum()
    return out


def check_softmax(tag, got_bits, want):
    got = bf16_to_f32(got_bits).astype(np.float64)
    # bf16 has 8 significant bits: round to nearest of a value within f32 error of want
    close(f"attn_softmax {tag}", got, want, 2.0 ** -8 + 1e-6, 1e-30)
    exact(f"attn_softmax {tag} zeros outside the valid keys", got_bits[want == 0], np.zeros(int((want == 0).sum()), U16))


def test_prefill(be, rng, small):
    # attn_gather_q
    for head_dim, n_head, n_tok, row0, qoff in [(128, 4, 5, 3, 0), (80, 3, 4, 0, 0), (66, 2, 3, 2, 0), (64, 2, 3, 1, 1)]:
        n_all = row0 + n_tok + 2
        q = (rng.standard_normal((n_all, n_head, head_dim)) * 10).astype(F32)
        q[0, 0, :4] = [np.inf, -np.inf, np.nan, 1.0 + 2 ** -8]  # row 0 only reached when row0 == 0
        Q = be.upload(q, 4 * qoff)
        QG = be.alloc(n_head * n_tok * head_dim * 2)
        be.launch("attn_gather_q", (n_tok, n_head, 1), (128, 1, 1), [P(Q), P(QG), I(row0), I(n_tok), I(n_head), I(head_dim)])
        want = bf16_bits(q[row0:row0 + n_tok].transpose(1, 0, 2))
        exact(f"attn_gather_q hd={head_dim} heads={n_head} n_tok={n_tok} row0={row0}" + (" q+4B" if qoff else ""),
              be.download(QG, (n_head, n_tok, head_dim), U16), want)
    # attn_gather_kv (paged)
    for head_dim, n_kv, n_keys, bs, off in [(128, 2, 37, 16, 0), (66, 3, 20, 8, 0), (64, 1, 33, 32, 1)]:
        nb = -(-n_keys // bs)
        n_phys = nb + 3
        bt = rng.permutation(n_phys)[:nb].astype(I32)
        kc = rng.standard_normal((n_phys * bs, n_kv, head_dim)).astype(F32)
        vc = rng.standard_normal((n_phys * bs, n_kv, head_dim)).astype(F32)
        KG, VG = be.alloc(n_kv * n_keys * head_dim * 2), be.alloc(n_kv * n_keys * head_dim * 2)
        be.launch("attn_gather_kv", (n_keys, n_kv, 1), (128, 1, 1),
                  [P(be.upload(kc, 4 * off)), P(be.upload(vc)), P(be.upload(bt)), P(KG), P(VG), I(n_keys), I(n_kv), I(head_dim), I(bs)])
        ps = np.arange(n_keys)
        slots = bt[ps // bs] * bs + ps % bs
        tag = f"hd={head_dim} kv_heads={n_kv} n_keys={n_keys} block={bs}" + (" kc+4B" if off else "")
        exact(f"attn_gather_kv k {tag}", be.download(KG, (n_kv, n_keys, head_dim), U16), bf16_bits(kc[slots].transpose(1, 0, 2)))
        exact(f"attn_gather_kv v {tag}", be.download(VG, (n_kv, n_keys, head_dim), U16), bf16_bits(vc[slots].transpose(1, 0, 2)))
    # attn_softmax: (n_head, n_tok, pos0, window, s offset in floats)
    cases = [(2, 5, 32, 0, 0),    # n_keys 37: the scalar path
             (3, 4, 60, 0, 0),    # n_keys 64: the vector path
             (2, 7, 0, 0, 0),     # pos0 0: row t = 0 has the single key 0
             (2, 6, 39, 3, 0),    # window 3, n_keys 45
             (1, 5, 11, 1, 0),    # window 1: every row has one key
             (2, 8, 4, 5, 0),     # window and pos0 > 0, n_keys 12 (vector path; windows cut inside a group of 4)
             (2, 4, 60, 0, 1),    # n_keys 64, s misaligned: scalar path
             (1, 3, 997, 300, 0)]  # n_keys 1000, window 300, several strides of 256
    if not small:
        cases += [(4, 33, 2000, 0, 0), (2, 17, 4000, 1000, 0)]
    for n_head, n_tok, pos0, window, off in cases:
        n_keys = pos0 + n_tok
        n_rows = n_head * n_tok
        sc = (rng.standard_normal((n_rows, n_keys)) * 8).astype(F32)
        scale = 0.3
        S = be.upload(sc, 4 * off)
        PP = be.upload(np.full((n_rows, n_keys), 0x7777, U16))
        be.launch("attn_softmax", (n_rows, 1, 1), (256, 1, 1), [P(S), P(PP), I(n_tok), I(n_keys), I(pos0), F(scale), I(window), I(n_rows)])
        check_softmax(f"heads={n_head} n_tok={n_tok} n_keys={n_keys} pos0={pos0} window={window}" + (" s+4B" if off else ""),
                      be.download(PP, (n_rows, n_keys), U16), softmax_ref(sc, n_tok, n_keys, pos0, scale, window))
    if hasattr(be, "launch_range"):
        # 64-bit offsets: rows R with R * n_keys >= 2^32, reached through pointers biased back by R0 rows
        n_head, n_tok, pos0, window = 1, 60000, 10000, 0
        n_keys, n_rows = pos0 + n_tok, n_tok
        for R0, window in [(59990, 0), (40000, 777)]:
            nr = 4
            sc = (rng.standard_normal((nr, n_keys)) * 4).astype(F32)
            S = be.upload(sc)
            PP = be.upload(np.full((nr, n_keys), 0x7777, U16))
            sb = (S - R0 * n_keys * 4) % 2 ** 64
            pb = (PP - R0 * n_keys * 2) % 2 ** 64
            be.launch_range("attn_softmax", (n_rows, 1, 1), (256, 1, 1), [P(sb), P(pb), I(n_tok), I(n_keys), I(pos0), F(0.5), I(window), I(n_rows)],
                            R0, R0 + nr)
            want = np.zeros((nr, n_keys))
            for k in range(nr):
                t = (R0 + k) % n_tok
                pos = pos0 + t
                lo = max(0, pos - window + 1) if window > 0 else 0
                v = 0.5 * sc[k, lo:pos + 1].astype(np.float64)
                e = np.exp(v - v.max())
                want[k, lo:pos + 1] = e / e.sum()
            check_softmax(f"64-bit rows {R0}..{R0 + nr} x n_keys={n_keys} window={window}", be.download(PP, (nr, n_keys), U16), want)
    # attn_scatter_out
    for head_dim, n_head, n_tok, row0, off in [(128, 4, 5, 2, 0), (66, 3, 4, 0, 0), (64, 2, 3, 1, 1)]:
        n_all = row0 + n_tok + 2
        o = rng.standard_normal((n_head, n_tok, head_dim)).astype(F32)
        base = rng.standard_normal((n_all, n_head, head_dim)).astype(F32)
        OUT = be.upload(base, 4 * off)
        be.launch("attn_scatter_out", (n_tok, n_head, 1), (128, 1, 1), [P(be.upload(o)), P(OUT), I(row0), I(n_tok), I(n_head), I(head_dim)])
        want = base.copy()
        want[row0:row0 + n_tok] = o.transpose(1, 0, 2)
        exact(f"attn_scatter_out hd={head_dim} heads={n_head} n_tok={n_tok} row0={row0}" + (" out+4B" if off else ""),
              be.download(OUT, base.shape, F32), want)


def test_argmax(be, rng):
    vocab, n = 50257, 5
    x = rng.standard_normal((n, vocab)).astype(F32)
    x[1, 777] = x[1, 40000] = 100.0  # tie: lowest index
    x[2, :] = -np.inf
    x[3, ::7] = np.nan
    x[3, 49999] = 50.0
    x[4, vocab - 1] = 1e30
    X, O = be.upload(x), be.alloc(n * 4)
    be.launch("argmax_rows", (n, 1, 1), (1024, 1, 1), [P(X), I(vocab), P(O)])
    want = np.array([int(np.argmax(x[0])), 777, 0, 49999, vocab - 1], I32)
    exact("argmax_rows", be.download(O, (n,), I32), want)


# ---------------------------------------------------------------------------------------------------
# speed table (each timed kernel's output also checked against numpy)


def weights_for(be, rng, ty, rows, cols):
    """Device weights [rows, row_bytes] of type ty, and a function giving the exact f32 values of some rows."""
    if ty in FTYPES:
        n = rows * cols
        if ty == "bf16":
            W = be.alloc(n * 2)
            be.launch("fill_random_bf16", ((n + 255) // 256, 1, 1), (256, 1, 1), [P(W), L(n), U64(int(rng.integers(1 << 62))), F(1.0)])
            rb = cols * 2

            def vals(idx):
                return np.stack([bf16_to_f32(be.download(W + int(r) * rb, (cols,), U16)) for r in idx])
            return W, rb, vals
        wb, _ = rand_weights(rng, ty, 1, cols)  # one random row (finite values), repeated
        wb = np.ascontiguousarray(np.tile(wb, (rows, 1)))
        W = be.upload(wb)
        rb = wb.shape[1]
        dt = np.float32 if ty == "f32" else np.float16

        def vals(idx):
            return np.stack([be.download(W + int(r) * rb, (cols,), dt).astype(F32) for r in idx])
        return W, rb, vals
    qk, ts, dec, _ = QTYPES[ty]
    wb = rand_bytes(rng, ty, rows, cols)
    W = be.upload(wb)
    rb = wb.shape[1]

    def vals(idx):
        return dec(wb[idx].reshape(-1, ts)).reshape(len(idx), cols)
    return W, rb, vals


# sizes of the speed table (a smoke test of this script may shrink them)
SIZES = {"mv_shapes": [(4096, 4096), (14336, 4096)], "mv_float_extra": [(1024, 4096), (4096, 14336)], "mv_big": (128256, 4096), "keys": 8192, "rows": 32, "heads": (32, 8), "hd": 128,
         "prefill_tok": 2048, "softmax": ((2048, 0, 0), (1024, 1024, 512))}


def mv2_rows_per_block(rows, cols, es):
    """Rows per block of matvec2_TY (CONTRACT.md "Round 3: matvec2"); es = bytes per element."""
    b = cols * es
    r = 8 if b <= 4096 else 4 if b <= 8192 else 2 if b <= 16384 else 1
    while r > 1 and (rows + r - 1) // r < 512:
        r //= 2
    return r


def bench(be, rng, quick):
    ok_all = True
    table = []
    print("--- matvec (and matvec2 for f32/f16/bf16), n_tok = 1: GB/s of weight bytes (checked against numpy on 64 rows)", flush=True)
    shapes = SIZES["mv_shapes"]
    for ty in ALL_TYPES:
        flt = ty in FTYPES
        for rows, cols in shapes + (SIZES["mv_float_extra"] if flt else []) + ([SIZES["mv_big"]] if ty == "bf16" else []):
            W, rb, vals = weights_for(be, rng, ty, rows, cols)
            x = rng.standard_normal(cols).astype(F32)
            X = be.upload(x)
            idx = np.unique(np.concatenate([[0, rows - 1], rng.integers(0, rows, 62)]))
            wf = vals(idx).astype(np.float64)
            want = wf @ x.astype(np.float64)
            mag = np.abs(wf) @ np.abs(x).astype(np.float64)
            launches = [(f"matvec_{ty}", ((rows + 7) // 8, 1, 1), (32, 8, 1))]
            if flt:  # CONTRACT.md "Round 3: matvec2"
                r2 = mv2_rows_per_block(rows, cols, FTYPES[ty])
                launches.append((f"matvec2_{ty}", ((rows + r2 - 1) // r2, 1, 1), (256, 1, 1)))
            for kname, grid, block in launches:
                Y = be.alloc(rows * 4)
                args = [P(W), L(rb), P(X), P(Y), I(rows), I(cols), I(1)]
                t = be.time(lambda: be.launch(kname, grid, block, args), 10 if quick else 30)
                y = be.download(Y, (rows,), F32)
                err = np.abs(y[idx] - want)
                ok = bool(np.all(err <= 1e-5 * mag + 1e-6))
                ok_all &= ok
                gbs = rows * rb / t / 1e9
                table.append((kname, f"{rows}x{cols}", t, gbs, ok))
                print(f"{kname:13s} {rows:6d}x{cols}: {t * 1e6:8.1f} us {gbs:7.0f} GB/s  {'ok' if ok else 'WRONG max_err/mag=%.3g' % np.max(err / mag)}", flush=True)
            be.free_all()

    print("--- attention decode: 32 rows x 32 heads (8 kv), head_dim 128, 8192 keys each (K+V f32 bytes)", flush=True)
    (nh, nkv), hd, bs, keys, n_rows = SIZES["heads"], SIZES["hd"], 16, SIZES["keys"], SIZES["rows"]
    nb = keys // bs
    n_slots = n_rows * nb * bs
    kv_n = n_slots * nkv * hd
    kc, vc = be.alloc(kv_n * 4), be.alloc(kv_n * 4)
    for A, seed in ((kc, 11), (vc, 12)):
        be.launch("fill_random_f32", ((kv_n + 255) // 256, 1, 1), (256, 1, 1), [P(A), L(kv_n), U64(seed), F(1.0), F(0.0)])
    bt = np.arange(n_rows * nb, dtype=I32).reshape(n_rows, nb)
    BT = be.upload(bt)
    rs, rp = be.upload(np.arange(n_rows, dtype=I32)), be.upload(np.full(n_rows, keys - 1, I32))
    q = rng.standard_normal((n_rows, nh, hd)).astype(F32)
    Q = be.upload(q)
    scale = 1 / math.sqrt(hd)
    # reference for row 0 (slots 0 .. keys - 1) and row n_rows - 1
    check_rows = [0, n_rows - 1]
    refs = {}
    for r in check_rows:
        K = be.download(kc + r * keys * nkv * hd * 4, (keys, nkv, hd), F32).astype(np.float64)
        V = be.download(vc + r * keys * nkv * hd * 4, (keys, nkv, hd), F32).astype(np.float64)
        o = np.zeros((nh, hd))
        for h in range(nh):
            sc = K[:, h // (nh // nkv)] @ q[r, h].astype(np.float64) * scale
            p = np.exp(sc - sc.max())
            o[h] = p @ V[:, h // (nh // nkv)] / p.sum()
        refs[r] = o
    for ns, split_len, rows in ((1, keys, None), (4, 0, None), (8, 0, None), (4, 0, np.arange(n_rows, dtype=I32)[::-1].copy())):
        PO, PML = be.alloc(n_rows * nh * ns * hd * 4), be.alloc(n_rows * nh * ns * 8)
        OUT = be.alloc(n_rows * nh * hd * 4)
        ROWS = 0 if rows is None else be.upload(rows)

        def run():
            be.launch("attention_split", (n_rows, nh, ns), (128, 1, 1), [P(Q), P(kc), P(vc), P(BT), P(rs), P(rp), P(PO), P(PML), I(nh), I(nkv), I(hd), I(bs), I(nb),
                                                                        F(scale), I(0), I(ns), I(split_len), P(ROWS)])
            be.launch("attention_combine", (n_rows, nh, 1), (hd, 1, 1), [P(PO), P(PML), P(OUT), I(nh), I(hd), I(ns), P(ROWS)])
        t = be.time(run, 5 if quick else 10)
        got = be.download(OUT, (n_rows, nh, hd), F32)
        ok = all(np.allclose(got[r], refs[r], rtol=1e-4, atol=1e-5) for r in check_rows)
        ok_all &= ok
        kvbytes = 2 * n_rows * keys * nkv * hd * 4
        name = f"splits={ns} split_len={split_len}" + (" rows=reversed" if rows is not None else "")
        table.append(("attention_split+combine", name, t, kvbytes / t / 1e9, ok))
        print(f"attention {name}: {t * 1e6:8.0f} us {kvbytes / t / 1e9:7.0f} GB/s of K+V  {'ok' if ok else 'WRONG'}", flush=True)

    print("--- prefill kernels: GB/s of bytes read + written", flush=True)
    # attn_gather_kv: the cache above, 8192 keys of sequence 0
    KG, VG = be.alloc(nkv * keys * hd * 2), be.alloc(nkv * keys * hd * 2)
    t = be.time(lambda: be.launch("attn_gather_kv", (keys, nkv, 1), (128, 1, 1), [P(kc), P(vc), P(BT), P(KG), P(VG), I(keys), I(nkv), I(hd), I(bs)]), 10)
    Kr = be.download(kc, (keys, nkv, hd), F32)
    ok = bool(np.array_equal(be.download(KG, (nkv, keys, hd), U16), bf16_bits(Kr.transpose(1, 0, 2))))
    ok_all &= ok
    by = keys * nkv * hd * (4 + 2) * 2
    table.append(("attn_gather_kv", f"{keys} keys x {nkv}x{hd}", t, by / t / 1e9, ok))
    print(f"attn_gather_kv {keys} keys: {t * 1e6:8.1f} us {by / t / 1e9:7.0f} GB/s  {'ok' if ok else 'WRONG'}", flush=True)
    be.free_all()
    # attn_gather_q / attn_scatter_out: 2048 tokens x 32 heads x 128
    n_tok = SIZES["prefill_tok"]
    q = rng.standard_normal((n_tok, nh, hd)).astype(F32)
    Q, QG = be.upload(q), be.alloc(n_tok * nh * hd * 2)
    t = be.time(lambda: be.launch("attn_gather_q", (n_tok, nh, 1), (128, 1, 1), [P(Q), P(QG), I(0), I(n_tok), I(nh), I(hd)]), 10)
    ok = bool(np.array_equal(be.download(QG, (nh, n_tok, hd), U16), bf16_bits(q.transpose(1, 0, 2))))
    ok_all &= ok
    by = q.size * 6
    table.append(("attn_gather_q", f"{n_tok} tok x {nh}x{hd}", t, by / t / 1e9, ok))
    print(f"attn_gather_q {n_tok} tokens: {t * 1e6:8.1f} us {by / t / 1e9:7.0f} GB/s  {'ok' if ok else 'WRONG'}", flush=True)
    O, OUT = be.upload(q.transpose(1, 0, 2).copy()), be.alloc(q.nbytes)
    t = be.time(lambda: be.launch("attn_scatter_out", (n_tok, nh, 1), (128, 1, 1), [P(O), P(OUT), I(0), I(n_tok), I(nh), I(hd)]), 10)
    ok = bool(np.array_equal(be.download(OUT, q.shape, F32), q))
    ok_all &= ok
    by = q.size * 8
    table.append(("attn_scatter_out", f"{n_tok} tok x {nh}x{hd}", t, by / t / 1e9, ok))
    print(f"attn_scatter_out {n_tok} tokens: {t * 1e6:8.1f} us {by / t / 1e9:7.0f} GB/s  {'ok' if ok else 'WRONG'}", flush=True)
    be.free_all()
    # attn_softmax: 32 heads x 2048 tokens, causal from pos0 = 0 (and a window)
    for n_tok, pos0, window in SIZES["softmax"]:
        n_keys, n_rows = pos0 + n_tok, nh * n_tok
        n = n_rows * n_keys
        S, PP = be.alloc(n * 4), be.alloc(n * 2)
        be.launch("fill_random_f32", ((n + 255) // 256, 1, 1), (256, 1, 1), [P(S), L(n), U64(5), F(8.0), F(0.0)])
        args = [P(S), P(PP), I(n_tok), I(n_keys), I(pos0), F(0.3), I(window), I(n_rows)]
        t = be.time(lambda: be.launch("attn_softmax", (n_rows, 1, 1), (256, 1, 1), args), 5)
        chk = [0, n_tok - 1, n_rows - 1, n_rows // 2 + 3]
        sc = np.stack([be.download(S + R * n_keys * 4, (n_keys,), F32) for R in chk])
        got = np.stack([be.download(PP + R * n_keys * 2, (n_keys,), U16) for R in chk])
        want = np.zeros((len(chk), n_keys))
        for k, R in enumerate(chk):
            pos = pos0 + R % n_tok
            lo = max(0, pos - window + 1) if window > 0 else 0
            v = np.float64(F32(0.3)) * sc[k, lo:pos + 1].astype(np.float64)
            e = np.exp(v - v.max())
            want[k, lo:pos + 1] = e / e.sum()
        g = bf16_to_f32(got).astype(np.float64)
        ok = bool(np.all(np.abs(g - want) <= 2.0 ** -8 * want + 1e-30) and np.all(got[want == 0] == 0))
        ok_all &= ok
        # bytes: the valid scores read twice, every probability written once
        valid = sum(min(pos0 + t, n_keys - 1) - (max(0, pos0 + t - window + 1) if window > 0 else 0) + 1 for t in range(n_tok)) * nh
        by = valid * 8 + n * 2
        name = f"{nh} heads x {n_tok} tok x {n_keys} keys" + (f" window {window}" if window else "")
        table.append(("attn_softmax", name, t, by / t / 1e9, ok))
        print(f"attn_softmax {name}: {t * 1e6:8.0f} us {by / t / 1e9:7.0f} GB/s  {'ok' if ok else 'WRONG'}", flush=True)
        be.free_all()

    print("\n| kernel | shape | us | GB/s | check |\n|---|---|---:|---:|---|")
    for k, sh, t, g, ok in table:
        print(f"| {k} | {sh} | {t * 1e6:.1f} | {g:.0f} | {'ok' if ok else 'WRONG'} |")
    return ok_all


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compiler", choices=["auto", "nvrtc"], default="auto")
    ap.add_argument("--tests", action="store_true", help="also run every kernel test (about a minute more)")
    ap.add_argument("--quick", action="store_true", help="fewer timing repetitions")
    a = ap.parse_args()
    t0 = time.time()
    rng = np.random.default_rng(7)
    be = CudaBackend(compile_ptx(a.compiler))
    if a.tests:
        for name, fn in {"weights": lambda: test_weights(be, rng, False), "convert": lambda: test_convert(be, rng), "norm": lambda: test_norm(be, rng),
                         "rope": lambda: test_rope(be, rng), "attention": lambda: test_attention(be, rng, False),
                         "prefill": lambda: test_prefill(be, rng, False), "argmax": lambda: test_argmax(be, rng)}.items():
            fn()
            be.free_all()
        print(f"tests: {RESULTS['pass']} passed, {RESULTS['fail']} failed", flush=True)
    ok = bench(be, rng, a.quick)
    print(f"total {time.time() - t0:.1f} s; results {'all checked ok' if ok else 'SOME WRONG'}")
    sys.exit(0 if ok and not RESULTS["fail"] else 1)


if __name__ == "__main__":
    main()
