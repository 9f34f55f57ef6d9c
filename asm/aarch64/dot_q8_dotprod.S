// Int8 dot products with the ARMv8.2 dot-product instructions (sdot), NEON-dotprod tier.
//
// C prototype (AAPCS64):
//   float lanner_dot_q8_0_q8_0_dotprod(const uint8_t *w, const uint8_t *a, size_t nblocks);
// Q8_0 weights times int8 activations quantized to Q8_0 blocks (d f16 | qs[32] i8, 34 bytes).
// Scalar reference (tests/aarch64/harness.c, ref_dot_q8_0_q8_0):
//   sum over blocks b of (d_w[b] * d_a[b]) * sum_j(qw[b][j] * qa[b][j])
// The integer block sums are exact (|sum| <= 32 * 128 * 128); only the f32 scaling rounds.
// No alignment required; reads exactly nblocks blocks from each pointer.
// Registers: x0 = w, x1 = a (advance 34 bytes per block), x2 = blocks left,
//            v0 = 4-lane sum of d_w d_a * isum, v1-v4 = quants, v5 = 4-lane int32 block sums,
//            v6 / v7 = d_w / d_a.
// Only the CPUs with FEAT_DotProd (HWCAP_ASIMDDP; Rust "dotprod") may call this.

#include "macros.inc"
        .arch   armv8.2-a+dotprod
        .text

FUNC lanner_dot_q8_0_q8_0_dotprod
        movi    v0.16b, #0
        cbz     x2, .Lqq_reduce
.Lqq_loop:
        ldur    q1, [x0, #2]                    // qw[0..16]
        ldur    q2, [x0, #18]                   // qw[16..32]
        ldur    q3, [x1, #2]                    // qa[0..16]
        ldur    q4, [x1, #18]                   // qa[16..32]
        movi    v5.16b, #0
        sdot    v5.4s, v1.16b, v3.16b           // lane i += sum of 4 products qw[4i..4i+4] qa[..]
        sdot    v5.4s, v2.16b, v4.16b
        ldr     h6, [x0]
        ldr     h7, [x1]
        fcvt    s6, h6                          // d_w
        fcvt    s7, h7                          // d_a
        fmul    s6, s6, s7                      // d_w * d_a
        scvtf   v5.4s, v5.4s                    // exact (|lane| < 2^24)
        fmla    v0.4s, v5.4s, v6.s[0]           // acc += (d_w d_a) * isum, lane-wise
        add     x0, x0, #34
        add     x1, x1, #34
        subs    x2, x2, #1
        b.ne    .Lqq_loop
.Lqq_reduce:
        HSUM_V0
        ret
ENDFUNC lanner_dot_q8_0_q8_0_dotprod

        .section .note.GNU-stack,"",%progbits
