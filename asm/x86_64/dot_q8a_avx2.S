// Dot products of quantized weight rows with one Q8A activation row, AVX2 + FMA tier: the
// vpmaddubsw path (no VNNI). Same prototypes, row loop and register roles as
// dot_q8a_avx512vnni.S (read that file first):
//   extern "C" fn lanner_dot_T_q8a_avx2(w: *const u8, qs: *const i8, ds: *const f32,
//                                        nblocks: usize, nrows: usize, out: *mut f32);
// Scalar reference, per row: crate::quant::q8a::dot(GgmlType::T, w_row, a).
//
// Per 32 activations (one Q8A block, one ymm) with unsigned weight levels w:
//   p1 = vpmaddubsw(w, q1), p2 = vpmaddubsw(w, q2)        i16: w0 a0 + w1 a1 (no saturation:
//                                                          |w| <= 128 and 2 * 128 * 127 < 2^15)
//   D  = vpmaddwd(p1, 256) + vpmaddwd(p2, 1)              i32 lanes of sum w (256 q1 + q2), exact
// then D (as f32) times the block's scale, multiply-added into the accumulators. Signed levels
// (Q8_0, Q6_K's q - 32) go in as |w| with the activations' signs flipped where w < 0 (vpsignb).
// Q4_0 / Q5_0 offsets and Q4_1 / Q5_1 / Q4_K / Q5_K mins use the Q8A block sums s, in xmm7 /
// ymm7.
//
// Registers: rdi = w, rsi = qs (plane 2 at rsi + r15), rdx = ds (e, s pairs), rcx = blocks left;
// r12 = nblocks, r13 / r14 = qs / ds of the row start, r15 = n, rbx = rows left, rbp = out;
// ymm0, ymm8 = accumulators, xmm7 / ymm7 = min / offset terms; ymm15 = words 256, ymm14 =
// words 1, ymm13 = bytes 0x0F. No alignment required; nothing is read past the row.

#include "macros.inc"
        .intel_syntax noprefix

        .section .rodata
        .p2align 5
.Lq5_spread:                    // Q5_0, Q5_1: byte k of qh to bytes 8k .. 8k + 7
        .rept 8
        .byte 0
        .endr
        .rept 8
        .byte 1
        .endr
        .rept 8
        .byte 2
        .endr
        .rept 8
        .byte 3
        .endr
.Lq5_bits:                      // ... then bit j % 8 of byte j: all other bits set
        .rept 4
        .byte 0xFE, 0xFD, 0xFB, 0xF7, 0xEF, 0xDF, 0xBF, 0x7F
        .endr

        .text

.macro  PROLOGUE shift
        Q8A_ENTER \shift
        mov     eax, 256
        vmovd   xmm15, eax
        vpbroadcastw ymm15, xmm15
        mov     eax, 1
        vmovd   xmm14, eax
        vpbroadcastw ymm14, xmm14
        mov     eax, 0x0F
        vmovd   xmm13, eax
        vpbroadcastb ymm13, xmm13
.endm

.macro  ROW_START
        vxorps  xmm0, xmm0, xmm0
        vxorps  xmm8, xmm8, xmm8
        vxorps  xmm7, xmm7, xmm7
        mov     rsi, r13
        mov     rdx, r14
        mov     rcx, r12
.endm

// out[r] = sum of the lanes of ymm0 + ymm8, + \f * (xmm7[0], or the odd lanes of ymm7 if \odd).
.macro  ROW_END f, label, odd=0
        vaddps  ymm0, ymm0, ymm8
        HSUM_YMM0
.if \f
.if \odd
        vextractf128 xmm1, ymm7, 1
        vaddps  xmm7, xmm7, xmm1
        vmovshdup xmm7, xmm7                    // [1, 1, 3, 3]
        vmovhlps xmm1, xmm1, xmm7
        vaddss  xmm7, xmm7, xmm1
.endif
        mov     eax, \f
        vmovd   xmm1, eax
        vfmadd231ss xmm0, xmm7, xmm1
.endif
        vmovss  dword ptr [rbp], xmm0
        add     rbp, 4
        dec     rbx
        jnz     \label
.endm

.macro  EPILOGUE
        Q8A_LEAVE
        vzeroupper
        ret
.endm

// ymm\o = f32 of the i32 lanes of sum w (256 q1 + q2), unsigned levels w in ymm1, activations
// at [rsi + \ao] and [rsi + r15 + \ao]. Clobbers ymm3.
.macro  IDOT_U o, ao
        vpmaddubsw ymm\o, ymm1, ymmword ptr [rsi + \ao]
        vpmaddubsw ymm3, ymm1, ymmword ptr [rsi + r15 + \ao]
        vpmaddwd ymm\o, ymm\o, ymm15
        vpmaddwd ymm3, ymm3, ymm14
        vpaddd  ymm\o, ymm\o, ymm3
        vcvtdq2ps ymm\o, ymm\o
.endm

// The same for signed levels in ymm1: |w| times the activations with w's sign. Clobbers ymm1..3.
.macro  IDOT_S o, ao
        vmovdqu ymm2, ymmword ptr [rsi + \ao]
        vpsignb ymm2, ymm2, ymm1
        vmovdqu ymm3, ymmword ptr [rsi + r15 + \ao]
        vpsignb ymm3, ymm3, ymm1
        vpabsb  ymm1, ymm1
        vpmaddubsw ymm2, ymm1, ymm2
        vpmaddubsw ymm3, ymm1, ymm3
        vpmaddwd ymm\o, ymm2, ymm15
        vpmaddwd ymm3, ymm3, ymm14
        vpaddd  ymm\o, ymm\o, ymm3
        vcvtdq2ps ymm\o, ymm\o
.endm

// ymm1 = the 32 nibble levels of 16 bytes at [rdi + \o]: x[j] = lo(qs[j]), x[j + 16] = hi(qs[j]).
.macro  NIBBLES o
        vmovdqu xmm1, xmmword ptr [rdi + \o]
        vpsrlw  xmm2, xmm1, 4
        vinserti128 ymm1, ymm1, xmm2, 1
        vpand   ymm1, ymm1, ymm13
.endm

// \acc += ymm2 * (d_w e) for the weight block at [rdi + \wo] (its f16 d first) and Q8A block
// pair [rdx + \do]; xmm7 += t s with t = d_w (\t = d) or the f16 after d (\t = m), or none.
.macro  SCALE acc, wo, do, t
.ifc \t, m
        vmovd   xmm4, dword ptr [rdi + \wo]     // f16 [d, m]
.else
        movzx   eax, word ptr [rdi + \wo]
        vmovd   xmm4, eax
.endif
        vcvtph2ps xmm4, xmm4
        vmulss  xmm5, xmm4, dword ptr [rdx + \do]
        vbroadcastss ymm5, xmm5                 // d_w e
        vfmadd231ps \acc, ymm2, ymm5
.ifc \t, d
        vfmadd231ss xmm7, xmm4, dword ptr [rdx + \do + 4]
.endif
.ifc \t, m
        vmovshdup xmm4, xmm4
        vfmadd231ss xmm7, xmm4, dword ptr [rdx + \do + 4]
.endif
.endm

// One 32-value block \b (0 or 1) of each legacy type into \acc.
.macro  B_q8_0 acc, b
        vmovdqu ymm1, ymmword ptr [rdi + 34*\b + 2]
        IDOT_S  2, 32*\b
        SCALE   \acc, 34*\b, 8*\b, none
.endm
.macro  B_q4_0 acc, b
        NIBBLES 18*\b+2
        IDOT_U  2, 32*\b
        SCALE   \acc, 18*\b, 8*\b, d
.endm
.macro  B_q4_1 acc, b
        NIBBLES 20*\b+4
        IDOT_U  2, 32*\b
        SCALE   \acc, 20*\b, 8*\b, m
.endm
.macro  B_q5_0 acc, b
        NIBBLES 22*\b+6
        vpbroadcastd ymm2, dword ptr [rdi + 22*\b + 2]          // qh
        vpshufb ymm2, ymm2, ymm12
        vpor    ymm2, ymm2, ymm11
        vpcmpeqb ymm2, ymm2, ymm10              // 0xFF where bit j of qh is set
        vpand   ymm2, ymm2, ymm9                // 16 there
        vpor    ymm1, ymm1, ymm2
        IDOT_U  2, 32*\b
        SCALE   \acc, 22*\b, 8*\b, d
.endm
.macro  B_q5_1 acc, b
        NIBBLES 24*\b+8
        vpbroadcastd ymm2, dword ptr [rdi + 24*\b + 4]          // qh
        vpshufb ymm2, ymm2, ymm12
        vpor    ymm2, ymm2, ymm11
        vpcmpeqb ymm2, ymm2, ymm10
        vpand   ymm2, ymm2, ymm9
        vpor    ymm1, ymm1, ymm2
        IDOT_U  2, 32*\b
        SCALE   \acc, 24*\b, 8*\b, m
.endm

// Two blocks per iteration, then one.
.macro  LEGACY t, ts
        mov     r8, rcx
        shr     r8, 1
        jz      .L\t\()_one
.L\t\()_two:
        B_\t    ymm0, 0
        B_\t    ymm8, 1
        add     rdi, 2*\ts
        add     rsi, 64
        add     rdx, 16
        dec     r8
        jnz     .L\t\()_two
.L\t\()_one:
        test    rcx, 1
        jz      .L\t\()_end
        B_\t    ymm0, 0
        add     rdi, \ts
.L\t\()_end:
.endm

.macro  LEGACY_FN t, ts, f, q5=0
        .globl  lanner_dot_\t\()_q8a_avx2
        .type   lanner_dot_\t\()_q8a_avx2, @function
        .p2align 5
lanner_dot_\t\()_q8a_avx2:
        PROLOGUE 5
.if \q5
        vmovdqu ymm12, ymmword ptr [rip + .Lq5_spread]
        vmovdqu ymm11, ymmword ptr [rip + .Lq5_bits]
        vpcmpeqb ymm10, ymm10, ymm10            // all ones
        mov     eax, 16
        vmovd   xmm9, eax
        vpbroadcastb ymm9, xmm9
.endif
        test    rbx, rbx
        jz      .L\t\()_done
.L\t\()_row:
        ROW_START
        LEGACY  \t, \ts
        ROW_END \f, .L\t\()_row
.L\t\()_done:
        EPILOGUE
        .size   lanner_dot_\t\()_q8a_avx2, .-lanner_dot_\t\()_q8a_avx2
.endm

// Q8_0 (34 B: d | qs[32] i8): d_w e sum(q a), signed levels.
        LEGACY_FN q8_0, 34, 0
// Q4_0 (18 B: d | qs[16]): d_w e sum(q a) - 8 d_w s.
        LEGACY_FN q4_0, 18, 0xC1000000
// Q4_1 (20 B: d | m | qs[16]): d_w e sum(q a) + m s.
        LEGACY_FN q4_1, 20, 0x3F800000
// Q5_0 (22 B: d | qh | qs[16]): d_w e sum(q a) - 16 d_w s; fifth bits spread to bytes
// (byte k of qh to 8 bytes, or with all-but-bit-(j % 8), compare with all ones).
        LEGACY_FN q5_0, 22, 0xC1800000, 1
// Q5_1 (24 B: d | m | qh | qs[16]): d_w e sum(q a) + m s; fifth bits as Q5_0's.
        LEGACY_FN q5_1, 24, 0x3F800000, 1


// ---- Q4_K (144 B: d | dmin | scales[12] | qs[128]) -------------------------------------------
// Per super-block: [d sc_j e_j, -dmin m_j s_j] for j = 0..8 (the AVX-512 kernel's zmm1) as two
// ymm; the odd lanes add into ymm7, and the whole 16 floats go to a stack scratch from which each
// block's scale is broadcast (a load, no shuffle).
        .globl  lanner_dot_q4_k_q8a_avx2
        .type   lanner_dot_q4_k_q8a_avx2, @function
        .p2align 5
lanner_dot_q4_k_q8a_avx2:
        PROLOGUE 8
        sub     rsp, 64
        test    rbx, rbx
        jz      .Lq4k2_done
.Lq4k2_row:
        ROW_START
.Lq4k2_loop:
        mov     eax, dword ptr [rdi + 4]        // scales: see dot_q8a_avx512vnni.S
        mov     r8d, dword ptr [rdi + 8]
        mov     r9d, dword ptr [rdi + 12]
        mov     r10d, r9d
        and     r10d, 0x0F0F0F0F
        shr     r9d, 4
        and     r9d, 0x0F0F0F0F
        mov     r11d, eax
        shr     r11d, 2
        and     r11d, 0x30303030
        or      r10d, r11d                      // sc4..7
        mov     r11d, r8d
        shr     r11d, 2
        and     r11d, 0x30303030
        or      r9d, r11d                       // m4..7
        and     eax, 0x3F3F3F3F                 // sc0..3
        and     r8d, 0x3F3F3F3F                 // m0..3
        shl     r10, 32
        or      rax, r10
        shl     r9, 32
        or      r8, r9
        vmovq   xmm1, rax
        vmovq   xmm2, r8
        vpunpcklbw xmm1, xmm1, xmm2             // [sc0, m0, ..., sc7, m7]
        vpmovzxbd ymm2, xmm1                    // j = 0..4
        vpsrldq xmm1, xmm1, 8
        vpmovzxbd ymm3, xmm1                    // j = 4..8
        vcvtdq2ps ymm2, ymm2
        vcvtdq2ps ymm3, ymm3
        vmovd   xmm4, dword ptr [rdi]           // f16 [d, dmin]
        vcvtph2ps xmm4, xmm4
        vxorps  xmm5, xmm5, xmm5
        vsubps  xmm5, xmm5, xmm4                // [-d, -dmin]
        vblendps xmm4, xmm4, xmm5, 2            // [d, -dmin]
        vmovddup xmm4, xmm4
        vinsertf128 ymm4, ymm4, xmm4, 1         // [d, -dmin] x 4
        vmulps  ymm2, ymm2, ymm4
        vmulps  ymm3, ymm3, ymm4
        vmulps  ymm2, ymm2, ymmword ptr [rdx]   // [d sc_j e_j, -dmin m_j s_j]
        vmulps  ymm3, ymm3, ymmword ptr [rdx + 32]
        vaddps  ymm7, ymm7, ymm2                // (even lanes unused)
        vaddps  ymm7, ymm7, ymm3
        vmovups ymmword ptr [rsp], ymm2
        vmovups ymmword ptr [rsp + 32], ymm3
        .irp c, 0, 1, 2, 3
        vmovdqu ymm6, ymmword ptr [rdi + 16 + 32*\c]
        vpand   ymm1, ymm6, ymm13               // block 2c: low nibbles
        IDOT_U  2, 64*\c
        vbroadcastss ymm5, dword ptr [rsp + 16*\c]
        vfmadd231ps ymm0, ymm2, ymm5
        vpsrlw  ymm1, ymm6, 4
        vpand   ymm1, ymm1, ymm13               // block 2c + 1: high nibbles
        IDOT_U  2, 64*\c+32
        vbroadcastss ymm5, dword ptr [rsp + 16*\c + 8]
        vfmadd231ps ymm8, ymm2, ymm5
        .endr
        add     rdi, 144
        add     rsi, 256
        add     rdx, 64
        dec     rcx
        jnz     .Lq4k2_loop
        ROW_END 0x3F800000, .Lq4k2_row, 1
.Lq4k2_done:
        add     rsp, 64
        EPILOGUE
        .size   lanner_dot_q4_k_q8a_avx2, .-lanner_dot_q4_k_q8a_avx2


// ---- Q5_K (176 B: d | dmin | scales[12] | qh[32] | qs[128]) -----------------------------------
// As Q4_K, with the fifth bits: bit 2c of qh[l] (block 2c, element l) and bit 2c + 1 (block
// 2c + 1) are moved to bit 4 of each byte by a word shift (the bits that cross from the next byte
// land below bit 4 for left shifts up to 4, above it for right shifts up to 3) and masked.
// ymm10 = qh, ymm12 = bytes 0x10.

// ymm2 = (bit \bit of each qh byte) << 4.
.macro  Q5K_BIT bit
.if \bit < 4
        vpsllw  ymm2, ymm10, 4 - (\bit)
.elseif \bit == 4
        vmovdqa ymm2, ymm10
.else
        vpsrlw  ymm2, ymm10, (\bit) - 4
.endif
        vpand   ymm2, ymm2, ymm12
.endm

        .globl  lanner_dot_q5_k_q8a_avx2
        .type   lanner_dot_q5_k_q8a_avx2, @function
        .p2align 5
lanner_dot_q5_k_q8a_avx2:
        PROLOGUE 8
        sub     rsp, 64
        mov     eax, 0x10
        vmovd   xmm12, eax
        vpbroadcastb ymm12, xmm12
        test    rbx, rbx
        jz      .Lq5k2_done
.Lq5k2_row:
        ROW_START
.Lq5k2_loop:
        Q4K_SCALES_MINS                         // rax = sc0..7, r8 = m0..7 (bytes)
        vmovq   xmm1, rax
        vmovq   xmm2, r8
        vpunpcklbw xmm1, xmm1, xmm2             // [sc0, m0, ..., sc7, m7]
        vpmovzxbd ymm2, xmm1                    // j = 0..4
        vpsrldq xmm1, xmm1, 8
        vpmovzxbd ymm3, xmm1                    // j = 4..8
        vcvtdq2ps ymm2, ymm2
        vcvtdq2ps ymm3, ymm3
        vmovd   xmm4, dword ptr [rdi]           // f16 [d, dmin]
        vcvtph2ps xmm4, xmm4
        vxorps  xmm5, xmm5, xmm5
        vsubps  xmm5, xmm5, xmm4                // [-d, -dmin]
        vblendps xmm4, xmm4, xmm5, 2            // [d, -dmin]
        vmovddup xmm4, xmm4
        vinsertf128 ymm4, ymm4, xmm4, 1         // [d, -dmin] x 4
        vmulps  ymm2, ymm2, ymm4
        vmulps  ymm3, ymm3, ymm4
        vmulps  ymm2, ymm2, ymmword ptr [rdx]   // [d sc_j e_j, -dmin m_j s_j]
        vmulps  ymm3, ymm3, ymmword ptr [rdx + 32]
        vaddps  ymm7, ymm7, ymm2                // (even lanes unused)
        vaddps  ymm7, ymm7, ymm3
        vmovups ymmword ptr [rsp], ymm2
        vmovups ymmword ptr [rsp + 32], ymm3
        vmovdqu ymm10, ymmword ptr [rdi + 16]   // qh
        .irp c, 0, 1, 2, 3
        vmovdqu ymm6, ymmword ptr [rdi + 48 + 32*\c]
        Q5K_BIT 2*\c
        vpand   ymm1, ymm6, ymm13
        vpor    ymm1, ymm1, ymm2                // block 2c: low nibbles | fifth bits
        IDOT_U  2, 64*\c
        vbroadcastss ymm5, dword ptr [rsp + 16*\c]
        vfmadd231ps ymm0, ymm2, ymm5
        Q5K_BIT 2*\c+1
        vpsrlw  ymm1, ymm6, 4
        vpand   ymm1, ymm1, ymm13
        vpor    ymm1, ymm1, ymm2                // block 2c + 1: high nibbles | fifth bits
        IDOT_U  2, 64*\c+32
        vbroadcastss ymm5, dword ptr [rsp + 16*\c + 8]
        vfmadd231ps ymm8, ymm2, ymm5
        .endr
        add     rdi, 176
        add     rsi, 256
        add     rdx, 64
        dec     rcx
        jnz     .Lq5k2_loop
        ROW_END 0x3F800000, .Lq5k2_row, 1
.Lq5k2_done:
        add     rsp, 64
        EPILOGUE
        .size   lanner_dot_q5_k_q8a_avx2, .-lanner_dot_q5_k_q8a_avx2


// ---- Q6_K (210 B: ql[128] | qh[64] | scales[16] i8 | d) ----------------------------------------
// Per super-block the 16 float scales d sc_j e(j / 2) go to a stack scratch; block b's 8 i32
// lanes take [S_2b x 4, S_2b+1 x 4]. Levels as in dot_q8a_avx512vnni.S, 32 at a time, signed
// (q - 32) through IDOT_S. ymm12 = bytes 0x30, ymm11 = bytes 32.
.macro  Q6B h, k, acc
        // ymm9 = ql[32 (k & 1) ..], ymm10 = qh of half h
        vmovdqu ymm9, ymmword ptr [rdi + 64*\h + 32*(\k & 1)]
.if \k < 2
        vpand   ymm1, ymm9, ymm13               // ql & 15
.else
        vpsrlw  ymm1, ymm9, 4
        vpand   ymm1, ymm1, ymm13               // ql >> 4
.endif
.if \k == 0
        vpsllw  ymm2, ymm10, 4                  // (qh & 3) << 4
.elseif \k == 1
        vpsllw  ymm2, ymm10, 2                  // (qh >> 2 & 3) << 4
.elseif \k == 2
        vmovdqa ymm2, ymm10                     // (qh >> 4 & 3) << 4
.else
        vpsrlw  ymm2, ymm10, 2                  // (qh >> 6) << 4
.endif
        vpand   ymm2, ymm2, ymm12
        vpor    ymm1, ymm1, ymm2
        vpsubb  ymm1, ymm1, ymm11               // q - 32
        IDOT_S  2, 128*\h+32*\k
        vbroadcastss xmm4, dword ptr [rsp + 32*\h + 8*\k]
        vbroadcastss xmm5, dword ptr [rsp + 32*\h + 8*\k + 4]
        vinsertf128 ymm4, ymm4, xmm5, 1
        vfmadd231ps \acc, ymm2, ymm4
.endm

        .globl  lanner_dot_q6_k_q8a_avx2
        .type   lanner_dot_q6_k_q8a_avx2, @function
        .p2align 5
lanner_dot_q6_k_q8a_avx2:
        PROLOGUE 8
        sub     rsp, 64
        mov     eax, 0x30
        vmovd   xmm12, eax
        vpbroadcastb ymm12, xmm12
        mov     eax, 32
        vmovd   xmm11, eax
        vpbroadcastb ymm11, xmm11
        test    rbx, rbx
        jz      .Lq6k2_done
.Lq6k2_row:
        ROW_START
.Lq6k2_loop:
        movzx   eax, word ptr [rdi + 208]
        vmovd   xmm4, eax
        vcvtph2ps xmm4, xmm4
        vbroadcastss ymm4, xmm4                 // d
        vmovups ymm5, ymmword ptr [rdx]         // [e0, s0, ..., e3, s3]
        vmovups ymm6, ymmword ptr [rdx + 32]    // [e4, s4, ..., e7, s7]
        vmulps  ymm5, ymm5, ymm4                // d e (odd lanes unused)
        vmulps  ymm6, ymm6, ymm4
        vmovsldup ymm5, ymm5                    // [d e0, d e0, d e1, d e1, ...]: sub-blocks 0..8
        vmovsldup ymm6, ymm6                    // sub-blocks 8..16
        vpmovsxbd ymm1, qword ptr [rdi + 192]   // sc 0..8
        vpmovsxbd ymm2, qword ptr [rdi + 200]   // sc 8..16
        vcvtdq2ps ymm1, ymm1
        vcvtdq2ps ymm2, ymm2
        vmulps  ymm1, ymm1, ymm5
        vmulps  ymm2, ymm2, ymm6
        vmovups ymmword ptr [rsp], ymm1         // S_j = d sc_j e(j / 2)
        vmovups ymmword ptr [rsp + 32], ymm2
        vmovdqu ymm10, ymmword ptr [rdi + 128]  // qh, half 0
        Q6B     0, 0, ymm0
        Q6B     0, 1, ymm8
        Q6B     0, 2, ymm0
        Q6B     0, 3, ymm8
        vmovdqu ymm10, ymmword ptr [rdi + 160]  // qh, half 1
        Q6B     1, 0, ymm0
        Q6B     1, 1, ymm8
        Q6B     1, 2, ymm0
        Q6B     1, 3, ymm8
        add     rdi, 210
        add     rsi, 256
        add     rdx, 64
        dec     rcx
        jnz     .Lq6k2_loop
        ROW_END 0, .Lq6k2_row
.Lq6k2_done:
        add     rsp, 64
        EPILOGUE
        .size   lanner_dot_q6_k_q8a_avx2, .-lanner_dot_q6_k_q8a_avx2

        .section .note.GNU-stack,"",@progbits
