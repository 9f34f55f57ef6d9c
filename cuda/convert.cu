// convert.cu: weight rows to bf16 (for cuBLAS) or to f32 (embedding look-up), f32 -> bf16, and
// random fills.
//
// dequant_bf16_TY: out[r * cols + c] = bf16(W[r][c]). Grid (rows), block (256): block r converts
//   row r; thread i handles the 8-value slices c = 8 i, 8 i + 2048, ... (decoded with the shared
//   decoders of common.cuh) and stores each as one 16-byte vector when aligned.
// get_rows_TY: out[t * cols + c] = W[ids[t]][c]. Grid (n), block (256): block t copies row ids[t],
//   same slice layout as dequant_bf16.
// f32_to_bf16: y[i] = bf16(x[i]) (round to nearest even). Grid (ceil(n / 256)), block 256.
// fill_random_bf16 / fill_random_f32: uniform values from a counter-based hash of (seed, index),
//   so the result does not depend on the launch shape. Same launch; grid-stride loops.
#include "common.cuh"

template <class T>
__device__ __forceinline__ void dequant_bf16_row(const u8* __restrict__ W, i64 row_bytes, u16* __restrict__ out, int rows, int cols) {
    const int r = blockIdx.x;
    if (r >= rows) return;
    const u8* row = W + (i64)r * row_bytes;
    u16* o = out + (i64)r * cols;
    for (int c = threadIdx.x * 8; c < cols; c += blockDim.x * 8) {
        float w[8];
        Load8<T>::run(row, cols, c, w);
        u16* op = o + c;
        if (c + 8 <= cols && (((u64)op) & 15) == 0) {
            V16 v;
            v.x = (u32)to_bf16(w[0]) | ((u32)to_bf16(w[1]) << 16);
            v.y = (u32)to_bf16(w[2]) | ((u32)to_bf16(w[3]) << 16);
            v.z = (u32)to_bf16(w[4]) | ((u32)to_bf16(w[5]) << 16);
            v.w = (u32)to_bf16(w[6]) | ((u32)to_bf16(w[7]) << 16);
            *(V16*)op = v;
        } else {
#pragma unroll
            for (int i = 0; i < 8; i++)
                if (c + i < cols) op[i] = to_bf16(w[i]);
        }
    }
}

template <class T>
__device__ __forceinline__ void get_rows_impl(const u8* __restrict__ W, i64 row_bytes, const int* __restrict__ ids, float* __restrict__ out, int n,
                                              int cols) {
    const int t = blockIdx.x;
    if (t >= n) return;
    const u8* row = W + (i64)ids[t] * row_bytes;
    float* o = out + (i64)t * cols;
    for (int c = threadIdx.x * 8; c < cols; c += blockDim.x * 8) {
        float w[8];
        Load8<T>::run(row, cols, c, w);
        float* op = o + c;
        if (c + 8 <= cols && (((u64)op) & 15) == 0) {
            *(float4*)op = make_float4(w[0], w[1], w[2], w[3]);
            *(float4*)(op + 4) = make_float4(w[4], w[5], w[6], w[7]);
        } else {
#pragma unroll
            for (int i = 0; i < 8; i++)
                if (c + i < cols) op[i] = w[i];
        }
    }
}

#define CONVERT_KERNELS(name, T)                                                                                   \
    extern "C" __global__ void __launch_bounds__(256)                                                              \
        dequant_bf16_##name(const u8* __restrict__ W, i64 row_bytes, u16* __restrict__ out, int rows, int cols) { \
        dequant_bf16_row<T>(W, row_bytes, out, rows, cols);                                                        \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(256) get_rows_##name(                                             \
        const u8* __restrict__ W, i64 row_bytes, const int* __restrict__ ids, float* __restrict__ out, int n, int cols) { \
        get_rows_impl<T>(W, row_bytes, ids, out, n, cols);                                                         \
    }

LN_ALL_TYPES(CONVERT_KERNELS)

extern "C" __global__ void f32_to_bf16(const float* __restrict__ x, u16* __restrict__ y, i64 n) {
    const i64 stride = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = to_bf16(x[i]);
}

// splitmix64's finaliser.
__device__ __forceinline__ u64 mix64(u64 z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Uniform in [-1, 1): 24 random bits of the hash of (seed, i).
__device__ __forceinline__ float rand_pm1(u64 seed, i64 i) {
    const u64 h = mix64(seed ^ mix64((u64)i));
    return (float)(u32)(h >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

extern "C" __global__ void fill_random_bf16(u16* __restrict__ out, i64 n, unsigned long long seed, float scale) {
    const i64 stride = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = to_bf16(rand_pm1(seed, i) * scale);
}

extern "C" __global__ void fill_random_f32(float* __restrict__ out, i64 n, unsigned long long seed, float scale, float offset) {
    const i64 stride = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = offset + rand_pm1(seed, i) * scale;
}
