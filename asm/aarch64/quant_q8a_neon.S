// Q8A activation quantizer, NEON tier (format: src/quant/q8a.rs).
//
// Rust prototype (AAPCS64):
//   extern "C" fn lanner_quantize_q8a_neon(x: *const f32, qs: *mut i8, ds: *mut f32, nblocks: usize);
// Scalar reference: crate::quant::q8a::quantize, bit-exact. Per block of 32 values:
//   d = max|x| / 127, e = d / 256                          fdiv, IEEE (no reciprocal estimate)
//   q1 = clamp(round_even(x / d), -127, 127)               fdiv, fcvtns (ties to even, saturating)
//   q2 = clamp(round_even(fma(-d, q1, x) / e), -127, 127)  fmls: x - d q1 rounded once
//   ds = [e, e * sum(256 q1 + q2)]                         the i32 sum is exact (< 2^24)
// and a block whose e is 0 is all zero. q1 of value i goes to qs[i], q2 to qs[n + i] (n = 32
// nblocks). Inputs must be finite. No alignment required.
// Registers: x0 = x (128 bytes per block), x1 = qs plane 1 (32), x4 = plane 2 (32), x2 = ds (8),
//            x3 = blocks left; v0-v7 = x, then r, then q2 (i32); v16-v23 = q1 (i32);
//            v30 / v31 = d / e (all lanes), v28 / v29 = i32 127 / -127, v27 = i32 sums of
//            256 q1 + q2, v24-v26 = temporaries.

#include "macros.inc"
        .text

// One vector of 4 values \x: \q = q1 (i32), \x = q2 (i32); v27 += 256 q1 + q2.
.macro  Q8A_4 x, q
        fdiv    \q\().4s, \x\().4s, v30.4s      // x / d
        fcvtns  \q\().4s, \q\().4s              // round to nearest, ties to even
        smin    \q\().4s, \q\().4s, v28.4s
        smax    \q\().4s, \q\().4s, v29.4s      // q1
        scvtf   v24.4s, \q\().4s
        fmls    \x\().4s, v24.4s, v30.4s        // r = x - d q1, one rounding (the fma)
        fdiv    \x\().4s, \x\().4s, v31.4s      // r / e
        fcvtns  \x\().4s, \x\().4s
        smin    \x\().4s, \x\().4s, v28.4s
        smax    \x\().4s, \x\().4s, v29.4s      // q2
        shl     v25.4s, \q\().4s, #8
        add     v25.4s, v25.4s, \x\().4s
        add     v27.4s, v27.4s, v25.4s          // sum of 256 q1 + q2
.endm

// Store the 32 i32 lanes of \a..\h (each in -127..127) as 32 bytes at [\p], \p += 32.
.macro  NARROW_STORE p, a, b, c, d, e, f, g, h
        uzp1    v24.8h, \a\().8h, \b\().8h      // low halves: 16-bit values 0..8
        uzp1    v25.8h, \c\().8h, \d\().8h
        uzp1    v24.16b, v24.16b, v25.16b       // bytes 0..16
        uzp1    v25.8h, \e\().8h, \f\().8h
        uzp1    v26.8h, \g\().8h, \h\().8h
        uzp1    v25.16b, v25.16b, v26.16b       // bytes 16..32
        stp     q24, q25, [\p], #32
.endm

FUNC lanner_quantize_q8a_neon
        add     x4, x1, x3, lsl #5              // plane 2: qs + n
        cbz     x3, .Lqa_done
        movi    v28.4s, #127
        mvni    v29.4s, #126                    // ~126 = -127
.Lqa_loop:
        ld1     {v0.4s, v1.4s, v2.4s, v3.4s}, [x0], #64
        ld1     {v4.4s, v5.4s, v6.4s, v7.4s}, [x0], #64
        fabs    v16.4s, v0.4s                   // max|x| over the 32 values
        fabs    v17.4s, v1.4s
        fabs    v18.4s, v2.4s
        fabs    v19.4s, v3.4s
        fabs    v20.4s, v4.4s
        fabs    v21.4s, v5.4s
        fabs    v24.4s, v6.4s
        fabs    v25.4s, v7.4s
        fmax    v16.4s, v16.4s, v17.4s
        fmax    v18.4s, v18.4s, v19.4s
        fmax    v20.4s, v20.4s, v21.4s
        fmax    v24.4s, v24.4s, v25.4s
        fmax    v16.4s, v16.4s, v18.4s
        fmax    v20.4s, v20.4s, v24.4s
        fmax    v16.4s, v16.4s, v20.4s
        fmaxv   s16, v16.4s                     // amax
        mov     w9, #0x42fe0000
        fmov    s17, w9
        fdiv    s30, s16, s17                   // d = amax / 127
        mov     w9, #0x43800000
        fmov    s17, w9
        fdiv    s31, s30, s17                   // e = d / 256
        fcmp    s31, #0.0
        b.eq    .Lqa_zero
        dup     v30.4s, v30.s[0]
        dup     v31.4s, v31.s[0]
        movi    v27.4s, #0
        Q8A_4   v0, v16
        Q8A_4   v1, v17
        Q8A_4   v2, v18
        Q8A_4   v3, v19
        Q8A_4   v4, v20
        Q8A_4   v5, v21
        Q8A_4   v6, v22
        Q8A_4   v7, v23
        NARROW_STORE x1, v16, v17, v18, v19, v20, v21, v22, v23
        NARROW_STORE x4, v0, v1, v2, v3, v4, v5, v6, v7
        addv    s27, v27.4s
        scvtf   s27, s27                        // exact: |sum| <= 32 * 32639 < 2^24
        fmul    s27, s31, s27                   // s = e * sum
        stp     s31, s27, [x2], #8
        subs    x3, x3, #1
        b.ne    .Lqa_loop
        ret
.Lqa_zero:                                      // e == 0: the block is all zero
        stp     xzr, xzr, [x1]
        stp     xzr, xzr, [x1, #16]
        add     x1, x1, #32
        stp     xzr, xzr, [x4]
        stp     xzr, xzr, [x4, #16]
        add     x4, x4, #32
        str     xzr, [x2], #8
        subs    x3, x3, #1
        b.ne    .Lqa_loop
.Lqa_done:
        ret
ENDFUNC lanner_quantize_q8a_neon

        .section .note.GNU-stack,"",%progbits
