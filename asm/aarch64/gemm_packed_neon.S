// GEMM microkernel over packed panels, NEON tier: a tile of 8 tokens x 12 weight rows of C,
// accumulated in place (outer-product form, fmla by element).
//
// Rust prototype (AAPCS64):
//   extern "C" fn lanner_gemm_packed_8x12_neon(wp: *const f32, xp: *const f32, kc: usize,
//                                             c: *mut f32, ldc: usize, fresh: usize);
// Scalar reference: crate::backend::cpu::reference::gemm_packed (mr = 8, nr = 12):
//   for t < 8, r < 12:  acc = fresh ? +0.0 : c[t * ldc + r];
//                       for k < kc: acc = fma(wp[k * 12 + r], xp[k * 8 + t], acc);
//                       c[t * ldc + r] = acc
// One fused multiply-add per k, in k order (fmla rounds once, as mul_add): bit-identical to the
// reference. wp is k-major (12 weights per k), xp too (8 tokens per k). fresh != 0: C is not read
// (the first k block of a product). No alignment required; reads 12 kc and 8 kc floats, touches
// only the first 12 floats of each of the 8 rows of C.
// Registers: x0 = wp, x1 = xp (advancing), x2 = k left, x3 = c, x4 = ldc in bytes, x5 = fresh,
//            x6 = row of C; v0-v2 = the 12 weights of one k, v3 / v4 = tokens 0..4 / 4..8,
//            v(8 + 3 t + j) = acc[token t][rows 4 j .. 4 j + 4]. v8-v15 are the caller's (low
//            halves): saved on the stack.

#include "macros.inc"
        .text

// acc[t] += w * x[t] for the 3 accumulators \a, \b, \c of token t (lane \l of \x).
.macro  TOK a, b, c, x, l
        fmla    v\a\().4s, v0.4s, \x\().s[\l]
        fmla    v\b\().4s, v1.4s, \x\().s[\l]
        fmla    v\c\().4s, v2.4s, \x\().s[\l]
.endm

// \op (ld1 / st1) the 8 rows of C from / to the accumulators.
.macro  CROWS op
        mov     x6, x3
        \op     {v8.4s, v9.4s, v10.4s}, [x6], x4
        \op     {v11.4s, v12.4s, v13.4s}, [x6], x4
        \op     {v14.4s, v15.4s, v16.4s}, [x6], x4
        \op     {v17.4s, v18.4s, v19.4s}, [x6], x4
        \op     {v20.4s, v21.4s, v22.4s}, [x6], x4
        \op     {v23.4s, v24.4s, v25.4s}, [x6], x4
        \op     {v26.4s, v27.4s, v28.4s}, [x6], x4
        \op     {v29.4s, v30.4s, v31.4s}, [x6]
.endm

FUNC lanner_gemm_packed_8x12_neon
        stp     d8, d9, [sp, #-64]!
        stp     d10, d11, [sp, #16]
        stp     d12, d13, [sp, #32]
        stp     d14, d15, [sp, #48]
        lsl     x4, x4, #2                      // ldc in bytes
        cbz     x5, .Lgp_load
        .irp    r, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        movi    v\r\().16b, #0                  // +0.0
        .endr
        b       .Lgp_go
.Lgp_load:
        CROWS   ld1
.Lgp_go:
        cbz     x2, .Lgp_store
.Lgp_loop:                                      // one k per iteration
        ld1     {v0.4s, v1.4s, v2.4s}, [x0], #48
        ld1     {v3.4s, v4.4s}, [x1], #32
        TOK     8, 9, 10, v3, 0
        TOK     11, 12, 13, v3, 1
        TOK     14, 15, 16, v3, 2
        TOK     17, 18, 19, v3, 3
        TOK     20, 21, 22, v4, 0
        TOK     23, 24, 25, v4, 1
        TOK     26, 27, 28, v4, 2
        TOK     29, 30, 31, v4, 3
        subs    x2, x2, #1
        b.ne    .Lgp_loop
.Lgp_store:
        CROWS   st1
        ldp     d10, d11, [sp, #16]
        ldp     d12, d13, [sp, #32]
        ldp     d14, d15, [sp, #48]
        ldp     d8, d9, [sp], #64
        ret
ENDFUNC lanner_gemm_packed_8x12_neon

        .section .note.GNU-stack,"",%progbits
