// Dequantize Q2_K / Q3_K super-blocks to f32, AVX2 tier (AVX2 + F16C; no FMA: the reference
// rounds products and sums apart). Same prototypes, contract and table method as
// dequant_k23_avx512.S (read that file first), with 8-entry tables (vpermps ymm reads the low
// 3 bits of each index):
//   extern "C" fn lanner_dequant_T_avx2(src: *const u8, dst: *mut f32, nblocks: usize);
// T in q2_k, q3_k. Scalar reference: crate::quant::dequantize_row.
//
// Registers: rdi = src (advances one block per iteration), rsi = dst, rdx = blocks left;
// red zone (leaf): [rsp - 128] = D_0..15, [rsp - 64] = M_0..15 (Q2_K) or 32 index bytes (Q3_K).

#include "macros.inc"
        .intel_syntax noprefix

        .section .rodata
        .p2align 5
.Liota4:                        // Q2_K levels, repeated every 4 lanes
        .float 0, 1, 2, 3, 0, 1, 2, 3
.Lv8:                           // Q3_K levels
        .float -4, -3, -2, -1, 0, 1, 2, 3
.Lb0f:
        .rept 32
        .byte 0x0F
        .endr
.Lb3:
        .rept 32
        .byte 3
        .endr
.Lb4:
        .rept 32
        .byte 4
        .endr
.Lb32:
        .rept 16
        .byte 32
        .endr
.Lq3_u2:                        // Q3_K: vpsrlvd counts for the scales' high bits
        .long 0, 2, 4, 6

        .text

// ymm\n = the f16 at [rdi + \off] as f32, in every lane (clobbers eax).
.macro  BCAST_F16_Y n, off
        movzx   eax, word ptr [rdi + \off]
        vmovd   xmm\n, eax
        vcvtph2ps xmm\n, xmm\n
        vbroadcastss ymm\n, xmm\n
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
// ymm15 = [0, 1, 2, 3] x 2, ymm14 = bytes 0x0F, ymm4 + i = qs[8 i .. 8 i + 8] as dwords
// (i = 0..8), widened once and shifted per output vector.

// The 16 outputs of sub-block 8 h + 2 s + p: level dwords ymm(4 + 4 h + 2 p), ymm(5 + ...).
.macro  Q2K_SUB h, s, p, qa, qb
        vbroadcastss ymm1, dword ptr [rsp - 128 + 4*(8*\h + 2*\s + \p)]
        vbroadcastss ymm2, dword ptr [rsp - 64 + 4*(8*\h + 2*\s + \p)]
        vmulps  ymm0, ymm15, ymm1
        vsubps  ymm0, ymm0, ymm2                // the table
        vpsrld  ymm1, \qa, 2*\s
        vpsrld  ymm2, \qb, 2*\s
        vpermps ymm1, ymm1, ymm0
        vpermps ymm2, ymm2, ymm0
        vmovups ymmword ptr [rsi + 64*(8*\h + 2*\s + \p)], ymm1
        vmovups ymmword ptr [rsi + 64*(8*\h + 2*\s + \p) + 32], ymm2
.endm

FUNC lanner_dequant_q2_k_avx2
        vmovups ymm15, ymmword ptr [rip + .Liota4]
        vmovdqu ymm14, ymmword ptr [rip + .Lb0f]
        LOOP_START .Lq2k
        BCAST_F16_Y 2, 80                       // d
        BCAST_F16_Y 3, 82                       // dmin
        .irp i, 0, 1                            // sub-blocks 8 i .. 8 i + 7
        vpmovzxbd ymm0, qword ptr [rdi + 8*\i]
        vpsrld  ymm1, ymm0, 4
        vpand   ymm0, ymm0, ymm14
        vcvtdq2ps ymm0, ymm0                    // sc_j
        vcvtdq2ps ymm1, ymm1                    // m_j
        vmulps  ymm0, ymm2, ymm0                // D_j = d sc_j
        vmulps  ymm1, ymm3, ymm1                // M_j = dmin m_j
        vmovups ymmword ptr [rsp - 128 + 32*\i], ymm0
        vmovups ymmword ptr [rsp - 64 + 32*\i], ymm1
        .endr
        .irp i, 4, 5, 6, 7, 8, 9, 10, 11
        vpmovzxbd ymm\i, qword ptr [rdi + 16 + 8*(\i - 4)]
        .endr
        .irp s, 0, 1, 2, 3
        Q2K_SUB 0, \s, 0, ymm4, ymm5
        Q2K_SUB 0, \s, 1, ymm6, ymm7
        .endr
        .irp s, 0, 1, 2, 3
        Q2K_SUB 1, \s, 0, ymm8, ymm9
        Q2K_SUB 1, \s, 1, ymm10, ymm11
        .endr
        LOOP_END .Lq2k, 84
        .size   lanner_dequant_q2_k_avx2, .-lanner_dequant_q2_k_avx2


// ---- Q3_K (110 B: hmask[32] | qs[64] | scales[12] (16 x 6-bit, -32) | d f16) -------------------
// Scales as in dot_q8a_k23_avx512vnni.S. Per 32 values (h, s) the index bytes
// ((qs >> 2 s) & 3) | (hmask moved so that bit 4 h + s is bit 2) & 4 are built at once (word
// shifts: the bits that cross into the neighbouring byte are masked off), stored to the red
// zone and widened 8 at a time. ymm15 = [-4 .. 3], ymm14 = bytes 3, ymm13 = bytes 4,
// ymm12 = hmask, ymm10 / ymm11 = qs of half 0 / 1.

.macro  Q3K_LINE h, s, q
        vpsrlw  ymm1, \q, 2*\s
        vpand   ymm1, ymm1, ymm14
.if 4*\h+\s < 2
        vpsllw  ymm2, ymm12, 2-(4*\h+\s)
        vpand   ymm2, ymm2, ymm13
.elseif 4*\h+\s == 2
        vpand   ymm2, ymm12, ymm13
.else
        vpsrlw  ymm2, ymm12, 4*\h+\s-2
        vpand   ymm2, ymm2, ymm13
.endif
        vpor    ymm1, ymm1, ymm2
        vmovdqu ymmword ptr [rsp - 64], ymm1
        .irp p, 0, 1                            // sub-block 8 h + 2 s + p
        vbroadcastss ymm0, dword ptr [rsp - 128 + 4*(8*\h + 2*\s + \p)]
        vmulps  ymm0, ymm15, ymm0               // the table
        vpmovzxbd ymm1, qword ptr [rsp - 64 + 16*\p]
        vpmovzxbd ymm2, qword ptr [rsp - 64 + 16*\p + 8]
        vpermps ymm1, ymm1, ymm0
        vpermps ymm2, ymm2, ymm0
        vmovups ymmword ptr [rsi + 64*(8*\h + 2*\s + \p)], ymm1
        vmovups ymmword ptr [rsi + 64*(8*\h + 2*\s + \p) + 32], ymm2
        .endr
.endm

FUNC lanner_dequant_q3_k_avx2
        vmovups ymm15, ymmword ptr [rip + .Lv8]
        vmovdqu ymm14, ymmword ptr [rip + .Lb3]
        vmovdqu ymm13, ymmword ptr [rip + .Lb4]
        LOOP_START .Lq3k
        vmovq   xmm1, qword ptr [rdi + 96]      // u0, u1
        vpsrlw  xmm2, xmm1, 4
        vpunpcklqdq xmm1, xmm1, xmm2            // [u0, u1, u0 >> 4, u1 >> 4]
        vpand   xmm1, xmm1, xmmword ptr [rip + .Lb0f]   // low 4 bits of sc0..15
        vpbroadcastd xmm2, dword ptr [rdi + 104]
        vpsrlvd xmm2, xmm2, xmmword ptr [rip + .Lq3_u2] // [u2, u2 >> 2, u2 >> 4, u2 >> 6]
        vpand   xmm2, xmm2, xmm14
        vpsllw  xmm2, xmm2, 4                   // high 2 bits
        vpor    xmm1, xmm1, xmm2
        vpsubb  xmm1, xmm1, xmmword ptr [rip + .Lb32]   // sc_j
        vpmovsxbd ymm2, xmm1
        vpsrldq xmm1, xmm1, 8
        vpmovsxbd ymm3, xmm1
        vcvtdq2ps ymm2, ymm2
        vcvtdq2ps ymm3, ymm3
        BCAST_F16_Y 4, 108                      // d
        vmulps  ymm2, ymm4, ymm2                // D_j = d sc_j
        vmulps  ymm3, ymm4, ymm3
        vmovups ymmword ptr [rsp - 128], ymm2
        vmovups ymmword ptr [rsp - 96], ymm3
        vmovdqu ymm12, ymmword ptr [rdi]
        vmovdqu ymm10, ymmword ptr [rdi + 32]
        vmovdqu ymm11, ymmword ptr [rdi + 64]
        .irp s, 0, 1, 2, 3
        Q3K_LINE 0, \s, ymm10
        .endr
        .irp s, 0, 1, 2, 3
        Q3K_LINE 1, \s, ymm11
        .endr
        LOOP_END .Lq3k, 110
        .size   lanner_dequant_q3_k_avx2, .-lanner_dequant_q3_k_avx2

        .section .note.GNU-stack,"",@progbits
