// common.cuh: shared definitions for the kernels in cuda/*.cu (see cuda/CONTRACT.md).
//
// No standard headers and no cuda_fp16.h / cuda_bf16.h: every .cu file must also compile under
// NVRTC with this file pasted in place of its include line. So: own integer typedefs, f16 -> f32
// through inline PTX, bf16 by bit shifting, f32 -> bf16 rounding by hand.
//
// Weight decoders. GGML's block formats (src/quant/legacy.rs, src/quant/kquants.rs,
// src/quant/float.rs are the specification) are decoded here, once, for every kernel. The unit of
// decoding is a "slice": 8 consecutive values of a 32-value "chunk". Chunk `s` of a block holds
// the block's values 32 s .. 32 s + 31 (a legacy block is one chunk, s = 0; a K block of 256
// values is 8 chunks, s = 0..7), and slice `j0` (0, 8, 16 or 24) its values j0 .. j0 + 7.
// `T::decode8(blk, s, j0, out)` writes those 8 floats. Every product that the reference follows
// by an addition is written __fmul_rn so that no fused multiply-add changes its rounding: the
// decoded values equal the Rust reference's bit for bit.
//
// Alignment: GGML block sizes are all even and rows start at `W + r * row_bytes` with W from the
// allocator and row_bytes even, so blocks are at least 2-byte aligned and nothing more is assumed
// of them: multi-byte fields are read with 16-bit loads (ld_u16, ld8).

#ifndef LANNER_COMMON_CUH
#define LANNER_COMMON_CUH

typedef unsigned char u8;
typedef signed char i8;
typedef unsigned short u16;
typedef short i16;
typedef unsigned int u32;
typedef int i32;
typedef long long i64;
typedef unsigned long long u64;

#define LN_NEG_INF (__int_as_float(0xff800000))

// ---- scalar conversions ---------------------------------------------------------------------------

__device__ __forceinline__ float f16_to_f32(u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ float bf16_to_f32(u16 h) { return __uint_as_float(((u32)h) << 16); }

// Round to nearest, ties to even; NaN stays NaN (quiet bit set, as the `half` crate does).
__device__ __forceinline__ u16 to_bf16(float f) {
    u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (u16)(u >> 16);
}

// ---- unaligned-safe loads (2-byte alignment assumed) ----------------------------------------------

__device__ __forceinline__ u32 ld_u16(const u8* p) { return (u32)(*(const u16*)p); }

// 8 bytes at a 2-byte aligned address as four 16-bit words: byte i is (w[i / 2] >> 8 (i % 2)) & 255.
struct B8 {
    u32 w[4];
};

__device__ __forceinline__ B8 ld8(const u8* p) {
    const u16* q = (const u16*)p;
    B8 r;
#pragma unroll
    for (int k = 0; k < 4; k++) r.w[k] = q[k];
    return r;
}

// Byte i (0..7, a compile-time constant after unrolling) of a B8, shifted right by sh more bits;
// the caller masks the bits it wants.
__device__ __forceinline__ u32 bits_of(const B8& b, int i, int sh) { return b.w[i >> 1] >> (8 * (i & 1) + sh); }

// Exact int -> float for small integers without a conversion instruction: v (0 <= v < 2^23) OR'd
// into the bits of 2^23 is the float 2^23 + v; subtracting 2^23 + bias leaves v - bias exactly
// (every integer below 2^24 is a float, and the subtraction of two such is exact).
#define LN_MAGIC 0x4b000000u
__device__ __forceinline__ float int_minus(u32 v, float bias_plus_2p23) { return __uint_as_float(v | LN_MAGIC) - bias_plus_2p23; }
#define LN_2P23 8388608.0f

__device__ __forceinline__ float f16_at(const u8* p) { return f16_to_f32((u16)ld_u16(p)); }

// 16-byte vector; loads through it need 16-byte aligned addresses (callers check at run time).
struct __align__(16) V16 {
    u32 x, y, z, w;
};

// ---- warp helpers ---------------------------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}

// ---- float weight types: element-wise, little-endian ------------------------------------------------

// Elements of F32 weights are read as two 16-bit halves in the scalar paths (no 4-byte alignment
// assumed); the vector paths (16-byte loads) run only on 16-byte aligned rows.
struct T_f32 {
    enum { ES = 4 };  // bytes per element
    static __device__ __forceinline__ float elem(const u8* row, int c) {
        const u8* p = row + (i64)c * 4;
        return __uint_as_float(ld_u16(p) | (ld_u16(p + 2) << 16));
    }
    // The 16-byte vector holds 4 values.
    static __device__ __forceinline__ void unpack(const V16& v, float* w) {
        w[0] = __uint_as_float(v.x);
        w[1] = __uint_as_float(v.y);
        w[2] = __uint_as_float(v.z);
        w[3] = __uint_as_float(v.w);
    }
};

struct T_f16 {
    enum { ES = 2 };
    static __device__ __forceinline__ float elem(const u8* row, int c) { return f16_to_f32((u16)ld_u16(row + (i64)c * 2)); }
    // The 16-byte vector holds 8 values.
    static __device__ __forceinline__ void unpack(const V16& v, float* w) {
        w[0] = f16_to_f32((u16)(v.x & 0xffffu));
        w[1] = f16_to_f32((u16)(v.x >> 16));
        w[2] = f16_to_f32((u16)(v.y & 0xffffu));
        w[3] = f16_to_f32((u16)(v.y >> 16));
        w[4] = f16_to_f32((u16)(v.z & 0xffffu));
        w[5] = f16_to_f32((u16)(v.z >> 16));
        w[6] = f16_to_f32((u16)(v.w & 0xffffu));
        w[7] = f16_to_f32((u16)(v.w >> 16));
    }
};

struct T_bf16 {
    enum { ES = 2 };
    static __device__ __forceinline__ float elem(const u8* row, int c) { return bf16_to_f32((u16)ld_u16(row + (i64)c * 2)); }
    static __device__ __forceinline__ void unpack(const V16& v, float* w) {
        w[0] = __uint_as_float(v.x << 16);
        w[1] = __uint_as_float(v.x & 0xffff0000u);
        w[2] = __uint_as_float(v.y << 16);
        w[3] = __uint_as_float(v.y & 0xffff0000u);
        w[4] = __uint_as_float(v.z << 16);
        w[5] = __uint_as_float(v.z & 0xffff0000u);
        w[6] = __uint_as_float(v.w << 16);
        w[7] = __uint_as_float(v.w & 0xffff0000u);
    }
};

// Values c .. c + 7 of a float row (c a multiple of 8), 0 past `cols`.
template <class T>
__device__ __forceinline__ void float_load8(const u8* row, int cols, int c, float* out) {
    const u8* p = row + (i64)c * T::ES;
    if (c + 8 <= cols && (((u64)p) & 15) == 0) {
        V16 v = *(const V16*)p;
        if (T::ES == 2) {
            T::unpack(v, out);
        } else {
            V16 v2 = *(const V16*)(p + 16);
            T::unpack(v, out);
            T::unpack(v2, out + 4);
        }
        return;
    }
#pragma unroll
    for (int i = 0; i < 8; i++) out[i] = (c + i < cols) ? T::elem(row, c + i) : 0.0f;
}

// ---- legacy 32-value blocks (src/quant/legacy.rs) ------------------------------------------------
// Value j < 16 of a block is the low nibble of qs[j], value j >= 16 the high nibble of qs[j - 16]:
// slice j0 reads qs[(j0 & 15) .. + 8], nibble shift 4 when j0 >= 16. The 5th bit of value j
// (Q5_*) is bit j of qh.

// Q4_0 (18 B): d f16 | qs[16]    x = (q - 8) d
struct T_q4_0 {
    enum { QK = 32, TS = 18 };
    static __device__ __forceinline__ void decode8(const u8* b, int s, int j0, float* out) {
        (void)s;
        const float d = f16_at(b);
        const B8 q = ld8(b + 2 + (j0 & 15));
        const int sh = (j0 & 16) ? 4 : 0;
#pragma unroll
        for (int i = 0; i < 8; i++) out[i] = int_minus(bits_of(q, i, sh) & 15u, LN_2P23 + 8.0f) * d;
    }
};

// Q4_1 (20 B): d f16 | m f16 | qs[16]    x = q d + m
struct T_q4_1 {
    enum { QK = 32, TS = 20 };
    static __device__ __forceinline__ void decode8(const u8* b, int s, int j0, float* out) {
        (void)s;
        const float d = f16_at(b), m = f16_at(b + 2);
        const B8 q = ld8(b + 4 + (j0 & 15));
        const int sh = (j0 & 16) ? 4 : 0;
#pragma unroll
        for (int i = 0; i < 8; i++) out[i] = __fmul_rn(int_minus(bits_of(q, i, sh) & 15u, LN_2P23), d) + m;
    }
};

// Q5_0 (22 B): d f16 | qh u32 | qs[16]    x = (q - 16) d
struct T_q5_0 {
    enum { QK = 32, TS = 22 };
    static __device__ __forceinline__ void decode8(const u8* b, int s, int j0, float* out) {
        (void)s;
        const float d = f16_at(b);
        const u32 qh = ld_u16(b + 2) | (ld_u16(b + 4) << 16);
        const B8 q = ld8(b + 6 + (j0 & 15));
        const int sh = (j0 & 16) ? 4 : 0;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const u32 v = (bits_of(q, i, sh) & 15u) | (((qh >> (j0 + i)) & 1u) << 4);
            out[i] = int_minus(v, LN_2P23 + 16.0f) * d;
        }
    }
};

// Q5_1 (24 B): d f16 | m f16 | qh u32 | qs[16]    x = q d + m
struct T_q5_1 {
    enum { QK = 32, TS = 24 };
    static __device__ __forceinline__ void decode8(const u8* b, int s, int j0, float* out) {
        (void)s;
        const float d = f16_at(b), m = f16_at(b + 2);
        const u32 qh = ld_u16(b + 4) | (ld_u16(b + 6) << 16);
        const B8 q = ld8(b + 8 + (j0 & 15));
        const int sh = (j0 & 16) ? 4 : 0;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const u32 v = (bits_of(q, i, sh) & 15u) | (((qh >> (j0 + i)) & 1u) << 4);
            out[i] = __fmul_rn(int_minus(v, LN_2P23), d) + m;
        }
    }
};

// Q8_0 (34 B): d f16 | qs[32] i8    x = q d
struct T_q8_0 {
    enum { QK = 32, TS = 34 };
    static __device__ __forceinline__ void decode8(const u8* b, int s, int j0, float* out) {
        (void)s;
        const float d = f16_at(b);
        const B8 q = ld8(b + 2 + j0);
#pragma unroll
        for (int i = 0; i < 8; i++) out[i] = int_minus((bits_of(q, i, 0) & 0xffu) ^ 0x80u, LN_2P23 + 128.0f) * d;
    }
};

// ---- K super-blocks of 256 values (src/quant/kquants.rs) -----------------------------------------

// Q2_K (84 B): scales[16] (lo 4 bits scale, hi 4 bits min) | qs[64] | d f16 @80 | dmin f16 @82.
// Value 32 s + j (s = 4 half + k): bits 2k of qs[32 half + j], scale byte scales[2 s + j / 16];
// x = d (sc & 15) q - dmin (sc >> 4).
struct T_q2_k {
    enum { QK = 256, TS = 84 };
    static __device__ __forceinline__ void decode8(const u8* b, int s, int j0, float* out) {
        const u32 sc = b[2 * s + (j0 >> 4)];
        const float d = f16_at(b + 80), dmin = f16_at(b + 82);
        const float dl = d * (float)(sc & 15u), ml = dmin * (float)(sc >> 4);
        const B8 q = ld8(b + 16 + 32 * (s >> 2) + j0);
        const int sh = 2 * (s & 3);
#pragma unroll
        for (int i = 0; i < 8; i++) out[i] = __fmul_rn(dl, int_minus(bits_of(q, i, sh) & 3u, LN_2P23)) - ml;
    }
};

// Q3_K (110 B): hmask[32] | qs[64] @32 | scales[12] @96 (16 x 6-bit, -32) | d f16 @108.
// Value 32 s + j (s = 4 half + k): low 2 bits at bits 2k of qs[32 half + j], high bit = bit s of
// hmask[j] (set: +0, clear: -4); scale number 2 s + j / 16.
struct T_q3_k {
    enum { QK = 256, TS = 110 };
    static __device__ __forceinline__ void decode8(const u8* b, int s, int j0, float* out) {
        const u8* sc = b + 96;
        const int is = 2 * s + (j0 >> 4);
        const u32 low = is < 8 ? (sc[is] & 15u) : ((u32)sc[is - 8] >> 4);
        const u32 high = ((u32)sc[8 + (is & 3)] >> (2 * (is >> 2))) & 3u;
        const int scale = (int)(low | (high << 4)) - 32;
        const float dl = f16_at(b + 108) * (float)scale;
        const B8 q = ld8(b + 32 + 32 * (s >> 2) + j0);
        const B8 hm = ld8(b + j0);
        const int sh = 2 * (s & 3);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const u32 v = (bits_of(q, i, sh) & 3u) | ((bits_of(hm, i, s) & 1u) << 2);
            out[i] = dl * int_minus(v, LN_2P23 + 4.0f);
        }
    }
};

// Scale and min number j (0..7) of Q4_K / Q5_K's 12 packed bytes (ggml's get_scale_min_k4).
__device__ __forceinline__ void scale_min_k4(int j, const u8* q, u32& sc, u32& mn) {
    if (j < 4) {
        sc = q[j] & 63u;
        mn = q[j + 4] & 63u;
    } else {
        sc = (q[j + 4] & 15u) | (((u32)q[j - 4] >> 6) << 4);
        mn = ((u32)q[j + 4] >> 4) | (((u32)q[j] >> 6) << 4);
    }
}

// Q4_K (144 B): d f16 | dmin f16 | scales[12] @4 | qs[128] @16.
// Value 32 s + j: nibble (s & 1) of qs[32 (s / 2) + j]; x = d sc_s q - dmin mn_s.
struct T_q4_k {
    enum { QK = 256, TS = 144 };
    static __device__ __forceinline__ void decode8(const u8* b, int s, int j0, float* out) {
        u32 sc, mn;
        scale_min_k4(s, b + 4, sc, mn);
        const float d1 = f16_at(b) * (float)sc, m1 = f16_at(b + 2) * (float)mn;
        const B8 q = ld8(b + 16 + 32 * (s >> 1) + j0);
        const int sh = (s & 1) * 4;
#pragma unroll
        for (int i = 0; i < 8; i++) out[i] = __fmul_rn(d1, int_minus(bits_of(q, i, sh) & 15u, LN_2P23)) - m1;
    }
};

// Q5_K (176 B): d f16 | dmin f16 | scales[12] @4 | qh[32] @16 | qs[128] @48.
// Value 32 s + j: nibble (s & 1) of qs[32 (s / 2) + j], plus 16 if bit s of qh[j].
struct T_q5_k {
    enum { QK = 256, TS = 176 };
    static __device__ __forceinline__ void decode8(const u8* b, int s, int j0, float* out) {
        u32 sc, mn;
        scale_min_k4(s, b + 4, sc, mn);
        const float d1 = f16_at(b) * (float)sc, m1 = f16_at(b + 2) * (float)mn;
        const B8 qh = ld8(b + 16 + j0);
        const B8 q = ld8(b + 48 + 32 * (s >> 1) + j0);
        const int sh = (s & 1) * 4;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const u32 v = (bits_of(q, i, sh) & 15u) | ((bits_of(qh, i, s) & 1u) << 4);
            out[i] = __fmul_rn(d1, int_minus(v, LN_2P23)) - m1;
        }
    }
};

// Q6_K (210 B): ql[128] | qh[64] @128 | scales[16] i8 @192 | d f16 @208.
// Value 32 s + l with s = 4 h + k: low 4 bits = nibble (k / 2) of ql[64 h + 32 (k & 1) + l],
// high 2 bits = bits 2k of qh[32 h + l], scale = scales[8 h + l / 16 + 2 k]; x = d sc (q - 32).
struct T_q6_k {
    enum { QK = 256, TS = 210 };
    static __device__ __forceinline__ void decode8(const u8* b, int s, int j0, float* out) {
        const int h = s >> 2, k = s & 3;
        const float dsc = f16_at(b + 208) * (float)(int)(i8)b[192 + 8 * h + (j0 >> 4) + 2 * k];
        const B8 ql = ld8(b + 64 * h + 32 * (k & 1) + j0);
        const B8 qh = ld8(b + 128 + 32 * h + j0);
        const int sl = (k >> 1) * 4, shh = 2 * k;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const u32 v = (bits_of(ql, i, sl) & 15u) | ((bits_of(qh, i, shh) & 3u) << 4);
            out[i] = dsc * int_minus(v, LN_2P23 + 32.0f);
        }
    }
};

// Values c .. c + 7 of a quantized row (c a multiple of 8; cols a multiple of the block size).
template <class T>
__device__ __forceinline__ void quant_load8(const u8* row, int c, float* out) {
    const int chunk = c >> 5;
    const int cpb = T::QK / 32;  // chunks per block
    T::decode8(row + (i64)(chunk / cpb) * T::TS, chunk % cpb, c & 31, out);
}

// One generic entry point for every type: values c .. c + 7 of a row, 0 past `cols` (float types;
// quantized rows always hold whole blocks).
template <class T> struct Load8 {
    static __device__ __forceinline__ void run(const u8* row, int cols, int c, float* out) {
        (void)cols;
        quant_load8<T>(row, c, out);
    }
};
template <> struct Load8<T_f32> {
    static __device__ __forceinline__ void run(const u8* row, int cols, int c, float* out) { float_load8<T_f32>(row, cols, c, out); }
};
template <> struct Load8<T_f16> {
    static __device__ __forceinline__ void run(const u8* row, int cols, int c, float* out) { float_load8<T_f16>(row, cols, c, out); }
};
template <> struct Load8<T_bf16> {
    static __device__ __forceinline__ void run(const u8* row, int cols, int c, float* out) { float_load8<T_bf16>(row, cols, c, out); }
};

// Kernel-name suffix and decoder struct of every weight type, for instantiating `..._TY` kernels.
#define LN_FLOAT_TYPES(X) X(f32, T_f32) X(f16, T_f16) X(bf16, T_bf16)
#define LN_QUANT_TYPES(X)                                                                             \
    X(q4_0, T_q4_0) X(q4_1, T_q4_1) X(q5_0, T_q5_0) X(q5_1, T_q5_1) X(q8_0, T_q8_0) X(q2_k, T_q2_k) \
        X(q3_k, T_q3_k) X(q4_k, T_q4_k) X(q5_k, T_q5_k) X(q6_k, T_q6_k)
#define LN_ALL_TYPES(X) LN_FLOAT_TYPES(X) LN_QUANT_TYPES(X)

#endif  // LANNER_COMMON_CUH
