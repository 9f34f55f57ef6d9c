// Gated activations of the feed-forward block, AVX2 + FMA: the kernel of glu_avx512.S (see
// there) on 8-float vectors.
//
// Rust prototype (System V x86-64 ABI; a1 and a3 travel in xmm0 and xmm1):
//   extern "C" fn lanner_glu_avx2(gate: *mut f32, up: *const f32, n: usize, a1: f32, a3: f32);
//   gate[i] = x * up[i] / (1 + exp(a1 x + a3 x^3)),  x = gate[i], for i < n
// exp is EXP_YMM (macros.inc); the last n % 8 values go through masked loads and stores.
// Registers: rdi = gate, rsi = up, rdx = n, rax = i, rcx = n rounded down to 8 (then: values
//            left), r8 = exp's other constants (.Lexp8), ymm0..5 = work, ymm6 = 89, ymm7 = -104,
//            ymm8 = a1, ymm9 = a3, ymm10 = 1, ymm11 = up, ymm12 = tail mask.

#include "macros.inc"
        .intel_syntax noprefix
        .text

// ymm0 = x * ymm11 / (1 + exp(a1 x + a3 x^3)) for x = ymm0.
.macro  GLU8
        vmulps  ymm1, ymm0, ymm0                // x^2
        vfmadd132ps ymm1, ymm8, ymm9            // a1 + a3 x^2
        vmulps  ymm1, ymm1, ymm0                // -y
        vmulps  ymm0, ymm0, ymm11               // x * up
        EXP_YMM 1, r8
        vaddps  ymm1, ymm1, ymm10               // 1 + exp(-y)
        vdivps  ymm0, ymm0, ymm1
.endm

        .globl  lanner_glu_avx2
        .type   lanner_glu_avx2, @function
        .p2align 5
lanner_glu_avx2:
        vbroadcastss ymm8, xmm0
        vbroadcastss ymm9, xmm1
        mov     eax, 0x42b20000                 // 89
        vmovd   xmm6, eax
        vbroadcastss ymm6, xmm6
        mov     eax, 0xc2d00000                 // -104
        vmovd   xmm7, eax
        vbroadcastss ymm7, xmm7
        lea     r8, [rip + .Lexp8]
        vmovaps ymm10, [r8 + 288]               // 1
        xor     eax, eax
        mov     rcx, rdx
        and     rcx, -8
        jz      .Lg2_tail
.Lg2_loop:                                      // 8 values at a time
        vmovups ymm0, [rdi + rax*4]
        vmovups ymm11, [rsi + rax*4]
        GLU8
        vmovups [rdi + rax*4], ymm0
        add     rax, 8
        cmp     rax, rcx
        jb      .Lg2_loop
.Lg2_tail:                                      // the last n % 8, masked
        mov     rcx, rdx
        sub     rcx, rax
        jz      .Lg2_done
        neg     rcx
        lea     r9, [rip + .Lglu_mask8]
        vmovups ymm12, [r9 + rcx*4 + 32]        // n % 8 lanes on
        vmaskmovps ymm0, ymm12, [rdi + rax*4]
        vmaskmovps ymm11, ymm12, [rsi + rax*4]
        GLU8
        vmaskmovps [rdi + rax*4], ymm12, ymm0
.Lg2_done:
        vzeroupper
        ret
        .size   lanner_glu_avx2, .-lanner_glu_avx2

        .section .rodata
        EXP8_TABLE
.Lglu_mask8:                                    // 8 lanes on, 8 off
        .long   -1, -1, -1, -1, -1, -1, -1, -1
        .long   0, 0, 0, 0, 0, 0, 0, 0

        .section .note.GNU-stack,"",@progbits
