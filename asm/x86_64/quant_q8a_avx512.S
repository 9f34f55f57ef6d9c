// Q8A activation quantizer, AVX-512 (F + BW) tier: f32 activations -> two int8 planes per
// 32-value block with an f32 scale and the scaled sum (format: src/quant/q8a.rs).
//
// Rust prototype (System V x86-64 ABI):
//   extern "C" fn lanner_quantize_q8a_avx512(x: *const f32, qs: *mut i8, ds: *mut f32, nblocks: usize);
// Scalar reference: crate::quant::q8a::quantize (bit-exact: the same IEEE divisions, fma and
// round-to-nearest-even as the reference, every step exact or correctly rounded once).
// Per block b (x + 32 b), n = 32 nblocks:
//   amax = max |x[j]|;  d = amax / 127;  e = d / 256
//   e == 0:  q1 = q2 = 0, ds[2b] = ds[2b+1] = 0
//   else:    q1 = clamp(round_even(x / d), -127, 127)            -> qs[32 b + j]
//            q2 = clamp(round_even(fma(-d, q1, x) / e), -127, 127) -> qs[n + 32 b + j]
//            ds[2b] = e;  ds[2b+1] = e * sum(256 q1 + q2)
// Registers: rdi = x (advances 128 bytes per block), rsi = qs (32), rdx = ds (8), rcx = blocks
// left, r8 = n (offset of the second plane); zmm16 = |.| mask, zmm17 = 127, zmm18 = -127 (i32),
// xmm19 = 127.0f, xmm20 = 1/256.
// No alignment required. Inputs must be finite.

        .intel_syntax noprefix
        .text

// q (i32, zmm\n) = clamp(round_even(zmm\n), -127, 127)
.macro  ROUND_CLAMP n
        vcvtps2dq zmm\n, zmm\n, {rn-sae}
        vpmaxsd zmm\n, zmm\n, zmm18
        vpminsd zmm\n, zmm\n, zmm17
.endm

        .globl  lanner_quantize_q8a_avx512
        .type   lanner_quantize_q8a_avx512, @function
        .p2align 5
lanner_quantize_q8a_avx512:
        mov     eax, 0x7FFFFFFF
        vpbroadcastd zmm16, eax
        mov     eax, 127
        vpbroadcastd zmm17, eax
        mov     eax, -127
        vpbroadcastd zmm18, eax
        mov     eax, 0x42FE0000                 // 127.0f
        vmovd   xmm19, eax
        mov     eax, 0x3B800000                 // 1 / 256
        vmovd   xmm20, eax
        mov     r8, rcx
        shl     r8, 5
        test    rcx, rcx
        jz      .Lq8a_done
.Lq8a_loop:
        vmovups zmm1, [rdi]                     // x[0..16]
        vmovups zmm2, [rdi + 64]                // x[16..32]
        vpandd  zmm3, zmm1, zmm16               // |x|
        vpandd  zmm4, zmm2, zmm16
        vmaxps  zmm3, zmm3, zmm4                // max over the block, 16 -> 1 lanes
        vextractf64x4 ymm4, zmm3, 1
        vmaxps  ymm3, ymm3, ymm4
        vextractf128 xmm4, ymm3, 1
        vmaxps  xmm3, xmm3, xmm4
        vmovhlps xmm4, xmm4, xmm3
        vmaxps  xmm3, xmm3, xmm4
        vmovshdup xmm4, xmm3
        vmaxss  xmm3, xmm3, xmm4                // amax
        vdivss  xmm3, xmm3, xmm19               // d = amax / 127
        vmulss  xmm10, xmm3, xmm20              // e = d / 256
        vxorps  xmm5, xmm5, xmm5
        vucomiss xmm10, xmm5
        je      .Lq8a_zero                      // e == 0: a zero block
        vbroadcastss zmm5, xmm3                 // d
        vbroadcastss zmm11, xmm10               // e
        vdivps  zmm8, zmm1, zmm5                // x / d (correctly rounded, as the reference)
        vdivps  zmm9, zmm2, zmm5
        ROUND_CLAMP 8                           // q1
        ROUND_CLAMP 9
        vcvtdq2ps zmm12, zmm8
        vcvtdq2ps zmm13, zmm9
        vfnmadd231ps zmm1, zmm5, zmm12          // r = x - d q1 (fused: one rounding)
        vfnmadd231ps zmm2, zmm5, zmm13
        vdivps  zmm1, zmm1, zmm11               // r / e
        vdivps  zmm2, zmm2, zmm11
        ROUND_CLAMP 1                           // q2
        ROUND_CLAMP 2
        vpmovdb xmmword ptr [rsi], zmm8         // plane 1
        vpmovdb xmmword ptr [rsi + 16], zmm9
        vpmovdb xmmword ptr [rsi + r8], zmm1    // plane 2
        vpmovdb xmmword ptr [rsi + r8 + 16], zmm2
        vpaddd  zmm8, zmm8, zmm9                // sum(256 q1 + q2): 16 -> 1 lanes (exact in i32)
        vpslld  zmm8, zmm8, 8
        vpaddd  zmm1, zmm1, zmm2
        vpaddd  zmm1, zmm1, zmm8
        vextracti64x4 ymm2, zmm1, 1
        vpaddd  ymm1, ymm1, ymm2
        vextracti128 xmm2, ymm1, 1
        vpaddd  xmm1, xmm1, xmm2
        vpshufd xmm2, xmm1, 0x4E
        vpaddd  xmm1, xmm1, xmm2
        vpshufd xmm2, xmm1, 0xB1
        vpaddd  xmm1, xmm1, xmm2
        vcvtdq2ps xmm1, xmm1                    // exact: |sum| <= 32 * 32639 < 2^24
        vmulss  xmm1, xmm10, xmm1               // s = e * sum
        vmovss  dword ptr [rdx], xmm10
        vmovss  dword ptr [rdx + 4], xmm1
.Lq8a_next:
        add     rdi, 128
        add     rsi, 32
        add     rdx, 8
        dec     rcx
        jnz     .Lq8a_loop
.Lq8a_done:
        vzeroupper
        ret
.Lq8a_zero:
        vpxor   xmm5, xmm5, xmm5
        vmovdqu xmmword ptr [rsi], xmm5
        vmovdqu xmmword ptr [rsi + 16], xmm5
        vmovdqu xmmword ptr [rsi + r8], xmm5
        vmovdqu xmmword ptr [rsi + r8 + 16], xmm5
        mov     qword ptr [rdx], 0              // e = 0, s = 0
        jmp     .Lq8a_next
        .size   lanner_quantize_q8a_avx512, .-lanner_quantize_q8a_avx512

        .section .note.GNU-stack,"",@progbits
