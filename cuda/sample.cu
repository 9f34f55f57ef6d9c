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

// argmax_logprob: grid (n_rows), block (1024). argmax_rows' choice for row r (same rule), and the
// log-softmax of the row at that index: -log(sum_c exp(logits[c] - max)), summed in f32 by each
// thread over its strided values, then across the block. Greedy decoding then sends only an id
// and a float to the host.
extern "C" __global__ void __launch_bounds__(1024) argmax_logprob(const float* __restrict__ logits, int vocab, int* __restrict__ ids,
                                                                float* __restrict__ logprobs) {
    __shared__ float sv[32];
    __shared__ int si[32];
    __shared__ float best;
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
        if (lane == 0) {
            ids[blockIdx.x] = bi == NONE ? 0 : bi;
            best = bv;
        }
    }
    __syncthreads();
    const float m = best;
    float sum = 0.f;
    for (int c = threadIdx.x; c < vocab; c += blockDim.x) sum += expf(row[c] - m);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    __syncthreads();  // sv is reused
    if (lane == 0) sv[wid] = sum;
    __syncthreads();
    if (wid == 0) {
        sum = lane < nw ? sv[lane] : 0.f;
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
        if (lane == 0) logprobs[blockIdx.x] = -logf(sum);
    }
}
