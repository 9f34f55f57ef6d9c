// Q8A activation quantizer, AVX2 + FMA tier (format: src/quant/q8a.rs; the AVX-512 version,
// quant_q8a_avx512.S, documents the steps).
//
// Rust prototype (System V x86-64 ABI):
//   extern "C" fn lanner_quantize_q8a_avx2(x: *const f32, qs: *mut i8, ds: *mut f32, nblocks: usize);
// Scalar reference: crate::quant::q8a::quantize, bit-exact (IEEE divisions, fma, and rounding to
// nearest even by vroundps imm 8, whatever MXCSR says).
// Registers: rdi = x (128 bytes per block), rsi = qs (32), rdx = ds (8), rcx = blocks left,
// r8 = n (offset of the second plane); ymm0..3 = x, then r, then q2; ymm7..10 = q1; ymm4 = d,
// ymm6 = e (broadcast), xmm5 = e; ymm13 = dword order after the packs.
// No alignment required. Inputs must be finite.

        .intel_syntax noprefix

        .section .rodata
        .p2align 5
.Lq8a2_abs:
        .rept 8
        .long 0x7FFFFFFF
        .endr
.Lq8a2_p127:
        .rept 8
        .long 127
        .endr
.Lq8a2_m127:
        .rept 8
        .long -127
        .endr
.Lq8a2_order:                   // after packssdw + packsswb (in-lane): dwords 0 4 1 5 2 6 3 7
        .long 0, 4, 1, 5, 2, 6, 3, 7

        .text

// ymm\n = clamp(round_even(ymm\n), -127, 127) as i32
.macro  ROUND_CLAMP n
        vroundps ymm\n, ymm\n, 8
        vcvttps2dq ymm\n, ymm\n
        vpmaxsd ymm\n, ymm\n, ymmword ptr [rip + .Lq8a2_m127]
        vpminsd ymm\n, ymm\n, ymmword ptr [rip + .Lq8a2_p127]
.endm

// q1 of x (ymm\x) into ymm\q; ymm\x becomes q2 (via r = x - d q1).
.macro  TWO_PLANES x, q
        vdivps  ymm\q, ymm\x, ymm4              // x / d
        ROUND_CLAMP \q                          // q1
        vcvtdq2ps ymm11, ymm\q
        vfnmadd231ps ymm\x, ymm4, ymm11         // r = x - d q1 (one rounding)
        vdivps  ymm\x, ymm\x, ymm6              // r / e
        ROUND_CLAMP \x                          // q2
.endm

// 32 bytes at \dst = the i32 lanes of ymm\a, \b, \c, \d (8 each, in order), saturated to i8.
.macro  PACK32 a, b, c, d, dst
        vpackssdw ymm11, ymm\a, ymm\b
        vpackssdw ymm12, ymm\c, ymm\d
        vpacksswb ymm11, ymm11, ymm12
        vpermd  ymm11, ymm13, ymm11
        vmovdqu ymmword ptr \dst, ymm11
.endm

        .globl  lanner_quantize_q8a_avx2
        .type   lanner_quantize_q8a_avx2, @function
        .p2align 5
lanner_quantize_q8a_avx2:
        vmovdqu ymm13, ymmword ptr [rip + .Lq8a2_order]
        mov     r8, rcx
        shl     r8, 5
        test    rcx, rcx
        jz      .Lq8a2_done
.Lq8a2_loop:
        vmovups ymm0, [rdi]
        vmovups ymm1, [rdi + 32]
        vmovups ymm2, [rdi + 64]
        vmovups ymm3, [rdi + 96]
        vandps  ymm4, ymm0, ymmword ptr [rip + .Lq8a2_abs]
        vandps  ymm5, ymm1, ymmword ptr [rip + .Lq8a2_abs]
        vmaxps  ymm4, ymm4, ymm5
        vandps  ymm5, ymm2, ymmword ptr [rip + .Lq8a2_abs]
        vmaxps  ymm4, ymm4, ymm5
        vandps  ymm5, ymm3, ymmword ptr [rip + .Lq8a2_abs]
        vmaxps  ymm4, ymm4, ymm5                // 8 lanes
        vextractf128 xmm5, ymm4, 1
        vmaxps  xmm4, xmm4, xmm5
        vmovhlps xmm5, xmm5, xmm4
        vmaxps  xmm4, xmm4, xmm5
        vmovshdup xmm5, xmm4
        vmaxss  xmm4, xmm4, xmm5                // amax
        mov     eax, 0x42FE0000                 // 127.0f
        vmovd   xmm5, eax
        vdivss  xmm4, xmm4, xmm5                // d
        mov     eax, 0x3B800000                 // 1 / 256
        vmovd   xmm5, eax
        vmulss  xmm5, xmm4, xmm5                // e
        vxorps  xmm6, xmm6, xmm6
        vucomiss xmm5, xmm6
        je      .Lq8a2_zero
        vbroadcastss ymm4, xmm4
        vbroadcastss ymm6, xmm5
        TWO_PLANES 0, 7
        TWO_PLANES 1, 8
        TWO_PLANES 2, 9
        TWO_PLANES 3, 10
        PACK32  7, 8, 9, 10, [rsi]              // plane 1
        PACK32  0, 1, 2, 3, [rsi + r8]          // plane 2
        vpaddd  ymm7, ymm7, ymm8                // sum(256 q1 + q2), exact in i32
        vpaddd  ymm9, ymm9, ymm10
        vpaddd  ymm7, ymm7, ymm9
        vpslld  ymm7, ymm7, 8
        vpaddd  ymm0, ymm0, ymm1
        vpaddd  ymm2, ymm2, ymm3
        vpaddd  ymm0, ymm0, ymm2
        vpaddd  ymm0, ymm0, ymm7
        vextracti128 xmm1, ymm0, 1
        vpaddd  xmm0, xmm0, xmm1
        vpshufd xmm1, xmm0, 0x4E
        vpaddd  xmm0, xmm0, xmm1
        vpshufd xmm1, xmm0, 0xB1
        vpaddd  xmm0, xmm0, xmm1
        vcvtdq2ps xmm0, xmm0                    // exact: |sum| < 2^24
        vmulss  xmm0, xmm5, xmm0                // s = e * sum
        vmovss  dword ptr [rdx], xmm5
        vmovss  dword ptr [rdx + 4], xmm0
.Lq8a2_next:
        add     rdi, 128
        add     rsi, 32
        add     rdx, 8
        dec     rcx
        jnz     .Lq8a2_loop
.Lq8a2_done:
        vzeroupper
        ret
.Lq8a2_zero:
        vpxor   xmm6, xmm6, xmm6
        vmovdqu ymmword ptr [rsi], ymm6
        vmovdqu ymmword ptr [rsi + r8], ymm6
        mov     qword ptr [rdx], 0              // e = 0, s = 0
        jmp     .Lq8a2_next
        .size   lanner_quantize_q8a_avx2, .-lanner_quantize_q8a_avx2

        .section .note.GNU-stack,"",@progbits
