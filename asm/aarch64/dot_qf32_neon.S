// Fused dot products of one quantized weight row with f32 activations, NEON tier (decode: one
// token, so each weight byte is read once and never expanded to memory).
//
// Rust prototypes (AAPCS64):
//   extern "C" fn lanner_dot_q8_0_f32_neon(w: *const u8, x: *const f32, nblocks: usize) -> f32;
//   extern "C" fn lanner_dot_q4_0_f32_neon(w: *const u8, x: *const f32, nblocks: usize) -> f32;
//   extern "C" fn lanner_dot_q4_1_f32_neon(w: *const u8, x: *const f32, nblocks: usize) -> f32;
// Scalar reference: crate::quant::dot_f32(GgmlType::Q8_0 / Q4_0 / Q4_1, w, x).
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

        .section .note.GNU-stack,"",%progbits
