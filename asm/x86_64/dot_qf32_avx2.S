// Fused dot products of one F16 or BF16 weight row with f32 activations, AVX2 + FMA + F16C tier
// (decode: one token; the weights are converted in registers, never expanded to memory).
//
// Rust prototypes (System V x86-64 ABI):
//   extern "C" fn lanner_dot_f16_f32_avx2(w: *const u8, x: *const f32, n: usize) -> f32;
//   extern "C" fn lanner_dot_bf16_f32_avx2(w: *const u8, x: *const f32, n: usize) -> f32;
// n = values (2 bytes each). Scalar reference: crate::quant::dot_f32(GgmlType::F16 / BF16, w, x):
// sum of f32(w[i]) x[i], both conversions exact (vcvtph2ps; bf16 << 16).
// 32 values per iteration over four accumulators, then 8 at a time, the last 0..7 one by one.
// No alignment required. Registers: rdi = w, rsi = x, rdx = values left, ymm0..3 = accumulators,
// ymm4..7 = weights.

#include "macros.inc"
        .intel_syntax noprefix
        .text

// ymm\d = 8 weights from [rdi + \o] as f32 (\conv: f16 or bf16).
.macro  HCONV8 conv, d, o
.ifc \conv, f16
        vcvtph2ps ymm\d, xmmword ptr [rdi + \o]
.else
        vpmovzxwd ymm\d, xmmword ptr [rdi + \o]
        vpslld  ymm\d, ymm\d, 16                // bf16 = the upper half of an f32
.endif
.endm

.macro  HALF_ROW conv
        .globl  lanner_dot_\conv\()_f32_avx2
        .type   lanner_dot_\conv\()_f32_avx2, @function
        .p2align 5
lanner_dot_\conv\()_f32_avx2:
        vxorps  xmm0, xmm0, xmm0
        vxorps  xmm1, xmm1, xmm1
        vxorps  xmm2, xmm2, xmm2
        vxorps  xmm3, xmm3, xmm3
        cmp     rdx, 32
        jb      .L\conv\()_by8
.L\conv\()_32:                                  // main loop: 32 values
        HCONV8  \conv, 4, 0
        HCONV8  \conv, 5, 16
        HCONV8  \conv, 6, 32
        HCONV8  \conv, 7, 48
        vfmadd231ps ymm0, ymm4, ymmword ptr [rsi]
        vfmadd231ps ymm1, ymm5, ymmword ptr [rsi + 32]
        vfmadd231ps ymm2, ymm6, ymmword ptr [rsi + 64]
        vfmadd231ps ymm3, ymm7, ymmword ptr [rsi + 96]
        add     rdi, 64
        add     rsi, 128
        sub     rdx, 32
        cmp     rdx, 32
        jae     .L\conv\()_32
.L\conv\()_by8:                                 // 8 at a time
        cmp     rdx, 8
        jb      .L\conv\()_reduce
        HCONV8  \conv, 4, 0
        vfmadd231ps ymm0, ymm4, ymmword ptr [rsi]
        add     rdi, 16
        add     rsi, 32
        sub     rdx, 8
        jmp     .L\conv\()_by8
.L\conv\()_reduce:
        vaddps  ymm0, ymm0, ymm1
        vaddps  ymm2, ymm2, ymm3
        vaddps  ymm0, ymm0, ymm2
        HSUM_YMM0
.L\conv\()_tail:                                // last 0..7 values, one at a time
        test    rdx, rdx
        jz      .L\conv\()_done
        movzx   eax, word ptr [rdi]
.ifc \conv, f16
        vmovd   xmm1, eax
        vcvtph2ps xmm1, xmm1
.else
        shl     eax, 16
        vmovd   xmm1, eax
.endif
        vfmadd231ss xmm0, xmm1, dword ptr [rsi]
        add     rdi, 2
        add     rsi, 4
        dec     rdx
        jmp     .L\conv\()_tail
.L\conv\()_done:
        vzeroupper
        ret
        .size   lanner_dot_\conv\()_f32_avx2, .-lanner_dot_\conv\()_f32_avx2
.endm

        HALF_ROW f16
        HALF_ROW bf16

        .section .note.GNU-stack,"",@progbits
