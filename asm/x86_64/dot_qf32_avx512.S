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
        movzx   eax, word ptr [rdi]             // d (f16) -> broadcast f32
        vmovd   xmm3, eax
        vcvtph2ps xmm3, xmm3
        vbroadcastss zmm3, xmm3
        vfmadd231ps zmm0, zmm1, zmm3            // acc += d * (q . x), lane-wise
        add     rdi, 34
        add     rsi, 128
        dec     rdx
        jnz     .Lq8_loop
.Lq8_reduce:
        vextractf64x4 ymm1, zmm0, 1
        vaddps  ymm0, ymm0, ymm1
        vextractf128 xmm1, ymm0, 1
        vaddps  xmm0, xmm0, xmm1
        vmovhlps xmm1, xmm1, xmm0
        vaddps  xmm0, xmm0, xmm1
        vmovshdup xmm1, xmm0
        vaddss  xmm0, xmm0, xmm1
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
        vextractf64x4 ymm1, zmm0, 1
        vaddps  ymm0, ymm0, ymm1
        vextractf128 xmm1, ymm0, 1
        vaddps  xmm0, xmm0, xmm1
        vmovhlps xmm1, xmm1, xmm0
        vaddps  xmm0, xmm0, xmm1
        vmovshdup xmm1, xmm0
        vaddss  xmm0, xmm0, xmm1
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
        movzx   eax, word ptr [rdi]
        vmovd   xmm3, eax
        vcvtph2ps xmm3, xmm3
        vbroadcastss zmm3, xmm3
        vfmadd231ps zmm0, zmm1, zmm3            // acc += d * (q . x)
        add     rdi, 18
        add     rsi, 128
        dec     rdx
        jnz     .Lq40_loop
.Lq40_reduce:
        vextractf64x4 ymm1, zmm0, 1
        vaddps  ymm0, ymm0, ymm1
        vextractf128 xmm1, ymm0, 1
        vaddps  xmm0, xmm0, xmm1
        vmovhlps xmm1, xmm1, xmm0
        vaddps  xmm0, xmm0, xmm1
        vmovshdup xmm1, xmm0
        vaddss  xmm0, xmm0, xmm1
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
        movzx   eax, word ptr [rdi]
        vmovd   xmm3, eax
        vcvtph2ps xmm3, xmm3
        vbroadcastss zmm3, xmm3
        vfmadd231ps zmm0, zmm1, zmm3
        add     rdi, 22
        add     rsi, 128
        dec     rdx
        jnz     .Lq50_loop
.Lq50_reduce:
        vextractf64x4 ymm1, zmm0, 1
        vaddps  ymm0, ymm0, ymm1
        vextractf128 xmm1, ymm0, 1
        vaddps  xmm0, xmm0, xmm1
        vmovhlps xmm1, xmm1, xmm0
        vaddps  xmm0, xmm0, xmm1
        vmovshdup xmm1, xmm0
        vaddss  xmm0, xmm0, xmm1
        vzeroupper
        ret
        .size   lanner_dot_q5_0_f32_avx512, .-lanner_dot_q5_0_f32_avx512

        .section .note.GNU-stack,"",@progbits
