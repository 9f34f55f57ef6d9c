// Dequantize consecutive blocks of one weight type to f32, AVX-512 tier (F + BW + VL). Prefill
// dequantizes every weight row once per matrix product and hands the floats to the GEMM
// microkernel; these kernels make that step cheap next to the product.
//
// Rust prototypes (System V x86-64 ABI), T in q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, f16,
// bf16:
//   extern "C" fn lanner_dequant_T_avx512(src: *const u8, dst: *mut f32, nblocks: usize);
// nblocks = 32-value blocks (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1), 256-value super-blocks (Q4_K, Q5_K,
// Q6_K), or
// single values (F16, BF16). Writes exactly nblocks * block_size floats to dst, reads exactly
// nblocks * type_size bytes from src; no alignment required.
//
// Scalar reference: crate::quant::dequantize_row, one block at a time (src/quant/legacy.rs,
// kquants.rs, float.rs). The kernels are bit-exact against it: they perform the same f32
// operations in the same order on the same values (levels are small integers, exact as f32;
// vcvtph2ps is exact; the products and sums round once each, no FMA where the reference
// multiplies and adds).
//
// The 4- and 5-bit formats take their outputs from a table: a block (or K sub-block) has only 16
// (32) distinct values, one per level, so the kernel computes those with the reference's own
// operations from a vector of the levels 0..15 as floats, and vpermps picks each output by its
// level (vpermps reads the low 4 bits of each index: the high nibble of a zero-extended byte
// needs a shift, the low one nothing). That replaces convert, multiply (and add) per 16 outputs.
//
// Registers: rdi = src (advances one block per iteration), rsi = dst, rdx = blocks left.

#include "macros.inc"
        .intel_syntax noprefix

        .section .rodata
        .p2align 6
.Lpick01:                       // vpermps: lanes 0..7 <- lane 0, lanes 8..15 <- lane 1
        .rept 8
        .long 0
        .endr
        .rept 8
        .long 1
        .endr
.Liota:                         // the levels 0..15 as floats
        .float 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
.Lq6_shl:                       // Q6_K vpsllvw counts: qh << 4 (line 1), qh << 2 (line 2)
        .rept 16
        .short 4
        .endr
        .rept 16
        .short 2
        .endr
.Lq6_shr:                       // Q6_K vpsrlvw counts: qh (line 3), qh >> 2 (line 4)
        .rept 16
        .short 0
        .endr
        .rept 16
        .short 2
        .endr

        .text

// zmm\n = the dword \v in every lane (clobbers eax).
.macro  SPLAT n, v
        mov     eax, \v
        vpbroadcastd zmm\n, eax
.endm

// zmm\n = the f16 at [rdi + \off] as f32, in every lane (a broadcast load of the word, then
// one conversion: fewer shuffle-port uops than macros.inc's BCAST_F16).
.macro  BCAST_D n, off
        vpbroadcastw ymm\n, word ptr [rdi + \off]
        vcvtph2ps zmm\n, ymm\n
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


// ---- Q8_0 (34 B: d f16 | qs[32] i8):  y = q d -----------------------------------------------
FUNC lanner_dequant_q8_0_avx512
        LOOP_START .Lq8, 32
        BCAST_D 3, 0                            // zmm3 = d
        vpmovsxbd zmm1, xmmword ptr [rdi + 2]
        vpmovsxbd zmm2, xmmword ptr [rdi + 18]
        vcvtdq2ps zmm1, zmm1
        vcvtdq2ps zmm2, zmm2
        vmulps  zmm1, zmm1, zmm3
        vmulps  zmm2, zmm2, zmm3
        vmovups zmmword ptr [rsi], zmm1
        vmovups zmmword ptr [rsi + 64], zmm2
        LOOP_END .Lq8, 34, 32
        .size   lanner_dequant_q8_0_avx512, .-lanner_dequant_q8_0_avx512


// ---- Q4_0 (18 B: d f16 | qs[16]):  y[j] = (lo(qs[j]) - 8) d, y[j + 16] = (hi(qs[j]) - 8) d ----
// Table: (level - 8) d. zmm31 = levels 0..15, zmm30 = levels - 8.
FUNC lanner_dequant_q4_0_avx512
        vmovups zmm31, zmmword ptr [rip + .Liota]
        SPLAT   30, 0x41000000                  // 8.0
        vsubps  zmm30, zmm31, zmm30             // -8 .. 7, exact
        LOOP_START .Lq40, 32
        BCAST_D 3, 0
        vmulps  zmm3, zmm30, zmm3               // the table
        vpmovzxbd zmm1, xmmword ptr [rdi + 2]
        vpsrld  zmm2, zmm1, 4                   // high nibbles: y[16..32]
        vpermps zmm1, zmm1, zmm3                // low nibbles: y[0..16]
        vpermps zmm2, zmm2, zmm3
        vmovups zmmword ptr [rsi], zmm1
        vmovups zmmword ptr [rsi + 64], zmm2
        LOOP_END .Lq40, 18, 32
        .size   lanner_dequant_q4_0_avx512, .-lanner_dequant_q4_0_avx512


// ---- Q4_1 (20 B: d f16 | m f16 | qs[16]):  y = q d + m (a product, then a sum) ---------------
// Table: level d + m. zmm31 = levels 0..15.
FUNC lanner_dequant_q4_1_avx512
        vmovups zmm31, zmmword ptr [rip + .Liota]
        LOOP_START .Lq41, 32
        vmovd   xmm3, dword ptr [rdi]           // f16 [d, m]
        vcvtph2ps xmm3, xmm3
        vbroadcastss zmm4, xmm3                 // d
        vmovshdup xmm3, xmm3
        vbroadcastss zmm5, xmm3                 // m
        vmulps  zmm4, zmm31, zmm4
        vaddps  zmm4, zmm4, zmm5                // the table
        vpmovzxbd zmm1, xmmword ptr [rdi + 4]
        vpsrld  zmm2, zmm1, 4
        vpermps zmm1, zmm1, zmm4
        vpermps zmm2, zmm2, zmm4
        vmovups zmmword ptr [rsi], zmm1
        vmovups zmmword ptr [rsi + 64], zmm2
        LOOP_END .Lq41, 20, 32
        .size   lanner_dequant_q4_1_avx512, .-lanner_dequant_q4_1_avx512


// ---- Q5_0 (22 B: d f16 | qh u32 | qs[16]):  y = (q - 16) d -----------------------------------
// The fifth bit of y[j] is bit j of qh. Two tables, by that bit: clear, level = nibble and the
// value (nibble - 16) d; set, level = nibble + 16 and the value nibble d. The qh halves go
// straight into mask registers that pick the second. zmm31 = 0..15, zmm30 = -16..-1.
FUNC lanner_dequant_q5_0_avx512
        vmovups zmm31, zmmword ptr [rip + .Liota]
        SPLAT   30, 0x41800000                  // 16.0
        vsubps  zmm30, zmm31, zmm30             // -16 .. -1, exact
        LOOP_START .Lq50, 32
        BCAST_D 3, 0
        vmulps  zmm4, zmm30, zmm3               // table, fifth bit clear
        vmulps  zmm3, zmm31, zmm3               // table, fifth bit set
        vpmovzxbd zmm1, xmmword ptr [rdi + 6]
        vpsrld  zmm2, zmm1, 4
        kmovw   k1, word ptr [rdi + 2]          // qh bits 0..15  -> y[0..16]
        kmovw   k2, word ptr [rdi + 4]          // qh bits 16..31 -> y[16..32]
        vpermps zmm5, zmm1, zmm4
        vpermps zmm6, zmm2, zmm4
        vpermps zmm5{k1}, zmm1, zmm3
        vpermps zmm6{k2}, zmm2, zmm3
        vmovups zmmword ptr [rsi], zmm5
        vmovups zmmword ptr [rsi + 64], zmm6
        LOOP_END .Lq50, 22, 32
        .size   lanner_dequant_q5_0_avx512, .-lanner_dequant_q5_0_avx512


// ---- Q5_1 (24 B: d f16 | m f16 | qh u32 | qs[16]):  y = q d + m (a product, then a sum) -------
// Two tables as Q5_0's, by the fifth bit: clear, level = nibble, value nibble d + m; set,
// level = nibble + 16, value (nibble + 16) d + m. zmm31 = 0..15, zmm30 = 16..31.
FUNC lanner_dequant_q5_1_avx512
        vmovups zmm31, zmmword ptr [rip + .Liota]
        SPLAT   30, 0x41800000                  // 16.0
        vaddps  zmm30, zmm31, zmm30             // 16 .. 31, exact
        LOOP_START .Lq51, 32
        vmovd   xmm3, dword ptr [rdi]           // f16 [d, m]
        vcvtph2ps xmm3, xmm3
        vbroadcastss zmm4, xmm3                 // d
        vmovshdup xmm3, xmm3
        vbroadcastss zmm5, xmm3                 // m
        vmulps  zmm6, zmm31, zmm4
        vaddps  zmm6, zmm6, zmm5                // table, fifth bit clear
        vmulps  zmm4, zmm30, zmm4
        vaddps  zmm4, zmm4, zmm5                // table, fifth bit set
        vpmovzxbd zmm1, xmmword ptr [rdi + 8]
        vpsrld  zmm2, zmm1, 4
        kmovw   k1, word ptr [rdi + 4]          // qh bits 0..15  -> y[0..16]
        kmovw   k2, word ptr [rdi + 6]          // qh bits 16..31 -> y[16..32]
        vpermps zmm5, zmm1, zmm6
        vpermps zmm7, zmm2, zmm6
        vpermps zmm5{k1}, zmm1, zmm4
        vpermps zmm7{k2}, zmm2, zmm4
        vmovups zmmword ptr [rsi], zmm5
        vmovups zmmword ptr [rsi + 64], zmm7
        LOOP_END .Lq51, 24, 32
        .size   lanner_dequant_q5_1_avx512, .-lanner_dequant_q5_1_avx512


// ---- Q4_K (144 B: d f16 | dmin f16 | scales[12] | qs[128]) -------------------------------------
// Sub-block j (32 values) has a 6-bit scale sc_j and min m_j; with D_j = d sc_j, M_j = dmin m_j
// (one rounding each, as the reference) y = D_j q - M_j (a product, then a difference).
// qs[32 c + l]: low nibble = y[64 c + l] (sub-block 2c), high nibble = y[64 c + 32 + l] (2c + 1).
// The 16 floats [D_0..D_7, M_0..M_7] go to 64 bytes of the red zone at rcx, from where each
// sub-block's table D_j level - M_j takes them as broadcast memory operands.
// zmm31 = levels 0..15, zmm30 = lane picks (0 x 8, 1 x 8).

// The 32 bytes of chunk \c: two sub-blocks, 64 outputs.
.macro  Q4K_CHUNK c
        vmulps  zmm5, zmm31, dword bcst [rcx + 8*\c]
        vsubps  zmm5, zmm5, dword bcst [rcx + 32 + 8*\c]      // table of sub-block 2c
        vmulps  zmm6, zmm31, dword bcst [rcx + 8*\c + 4]
        vsubps  zmm6, zmm6, dword bcst [rcx + 32 + 8*\c + 4]  // table of 2c + 1
        vpmovzxbd zmm1, xmmword ptr [rdi + 16 + 32*\c]
        vpmovzxbd zmm2, xmmword ptr [rdi + 16 + 32*\c + 16]
        vpsrld  zmm3, zmm1, 4
        vpsrld  zmm4, zmm2, 4
        vpermps zmm1, zmm1, zmm5
        vpermps zmm2, zmm2, zmm5
        vpermps zmm3, zmm3, zmm6
        vpermps zmm4, zmm4, zmm6
        vmovups zmmword ptr [rsi + 256*\c], zmm1
        vmovups zmmword ptr [rsi + 256*\c + 64], zmm2
        vmovups zmmword ptr [rsi + 256*\c + 128], zmm3
        vmovups zmmword ptr [rsi + 256*\c + 192], zmm4
.endm

FUNC lanner_dequant_q4_k_avx512
        lea     rcx, [rsp - 64]
        and     rcx, -64                        // 64 aligned bytes inside the red zone (leaf)
        vmovups zmm31, zmmword ptr [rip + .Liota]
        vmovdqu64 zmm30, zmmword ptr [rip + .Lpick01]
        LOOP_START .Lq4k, 256
        Q4K_SCALES_MINS                         // rax = sc0..7, r8 = m0..7 (bytes)
        vmovq   xmm1, rax
        vpinsrq xmm1, xmm1, r8, 1
        vpmovzxbd zmm1, xmm1
        vcvtdq2ps zmm1, zmm1                    // [sc_0..7, m_0..7]
        vmovd   xmm2, dword ptr [rdi]           // f16 [d, dmin]
        vcvtph2ps xmm2, xmm2
        vpermps zmm2, zmm30, zmm2               // [d x 8, dmin x 8]
        vmulps  zmm1, zmm2, zmm1                // [D_0..7, M_0..7]
        vmovaps zmmword ptr [rcx], zmm1
        Q4K_CHUNK 0
        Q4K_CHUNK 1
        Q4K_CHUNK 2
        Q4K_CHUNK 3
        LOOP_END .Lq4k, 144, 256
        .size   lanner_dequant_q4_k_avx512, .-lanner_dequant_q4_k_avx512


// ---- Q5_K (176 B: d f16 | dmin f16 | scales[12] | qh[32] | qs[128]) ----------------------------
// As Q4_K (the same D_j, M_j in the red zone at rcx), with two tables per sub-block as Q5_0's:
// D_j level - M_j for levels 0..15 (fifth bit clear) and 16..31 (set). The fifth bit of
// y[64 c + l] is bit 2c of qh[l], that of y[64 c + 32 + l] bit 2c + 1: sub-block j takes bit 0 of
// ymm9 = qh >> j (a word shift by one per sub-block: the bits that cross from the next byte stay
// above bit 0 for j < 8), tested into a 32-bit mask, y[0..16] and y[16..32] of the sub-block.
// zmm31 = levels 0..15, zmm30 = 16..31, zmm29 = lane picks (0 x 8, 1 x 8), ymm24 = bytes 1.

// ymm9 bit 0 of each byte -> k\lo (values 0..16 of the sub-block), k\hi (16..32); ymm9 >>= 1.
.macro  Q5K_BITS lo, hi
        vptestmb k\lo, ymm9, ymm24
        kshiftrd k\hi, k\lo, 16
        vpsrlw  ymm9, ymm9, 1
.endm

// The 32 bytes of chunk \c: two sub-blocks, 64 outputs.
.macro  Q5K_CHUNK c
        vmulps  zmm5, zmm31, dword bcst [rcx + 8*\c]
        vsubps  zmm5, zmm5, dword bcst [rcx + 32 + 8*\c]      // sub-block 2c, bit clear
        vmulps  zmm6, zmm30, dword bcst [rcx + 8*\c]
        vsubps  zmm6, zmm6, dword bcst [rcx + 32 + 8*\c]      // 2c, bit set
        vmulps  zmm7, zmm31, dword bcst [rcx + 8*\c + 4]
        vsubps  zmm7, zmm7, dword bcst [rcx + 32 + 8*\c + 4]  // 2c + 1, bit clear
        vmulps  zmm8, zmm30, dword bcst [rcx + 8*\c + 4]
        vsubps  zmm8, zmm8, dword bcst [rcx + 32 + 8*\c + 4]  // 2c + 1, bit set
        Q5K_BITS 1, 2
        Q5K_BITS 3, 4
        vpmovzxbd zmm1, xmmword ptr [rdi + 48 + 32*\c]
        vpmovzxbd zmm2, xmmword ptr [rdi + 48 + 32*\c + 16]
        vpsrld  zmm3, zmm1, 4
        vpsrld  zmm4, zmm2, 4
        vpermps zmm10, zmm1, zmm5
        vpermps zmm10{k1}, zmm1, zmm6
        vpermps zmm11, zmm2, zmm5
        vpermps zmm11{k2}, zmm2, zmm6
        vpermps zmm12, zmm3, zmm7
        vpermps zmm12{k3}, zmm3, zmm8
        vpermps zmm13, zmm4, zmm7
        vpermps zmm13{k4}, zmm4, zmm8
        vmovups zmmword ptr [rsi + 256*\c], zmm10
        vmovups zmmword ptr [rsi + 256*\c + 64], zmm11
        vmovups zmmword ptr [rsi + 256*\c + 128], zmm12
        vmovups zmmword ptr [rsi + 256*\c + 192], zmm13
.endm

FUNC lanner_dequant_q5_k_avx512
        lea     rcx, [rsp - 64]
        and     rcx, -64                        // 64 aligned bytes inside the red zone (leaf)
        vmovups zmm31, zmmword ptr [rip + .Liota]
        SPLAT   30, 0x41800000                  // 16.0
        vaddps  zmm30, zmm31, zmm30             // 16 .. 31, exact
        vmovdqu64 zmm29, zmmword ptr [rip + .Lpick01]
        mov     eax, 1
        vpbroadcastb ymm24, eax
        LOOP_START .Lq5k, 256
        Q4K_SCALES_MINS                         // rax = sc0..7, r8 = m0..7 (bytes)
        vmovq   xmm1, rax
        vpinsrq xmm1, xmm1, r8, 1
        vpmovzxbd zmm1, xmm1
        vcvtdq2ps zmm1, zmm1                    // [sc_0..7, m_0..7]
        vmovd   xmm2, dword ptr [rdi]           // f16 [d, dmin]
        vcvtph2ps xmm2, xmm2
        vpermps zmm2, zmm29, zmm2               // [d x 8, dmin x 8]
        vmulps  zmm1, zmm2, zmm1                // [D_0..7, M_0..7]
        vmovaps zmmword ptr [rcx], zmm1
        vmovdqu ymm9, ymmword ptr [rdi + 16]    // qh
        Q5K_CHUNK 0
        Q5K_CHUNK 1
        Q5K_CHUNK 2
        Q5K_CHUNK 3
        LOOP_END .Lq5k, 176, 256
        .size   lanner_dequant_q5_k_avx512, .-lanner_dequant_q5_k_avx512


// ---- Q6_K (210 B: ql[128] | qh[64] | scales[16] i8 | d f16) ------------------------------------
// Half h (128 values: ql + 64h, qh + 128 + 32h), l = 0..32, four lines of 32 values:
//   line 1: y[l]      level (ql[l]      & 15) | (qh[l]      & 3) << 4
//   line 2: y[l + 32] level (ql[l + 32] & 15) | (qh[l] >> 2 & 3) << 4
//   line 3: y[l + 64] level (ql[l]      >> 4) | (qh[l] >> 4 & 3) << 4
//   line 4: y[l + 96] level (ql[l + 32] >> 4) | (qh[l] >> 6)     << 4
// and y[i] = (d sc[i / 16]) (level - 32), d sc rounded first as in the reference.
// The levels are built 64 bytes at a time: one ql load covers lines 1, 2 (low nibbles) and, shifted,
// lines 3, 4, in output order; qh is loaded twice ([qh, qh]) and shifted per 256-bit half. Word
// shifts are fine: after the mask each byte holds only its own bits. The two 64-byte level
// vectors go to the stack and come back 16 at a time sign-extended to dwords.
// Stack (64-aligned): [rsp] = d sc[0..16] (16 floats), [rsp + 64] = 128 levels - 32 (bytes).
// zmm28 = bytes 0x0F, zmm29 = bytes 0x30, zmm30 = bytes 32, zmm26 / zmm27 = qh shift counts.

// 16 outputs of half \h from the levels at [rsp + 64 + 16*\i].
.macro  Q6_OUT h, i
        vpmovsxbd zmm1, xmmword ptr [rsp + 64 + 16*\i]
        vcvtdq2ps zmm1, zmm1
        vmulps  zmm1, zmm1, dword bcst [rsp + 4*(8*\h + \i)]    // (level - 32) (d sc)
        vmovups zmmword ptr [rsi + 512*\h + 64*\i], zmm1
.endm

.macro  Q6_HALF h
        vmovdqu8 zmm1, zmmword ptr [rdi + 64*\h]                // ql[0..64]
        vbroadcasti64x4 zmm2, ymmword ptr [rdi + 128 + 32*\h]   // [qh, qh]
        vpsllvw zmm3, zmm2, zmm26
        vpandd  zmm3, zmm3, zmm29               // [(qh & 3) << 4, (qh >> 2 & 3) << 4]
        vpsrlvw zmm2, zmm2, zmm27
        vpandd  zmm2, zmm2, zmm29               // [(qh >> 4 & 3) << 4, (qh >> 6) << 4]
        vpsrlw  zmm4, zmm1, 4
        vpternlogd zmm1, zmm3, zmm28, 0xEC      // (ql & 0x0F) | high bits: lines 1, 2
        vpternlogd zmm4, zmm2, zmm28, 0xEC      // (ql >> 4 & 0x0F) | high bits: lines 3, 4
        vpsubb  zmm1, zmm1, zmm30
        vpsubb  zmm4, zmm4, zmm30
        vmovdqa64 zmmword ptr [rsp + 64], zmm1
        vmovdqa64 zmmword ptr [rsp + 128], zmm4
        .irp i, 0, 1, 2, 3, 4, 5, 6, 7
        Q6_OUT  \h, \i
        .endr
.endm

FUNC lanner_dequant_q6_k_avx512
        push    rbp
        mov     rbp, rsp
        sub     rsp, 192
        and     rsp, -64
        mov     eax, 0x0F
        vpbroadcastb zmm28, eax
        mov     eax, 0x30
        vpbroadcastb zmm29, eax
        mov     eax, 32
        vpbroadcastb zmm30, eax
        vmovdqu64 zmm26, zmmword ptr [rip + .Lq6_shl]
        vmovdqu64 zmm27, zmmword ptr [rip + .Lq6_shr]
        test    rdx, rdx
        jz      .Lq6k_done
.Lq6k_loop:
        PREFETCHW_DST 1024
        vpmovsxbd zmm1, xmmword ptr [rdi + 192]
        vcvtdq2ps zmm1, zmm1                    // sc[0..16]
        BCAST_D 2, 208
        vmulps  zmm1, zmm2, zmm1                // d sc
        vmovaps zmmword ptr [rsp], zmm1
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
        .size   lanner_dequant_q6_k_avx512, .-lanner_dequant_q6_k_avx512


// ---- F16, BF16 (2 B per value) ---------------------------------------------------------------
// 64 values per iteration, then 16, then the last 0..15 under a mask (masked loads and stores
// touch nothing outside the row). rdx = values left.

// zmm\d = 16 values from [rdi + \o] (\conv: f16 or bf16), or from zmm\d itself (\o = reg).
.macro  CONV conv, d, o
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

.macro  HALFS conv
        cmp     rdx, 64
        jb      .L\conv\()_16
.L\conv\()_64:
        PREFETCHW_DST 256
        .irp i, 0, 1, 2, 3
        CONV    \conv, \i, 32*\i
        .endr
        .irp i, 0, 1, 2, 3
        vmovups zmmword ptr [rsi + 64*\i], zmm\i
        .endr
        add     rdi, 128
        add     rsi, 256
        sub     rdx, 64
        cmp     rdx, 64
        jae     .L\conv\()_64
.L\conv\()_16:
        cmp     rdx, 16
        jb      .L\conv\()_tail
        CONV    \conv, 0, 0
        vmovups zmmword ptr [rsi], zmm0
        add     rdi, 32
        add     rsi, 64
        sub     rdx, 16
        jmp     .L\conv\()_16
.L\conv\()_tail:
        test    rdx, rdx
        jz      .L\conv\()_done
        mov     ecx, edx
        mov     eax, 1
        shl     eax, cl
        dec     eax
        kmovw   k1, eax                         // the low rdx lanes
        vmovdqu16 ymm0{k1}{z}, ymmword ptr [rdi]
        CONV    \conv, 0, reg
        vmovups zmmword ptr [rsi]{k1}, zmm0
.L\conv\()_done:
        vzeroupper
        ret
.endm

FUNC lanner_dequant_f16_avx512
        HALFS   f16
        .size   lanner_dequant_f16_avx512, .-lanner_dequant_f16_avx512

FUNC lanner_dequant_bf16_avx512
        HALFS   bf16
        .size   lanner_dequant_bf16_avx512, .-lanner_dequant_bf16_avx512

        .section .note.GNU-stack,"",@progbits
