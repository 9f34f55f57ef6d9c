// prefill.cu: the small kernels around cuBLAS's batched GEMMs for prefill attention (CONTRACT.md,
// "Round 2"). One sequence's span of n_tok query rows (row0 .., positions pos0 ..) against its keys
// 0 .. n_keys - 1 (n_keys = pos0 + n_tok):
//
// attn_gather_q: grid (n_tok, n_head), block 128. Block (t, h) copies q row row0 + t, head h, to
//   qg[h][t][0 .. head_dim) as bf16 (round to nearest even).
// attn_gather_kv: grid (n_keys, n_kv_head), block 128. Block (p, j) copies key position p, kv head j
//   from its paged cache slot to kg[j][p][..] and vg[j][p][..] as bf16.
// attn_softmax: grid (n_rows = n_head * n_tok), block 256. Row R (t = R % n_tok, pos = pos0 + t)
//   holds f32 scores s[R][0 .. n_keys); keys lo ..= pos are valid (lo from the window). Pass 1: each
//   thread keeps an online (max, sum of exp) over its valid keys; the block merges them (warp
//   shuffles, then shared memory). Pass 2 writes p[R][j] = bf16(exp(scale s - m) / l) for valid j
//   and 0 for every other j < n_keys (invalid keys are not read).
// attn_scatter_out: grid (n_tok, n_head), block 128. o[h][t][..] (f32) back to the row layout
//   out[row0 + t][h * head_dim ..].
//
// All element offsets are 64-bit. The copies use 16-byte f32 loads (8-byte bf16 stores) when
// head_dim % 4 == 0 and the base pointers allow it, one element per thread otherwise.
#include "common.cuh"

__device__ __forceinline__ uint2 pack4_bf16(float4 v) {
    uint2 r;
    r.x = (u32)to_bf16(v.x) | ((u32)to_bf16(v.y) << 16);
    r.y = (u32)to_bf16(v.z) | ((u32)to_bf16(v.w) << 16);
    return r;
}

// dst[0 .. n) = bf16(src[0 .. n)), the block's threads together; vec: 16-byte aligned src, 8-byte
// aligned dst, n % 4 == 0.
__device__ __forceinline__ void row_to_bf16(const float* __restrict__ src, u16* __restrict__ dst, int n, bool vec) {
    if (vec) {
        for (int c = threadIdx.x; c < (n >> 2); c += blockDim.x) ((uint2*)dst)[c] = pack4_bf16(((const float4*)src)[c]);
    } else {
        for (int c = threadIdx.x; c < n; c += blockDim.x) dst[c] = to_bf16(src[c]);
    }
}

extern "C" __global__ void __launch_bounds__(128)
    attn_gather_q(const float* __restrict__ q, u16* __restrict__ qg, int row0, int n_tok, int n_head, int head_dim) {
    const int t = blockIdx.x, h = blockIdx.y;
    if (t >= n_tok || h >= n_head) return;
    const bool vec = (head_dim & 3) == 0 && (((u64)q) & 15) == 0 && (((u64)qg) & 7) == 0;
    row_to_bf16(q + ((i64)(row0 + t) * n_head + h) * head_dim, qg + ((i64)h * n_tok + t) * head_dim, head_dim, vec);
}

extern "C" __global__ void __launch_bounds__(128)
    attn_gather_kv(const float* __restrict__ kc, const float* __restrict__ vc, const int* __restrict__ block_table, u16* __restrict__ kg,
                   u16* __restrict__ vg, int n_keys, int n_kv_head, int head_dim, int block_size) {
    const int p = blockIdx.x, j = blockIdx.y;
    if (p >= n_keys || j >= n_kv_head) return;
    const i64 slot = (i64)block_table[p / block_size] * block_size + p % block_size;
    const i64 src = slot * n_kv_head * head_dim + (i64)j * head_dim;
    const i64 dst = ((i64)j * n_keys + p) * head_dim;
    const bool vec = (head_dim & 3) == 0 && ((((u64)kc) | ((u64)vc)) & 15) == 0 && ((((u64)kg) | ((u64)vg)) & 7) == 0;
    row_to_bf16(kc + src, kg + dst, head_dim, vec);
    row_to_bf16(vc + src, vg + dst, head_dim, vec);
}

#define SM_THREADS 256

// Merge the online softmax state (m2, l2) into (m, l).
__device__ __forceinline__ void ml_merge(float& m, float& l, float m2, float l2) {
    if (m2 == LN_NEG_INF) return;
    if (m == LN_NEG_INF) {
        m = m2;
        l = l2;
        return;
    }
    const float M = fmaxf(m, m2);
    l = l * expf(m - M) + l2 * expf(m2 - M);
    m = M;
}

extern "C" __global__ void __launch_bounds__(SM_THREADS)
    attn_softmax(const float* __restrict__ s, u16* __restrict__ p, int n_tok, int n_keys, int pos0, float scale, int window, int n_rows) {
    __shared__ float wm[SM_THREADS / 32], wl[SM_THREADS / 32];
    const int R = blockIdx.x;
    if (R >= n_rows) return;
    const int t = R % n_tok;
    const int pos = pos0 + t;
    const int lo = window > 0 ? max(0, pos - window + 1) : 0;
    const int hi = min(pos, n_keys - 1);  // valid keys lo ..= hi
    const float* sr = s + (i64)R * n_keys;
    u16* pr = p + (i64)R * n_keys;
    const int tid = threadIdx.x, lane = tid & 31, wid = tid >> 5;

    // pass 1: this thread's max and sum of exp over its valid keys
    float m = LN_NEG_INF, l = 0.0f;
    for (int j = lo + tid; j <= hi; j += SM_THREADS) {
        const float v = scale * sr[j];
        if (v > m) {
            l = l * expf(m - v) + 1.0f;  // exp(-inf) = 0 on the first key
            m = v;
        } else {
            l += expf(v - m);
        }
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, off);
        const float l2 = __shfl_xor_sync(0xffffffffu, l, off);
        ml_merge(m, l, m2, l2);
    }
    if (lane == 0) {
        wm[wid] = m;
        wl[wid] = l;
    }
    __syncthreads();
    float M = LN_NEG_INF, L = 0.0f;
#pragma unroll
    for (int w = 0; w < SM_THREADS / 32; w++) ml_merge(M, L, wm[w], wl[w]);

    // pass 2: probabilities for lo ..= hi, 0 elsewhere
    const bool vec = (n_keys & 3) == 0 && (((u64)s) & 15) == 0 && (((u64)p) & 7) == 0;
    if (vec) {
        for (int j4 = tid; j4 < (n_keys >> 2); j4 += SM_THREADS) {
            const int j = j4 << 2;
            uint2 out = {0u, 0u};
            if (j + 3 >= lo && j <= hi) {
                const float4 v = ((const float4*)sr)[j4];
                const float e0 = (j >= lo && j <= hi) ? expf(scale * v.x - M) / L : 0.0f;
                const float e1 = (j + 1 >= lo && j + 1 <= hi) ? expf(scale * v.y - M) / L : 0.0f;
                const float e2 = (j + 2 >= lo && j + 2 <= hi) ? expf(scale * v.z - M) / L : 0.0f;
                const float e3 = (j + 3 >= lo && j + 3 <= hi) ? expf(scale * v.w - M) / L : 0.0f;
                out = pack4_bf16(make_float4(e0, e1, e2, e3));
            }
            ((uint2*)pr)[j4] = out;
        }
    } else {
        for (int j = tid; j < n_keys; j += SM_THREADS) pr[j] = (j >= lo && j <= hi) ? to_bf16(expf(scale * sr[j] - M) / L) : (u16)0;
    }
}

extern "C" __global__ void __launch_bounds__(128)
    attn_scatter_out(const float* __restrict__ o, float* __restrict__ out, int row0, int n_tok, int n_head, int head_dim) {
    const int t = blockIdx.x, h = blockIdx.y;
    if (t >= n_tok || h >= n_head) return;
    const float* src = o + ((i64)h * n_tok + t) * head_dim;
    float* dst = out + ((i64)(row0 + t) * n_head + h) * head_dim;
    if ((head_dim & 3) == 0 && ((((u64)o) | ((u64)out)) & 15) == 0) {
        for (int c = threadIdx.x; c < (head_dim >> 2); c += blockDim.x) ((float4*)dst)[c] = ((const float4*)src)[c];
    } else {
        for (int c = threadIdx.x; c < head_dim; c += blockDim.x) dst[c] = src[c];
    }
}
