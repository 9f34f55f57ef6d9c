// f32 dot product, NEON tier.
//
// Rust prototype (AAPCS64):
//   extern "C" fn lanner_dot_f32_neon(a: *const f32, b: *const f32, n: usize) -> f32;
// Scalar reference: crate::backend::cpu::reference::dot_f32 (sum(a[i] * b[i])).
// No alignment required; reads exactly n floats from each pointer.
// Registers: x0 = a, x1 = b (both advance), x2 = n, x3 = loop count,
//            v0-v3 = four 4-lane accumulators, v4-v7 / v16-v19 = a / b chunks.

#include "macros.inc"
        .text

FUNC lanner_dot_f32_neon
        movi    v0.16b, #0
        movi    v1.16b, #0
        movi    v2.16b, #0
        movi    v3.16b, #0
        lsr     x3, x2, #4                      // 16-float chunks
        cbz     x3, .Ldf_4
.Ldf_16:                                        // main loop: acc[j] += a[16i+4j..] * b[16i+4j..]
        ld1     {v4.4s, v5.4s, v6.4s, v7.4s}, [x0], #64
        ld1     {v16.4s, v17.4s, v18.4s, v19.4s}, [x1], #64
        fmla    v0.4s, v4.4s, v16.4s
        fmla    v1.4s, v5.4s, v17.4s
        fmla    v2.4s, v6.4s, v18.4s
        fmla    v3.4s, v7.4s, v19.4s
        subs    x3, x3, #1
        b.ne    .Ldf_16
.Ldf_4:                                         // 4-float chunks of the remaining n % 16
        ubfx    x3, x2, #2, #2                  // (n % 16) / 4
        cbz     x3, .Ldf_reduce
.Ldf_4loop:
        ldr     q4, [x0], #16
        ldr     q16, [x1], #16
        fmla    v0.4s, v4.4s, v16.4s
        subs    x3, x3, #1
        b.ne    .Ldf_4loop
.Ldf_reduce:                                    // s0 = (acc0 + acc1) + (acc2 + acc3), lanes summed
        fadd    v0.4s, v0.4s, v1.4s
        fadd    v2.4s, v2.4s, v3.4s
        fadd    v0.4s, v0.4s, v2.4s
        HSUM_V0
        ands    x3, x2, #3                      // scalar remainder: n % 4 floats
        b.eq    .Ldf_done
.Ldf_tail:
        ldr     s1, [x0], #4
        ldr     s2, [x1], #4
        fmadd   s0, s1, s2, s0                  // s += a[i] * b[i]
        subs    x3, x3, #1
        b.ne    .Ldf_tail
.Ldf_done:
        ret
ENDFUNC lanner_dot_f32_neon

        .section .note.GNU-stack,"",%progbits
