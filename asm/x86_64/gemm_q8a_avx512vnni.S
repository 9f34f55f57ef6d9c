// Int8 GEMM microkernel over packed panels, AVX-512 VNNI: a tile of 6 tokens x 32 weight rows of
// C, accumulated in place, with weights as unsigned 8-bit levels and activations in Q8A's two
// int8 planes (src/quant/q8a.rs, src/quant/levels.rs).
//
// Rust prototypes (System V x86-64 ABI), U = 32 or 16 values of k per unit (G = U / 4 groups):
//   extern "C" fn lanner_gemm_q8a_6x32_uU_avx512vnni(wp: *const u8, xp: *const u8, nu: usize,
//                                                     c: *mut f32, ldc: usize, fresh: usize);
// Scalar reference: crate::backend::cpu::reference::gemm_q8a (mr = 6, nr = 32, G). Per unit u of
// k, the weight panel holds ((4 G + 8) 32 bytes)
//   levels [G groups g][32 rows r][4] u8   (row r's levels k = 4 g .. 4 g + 3 of the unit)
//   scale  [32] f32, min [32] f32          (row r's value = scale l + min)
// and the activation panel ((8 G + 8) 6 bytes)
//   q      [2 planes p][G groups g][6 tokens t][4] i8
//   es     [6 tokens t][e, s] f32          (value = e (256 q1 + q2), s = e sum(256 q1 + q2))
// and for every token t and row r, in unit order:
//   I   = 256 sum(l q1) + sum(l q2)                    exact in i32 (|I| < 2^31: l <= 255)
//   acc = fma(f32(I), scale[r] * e[t], acc),  acc = fma(min[r], s[t], acc)
// from acc = fresh ? +0.0 : c[t * ldc + r], stored back to c. The same operations in the same
// order as the reference, so the result is bit-identical to it and independent of the tile a
// token or a row sits in. No alignment required.
// Per unit: vpdpbusd of each token's 4 bytes of a group (a memory broadcast) with the 32 rows'
// levels of that group (two zmm), plane 1 then, after a shift left by 8, plane 2 into the same
// i32 accumulators (D = 256 D1 + D2, as the decode kernels do), then the f32 epilogue above.
// Registers: rdi = wp, rsi = xp (advancing per unit), rdx = units left, rcx = c, r8 = ldc * 4,
// r9 = fresh, then a row of C, r10 = the next tile's rows (prefetched);
// zmm0..11 = acc[t][h] (zmm 2 t + h: rows 16 h .. 16 h + 15), zmm12..23 = the unit's i32 sums in
// the same order, zmm24/25 = levels of a group, zmm26..29 = scale, min, zmm30/31 = scale e.

        .intel_syntax noprefix
        .text

// acc pair (a, b) <-> C row at r9, then r9 += ldc
.macro  CLOAD a, b
        vmovups zmm\a, [r9]
        vmovups zmm\b, [r9 + 64]
        add     r9, r8
.endm
.macro  CSTORE a, b
        vmovups [r9], zmm\a
        vmovups [r9 + 64], zmm\b
        add     r9, r8
.endm
.macro  CNEXT
        prefetcht0 [r10]
        prefetcht0 [r10 + 64]
        add     r10, r8
.endm

// group g of plane p (G groups a plane): the 32 rows' levels times each token's 4 activation bytes
.macro  GROUP G, p, g
        vmovdqu64 zmm24, [rdi + 128 * \g]
        vmovdqu64 zmm25, [rdi + 128 * \g + 64]
        TOKEN   \G, \p, \g, 0, 12, 13
        TOKEN   \G, \p, \g, 1, 14, 15
        TOKEN   \G, \p, \g, 2, 16, 17
        TOKEN   \G, \p, \g, 3, 18, 19
        TOKEN   \G, \p, \g, 4, 20, 21
        TOKEN   \G, \p, \g, 5, 22, 23
.endm
.macro  TOKEN G, p, g, t, a, b
        vpdpbusd zmm\a, zmm24, dword bcst [rsi + 24 * (\G * \p + \g) + 4 * \t]
        vpdpbusd zmm\b, zmm25, dword bcst [rsi + 24 * (\G * \p + \g) + 4 * \t]
.endm

// token t's epilogue (its sums in zmm\a/\b, its accumulators zmm\c/\d): acc += f32(I) (scale e),
// then acc += min s
.macro  EPI G, t, a, b, c, d
        vcvtdq2ps zmm\a, zmm\a
        vcvtdq2ps zmm\b, zmm\b
        vmulps  zmm30, zmm26, dword bcst [rsi + 48 * \G + 8 * \t]
        vmulps  zmm31, zmm27, dword bcst [rsi + 48 * \G + 8 * \t]
        vfmadd231ps zmm\c, zmm\a, zmm30
        vfmadd231ps zmm\d, zmm\b, zmm31
        vfmadd231ps zmm\c, zmm28, dword bcst [rsi + 48 * \G + 8 * \t + 4]
        vfmadd231ps zmm\d, zmm29, dword bcst [rsi + 48 * \G + 8 * \t + 4]
.endm

.macro  GEMM_Q8A name, G
        .globl  \name
        .type   \name, @function
        .p2align 5
\name:
        shl     r8, 2                           // ldc in bytes
        lea     r10, [r8 + r8 * 2]
        add     r10, r10
        add     r10, rcx                        // the next tile: c + 6 ldc
        .rept   6
        CNEXT
        .endr
        test    r9, r9
        jz      .L\name\()_load
        .irp    r, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
        vxorps  zmm\r, zmm\r, zmm\r
        .endr
        jmp     .L\name\()_go
.L\name\()_load:
        mov     r9, rcx
        CLOAD   0, 1
        CLOAD   2, 3
        CLOAD   4, 5
        CLOAD   6, 7
        CLOAD   8, 9
        CLOAD   10, 11
.L\name\()_go:
        test    rdx, rdx
        jz      .L\name\()_store
.L\name\()_unit:
        .irp    r, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23
        vpxord  zmm\r, zmm\r, zmm\r
        .endr
        .irp    g, 0, 1, 2, 3, 4, 5, 6, 7
        .if \g < \G
        GROUP   \G, 0, \g
        .endif
        .endr
        .irp    r, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23
        vpslld  zmm\r, zmm\r, 8
        .endr
        .irp    g, 0, 1, 2, 3, 4, 5, 6, 7
        .if \g < \G
        GROUP   \G, 1, \g
        .endif
        .endr
        vmovups zmm26, [rdi + 128 * \G]
        vmovups zmm27, [rdi + 128 * \G + 64]
        vmovups zmm28, [rdi + 128 * \G + 128]
        vmovups zmm29, [rdi + 128 * \G + 192]
        EPI     \G, 0, 12, 13, 0, 1
        EPI     \G, 1, 14, 15, 2, 3
        EPI     \G, 2, 16, 17, 4, 5
        EPI     \G, 3, 18, 19, 6, 7
        EPI     \G, 4, 20, 21, 8, 9
        EPI     \G, 5, 22, 23, 10, 11
        add     rdi, (4 * \G + 8) * 32
        add     rsi, (8 * \G + 8) * 6
        dec     rdx
        jnz     .L\name\()_unit
.L\name\()_store:
        mov     r9, rcx
        CSTORE  0, 1
        CSTORE  2, 3
        CSTORE  4, 5
        CSTORE  6, 7
        CSTORE  8, 9
        CSTORE  10, 11
        vzeroupper
        ret
        .size   \name, .-\name
.endm

        GEMM_Q8A lanner_gemm_q8a_6x32_u32_avx512vnni, 8
        GEMM_Q8A lanner_gemm_q8a_6x32_u16_avx512vnni, 4
