// Fused dot products of one quantized weight row with f32 activations, NEON tier (decode: one
// token, so each weight byte is read once and never expanded to memory).
//
// Rust prototypes (AAPCS64):
//   extern "C" fn lanner_dot_q8_0_f32_neon(w: *const u8, x: *const f32, nblocks: usize) -> f32;
//   extern "C" fn lanner_dot_q4_0_f32_neon(w: *const u8, x: *const f32, nblocks: usize) -> f32;
//   extern "C" fn lanner_dot_q4_1_f32_neon(w: *const u8, x: *const f32, nblocks: usize) -> f32;
//   extern "C" fn lanner_dot_f16_f32_neon(w: *const u8, x: *const f32, n: usize) -> f32;
//   extern "C" fn lanner_dot_bf16_f32_neon(w: *const u8, x: *const f32, n: usize) -> f32;
// Scalar reference: crate::quant::dot_f32(GgmlType::Q8_0 / Q4_0 / Q4_1 / F16 / BF16, w, x).
// Blocks of 32 weights; no alignment required (Q8_0 blocks are 34 bytes, Q4_0 18, Q4_1 20); reads
// exactly nblocks blocks and 32 * nblocks floats.
// Registers: x0 = w (advances one block per iteration), x1 = x (advances 32 floats),
//            x2 = blocks left, v0 = 4-lane sum of d * (q . x), v7 = sum of m * sum(x) (Q4_1),
//            v5 / v6 = the block's 32 quants as bytes (elements 0..16 / 16..32),
//            v16 = f16 scales -> f32, v30 / v31 = constants (Q4_0: 8 / 0x0f; Q4_1: - / 0x0f).

#include "macros.inc"
        .text

// v28 = 4-lane partial sums of q . x for one block: q[0..16] in v5, q[16..32] in v6 (bytes,
// `su` = s: signed, u: unsigned), x[0..32] at [x1] (x1 advances 128 bytes). With sumx = 1 also
// v30 = 4-lane partial sums of x[0..32]. Clobbers v1-v4, v16-v29.
.macro  DOT_BLOCK_X32 su, sumx=0
        \su\()xtl  v16.8h, v5.8b                // bytes -> 16-bit
        \su\()xtl2 v17.8h, v5.16b
        \su\()xtl  v18.8h, v6.8b
        \su\()xtl2 v19.8h, v6.16b
        \su\()xtl  v20.4s, v16.4h               // 16-bit -> 32-bit: q[0..4]
        \su\()xtl2 v21.4s, v16.8h               // q[4..8]
        \su\()xtl  v22.4s, v17.4h               // q[8..12]
        \su\()xtl2 v23.4s, v17.8h               // q[12..16]
        \su\()xtl  v24.4s, v18.4h               // q[16..20]
        \su\()xtl2 v25.4s, v18.8h               // q[20..24]
        \su\()xtl  v26.4s, v19.4h               // q[24..28]
        \su\()xtl2 v27.4s, v19.8h               // q[28..32]
        \su\()cvtf v20.4s, v20.4s             // -> f32 (exact)
        \su\()cvtf v21.4s, v21.4s
        \su\()cvtf v22.4s, v22.4s
        \su\()cvtf v23.4s, v23.4s
        \su\()cvtf v24.4s, v24.4s
        \su\()cvtf v25.4s, v25.4s
        \su\()cvtf v26.4s, v26.4s
        \su\()cvtf v27.4s, v27.4s
        ld1     {v1.4s, v2.4s, v3.4s, v4.4s}, [x1], #64     // x[0..16]
        fmul    v28.4s, v20.4s, v1.4s
        fmul    v29.4s, v21.4s, v2.4s
        fmla    v28.4s, v22.4s, v3.4s
        fmla    v29.4s, v23.4s, v4.4s
        .if \sumx
        fadd    v30.4s, v1.4s, v2.4s
        fadd    v30.4s, v30.4s, v3.4s
        fadd    v30.4s, v30.4s, v4.4s
        .endif
        ld1     {v1.4s, v2.4s, v3.4s, v4.4s}, [x1], #64     // x[16..32]
        fmla    v28.4s, v24.4s, v1.4s
        fmla    v29.4s, v25.4s, v2.4s
        fmla    v28.4s, v26.4s, v3.4s
        fmla    v29.4s, v27.4s, v4.4s
        .if \sumx
        fadd    v30.4s, v30.4s, v1.4s
        fadd    v30.4s, v30.4s, v2.4s
        fadd    v30.4s, v30.4s, v3.4s
        fadd    v30.4s, v30.4s, v4.4s
        .endif
        fadd    v28.4s, v28.4s, v29.4s
.endm


// Q8_0 block: d f16 | qs[32] i8;   block dot = d * sum(q[j] * x[j])
FUNC lanner_dot_q8_0_f32_neon
        movi    v0.16b, #0
        cbz     x2, .Lq8_reduce
.Lq8_loop:
        ldur    q5, [x0, #2]                    // q[0..16]
        ldur    q6, [x0, #18]                   // q[16..32]
        DOT_BLOCK_X32 s
        ldr     h16, [x0]
        fcvt    s16, h16                        // d
        fmla    v0.4s, v28.4s, v16.s[0]         // acc += d * (q . x), lane-wise
        add     x0, x0, #34
        subs    x2, x2, #1
        b.ne    .Lq8_loop
.Lq8_reduce:
        HSUM_V0
        ret
ENDFUNC lanner_dot_q8_0_f32_neon


// Q4_0 block: d f16 | qs[16];  x[j] = (lo(qs[j]) - 8) d,  x[j+16] = (hi(qs[j]) - 8) d
// block dot = d * sum((q[j] - 8) * x[j])
FUNC lanner_dot_q4_0_f32_neon
        movi    v0.16b, #0
        movi    v30.16b, #8
        movi    v31.16b, #0x0f                  // nibble mask
        cbz     x2, .Lq40_reduce
.Lq40_loop:
        ldur    q16, [x0, #2]                   // qs[0..16]
        and     v5.16b, v16.16b, v31.16b        // lo nibbles: elements 0..16
        ushr    v6.16b, v16.16b, #4             // hi nibbles: elements 16..32
        sub     v5.16b, v5.16b, v30.16b         // q - 8, as i8 in -8..7
        sub     v6.16b, v6.16b, v30.16b
        DOT_BLOCK_X32 s
        ldr     h16, [x0]
        fcvt    s16, h16                        // d
        fmla    v0.4s, v28.4s, v16.s[0]         // acc += d * ((q - 8) . x)
        add     x0, x0, #18
        subs    x2, x2, #1
        b.ne    .Lq40_loop
.Lq40_reduce:
        HSUM_V0
        ret
ENDFUNC lanner_dot_q4_0_f32_neon


// Q4_1 block: d f16 | m f16 | qs[16];  x[j] = lo(qs[j]) d + m,  x[j+16] = hi(qs[j]) d + m
// block dot = d * (q . x) + m * sum(x)
FUNC lanner_dot_q4_1_f32_neon
        movi    v0.16b, #0
        movi    v7.16b, #0
        movi    v31.16b, #0x0f                  // nibble mask
        cbz     x2, .Lq41_reduce
.Lq41_loop:
        ldur    q16, [x0, #4]                   // qs[0..16]
        and     v5.16b, v16.16b, v31.16b        // lo nibbles: elements 0..16 (0..15)
        ushr    v6.16b, v16.16b, #4             // hi nibbles: elements 16..32
        DOT_BLOCK_X32 u, 1
        ldr     s16, [x0]                       // d (low f16), m (high f16)
        fcvtl   v16.4s, v16.4h                  // v16[0] = d, v16[1] = m
        fmla    v0.4s, v28.4s, v16.s[0]         // acc  += d * (q . x)
        fmla    v7.4s, v30.4s, v16.s[1]         // accm += m * sum(x)
        add     x0, x0, #20
        subs    x2, x2, #1
        b.ne    .Lq41_loop
.Lq41_reduce:
        fadd    v0.4s, v0.4s, v7.4s
        HSUM_V0
        ret
ENDFUNC lanner_dot_q4_1_f32_neon

// ---- F16 / BF16: n weights of 2 bytes (any n, no alignment: w may start at an odd address) ----
// sum(w[i] * x[i]) with w[i] widened exactly to f32: F16 by fcvtl / fcvtl2 (fcvt for the tail),
// BF16 by shll / shll2 #16 (its bits are the high half of an f32).
// Registers: x0 = w, x1 = x (both advance), x2 = n, x3 = loop count, v0-v3 = four 4-lane
// accumulators, v4-v7 = x chunks, v16 / v17 = 16 weights, v18-v21 = them as f32.

// \dst.4s = weights 0..4 / 4..8 of the 8 in \src (f16 or bf16).
.macro  WIDEN_LO kind, dst, src
.ifc \kind, f16
        fcvtl   \dst\().4s, \src\().4h
.else
        shll    \dst\().4s, \src\().4h, #16
.endif
.endm
.macro  WIDEN_HI kind, dst, src
.ifc \kind, f16
        fcvtl2  \dst\().4s, \src\().8h
.else
        shll2   \dst\().4s, \src\().8h, #16
.endif
.endm

.macro  DOT_HALF kind
        movi    v0.16b, #0
        movi    v1.16b, #0
        movi    v2.16b, #0
        movi    v3.16b, #0
        lsr     x3, x2, #4                      // 16-value chunks
        cbz     x3, .L\kind\()_4
.L\kind\()_16:                                  // main loop: acc[j] += w[16i+4j..] * x[16i+4j..]
        ldp     q16, q17, [x0], #32
        ld1     {v4.4s, v5.4s, v6.4s, v7.4s}, [x1], #64
        WIDEN_LO \kind, v18, v16
        WIDEN_HI \kind, v19, v16
        WIDEN_LO \kind, v20, v17
        WIDEN_HI \kind, v21, v17
        fmla    v0.4s, v18.4s, v4.4s
        fmla    v1.4s, v19.4s, v5.4s
        fmla    v2.4s, v20.4s, v6.4s
        fmla    v3.4s, v21.4s, v7.4s
        subs    x3, x3, #1
        b.ne    .L\kind\()_16
.L\kind\()_4:                                   // 4-value chunks of the remaining n % 16
        ubfx    x3, x2, #2, #2                  // (n % 16) / 4
        cbz     x3, .L\kind\()_reduce
.L\kind\()_4loop:
        ldr     d16, [x0], #8
        ldr     q4, [x1], #16
        WIDEN_LO \kind, v18, v16
        fmla    v0.4s, v18.4s, v4.4s
        subs    x3, x3, #1
        b.ne    .L\kind\()_4loop
.L\kind\()_reduce:                              // s0 = (acc0 + acc1) + (acc2 + acc3), lanes summed
        fadd    v0.4s, v0.4s, v1.4s
        fadd    v2.4s, v2.4s, v3.4s
        fadd    v0.4s, v0.4s, v2.4s
        HSUM_V0
        ands    x3, x2, #3                      // scalar remainder: n % 4 values
        b.eq    .L\kind\()_done
.L\kind\()_tail:
.ifc \kind, f16
        ldr     h1, [x0], #2
        fcvt    s1, h1
.else
        ldrh    w4, [x0], #2
        lsl     w4, w4, #16
        fmov    s1, w4
.endif
        ldr     s2, [x1], #4
        fmadd   s0, s1, s2, s0                  // s += w[i] * x[i]
        subs    x3, x3, #1
        b.ne    .L\kind\()_tail
.L\kind\()_done:
        ret
.endm

FUNC lanner_dot_f16_f32_neon
        DOT_HALF f16
ENDFUNC lanner_dot_f16_f32_neon

FUNC lanner_dot_bf16_f32_neon
        DOT_HALF bf16
ENDFUNC lanner_dot_bf16_f32_neon

        .section .note.GNU-stack,"",%progbits
