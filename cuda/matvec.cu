// matvec.cu: y[t * rows + r] = sum_c W[r][c] * x[t * cols + c] for t < n_tok (1..8), r < rows.
// Decode and small batches: each weight row is read from memory exactly once for all tokens.
//
// Launch (CONTRACT.md): grid (ceil(rows / 8)), block (32, 8). Warp threadIdx.y owns row
// blockIdx.x * 8 + threadIdx.y; its 32 lanes split the row, accumulate n_tok f32 partial sums each,
// and reduce them with __shfl_xor_sync at the end. Only __syncwarp is used, so a warp whose row
// is past the end simply returns.
//
// Float weights (f32, f16, bf16): when the row starts 16-byte aligned, lane l reads the 16-byte
// vectors l, l + 32, ... fully coalesced, through ld.global.nc.L1::no_allocate (x keeps L1). With
// n_tok == 1 (and x 16-byte aligned) every lane issues 8 loads (f32: 4) before using them and keeps
// one f32 partial sum per load; other n_tok take one vector at a time. The elements past the last
// whole vector, or the whole row when it is not aligned, are read one element per lane.
//
// Quantized weights, rows that start 16-byte aligned: the warp walks the row in batches of 64
// chunks of 32 values (64 legacy blocks or 8 K blocks, a multiple of 16 bytes), staged in the
// warp's shared-memory buffer; the next batch's 16-byte loads are issued before the current batch
// is decoded. In pass p (0..7) lane l takes the 8-value slice (l % 4) of chunk 8 p + l / 4: its
// quants q_i as exact floats, w_i = d q_i + m, and adds d * sum q_i x_i (+ m * sum x_i) per token:
// the scale and min are applied once per slice. The lanes of a pass read 256 consecutive floats of
// each x row, coalesced. Rows that are only 2-byte aligned take batches of 32 chunks copied with
// the widest loads the address allows (16, 8, 4 or 2 bytes), decoded the same way.
//
// Registers: __launch_bounds__(256, 4), at most 64 per thread, 4 blocks per SM.
#include "common.cuh"

#define MV_WARPS 8
#define MV_MAXTOK 8
// 4 blocks (32 warps) per SM: at most 64 registers; a 4096-row matrix (512 blocks) is one wave on
// 132 SMs.
#ifndef MV_MINB
#define MV_MINB 4
#endif

// Accumulate w[0..N) . xp[0..N) into acc (xp 16-byte aligned when xv).
template <int N>
__device__ __forceinline__ float dot_n(const float* w, const float* xp, bool xv, float acc) {
    if (xv) {
#pragma unroll
        for (int i = 0; i < N; i += 4) {
            const float4 xx = *(const float4*)(xp + i);
            acc = fmaf(w[i], xx.x, acc);
            acc = fmaf(w[i + 1], xx.y, acc);
            acc = fmaf(w[i + 2], xx.z, acc);
            acc = fmaf(w[i + 3], xx.w, acc);
        }
    } else {
#pragma unroll
        for (int i = 0; i < N; i++) acc = fmaf(w[i], xp[i], acc);
    }
    return acc;
}

// Sum each token's partial sums over the warp and store them.
__device__ __forceinline__ void mv_store(float* acc, float* y, int rows, int r, int n_tok, int lane) {
#pragma unroll
    for (int t = 0; t < MV_MAXTOK; t++) {
        if (t < n_tok) {
            const float v = warp_sum(acc[t]);
            if (lane == 0) y[(i64)t * rows + r] = v;
        }
    }
}

// Weight loads that stream through: no L1 allocation (x stays in L1), 256-byte L2 prefetch.
__device__ __forceinline__ V16 ld_stream(const V16* p) {
#ifdef __CUDA_ARCH__
    V16 v;
    asm("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
#else
    return *p;
#endif
}

// Float weights. NT == 1: one token, x 16-byte aligned, cols % 4 == 0 (the decode hot path): every
// lane issues MV_U1 independent 16-byte weight loads before it uses them, one f32 accumulator per
// load (short dependency chains), summed at the end. NT == MV_MAXTOK: any n_tok <= 8 and x.
#ifndef MV_U1
#define MV_U1 8  // f16 / bf16 (f32: 4, which stays within 64 registers)
#endif
#ifndef MV_UN
#define MV_UN 1
#endif
// passes unrolled together in the quantized batch loop (n_tok == 1)
#ifndef MV_QU1
#define MV_QU1 2
#endif
template <class T, int NT>
__device__ __forceinline__ void matvec_float(const u8* __restrict__ row, const float* __restrict__ x, float* acc, int cols, int n_tok,
                                             int lane) {
    const int EPV = 16 / T::ES;  // elements per 16-byte vector
    const int U = NT == 1 ? (T::ES == 4 ? 4 : MV_U1) : MV_UN;
    const int nv = ((((u64)row) & 15) == 0) ? cols / EPV : 0;
    const bool xv = NT == 1 || (((((u64)x) & 15) == 0) && (cols % 4 == 0));
    const V16* rv = (const V16*)row;
    float a1[U];  // NT == 1: one partial sum per load slot
#pragma unroll
    for (int u = 0; u < U; u++) a1[u] = 0.0f;

    int g0 = lane;
    for (; g0 + 32 * (U - 1) < nv; g0 += 32 * U) {
        V16 v[U];
#pragma unroll
        for (int u = 0; u < U; u++) v[u] = ld_stream(rv + g0 + 32 * u);
#pragma unroll
        for (int u = 0; u < U; u++) {
            float w[EPV];
            T::unpack(v[u], w);
            const float* xp = x + (i64)(g0 + 32 * u) * EPV;
            if (NT == 1) {
                a1[u] = dot_n<EPV>(w, xp, true, a1[u]);
            } else {
#pragma unroll
                for (int t = 0; t < NT; t++)
                    if (t < n_tok) acc[t] = dot_n<EPV>(w, xp + (i64)t * cols, xv, acc[t]);
            }
        }
    }
    for (; g0 < nv; g0 += 32) {  // the last vectors, fewer than 32 U
        float w[EPV];
        T::unpack(ld_stream(rv + g0), w);
        const float* xp = x + (i64)g0 * EPV;
#pragma unroll
        for (int t = 0; t < NT; t++)
            if (t < n_tok) acc[t] = dot_n<EPV>(w, xp + (i64)t * cols, xv, acc[t]);
    }
    for (int c = nv * EPV + lane; c < cols; c += 32) {  // past the last whole vector, or an unaligned row
        const float w = T::elem(row, c);
#pragma unroll
        for (int t = 0; t < NT; t++)
            if (t < n_tok) acc[t] = fmaf(w, x[(i64)t * cols + c], acc[t]);
    }
    if (NT == 1) {
#pragma unroll
        for (int u = 0; u < U; u++) acc[0] += a1[u];
    }
}

// Copy n bytes (n even, src 2-byte aligned) into dst (16-byte aligned), the warp's lanes together,
// with the widest loads that the alignment of src and n allows.
__device__ __forceinline__ void warp_copy(u8* dst, const u8* __restrict__ src, int n, int lane) {
    const u32 a = (u32)(u64)src | (u32)n;
    if ((a & 15) == 0) {
        const V16* s = (const V16*)src;
        V16* d = (V16*)dst;
#pragma unroll 4
        for (int i = lane; i < (n >> 4); i += 32) d[i] = s[i];
    } else if ((a & 7) == 0) {
        const uint2* s = (const uint2*)src;
        uint2* d = (uint2*)dst;
#pragma unroll 4
        for (int i = lane; i < (n >> 3); i += 32) d[i] = s[i];
    } else if ((a & 3) == 0) {
        const u32* s = (const u32*)src;
        u32* d = (u32*)dst;
#pragma unroll 4
        for (int i = lane; i < (n >> 2); i += 32) d[i] = s[i];
    } else {
        const u16* s = (const u16*)src;
        u16* d = (u16*)dst;
#pragma unroll 4
        for (int i = lane; i < (n >> 1); i += 32) d[i] = s[i];
    }
}

// ---- quantized weights --------------------------------------------------------------------------
// MvQ<T>::dq(block, chunk s, slice j0, q, d, m): the slice's 8 values as w_i = d q_i + m with q_i
// small exact integers (m = 0 and HAS_MIN = 0 for the types without a min term). The matvec then
// forms sum_i q_i x_i (and sum_i x_i) first and applies d (and m) once per slice and token.
template <class T> struct MvQ;

template <> struct MvQ<T_q4_0> {
    enum { HAS_MIN = 0 };
    static __device__ __forceinline__ void dq(const u8* b, int s, int j0, float* q, float& d, float& m) {
        (void)s;
        d = f16_at(b);
        m = 0.0f;
        const B8 v = ld8(b + 2 + (j0 & 15));
        const int sh = (j0 & 16) ? 4 : 0;
#pragma unroll
        for (int i = 0; i < 8; i++) q[i] = int_minus(bits_of(v, i, sh) & 15u, LN_2P23 + 8.0f);
    }
};
template <> struct MvQ<T_q4_1> {
    enum { HAS_MIN = 1 };
    static __device__ __forceinline__ void dq(const u8* b, int s, int j0, float* q, float& d, float& m) {
        (void)s;
        d = f16_at(b);
        m = f16_at(b + 2);
        const B8 v = ld8(b + 4 + (j0 & 15));
        const int sh = (j0 & 16) ? 4 : 0;
#pragma unroll
        for (int i = 0; i < 8; i++) q[i] = int_minus(bits_of(v, i, sh) & 15u, LN_2P23);
    }
};
template <> struct MvQ<T_q5_0> {
    enum { HAS_MIN = 0 };
    static __device__ __forceinline__ void dq(const u8* b, int s, int j0, float* q, float& d, float& m) {
        (void)s;
        d = f16_at(b);
        m = 0.0f;
        const u32 qh = (ld_u16(b + 2) | (ld_u16(b + 4) << 16)) >> j0;
        const B8 v = ld8(b + 6 + (j0 & 15));
        const int sh = (j0 & 16) ? 4 : 0;
#pragma unroll
        for (int i = 0; i < 8; i++) q[i] = int_minus((bits_of(v, i, sh) & 15u) | (((qh >> i) & 1u) << 4), LN_2P23 + 16.0f);
    }
};
template <> struct MvQ<T_q5_1> {
    enum { HAS_MIN = 1 };
    static __device__ __forceinline__ void dq(const u8* b, int s, int j0, float* q, float& d, float& m) {
        (void)s;
        d = f16_at(b);
        m = f16_at(b + 2);
        const u32 qh = (ld_u16(b + 4) | (ld_u16(b + 6) << 16)) >> j0;
        const B8 v = ld8(b + 8 + (j0 & 15));
        const int sh = (j0 & 16) ? 4 : 0;
#pragma unroll
        for (int i = 0; i < 8; i++) q[i] = int_minus((bits_of(v, i, sh) & 15u) | (((qh >> i) & 1u) << 4), LN_2P23);
    }
};
template <> struct MvQ<T_q8_0> {
    enum { HAS_MIN = 0 };
    static __device__ __forceinline__ void dq(const u8* b, int s, int j0, float* q, float& d, float& m) {
        (void)s;
        d = f16_at(b);
        m = 0.0f;
        const B8 v = ld8(b + 2 + j0);
#pragma unroll
        for (int i = 0; i < 8; i++) q[i] = int_minus((bits_of(v, i, 0) & 0xffu) ^ 0x80u, LN_2P23 + 128.0f);
    }
};
template <> struct MvQ<T_q2_k> {
    enum { HAS_MIN = 1 };
    static __device__ __forceinline__ void dq(const u8* b, int s, int j0, float* q, float& d, float& m) {
        const u32 sc = b[2 * s + (j0 >> 4)];
        d = f16_at(b + 80) * (float)(sc & 15u);
        m = -(f16_at(b + 82) * (float)(sc >> 4));
        const B8 v = ld8(b + 16 + 32 * (s >> 2) + j0);
        const int sh = 2 * (s & 3);
#pragma unroll
        for (int i = 0; i < 8; i++) q[i] = int_minus(bits_of(v, i, sh) & 3u, LN_2P23);
    }
};
template <> struct MvQ<T_q3_k> {
    enum { HAS_MIN = 0 };
    static __device__ __forceinline__ void dq(const u8* b, int s, int j0, float* q, float& d, float& m) {
        const u8* sc = b + 96;
        const int is = 2 * s + (j0 >> 4);
        const u32 low = is < 8 ? (sc[is] & 15u) : ((u32)sc[is - 8] >> 4);
        const u32 high = ((u32)sc[8 + (is & 3)] >> (2 * (is >> 2))) & 3u;
        d = f16_at(b + 108) * (float)((int)(low | (high << 4)) - 32);
        m = 0.0f;
        const B8 v = ld8(b + 32 + 32 * (s >> 2) + j0);
        const B8 hm = ld8(b + j0);
        const int sh = 2 * (s & 3);
#pragma unroll
        for (int i = 0; i < 8; i++) q[i] = int_minus((bits_of(v, i, sh) & 3u) | ((bits_of(hm, i, s) & 1u) << 2), LN_2P23 + 4.0f);
    }
};
template <> struct MvQ<T_q4_k> {
    enum { HAS_MIN = 1 };
    static __device__ __forceinline__ void dq(const u8* b, int s, int j0, float* q, float& d, float& m) {
        u32 sc, mn;
        scale_min_k4(s, b + 4, sc, mn);
        d = f16_at(b) * (float)sc;
        m = -(f16_at(b + 2) * (float)mn);
        const B8 v = ld8(b + 16 + 32 * (s >> 1) + j0);
        const int sh = (s & 1) * 4;
#pragma unroll
        for (int i = 0; i < 8; i++) q[i] = int_minus(bits_of(v, i, sh) & 15u, LN_2P23);
    }
};
template <> struct MvQ<T_q5_k> {
    enum { HAS_MIN = 1 };
    static __device__ __forceinline__ void dq(const u8* b, int s, int j0, float* q, float& d, float& m) {
        u32 sc, mn;
        scale_min_k4(s, b + 4, sc, mn);
        d = f16_at(b) * (float)sc;
        m = -(f16_at(b + 2) * (float)mn);
        const B8 qh = ld8(b + 16 + j0);
        const B8 v = ld8(b + 48 + 32 * (s >> 1) + j0);
        const int sh = (s & 1) * 4;
#pragma unroll
        for (int i = 0; i < 8; i++) q[i] = int_minus((bits_of(v, i, sh) & 15u) | ((bits_of(qh, i, s) & 1u) << 4), LN_2P23);
    }
};
template <> struct MvQ<T_q6_k> {
    enum { HAS_MIN = 0 };
    static __device__ __forceinline__ void dq(const u8* b, int s, int j0, float* q, float& d, float& m) {
        const int h = s >> 2, k = s & 3;
        d = f16_at(b + 208) * (float)(int)(i8)b[192 + 8 * h + (j0 >> 4) + 2 * k];
        m = 0.0f;
        const B8 ql = ld8(b + 64 * h + 32 * (k & 1) + j0);
        const B8 qh = ld8(b + 128 + 32 * h + j0);
        const int sl = (k >> 1) * 4, shh = 2 * k;
#pragma unroll
        for (int i = 0; i < 8; i++) q[i] = int_minus((bits_of(ql, i, sl) & 15u) | ((bits_of(qh, i, shh) & 3u) << 4), LN_2P23 + 32.0f);
    }
};

// Batches: 64 chunks of 32 values (64 legacy blocks or 8 K blocks), a multiple of 16 bytes.
template <class T> struct MvBatch {
    enum { NB = T::QK == 32 ? 64 : 8, BYTES = NB * T::TS, NVEC = BYTES / 16, VPL = (NVEC + 31) / 32, CHUNKS = NB * (T::QK / 32) };
};

// Slice (chunk ci of the staged batch, values j0 .. j0 + 7) times x, added to acc[t].
template <class T, int NT>
__device__ __forceinline__ void mv_slice(const u8* blk, int s, int j0, const float* xp, int cols, int n_tok, bool xv, float* acc) {
    float q[8], d, m;
    MvQ<T>::dq(blk, s, j0, q, d, m);
#pragma unroll
    for (int t = 0; t < NT; t++) {
        if (t < n_tok) {
            float xx[8];
            const float* xt = xp + (i64)t * cols;
            if (xv) {
                const float4 a = *(const float4*)xt, b = *(const float4*)(xt + 4);
                xx[0] = a.x, xx[1] = a.y, xx[2] = a.z, xx[3] = a.w, xx[4] = b.x, xx[5] = b.y, xx[6] = b.z, xx[7] = b.w;
            } else {
#pragma unroll
                for (int i = 0; i < 8; i++) xx[i] = xt[i];
            }
            float sq0 = q[0] * xx[0], sq1 = q[1] * xx[1];
#pragma unroll
            for (int i = 2; i < 8; i += 2) {
                sq0 = fmaf(q[i], xx[i], sq0);
                sq1 = fmaf(q[i + 1], xx[i + 1], sq1);
            }
            acc[t] = fmaf(d, sq0 + sq1, acc[t]);
            if (MvQ<T>::HAS_MIN) {
                const float sx = ((xx[0] + xx[1]) + (xx[2] + xx[3])) + ((xx[4] + xx[5]) + (xx[6] + xx[7]));
                acc[t] = fmaf(m, sx, acc[t]);
            }
        }
    }
}

// Rows that start 16-byte aligned. The warp stages one batch at a time in its shared buffer sw; the
// next batch's 16-byte loads (VPL per lane) are issued before the current one is decoded, so they are
// in flight during the arithmetic. In pass p (0 .. 7) lane l takes slice (l % 4) of chunk
// 8 p + l / 4; the lanes of a pass read 256 consecutive floats of each x row, coalesced.
template <class T, int NT>
__device__ __forceinline__ void matvec_quant_fast(const u8* __restrict__ row, const float* __restrict__ x, float* acc, int cols, int n_tok,
                                                  bool xv, int lane, u8* sw) {
    typedef MvBatch<T> B;
    const int CPB = T::QK / 32;
    const int nblocks = cols / T::QK;
    const int nbatch = (nblocks + B::NB - 1) / B::NB;
    const int j0 = (lane & 3) * 8;
    V16 pre[B::VPL];
    {
        const int nvec = (min(B::NB, nblocks) * T::TS) >> 4;
#pragma unroll
        for (int k = 0; k < B::VPL; k++)
            if (lane + 32 * k < nvec) pre[k] = ld_stream((const V16*)row + lane + 32 * k);
    }
    for (int bt = 0; bt < nbatch; bt++) {
        const int nbk = min(B::NB, nblocks - bt * B::NB);  // blocks in this batch
        const int nbytes = nbk * T::TS;
        const int nvec = nbytes >> 4;
        const u8* src = row + (i64)bt * B::BYTES;
#pragma unroll
        for (int k = 0; k < B::VPL; k++)
            if (lane + 32 * k < nvec) ((V16*)sw)[lane + 32 * k] = pre[k];
        if (lane < ((nbytes & 15) >> 1)) ((u16*)(sw + nvec * 16))[lane] = ((const u16*)(src + nvec * 16))[lane];  // only in a last, short batch
        __syncwarp();
        if (bt + 1 < nbatch) {
            const int nv2 = (min(B::NB, nblocks - (bt + 1) * B::NB) * T::TS) >> 4;
            const V16* s2 = (const V16*)(src + B::BYTES);
#pragma unroll
            for (int k = 0; k < B::VPL; k++)
                if (lane + 32 * k < nv2) pre[k] = ld_stream(s2 + lane + 32 * k);
        }
        const int nc = nbk * CPB;
        const int QU = NT == 1 ? MV_QU1 : 1;  // passes unrolled together
#pragma unroll 1
        for (int p0 = 0; p0 < B::CHUNKS / 8; p0 += QU) {
#pragma unroll
            for (int p = p0; p < p0 + QU; p++) {
                const int ci = p * 8 + (lane >> 2);
                if (ci < nc) mv_slice<T, NT>(sw + (ci / CPB) * T::TS, ci % CPB, j0, x + ((i64)bt * B::CHUNKS + ci) * 32 + j0, cols, n_tok, xv, acc);
            }
        }
        __syncwarp();
    }
}

// Any row alignment (2 bytes): batches of 32 chunks copied with the widest loads the address allows.
template <class T>
__device__ __forceinline__ void matvec_quant_any(const u8* __restrict__ row, const float* __restrict__ x, float* acc, int cols, int n_tok,
                                                 bool xv, int lane, u8* sw) {
    const int CPB = T::QK / 32;
    const int nchunks = cols >> 5;
    const int j0 = (lane & 3) * 8;
    for (int c0 = 0; c0 < nchunks; c0 += 32) {
        const int nc = min(32, nchunks - c0);  // a multiple of CPB
        warp_copy(sw, row + (i64)(c0 / CPB) * T::TS, (nc / CPB) * T::TS, lane);
        __syncwarp();
#pragma unroll
        for (int p = 0; p < 4; p++) {
            const int ci = p * 8 + (lane >> 2);
            if (ci < nc) mv_slice<T, MV_MAXTOK>(sw + (ci / CPB) * T::TS, ci % CPB, j0, x + (i64)(c0 + ci) * 32 + j0, cols, n_tok, xv, acc);
        }
        __syncwarp();
    }
}

template <class T>
__device__ __forceinline__ void matvec_quant(const u8* __restrict__ W, i64 row_bytes, const float* __restrict__ x, float* __restrict__ y,
                                             int rows, int cols, int n_tok) {
    __shared__ __align__(16) u8 stage[MV_WARPS][MvBatch<T>::BYTES];
    const int lane = threadIdx.x;
    const int r = blockIdx.x * MV_WARPS + threadIdx.y;
    if (r >= rows) return;
    const u8* row = W + (i64)r * row_bytes;
    u8* sw = stage[threadIdx.y];
    // cols is a multiple of 32, so x + t * cols + 8 k is 16-byte aligned whenever x is.
    const bool xv = (((u64)x) & 15) == 0;
    float acc[MV_MAXTOK];
#pragma unroll
    for (int t = 0; t < MV_MAXTOK; t++) acc[t] = 0.0f;
    if ((((u64)row) & 15) != 0) {
        matvec_quant_any<T>(row, x, acc, cols, n_tok, xv, lane, sw);
    } else if (n_tok == 1 && xv) {
        matvec_quant_fast<T, 1>(row, x, acc, cols, 1, true, lane, sw);
    } else {
        matvec_quant_fast<T, MV_MAXTOK>(row, x, acc, cols, n_tok, xv, lane, sw);
    }
    mv_store(acc, y, rows, r, n_tok, lane);
}

template <class T>
__device__ __forceinline__ void matvec_flt(const u8* __restrict__ W, i64 row_bytes, const float* __restrict__ x, float* __restrict__ y,
                                           int rows, int cols, int n_tok) {
    const int lane = threadIdx.x;
    const int r = blockIdx.x * MV_WARPS + threadIdx.y;
    if (r >= rows) return;
    const u8* row = W + (i64)r * row_bytes;
    float acc[MV_MAXTOK];
#pragma unroll
    for (int t = 0; t < MV_MAXTOK; t++) acc[t] = 0.0f;
    if (n_tok == 1 && (((u64)x) & 15) == 0 && cols % 4 == 0)
        matvec_float<T, 1>(row, x, acc, cols, 1, lane);
    else
        matvec_float<T, MV_MAXTOK>(row, x, acc, cols, n_tok, lane);
    mv_store(acc, y, rows, r, n_tok, lane);
}

#define MATVEC_FLOAT(name, T)                                                                                      \
    extern "C" __global__ void __launch_bounds__(256, MV_MINB) matvec_##name(const u8* __restrict__ W, i64 row_bytes,      \
                                                                    const float* __restrict__ x, float* __restrict__ y, \
                                                                    int rows, int cols, int n_tok) {              \
        matvec_flt<T>(W, row_bytes, x, y, rows, cols, n_tok);                                                      \
    }
#define MATVEC_QUANT(name, T)                                                                                      \
    extern "C" __global__ void __launch_bounds__(256, MV_MINB) matvec_##name(const u8* __restrict__ W, i64 row_bytes,      \
                                                                    const float* __restrict__ x, float* __restrict__ y, \
                                                                    int rows, int cols, int n_tok) {              \
        matvec_quant<T>(W, row_bytes, x, y, rows, cols, n_tok);                                                    \
    }

LN_FLOAT_TYPES(MATVEC_FLOAT)
LN_QUANT_TYPES(MATVEC_QUANT)
