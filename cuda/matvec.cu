// matvec.cu: y[t * rows + r] = sum_c W[r][c] * x[t * cols + c] for t < n_tok (1..8), r < rows.
// Decode and small batches: each weight row is read from memory exactly once for all tokens.
//
// Launch (CONTRACT.md): grid (ceil(rows / 8)), block (32, 8). Warp threadIdx.y owns row
// blockIdx.x * 8 + threadIdx.y; its 32 lanes split the row, accumulate n_tok f32 partial sums each,
// and reduce them with __shfl_xor_sync at the end. Only __syncwarp is used, so a warp whose row
// is past the end simply returns.
//
// Float weights (f32, f16, bf16): when the row starts 16-byte aligned, lane l reads the 16-byte
// vectors l, l + 32, ... (four in flight per lane), fully coalesced; the elements past the last
// whole vector, or the whole row when it is not aligned, are read one element per lane.
//
// Quantized weights: the warp walks the row in batches of 32 chunks of 32 values (1024 values,
// 32 blocks of a legacy type or 4 K blocks). Each batch's bytes are first copied into the warp's
// own shared-memory buffer with the widest loads the address allows (16, 8, 4 or 2 bytes,
// coalesced), then decoded from there: in pass p (0..3) lane l decodes the 8-value slice
// (l % 4) of chunk 8 p + l / 4 and multiplies it with x, so the lanes of a pass read 256
// consecutive floats of each x row (32 bytes each), coalesced.
#include "common.cuh"

#define MV_WARPS 8
#define MV_MAXTOK 8

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

template <class T>
__device__ __forceinline__ void matvec_float(const u8* __restrict__ W, i64 row_bytes, const float* __restrict__ x,
                                             float* __restrict__ y, int rows, int cols, int n_tok) {
    const int EPV = 16 / T::ES;  // elements per 16-byte vector
    const int lane = threadIdx.x;
    const int r = blockIdx.x * MV_WARPS + threadIdx.y;
    if (r >= rows) return;
    const u8* row = W + (i64)r * row_bytes;
    const int nv = ((((u64)row) & 15) == 0) ? cols / EPV : 0;
    const bool xv = ((((u64)x) & 15) == 0) && (cols % 4 == 0);
    float acc[MV_MAXTOK];
#pragma unroll
    for (int t = 0; t < MV_MAXTOK; t++) acc[t] = 0.0f;

    const V16* rv = (const V16*)row;
    for (int g0 = lane; g0 < nv; g0 += 4 * 32) {
        V16 v[4];
#pragma unroll
        for (int u = 0; u < 4; u++) {
            const int g = g0 + 32 * u;
            if (g < nv) v[u] = rv[g];
        }
#pragma unroll
        for (int u = 0; u < 4; u++) {
            const int g = g0 + 32 * u;
            if (g < nv) {
                float w[EPV];
                T::unpack(v[u], w);
                const float* xp = x + (i64)g * EPV;
#pragma unroll
                for (int t = 0; t < MV_MAXTOK; t++)
                    if (t < n_tok) acc[t] = dot_n<EPV>(w, xp + (i64)t * cols, xv, acc[t]);
            }
        }
    }
    for (int c = nv * EPV + lane; c < cols; c += 32) {
        const float w = T::elem(row, c);
#pragma unroll
        for (int t = 0; t < MV_MAXTOK; t++)
            if (t < n_tok) acc[t] = fmaf(w, x[(i64)t * cols + c], acc[t]);
    }
    mv_store(acc, y, rows, r, n_tok, lane);
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

template <class T>
__device__ __forceinline__ void matvec_quant(const u8* __restrict__ W, i64 row_bytes, const float* __restrict__ x,
                                             float* __restrict__ y, int rows, int cols, int n_tok) {
    const int CPB = T::QK / 32;           // chunks per block
    const int BATCH = (32 / CPB) * T::TS;  // bytes of 32 chunks
    __shared__ __align__(16) u8 stage[MV_WARPS][(BATCH + 15) & ~15];

    const int lane = threadIdx.x;
    const int r = blockIdx.x * MV_WARPS + threadIdx.y;
    if (r >= rows) return;
    const u8* row = W + (i64)r * row_bytes;
    u8* sw = stage[threadIdx.y];
    const int nchunks = cols >> 5;
    // cols is a multiple of 32, so x + t * cols + 8 k is 16-byte aligned whenever x is.
    const bool xv = (((u64)x) & 15) == 0;
    const int j0 = (lane & 3) * 8;
    float acc[MV_MAXTOK];
#pragma unroll
    for (int t = 0; t < MV_MAXTOK; t++) acc[t] = 0.0f;

    for (int c0 = 0; c0 < nchunks; c0 += 32) {
        const int nc = min(32, nchunks - c0);  // a multiple of CPB
        warp_copy(sw, row + (i64)(c0 / CPB) * T::TS, (nc / CPB) * T::TS, lane);
        __syncwarp();
#pragma unroll
        for (int p = 0; p < 4; p++) {
            const int ci = p * 8 + (lane >> 2);
            if (ci < nc) {
                float w[8];
                T::decode8(sw + (ci / CPB) * T::TS, ci % CPB, j0, w);
                const float* xp = x + (i64)(c0 + ci) * 32 + j0;
#pragma unroll
                for (int t = 0; t < MV_MAXTOK; t++)
                    if (t < n_tok) acc[t] = dot_n<8>(w, xp + (i64)t * cols, xv, acc[t]);
            }
        }
        __syncwarp();
    }
    mv_store(acc, y, rows, r, n_tok, lane);
}

#define MATVEC_FLOAT(name, T)                                                                                      \
    extern "C" __global__ void __launch_bounds__(256) matvec_##name(const u8* __restrict__ W, i64 row_bytes,      \
                                                                    const float* __restrict__ x, float* __restrict__ y, \
                                                                    int rows, int cols, int n_tok) {              \
        matvec_float<T>(W, row_bytes, x, y, rows, cols, n_tok);                                                    \
    }
#define MATVEC_QUANT(name, T)                                                                                      \
    extern "C" __global__ void __launch_bounds__(256) matvec_##name(const u8* __restrict__ W, i64 row_bytes,      \
                                                                    const float* __restrict__ x, float* __restrict__ y, \
                                                                    int rows, int cols, int n_tok) {              \
        matvec_quant<T>(W, row_bytes, x, y, rows, cols, n_tok);                                                    \
    }

LN_FLOAT_TYPES(MATVEC_FLOAT)
LN_QUANT_TYPES(MATVEC_QUANT)
