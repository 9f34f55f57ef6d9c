// GEMM microkernel, dot-product form, AVX-512F: a 4 x 4 tile of C from 4 weight rows and 4
// activation rows that both run along k (the framework in src/backend/cpu/mod.rs dequantizes the
// weight rows, walks the tiles and handles the edges).
//
// Rust prototype (System V x86-64 ABI):
//   extern "C" fn lanner_gemm_f32_4x4_avx512(w: *const f32, ldw: usize, x: *const f32, ldx: usize,
//                                            k: usize, c: *mut f32, ldc: usize);
// Scalar reference: crate::backend::cpu::reference::gemm_f32_4x4:
//   c[t * ldc + r] = sum_{i < k} w[r * ldw + i] * x[t * ldx + i]     for r, t in 0..4
// Requires k % 16 == 0 (checked by the caller). No alignment required.
// Registers: rdi = w row 0 (advancing), rsi = ldw * 4 (bytes), rdx = x row 0 (advancing),
//            rcx = ldx * 4, r8 = iterations left, r9 = c, r10 = 3 * ldw * 4, r11 = 3 * ldx * 4,
//            zmm0..15 = acc[t * 4 + r], zmm16..19 = w rows, zmm20..23 = x rows.

#include "macros.inc"
        .intel_syntax noprefix
        .text

        .globl  lanner_gemm_f32_4x4_avx512
        .type   lanner_gemm_f32_4x4_avx512, @function
        .p2align 5
lanner_gemm_f32_4x4_avx512:
        shl     rsi, 2                          // strides in bytes
        shl     rcx, 2
        shl     r8, 2
        lea     r10, [rsi + rsi*2]
        lea     r11, [rcx + rcx*2]
        vxorps  zmm0, zmm0, zmm0
        vxorps  zmm1, zmm1, zmm1
        vxorps  zmm2, zmm2, zmm2
        vxorps  zmm3, zmm3, zmm3
        vxorps  zmm4, zmm4, zmm4
        vxorps  zmm5, zmm5, zmm5
        vxorps  zmm6, zmm6, zmm6
        vxorps  zmm7, zmm7, zmm7
        vxorps  zmm8, zmm8, zmm8
        vxorps  zmm9, zmm9, zmm9
        vxorps  zmm10, zmm10, zmm10
        vxorps  zmm11, zmm11, zmm11
        vxorps  zmm12, zmm12, zmm12
        vxorps  zmm13, zmm13, zmm13
        vxorps  zmm14, zmm14, zmm14
        vxorps  zmm15, zmm15, zmm15
        shr     r8, 6                           // iterations: k / 16
        jz      .Lg_store
.Lg_loop:                                       // 16 values of k per iteration; rdi, rdx advance
        vmovups zmm16, [rdi]                    // w rows 0..3
        vmovups zmm17, [rdi + rsi]
        vmovups zmm18, [rdi + rsi*2]
        vmovups zmm19, [rdi + r10]
        vmovups zmm20, [rdx]                    // x rows 0..3
        vmovups zmm21, [rdx + rcx]
        vmovups zmm22, [rdx + rcx*2]
        vmovups zmm23, [rdx + r11]
        vfmadd231ps zmm0, zmm16, zmm20          // acc[t][r] += w[r] * x[t]
        vfmadd231ps zmm1, zmm17, zmm20
        vfmadd231ps zmm2, zmm18, zmm20
        vfmadd231ps zmm3, zmm19, zmm20
        vfmadd231ps zmm4, zmm16, zmm21
        vfmadd231ps zmm5, zmm17, zmm21
        vfmadd231ps zmm6, zmm18, zmm21
        vfmadd231ps zmm7, zmm19, zmm21
        vfmadd231ps zmm8, zmm16, zmm22
        vfmadd231ps zmm9, zmm17, zmm22
        vfmadd231ps zmm10, zmm18, zmm22
        vfmadd231ps zmm11, zmm19, zmm22
        vfmadd231ps zmm12, zmm16, zmm23
        vfmadd231ps zmm13, zmm17, zmm23
        vfmadd231ps zmm14, zmm18, zmm23
        vfmadd231ps zmm15, zmm19, zmm23
        add     rdi, 64
        add     rdx, 64
        dec     r8
        jnz     .Lg_loop
.Lg_store:
        // Reduce the 16 accumulators pairwise in a transpose tree: after it, zmm0 lane j holds the
        // full sum of accumulator j (j = t * 4 + r).
        //   step 1: add 256-bit halves of pairs:  (a, b) -> [a.lo + a.hi | b.lo + b.hi]
        mov     r8, [rsp + 8]                   // ldc (7th argument)
        shl     r8, 2
        vshuff32x4 zmm24, zmm0, zmm1, 0x44
        vshuff32x4 zmm25, zmm0, zmm1, 0xEE
        vaddps  zmm0, zmm24, zmm25
        vshuff32x4 zmm24, zmm2, zmm3, 0x44
        vshuff32x4 zmm25, zmm2, zmm3, 0xEE
        vaddps  zmm2, zmm24, zmm25
        vshuff32x4 zmm24, zmm4, zmm5, 0x44
        vshuff32x4 zmm25, zmm4, zmm5, 0xEE
        vaddps  zmm4, zmm24, zmm25
        vshuff32x4 zmm24, zmm6, zmm7, 0x44
        vshuff32x4 zmm25, zmm6, zmm7, 0xEE
        vaddps  zmm6, zmm24, zmm25
        vshuff32x4 zmm24, zmm8, zmm9, 0x44
        vshuff32x4 zmm25, zmm8, zmm9, 0xEE
        vaddps  zmm8, zmm24, zmm25
        vshuff32x4 zmm24, zmm10, zmm11, 0x44
        vshuff32x4 zmm25, zmm10, zmm11, 0xEE
        vaddps  zmm10, zmm24, zmm25
        vshuff32x4 zmm24, zmm12, zmm13, 0x44
        vshuff32x4 zmm25, zmm12, zmm13, 0xEE
        vaddps  zmm12, zmm24, zmm25
        vshuff32x4 zmm24, zmm14, zmm15, 0x44
        vshuff32x4 zmm25, zmm14, zmm15, 0xEE
        vaddps  zmm14, zmm24, zmm25
        //   step 2: pairs of those, (0,2) (4,6) (8,10) (12,14): 128-bit quarters
        //   -> zmm0 = [acc0 | acc1 | acc2 | acc3] (4 partial sums each), zmm4 = [acc4..7], ...
        vshuff32x4 zmm24, zmm0, zmm2, 0x88
        vshuff32x4 zmm25, zmm0, zmm2, 0xDD
        vaddps  zmm0, zmm24, zmm25
        vshuff32x4 zmm24, zmm4, zmm6, 0x88
        vshuff32x4 zmm25, zmm4, zmm6, 0xDD
        vaddps  zmm4, zmm24, zmm25
        vshuff32x4 zmm24, zmm8, zmm10, 0x88
        vshuff32x4 zmm25, zmm8, zmm10, 0xDD
        vaddps  zmm8, zmm24, zmm25
        vshuff32x4 zmm24, zmm12, zmm14, 0x88
        vshuff32x4 zmm25, zmm12, zmm14, 0xDD
        vaddps  zmm12, zmm24, zmm25
        //   step 3: (0,4) and (8,12): within 128-bit lanes, 64-bit halves
        vunpcklpd zmm24, zmm0, zmm4
        vunpckhpd zmm25, zmm0, zmm4
        vaddps  zmm0, zmm24, zmm25
        vunpcklpd zmm24, zmm8, zmm12
        vunpckhpd zmm25, zmm8, zmm12
        vaddps  zmm8, zmm24, zmm25
        //   step 4: (0,8): 32-bit pairs
        vshufps zmm24, zmm0, zmm8, 0x88
        vshufps zmm25, zmm0, zmm8, 0xDD
        vaddps  zmm0, zmm24, zmm25
        // zmm0 lane 4i + m now holds the full sum of acc[i + 4m] (a transposed order); vpermps
        // puts acc j = t * 4 + r in lane j, and each 128-bit quarter is one row t of C.
        vmovups zmm1, [rip + .Lg_perm]
        vpermps zmm0, zmm1, zmm0
        vmovups [r9], xmm0                      // t = 0: c[0..4]
        vextractf32x4 [r9 + r8], zmm0, 1        // t = 1
        vextractf32x4 [r9 + r8*2], zmm0, 2      // t = 2
        lea     r9, [r9 + r8*2]
        vextractf32x4 [r9 + r8], zmm0, 3        // t = 3
        vzeroupper
        ret
        .size   lanner_gemm_f32_4x4_avx512, .-lanner_gemm_f32_4x4_avx512

        .section .rodata
        .p2align 6
.Lg_perm:                                       // idx[j] = 4 * (j % 4) + j / 4
        .long   0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15

        .section .note.GNU-stack,"",@progbits
