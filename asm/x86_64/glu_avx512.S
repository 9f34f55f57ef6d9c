// Gated activations of the feed-forward block, AVX-512F: SwiGLU and GeGLU (GELU in its tanh
// approximation) in one kernel, both written as x * up * sigmoid(y):
//   silu(x)          = x * sigmoid(x)
//   gelu_tanh(x)     = 0.5 x (1 + tanh(u)) = x * sigmoid(2u),  u = sqrt(2/pi) (x + 0.044715 x^3)
//
// Rust prototype (System V x86-64 ABI; a1 and a3 travel in xmm0 and xmm1):
//   extern "C" fn lanner_glu_avx512(gate: *mut f32, up: *const f32, n: usize, a1: f32, a3: f32);
//   gate[i] = x * up[i] / (1 + exp(a1 x + a3 x^3)),  x = gate[i], for i < n
// (-y = a1 x + a3 x^3: a1 = -1, a3 = 0 for SwiGLU; a1 = -2 sqrt(2/pi), a3 = 0.044715 a1 for
// GeGLU). Scalar references: crate::backend::cpu::reference::{swiglu, geglu}. exp is EXP_ZMM
// (macros.inc); the last n % 16 values go through masked loads and stores.
// Registers: rdi = gate, rsi = up, rdx = n, rax = i, rcx = n rounded down to 16 (then: values
//            left), zmm0..3 = work, zmm16 = 1, zmm17..28 = exp's constants, zmm29 = a1,
//            zmm30 = a3.

#include "macros.inc"
        .intel_syntax noprefix
        .text

// zmm0 = x * up / (1 + exp(a1 x + a3 x^3)) for x = zmm0, up at `up` (masked as `mask`).
.macro  GLU16 up
        vmulps  zmm1, zmm0, zmm0                // x^2
        vfmadd132ps zmm1, zmm29, zmm30          // a1 + a3 x^2
        vmulps  zmm1, zmm1, zmm0                // -y
        vmulps  zmm0, zmm0, \up                 // x * up
        EXP_ZMM 1, 2, 3
        vaddps  zmm1, zmm1, zmm16               // 1 + exp(-y)
        vdivps  zmm0, zmm0, zmm1
.endm

        .globl  lanner_glu_avx512
        .type   lanner_glu_avx512, @function
        .p2align 5
lanner_glu_avx512:
        vbroadcastss zmm29, xmm0
        vbroadcastss zmm30, xmm1
        EXP_CONSTS_ZMM
        vmovaps zmm16, zmm28                    // 1
        xor     eax, eax
        mov     rcx, rdx
        and     rcx, -16
        jz      .Lg5_tail
.Lg5_loop:                                      // 16 values at a time
        vmovups zmm0, [rdi + rax*4]
        GLU16   "[rsi + rax*4]"
        vmovups [rdi + rax*4], zmm0
        add     rax, 16
        cmp     rax, rcx
        jb      .Lg5_loop
.Lg5_tail:                                      // the last n % 16, masked
        mov     rcx, rdx
        sub     rcx, rax
        jz      .Lg5_done
        mov     r8d, 1
        shl     r8d, cl
        dec     r8d
        kmovw   k1, r8d
        vmovups zmm0{k1}{z}, [rdi + rax*4]
        vmovups zmm4{k1}{z}, [rsi + rax*4]
        GLU16   zmm4
        vmovups [rdi + rax*4]{k1}, zmm0
.Lg5_done:
        vzeroupper
        ret
        .size   lanner_glu_avx512, .-lanner_glu_avx512

        .section .rodata
        EXP_TABLE

        .section .note.GNU-stack,"",@progbits
