// GEMM microkernel, NEON tier: one 4 x 4 tile in dot-product form.
//
// Rust prototype (AAPCS64):
//   extern "C" fn lanner_gemm_f32_4x4_neon(w: *const f32, ldw: usize, x: *const f32, ldx: usize,
//                                          k: usize, c: *mut f32, ldc: usize);
// Scalar reference: crate::backend::cpu::reference::gemm_f32_4x4:
//   c[t * ldc + r] = sum_{i < k} w[r * ldw + i] * x[t * ldx + i]      for r, t in 0..4
// k must be a multiple of 4 (the Rust wrapper checks); ldw, ldx, ldc count floats; no alignment
// required. Writes exactly c[t * ldc + 0..4] for t in 0..4.
// Registers: x0, x9, x10, x11 = rows 0..3 of w;  x2, x12, x13, x14 = rows 0..3 of x;
//            x4 = k / 4 left;  x5 = row t of c;  v0-v3 = w[r][i..i+4];  v4-v7 = x[t][i..i+4];
//            v(16 + 4t + r) = 4-lane partial sums of c[t][r].

#include "macros.inc"
        .text

FUNC lanner_gemm_f32_4x4_neon
        lsl     x1, x1, #2                      // strides in bytes
        lsl     x3, x3, #2
        lsl     x6, x6, #2
        add     x9, x0, x1
        add     x10, x9, x1
        add     x11, x10, x1
        add     x12, x2, x3
        add     x13, x12, x3
        add     x14, x13, x3
        .irp    r, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        movi    v\r\().16b, #0
        .endr
        lsr     x4, x4, #2
        cbz     x4, .Lgm_store
.Lgm_loop:                                      // main loop: 4 values of k per iteration
        ldr     q0, [x0], #16
        ldr     q1, [x9], #16
        ldr     q2, [x10], #16
        ldr     q3, [x11], #16
        ldr     q4, [x2], #16
        ldr     q5, [x12], #16
        ldr     q6, [x13], #16
        ldr     q7, [x14], #16
        fmla    v16.4s, v0.4s, v4.4s            // t = 0
        fmla    v17.4s, v1.4s, v4.4s
        fmla    v18.4s, v2.4s, v4.4s
        fmla    v19.4s, v3.4s, v4.4s
        fmla    v20.4s, v0.4s, v5.4s            // t = 1
        fmla    v21.4s, v1.4s, v5.4s
        fmla    v22.4s, v2.4s, v5.4s
        fmla    v23.4s, v3.4s, v5.4s
        fmla    v24.4s, v0.4s, v6.4s            // t = 2
        fmla    v25.4s, v1.4s, v6.4s
        fmla    v26.4s, v2.4s, v6.4s
        fmla    v27.4s, v3.4s, v6.4s
        fmla    v28.4s, v0.4s, v7.4s            // t = 3
        fmla    v29.4s, v1.4s, v7.4s
        fmla    v30.4s, v2.4s, v7.4s
        fmla    v31.4s, v3.4s, v7.4s
        subs    x4, x4, #1
        b.ne    .Lgm_loop
.Lgm_store:
        // Per row t of c: faddp(faddp(acc[t][0], acc[t][1]), faddp(acc[t][2], acc[t][3]))
        // = [sum acc[t][0], sum acc[t][1], sum acc[t][2], sum acc[t][3]] = c[t][0..4].
        faddp   v0.4s, v16.4s, v17.4s          // t = 0: [r0 r0 r1 r1] pairs
        faddp   v1.4s, v18.4s, v19.4s          //        [r2 r2 r3 r3] pairs
        faddp   v0.4s, v0.4s, v1.4s
        str     q0, [x5]
        add     x5, x5, x6
        faddp   v0.4s, v20.4s, v21.4s          // t = 1: [r0 r0 r1 r1] pairs
        faddp   v1.4s, v22.4s, v23.4s          //        [r2 r2 r3 r3] pairs
        faddp   v0.4s, v0.4s, v1.4s
        str     q0, [x5]
        add     x5, x5, x6
        faddp   v0.4s, v24.4s, v25.4s          // t = 2: [r0 r0 r1 r1] pairs
        faddp   v1.4s, v26.4s, v27.4s          //        [r2 r2 r3 r3] pairs
        faddp   v0.4s, v0.4s, v1.4s
        str     q0, [x5]
        add     x5, x5, x6
        faddp   v0.4s, v28.4s, v29.4s          // t = 3: [r0 r0 r1 r1] pairs
        faddp   v1.4s, v30.4s, v31.4s          //        [r2 r2 r3 r3] pairs
        faddp   v0.4s, v0.4s, v1.4s
        str     q0, [x5]
        ret
ENDFUNC lanner_gemm_f32_4x4_neon

        .section .note.GNU-stack,"",%progbits
