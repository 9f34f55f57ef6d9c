// checkasm-style harness for the AArch64 kernels in asm/aarch64/, run under qemu-aarch64 by
// tests/aarch64/run.sh (no Rust standard library for aarch64 is available to CI, so the checks
// that src/backend/cpu/table.rs runs natively are ported here, in C).
//
// The scalar references below are ports of the Rust specification, operation for operation (the
// file must be compiled with -ffp-contract=off, as Rust never fuses a * b + c):
//   ref_dot_f32           crate::backend::cpu::reference::dot_f32
//   ref_gemm_f32_4x4      crate::backend::cpu::reference::gemm_f32_4x4
//   ref_gemm_packed       crate::backend::cpu::reference::gemm_packed (bit-exact: fmaf in k order)
//   ref_dot_q_f32         crate::quant::dot_f32 with the Q8_0 / Q4_0 / Q4_1 block decoders of
//                         src/quant/legacy.rs
//   ref_dot_half_f32      crate::quant::dot_f32 for F16 / BF16 (64-value chunks, each summed in
//                         sequence, then the chunk sums in sequence)
//   ref_quantize_q8a      crate::quant::q8a::quantize (bit-exact: IEEE divisions, the fma, ties
//                         to even)
//   ref_dot_q8a           crate::quant::q8a::dot for Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q4_K /
//                         Q5_K / Q6_K / Q2_K / Q3_K, and q8a::dot_magnitude (the scale of the
//                         tolerance); q3_k_scales as src/quant/kquants.rs
//
// What is checked, for every kernel the CPU can run (dotprod kernels only when the kernel's HWCAP
// bit is set, as lanner's run-time dispatch does):
//   - seeded random inputs (xorshift64, the seed printed on failure; CHECKASM_SEED or --seed
//     replays), odd lengths and block counts;
//   - unaligned pointers (floats 4 bytes past a 16-byte boundary, blocks 1 byte), and inputs that
//     end exactly at a PROT_NONE page: a kernel that reads one byte too far faults, and the fault
//     handler names the case;
//   - inputs unchanged after the call; GEMM output surrounded by guard values (every float of C
//     outside the 4 x 4 or 8 x 12 tile, one before it, and a PROT_NONE page right after the
//     tile); the packed GEMM bit-identical to its reference, with C all NaN when `fresh` (not to
//     be read);
//   - random inputs: |got - want| <= depth * FLT_EPSILON * sum|terms|, where depth bounds the
//     additions any one term goes through in the reference plus the kernel (rounding error
//     analysis); for the Q8A dots (N + 16) eps times q8a::dot_magnitude, N Q8A blocks, as the
//     Rust test; "exact" inputs (small integers, power-of-two scales) whose every partial sum is
//     representable: got == want, whatever the summation order, so a dropped or doubled lane
//     shows even where the tolerance would hide it (f32 kernels; the Q8A quantizer is compared
//     bit for bit on every input);
//   - Q8A dots: several rows per call (0, 1, 2, 3, 5), output with a guard before and a
//     PROT_NONE page after;
//   - callee-saved registers (x19-x28, x29, d8-d15) and sp survive each call (checked_call.S),
//     with every caller-saved SIMD register holding garbage at entry.
// Exit status 0 when everything passed, 1 on any failure, 2 on a fault.

#define _GNU_SOURCE
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif

// ---- the kernels (asm/aarch64/*.S) ----
float lanner_dot_f32_neon(const float *a, const float *b, size_t n);
void lanner_gemm_packed_8x12_neon(const float *wp, const float *xp, size_t kc, float *c, size_t ldc, size_t fresh);
void lanner_gemm_f32_4x4_neon(const float *w, size_t ldw, const float *x, size_t ldx, size_t k, float *c, size_t ldc);
float lanner_dot_q8_0_f32_neon(const uint8_t *w, const float *x, size_t nblocks);
float lanner_dot_q4_0_f32_neon(const uint8_t *w, const float *x, size_t nblocks);
float lanner_dot_q4_1_f32_neon(const uint8_t *w, const float *x, size_t nblocks);
float lanner_dot_f16_f32_neon(const uint8_t *w, const float *x, size_t n);
float lanner_dot_bf16_f32_neon(const uint8_t *w, const float *x, size_t n);
void lanner_quantize_q8a_neon(const float *x, int8_t *qs, float *ds, size_t nblocks);
#define Q8A_DOT(T) void lanner_dot_##T##_q8a_dotprod(const uint8_t *w, const int8_t *qs, const float *ds, \
                                                    size_t nblocks, size_t nrows, float *out);
Q8A_DOT(q8_0)
Q8A_DOT(q4_0)
Q8A_DOT(q4_1)
Q8A_DOT(q5_0)
Q8A_DOT(q5_1)
Q8A_DOT(q4_k)
Q8A_DOT(q5_k)
Q8A_DOT(q6_k)
Q8A_DOT(q2_k)
Q8A_DOT(q3_k)

// ---- the callee-saved register check (checked_call.S) ----
uint64_t lanner_canary[18];   // loaded into x19-x28, d8-d15 before the call
uint64_t lanner_after[21];    // x19-x28, d8-d15 after it; sp before, sp after, x29 after
float lanner_checked_call_f(const void *fn, uintptr_t a0, uintptr_t a1, uintptr_t a2, uintptr_t a3, uintptr_t a4,
                            uintptr_t a5, uintptr_t a6);
void lanner_checked_call_v(const void *fn, uintptr_t a0, uintptr_t a1, uintptr_t a2, uintptr_t a3, uintptr_t a4,
                           uintptr_t a5, uintptr_t a6);

// ---- bookkeeping ----
static unsigned long long g_seed;
static int g_failures;
static char g_ctx[256];       // the case being run, for failure and fault messages

static void fail(const char *fmt, ...) {
    g_failures++;
    if (g_failures > 30) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s: ", g_ctx);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (seed %llu; replay with CHECKASM_SEED=%llu)\n", g_seed, g_seed);
    va_end(ap);
}

static void on_fault(int sig) {
    char msg[512];
    int len = snprintf(msg, sizeof msg, "FAULT (signal %d) in %s: read or write out of bounds? (seed %llu)\n", sig,
                       g_ctx, g_seed);
    if (len > 0) (void)!write(2, msg, (size_t)len);
    _exit(2);
}

// xorshift64, as src/backend/cpu/table.rs's checkasm tests
typedef struct { uint64_t s; } Rng;
static uint64_t rng_next(Rng *r) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}
static float rng_f32(Rng *r) { return (float)(rng_next(r) >> 40) / (float)(1u << 23) - 1.0f; }   // [-1, 1)
static int rng_int(Rng *r, int lo, int hi) { return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1)); }

static Rng g_rng, g_canary_rng;

// ---- f16 (the hardware conversion: IEEE round-to-nearest-even, as the `half` crate) ----
static float f16_at(const uint8_t *p) {
    __fp16 h;
    memcpy(&h, p, 2);
    return (float)h;
}
static void put_f16(uint8_t *p, float v) {
    __fp16 h = (__fp16)v;
    memcpy(p, &h, 2);
}

// ---- guarded buffers: PROT_NONE pages on both sides ----
typedef struct { uint8_t *map; size_t len; } Guarded;
static size_t g_page;
#define END_AT_GUARD (-1)   // placement: the buffer ends exactly where the protected page begins

// `bytes` usable bytes; placement END_AT_GUARD, or the start's offset from a 16-byte boundary.
static void *galloc(Guarded *g, size_t bytes, int place) {
    size_t slack = place == END_AT_GUARD ? 0 : (size_t)(-(long long)(bytes + (size_t)place)) & 15;
    size_t pages = (bytes + slack + g_page - 1) / g_page + 2;
    g->len = pages * g_page;
    g->map = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED) { perror("mmap"); exit(1); }
    if (mprotect(g->map, g_page, PROT_NONE) || mprotect(g->map + g->len - g_page, g_page, PROT_NONE)) {
        perror("mprotect");
        exit(1);
    }
    return g->map + g->len - g_page - slack - bytes;
}
static void gfree(Guarded *g) { munmap(g->map, g->len); }

// ---- calling through the register check ----
#define U(p) ((uintptr_t)(p))
static void load_canaries(void) {
    for (int i = 0; i < 18; i++) lanner_canary[i] = rng_next(&g_canary_rng);
}
static void check_regs(void) {
    for (int i = 0; i < 10; i++)
        if (lanner_after[i] != lanner_canary[i]) fail("callee-saved x%d clobbered", 19 + i);
    for (int i = 0; i < 8; i++)
        if (lanner_after[10 + i] != lanner_canary[10 + i]) fail("callee-saved d%d clobbered", 8 + i);
    if (lanner_after[18] != lanner_after[19]) fail("sp changed across the call");
    if (lanner_after[20] != lanner_after[18]) fail("x29 clobbered");
}
static float call_f(const void *fn, uintptr_t a0, uintptr_t a1, uintptr_t a2) {
    load_canaries();
    float r = lanner_checked_call_f(fn, a0, a1, a2, 0, 0, 0, 0);
    check_regs();
    return r;
}

// ---- scalar references (ports of the Rust specification) ----
static float ref_dot_f32(const float *a, const float *b, size_t n) {
    float acc[8] = {0};
    size_t m = n / 8 * 8;
    for (size_t i = 0; i < m; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (size_t i = m; i < n; i++) s += a[i] * b[i];
    return s;
}

static void ref_gemm_f32_4x4(const float *w, size_t ldw, const float *x, size_t ldx, size_t k, float *c, size_t ldc) {
    for (size_t t = 0; t < 4; t++)
        for (size_t r = 0; r < 4; r++) c[t * ldc + r] = ref_dot_f32(w + r * ldw, x + t * ldx, k);
}

// reference::gemm_packed: one fused multiply-add per k, in k order (fmaf = f32::mul_add).
static void ref_gemm_packed(size_t mr, size_t nr, const float *wp, const float *xp, size_t kc, float *c, size_t ldc,
                            int fresh) {
    for (size_t t = 0; t < mr; t++)
        for (size_t r = 0; r < nr; r++) {
            float acc = fresh ? 0.0f : c[t * ldc + r];
            for (size_t k = 0; k < kc; k++) acc = fmaf(wp[k * nr + r], xp[k * mr + t], acc);
            c[t * ldc + r] = acc;
        }
}

enum QType { Q8_0, Q4_0, Q4_1 };
static const size_t QBYTES[] = {34, 18, 20};

// One block to 32 floats (src/quant/legacy.rs: q8_0_to_f32, q4_0_to_f32, q4_1_to_f32).
static void ref_block_to_f32(enum QType t, const uint8_t *b, float *y) {
    float d = f16_at(b);
    switch (t) {
    case Q8_0:
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
        break;
    case Q4_0:
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((b[2 + j] & 0x0F) - 8) * d;
            y[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
        }
        break;
    case Q4_1: {
        float m = f16_at(b + 2);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(b[4 + j] & 0x0F) * d + m;
            y[j + 16] = (float)(b[4 + j] >> 4) * d + m;
        }
        break;
    }
    }
}

// crate::quant::dot_f32: dequantize block by block, multiply-accumulate in f32 per block, sum the
// blocks in f32. Also returns the magnitude sum over j of (|q_j d| + |m|) |x_j| (the terms the
// kernels add, before any cancellation between q d and m).
static float ref_dot_q_f32(enum QType t, const uint8_t *w, const float *x, size_t nb, float *mag) {
    float sum = 0, buf[32];
    *mag = 0;
    for (size_t i = 0; i < nb; i++) {
        const uint8_t *b = w + i * QBYTES[t];
        ref_block_to_f32(t, b, buf);
        float s = 0;
        for (int j = 0; j < 32; j++) s += buf[j] * x[i * 32 + j];
        sum += s;
        float d = fabsf(f16_at(b)), m = t == Q4_1 ? fabsf(f16_at(b + 2)) : 0;
        for (int j = 0; j < 32; j++) {
            int q = t == Q8_0 ? (int8_t)b[2 + j]
                  : t == Q4_0 ? ((j < 16 ? b[2 + j] & 15 : b[2 + j - 16] >> 4) - 8)
                              : (j < 16 ? b[4 + j] & 15 : b[4 + j - 16] >> 4);
            *mag += ((float)abs(q) * d + m) * fabsf(x[i * 32 + j]);
        }
    }
    return sum;
}

// crate::quant::dot_f32 for F16 (bf16 = 0) / BF16 (bf16 = 1): each weight widened exactly, the
// products of each 64-value chunk summed in order, the chunk sums in order.
static float half_at(const uint8_t *p, int bf16) {
    if (!bf16) return f16_at(p);
    uint32_t u = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 24;
    float v;
    memcpy(&v, &u, 4);
    return v;
}
static float ref_dot_half_f32(int bf16, const uint8_t *w, const float *x, size_t n) {
    float sum = 0;
    for (size_t i = 0; i < n; i += 64) {
        float s = 0;
        for (size_t j = i; j < n && j < i + 64; j++) s += half_at(w + 2 * j, bf16) * x[j];
        sum += s;
    }
    return sum;
}

// ---- Q8A (src/quant/q8a.rs) ----

// q8a::quantize. round_ties_even then `as i32` (saturating) then clamp: nearbyintf in the default
// rounding mode, clamped as a float.
static int32_t round_clamp127(float v) {
    v = nearbyintf(v);
    return v > 127.0f ? 127 : v < -127.0f ? -127 : (int32_t)v;
}
static void ref_quantize_q8a(const float *x, int8_t *qs, float *ds, size_t nb) {
    size_t n = 32 * nb;
    for (size_t b = 0; b < nb; b++) {
        const float *xb = x + 32 * b;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
        float d = amax / 127.0f, e = d / 256.0f;
        if (e == 0.0f) {
            memset(qs + 32 * b, 0, 32);
            memset(qs + n + 32 * b, 0, 32);
            ds[2 * b] = ds[2 * b + 1] = 0.0f;
            continue;
        }
        int32_t sum = 0;
        for (int j = 0; j < 32; j++) {
            int32_t l1 = round_clamp127(xb[j] / d);
            float r = fmaf(-d, (float)l1, xb[j]);   // (-d).mul_add(l1, v)
            int32_t l2 = round_clamp127(r / e);
            sum += 256 * l1 + l2;
            qs[32 * b + j] = (int8_t)l1;
            qs[n + 32 * b + j] = (int8_t)l2;
        }
        ds[2 * b] = e;
        ds[2 * b + 1] = e * (float)sum;
    }
}

// W_Q5_1 is the last legacy (32-value) type.
enum WType { W_Q8_0, W_Q4_0, W_Q4_1, W_Q5_0, W_Q5_1, W_Q4_K, W_Q5_K, W_Q6_K, W_Q2_K, W_Q3_K };
static const char *const WNAME[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q2_k", "q3_k"};
static const size_t WBYTES[] = {34, 18, 20, 22, 24, 144, 176, 210, 84, 110};
static const size_t WVALS[] = {32, 32, 32, 32, 32, 256, 256, 256, 256, 256};

// q8a::scale_min_k4
static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// kquants::q3_k_scales: the 16 signed 6-bit scales of a Q3_K block from its 12 bytes.
static void q3_k_scales(const uint8_t *s, int32_t *out) {
    for (int j = 0; j < 16; j++) {
        int low = j < 8 ? s[j] & 0x0F : s[j - 8] >> 4, high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (low | high << 4) - 32;
    }
}

// The levels of one weight block (32 or 256 values), as q8a::dot decodes them.
static void ref_levels(enum WType t, const uint8_t *wb, int32_t *lv) {
    switch (t) {
    case W_Q8_0:
        for (int j = 0; j < 32; j++) lv[j] = (int8_t)wb[2 + j];
        break;
    case W_Q4_0:
    case W_Q4_1: {
        const uint8_t *q = wb + (t == W_Q4_0 ? 2 : 4);
        int off = t == W_Q4_0 ? 8 : 0;
        for (int j = 0; j < 16; j++) {
            lv[j] = (q[j] & 0x0F) - off;
            lv[j + 16] = (q[j] >> 4) - off;
        }
        break;
    }
    case W_Q5_0:
    case W_Q5_1: {
        // Q5_0: levels q - 16; Q5_1: levels q (and a min)
        int o = t == W_Q5_0 ? 2 : 4, off = t == W_Q5_0 ? 16 : 0;
        uint32_t qh = (uint32_t)wb[o] | (uint32_t)wb[o + 1] << 8 | (uint32_t)wb[o + 2] << 16 | (uint32_t)wb[o + 3] << 24;
        for (int j = 0; j < 16; j++) {
            lv[j] = (int32_t)((wb[o + 4 + j] & 0x0F) | ((qh >> j) & 1) << 4) - off;
            lv[j + 16] = (int32_t)((wb[o + 4 + j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - off;
        }
        break;
    }
    case W_Q4_K:
    case W_Q5_K: {
        // Q5_K: qh[32] before the nibbles; bit 2c of qh[l] is the fifth bit of element 64 c + l,
        // bit 2c + 1 that of element 64 c + 32 + l
        const uint8_t *qs = wb + (t == W_Q4_K ? 16 : 48);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int h0 = t == W_Q4_K ? 0 : (wb[16 + l] >> (2 * c)) & 1, h1 = t == W_Q4_K ? 0 : (wb[16 + l] >> (2 * c + 1)) & 1;
                lv[64 * c + l] = (qs[32 * c + l] & 0x0F) | h0 << 4;
                lv[64 * c + 32 + l] = (qs[32 * c + l] >> 4) | h1 << 4;
            }
        break;
    }
    case W_Q2_K:
        // element 128 h + 32 s + l (l < 32): bits 2 s, 2 s + 1 of qs[32 h + l]
        for (int i = 0; i < 256; i++) lv[i] = (wb[16 + 32 * (i / 128) + i % 32] >> (2 * ((i / 32) % 4))) & 3;
        break;
    case W_Q3_K:
        // ... minus 4 unless bit 4 h + s of hmask[l] is set
        for (int i = 0; i < 256; i++) {
            int h = i / 128, s = (i / 32) % 4, k = i % 32;
            int low = (wb[32 + 32 * h + k] >> (2 * s)) & 3, high = (wb[k] >> (4 * h + s)) & 1;
            lv[i] = (low | high << 2) - 4;
        }
        break;
    case W_Q6_K:
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = wb + 64 * h, *qh = wb + 128 + 32 * h;
            for (int l = 0; l < 32; l++) {
                int e = 128 * h + l;
                lv[e] = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32;
                lv[e + 32] = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                lv[e + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                lv[e + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            }
        }
        break;
    }
}

// q8a::dot of one weight row of nb weight blocks with the Q8A row (qs, ds) of n = nb * WVALS[t]
// values; *mag = q8a::dot_magnitude (every product's absolute value, the weights' level and
// min / offset parts apart).
static float ref_dot_q8a(enum WType t, const uint8_t *w, const int8_t *qs, const float *ds, size_t nb, float *mag) {
    size_t n = nb * WVALS[t];
#define AINT(i) (256 * (int32_t)qs[i] + (int32_t)qs[n + (i)])
    float sum = 0;
    double m = 0;
    int32_t lv[256];
    for (size_t i = 0; i < nb; i++) {
        const uint8_t *wb = w + i * WBYTES[t];
        ref_levels(t, wb, lv);
        if (t <= W_Q5_1) {
            int has_min = t == W_Q4_1 || t == W_Q5_1;
            float dx = ds[2 * i], sx = ds[2 * i + 1], dw = f16_at(wb);
            int64_t isum = 0;
            for (int j = 0; j < 32; j++) isum += (int64_t)lv[j] * AINT(32 * i + j);
            float term = (dw * dx) * (float)isum;
            if (has_min) term += f16_at(wb + 2) * sx;
            sum += term;
            float mw = has_min ? f16_at(wb + 2) : 0.0f;
            double minp = has_min ? fabsf(mw) : t == W_Q4_0 ? 8.0 * fabsf(dw) : t == W_Q5_0 ? 16.0 * fabsf(dw)
                                                                              : 128.0 * fabsf(dw);
            for (int j = 0; j < 32; j++)
                m += (fabs((double)dw * lv[j] + mw) + 2 * minp) * fabs((double)dx * AINT(32 * i + j));
        } else if (t == W_Q4_K || t == W_Q5_K) {
            float d = f16_at(wb), dmin = f16_at(wb + 2);
            for (int j = 0; j < 8; j++) {
                int sc, mn;
                scale_min_k4(j, wb + 4, &sc, &mn);
                size_t b = 8 * i + j;
                float dx = ds[2 * b], sx = ds[2 * b + 1];
                int64_t isum = 0;
                for (int l = 0; l < 32; l++) isum += (int64_t)lv[32 * j + l] * AINT(32 * b + l);
                sum += (d * (float)sc) * dx * (float)isum - (dmin * (float)mn) * sx;
                for (int l = 0; l < 32; l++)
                    m += (fabs((double)d * sc * lv[32 * j + l] - (double)dmin * mn) + 2 * fabs((double)dmin * mn)) *
                         fabs((double)dx * AINT(32 * b + l));
            }
        } else if (t == W_Q2_K) {
            float d = f16_at(wb + 80), dmin = f16_at(wb + 82);
            for (int j = 0; j < 8; j++) {
                size_t b = 8 * i + j;
                int64_t si = 0, mi = 0;
                for (int k = 0; k < 2; k++) {
                    int64_t sc = wb[2 * j + k] & 0x0F, mn = wb[2 * j + k] >> 4;
                    for (int l = 0; l < 16; l++) {
                        si += sc * lv[32 * j + 16 * k + l] * AINT(32 * b + 16 * k + l);
                        mi += mn * AINT(32 * b + 16 * k + l);
                    }
                }
                float e = ds[2 * b];
                sum += (d * e) * (float)si - (dmin * e) * (float)mi;
                for (int l = 0; l < 32; l++) {
                    int sb = wb[2 * j + l / 16];
                    double mn = fabs((double)dmin * (sb >> 4));
                    m += (fabs((double)d * (sb & 15) * lv[32 * j + l] - (double)dmin * (sb >> 4)) + 2 * mn) *
                         fabs((double)e * AINT(32 * b + l));
                }
            }
        } else if (t == W_Q3_K) {
            float d = f16_at(wb + 108);
            int32_t sc[16];
            q3_k_scales(wb + 96, sc);
            for (int j = 0; j < 8; j++) {
                size_t b = 8 * i + j;
                int64_t s0 = sc[2 * j], s1 = sc[2 * j + 1], i0 = 0, i1 = 0;
                for (int l = 0; l < 16; l++) {
                    i0 += (int64_t)lv[32 * j + l] * AINT(32 * b + l);
                    i1 += (int64_t)lv[32 * j + 16 + l] * AINT(32 * b + 16 + l);
                }
                sum += (d * ds[2 * b]) * (float)(s0 * i0 + s1 * i1);
                for (int l = 0; l < 32; l++) {
                    double sd = fabs((double)d * (l < 16 ? s0 : s1));
                    m += (sd * abs(lv[32 * j + l]) + 2 * 4 * sd) * fabs((double)ds[2 * b] * AINT(32 * b + l));
                }
            }
        } else {
            float d = f16_at(wb + 208);
            for (int j = 0; j < 8; j++) {
                size_t b = 8 * i + j;
                int64_t s0 = (int8_t)wb[192 + 2 * j], s1 = (int8_t)wb[193 + 2 * j], i0 = 0, i1 = 0;
                for (int l = 0; l < 16; l++) {
                    i0 += (int64_t)lv[32 * j + l] * AINT(32 * b + l);
                    i1 += (int64_t)lv[32 * j + 16 + l] * AINT(32 * b + 16 + l);
                }
                sum += (d * ds[2 * b]) * (float)(s0 * i0 + s1 * i1);
                for (int l = 0; l < 32; l++) {
                    double sd = fabs((double)d * (l < 16 ? s0 : s1));
                    m += (sd * abs(lv[32 * j + l]) + 2 * 32 * sd) * fabs((double)ds[2 * b] * AINT(32 * b + l));
                }
            }
        }
    }
#undef AINT
    *mag = (float)m;
    return sum;
}

// ---- input generators ----
// A random f16 scale: mostly [-1, 1) times 2^-(0..11), sometimes 0 or an f16 subnormal.
static float rand_scale(Rng *r) {
    int kind = rng_int(r, 0, 15);
    if (kind == 0) return 0.0f;
    if (kind == 1) return rng_f32(r) * 3e-5f;   // below f16's smallest normal (6.1e-5)
    return rng_f32(r) * ldexpf(1.0f, -rng_int(r, 0, 11));
}
// A power-of-two scale of either sign, 2^lo .. 2^hi: every product with a small integer is exact.
static float exact_scale(Rng *r, int lo, int hi) {
    return (rng_int(r, 0, 1) ? -1.0f : 1.0f) * ldexpf(1.0f, rng_int(r, lo, hi));
}

// ---- the tests ----
static int g_cases;

static int close_enough(float got, float want, float tol, int exact) {
    if (exact) return got == want;
    return fabsf(got - want) <= tol;   // false for NaN
}

static void test_dot_f32(void) {
    static const size_t lens[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 19, 31, 32, 33, 63, 64, 65, 127, 129, 576,
                                  1023, 1025, 4864};
    static const int places[] = {END_AT_GUARD, 0, 4};
    int before = g_cases;
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
        for (int pi = 0; pi < 3; pi++)
            for (int exact = 0; exact < 2; exact++) {
                size_t n = lens[li];
                snprintf(g_ctx, sizeof g_ctx, "dot_f32_neon n=%zu place=%d exact=%d", n, places[pi], exact);
                Guarded ga, gb;
                float *a = galloc(&ga, n * 4, places[pi]), *b = galloc(&gb, n * 4, places[pi]);
                float sa = ldexpf(1.0f, rng_int(&g_rng, -20, 20)), sb = ldexpf(1.0f, rng_int(&g_rng, -20, 20));
                for (size_t i = 0; i < n; i++) {
                    a[i] = exact ? (float)rng_int(&g_rng, -16, 16) : rng_f32(&g_rng) * sa;
                    b[i] = exact ? (float)rng_int(&g_rng, -16, 16) : rng_f32(&g_rng) * sb;
                }
                float *ca = malloc(n * 4 + 4), *cb = malloc(n * 4 + 4);
                memcpy(ca, a, n * 4);
                memcpy(cb, b, n * 4);
                float want = ref_dot_f32(a, b, n), mag = 0;
                for (size_t i = 0; i < n; i++) mag += fabsf(a[i] * b[i]);
                float got = call_f((const void *)lanner_dot_f32_neon, U(a), U(b), n);
                float tol = exact ? 0.0f : (float)(n / 4 + 32) * FLT_EPSILON * mag;
                if (!close_enough(got, want, tol, exact))
                    fail("%.9g vs reference %.9g (|diff| %.3g, tolerance %.3g)", got, want, fabsf(got - want), tol);
                if (memcmp(a, ca, n * 4) || memcmp(b, cb, n * 4)) fail("an input changed");
                free(ca);
                free(cb);
                gfree(&ga);
                gfree(&gb);
                g_cases++;
            }
    printf("ok   dot_f32_neon              %4d cases\n", g_cases - before);
}

static void test_gemm_f32_4x4(void) {
    static const size_t ks[] = {0, 4, 8, 12, 16, 20, 28, 32, 36, 48, 100, 576, 896, 4864};
    static const size_t pads[][3] = {{0, 0, 0}, {3, 5, 7}, {16, 1, 2}};
    static const int places[] = {END_AT_GUARD, 4};
    const uint32_t guard = 0x7fc0dead;   // a NaN nobody computes
    int before = g_cases;
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
        for (int pd = 0; pd < 3; pd++)
            for (int pi = 0; pi < 2; pi++)
                for (int exact = 0; exact < 2; exact++) {
                    size_t k = ks[ki], ldw = k + pads[pd][0], ldx = k + pads[pd][1], ldc = 4 + pads[pd][2];
                    snprintf(g_ctx, sizeof g_ctx, "gemm_f32_4x4_neon k=%zu ldw=%zu ldx=%zu ldc=%zu place=%d exact=%d",
                             k, ldw, ldx, ldc, places[pi], exact);
                    size_t nw = 3 * ldw + k, nx = 3 * ldx + k, nc = 1 + 3 * ldc + 4;   // c: 1 guard float first
                    Guarded gw, gx, gc;
                    float *w = galloc(&gw, nw * 4, places[pi]), *x = galloc(&gx, nx * 4, places[pi]);
                    float *cbuf = galloc(&gc, nc * 4, places[pi]), *c = cbuf + 1;
                    for (size_t i = 0; i < nw; i++) w[i] = exact ? (float)rng_int(&g_rng, -16, 16) : rng_f32(&g_rng);
                    for (size_t i = 0; i < nx; i++) x[i] = exact ? (float)rng_int(&g_rng, -16, 16) : rng_f32(&g_rng);
                    for (size_t i = 0; i < nc; i++) memcpy(&cbuf[i], &guard, 4);
                    float *want = malloc(nc * 4), *cw = malloc(nw * 4 + 4), *cx = malloc(nx * 4 + 4);
                    memcpy(want, cbuf, nc * 4);
                    memcpy(cw, w, nw * 4);
                    memcpy(cx, x, nx * 4);
                    ref_gemm_f32_4x4(w, ldw, x, ldx, k, want + 1, ldc);
                    load_canaries();
                    lanner_checked_call_v((const void *)lanner_gemm_f32_4x4_neon, U(w), ldw, U(x), ldx, k, U(c), ldc);
                    check_regs();
                    for (size_t i = 0; i < nc; i++) {
                        long idx = (long)i - 1;
                        int written = idx >= 0 && (size_t)idx % ldc < 4 && (size_t)idx / ldc < 4;
                        if (!written) {
                            if (memcmp(&cbuf[i], &guard, 4)) fail("wrote outside its tile at c[%ld]", idx);
                            continue;
                        }
                        size_t t = (size_t)idx / ldc, r = (size_t)idx % ldc;
                        float mag = 0;
                        for (size_t j = 0; j < k; j++) mag += fabsf(w[r * ldw + j] * x[t * ldx + j]);
                        float tol = exact ? 0.0f : (float)(k / 4 + 32) * FLT_EPSILON * mag;
                        if (!close_enough(cbuf[i], want[i], tol, exact))
                            fail("c[t=%zu][r=%zu] = %.9g vs reference %.9g (tolerance %.3g)", t, r, cbuf[i], want[i], tol);
                    }
                    if (memcmp(w, cw, nw * 4) || memcmp(x, cx, nx * 4)) fail("an input changed");
                    free(want);
                    free(cw);
                    free(cx);
                    gfree(&gw);
                    gfree(&gx);
                    gfree(&gc);
                    g_cases++;
                }
    printf("ok   gemm_f32_4x4_neon         %4d cases\n", g_cases - before);
}

// Bit-exact against the reference (same fused multiply-adds in the same order), on random values
// of mixed magnitudes; C starts as random values (fresh = 0) or NaN (fresh = 1: must not be read),
// guard values between and before its rows and a PROT_NONE page right after the tile.
static void test_gemm_packed(const char *name, const void *fn, size_t mr, size_t nr) {
    static const size_t kcs[] = {0, 1, 2, 3, 7, 16, 33, 100, 512};
    static const size_t pads[] = {0, 1, 20};
    static const int places[] = {END_AT_GUARD, 4};
    const uint32_t guard = 0x7fc0dead, qnan = 0x7fc00000;
    int before = g_cases;
    for (size_t ki = 0; ki < sizeof kcs / sizeof *kcs; ki++)
        for (int pd = 0; pd < 3; pd++)
            for (int pi = 0; pi < 2; pi++)
                for (int fresh = 0; fresh < 2; fresh++) {
                    size_t kc = kcs[ki], ldc = nr + pads[pd], nc = 1 + (mr - 1) * ldc + nr;
                    snprintf(g_ctx, sizeof g_ctx, "%s kc=%zu ldc=%zu place=%d fresh=%d", name, kc, ldc, places[pi],
                             fresh);
                    Guarded gw, gx, gc;
                    float *wp = galloc(&gw, kc * nr * 4, places[pi]), *xp = galloc(&gx, kc * mr * 4, places[pi]);
                    float *cbuf = galloc(&gc, nc * 4, END_AT_GUARD), *c = cbuf + 1;
                    for (size_t i = 0; i < kc * nr; i++) wp[i] = rng_f32(&g_rng) * ldexpf(1.0f, rng_int(&g_rng, -8, 8));
                    for (size_t i = 0; i < kc * mr; i++) xp[i] = rng_f32(&g_rng) * ldexpf(1.0f, rng_int(&g_rng, -8, 8));
                    for (size_t i = 0; i < nc; i++) {
                        size_t idx = i - 1;
                        int tile = i >= 1 && idx % ldc < nr;
                        if (!tile) memcpy(&cbuf[i], &guard, 4);
                        else if (fresh) memcpy(&cbuf[i], &qnan, 4);
                        else cbuf[i] = rng_f32(&g_rng);
                    }
                    float *want = malloc(nc * 4), *cw = malloc(kc * nr * 4 + 4), *cx = malloc(kc * mr * 4 + 4);
                    memcpy(want, cbuf, nc * 4);
                    memcpy(cw, wp, kc * nr * 4);
                    memcpy(cx, xp, kc * mr * 4);
                    ref_gemm_packed(mr, nr, wp, xp, kc, want + 1, ldc, fresh);
                    load_canaries();
                    lanner_checked_call_v(fn, U(wp), U(xp), kc, U(c), ldc, (uintptr_t)fresh, 0);
                    check_regs();
                    for (size_t i = 0; i < nc; i++)
                        if (memcmp(&cbuf[i], &want[i], 4)) {
                            long idx = (long)i - 1;
                            if (idx < 0 || (size_t)idx % ldc >= nr) fail("wrote outside its tile at c[%ld]", idx);
                            else fail("c[t=%zu][r=%zu] = %.9g vs reference %.9g (not bit-identical)", (size_t)idx / ldc,
                                      (size_t)idx % ldc, cbuf[i], want[i]);
                            break;
                        }
                    if (memcmp(wp, cw, kc * nr * 4) || memcmp(xp, cx, kc * mr * 4)) fail("an input changed");
                    free(want);
                    free(cw);
                    free(cx);
                    gfree(&gw);
                    gfree(&gx);
                    gfree(&gc);
                    g_cases++;
                }
    printf("ok   %-25s %4d cases\n", name, g_cases - before);
}

static const size_t NBLOCKS[] = {0, 1, 2, 3, 4, 7, 18, 48, 129};

// Random blocks: every byte pattern of the quants, scales from rand_scale (or, exact, powers of 2).
static void fill_blocks(enum QType t, uint8_t *w, size_t nb, int exact) {
    for (size_t i = 0; i < nb; i++) {
        uint8_t *b = w + i * QBYTES[t];
        for (size_t j = 0; j < QBYTES[t]; j++) b[j] = (uint8_t)rng_next(&g_rng);
        put_f16(b, exact ? exact_scale(&g_rng, -2, 1) : rand_scale(&g_rng));
        if (t == Q4_1) put_f16(b + 2, exact ? exact_scale(&g_rng, -2, 1) : rand_scale(&g_rng));
    }
}

static void test_dot_q_f32(const char *name, const void *fn, enum QType t) {
    static const int places[] = {END_AT_GUARD, 0, 1};
    int before = g_cases;
    for (size_t bi = 0; bi < sizeof NBLOCKS / sizeof *NBLOCKS; bi++)
        for (int pi = 0; pi < 3; pi++)
            for (int exact = 0; exact < 2; exact++) {
                size_t nb = NBLOCKS[bi], n = nb * 32, wb = nb * QBYTES[t];
                // weights 1 byte past a 16-byte boundary, activations 4 bytes past one (place 1)
                int pw = places[pi], px = places[pi] == 1 ? 4 : places[pi];
                snprintf(g_ctx, sizeof g_ctx, "%s nblocks=%zu place=%d exact=%d", name, nb, pw, exact);
                Guarded gw, gx;
                uint8_t *w = galloc(&gw, wb, pw);
                float *x = galloc(&gx, n * 4, px);
                fill_blocks(t, w, nb, exact);
                for (size_t i = 0; i < n; i++) x[i] = exact ? (float)rng_int(&g_rng, -3, 3) : rng_f32(&g_rng);
                uint8_t *cw = malloc(wb + 1);
                float *cx = malloc(n * 4 + 4);
                memcpy(cw, w, wb);
                memcpy(cx, x, n * 4);
                float mag, want = ref_dot_q_f32(t, w, x, nb, &mag);
                float got = call_f(fn, U(w), U(x), nb);
                float tol = exact ? 0.0f : (float)(2 * nb + 64) * FLT_EPSILON * mag;
                if (!close_enough(got, want, tol, exact))
                    fail("%.9g vs reference %.9g (|diff| %.3g, tolerance %.3g)", got, want, fabsf(got - want), tol);
                if (memcmp(w, cw, wb) || memcmp(x, cx, n * 4)) fail("an input changed");
                free(cw);
                free(cx);
                gfree(&gw);
                gfree(&gx);
                g_cases++;
            }
    printf("ok   %-25s %4d cases\n", name, g_cases - before);
}

// F16 / BF16 rows of every length around the kernels' 4- and 16-value steps, weights 1 byte past a
// 16-byte boundary (place 1; odd addresses, as Rust's byte slices allow); random weights (f16: a
// random f32 times 2^(-8..8) rounded to f16, so subnormals too; bf16: a random f32's high half)
// or, exact, small integers.
static void test_dot_half_f32(const char *name, const void *fn, int bf16) {
    static const size_t lens[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 18, 31, 33, 48, 63, 64, 65, 127, 129, 1000,
                                  4864};
    static const int places[] = {END_AT_GUARD, 0, 1};
    int before = g_cases;
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
        for (int pi = 0; pi < 3; pi++)
            for (int exact = 0; exact < 2; exact++) {
                size_t n = lens[li];
                int pw = places[pi], px = places[pi] == 1 ? 4 : places[pi];
                snprintf(g_ctx, sizeof g_ctx, "%s n=%zu place=%d exact=%d", name, n, pw, exact);
                Guarded gw, gx;
                uint8_t *w = galloc(&gw, 2 * n, pw);
                float *x = galloc(&gx, n * 4, px);
                for (size_t i = 0; i < n; i++) {
                    float v = exact ? (float)rng_int(&g_rng, -16, 16)
                                    : rng_f32(&g_rng) * ldexpf(1.0f, rng_int(&g_rng, bf16 ? -40 : -20, bf16 ? 40 : 8));
                    if (bf16) {
                        uint32_t u;
                        memcpy(&u, &v, 4);
                        w[2 * i] = (uint8_t)(u >> 16);
                        w[2 * i + 1] = (uint8_t)(u >> 24);
                    } else {
                        put_f16(w + 2 * i, v);
                    }
                    x[i] = exact ? (float)rng_int(&g_rng, -16, 16) : rng_f32(&g_rng);
                }
                uint8_t *cw = malloc(2 * n + 1);
                float *cx = malloc(n * 4 + 4);
                memcpy(cw, w, 2 * n);
                memcpy(cx, x, n * 4);
                float want = ref_dot_half_f32(bf16, w, x, n), mag = 0;
                for (size_t i = 0; i < n; i++) mag += fabsf(half_at(w + 2 * i, bf16) * x[i]);
                float got = call_f(fn, U(w), U(x), n);
                // depth: 64 + n / 64 additions in the reference, n / 16 + 8 in the kernel
                float tol = exact ? 0.0f : (float)(n / 64 + n / 16 + 72) * FLT_EPSILON * mag;
                if (!close_enough(got, want, tol, exact))
                    fail("%.9g vs reference %.9g (|diff| %.3g, tolerance %.3g)", got, want, fabsf(got - want), tol);
                if (memcmp(w, cw, 2 * n) || memcmp(x, cx, n * 4)) fail("an input changed");
                free(cw);
                free(cx);
                gfree(&gw);
                gfree(&gx);
                g_cases++;
            }
    printf("ok   %-25s %4d cases\n", name, g_cases - before);
}

// Activations as src/backend/cpu/table.rs's checkasm `activations`: per 32-value block all zero,
// subnormal (e rounds to 0 or is coarse; with `subnormal`), integers on half steps with max 127
// (d = 1, ties to even), a single -3, or random times 10^(-e10..e10).
static void fill_activations(float *x, size_t n, int e10, int subnormal) {
    for (size_t i = 0; i < n; i++) x[i] = rng_f32(&g_rng);
    for (size_t b = 0; b < n / 32; b++) {
        float *xb = x + 32 * b;
        int kind = (int)(rng_next(&g_rng) % 8);
        if (kind == 1 && !subnormal) kind = 0;
        for (int j = 0; j < 32; j++)
            switch (kind) {
            case 0: xb[j] = 0.0f; break;
            case 1: xb[j] *= 1e-40f; break;
            case 2: xb[j] = j == (int)(b % 32) ? 127.0f : (float)(rng_next(&g_rng) % 255) - 127.0f + 0.5f; break;
            case 3: xb[j] = j == 7 ? -3.0f : 0.0f; break;
            default: break;
            }
        if (kind >= 4) {
            float p = powf(10.0f, (float)rng_int(&g_rng, -e10, e10));
            for (int j = 0; j < 32; j++) xb[j] *= p;
        }
    }
}

static void test_quantize_q8a(void) {
    static const size_t nbs[] = {0, 1, 2, 3, 7, 18, 48, 152};
    static const int places[] = {END_AT_GUARD, 0, 4};
    int before = g_cases;
    for (size_t bi = 0; bi < sizeof nbs / sizeof *nbs; bi++)
        for (int pi = 0; pi < 3; pi++) {
            size_t nb = nbs[bi], n = 32 * nb;
            snprintf(g_ctx, sizeof g_ctx, "quantize_q8a_neon nblocks=%zu place=%d", nb, places[pi]);
            Guarded gx, gq, gd;
            float *x = galloc(&gx, n * 4, places[pi]);
            int8_t *qs = galloc(&gq, 2 * n, places[pi] == 4 ? 1 : places[pi]);
            float *ds = galloc(&gd, 2 * nb * 4, places[pi]);
            fill_activations(x, n, 30, 1);
            memset(qs, 0x5A, 2 * n);
            memset(ds, 0xFF, 2 * nb * 4);
            int8_t *wq = malloc(2 * n + 1);
            float *wd = malloc(2 * nb * 4 + 4), *cx = malloc(n * 4 + 4);
            memcpy(cx, x, n * 4);
            ref_quantize_q8a(x, wq, wd, nb);
            load_canaries();
            lanner_checked_call_v((const void *)lanner_quantize_q8a_neon, U(x), U(qs), U(ds), nb, 0, 0, 0);
            check_regs();
            for (size_t b = 0; b < nb; b++) {
                if (memcmp(qs + 32 * b, wq + 32 * b, 32) || memcmp(qs + n + 32 * b, wq + n + 32 * b, 32) ||
                    memcmp(ds + 2 * b, wd + 2 * b, 8)) {
                    fail("block %zu: e=%.9g s=%.9g q1[0]=%d q2[0]=%d vs reference e=%.9g s=%.9g q1[0]=%d q2[0]=%d", b,
                         ds[2 * b], ds[2 * b + 1], qs[32 * b], qs[n + 32 * b], wd[2 * b], wd[2 * b + 1], wq[32 * b],
                         wq[n + 32 * b]);
                    break;
                }
            }
            if (memcmp(x, cx, n * 4)) fail("an input changed");
            free(wq);
            free(wd);
            free(cx);
            gfree(&gx);
            gfree(&gq);
            gfree(&gd);
            g_cases++;
        }
    printf("ok   %-25s %4d cases\n", "quantize_q8a_neon", g_cases - before);
}

// Random weight blocks: every byte random (levels, qh bits, 6-bit and i8 sub-scales over their
// whole range), every f16 scale field a random finite value times 10^(-4..4), as the Rust tests.
static void fill_weights(enum WType t, uint8_t *w, size_t nblocks) {
    static const int f16s[][2] = {{0, -1}, {0, -1}, {0, 2}, {0, -1}, {0, 2}, {0, 2}, {0, 2}, {208, -1}, {80, 82}, {108, -1}};
    for (size_t i = 0; i < nblocks; i++) {
        uint8_t *b = w + i * WBYTES[t];
        for (size_t j = 0; j < WBYTES[t]; j++) b[j] = (uint8_t)rng_next(&g_rng);
        for (int k = 0; k < 2; k++)
            if (f16s[t][k] >= 0) put_f16(b + f16s[t][k], rng_f32(&g_rng) * powf(10.0f, (float)rng_int(&g_rng, -4, 4)));
    }
}

// Tolerance as the Rust checkasm test dot_rows_q8a_every_tier_and_type: (N + 16) eps mag + the
// smallest normal, N = Q8A blocks per row, mag = q8a::dot_magnitude.
static void test_dot_q8a(enum WType t, const void *fn) {
    static const size_t legacy[] = {0, 1, 2, 3, 4, 5, 7, 18, 19, 48, 152}, kq[] = {0, 1, 2, 3, 5, 6, 19};
    static const size_t rows[] = {1, 2, 3, 5, 0};
    static const int places[] = {END_AT_GUARD, 0, 1};
    const size_t *counts = t <= W_Q5_1 ? legacy : kq;
    size_t ncounts = t <= W_Q5_1 ? sizeof legacy / sizeof *legacy : sizeof kq / sizeof *kq;
    const uint32_t guard = 0x7fc0dead;
    char name[64];
    snprintf(name, sizeof name, "dot_%s_q8a_dotprod", WNAME[t]);
    int before = g_cases;
    float worst = 0;
    for (size_t ci = 0; ci < ncounts; ci++)
        for (size_t ri = 0; ri < sizeof rows / sizeof *rows; ri++)
            for (int pi = 0; pi < 3; pi++) {
                size_t nb = counts[ci], nrows = rows[ri], n = nb * WVALS[t], nq = n / 32, wbytes = nrows * nb * WBYTES[t];
                snprintf(g_ctx, sizeof g_ctx, "%s nblocks=%zu nrows=%zu place=%d", name, nb, nrows, places[pi]);
                Guarded gw, gq, gd, go;
                uint8_t *w = galloc(&gw, wbytes, places[pi]);
                int8_t *qs = galloc(&gq, 2 * n, places[pi]);
                float *ds = galloc(&gd, nq * 8, places[pi] == 1 ? 4 : places[pi]);
                float *obuf = galloc(&go, (nrows + 1) * 4, END_AT_GUARD), *out = obuf + 1;
                fill_weights(t, w, nrows * nb);
                float *x = malloc(n * 4 + 4);
                fill_activations(x, n, 20, 0);
                ref_quantize_q8a(x, qs, ds, nq);
                for (size_t i = 0; i <= nrows; i++) memcpy(&obuf[i], &guard, 4);
                uint8_t *cw = malloc(wbytes + 1), *cq = malloc(2 * n + 1), *cd = malloc(nq * 8 + 1);
                memcpy(cw, w, wbytes);
                memcpy(cq, qs, 2 * n);
                memcpy(cd, ds, nq * 8);
                load_canaries();
                lanner_checked_call_v(fn, U(w), U(qs), U(ds), nb, nrows, U(out), 0);
                check_regs();
                if (memcmp(&obuf[0], &guard, 4)) fail("wrote before its output");
                for (size_t r = 0; r < nrows; r++) {
                    float mag, want = ref_dot_q8a(t, w + r * nb * WBYTES[t], qs, ds, nb, &mag);
                    float tol = (float)(nq + 16) * FLT_EPSILON * mag + FLT_MIN;
                    if (!(fabsf(out[r] - want) <= tol))
                        fail("row %zu: %.9g vs reference %.9g (|diff| %.3g, tolerance %.3g)", r, out[r], want,
                             fabsf(out[r] - want), tol);
                    else if (fabsf(out[r] - want) / tol > worst) worst = fabsf(out[r] - want) / tol;
                }
                if (memcmp(w, cw, wbytes) || memcmp(qs, cq, 2 * n) || memcmp(ds, cd, nq * 8)) fail("an input changed");
                free(x);
                free(cw);
                free(cq);
                free(cd);
                gfree(&gw);
                gfree(&gq);
                gfree(&gd);
                gfree(&go);
                g_cases++;
            }
    printf("ok   %-25s %4d cases (largest |error| / tolerance %.3f)\n", name, g_cases - before, worst);
}

static void usage(const char *argv0) {
    fprintf(stderr, "usage: %s [--seed N] [--expect-dotprod yes|no]\n", argv0);
    exit(1);
}

int main(int argc, char **argv) {
    const char *expect_dotprod = NULL, *env = getenv("CHECKASM_SEED");
    g_seed = env ? strtoull(env, NULL, 0) : 0xA64C0DEull;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) g_seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--expect-dotprod") && i + 1 < argc) expect_dotprod = argv[++i];
        else usage(argv[0]);
    }
    g_page = (size_t)sysconf(_SC_PAGESIZE);
    g_rng.s = g_seed | 1;
    g_canary_rng.s = (g_seed * 0x9E3779B97F4A7C15ull) | 1;
    signal(SIGSEGV, on_fault);
    signal(SIGBUS, on_fault);
    signal(SIGILL, on_fault);

    unsigned long hwcap = getauxval(AT_HWCAP);
    int neon = (hwcap & HWCAP_ASIMD) != 0, dotprod = (hwcap & HWCAP_ASIMDDP) != 0;
    printf("checkasm aarch64: seed %llu; HWCAP: asimd=%d asimddp=%d\n", g_seed, neon, dotprod);
    if (expect_dotprod && strcmp(expect_dotprod, dotprod ? "yes" : "no")) {
        snprintf(g_ctx, sizeof g_ctx, "cpu model");
        fail("expected asimddp=%s from this CPU model, HWCAP says %s", expect_dotprod, dotprod ? "yes" : "no");
    }
    if (!neon) {
        snprintf(g_ctx, sizeof g_ctx, "cpu model");
        fail("no Advanced SIMD (HWCAP_ASIMD): nothing to test");
    } else {
        test_dot_f32();
        test_gemm_f32_4x4();
        test_gemm_packed("gemm_packed_8x12_neon", (const void *)lanner_gemm_packed_8x12_neon, 8, 12);
        test_dot_q_f32("dot_q8_0_f32_neon", (const void *)lanner_dot_q8_0_f32_neon, Q8_0);
        test_dot_q_f32("dot_q4_0_f32_neon", (const void *)lanner_dot_q4_0_f32_neon, Q4_0);
        test_dot_q_f32("dot_q4_1_f32_neon", (const void *)lanner_dot_q4_1_f32_neon, Q4_1);
        test_dot_half_f32("dot_f16_f32_neon", (const void *)lanner_dot_f16_f32_neon, 0);
        test_dot_half_f32("dot_bf16_f32_neon", (const void *)lanner_dot_bf16_f32_neon, 1);
        test_quantize_q8a();
    }
    static const void *const q8a_dots[] = {
        (const void *)lanner_dot_q8_0_q8a_dotprod, (const void *)lanner_dot_q4_0_q8a_dotprod,
        (const void *)lanner_dot_q4_1_q8a_dotprod, (const void *)lanner_dot_q5_0_q8a_dotprod,
        (const void *)lanner_dot_q5_1_q8a_dotprod, (const void *)lanner_dot_q4_k_q8a_dotprod,
        (const void *)lanner_dot_q5_k_q8a_dotprod, (const void *)lanner_dot_q6_k_q8a_dotprod,
        (const void *)lanner_dot_q2_k_q8a_dotprod, (const void *)lanner_dot_q3_k_q8a_dotprod,
    };
    for (int t = W_Q8_0; t <= W_Q3_K; t++) {
        if (dotprod) test_dot_q8a((enum WType)t, q8a_dots[t]);
        else printf("skip dot_%s_q8a_dotprod     (CPU lacks ASIMDDP, as lanner's dispatch would skip it)\n", WNAME[t]);
    }

    if (g_failures) {
        printf("checkasm aarch64: %d FAILURES in %d cases (seed %llu)\n", g_failures, g_cases, g_seed);
        return 1;
    }
    printf("checkasm aarch64: all %d cases passed\n", g_cases);
    return 0;
}
