// gemm.cu: the tiled fallback matrix product for when cuBLAS is missing; the same result as
// matvec_TY for any n_tok: y[t * rows + r] = sum_c W[r][c] * x[t * cols + c].
//
// Launch (CONTRACT.md): grid (ceil(rows / 64), ceil(n_tok / 64)), block (16, 16). Block (bx, by)
// computes the 64 x 64 output tile of rows bx * 64 .. + 63 and tokens by * 64 .. + 63; thread
// (tx, ty) owns rows tx + 16 i and tokens ty + 16 j (i, j < 4). The k dimension advances 32 at a
// time: each of the 256 threads decodes one 8-value slice of the weight tile (row tid / 4, slice
// tid % 4) into shared memory as f32, the x tile (64 tokens x 32) is loaded coalesced, and each
// thread accumulates its 4 x 4 outputs from shared memory. Columns past `cols` (float types whose
// cols is not a multiple of 32) and rows / tokens past the end read as 0 and are not stored.
#include "common.cuh"

#define GT 64  // tile size (rows and tokens)
#define GK 32  // k step

template <class T>
__device__ __forceinline__ void gemm_impl(const u8* __restrict__ W, i64 row_bytes, const float* __restrict__ x, float* __restrict__ y,
                                          int rows, int cols, int n_tok) {
    // [k][row or token], padded so that both the stores and the reads are free of bank conflicts.
    __shared__ float Ws[GK][GT + 1];
    __shared__ float Xs[GK][GT + 1];

    const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
    const int r0 = blockIdx.x * GT, t0 = blockIdx.y * GT;
    const int lr = tid >> 2;        // the tile row this thread decodes
    const int j0 = (tid & 3) * 8;   // and its slice of the k step
    const bool row_ok = r0 + lr < rows;
    const u8* wrow = W + (i64)(row_ok ? r0 + lr : 0) * row_bytes;

    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < cols; k0 += GK) {
        float w[8];
        if (row_ok) {
            Load8<T>::run(wrow, cols, k0 + j0, w);
        } else {
#pragma unroll
            for (int i = 0; i < 8; i++) w[i] = 0.0f;
        }
#pragma unroll
        for (int i = 0; i < 8; i++) Ws[j0 + i][lr] = w[i];
#pragma unroll
        for (int u = 0; u < GT * GK / 256; u++) {
            const int e = tid + 256 * u;
            const int tk = e >> 5, kk = e & 31;
            const int t = t0 + tk, k = k0 + kk;
            Xs[kk][tk] = (t < n_tok && k < cols) ? x[(i64)t * cols + k] : 0.0f;
        }
        __syncthreads();
#pragma unroll 8
        for (int k = 0; k < GK; k++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = Ws[k][tx + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++) b[j] = Xs[k][ty + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }

#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int t = t0 + ty + 16 * j;
        if (t >= n_tok) continue;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int r = r0 + tx + 16 * i;
            if (r < rows) y[(i64)t * rows + r] = acc[i][j];
        }
    }
}

#define GEMM(name, T)                                                                                                \
    extern "C" __global__ void __launch_bounds__(256) gemm_##name(const u8* __restrict__ W, i64 row_bytes,            \
                                                                  const float* __restrict__ x, float* __restrict__ y, \
                                                                  int rows, int cols, int n_tok) {                    \
        gemm_impl<T>(W, row_bytes, x, y, rows, cols, n_tok);                                                          \
    }

LN_ALL_TYPES(GEMM)
