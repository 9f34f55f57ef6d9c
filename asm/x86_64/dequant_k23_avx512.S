// Dequantize Q2_K / Q3_K super-blocks to f32, AVX-512 tier (F + BW + VL). Same prototypes,
// contract and bit-exactness argument as dequant_avx512.S (read that file first):
//   extern "C" fn lanner_dequant_T_avx512(src: *const u8, dst: *mut f32, nblocks: usize);
// T in q2_k, q3_k; nblocks = 256-value super-blocks. Scalar reference:
// crate::quant::kquants::q2_k_to_f32 / q3_k_to_f32.
//
// Both have 16 sub-blocks of 16 values (one zmm of outputs each) with at most 4 (Q2_K) or 8
// (Q3_K) distinct values, so each sub-block's outputs come from a table computed with the
// reference's operations, picked by vpermps (which reads the low 4 bits of each index: the
// table repeats every 4 or 8 lanes, so the bits above the level need no masking):
//   Q2_K: T = [0, 1, 2, 3] x 4 * D_j - M_j,  D_j = d sc_j, M_j = dmin m_j (a product, then a difference)
//   Q3_K: T = [-4 .. 3] x 2 * D_j,           D_j = d sc_j
// Value 128 h + 32 s + l (l < 32) of sub-block 8 h + 2 s + l / 16: level bits 2 s, 2 s + 1 of
// qs[32 h + l] (Q3_K: and bit 4 h + s of hmask[l] as bit 2). The level bytes are widened to
// dwords once per super-block and shifted per output vector.
//
// Registers: rdi = src (advances one block per iteration), rsi = dst, rdx = blocks left;
// [rsp - 128] (red zone, leaf): D_0..15 (and M_0..15).

#include "macros.inc"
        .intel_syntax noprefix

        .section .rodata
        .p2align 6
.Liota4:                        // Q2_K levels, repeated every 4 lanes
        .rept 4
        .float 0, 1, 2, 3
        .endr
.Lv8:                           // Q3_K levels, repeated every 8 lanes
        .rept 2
        .float -4, -3, -2, -1, 0, 1, 2, 3
        .endr
.Lq3_u2:                        // Q3_K: vpsrlvd counts for the scales' high bits
        .long 0, 2, 4, 6

        .text

// zmm\n = the f16 at [rdi + \off] as f32, in every lane.
.macro  BCAST_D n, off
        vpbroadcastw ymm\n, word ptr [rdi + \off]
        vcvtph2ps zmm\n, ymm\n
.endm

.macro  FUNC name
        .globl  \name
        .type   \name, @function
        .p2align 5
\name:
.endm

.macro  LOOP_START l
        test    rdx, rdx
        jz      \l\()_done
\l\()_loop:
        PREFETCHW_DST 1024
.endm
.macro  LOOP_END l, bytes
        add     rdi, \bytes
        add     rsi, 1024
        dec     rdx
        jnz     \l\()_loop
\l\()_done:
        vzeroupper
        ret
.endm


// ---- Q2_K (84 B: scales[16] (lo 4 bits sc, hi 4 bits m) | qs[64] | d f16 | dmin f16) ----------
// zmm31 = [0, 1, 2, 3] x 4, zmm30 = dwords 15, zmm20..23 = qs[0..16], [16..32], [32..48],
// [48..64] as dwords.

// The 16 outputs of sub-block 8 h + 2 s + p from the level dwords \q.
.macro  Q2K_SUB h, s, p, q
        vmulps  zmm0, zmm31, dword bcst [rsp - 128 + 4*(8*\h + 2*\s + \p)]
        vsubps  zmm0, zmm0, dword bcst [rsp - 64 + 4*(8*\h + 2*\s + \p)]     // the table
        vpsrld  zmm1, \q, 2*\s
        vpermps zmm0, zmm1, zmm0
        vmovups zmmword ptr [rsi + 64*(8*\h + 2*\s + \p)], zmm0
.endm

FUNC lanner_dequant_q2_k_avx512
        vmovups zmm31, zmmword ptr [rip + .Liota4]
        mov     eax, 15
        vpbroadcastd zmm30, eax
        LOOP_START .Lq2k
        vpmovzxbd zmm1, xmmword ptr [rdi]       // scale bytes
        vpsrld  zmm2, zmm1, 4
        vpandd  zmm1, zmm1, zmm30
        vcvtdq2ps zmm1, zmm1                    // sc_j
        vcvtdq2ps zmm2, zmm2                    // m_j
        BCAST_D 3, 80
        BCAST_D 4, 82
        vmulps  zmm1, zmm3, zmm1                // D_j = d sc_j
        vmulps  zmm2, zmm4, zmm2                // M_j = dmin m_j
        vmovups zmmword ptr [rsp - 128], zmm1
        vmovups zmmword ptr [rsp - 64], zmm2
        vpmovzxbd zmm20, xmmword ptr [rdi + 16]
        vpmovzxbd zmm21, xmmword ptr [rdi + 32]
        vpmovzxbd zmm22, xmmword ptr [rdi + 48]
        vpmovzxbd zmm23, xmmword ptr [rdi + 64]
        .irp s, 0, 1, 2, 3
        Q2K_SUB 0, \s, 0, zmm20
        Q2K_SUB 0, \s, 1, zmm21
        .endr
        .irp s, 0, 1, 2, 3
        Q2K_SUB 1, \s, 0, zmm22
        Q2K_SUB 1, \s, 1, zmm23
        .endr
        LOOP_END .Lq2k, 84
        .size   lanner_dequant_q2_k_avx512, .-lanner_dequant_q2_k_avx512


// ---- Q3_K (110 B: hmask[32] | qs[64] | scales[12] (16 x 6-bit, -32) | d f16) -------------------
// Scales as in dot_q8a_k23_avx512vnni.S. Index = (qs >> 2 s) with bit 2 replaced by the hmask
// dword shifted so that bit 4 h + s lands there (vpternlogd: dwords 4 ? H : Q).
// zmm31 = [-4 .. 3] x 2, zmm30 = dwords 4, zmm29 = bytes 0x0F, zmm28 = bytes 3, zmm27 = bytes 32,
// xmm26 = scale shift counts, zmm20..23 = qs[0..16] .. [48..64], zmm24, zmm25 = hmask[0..16],
// [16..32] as dwords.

.macro  Q3K_SUB h, s, p, q, hm
        vmulps  zmm0, zmm31, dword bcst [rsp - 64 + 4*(8*\h + 2*\s + \p)]    // the table
        vpsrld  zmm1, \q, 2*\s
.if 4*\h+\s < 2
        vpslld  zmm2, \hm, 2-(4*\h+\s)
.else
        vpsrld  zmm2, \hm, 4*\h+\s-2
.endif
        vpternlogd zmm1, zmm2, zmm30, 0xD8     // bit 2 from zmm2, the others from zmm1
        vpermps zmm0, zmm1, zmm0
        vmovups zmmword ptr [rsi + 64*(8*\h + 2*\s + \p)], zmm0
.endm

FUNC lanner_dequant_q3_k_avx512
        vmovups zmm31, zmmword ptr [rip + .Lv8]
        mov     eax, 4
        vpbroadcastd zmm30, eax
        mov     eax, 0x0F
        vpbroadcastb zmm29, eax
        mov     eax, 3
        vpbroadcastb zmm28, eax
        mov     eax, 32
        vpbroadcastb zmm27, eax
        vmovdqu32 xmm26, xmmword ptr [rip + .Lq3_u2]
        LOOP_START .Lq3k
        vmovq   xmm1, qword ptr [rdi + 96]      // u0, u1
        vpsrlw  xmm2, xmm1, 4
        vpunpcklqdq xmm1, xmm1, xmm2            // [u0, u1, u0 >> 4, u1 >> 4]
        vpandd  xmm1, xmm1, xmm29               // low 4 bits of sc0..15
        vpbroadcastd xmm2, dword ptr [rdi + 104]
        vpsrlvd xmm2, xmm2, xmm26               // [u2, u2 >> 2, u2 >> 4, u2 >> 6]
        vpandd  xmm2, xmm2, xmm28
        vpsllw  xmm2, xmm2, 4                   // high 2 bits
        vpord   xmm1, xmm1, xmm2
        vpsubb  xmm1, xmm1, xmm27
        vpmovsxbd zmm1, xmm1
        vcvtdq2ps zmm1, zmm1                    // sc_j
        BCAST_D 3, 108
        vmulps  zmm1, zmm3, zmm1                // D_j = d sc_j
        vmovups zmmword ptr [rsp - 64], zmm1
        vpmovzxbd zmm24, xmmword ptr [rdi]
        vpmovzxbd zmm25, xmmword ptr [rdi + 16]
        vpmovzxbd zmm20, xmmword ptr [rdi + 32]
        vpmovzxbd zmm21, xmmword ptr [rdi + 48]
        vpmovzxbd zmm22, xmmword ptr [rdi + 64]
        vpmovzxbd zmm23, xmmword ptr [rdi + 80]
        .irp s, 0, 1, 2, 3
        Q3K_SUB 0, \s, 0, zmm20, zmm24
        Q3K_SUB 0, \s, 1, zmm21, zmm25
        .endr
        .irp s, 0, 1, 2, 3
        Q3K_SUB 1, \s, 0, zmm22, zmm24
        Q3K_SUB 1, \s, 1, zmm23, zmm25
        .endr
        LOOP_END .Lq3k, 110
        .size   lanner_dequant_q3_k_avx512, .-lanner_dequant_q3_k_avx512

        .section .note.GNU-stack,"",@progbits
