// Dequantize consecutive blocks of one weight type to f32, AVX2 tier (AVX2 + FMA + F16C; no FMA
// is used: the reference rounds products and sums apart). Same prototypes, contract and
// bit-exactness argument as dequant_avx512.S (read that file first):
//   extern "C" fn lanner_dequant_T_avx2(src: *const u8, dst: *mut f32, nblocks: usize);
// T in q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, f16, bf16. Scalar reference:
// crate::quant::dequantize_row. No alignment required; nothing outside the row is read or written.
//
// Registers: rdi = src (advances one block per iteration), rsi = dst, rdx = blocks left.

#include "macros.inc"
        .intel_syntax noprefix

        .section .rodata
        .p2align 5
.Lq5_shl:                       // Q5_0, Q5_1: vpsllvd counts moving bit j of qh to bit 31 in lane j
        .long 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16
        .long 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0

        .text

// ymm\n = the dword \v in every lane (clobbers eax).
.macro  SPLAT n, v
        mov     eax, \v
        vmovd   xmm\n, eax
        vpbroadcastd ymm\n, xmm\n
.endm

// ymm\n = the f16 at [rdi + \off] as f32, in every lane (clobbers eax).
.macro  BCAST_F16_Y n, off
        movzx   eax, word ptr [rdi + \off]
        vmovd   xmm\n, eax
        vcvtph2ps xmm\n, xmm\n
        vbroadcastss ymm\n, xmm\n
.endm

// ymm4 = d, ymm5 = m of the f16 pair [d, m] at [rdi] (clobbers xmm3).
.macro  BCAST_F16_PAIR
        vmovd   xmm3, dword ptr [rdi]
        vcvtph2ps xmm3, xmm3
        vbroadcastss ymm4, xmm3
        vmovshdup xmm3, xmm3
        vbroadcastss ymm5, xmm3
.endm

// Start and end of the block loop \l: skip it when there are no blocks; advance src and dst.
.macro  LOOP_START l, floats
        test    rdx, rdx
        jz      \l\()_done
\l\()_loop:
        PREFETCHW_DST 4*\floats
.endm
.macro  LOOP_END l, bytes, floats
        add     rdi, \bytes
        add     rsi, 4 * \floats
        dec     rdx
        jnz     \l\()_loop
\l\()_done:
        vzeroupper
        ret
.endm

.macro  FUNC name
        .globl  \name
        .type   \name, @function
        .p2align 5
\name:
.endm

// The 16 nibbles at [rdi + \o] as dwords: ymm0 = y[0..8], ymm1 = y[8..16] (low nibbles),
// ymm2 = y[16..24], ymm3 = y[24..32] (high nibbles). ymm15 = 15.
.macro  NIBBLES o
        vpmovzxbd ymm0, qword ptr [rdi + \o]
        vpmovzxbd ymm1, qword ptr [rdi + \o + 8]
        vpsrld  ymm2, ymm0, 4
        vpsrld  ymm3, ymm1, 4
        vpand   ymm0, ymm0, ymm15
        vpand   ymm1, ymm1, ymm15
.endm

// y[0..32] = ymm0..3 (i32 levels) converted and times ymm4 (+ ymm5 if \add), stored.
.macro  STORE32 add=0
        .irp i, 0, 1, 2, 3
        vcvtdq2ps ymm\i, ymm\i
        vmulps  ymm\i, ymm\i, ymm4
.if \add
        vaddps  ymm\i, ymm\i, ymm5
.endif
        vmovups ymmword ptr [rsi + 32*\i], ymm\i
        .endr
.endm


// ---- Q8_0 (34 B: d f16 | qs[32] i8):  y = q d -----------------------------------------------
FUNC lanner_dequant_q8_0_avx2
        LOOP_START .Lq8, 32
        BCAST_F16_Y 4, 0
        .irp i, 0, 1, 2, 3
        vpmovsxbd ymm\i, qword ptr [rdi + 2 + 8*\i]
        .endr
        STORE32
        LOOP_END .Lq8, 34, 32
        .size   lanner_dequant_q8_0_avx2, .-lanner_dequant_q8_0_avx2


// ---- Q4_0 (18 B: d f16 | qs[16]):  y[j] = (lo(qs[j]) - 8) d, y[j + 16] = (hi(qs[j]) - 8) d ----
FUNC lanner_dequant_q4_0_avx2
        SPLAT   15, 15
        SPLAT   14, 8
        LOOP_START .Lq40, 32
        BCAST_F16_Y 4, 0
        NIBBLES 2
        .irp i, 0, 1, 2, 3
        vpsubd  ymm\i, ymm\i, ymm14
        .endr
        STORE32
        LOOP_END .Lq40, 18, 32
        .size   lanner_dequant_q4_0_avx2, .-lanner_dequant_q4_0_avx2


// ---- Q4_1 (20 B: d f16 | m f16 | qs[16]):  y = q d + m (a product, then a sum) ---------------
FUNC lanner_dequant_q4_1_avx2
        SPLAT   15, 15
        LOOP_START .Lq41, 32
        BCAST_F16_PAIR
        NIBBLES 4
        STORE32 1
        LOOP_END .Lq41, 20, 32
        .size   lanner_dequant_q4_1_avx2, .-lanner_dequant_q4_1_avx2


// ---- Q5_0 (22 B: d f16 | qh u32 | qs[16]):  y = (q - 16) d -----------------------------------
// The fifth bit of y[j] is bit j of qh. Shifted to bit 31 of lane j and spread over the lane
// (vpsrad), it leaves ~mask & 16 = the 16 to take off where the bit is clear.
// ymm15 = 15, ymm14 = 16, ymm10..13 = shift counts of y[0..8], ..., y[24..32].
FUNC lanner_dequant_q5_0_avx2
        SPLAT   15, 15
        SPLAT   14, 16
        .irp i, 0, 1, 2, 3
        vmovdqu ymm1\i, ymmword ptr [rip + .Lq5_shl + 32*\i]
        .endr
        LOOP_START .Lq50, 32
        BCAST_F16_Y 4, 0
        vpbroadcastd ymm5, dword ptr [rdi + 2]  // qh
        NIBBLES 6
        .irp i, 0, 1, 2, 3
        vpsllvd ymm6, ymm5, ymm1\i              // fifth bit of lane j -> bit 31
        vpsrad  ymm6, ymm6, 31                  // -1 where set, 0 where clear
        vpandn  ymm6, ymm6, ymm14               // 16 where clear
        vpsubd  ymm\i, ymm\i, ymm6
        .endr
        STORE32
        LOOP_END .Lq50, 22, 32
        .size   lanner_dequant_q5_0_avx2, .-lanner_dequant_q5_0_avx2


// ---- Q5_1 (24 B: d f16 | m f16 | qh u32 | qs[16]):  y = q d + m (a product, then a sum) -------
// The fifth bits as Q5_0's, spread over their lanes: mask & 16 = the 16 to add where set.
// ymm15 = 15, ymm14 = 16, ymm10..13 = shift counts.
FUNC lanner_dequant_q5_1_avx2
        SPLAT   15, 15
        SPLAT   14, 16
        .irp i, 0, 1, 2, 3
        vmovdqu ymm1\i, ymmword ptr [rip + .Lq5_shl + 32*\i]
        .endr
        LOOP_START .Lq51, 32
        vpbroadcastd ymm6, dword ptr [rdi + 4]  // qh
        BCAST_F16_PAIR                          // ymm4 = d, ymm5 = m
        NIBBLES 8
        .irp i, 0, 1, 2, 3
        vpsllvd ymm7, ymm6, ymm1\i              // fifth bit of lane j -> bit 31
        vpsrad  ymm7, ymm7, 31                  // -1 where set, 0 where clear
        vpand   ymm7, ymm7, ymm14               // 16 where set
        vpor    ymm\i, ymm\i, ymm7
        .endr
        STORE32 1
        LOOP_END .Lq51, 24, 32
        .size   lanner_dequant_q5_1_avx2, .-lanner_dequant_q5_1_avx2


// ---- Q4_K (144 B: d f16 | dmin f16 | scales[12] | qs[128]) -------------------------------------
// As in dequant_avx512.S: y = D_j q - M_j with D_j = d sc_j, M_j = dmin m_j; [D_0..7, M_0..7]
// in 64 bytes of the red zone at rcx. ymm15 = 15.

// The 32 values of chunk \c: sub-block 2c (low nibbles), then 2c + 1 (high nibbles), each
// stored in order (256 contiguous bytes: stores that stream through whole lines).
.macro  Q4K_CHUNK c
        .irp i, 0, 1, 2, 3
        vpmovzxbd ymm\i, qword ptr [rdi + 16 + 32*\c + 8*\i]
        .endr
        Q4K_SUB \c, 0
        .irp i, 0, 1, 2, 3
        vpsrld  ymm\i, ymm\i, 4
        .endr
        Q4K_SUB \c, 1
.endm

// y[64 c + 32 h ..][..32] = D q - M for sub-block 2c + h. ymm0..3 = the chunk's bytes as dwords
// (h = 0: the levels are their low nibbles, masked here) or shifted down by 4 (h = 1).
.macro  Q4K_SUB c, h
        vbroadcastss ymm8, dword ptr [rcx + 8*\c + 4*\h]         // D
        vbroadcastss ymm9, dword ptr [rcx + 32 + 8*\c + 4*\h]    // M
        .irp i, 0, 1, 2, 3
.if \h == 0
        vpand   ymm4, ymm\i, ymm15
        vcvtdq2ps ymm4, ymm4
.else
        vcvtdq2ps ymm4, ymm\i
.endif
        vmulps  ymm4, ymm4, ymm8
        vsubps  ymm4, ymm4, ymm9
        vmovups ymmword ptr [rsi + 256*\c + 128*\h + 32*\i], ymm4
        .endr
.endm

FUNC lanner_dequant_q4_k_avx2
        lea     rcx, [rsp - 64]
        and     rcx, -32                        // 64 aligned bytes inside the red zone (leaf)
        SPLAT   15, 15
        LOOP_START .Lq4k, 256
        Q4K_SCALES_MINS                         // rax = sc0..7, r8 = m0..7 (bytes)
        BCAST_F16_PAIR                          // ymm4 = d, ymm5 = dmin
        vmovq   xmm1, rax
        vpmovzxbd ymm1, xmm1
        vcvtdq2ps ymm1, ymm1
        vmulps  ymm1, ymm4, ymm1                // D_0..7
        vmovaps ymmword ptr [rcx], ymm1
        vmovq   xmm2, r8
        vpmovzxbd ymm2, xmm2
        vcvtdq2ps ymm2, ymm2
        vmulps  ymm2, ymm5, ymm2                // M_0..7
        vmovaps ymmword ptr [rcx + 32], ymm2
        Q4K_CHUNK 0
        Q4K_CHUNK 1
        Q4K_CHUNK 2
        Q4K_CHUNK 3
        LOOP_END .Lq4k, 144, 256
        .size   lanner_dequant_q4_k_avx2, .-lanner_dequant_q4_k_avx2


// ---- Q5_K (176 B: d f16 | dmin f16 | scales[12] | qh[32] | qs[128]) ----------------------------
// As Q4_K, with the fifth bits: y[64 c + l] has bit 2c of qh[l], y[64 c + 32 + l] bit 2c + 1,
// each moved to bit 4 of its dword (the qh bytes zero-extended: nothing crosses) and or-ed into
// the level. ymm15 = 15, ymm14 = 16, ymm10..13 = qh[0..8], ..., qh[24..32] as dwords.

// y[64 c + 32 h ..][..32] = D q - M for sub-block 2c + h (see Q4K_SUB), q with its fifth bit.
.macro  Q5K_SUB c, h
        vbroadcastss ymm8, dword ptr [rcx + 8*\c + 4*\h]         // D
        vbroadcastss ymm9, dword ptr [rcx + 32 + 8*\c + 4*\h]    // M
        .irp i, 0, 1, 2, 3
.if 2*\c + \h < 4
        vpslld  ymm5, ymm1\i, 4 - (2*\c + \h)
.elseif 2*\c + \h == 4
        vmovdqa ymm5, ymm1\i
.else
        vpsrld  ymm5, ymm1\i, 2*\c + \h - 4
.endif
        vpand   ymm5, ymm5, ymm14               // (bit 2c + h of qh[l]) << 4
.if \h == 0
        vpand   ymm4, ymm\i, ymm15
        vpor    ymm4, ymm4, ymm5
.else
        vpor    ymm4, ymm\i, ymm5
.endif
        vcvtdq2ps ymm4, ymm4
        vmulps  ymm4, ymm4, ymm8
        vsubps  ymm4, ymm4, ymm9
        vmovups ymmword ptr [rsi + 256*\c + 128*\h + 32*\i], ymm4
        .endr
.endm

.macro  Q5K_CHUNK c
        .irp i, 0, 1, 2, 3
        vpmovzxbd ymm\i, qword ptr [rdi + 48 + 32*\c + 8*\i]
        .endr
        Q5K_SUB \c, 0
        .irp i, 0, 1, 2, 3
        vpsrld  ymm\i, ymm\i, 4
        .endr
        Q5K_SUB \c, 1
.endm

FUNC lanner_dequant_q5_k_avx2
        lea     rcx, [rsp - 64]
        and     rcx, -32                        // 64 aligned bytes inside the red zone (leaf)
        SPLAT   15, 15
        SPLAT   14, 16
        LOOP_START .Lq5k, 256
        Q4K_SCALES_MINS                         // rax = sc0..7, r8 = m0..7 (bytes)
        BCAST_F16_PAIR                          // ymm4 = d, ymm5 = dmin
        vmovq   xmm1, rax
        vpmovzxbd ymm1, xmm1
        vcvtdq2ps ymm1, ymm1
        vmulps  ymm1, ymm4, ymm1                // D_0..7
        vmovaps ymmword ptr [rcx], ymm1
        vmovq   xmm2, r8
        vpmovzxbd ymm2, xmm2
        vcvtdq2ps ymm2, ymm2
        vmulps  ymm2, ymm5, ymm2                // M_0..7
        vmovaps ymmword ptr [rcx + 32], ymm2
        .irp i, 0, 1, 2, 3
        vpmovzxbd ymm1\i, qword ptr [rdi + 16 + 8*\i]   // qh
        .endr
        Q5K_CHUNK 0
        Q5K_CHUNK 1
        Q5K_CHUNK 2
        Q5K_CHUNK 3
        LOOP_END .Lq5k, 176, 256
        .size   lanner_dequant_q5_k_avx2, .-lanner_dequant_q5_k_avx2


// ---- Q6_K (210 B: ql[128] | qh[64] | scales[16] i8 | d f16) ------------------------------------
// Layout and formulas as in dequant_avx512.S: per half, the four lines of 32 six-bit levels are
// built a line (32 bytes) at a time, minus 32, stored, and come back 8 at a time sign-extended.
// Stack (64-aligned): [rsp] = d sc[0..16], [rsp + 64] = 128 levels - 32 (bytes).
// ymm12 = bytes 0x0F, ymm13 = bytes 0x30, ymm14 = bytes 32.

// Line \n (32 bytes) = (\q & 0x0F) | (\h & 0x30), minus 32, stored (\q, \h unchanged; \t
// and ymm1 are scratch). \h holds the level's high bits at bits 4, 5 of each byte.
.macro  Q6_LINE n, q, h, t
        vpand   \t, \q, ymm12
        vpand   ymm1, \h, ymm13
        vpor    \t, \t, ymm1
        vpsubb  \t, \t, ymm14
        vmovdqa ymmword ptr [rsp + 64 + 32*\n], \t
.endm

.macro  Q6_HALF h
        vmovdqu ymm2, ymmword ptr [rdi + 128 + 32*\h]       // qh
        vmovdqu ymm6, ymmword ptr [rdi + 64*\h]             // ql[0..32]
        vmovdqu ymm7, ymmword ptr [rdi + 64*\h + 32]        // ql[32..64]
        vpsllw  ymm3, ymm2, 4
        Q6_LINE 0, ymm6, ymm3, ymm0             // (ql[l] & 15) | (qh & 3) << 4
        vpsllw  ymm3, ymm2, 2
        Q6_LINE 1, ymm7, ymm3, ymm0             // (ql[l + 32] & 15) | (qh >> 2 & 3) << 4
        vpsrlw  ymm6, ymm6, 4
        Q6_LINE 2, ymm6, ymm2, ymm0             // (ql[l] >> 4) | (qh >> 4 & 3) << 4
        vpsrlw  ymm7, ymm7, 4
        vpsrlw  ymm3, ymm2, 2
        Q6_LINE 3, ymm7, ymm3, ymm0             // (ql[l + 32] >> 4) | (qh >> 6) << 4
        .irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
        vpmovsxbd ymm0, qword ptr [rsp + 64 + 8*\i]
        vcvtdq2ps ymm0, ymm0
        vbroadcastss ymm1, dword ptr [rsp + 4*(8*\h + \i/2)]
        vmulps  ymm0, ymm0, ymm1                // (level - 32) (d sc)
        vmovups ymmword ptr [rsi + 512*\h + 32*\i], ymm0
        .endr
.endm

FUNC lanner_dequant_q6_k_avx2
        push    rbp
        mov     rbp, rsp
        sub     rsp, 192
        and     rsp, -64
        mov     eax, 0x0F
        vmovd   xmm12, eax
        vpbroadcastb ymm12, xmm12
        mov     eax, 0x30
        vmovd   xmm13, eax
        vpbroadcastb ymm13, xmm13
        mov     eax, 32
        vmovd   xmm14, eax
        vpbroadcastb ymm14, xmm14
        test    rdx, rdx
        jz      .Lq6k_done
.Lq6k_loop:
        PREFETCHW_DST 1024
        BCAST_F16_Y 4, 208
        vpmovsxbd ymm0, qword ptr [rdi + 192]
        vpmovsxbd ymm1, qword ptr [rdi + 200]
        vcvtdq2ps ymm0, ymm0
        vcvtdq2ps ymm1, ymm1
        vmulps  ymm0, ymm4, ymm0                // d sc[0..8]
        vmulps  ymm1, ymm4, ymm1                // d sc[8..16]
        vmovaps ymmword ptr [rsp], ymm0
        vmovaps ymmword ptr [rsp + 32], ymm1
        Q6_HALF 0
        Q6_HALF 1
        add     rdi, 210
        add     rsi, 1024
        dec     rdx
        jnz     .Lq6k_loop
.Lq6k_done:
        mov     rsp, rbp
        pop     rbp
        vzeroupper
        ret
        .size   lanner_dequant_q6_k_avx2, .-lanner_dequant_q6_k_avx2


// ---- F16, BF16 (2 B per value) ---------------------------------------------------------------
// 32 values per iteration, then 8, then the last 0..7 one at a time. rdx = values left.

// ymm\d = 8 values from [rdi + \o] (\conv: f16 or bf16).
.macro  CONV conv, d, o
.ifc \conv, f16
        vcvtph2ps ymm\d, xmmword ptr [rdi + \o]
.else
        vpmovzxwd ymm\d, xmmword ptr [rdi + \o]
        vpslld  ymm\d, ymm\d, 16                // bf16 = the upper half of an f32
.endif
.endm

// One value: [rsi] = the conversion of the 2 bytes at [rdi] (clobbers eax, xmm0).
.macro  CONV1 conv
        movzx   eax, word ptr [rdi]
.ifc \conv, f16
        vmovd   xmm0, eax
        vcvtph2ps xmm0, xmm0
        vmovss  dword ptr [rsi], xmm0
.else
        shl     eax, 16
        mov     dword ptr [rsi], eax
.endif
.endm

.macro  HALFS conv
        cmp     rdx, 32
        jb      .L\conv\()_8
.L\conv\()_32:
        PREFETCHW_DST 128
        .irp i, 0, 1, 2, 3
        CONV    \conv, \i, 16*\i
        .endr
        .irp i, 0, 1, 2, 3
        vmovups ymmword ptr [rsi + 32*\i], ymm\i
        .endr
        add     rdi, 64
        add     rsi, 128
        sub     rdx, 32
        cmp     rdx, 32
        jae     .L\conv\()_32
.L\conv\()_8:
        cmp     rdx, 8
        jb      .L\conv\()_tail
        CONV    \conv, 0, 0
        vmovups ymmword ptr [rsi], ymm0
        add     rdi, 16
        add     rsi, 32
        sub     rdx, 8
        jmp     .L\conv\()_8
.L\conv\()_tail:
        test    rdx, rdx
        jz      .L\conv\()_done
        CONV1   \conv
        add     rdi, 2
        add     rsi, 4
        dec     rdx
        jmp     .L\conv\()_tail
.L\conv\()_done:
        vzeroupper
        ret
.endm

FUNC lanner_dequant_f16_avx2
        HALFS   f16
        .size   lanner_dequant_f16_avx2, .-lanner_dequant_f16_avx2

FUNC lanner_dequant_bf16_avx2
        HALFS   bf16
        .size   lanner_dequant_bf16_avx2, .-lanner_dequant_bf16_avx2

        .section .note.GNU-stack,"",@progbits
