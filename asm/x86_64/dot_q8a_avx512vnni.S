// Dot products of one quantized weight row with one Q8A activation row (int8 per 32 values, f32
// scale d and scaled sum s per block; src/quant/q8a.rs), AVX-512 VNNI tier (decode: one token).
//
// Rust prototypes (System V x86-64 ABI), T in q8_0, q4_0, q4_1, q5_0, q5_1 (nblocks = 32-value
// blocks per row) and q4_k, q5_k, q6_k (nblocks = 256-value super-blocks per row):
//   extern "C" fn lanner_dot_T_q8a_avx512vnni(w: *const u8, qs: *const i8, ds: *const f32,
//                                              nblocks: usize, nrows: usize, out: *mut f32);
// out[r] = dot of weight row r (rows consecutive from w, nblocks blocks each) with the activations.
// Scalar reference, per row: crate::quant::q8a::dot(GgmlType::T, w_row, a). Both take each Q8A
// block's integer dot product exactly; the kernels scale lane-wise and sum in another order
// (f32 rounding only). Rows loop inside the kernel: constants are set up once per call.
//
// Q8A has two int8 planes, q1 and q2 (qs, qs + n), and the value is e (256 q1 + q2): per 64
// activations the kernels take D = vpdpbusd(w, q1), D <<= 8, D = vpdpbusd(D, w, q2), exact in i32
// (|lane| <= 4 * 255 * 32639 < 2^31), so every scale below multiplies 256 q1 + q2.
//
// vpdpbusd multiplies unsigned bytes by signed bytes, four at a time into i32 lanes. The weight
// levels go in the unsigned operand: 4- and 5-bit levels are unsigned already, stored with an
// offset c (x = d (q - c): Q4_0 c = 8, Q5_0 c = 16), and Q8_0's signed levels become unsigned as
// q ^ 0x80 = q + 128 (c = 128). The offset comes back through the block sums Q8A stores:
//   d_w e sum((q - c) a) = d_w e vpdpbusd(q, a) - c d_w s        (a = 256 q1 + q2, s = e sum a)
// Q4_1's and Q5_1's min the same way: + m s. Q6_K's offset (32, per 16 values) is one more vpdpbusd of the
// constant 32 per plane, subtracted in i32; Q4_K's and Q5_K's mins use s.
//
// High nibbles are not shifted down: (byte & 0xF0) = 16 hi is a fine unsigned operand, and the
// lanes that hold high nibbles are always the same lanes of the accumulators, so their factor 16
// is taken out once per row (Q4_0, Q4_1, Q4_K; the 5-bit formats' fifth bit would not fit).
//
// The 32-value formats go four blocks per iteration: the four f16 scales (and Q4_1's mins) are
// converted by one vcvtph2ps and multiplied by the four (e, s) pairs at once:
//   ymm4 = [d_w0 e0, t0, d_w1 e1, t1, ...],  t = m s (Q4_1) or d_w s (offsets)
// the t lanes accumulate in ymm7 (times 1 or -c at the end), the others are spread over the 8
// i32 lanes of each block's dot product (vpermps) and multiply-added into zmm0 / zmm15.
//
// Registers: rdi = w (runs on from row to row), rsi = qs, rdx = ds (f32 pairs e, s per block),
// rcx = blocks left in the row; r13 / r14 = qs / ds of the row start, r12 = nblocks, r15 = n (the
// second plane's offset), rbx = rows left, rbp = out (callee-saved, pushed);
// zmm0, zmm15 = accumulators of d_w e (q . a), ymm7 / zmm7 = accumulator of min/offset terms;
// zmm26 = nibble masks, zmm27 = bytes 16 (5-bit formats), zmm28 = bytes 0x0F, zmm29 = nibble shift counts, zmm30 / zmm31 =
// spreads of lanes (4, 6) / (0, 2), k3 = odd lanes, k4 = 128-bit lanes 2, 3, k6 = upper 256
// bits (words).
// No alignment required; nothing is read past the row (a last odd block uses 256-bit loads).

#include "macros.inc"
        .intel_syntax noprefix

// Prefetch distance (bytes of weights ahead of the current block): the row streams from memory.
#define PF 4096

        .section .rodata
        .p2align 6
.Lshift_q4:                     // vpsrlvw counts: 128-bit lanes 0, 2 keep low nibbles; 1, 3 shift 4
        .rept 2
        .rept 8
        .short 0
        .endr
        .rept 8
        .short 4
        .endr
        .endr
.Lnib_q4:                       // 128-bit lanes [lo(b0), hi(b0), lo(b1), hi(b1)]: & 0x0F / & 0xF0
        .rept 2
        .rept 16
        .byte 0x0F
        .endr
        .rept 16
        .byte 0xF0
        .endr
        .endr
.Lnib_k:                        // 256-bit halves [lo, hi]
        .rept 32
        .byte 0x0F
        .endr
        .rept 32
        .byte 0xF0
        .endr
.Lunx16_q4:                     // the high-nibble lanes of the accumulators / 16
        .rept 2
        .rept 4
        .long 0x3F800000
        .endr
        .rept 4
        .long 0x3D800000
        .endr
        .endr
.Lunx16_k:
        .rept 8
        .long 0x3F800000
        .endr
        .rept 8
        .long 0x3D800000
        .endr
.Lspread02:                     // vpermps: lanes 0..7 <- lane 0, lanes 8..15 <- lane 2
        .rept 8
        .long 0
        .endr
        .rept 8
        .long 2
        .endr
.Lspread46:
        .rept 8
        .long 4
        .endr
        .rept 8
        .long 6
        .endr
.Lspread8a:
        .rept 8
        .long 8
        .endr
        .rept 8
        .long 10
        .endr
.Lspread12e:
        .rept 8
        .long 12
        .endr
        .rept 8
        .long 14
        .endr
.Lq6_dx:                        // Q6_K: sub-block j (16 values) takes e of Q8A block j / 2
        .long 0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14
.Lq6_g0:                        // Q6_K: 64 values = 4 sub-blocks, each scale over 4 i32 lanes
        .long 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3
.Lq6_g1:
        .long 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7
.Lq6_g2:
        .long 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11
.Lq6_g3:
        .long 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15
.Lq5k_bit:                      // Q5_K: the fifth bits of blocks 2c, 2c + 1 (qh >> 2c)
        .rept 32
        .byte 1
        .endr
        .rept 32
        .byte 2
        .endr
.Lsign_odd:                     // Q4_K, Q5_K: [d, dmin] pairs -> [d, -dmin]
        .rept 8
        .long 0, 0x80000000
        .endr

        .text

// Prefetch the weights PF bytes ahead: one prefetch per cache line of the \bytes this iteration reads.
.macro  PREFETCH bytes
        .irp i, 0, 1, 2, 3
        .if 64*\i < \bytes
        prefetcht0 [rdi + PF + 64*\i]
        .endif
        .endr
.endm

// Common set-up (see the register list above): save the callee-saved registers used, constants.
.macro  PROLOGUE shift
        Q8A_ENTER \shift
        mov     eax, 0x0F
        vpbroadcastb zmm28, eax
        vmovdqu64 zmm29, zmmword ptr [rip + .Lshift_q4]
        vmovdqu64 zmm30, zmmword ptr [rip + .Lspread46]
        vmovdqu64 zmm31, zmmword ptr [rip + .Lspread02]
        mov     eax, 0xAA
        kmovw   k3, eax
        mov     eax, 0xFF00
        kmovw   k4, eax
        mov     eax, 0xFFFF0000
        kmovd   k6, eax
.endm

// Start of a row: zero the accumulators, qs / ds / block count back to the row start.
.macro  ROW_START
        vpxord  zmm0, zmm0, zmm0
        vpxord  zmm15, zmm15, zmm15
        vpxord  zmm7, zmm7, zmm7
        mov     rsi, r13
        mov     rdx, r14
        mov     rcx, r12
.endm

// End of a row: out[r] = sum of the lanes of (zmm0 + zmm15) * \unx16 (the high-nibble lanes'
// 1 / 16, or none) + \f * zmm7 (\f a float constant, 0 = none); next row (rdi points at it).
.macro  ROW_END f, label, unx16=none
        vaddps  zmm0, zmm0, zmm15
.ifnc \unx16, none
        vmulps  zmm0, zmm0, zmmword ptr [rip + \unx16]
.endif
.if \f
        mov     eax, \f
        vpbroadcastd zmm6, eax
        vfmadd231ps zmm0, zmm7, zmm6
.endif
        HSUM_ZMM0
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

// zmm\n = the 32 + 32 nibble levels of two Q4-style blocks (16 bytes each at [rdi + \o0] and
// [rdi + \o1]) in element order: [lo(b0), hi(b0), lo(b1), hi(b1)] (x[j] = lo(qs[j]),
// x[j + 16] = hi(qs[j])). \half: the first block only (upper half zero).
// \x16: leave the high nibbles in place (16 hi; see the top).
.macro  NIBBLES n, o0, o1, half, x16
.if \half
        vbroadcasti32x4 ymm\n, xmmword ptr [rdi + \o0]          // [b0, b0, 0, 0]
.else
        vbroadcasti32x4 zmm\n, xmmword ptr [rdi + \o0]          // [b0, b0, b0, b0]
        vbroadcasti32x4 zmm\n{k4}, xmmword ptr [rdi + \o1]      // [b0, b0, b1, b1]
.endif
.if \x16
        vpandd  zmm\n, zmm\n, zmm26                             // & [0x0F, 0xF0, 0x0F, 0xF0]
.else
        vpsrlvw zmm\n, zmm\n, zmm29                             // lanes 1, 3 >> 4
        vpandd  zmm\n, zmm\n, zmm28                             // & 15
.endif
.endm

// zmm\n = unsigned levels of the 32-value blocks \b, \b + 1 (or \b alone if \half), per type.
.macro  W_q8_0 n, b, half
        vmovdqu ymm\n, ymmword ptr [rdi + 34*\b + 2]
.if !\half
        vinserti64x4 zmm\n, zmm\n, ymmword ptr [rdi + 34*\b + 36], 1
.endif
        vpxord  zmm\n, zmm\n, zmm27                             // q + 128
.endm
.macro  W_q4_0 n, b, half
        NIBBLES \n, 18*\b+2, 18*\b+20, \half, 1
.endm
.macro  W_q4_1 n, b, half
        NIBBLES \n, 20*\b+4, 20*\b+24, \half, 1
.endm
.macro  W_q5_0 n, b, half
        NIBBLES \n, 22*\b+6, 22*\b+28, \half, 0
        kmovd   k1, dword ptr [rdi + 22*\b + 2]                 // qh: bit j = fifth bit of element j
.if !\half
        kmovd   k2, dword ptr [rdi + 22*\b + 24]
        kunpckdq k1, k2, k1                                     // qh1 : qh0
.endif
        vpaddb  zmm\n{k1}, zmm\n, zmm27                         // + 16
.endm
.macro  W_q5_1 n, b, half
        NIBBLES \n, 24*\b+8, 24*\b+32, \half, 0
        kmovd   k1, dword ptr [rdi + 24*\b + 4]                 // qh
.if !\half
        kmovd   k2, dword ptr [rdi + 24*\b + 28]
        kunpckdq k1, k2, k1
.endif
        vpaddb  zmm\n{k1}, zmm\n, zmm27                         // + 16
.endm

// zmm\o = f32 of the i32 lanes of 256 vpdpbusd(zmm\n, q1) + vpdpbusd(zmm\n, q2), activations at
// [rsi + \ao] and [rsi + r15 + \ao]: 64 values, or 32 if \half (the upper activations zero).
.macro  IDOT n, o, ao, half
        vpxord  zmm\o, zmm\o, zmm\o
.if \half
        vmovdqu ymm5, ymmword ptr [rsi + \ao]
        vpdpbusd zmm\o, zmm\n, zmm5
        vpslld  zmm\o, zmm\o, 8
        vmovdqu ymm5, ymmword ptr [rsi + r15 + \ao]
        vpdpbusd zmm\o, zmm\n, zmm5
.else
        vpdpbusd zmm\o, zmm\n, zmmword ptr [rsi + \ao]
        vpslld  zmm\o, zmm\o, 8
        vpdpbusd zmm\o, zmm\n, zmmword ptr [rsi + r15 + \ao]
.endif
        vcvtdq2ps zmm\o, zmm\o
.endm

// ymm4 = [d_w e, t] for \cnt (1, 2 or 4) blocks of \ts bytes, t accumulated in ymm7's odd lanes.
// \mins: the dword at each block start is [d, m] (Q4_1, t = m s); else [d, -] (t = d s).
.macro  SCALES ts, cnt, mins
        vmovd   xmm4, dword ptr [rdi]
.if \cnt >= 2
        vpinsrd xmm4, xmm4, dword ptr [rdi + \ts], 1
.endif
.if \cnt == 4
        vpinsrd xmm4, xmm4, dword ptr [rdi + 2*\ts], 2
        vpinsrd xmm4, xmm4, dword ptr [rdi + 3*\ts], 3
.endif
        vcvtph2ps ymm4, xmm4                    // [d0, m0 or -, d1, m1 or -, ...]
.if !\mins
        vmovsldup ymm4, ymm4                    // [d0, d0, d1, d1, ...]
.endif
.if \cnt == 4
        vmulps  ymm4, ymm4, ymmword ptr [rdx]   // * [e0, s0, e1, s1, ...]
.elseif \cnt == 2
        vmovups xmm6, xmmword ptr [rdx]
        vmulps  ymm4, ymm4, ymm6
.else
        vmovq   xmm6, qword ptr [rdx]
        vmulps  ymm4, ymm4, ymm6
.endif
        vaddps  ymm7{k3}, ymm7, ymm4
.endm

// The loop of a 32-value format \t (block \ts bytes): four blocks per iteration, then two, then one.
.macro  LEGACY t, ts, mins
        mov     r8, rcx
        shr     r8, 2
        jz      .L\t\()_two
.L\t\()_four:
        PREFETCH 4*\ts
        W_\t    1, 0, 0
        W_\t    8, 2, 0
        IDOT    1, 2, 0, 0
        IDOT    8, 9, 64, 0
        SCALES  \ts, 4, \mins
        vpermps zmm5, zmm31, zmm4               // [d_w0 e0 x 8, d_w1 e1 x 8]
        vpermps zmm6, zmm30, zmm4               // blocks 2, 3
        vfmadd231ps zmm0, zmm2, zmm5
        vfmadd231ps zmm15, zmm9, zmm6
        add     rdi, 4*\ts
        add     rsi, 128
        add     rdx, 32
        dec     r8
        jnz     .L\t\()_four
.L\t\()_two:
        test    rcx, 2
        jz      .L\t\()_one
        W_\t    1, 0, 0
        IDOT    1, 2, 0, 0
        SCALES  \ts, 2, \mins
        vpermps zmm5, zmm31, zmm4
        vfmadd231ps zmm0, zmm2, zmm5
        add     rdi, 2*\ts
        add     rsi, 64
        add     rdx, 16
.L\t\()_one:
        test    rcx, 1
        jz      .L\t\()_end
        W_\t    1, 0, 1
        IDOT    1, 2, 0, 1
        SCALES  \ts, 1, \mins
        vpermps zmm5, zmm31, zmm4
        vfmadd231ps zmm0, zmm2, zmm5
        add     rdi, \ts
.L\t\()_end:
.endm


// ---- Q8_0 (34 B: d f16 | qs[32] i8): d_w e sum(q a) = d_w e sum((q + 128) a) - 128 d_w s ----
        .globl  lanner_dot_q8_0_q8a_avx512vnni
        .type   lanner_dot_q8_0_q8a_avx512vnni, @function
        .p2align 5
lanner_dot_q8_0_q8a_avx512vnni:
        PROLOGUE 5
        mov     eax, 0x80
        vpbroadcastb zmm27, eax
        test    rbx, rbx
        jz      .Lq8_0_done
.Lq8_0_row:
        ROW_START
        LEGACY  q8_0, 34, 0
        ROW_END 0xC3000000, .Lq8_0_row
.Lq8_0_done:
        EPILOGUE
        .size   lanner_dot_q8_0_q8a_avx512vnni, .-lanner_dot_q8_0_q8a_avx512vnni


// ---- Q4_0 (18 B: d f16 | qs[16]): d_w e sum((q - 8) a) = d_w e sum(q a) - 8 d_w s ----------
        .globl  lanner_dot_q4_0_q8a_avx512vnni
        .type   lanner_dot_q4_0_q8a_avx512vnni, @function
        .p2align 5
lanner_dot_q4_0_q8a_avx512vnni:
        PROLOGUE 5
        vmovdqu64 zmm26, zmmword ptr [rip + .Lnib_q4]
        test    rbx, rbx
        jz      .Lq4_0_done
.Lq4_0_row:
        ROW_START
        LEGACY  q4_0, 18, 0
        ROW_END 0xC1000000, .Lq4_0_row, .Lunx16_q4
.Lq4_0_done:
        EPILOGUE
        .size   lanner_dot_q4_0_q8a_avx512vnni, .-lanner_dot_q4_0_q8a_avx512vnni


// ---- Q4_1 (20 B: d f16 | m f16 | qs[16]): d_w e sum(q a) + m s -------------------------------
        .globl  lanner_dot_q4_1_q8a_avx512vnni
        .type   lanner_dot_q4_1_q8a_avx512vnni, @function
        .p2align 5
lanner_dot_q4_1_q8a_avx512vnni:
        PROLOGUE 5
        vmovdqu64 zmm26, zmmword ptr [rip + .Lnib_q4]
        test    rbx, rbx
        jz      .Lq4_1_done
.Lq4_1_row:
        ROW_START
        LEGACY  q4_1, 20, 1
        ROW_END 0x3F800000, .Lq4_1_row, .Lunx16_q4
.Lq4_1_done:
        EPILOGUE
        .size   lanner_dot_q4_1_q8a_avx512vnni, .-lanner_dot_q4_1_q8a_avx512vnni


// ---- Q5_0 (22 B: d f16 | qh u32 | qs[16]): d_w e sum(q a) - 16 d_w s -------------------------
// Bit j of qh is the fifth bit of element j: a byte mask for +16. zmm27 = bytes 16.
        .globl  lanner_dot_q5_0_q8a_avx512vnni
        .type   lanner_dot_q5_0_q8a_avx512vnni, @function
        .p2align 5
lanner_dot_q5_0_q8a_avx512vnni:
        PROLOGUE 5
        mov     eax, 16
        vpbroadcastb zmm27, eax
        test    rbx, rbx
        jz      .Lq5_0_done
.Lq5_0_row:
        ROW_START
        LEGACY  q5_0, 22, 0
        ROW_END 0xC1800000, .Lq5_0_row
.Lq5_0_done:
        EPILOGUE
        .size   lanner_dot_q5_0_q8a_avx512vnni, .-lanner_dot_q5_0_q8a_avx512vnni


// ---- Q5_1 (24 B: d f16 | m f16 | qh u32 | qs[16]): d_w e sum(q a) + m s ----------------------
// As Q5_0, without the offset; the min as Q4_1's. zmm27 = bytes 16.
        .globl  lanner_dot_q5_1_q8a_avx512vnni
        .type   lanner_dot_q5_1_q8a_avx512vnni, @function
        .p2align 5
lanner_dot_q5_1_q8a_avx512vnni:
        PROLOGUE 5
        mov     eax, 16
        vpbroadcastb zmm27, eax
        test    rbx, rbx
        jz      .Lq5_1_done
.Lq5_1_row:
        ROW_START
        LEGACY  q5_1, 24, 1
        ROW_END 0x3F800000, .Lq5_1_row
.Lq5_1_done:
        EPILOGUE
        .size   lanner_dot_q5_1_q8a_avx512vnni, .-lanner_dot_q5_1_q8a_avx512vnni


// ---- Q4_K (144 B: d f16 | dmin f16 | scales[12] | qs[128]) -------------------------------------
// Sub-block j (32 values, Q8A block j of the super-block): x = d sc_j q - dmin m_j, so
//   dot_j = (d sc_j e) sum(q a) - (dmin m_j) s_j
// The 6-bit scales and mins are unpacked in general registers to bytes [sc0, m0, ..., sc7, m7];
// as floats times [d, -dmin] times the Q8A pairs [e, s] they give
// zmm1 = [d sc0 e0, -dmin m0 s0, ...]: odd lanes accumulate in zmm7, even lanes scale the dots.
// Levels: qs[32 c + l] low nibble = element 64 c + l, high nibble = element 64 c + 32 + l.
// zmm20..23 = spreads of lanes (0, 2), (4, 6), (8, 10), (12, 14); zmm25 = nibble masks
// [0x0F x 32, 0xF0 x 32]; zmm26 = odd-lane sign.
.macro  Q4K_GROUP c, acc, idx
        vbroadcasti64x4 zmm4, ymmword ptr [rdi + 16 + 32*\c]    // [q, q]
        vpandd  zmm4, zmm4, zmm25               // levels of blocks 2c, 2c + 1 (x 16)
        IDOT    4, 5, 64*\c, 0
        vpermps zmm6, \idx, zmm1                // [d sc e of block 2c x 8, of 2c + 1 x 8]
        vfmadd231ps \acc, zmm5, zmm6
.endm

        .globl  lanner_dot_q4_k_q8a_avx512vnni
        .type   lanner_dot_q4_k_q8a_avx512vnni, @function
        .p2align 5
lanner_dot_q4_k_q8a_avx512vnni:
        PROLOGUE 8
        vmovdqu64 zmm25, zmmword ptr [rip + .Lnib_k]
        vmovdqu64 zmm20, zmmword ptr [rip + .Lspread02]
        vmovdqu64 zmm21, zmmword ptr [rip + .Lspread46]
        vmovdqu64 zmm22, zmmword ptr [rip + .Lspread8a]
        vmovdqu64 zmm23, zmmword ptr [rip + .Lspread12e]
        vmovdqu64 zmm26, zmmword ptr [rip + .Lsign_odd]
        mov     eax, 0xAAAA
        kmovw   k3, eax
        test    rbx, rbx
        jz      .Lq4k_done
.Lq4k_row:
        ROW_START
.Lq4k_loop:
        PREFETCH 144
        // scales: u0, u1, u2 = the three dwords of scales[12]
        //   sc0..3 = u0 & 0x3F,  m0..3 = u1 & 0x3F                       (per byte)
        //   sc4..7 = (u2 & 0x0F) | (u0 >> 6) << 4,  m4..7 = (u2 >> 4) | (u1 >> 6) << 4
        mov     eax, dword ptr [rdi + 4]
        mov     r8d, dword ptr [rdi + 8]
        mov     r9d, dword ptr [rdi + 12]
        mov     r10d, r9d
        and     r10d, 0x0F0F0F0F
        shr     r9d, 4
        and     r9d, 0x0F0F0F0F
        mov     r11d, eax
        shr     r11d, 2
        and     r11d, 0x30303030                // (u0 byte >> 6) << 4
        or      r10d, r11d                      // sc4..7
        mov     r11d, r8d
        shr     r11d, 2
        and     r11d, 0x30303030
        or      r9d, r11d                       // m4..7
        and     eax, 0x3F3F3F3F                 // sc0..3
        and     r8d, 0x3F3F3F3F                 // m0..3
        shl     r10, 32
        or      rax, r10                        // sc0..7
        shl     r9, 32
        or      r8, r9                          // m0..7
        vmovq   xmm1, rax
        vmovq   xmm2, r8
        vpunpcklbw xmm1, xmm1, xmm2             // [sc0, m0, sc1, m1, ...]
        vpmovzxbd zmm1, xmm1
        vcvtdq2ps zmm1, zmm1
        vmovd   xmm3, dword ptr [rdi]           // f16 [d, dmin]
        vcvtph2ps xmm3, xmm3
        vbroadcastsd zmm3, xmm3                 // [d, dmin] x 8
        vpxord  zmm3, zmm3, zmm26               // [d, -dmin] x 8
        vmulps  zmm1, zmm1, zmm3                // [d sc_j, -dmin m_j]
        vmulps  zmm1, zmm1, zmmword ptr [rdx]   // [d sc_j e, -dmin m_j s_j]
        vaddps  zmm7{k3}, zmm7, zmm1            // min terms
        Q4K_GROUP 0, zmm0, zmm20
        Q4K_GROUP 1, zmm15, zmm21
        Q4K_GROUP 2, zmm0, zmm22
        Q4K_GROUP 3, zmm15, zmm23
        add     rdi, 144
        add     rsi, 256
        add     rdx, 64
        dec     rcx
        jnz     .Lq4k_loop
        ROW_END 0x3F800000, .Lq4k_row, .Lunx16_k   // zmm7: min terms (even lanes 0)
.Lq4k_done:
        EPILOGUE
        .size   lanner_dot_q4_k_q8a_avx512vnni, .-lanner_dot_q4_k_q8a_avx512vnni


// ---- Q5_K (176 B: d f16 | dmin f16 | scales[12] | qh[32] | qs[128]) ----------------------------
// As Q4_K (same scales, mins and zmm1), with 5-bit levels: qs[32 c + l] low nibble | (bit 2c of
// qh[l]) << 4 = element 64 c + l, high nibble | (bit 2c + 1 of qh[l]) << 4 = element 64 c + 32 + l.
// The high nibbles are shifted down (no factor 16 to take out). zmm9 = [qh, qh] >> 2c: its bytes
// tested against zmm24 = [1 x 32, 2 x 32] give the lanes that take + 16 (word shifts: the bits
// that cross from the next byte stay above bit 1). k6 = upper 256 bits (words).
.macro  Q5K_GROUP c, acc, idx
        vbroadcasti64x4 zmm4, ymmword ptr [rdi + 48 + 32*\c]    // [q, q]
        vpsrlw  zmm4{k6}, zmm4, 4
        vpandd  zmm4, zmm4, zmm28               // nibbles of blocks 2c, 2c + 1
        vptestmb k1, zmm9, zmm24                // fifth bits
        vpaddb  zmm4{k1}, zmm4, zmm27           // + 16
.if \c < 3
        vpsrlw  zmm9, zmm9, 2
.endif
        IDOT    4, 5, 64*\c, 0
        vpermps zmm6, \idx, zmm1                // [d sc e of block 2c x 8, of 2c + 1 x 8]
        vfmadd231ps \acc, zmm5, zmm6
.endm

        .globl  lanner_dot_q5_k_q8a_avx512vnni
        .type   lanner_dot_q5_k_q8a_avx512vnni, @function
        .p2align 5
lanner_dot_q5_k_q8a_avx512vnni:
        PROLOGUE 8
        vmovdqu64 zmm20, zmmword ptr [rip + .Lspread02]
        vmovdqu64 zmm21, zmmword ptr [rip + .Lspread46]
        vmovdqu64 zmm22, zmmword ptr [rip + .Lspread8a]
        vmovdqu64 zmm23, zmmword ptr [rip + .Lspread12e]
        vmovdqu64 zmm24, zmmword ptr [rip + .Lq5k_bit]
        vmovdqu64 zmm26, zmmword ptr [rip + .Lsign_odd]
        mov     eax, 16
        vpbroadcastb zmm27, eax
        mov     eax, 0xAAAA
        kmovw   k3, eax
        test    rbx, rbx
        jz      .Lq5k_done
.Lq5k_row:
        ROW_START
.Lq5k_loop:
        PREFETCH 176
        Q4K_SCALES_MINS                         // rax = sc0..7, r8 = m0..7 (bytes)
        vmovq   xmm1, rax
        vmovq   xmm2, r8
        vpunpcklbw xmm1, xmm1, xmm2             // [sc0, m0, sc1, m1, ...]
        vpmovzxbd zmm1, xmm1
        vcvtdq2ps zmm1, zmm1
        vmovd   xmm3, dword ptr [rdi]           // f16 [d, dmin]
        vcvtph2ps xmm3, xmm3
        vbroadcastsd zmm3, xmm3
        vpxord  zmm3, zmm3, zmm26               // [d, -dmin] x 8
        vmulps  zmm1, zmm1, zmm3                // [d sc_j, -dmin m_j]
        vmulps  zmm1, zmm1, zmmword ptr [rdx]   // [d sc_j e, -dmin m_j s_j]
        vaddps  zmm7{k3}, zmm7, zmm1            // min terms
        vbroadcasti64x4 zmm9, ymmword ptr [rdi + 16]    // [qh, qh]
        Q5K_GROUP 0, zmm0, zmm20
        Q5K_GROUP 1, zmm15, zmm21
        Q5K_GROUP 2, zmm0, zmm22
        Q5K_GROUP 3, zmm15, zmm23
        add     rdi, 176
        add     rsi, 256
        add     rdx, 64
        dec     rcx
        jnz     .Lq5k_loop
        ROW_END 0x3F800000, .Lq5k_row           // zmm7: min terms (even lanes 0)
.Lq5k_done:
        EPILOGUE
        .size   lanner_dot_q5_k_q8a_avx512vnni, .-lanner_dot_q5_k_q8a_avx512vnni


// ---- Q6_K (210 B: ql[128] | qh[64] | scales[16] i8 | d f16) ------------------------------------
// Sub-block j (16 values) has scale sc_j; Q8A block b holds sub-blocks 2b, 2b + 1:
//   dot = sum_j (d sc_j e(j / 2)) sum_{16}((q - 32) a)
// In half h (elements 128 h ..): ql = [rdi + 64 h] (64 B), qh = [rdi + 128 + 32 h] (32 B),
//   elements  0..32: ql[0..32]  & 15 | (qh & 3) << 4         64..96:  ql[0..32]  >> 4 | (qh >> 4 & 3) << 4
//            32..64: ql[32..64] & 15 | (qh >> 2 & 3) << 4    96..128: ql[32..64] >> 4 | (qh >> 6) << 4
// With HH = [qh, qh >> 2] (zmm): elements 0..64 = (ql & 15) | (HH & 3) << 4,
// elements 64..128 = (ql >> 4 & 15) | (HH & 0x30).
// zmm1 = per-sub-block float scales d sc_j e; zmm16..19 spread 4 of them over 4 lanes each,
// zmm20 spreads e over sub-blocks; zmm24 = bytes 3, zmm25 = bytes 0x30, zmm27 = bytes 32.
.macro  Q6K_DOT vals, g, acc, idx
        vpxord  zmm13, zmm13, zmm13
        vpdpbusd zmm13, \vals, zmmword ptr [rsi + 64*(\g)]
        vpxord  zmm14, zmm14, zmm14
        vpdpbusd zmm14, zmm27, zmmword ptr [rsi + 64*(\g)]
        vpsubd  zmm13, zmm13, zmm14             // sum (q - 32) q1, 4 values per lane
        vpslld  zmm13, zmm13, 8
        vpxord  zmm14, zmm14, zmm14
        vpdpbusd zmm14, zmm27, zmmword ptr [rsi + r15 + 64*(\g)]
        vpdpbusd zmm13, \vals, zmmword ptr [rsi + r15 + 64*(\g)]
        vpsubd  zmm13, zmm13, zmm14             // + sum (q - 32) q2
        vcvtdq2ps zmm13, zmm13
        vpermps zmm14, \idx, zmm1
        vfmadd231ps \acc, zmm13, zmm14
.endm
.macro  Q6K_HALF h, idxa, idxb
        vmovdqu64 zmm8, zmmword ptr [rdi + 64*\h]                // ql
        vbroadcasti64x4 zmm9, ymmword ptr [rdi + 128 + 32*\h]   // [qh, qh]
        vpsrlw  zmm9{k6}, zmm9, 2                               // HH = [qh, qh >> 2]
        vpandd  zmm10, zmm9, zmm24
        vpsllw  zmm10, zmm10, 4
        vpternlogd zmm10, zmm8, zmm28, 0xF8                     // (HH & 3) << 4 | (ql & 15)
        vpsrlw  zmm11, zmm8, 4
        vpandd  zmm12, zmm9, zmm25
        vpternlogd zmm12, zmm11, zmm28, 0xF8                    // (HH & 0x30) | (ql >> 4 & 15)
        Q6K_DOT zmm10, 2*\h, zmm0, \idxa
        Q6K_DOT zmm12, 2*\h+1, zmm15, \idxb
.endm

        .globl  lanner_dot_q6_k_q8a_avx512vnni
        .type   lanner_dot_q6_k_q8a_avx512vnni, @function
        .p2align 5
lanner_dot_q6_k_q8a_avx512vnni:
        PROLOGUE 8
        vmovdqu64 zmm16, zmmword ptr [rip + .Lq6_g0]
        vmovdqu64 zmm17, zmmword ptr [rip + .Lq6_g1]
        vmovdqu64 zmm18, zmmword ptr [rip + .Lq6_g2]
        vmovdqu64 zmm19, zmmword ptr [rip + .Lq6_g3]
        vmovdqu64 zmm20, zmmword ptr [rip + .Lq6_dx]
        mov     eax, 3
        vpbroadcastb zmm24, eax
        mov     eax, 0x30
        vpbroadcastb zmm25, eax
        mov     eax, 32
        vpbroadcastb zmm27, eax
        test    rbx, rbx
        jz      .Lq6k_done
.Lq6k_row:
        ROW_START
.Lq6k_loop:
        PREFETCH 210
        vpmovsxbd zmm1, xmmword ptr [rdi + 192] // sc_j
        vcvtdq2ps zmm1, zmm1
        movzx   eax, word ptr [rdi + 208]
        vmovd   xmm3, eax
        vcvtph2ps xmm3, xmm3
        vbroadcastss zmm3, xmm3                 // d
        vpermps zmm2, zmm20, zmmword ptr [rdx]  // e of each sub-block
        vmulps  zmm1, zmm1, zmm3
        vmulps  zmm1, zmm1, zmm2                // d sc_j e
        Q6K_HALF 0, zmm16, zmm17
        Q6K_HALF 1, zmm18, zmm19
        add     rdi, 210
        add     rsi, 256
        add     rdx, 64
        dec     rcx
        jnz     .Lq6k_loop
        ROW_END 0, .Lq6k_row
.Lq6k_done:
        EPILOGUE
        .size   lanner_dot_q6_k_q8a_avx512vnni, .-lanner_dot_q6_k_q8a_avx512vnni

        .section .note.GNU-stack,"",@progbits
