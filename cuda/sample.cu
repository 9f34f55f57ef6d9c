// sample.cu: greedy sampling on the device.
//
// argmax_rows: grid (n_rows), block (1024). Block r scans logits[r * vocab .. + vocab): thread i
//   keeps the best (value, index) of the values i, i + 1024, ...; the pairs are reduced with warp
//   shuffles, then across the 32 warps in shared memory. The largest value wins, the lowest index
//   among equal values; NaN never wins. A row of nothing but NaN gives 0.
#include "common.cuh"

// Does (v, i) beat (bv, bi)?
__device__ __forceinline__ bool am_better(float v, int i, float bv, int bi) { return v > bv || (v == bv && i < bi); }

extern "C" __global__ void __launch_bounds__(1024) argmax_rows(const float* __restrict__ logits, int vocab, int* __restrict__ out) {
    __shared__ float sv[32];
    __shared__ int si[32];
    const float* row = logits + (i64)blockIdx.x * vocab;
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const int NONE = 0x7fffffff;

    float bv = LN_NEG_INF;
    int bi = NONE;
    for (int c = threadIdx.x; c < vocab; c += blockDim.x) {
        const float v = row[c];
        if (am_better(v, c, bv, bi)) {
            bv = v;
            bi = c;
        }
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, bv, off);
        const int oi = __shfl_xor_sync(0xffffffffu, bi, off);
        if (am_better(ov, oi, bv, bi)) {
            bv = ov;
            bi = oi;
        }
    }
    if (lane == 0) {
        sv[wid] = bv;
        si[wid] = bi;
    }
    __syncthreads();
    if (wid == 0) {
        bv = lane < nw ? sv[lane] : LN_NEG_INF;
        bi = lane < nw ? si[lane] : NONE;
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            const float ov = __shfl_xor_sync(0xffffffffu, bv, off);
            const int oi = __shfl_xor_sync(0xffffffffu, bi, off);
            if (am_better(ov, oi, bv, bi)) {
                bv = ov;
                bi = oi;
            }
        }
        if (lane == 0) out[blockIdx.x] = bi == NONE ? 0 : bi;
    }
}
