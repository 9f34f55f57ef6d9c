// norm.cu: residual add + RMS norm, and the element-wise kernels.
//
// add_rms_norm: one block of 256 threads per row (grid (n_rows)); thread i handles the values
//   i, i + 256, ... of the row, the sum of squares is reduced over the block (warp shuffles, then
//   one value per warp in shared memory). If delta is not null, x += delta is written back first;
//   then out = x * (1 / sqrt(mean(x^2) + eps)) * w. Each thread reads back only values it wrote
//   itself, so out may equal x.
// add_bias, add, swiglu, geglu, scale: one thread per value (grid (ceil(n / 256)), block 256),
//   written as grid-stride loops so any grid size is correct.
#include "common.cuh"

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float part[32];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) part[wid] = v;
    __syncthreads();
    v = lane < nw ? part[lane] : 0.0f;
    return warp_sum(v);
}

extern "C" __global__ void __launch_bounds__(256)
    add_rms_norm(float* x, const float* delta, const float* w, float* out, int dim, float eps) {
    float* xr = x + (i64)blockIdx.x * dim;
    float* orow = out + (i64)blockIdx.x * dim;
    float ss = 0.0f;
    if (delta != 0) {
        const float* dr = delta + (i64)blockIdx.x * dim;
        for (int c = threadIdx.x; c < dim; c += blockDim.x) {
            const float v = xr[c] + dr[c];
            xr[c] = v;
            ss = fmaf(v, v, ss);
        }
    } else {
        for (int c = threadIdx.x; c < dim; c += blockDim.x) {
            const float v = xr[c];
            ss = fmaf(v, v, ss);
        }
    }
    ss = block_sum(ss);
    const float inv = 1.0f / sqrtf(ss / (float)dim + eps);
    for (int c = threadIdx.x; c < dim; c += blockDim.x) {
        const float v = __fmul_rn(xr[c], inv);
        orow[c] = w != 0 ? __fmul_rn(v, w[c]) : v;
    }
}

extern "C" __global__ void add_bias(float* __restrict__ x, const float* __restrict__ b, int n_rows, int dim) {
    const i64 n = (i64)n_rows * dim, stride = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) x[i] += b[i % dim];
}

extern "C" __global__ void add(float* __restrict__ x, const float* __restrict__ y, i64 n) {
    const i64 stride = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) x[i] += y[i];
}

// gate = silu(gate) * up, silu(g) = g / (1 + exp(-g)).
extern "C" __global__ void swiglu(float* __restrict__ gate, const float* __restrict__ up, i64 n) {
    const i64 stride = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

// gate = gelu_tanh(gate) * up, gelu_tanh(g) = 0.5 g (1 + tanh(sqrt(2 / pi) (g + 0.044715 g^3))).
extern "C" __global__ void geglu(float* __restrict__ gate, const float* __restrict__ up, i64 n) {
    const i64 stride = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float g = gate[i];
        const float t = tanhf(0.7978845608028654f * (g + 0.044715f * g * g * g));
        gate[i] = 0.5f * g * (1.0f + t) * up[i];
    }
}

extern "C" __global__ void scale(float* __restrict__ x, float s, i64 n) {
    const i64 stride = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) x[i] *= s;
}
