// f32 dot products, AVX2 + FMA and AVX-512F tiers.
//
// Rust prototype (System V x86-64 ABI):
//   extern "C" fn lanner_dot_f32_avx2(a: *const f32, b: *const f32, n: usize) -> f32;
//   extern "C" fn lanner_dot_f32_avx512(a: *const f32, b: *const f32, n: usize) -> f32;
// Scalar reference: crate::backend::cpu::reference::dot_f32 (sum of a[i] * b[i]).
// No alignment required. Registers: rdi = a, rsi = b, rdx = n, rax = i, rcx = n rounded down.

#include "macros.inc"
        .intel_syntax noprefix
        .text

        .globl  lanner_dot_f32_avx2
        .type   lanner_dot_f32_avx2, @function
        .p2align 5
lanner_dot_f32_avx2:
        vxorps  ymm0, ymm0, ymm0                // four independent accumulators
        vxorps  ymm1, ymm1, ymm1                // (hide the 4-cycle FMA latency)
        vxorps  ymm2, ymm2, ymm2
        vxorps  ymm3, ymm3, ymm3
        xor     eax, eax
        mov     rcx, rdx
        and     rcx, -32                        // rcx = n - n % 32
        jz      .Lavx2_by8
.Lavx2_loop32:                                  // main loop: 32 floats per iteration
        vmovups ymm4, [rdi + rax*4]
        vmovups ymm5, [rdi + rax*4 + 32]
        vmovups ymm6, [rdi + rax*4 + 64]
        vmovups ymm7, [rdi + rax*4 + 96]
        vfmadd231ps ymm0, ymm4, [rsi + rax*4]   // acc += a * b
        vfmadd231ps ymm1, ymm5, [rsi + rax*4 + 32]
        vfmadd231ps ymm2, ymm6, [rsi + rax*4 + 64]
        vfmadd231ps ymm3, ymm7, [rsi + rax*4 + 96]
        add     rax, 32
        cmp     rax, rcx
        jb      .Lavx2_loop32
.Lavx2_by8:                                     // remainder: 8 at a time
        mov     rcx, rdx
        and     rcx, -8
.Lavx2_loop8:
        cmp     rax, rcx
        jae     .Lavx2_reduce
        vmovups ymm4, [rdi + rax*4]
        vfmadd231ps ymm0, ymm4, [rsi + rax*4]
        add     rax, 8
        jmp     .Lavx2_loop8
.Lavx2_reduce:                                  // ymm0 = sum of the four accumulators
        vaddps  ymm0, ymm0, ymm1
        vaddps  ymm2, ymm2, ymm3
        vaddps  ymm0, ymm0, ymm2
        HSUM_YMM0
.Lavx2_tail:                                    // last n % 8 elements, one at a time
        cmp     rax, rdx
        jae     .Lavx2_done
        vmovss  xmm1, [rdi + rax*4]
        vfmadd231ss xmm0, xmm1, [rsi + rax*4]
        inc     rax
        jmp     .Lavx2_tail
.Lavx2_done:
        vzeroupper
        ret
        .size   lanner_dot_f32_avx2, .-lanner_dot_f32_avx2


        .globl  lanner_dot_f32_avx512
        .type   lanner_dot_f32_avx512, @function
        .p2align 5
lanner_dot_f32_avx512:
        vxorps  zmm0, zmm0, zmm0
        vxorps  zmm1, zmm1, zmm1
        vxorps  zmm2, zmm2, zmm2
        vxorps  zmm3, zmm3, zmm3
        xor     eax, eax
        mov     rcx, rdx
        and     rcx, -64                        // 64 floats per iteration
        jz      .L512_rest
.L512_loop64:
        vmovups zmm4, [rdi + rax*4]
        vmovups zmm5, [rdi + rax*4 + 64]
        vmovups zmm6, [rdi + rax*4 + 128]
        vmovups zmm7, [rdi + rax*4 + 192]
        vfmadd231ps zmm0, zmm4, [rsi + rax*4]
        vfmadd231ps zmm1, zmm5, [rsi + rax*4 + 64]
        vfmadd231ps zmm2, zmm6, [rsi + rax*4 + 128]
        vfmadd231ps zmm3, zmm7, [rsi + rax*4 + 192]
        add     rax, 64
        cmp     rax, rcx
        jb      .L512_loop64
.L512_rest:                                     // remainder with a lane mask: k1 = (1 << min(16, n - i)) - 1
        cmp     rax, rdx
        jae     .L512_reduce
        mov     rcx, rdx
        sub     rcx, rax
        cmp     rcx, 16
        jb      .L512_mask
        mov     ecx, 16
.L512_mask:
        mov     r8d, 1
        shl     r8d, cl                         // (rcx <= 16 here)
        dec     r8d
        kmovw   k1, r8d
        vmovups zmm4{k1}{z}, [rdi + rax*4]      // masked loads never touch memory past n
        vmovups zmm5{k1}{z}, [rsi + rax*4]
        vfmadd231ps zmm0, zmm4, zmm5
        add     rax, rcx
        jmp     .L512_rest
.L512_reduce:
        vaddps  zmm0, zmm0, zmm1
        vaddps  zmm2, zmm2, zmm3
        vaddps  zmm0, zmm0, zmm2
        HSUM_ZMM0
        vzeroupper
        ret
        .size   lanner_dot_f32_avx512, .-lanner_dot_f32_avx512

        .section .note.GNU-stack,"",@progbits
