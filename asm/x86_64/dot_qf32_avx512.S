// Fused dot products of one quantized weight row with f32 activations, AVX-512F tier (decode:
// one token, so each weight byte is read once and never expanded to memory).
//
// Rust prototypes (System V x86-64 ABI):
//   extern "C" fn lanner_dot_q8_0_f32_avx512(w: *const u8, x: *const f32, nblocks: usize) -> f32;
//   extern "C" fn lanner_dot_q4_1_f32_avx512(w: *const u8, x: *const f32, nblocks: usize) -> f32;
// Scalar reference: crate::quant::dot_f32(GgmlType::Q8_0 / Q4_1, w, x).
// Blocks of 32 weights; no alignment required (Q8_0 blocks are 34 bytes, Q4_1 20 bytes).
// Registers: rdi = w (advances one block per iteration), rsi = x (advances 32 floats),
//            rdx = blocks left, zmm0 = sum of d * (q . x), zmm5 = sum of m * sum(x) (Q4_1).

#include "macros.inc"
        .intel_syntax noprefix
        .text

// Q8_0 block: d f16 | qs[32] i8;   block dot = d * sum(q[j] * x[j])
        .globl  lanner_dot_q8_0_f32_avx512
        .type   lanner_dot_q8_0_f32_avx512, @function
        .p2align 5
lanner_dot_q8_0_f32_avx512:
        vxorps  zmm0, zmm0, zmm0
        test    rdx, rdx
        jz      .Lq8_reduce
.Lq8_loop:
        vpmovsxbd zmm1, [rdi + 2]               // q[0..16]  -> i32
        vpmovsxbd zmm2, [rdi + 18]              // q[16..32] -> i32
        vcvtdq2ps zmm1, zmm1
        vcvtdq2ps zmm2, zmm2
        vmulps  zmm1, zmm1, [rsi]               // q[0..16] * x[0..16]
        vfmadd231ps zmm1, zmm2, [rsi + 64]      // + q[16..32] * x[16..32]
        BCAST_F16 3, 0                       // zmm3 = f16 scale at [rdi + 0]
        vfmadd231ps zmm0, zmm1, zmm3            // acc += d * (q . x), lane-wise
        add     rdi, 34
        add     rsi, 128
        dec     rdx
        jnz     .Lq8_loop
.Lq8_reduce:
        HSUM_ZMM0
        vzeroupper
        ret
        .size   lanner_dot_q8_0_f32_avx512, .-lanner_dot_q8_0_f32_avx512


// Q4_1 block: d f16 | m f16 | qs[16];  x[j] = lo(qs[j]) d + m, x[j+16] = hi(qs[j]) d + m
// block dot = d * (q . x) + m * sum(x)
        .globl  lanner_dot_q4_1_f32_avx512
        .type   lanner_dot_q4_1_f32_avx512, @function
        .p2align 5
lanner_dot_q4_1_f32_avx512:
        vxorps  zmm0, zmm0, zmm0
        vxorps  zmm5, zmm5, zmm5
        mov     eax, 15
        vpbroadcastd zmm6, eax                  // nibble mask
        test    rdx, rdx
        jz      .Lq41_reduce
.Lq41_loop:
        vpmovzxbd zmm1, [rdi + 4]               // 16 bytes -> u32
        vpsrld  zmm2, zmm1, 4                   // hi nibbles: elements 16..32
        vpandd  zmm1, zmm1, zmm6                // lo nibbles: elements 0..16
        vcvtdq2ps zmm1, zmm1
        vcvtdq2ps zmm2, zmm2
        vmovups zmm4, [rsi]
        vmulps  zmm1, zmm1, zmm4                // q_lo * x[0..16]
        vaddps  zmm4, zmm4, [rsi + 64]          // x[0..16] + x[16..32] (for the m term)
        vfmadd231ps zmm1, zmm2, [rsi + 64]      // + q_hi * x[16..32]
        mov     eax, dword ptr [rdi]            // d (low f16), m (high f16)
        vmovd   xmm3, eax
        vcvtph2ps xmm3, xmm3                    // xmm3[0] = d, xmm3[1] = m
        vbroadcastss zmm7, xmm3                 // d
        vpermilps xmm3, xmm3, 0x55
        vbroadcastss zmm3, xmm3                 // m
        vfmadd231ps zmm0, zmm1, zmm7            // acc  += d * (q . x)
        vfmadd231ps zmm5, zmm4, zmm3            // accm += m * sum(x)
        add     rdi, 20
        add     rsi, 128
        dec     rdx
        jnz     .Lq41_loop
.Lq41_reduce:
        vaddps  zmm0, zmm0, zmm5
        HSUM_ZMM0
        vzeroupper
        ret
        .size   lanner_dot_q4_1_f32_avx512, .-lanner_dot_q4_1_f32_avx512

// Q4_0 block: d f16 | qs[16];  x[j] = (lo(qs[j]) - 8) d, x[j+16] = (hi(qs[j]) - 8) d
        .globl  lanner_dot_q4_0_f32_avx512
        .type   lanner_dot_q4_0_f32_avx512, @function
        .p2align 5
lanner_dot_q4_0_f32_avx512:
        vxorps  zmm0, zmm0, zmm0
        mov     eax, 15
        vpbroadcastd zmm6, eax                  // nibble mask
        mov     eax, 8
        vpbroadcastd zmm7, eax                  // offset 8
        test    rdx, rdx
        jz      .Lq40_reduce
.Lq40_loop:
        vpmovzxbd zmm1, [rdi + 2]
        vpsrld  zmm2, zmm1, 4                   // hi nibbles (elements 16..32)
        vpandd  zmm1, zmm1, zmm6                // lo nibbles (elements 0..16)
        vpsubd  zmm1, zmm1, zmm7                // q - 8
        vpsubd  zmm2, zmm2, zmm7
        vcvtdq2ps zmm1, zmm1
        vcvtdq2ps zmm2, zmm2
        vmulps  zmm1, zmm1, [rsi]
        vfmadd231ps zmm1, zmm2, [rsi + 64]
        BCAST_F16 3, 0                       // zmm3 = f16 scale at [rdi + 0]
        vfmadd231ps zmm0, zmm1, zmm3            // acc += d * (q . x)
        add     rdi, 18
        add     rsi, 128
        dec     rdx
        jnz     .Lq40_loop
.Lq40_reduce:
        HSUM_ZMM0
        vzeroupper
        ret
        .size   lanner_dot_q4_0_f32_avx512, .-lanner_dot_q4_0_f32_avx512


// Q5_0 block: d f16 | qh u32 | qs[16];  fifth bit of element j is bit j of qh;
// x = (q - 16) d. The qh halves go straight into mask registers: +16 where the bit is set.
        .globl  lanner_dot_q5_0_f32_avx512
        .type   lanner_dot_q5_0_f32_avx512, @function
        .p2align 5
lanner_dot_q5_0_f32_avx512:
        vxorps  zmm0, zmm0, zmm0
        mov     eax, 15
        vpbroadcastd zmm6, eax                  // nibble mask
        mov     eax, 16
        vpbroadcastd zmm7, eax                  // 16
        test    rdx, rdx
        jz      .Lq50_reduce
.Lq50_loop:
        vpmovzxbd zmm1, [rdi + 6]
        vpsrld  zmm2, zmm1, 4                   // hi nibbles (elements 16..32)
        vpandd  zmm1, zmm1, zmm6                // lo nibbles (elements 0..16)
        kmovw   k1, word ptr [rdi + 2]          // qh bits 0..15  -> elements 0..16
        kmovw   k2, word ptr [rdi + 4]          // qh bits 16..31 -> elements 16..32
        vpsubd  zmm1, zmm1, zmm7                // q - 16 ...
        vpsubd  zmm2, zmm2, zmm7
        vpaddd  zmm1{k1}, zmm1, zmm7            // ... + 16 where the fifth bit is set
        vpaddd  zmm2{k2}, zmm2, zmm7
        vcvtdq2ps zmm1, zmm1
        vcvtdq2ps zmm2, zmm2
        vmulps  zmm1, zmm1, [rsi]
        vfmadd231ps zmm1, zmm2, [rsi + 64]
        BCAST_F16 3, 0                       // zmm3 = f16 scale at [rdi + 0]
        vfmadd231ps zmm0, zmm1, zmm3
        add     rdi, 22
        add     rsi, 128
        dec     rdx
        jnz     .Lq50_loop
.Lq50_reduce:
        HSUM_ZMM0
        vzeroupper
        ret
        .size   lanner_dot_q5_0_f32_avx512, .-lanner_dot_q5_0_f32_avx512

// Q6_K super-block (256 values, 210 bytes): ql[128] | qh[64] | scales[16] i8 | d f16.
// In half h (128 values: ql + 64h, qh + 128 + 32h, scales + 192 + 8h) element l (0..32):
//   y[l]    = d sc[l/16]     ((ql[l]    & 15) | ((qh[l]      & 3) << 4)) - 32)
//   y[l+32] = d sc[l/16 + 2] ((ql[l+32] & 15) | ((qh[l] >> 2 & 3) << 4)) - 32)
//   y[l+64] = d sc[l/16 + 4] ((ql[l]    >> 4) | ((qh[l] >> 4 & 3) << 4)) - 32)
//   y[l+96] = d sc[l/16 + 6] ((ql[l+32] >> 4) | ((qh[l] >> 6 & 3) << 4)) - 32)
// One Q6GROUP handles 16 values of l for all four lines: zmm8 += sc * (q . x).
// Constants: zmm20 = 15, zmm21 = 3, zmm22 = 32.
.macro  Q6LINE  q, xoff, scoff
        vpsubd  \q, \q, zmm22                   // q - 32
        vcvtdq2ps \q, \q
        vmulps  \q, \q, [rsi + \xoff]           // (q - 32) * x
        movsx   eax, byte ptr [rdi + \scoff]    // sub-block scale (i8)
        vcvtsi2ss xmm9, xmm9, eax
        vbroadcastss zmm9, xmm9
        vfmadd231ps zmm8, \q, zmm9              // block acc += sc * (q . x)
.endm
.macro  Q6GROUP qloff, qhoff, scoff, xoff
        vpmovzxbd zmm1, [rdi + \qloff]          // A = ql[l]
        vpmovzxbd zmm2, [rdi + \qloff + 32]     // B = ql[l + 32]
        vpmovzxbd zmm3, [rdi + \qhoff]          // H = qh[l]
        vpandd  zmm4, zmm1, zmm20               // line 1: A & 15 | (H & 3) << 4
        vpandd  zmm5, zmm3, zmm21
        vpslld  zmm5, zmm5, 4
        vpord   zmm4, zmm4, zmm5
        Q6LINE  zmm4, \xoff, \scoff
        vpandd  zmm4, zmm2, zmm20               // line 2: B & 15 | (H >> 2 & 3) << 4
        vpsrld  zmm5, zmm3, 2
        vpandd  zmm5, zmm5, zmm21
        vpslld  zmm5, zmm5, 4
        vpord   zmm4, zmm4, zmm5
        Q6LINE  zmm4, \xoff + 128, \scoff + 2
        vpsrld  zmm4, zmm1, 4                   // line 3: A >> 4 | (H >> 4 & 3) << 4
        vpsrld  zmm5, zmm3, 4
        vpandd  zmm5, zmm5, zmm21
        vpslld  zmm5, zmm5, 4
        vpord   zmm4, zmm4, zmm5
        Q6LINE  zmm4, \xoff + 256, \scoff + 4
        vpsrld  zmm4, zmm2, 4                   // line 4: B >> 4 | (H >> 6) << 4
        vpsrld  zmm5, zmm3, 6
        vpslld  zmm5, zmm5, 4
        vpord   zmm4, zmm4, zmm5
        Q6LINE  zmm4, \xoff + 384, \scoff + 6
.endm

        .globl  lanner_dot_q6_k_f32_avx512
        .type   lanner_dot_q6_k_f32_avx512, @function
        .p2align 5
lanner_dot_q6_k_f32_avx512:
        vxorps  zmm0, zmm0, zmm0
        mov     eax, 15
        vpbroadcastd zmm20, eax
        mov     eax, 3
        vpbroadcastd zmm21, eax
        mov     eax, 32
        vpbroadcastd zmm22, eax
        test    rdx, rdx
        jz      .Lq6_reduce
.Lq6_loop:
        vxorps  zmm8, zmm8, zmm8                // this super-block's sum of sc * (q . x)
        Q6GROUP 0,  128, 192, 0                 // half 0, l = 0..16
        Q6GROUP 16, 144, 193, 64                // half 0, l = 16..32
        Q6GROUP 64, 160, 200, 512               // half 1, l = 0..16
        Q6GROUP 80, 176, 201, 576               // half 1, l = 16..32
        BCAST_F16 9, 208                       // zmm9 = f16 scale at [rdi + 208]
        vfmadd231ps zmm0, zmm8, zmm9            // acc += d * block sum
        add     rdi, 210
        add     rsi, 1024
        dec     rdx
        jnz     .Lq6_loop
.Lq6_reduce:
        HSUM_ZMM0
        vzeroupper
        ret
        .size   lanner_dot_q6_k_f32_avx512, .-lanner_dot_q6_k_f32_avx512

// ---- F16, BF16 rows (2 B per value, no blocks) ----------------------------------------------
//   extern "C" fn lanner_dot_f16_f32_avx512(w: *const u8, x: *const f32, n: usize) -> f32;
//   extern "C" fn lanner_dot_bf16_f32_avx512(w: *const u8, x: *const f32, n: usize) -> f32;
// n = values. Scalar reference: crate::quant::dot_f32(GgmlType::F16 / BF16, w, x): sum of
// f32(w[i]) x[i] (both conversions exact). 64 values per iteration over four accumulators, then
// 16 at a time, the last 0..15 under a mask (masked loads read nothing past the row).
// rdx = values left, zmm0..3 = accumulators, zmm10..13 = weights.

// zmm\d = 16 weights from [rdi + \o] as f32 (\conv: f16 or bf16), or from ymm\d (\o = reg).
.macro  HCONV conv, d, o
.ifc \conv, f16
.ifc \o, reg
        vcvtph2ps zmm\d, ymm\d
.else
        vcvtph2ps zmm\d, ymmword ptr [rdi + \o]
.endif
.else
.ifc \o, reg
        vpmovzxwd zmm\d, ymm\d
.else
        vpmovzxwd zmm\d, ymmword ptr [rdi + \o]
.endif
        vpslld  zmm\d, zmm\d, 16                // bf16 = the upper half of an f32
.endif
.endm

.macro  HALF_ROW conv
        .globl  lanner_dot_\conv\()_f32_avx512
        .type   lanner_dot_\conv\()_f32_avx512, @function
        .p2align 5
lanner_dot_\conv\()_f32_avx512:
        vxorps  xmm0, xmm0, xmm0
        vxorps  xmm1, xmm1, xmm1
        vxorps  xmm2, xmm2, xmm2
        vxorps  xmm3, xmm3, xmm3
        cmp     rdx, 64
        jb      .L\conv\()_rest
.L\conv\()_64:                                  // main loop: 64 values
        .irp i, 0, 1, 2, 3
        HCONV   \conv, 1\i, 32*\i                // zmm10..13
        .endr
        .irp i, 0, 1, 2, 3
        vfmadd231ps zmm\i, zmm1\i, zmmword ptr [rsi + 64*\i]
        .endr
        add     rdi, 128
        add     rsi, 256
        sub     rdx, 64
        cmp     rdx, 64
        jae     .L\conv\()_64
.L\conv\()_rest:                                // 16 at a time: k1 = (1 << min(16, rdx)) - 1
        test    rdx, rdx
        jz      .L\conv\()_reduce
        mov     ecx, 16
        cmp     rdx, rcx
        cmovb   rcx, rdx
        mov     eax, 1
        shl     eax, cl
        dec     eax
        kmovw   k1, eax
        vmovdqu16 ymm4{k1}{z}, ymmword ptr [rdi]
        HCONV   \conv, 4, reg
        vmovups zmm5{k1}{z}, zmmword ptr [rsi]
        vfmadd231ps zmm0, zmm4, zmm5
        lea     rdi, [rdi + 2*rcx]
        lea     rsi, [rsi + 4*rcx]
        sub     rdx, rcx
        jmp     .L\conv\()_rest
.L\conv\()_reduce:
        vaddps  zmm0, zmm0, zmm1
        vaddps  zmm2, zmm2, zmm3
        vaddps  zmm0, zmm0, zmm2
        HSUM_ZMM0
        vzeroupper
        ret
        .size   lanner_dot_\conv\()_f32_avx512, .-lanner_dot_\conv\()_f32_avx512
.endm

        HALF_ROW f16
        HALF_ROW bf16

        .section .note.GNU-stack,"",@progbits
