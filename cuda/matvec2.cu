// matvec2.cu: matvec2_TY for the float weight types (f32, f16, bf16): the same product as matvec_TY,
// y[t * rows + r] = sum_c W[r][c] * x[t * cols + c] for t < n_tok (1..8), r < rows, with a launch
// shaped for bandwidth on every decode shape (CONTRACT.md "Round 3: matvec2").
//
// Why not matvec's one warp per row: on a 4096x4096 BF16 matrix matvec reaches 1.6 TB/s of 4.2,
// 3.7 TB/s only on 128256 rows. Its warps walk their rows in lockstep, 4 KB per lane round, so the
// whole GPU first reads the first half of every 8 KB row, then the second half: the addresses in
// flight at any moment are a comb, not a range, which spreads badly over the DRAM channels; and
// 1024 rows keep only 1024 warps (a quarter of the GPU) busy.
//
// Layout chosen (not a split-row reduction across warps of a long row, nor x staged in shared
// memory): a block of 256 threads owns R consecutive rows, R = 8, 4, 2, 1 for rows of at most
// 4, 8, 16 KB, longer (R * row bytes <= 32 KB), halved while that leaves fewer than 512 blocks
// (1024 rows: 512 blocks of 2 rows). Thread t takes the 16-byte vectors t, t + 256, ... of each of
// the R rows: every thread issues R * KU = 8 streaming 16-byte loads (ld.global.nc.L1::no_allocate,
// KU = 8 / R column steps) before it uses any of them, so with rows of at most 32 KB (every shape
// in a Llama-style model in BF16: 8 KB and 28 KB rows) a block reads its whole contiguous span
// (R rows, <= 32 KB) in one go, and the blocks that are resident together (4 per SM, consecutive
// indices) cover one contiguous range of the matrix, like a memcpy. Bytes in flight: 4 blocks x
// 32 KB = 128 KB per SM at launch, several times the ~30 KB that 4.8 TB/s x ~700 ns asks of each
// of 132 SMs, so the block turnover (reduce, exit, next block) is hidden. x is read through L1
// (weights do not allocate there) as float4s, once per column step and reused for the R rows in
// registers: no shared-memory staging, which would cap cols at 48 KB / 4 and cost a barrier.
// Rows longer than 32 KB take several such 32 KB rounds.
//
// Reduction: each thread holds one f32 partial sum per row (per row and token on the general
// path), summed over the warp with shuffles and over the 8 warps through 2 KB of static shared
// memory (one __syncthreads). Every block runs the same number of barriers, all threads take part.
//
// Paths: the fast one above needs n_tok == 1 and W, row_bytes and x 16-byte aligned. Anything
// else (n_tok > 1, misaligned x, rows not 16-byte aligned) takes the general path: the block's
// rows one after another, 2 vectors in flight per thread, n_tok partial sums per thread, x read
// as float4s when x and cols allow (else element by element), and element-by-element 2-byte
// loads for a row that does not start 16-byte aligned. Elements past the last whole 16-byte
// vector of a row are added element by element on both paths.
//
// Registers: __launch_bounds__(256, 4): at most 64 per thread, 4 blocks (32 warps) per SM.
#include "common.cuh"

#define MV2_THREADS 256
#define MV2_WARPS 8
#define MV2_MAXTOK 8
#define MV2_SLOTS 8  // 16-byte loads in flight per thread on the fast path (R rows x KU steps)
#ifndef MV2_GEN
#define MV2_GEN 2  // 16-byte loads in flight per thread on the general path
#endif
#ifndef MV2_MINB
#define MV2_MINB 4
#endif

// Rows per block (CONTRACT.md "Round 3: matvec2"): es = bytes per element (f32 4, f16/bf16 2).
__device__ __forceinline__ int mv2_rows_per_block(int rows, int cols, int es) {
    const i64 b = (i64)cols * es;
    int r = b <= 4096 ? 8 : b <= 8192 ? 4 : b <= 16384 ? 2 : 1;
    while (r > 1 && ((i64)rows + r - 1) / r < 512) r >>= 1;
    return r;
}

// Weight loads that stream through: no L1 allocation (x stays in L1).
__device__ __forceinline__ V16 mv2_ld(const V16* p) {
#ifdef __CUDA_ARCH__
    V16 v;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
#else
    return *p;
#endif
}

// acc + w[0..N) . xp[0..N) (xp 16-byte aligned when xv).
template <int N>
__device__ __forceinline__ float mv2_dot(const float* w, const float* xp, bool xv, float acc) {
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

// Fast path: n_tok == 1, W, row_bytes and x 16-byte aligned. acc[r] for the block's row r0 + r
// (r < nr <= R).
template <class T, int R>
__device__ __forceinline__ void mv2_fast(const u8* __restrict__ W, i64 rb, const float* __restrict__ x, float* acc, int r0, int nr,
                                         int cols, int tid) {
    const int EPV = 16 / T::ES;
    const int KU = MV2_SLOTS / R;
    const int nv = cols / EPV;
    const V16* base = (const V16*)(W + (i64)r0 * rb);
    const i64 rv = rb >> 4;  // row stride in vectors
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.0f;
    for (int j0 = tid; j0 < nv; j0 += MV2_THREADS * KU) {
        V16 v[KU][R];
#pragma unroll
        for (int k = 0; k < KU; k++) {
#pragma unroll
            for (int r = 0; r < R; r++) {
                const int j = j0 + MV2_THREADS * k;
                if (j < nv && r < nr) {
                    v[k][r] = mv2_ld(base + r * rv + j);
                } else {
                    v[k][r].x = v[k][r].y = v[k][r].z = v[k][r].w = 0u;
                }
            }
        }
#pragma unroll
        for (int k = 0; k < KU; k++) {
            const int j = j0 + MV2_THREADS * k;
            if (j < nv) {
                float xx[EPV];
#pragma unroll
                for (int i = 0; i < EPV; i += 4) {
                    const float4 q = *(const float4*)(x + (i64)j * EPV + i);
                    xx[i] = q.x, xx[i + 1] = q.y, xx[i + 2] = q.z, xx[i + 3] = q.w;
                }
#pragma unroll
                for (int r = 0; r < R; r++) {
                    float w[EPV];
                    T::unpack(v[k][r], w);
#pragma unroll
                    for (int i = 0; i < EPV; i++) acc[r] = fmaf(w[i], xx[i], acc[r]);
                }
            }
        }
    }
#pragma unroll 1
    for (int c = nv * EPV + tid; c < cols; c += MV2_THREADS) {  // past the last whole vector
        const float xc = x[c];
#pragma unroll
        for (int r = 0; r < R; r++)
            if (r < nr) acc[r] = fmaf(T::elem(W + (i64)(r0 + r) * rb, c), xc, acc[r]);
    }
}

// General path, one row: acc[t] (t < n_tok) for row `row` (any 2-byte alignment).
template <class T, bool XV>
__device__ __forceinline__ void mv2_row(const u8* __restrict__ row, const float* __restrict__ x, float* acc, int cols, int n_tok, int tid) {
    const int EPV = 16 / T::ES;
    const int nv = ((((u64)row) & 15) == 0) ? cols / EPV : 0;
    const V16* rvp = (const V16*)row;
#pragma unroll
    for (int t = 0; t < MV2_MAXTOK; t++) acc[t] = 0.0f;
    for (int j0 = tid; j0 < nv; j0 += MV2_THREADS * MV2_GEN) {
        V16 v[MV2_GEN];
#pragma unroll
        for (int k = 0; k < MV2_GEN; k++) {
            const int j = j0 + MV2_THREADS * k;
            if (j < nv) v[k] = mv2_ld(rvp + j);
            else v[k].x = v[k].y = v[k].z = v[k].w = 0u;
        }
#pragma unroll
        for (int k = 0; k < MV2_GEN; k++) {
            const int j = j0 + MV2_THREADS * k;
            if (j < nv) {
                float w[EPV];
                T::unpack(v[k], w);
                const float* xp = x + (i64)j * EPV;
#pragma unroll
                for (int t = 0; t < MV2_MAXTOK; t++)
                    if (t < n_tok) acc[t] = mv2_dot<EPV>(w, xp + (i64)t * cols, XV, acc[t]);
            }
        }
    }
#pragma unroll 1
    for (int c = nv * EPV + tid; c < cols; c += MV2_THREADS) {  // past the last whole vector, or an unaligned row
        const float w = T::elem(row, c);
#pragma unroll
        for (int t = 0; t < MV2_MAXTOK; t++)
            if (t < n_tok) acc[t] = fmaf(w, x[(i64)t * cols + c], acc[t]);
    }
}

template <class T>
__device__ __forceinline__ void matvec2_flt(const u8* __restrict__ W, i64 row_bytes, const float* __restrict__ x, float* __restrict__ y,
                                            int rows, int cols, int n_tok) {
    __shared__ float red[MV2_WARPS][MV2_WARPS * MV2_MAXTOK];  // [warp][row in block * 8 + token]
    const int R = mv2_rows_per_block(rows, cols, T::ES);
    const int r0 = blockIdx.x * R;
    if (r0 >= rows) return;  // a block past the end (the whole block leaves: no barrier is skipped)
    const int nr = min(R, rows - r0);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const bool fast = n_tok == 1 && ((((u64)W) | ((u64)row_bytes) | ((u64)x)) & 15) == 0;
    if (fast) {
        float acc[MV2_SLOTS];
        if (R == 8) mv2_fast<T, 8>(W, row_bytes, x, acc, r0, nr, cols, tid);
        else if (R == 4) mv2_fast<T, 4>(W, row_bytes, x, acc, r0, nr, cols, tid);
        else if (R == 2) mv2_fast<T, 2>(W, row_bytes, x, acc, r0, nr, cols, tid);
        else mv2_fast<T, 1>(W, row_bytes, x, acc, r0, nr, cols, tid);
#pragma unroll
        for (int r = 0; r < MV2_SLOTS; r++) {
            if (r < nr) {
                const float s = warp_sum(acc[r]);
                if (lane == 0) red[warp][r * MV2_MAXTOK] = s;
            }
        }
    } else {
        // cols % 4 == 0 keeps x + t * cols 16-byte aligned for every token
        const bool xv = ((((u64)x) & 15) == 0) && (n_tok == 1 || (cols & 3) == 0);
        for (int r = 0; r < nr; r++) {
            float acc[MV2_MAXTOK];
            if (xv) mv2_row<T, true>(W + (i64)(r0 + r) * row_bytes, x, acc, cols, n_tok, tid);
            else mv2_row<T, false>(W + (i64)(r0 + r) * row_bytes, x, acc, cols, n_tok, tid);
#pragma unroll
            for (int t = 0; t < MV2_MAXTOK; t++) {
                if (t < n_tok) {
                    const float s = warp_sum(acc[t]);
                    if (lane == 0) red[warp][r * MV2_MAXTOK + t] = s;
                }
            }
        }
    }
    __syncthreads();
    if (tid < nr * MV2_MAXTOK) {
        const int r = tid / MV2_MAXTOK, t = tid % MV2_MAXTOK;
        if (t < n_tok) {
            float s = 0.0f;
#pragma unroll
            for (int w = 0; w < MV2_WARPS; w++) s += red[w][tid];
            y[(i64)t * rows + r0 + r] = s;
        }
    }
}

#define MATVEC2_FLOAT(name, T)                                                                                          \
    extern "C" __global__ void __launch_bounds__(MV2_THREADS, MV2_MINB) matvec2_##name(const u8* __restrict__ W, i64 row_bytes, \
                                                                            const float* __restrict__ x, float* __restrict__ y, \
                                                                            int rows, int cols, int n_tok) {              \
        matvec2_flt<T>(W, row_bytes, x, y, rows, cols, n_tok);                                                          \
    }

MATVEC2_FLOAT(f32, T_f32)
MATVEC2_FLOAT(f16, T_f16)
MATVEC2_FLOAT(bf16, T_bf16)
