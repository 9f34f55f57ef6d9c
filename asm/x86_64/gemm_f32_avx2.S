// GEMM microkernel, dot-product form, AVX2 + FMA: a 4 x 4 tile of C from 4 weight rows and 4
// activation rows that both run along k, computed as two 4 x 2 halves (16 ymm registers cannot
// hold 16 accumulators and the operands).
//
// Rust prototype (System V x86-64 ABI):
//   extern "C" fn lanner_gemm_f32_4x4_avx2(w: *const f32, ldw: usize, x: *const f32, ldx: usize,
//                                          k: usize, c: *mut f32, ldc: usize);
// Scalar reference: crate::backend::cpu::reference::gemm_f32_4x4:
//   c[t * ldc + r] = sum_{i < k} w[r * ldw + i] * x[t * ldx + i]     for r, t in 0..4
// Requires k % 8 == 0 (checked by the caller). No alignment required.
// Registers: rdi = w row 0 (advancing), rsi = ldw * 4 (bytes), rdx = x row t0 (advancing),
//            rcx = ldx * 4, r8 = k / 8, r9 = c row t0, r10 = ldc * 4, r11 = 3 * ldw * 4,
//            rax = iterations left; ymm0..3 = acc[t0][r], ymm4..7 = acc[t0 + 1][r],
//            ymm8, ymm9 = x rows t0, t0 + 1, ymm10..13 = w rows.
// Each accumulator is reduced on its own, ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)): a
// tile entry never depends on the others.

        .intel_syntax noprefix
        .text

// HALF: C rows t0, t0 + 1 (x at rdx, c at r9); leaves rdi and rdx where they started.
.macro HALF
        vxorps  ymm0, ymm0, ymm0
        vxorps  ymm1, ymm1, ymm1
        vxorps  ymm2, ymm2, ymm2
        vxorps  ymm3, ymm3, ymm3
        vxorps  ymm4, ymm4, ymm4
        vxorps  ymm5, ymm5, ymm5
        vxorps  ymm6, ymm6, ymm6
        vxorps  ymm7, ymm7, ymm7
        mov     rax, r8
        test    rax, rax
        jz      2f
1:
        vmovups ymm8, [rdx]                     // x rows t0, t0 + 1
        vmovups ymm9, [rdx + rcx]
        vmovups ymm10, [rdi]                    // w rows 0..3
        vfmadd231ps ymm0, ymm10, ymm8
        vfmadd231ps ymm4, ymm10, ymm9
        vmovups ymm11, [rdi + rsi]
        vfmadd231ps ymm1, ymm11, ymm8
        vfmadd231ps ymm5, ymm11, ymm9
        vmovups ymm12, [rdi + rsi*2]
        vfmadd231ps ymm2, ymm12, ymm8
        vfmadd231ps ymm6, ymm12, ymm9
        vmovups ymm13, [rdi + r11]
        vfmadd231ps ymm3, ymm13, ymm8
        vfmadd231ps ymm7, ymm13, ymm9
        add     rdi, 32
        add     rdx, 32
        dec     rax
        jnz     1b
        mov     rax, r8                         // rewind w and x by k floats
        shl     rax, 5
        sub     rdi, rax
        sub     rdx, rax
2:
        // [s0 s1 s2 s3] of acc0..3: hadd pairs lanes, then the two 128-bit halves are added
        vhaddps ymm0, ymm0, ymm1
        vhaddps ymm2, ymm2, ymm3
        vhaddps ymm0, ymm0, ymm2
        vextractf128 xmm1, ymm0, 1
        vaddps  xmm0, xmm0, xmm1
        vmovups [r9], xmm0
        vhaddps ymm4, ymm4, ymm5
        vhaddps ymm6, ymm6, ymm7
        vhaddps ymm4, ymm4, ymm6
        vextractf128 xmm5, ymm4, 1
        vaddps  xmm4, xmm4, xmm5
        vmovups [r9 + r10], xmm4
.endm

        .globl  lanner_gemm_f32_4x4_avx2
        .type   lanner_gemm_f32_4x4_avx2, @function
        .p2align 5
lanner_gemm_f32_4x4_avx2:
        shl     rsi, 2                          // strides in bytes
        shl     rcx, 2
        mov     r10, [rsp + 8]                  // ldc (7th argument)
        shl     r10, 2
        lea     r11, [rsi + rsi*2]
        shr     r8, 3                           // iterations: k / 8
        HALF                                    // C rows 0, 1
        lea     rdx, [rdx + rcx*2]              // x rows 2, 3
        lea     r9, [r9 + r10*2]                // C rows 2, 3
        HALF
        vzeroupper
        ret
        .size   lanner_gemm_f32_4x4_avx2, .-lanner_gemm_f32_4x4_avx2

        .section .note.GNU-stack,"",@progbits
