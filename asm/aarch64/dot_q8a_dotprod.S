// Dot products of quantized weight rows with one Q8A activation row, NEON + dotprod tier (sdot).
//
// Rust prototypes (AAPCS64), T = q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, q2_k, q3_k:
//   extern "C" fn lanner_dot_T_q8a_dotprod(w: *const u8, qs: *const i8, ds: *const f32,
//                                          nblocks: usize, nrows: usize, out: *mut f32);
// nrows consecutive weight rows of nblocks blocks each (32 values per block for the legacy types,
// 256 for the K types), times the Q8A row (src/quant/q8a.rs: qs = plane 1 then plane 2 of n
// values, ds = [e, s] per 32 values); out[r] = the dot of row r.
// Scalar reference, per row: crate::quant::q8a::dot(GgmlType::T, w_row, a).
//
// Per Q8A block (32 values) with signed weight levels lv (the reference's, offsets included:
// Q4_0 q - 8, Q5_0 q - 16, Q6_K q - 32, Q3_K -4..3; Q4_1 / Q4_K levels are 0..15, Q5_1 / Q5_K
// 0..31, Q2_K 0..3):
//   D = sdot(lv, q1) << 8, then += sdot(lv, q2)      i32 lanes of sum lv (256 q1 + q2), exact
// then D (as f32) times the block's scale, multiply-added into the accumulators; Q4_1 / Q5_1 /
// Q4_K / Q5_K mins take the Q8A block sums s (m s, -dmin m_j s_j) into v7, Q2_K's (per 16 values)
// an sdot of the mins with the activations, times dmin e. The kernels sum the block terms
// lane-wise (the reference: in sequence), so results differ from it by rounding only.
//
// Registers: x0 = w (advances through every row), x1 / x11 = plane 1 / plane 2 of the Q8A row,
// x2 = ds, x3 = nblocks, x4 = rows left, x5 = out; per row x6 / x7 / x8 = plane 1, plane 2, ds
// of the current block, x9 = blocks left, x10 = n. v0, v1 = accumulators, v7 = min terms; the
// constants of each type in v26-v31 (and v2-v4 for Q5_0 / Q5_1, v16 for Q2_K). Leaves v8-v15 alone.
// Only the CPUs with FEAT_DotProd (HWCAP_ASIMDDP; Rust "dotprod") may call these. No alignment
// required; nothing is read past the weight rows, the Q8A row or its scales.

#include "macros.inc"
        .arch   armv8.2-a+dotprod

        .section .rodata
        .p2align 4
.Lq5_tables:
        .byte   0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1          // byte j of qh for value j
        .byte   2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3          // ... for value j + 16
        .byte   1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128  // bit j % 8
.Lk4_tables:
        // Q4_K's 12 scale bytes q to [sc_0..8 | m_0..8] (scale_min_k4):
        //   j < 4:  sc = q[j] & 63,                        m = q[j + 4] & 63
        //   j >= 4: sc = q[j + 4] & 15 | (q[j - 4] >> 6) << 4,  m = q[j + 4] >> 4 | (q[j] >> 6) << 4
        .byte   0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 255, 255, 255, 255        // low bits ...
        .byte   63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0      // ... masked
        .byte   255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 8, 9, 10, 11  // >> 4
        .byte   255, 255, 255, 255, 0, 1, 2, 3, 255, 255, 255, 255, 4, 5, 6, 7  // (>> 6) << 4
.Lq3_shifts:
        // Q3_K: byte j of (s[8 + j % 4] repeated) shifted right by 2 (j / 4) (ushl: negative = right)
        .byte   0, 0, 0, 0, -2, -2, -2, -2, -4, -4, -4, -4, -6, -6, -6, -6

        .text

// The row loop around \step, which consumes one weight block at x0 and its Q8A values at x6, x7,
// x8; \shift = log2(values per weight block).
.macro  ROWS name, shift, step
        cbz     x4, .L\name\()_done
        lsl     x10, x3, #\shift                // n
        add     x11, x1, x10                    // plane 2
.L\name\()_row:
        movi    v0.16b, #0
        movi    v1.16b, #0
        movi    v7.16b, #0
        mov     x6, x1
        mov     x7, x11
        mov     x8, x2
        mov     x9, x3
        cbz     x9, .L\name\()_sum
.L\name\()_block:
        \step
        subs    x9, x9, #1
        b.ne    .L\name\()_block
.L\name\()_sum:
        fadd    v0.4s, v0.4s, v1.4s
        fadd    v0.4s, v0.4s, v7.4s
        HSUM_V0
        str     s0, [x5], #4
        subs    x4, x4, #1
        b.ne    .L\name\()_row
.L\name\()_done:
        ret
.endm

// ---- legacy 32-value blocks: one weight block per Q8A block --------------------------------------

// v0 += (d_w e) * i32 lanes of sum lv (256 q1 + q2) for the Q8A block at x6, x7, x8 (all advance),
// levels in v17 / v18 (values 0..16 / 16..32), d_w as f16 in h16; leaves s in s24.
// Clobbers v16, v19-v25. No overflow: |lane| <= 8 * 128 * 127 * 256 + 8 * 128 * 127 < 2^31.
.macro  LEGACY_IDOT
        ldp     q19, q20, [x6], #32             // q1
        ldp     q21, q22, [x7], #32             // q2
        ldp     s23, s24, [x8], #8              // e, s
        movi    v25.4s, #0
        sdot    v25.4s, v17.16b, v19.16b        // lane i: 8 products lv q1
        sdot    v25.4s, v18.16b, v20.16b
        shl     v25.4s, v25.4s, #8              // 256 lv q1
        sdot    v25.4s, v17.16b, v21.16b        // + lv q2
        sdot    v25.4s, v18.16b, v22.16b
        fcvt    s16, h16
        fmul    s23, s16, s23                   // d_w e
        scvtf   v25.4s, v25.4s
        fmla    v0.4s, v25.4s, v23.s[0]
.endm

// Q8_0 (34 B: d | qs[32] i8): levels as they are.
.macro  STEP_Q8_0
        ldr     h16, [x0]
        ldur    q17, [x0, #2]
        ldur    q18, [x0, #18]
        add     x0, x0, #34
        LEGACY_IDOT
.endm

// Q4_0 (18 B: d | qs[16]): lv[j] = lo(qs[j]) - 8, lv[j + 16] = hi(qs[j]) - 8.
.macro  STEP_Q4_0
        ldr     h16, [x0]
        ldur    q17, [x0, #2]
        add     x0, x0, #18
        ushr    v18.16b, v17.16b, #4
        and     v17.16b, v17.16b, v31.16b
        sub     v17.16b, v17.16b, v30.16b
        sub     v18.16b, v18.16b, v30.16b
        LEGACY_IDOT
.endm

// Q4_1 (20 B: d | m | qs[16]): levels 0..15, plus m s.
.macro  STEP_Q4_1
        ldr     h16, [x0]
        ldr     h26, [x0, #2]
        ldur    q17, [x0, #4]
        add     x0, x0, #20
        ushr    v18.16b, v17.16b, #4
        and     v17.16b, v17.16b, v31.16b
        LEGACY_IDOT
        fcvt    s26, h26
        fmadd   s7, s26, s24, s7                // v7[0] += m s (the other lanes stay 0)
.endm

// Q5_0 (22 B: d | qh u32 | qs[16]): lv[j] = lo(qs[j]) | bit j of qh << 4, minus 16, i.e.
// lo + (bit set ? 0 : -16); the same with hi and bit j + 16. The bits: byte j / 8 of qh spread to
// byte j (tbl), tested against bit j % 8 (cmtst), then 0xF0 where clear (bic).
.macro  STEP_Q5_0
        ldr     h16, [x0]
        ldr     s26, [x0, #2]
        ldur    q17, [x0, #6]
        add     x0, x0, #22
        tbl     v27.16b, {v26.16b}, v2.16b
        tbl     v26.16b, {v26.16b}, v3.16b
        cmtst   v27.16b, v27.16b, v4.16b        // 0xFF where bit j set
        cmtst   v26.16b, v26.16b, v4.16b        // ... bit j + 16
        bic     v27.16b, v29.16b, v27.16b       // -16 where clear, else 0
        bic     v26.16b, v29.16b, v26.16b
        ushr    v18.16b, v17.16b, #4
        and     v17.16b, v17.16b, v31.16b
        add     v17.16b, v17.16b, v27.16b
        add     v18.16b, v18.16b, v26.16b
        LEGACY_IDOT
.endm

FUNC lanner_dot_q8_0_q8a_dotprod
        ROWS    q8_0, 5, STEP_Q8_0
ENDFUNC lanner_dot_q8_0_q8a_dotprod

FUNC lanner_dot_q4_0_q8a_dotprod
        movi    v31.16b, #0x0F
        movi    v30.16b, #8
        ROWS    q4_0, 5, STEP_Q4_0
ENDFUNC lanner_dot_q4_0_q8a_dotprod

FUNC lanner_dot_q4_1_q8a_dotprod
        movi    v31.16b, #0x0F
        ROWS    q4_1, 5, STEP_Q4_1
ENDFUNC lanner_dot_q4_1_q8a_dotprod

FUNC lanner_dot_q5_0_q8a_dotprod
        movi    v31.16b, #0x0F
        movi    v29.16b, #0xF0
        adrp    x12, .Lq5_tables
        add     x12, x12, :lo12:.Lq5_tables
        ld1     {v2.16b, v3.16b, v4.16b}, [x12]
        ROWS    q5_0, 5, STEP_Q5_0
ENDFUNC lanner_dot_q5_0_q8a_dotprod

// Q5_1 (24 B: d | m | qh u32 | qs[16]): lv[j] = lo(qs[j]) | bit j of qh << 4 (0..31), the same
// with hi and bit j + 16, plus m s. The bits as Q5_0's, then 0x10 where set (and).
.macro  STEP_Q5_1
        ldr     h16, [x0]
        ldr     h5, [x0, #2]
        ldr     s26, [x0, #4]
        ldur    q17, [x0, #8]
        add     x0, x0, #24
        tbl     v27.16b, {v26.16b}, v2.16b
        tbl     v26.16b, {v26.16b}, v3.16b
        cmtst   v27.16b, v27.16b, v4.16b        // 0xFF where bit j set
        cmtst   v26.16b, v26.16b, v4.16b        // ... bit j + 16
        and     v27.16b, v27.16b, v29.16b       // 16 where set, else 0
        and     v26.16b, v26.16b, v29.16b
        ushr    v18.16b, v17.16b, #4
        and     v17.16b, v17.16b, v31.16b
        orr     v17.16b, v17.16b, v27.16b
        orr     v18.16b, v18.16b, v26.16b
        LEGACY_IDOT
        fcvt    s5, h5
        fmadd   s7, s5, s24, s7                 // v7[0] += m s (the other lanes stay 0)
.endm

FUNC lanner_dot_q5_1_q8a_dotprod
        movi    v31.16b, #0x0F
        movi    v29.16b, #0x10
        adrp    x12, .Lq5_tables
        add     x12, x12, :lo12:.Lq5_tables
        ld1     {v2.16b, v3.16b, v4.16b}, [x12]
        ROWS    q5_1, 5, STEP_Q5_1
ENDFUNC lanner_dot_q5_1_q8a_dotprod

// ---- Q4_K (144 B: d | dmin | scales[12] | qs[128]) ------------------------------------------------
// Per super-block: the 8 scales and mins unpacked with tbl, then S_j = (d sc_j) e_j in v22 / v23
// (blocks 0..4 / 4..8) and v7 -= (dmin m_j) s_j. Chunk c (32 bytes of qs) holds block 2c in its
// low nibbles and block 2c + 1 in its high nibbles. Constants: v27-v30 the tables, v31 0x0F.

// \acc += S * i32 lanes of sum lv (256 q1 + q2), levels \lo / \hi (values 0..16 / 16..32), S in
// lane \lane of \sc. Clobbers v2-v5, v20.
.macro  K_IDOT lo, hi, sc, lane, acc
        ldp     q2, q3, [x6], #32               // q1
        ldp     q4, q5, [x7], #32               // q2
        movi    v20.4s, #0
        sdot    v20.4s, \lo\().16b, v2.16b
        sdot    v20.4s, \hi\().16b, v3.16b
        shl     v20.4s, v20.4s, #8
        sdot    v20.4s, \lo\().16b, v4.16b
        sdot    v20.4s, \hi\().16b, v5.16b
        scvtf   v20.4s, v20.4s
        fmla    \acc\().4s, v20.4s, \sc\().s[\lane]
.endm

// Chunk c at x0 (advances 32): blocks 2c and 2c + 1, their S in lanes \l0 / \l1 of \sc.
.macro  K4_CHUNK sc, l0, l1
        ldp     q16, q17, [x0], #32
        ushr    v18.16b, v16.16b, #4
        ushr    v19.16b, v17.16b, #4
        and     v16.16b, v16.16b, v31.16b
        and     v17.16b, v17.16b, v31.16b
        K_IDOT  v16, v17, \sc, \l0, v0
        K_IDOT  v18, v19, \sc, \l1, v1
.endm

// The scales of the Q4_K / Q5_K super-block at x0 (not advanced): S_j in v22 / v23, v7 -=
// (dmin m_j) s_j, x8 advanced 8 blocks. Clobbers v2-v5, v16-v21, v24, v25.
.macro  K4_SCALES
        ldr     h16, [x0]
        ldr     h17, [x0, #2]
        ldur    q18, [x0, #4]                   // the 12 scale bytes (and 4 more, unused)
        fcvt    s16, h16                        // d
        fcvt    s17, h17                        // dmin
        tbl     v19.16b, {v18.16b}, v27.16b
        and     v19.16b, v19.16b, v28.16b
        tbl     v20.16b, {v18.16b}, v29.16b
        usra    v19.16b, v20.16b, #4
        tbl     v20.16b, {v18.16b}, v30.16b
        ushr    v20.16b, v20.16b, #6
        shl     v20.16b, v20.16b, #4
        orr     v19.16b, v19.16b, v20.16b       // sc_0..8 | m_0..8
        uxtl    v20.8h, v19.8b
        uxtl2   v21.8h, v19.16b
        uxtl    v22.4s, v20.4h
        uxtl2   v23.4s, v20.8h
        uxtl    v24.4s, v21.4h
        uxtl2   v25.4s, v21.8h
        ucvtf   v22.4s, v22.4s                  // sc_0..4
        ucvtf   v23.4s, v23.4s                  // sc_4..8
        ucvtf   v24.4s, v24.4s                  // m_0..4
        ucvtf   v25.4s, v25.4s                  // m_4..8
        ld2     {v2.4s, v3.4s}, [x8], #32       // e_0..4, s_0..4
        ld2     {v4.4s, v5.4s}, [x8], #32       // e_4..8, s_4..8
        fmul    v22.4s, v22.4s, v16.s[0]        // d sc_j
        fmul    v23.4s, v23.4s, v16.s[0]
        fmul    v22.4s, v22.4s, v2.4s           // S_j = (d sc_j) e_j
        fmul    v23.4s, v23.4s, v4.4s
        fmul    v24.4s, v24.4s, v17.s[0]        // dmin m_j
        fmul    v25.4s, v25.4s, v17.s[0]
        fmls    v7.4s, v24.4s, v3.4s            // -= (dmin m_j) s_j
        fmls    v7.4s, v25.4s, v5.4s
.endm

.macro  STEP_Q4_K
        K4_SCALES
        add     x0, x0, #16
        K4_CHUNK v22, 0, 1
        K4_CHUNK v22, 2, 3
        K4_CHUNK v23, 0, 1
        K4_CHUNK v23, 2, 3
.endm

FUNC lanner_dot_q4_k_q8a_dotprod
        adrp    x12, .Lk4_tables
        add     x12, x12, :lo12:.Lk4_tables
        ld1     {v27.16b, v28.16b, v29.16b, v30.16b}, [x12]
        movi    v31.16b, #0x0F
        ROWS    q4_k, 8, STEP_Q4_K
ENDFUNC lanner_dot_q4_k_q8a_dotprod

// ---- Q5_K (176 B: d | dmin | scales[12] | qh[32] | qs[128]) ---------------------------------------
// As Q4_K, with fifth bits: bit 2c of qh[l] for element 64c + l (the low nibble of qs[32c + l]),
// bit 2c + 1 for element 64c + 32 + l (its high nibble). qh in v24 / v25 (l 0..16 / 16..32),
// shifted right by 2 after each chunk. Constants: v26 0x10, v27-v30 the Q4_K tables, v31 0x0F.

// Chunk c at x0 (advances 32), its qh bits at bits 0 / 1 of v24 / v25. Clobbers v6, v21.
.macro  K5_CHUNK sc, l0, l1
        ldp     q16, q17, [x0], #32
        ushr    v18.16b, v16.16b, #4
        ushr    v19.16b, v17.16b, #4
        and     v16.16b, v16.16b, v31.16b
        and     v17.16b, v17.16b, v31.16b
        shl     v21.16b, v24.16b, #4            // bit 0 -> 16
        shl     v6.16b, v25.16b, #4
        and     v21.16b, v21.16b, v26.16b
        and     v6.16b, v6.16b, v26.16b
        orr     v16.16b, v16.16b, v21.16b
        orr     v17.16b, v17.16b, v6.16b
        shl     v21.16b, v24.16b, #3            // bit 1 -> 16
        shl     v6.16b, v25.16b, #3
        and     v21.16b, v21.16b, v26.16b
        and     v6.16b, v6.16b, v26.16b
        orr     v18.16b, v18.16b, v21.16b
        orr     v19.16b, v19.16b, v6.16b
        ushr    v24.16b, v24.16b, #2            // the next chunk's bits
        ushr    v25.16b, v25.16b, #2
        K_IDOT  v16, v17, \sc, \l0, v0
        K_IDOT  v18, v19, \sc, \l1, v1
.endm

.macro  STEP_Q5_K
        K4_SCALES
        ldp     q24, q25, [x0, #16]             // qh
        add     x0, x0, #48
        K5_CHUNK v22, 0, 1
        K5_CHUNK v22, 2, 3
        K5_CHUNK v23, 0, 1
        K5_CHUNK v23, 2, 3
.endm

FUNC lanner_dot_q5_k_q8a_dotprod
        adrp    x12, .Lk4_tables
        add     x12, x12, :lo12:.Lk4_tables
        ld1     {v27.16b, v28.16b, v29.16b, v30.16b}, [x12]
        movi    v31.16b, #0x0F
        movi    v26.16b, #0x10
        ROWS    q5_k, 8, STEP_Q5_K
ENDFUNC lanner_dot_q5_k_q8a_dotprod

// ---- Q6_K (210 B: ql[128] | qh[64] | scales[16] i8 | d) -------------------------------------------
// Half h (128 values, Q8A blocks 4h..4h+4) from ql[64h..64h+64] and qh[32h..32h+32]; block 4h + k
// has levels L_k - 32 with, for l in 0..32:
//   L_0 = ql[l] & 15 | (qh[l] & 3) << 4          L_2 = ql[l] >> 4 | (qh[l] >> 4 & 3) << 4
//   L_1 = ql[l + 32] & 15 | (qh[l] >> 2 & 3) << 4   L_3 = ql[l + 32] >> 4 | (qh[l] >> 6) << 4
// and its two 16-value halves the i8 scales sc[2 j], sc[2 j + 1] (j = 4h + k): per half the i32
// lanes of sum lv (256 q1 + q2) times its scale (mul / mla by element, |lane| < 2^30), then as
// f32 times d e_j. Constants: v29 bytes 32, v30 0x30, v31 0x0F.

// \acc += (d e in lane \k of v2) * (sc[\l0] D_lo + sc[\l1] D_hi), levels in v23 / v24, i32
// scales in \sc. Clobbers v3, v6, v25-v28.
.macro  Q6_IDOT sc, l0, l1, k, acc
        ldp     q3, q6, [x6], #32               // q1
        ldp     q27, q28, [x7], #32             // q2
        movi    v25.4s, #0
        movi    v26.4s, #0
        sdot    v25.4s, v23.16b, v3.16b         // values 0..16
        sdot    v26.4s, v24.16b, v6.16b         // values 16..32
        shl     v25.4s, v25.4s, #8
        shl     v26.4s, v26.4s, #8
        sdot    v25.4s, v23.16b, v27.16b
        sdot    v26.4s, v24.16b, v28.16b
        mul     v25.4s, v25.4s, \sc\().s[\l0]
        mla     v25.4s, v26.4s, \sc\().s[\l1]
        scvtf   v25.4s, v25.4s
        fmla    \acc\().4s, v25.4s, v2.s[\k]
.endm

.macro  Q6_HALF h
        ld2     {v2.4s, v3.4s}, [x8], #32       // e of blocks 4h..4h+4 (s unused)
        fmul    v2.4s, v2.4s, v16.s[0]          // d e_j
        ldr     d6, [x0, #192 + 8 * \h]         // scales of the 8 sub-blocks
        sxtl    v6.8h, v6.8b
        sxtl    v4.4s, v6.4h
        sxtl2   v5.4s, v6.8h
        ldp     q17, q18, [x0, #64 * \h]        // ql[0..32]
        ldp     q19, q20, [x0, #64 * \h + 32]   // ql[32..64]
        ldp     q21, q22, [x0, #128 + 32 * \h]  // qh
        shl     v23.16b, v21.16b, #4            // k = 0
        shl     v24.16b, v22.16b, #4
        and     v23.16b, v23.16b, v30.16b
        and     v24.16b, v24.16b, v30.16b
        bit     v23.16b, v17.16b, v31.16b
        bit     v24.16b, v18.16b, v31.16b
        sub     v23.16b, v23.16b, v29.16b
        sub     v24.16b, v24.16b, v29.16b
        Q6_IDOT v4, 0, 1, 0, v0
        shl     v23.16b, v21.16b, #2            // k = 1
        shl     v24.16b, v22.16b, #2
        and     v23.16b, v23.16b, v30.16b
        and     v24.16b, v24.16b, v30.16b
        bit     v23.16b, v19.16b, v31.16b
        bit     v24.16b, v20.16b, v31.16b
        sub     v23.16b, v23.16b, v29.16b
        sub     v24.16b, v24.16b, v29.16b
        Q6_IDOT v4, 2, 3, 1, v1
        and     v23.16b, v21.16b, v30.16b       // k = 2
        and     v24.16b, v22.16b, v30.16b
        usra    v23.16b, v17.16b, #4
        usra    v24.16b, v18.16b, #4
        sub     v23.16b, v23.16b, v29.16b
        sub     v24.16b, v24.16b, v29.16b
        Q6_IDOT v5, 0, 1, 2, v0
        ushr    v23.16b, v21.16b, #2            // k = 3
        ushr    v24.16b, v22.16b, #2
        and     v23.16b, v23.16b, v30.16b
        and     v24.16b, v24.16b, v30.16b
        usra    v23.16b, v19.16b, #4
        usra    v24.16b, v20.16b, #4
        sub     v23.16b, v23.16b, v29.16b
        sub     v24.16b, v24.16b, v29.16b
        Q6_IDOT v5, 2, 3, 3, v1
.endm

.macro  STEP_Q6_K
        ldr     h16, [x0, #208]
        fcvt    s16, h16                        // d
        Q6_HALF 0
        Q6_HALF 1
        add     x0, x0, #210
.endm

FUNC lanner_dot_q6_k_q8a_dotprod
        movi    v29.16b, #32
        movi    v30.16b, #0x30
        movi    v31.16b, #0x0F
        ROWS    q6_k, 8, STEP_Q6_K
ENDFUNC lanner_dot_q6_k_q8a_dotprod

// ---- Q2_K (84 B: scales[16] | qs[64] | d | dmin) -------------------------------------------------
// Q8A block j = 4h + s (values 32j..32j+32): levels (qs[32h + l] >> 2s) & 3, l in 0..32; its two
// 16-value halves take scale / min bytes sc[2j], sc[2j + 1] (low nibble scale, high nibble min).
// The levels times their scale fit a byte (<= 45), so per block
//   I = sdot(sc lv, 256 q1 + q2)   = sc_0 i_0 + sc_1 i_1       (the two halves in one sdot chain)
//   M = sdot(m, 256 q1 + q2)       = m_0 A_0 + m_1 A_1         (A = sums of activation integers)
// exact in i32 lanes, then v0 / v1 += (d e_j) I, v7 -= (dmin e_j) M.
// Registers per super-block: v2 / v4 = d e_j, v3 / v5 = dmin e_j (blocks 0..4 / 4..8), v20 / v21
// = the 16 scales / mins, v17 / v18 = qs of the half; constant v16 bytes 3.

.macro  Q2_BLOCK s, j, de, me, k, acc
.if \s == 0
        and     v24.16b, v17.16b, v16.16b
        and     v25.16b, v18.16b, v16.16b
.else
        ushr    v24.16b, v17.16b, #2 * \s
        ushr    v25.16b, v18.16b, #2 * \s
        and     v24.16b, v24.16b, v16.16b
        and     v25.16b, v25.16b, v16.16b
.endif
        dup     v26.16b, v20.b[2 * \j]          // sc of values 0..16, 16..32
        dup     v27.16b, v20.b[2 * \j + 1]
        mul     v24.16b, v24.16b, v26.16b       // sc lv
        mul     v25.16b, v25.16b, v27.16b
        dup     v28.16b, v21.b[2 * \j]          // m
        dup     v29.16b, v21.b[2 * \j + 1]
        ldp     q6, q19, [x6], #32              // q1
        ldp     q22, q23, [x7], #32             // q2
        movi    v30.4s, #0
        movi    v31.4s, #0
        sdot    v30.4s, v24.16b, v6.16b
        sdot    v30.4s, v25.16b, v19.16b
        sdot    v31.4s, v28.16b, v6.16b
        sdot    v31.4s, v29.16b, v19.16b
        shl     v30.4s, v30.4s, #8
        shl     v31.4s, v31.4s, #8
        sdot    v30.4s, v24.16b, v22.16b
        sdot    v30.4s, v25.16b, v23.16b
        sdot    v31.4s, v28.16b, v22.16b
        sdot    v31.4s, v29.16b, v23.16b
        scvtf   v30.4s, v30.4s
        scvtf   v31.4s, v31.4s
        fmla    \acc\().4s, v30.4s, \de\().s[\k]
        fmls    v7.4s, v31.4s, \me\().s[\k]
.endm

.macro  STEP_Q2_K
        ldr     h22, [x0, #80]
        ldr     h23, [x0, #82]
        fcvt    s22, h22                        // d
        fcvt    s23, h23                        // dmin
        ld2     {v2.4s, v3.4s}, [x8], #32       // e_0..4 (s unused)
        ld2     {v4.4s, v5.4s}, [x8], #32       // e_4..8
        fmul    v3.4s, v2.4s, v23.s[0]          // dmin e_j
        fmul    v5.4s, v4.4s, v23.s[0]
        fmul    v2.4s, v2.4s, v22.s[0]          // d e_j
        fmul    v4.4s, v4.4s, v22.s[0]
        ldr     q19, [x0]
        ushr    v21.16b, v19.16b, #4            // mins
        movi    v20.16b, #0x0F
        and     v20.16b, v19.16b, v20.16b       // scales
        ldp     q17, q18, [x0, #16]             // h = 0
        Q2_BLOCK 0, 0, v2, v3, 0, v0
        Q2_BLOCK 1, 1, v2, v3, 1, v1
        Q2_BLOCK 2, 2, v2, v3, 2, v0
        Q2_BLOCK 3, 3, v2, v3, 3, v1
        ldp     q17, q18, [x0, #48]             // h = 1
        Q2_BLOCK 0, 4, v4, v5, 0, v0
        Q2_BLOCK 1, 5, v4, v5, 1, v1
        Q2_BLOCK 2, 6, v4, v5, 2, v0
        Q2_BLOCK 3, 7, v4, v5, 3, v1
        add     x0, x0, #84
.endm

FUNC lanner_dot_q2_k_q8a_dotprod
        movi    v16.16b, #3
        ROWS    q2_k, 8, STEP_Q2_K
ENDFUNC lanner_dot_q2_k_q8a_dotprod

// ---- Q3_K (110 B: hmask[32] | qs[64] | scales[12] | d) -------------------------------------------
// Q8A block j = 4h + s: levels (qs[32h + l] >> 2s) & 3, minus 4 unless bit 4h + s of hmask[l] is
// set (-4..3); its halves take the signed 6-bit scales sc[2j], sc[2j + 1] (q3_k_scales):
//   sc[j] = (j < 8 ? s[j] & 15 : s[j - 8] >> 4) | ((s[8 + j % 4] >> 2 (j / 4)) & 3) << 4, minus 32
// Levels times scales can reach 128, past a byte: as Q6_K, per half the i32 lanes of
// sum lv (256 q1 + q2) times its scale (mul / mla by element, |lane| < 2^25), then as f32 times
// d e_j. Registers per super-block: v2 / v4 = d e_j (blocks 0..4 / 4..8), the 16 scales as i32 in
// v3, v5, v6, v21 (4 each), v19 / v20 = hmask, v17 / v18 = qs of the half. Constants: v30 bytes 3,
// v31 bytes 4, x12 = .Lq3_shifts.

.macro  Q3_BLOCK h, s, sc, l0, l1, de, k, acc
.if \s == 0
        and     v22.16b, v17.16b, v30.16b
        and     v23.16b, v18.16b, v30.16b
.else
        ushr    v22.16b, v17.16b, #2 * \s
        ushr    v23.16b, v18.16b, #2 * \s
        and     v22.16b, v22.16b, v30.16b
        and     v23.16b, v23.16b, v30.16b
.endif
        movi    v16.16b, #(1 << (4 * \h + \s))
        cmtst   v24.16b, v19.16b, v16.16b       // 0xFF where the high bit is set
        cmtst   v25.16b, v20.16b, v16.16b
        bic     v24.16b, v31.16b, v24.16b       // 4 where clear, else 0
        bic     v25.16b, v31.16b, v25.16b
        sub     v22.16b, v22.16b, v24.16b       // lv, values 0..16
        sub     v23.16b, v23.16b, v25.16b       // values 16..32
        ldp     q24, q25, [x6], #32             // q1
        ldp     q26, q27, [x7], #32             // q2
        movi    v28.4s, #0
        movi    v29.4s, #0
        sdot    v28.4s, v22.16b, v24.16b
        sdot    v29.4s, v23.16b, v25.16b
        shl     v28.4s, v28.4s, #8
        shl     v29.4s, v29.4s, #8
        sdot    v28.4s, v22.16b, v26.16b
        sdot    v29.4s, v23.16b, v27.16b
        mul     v28.4s, v28.4s, \sc\().s[\l0]
        mla     v28.4s, v29.4s, \sc\().s[\l1]
        scvtf   v28.4s, v28.4s
        fmla    \acc\().4s, v28.4s, \de\().s[\k]
.endm

.macro  STEP_Q3_K
        ldr     h16, [x0, #108]
        fcvt    s16, h16                        // d
        ld2     {v2.4s, v3.4s}, [x8], #32       // e_0..4 (s unused)
        ld2     {v4.4s, v5.4s}, [x8], #32       // e_4..8
        fmul    v2.4s, v2.4s, v16.s[0]          // d e_j
        fmul    v4.4s, v4.4s, v16.s[0]
        ldr     d22, [x0, #96]                  // s[0..8]
        ldr     s23, [x0, #104]                 // s[8..12] (the block ends 2 bytes later)
        ushr    v24.8b, v22.8b, #4              // low 4 bits of sc[8..16]
        movi    v25.16b, #0x0F
        and     v22.16b, v22.16b, v25.16b       // ... of sc[0..8]
        mov     v22.d[1], v24.d[0]
        dup     v23.4s, v23.s[0]                // byte j: s[8 + j % 4]
        ldr     q24, [x12]
        ushl    v23.16b, v23.16b, v24.16b       // >> 2 (j / 4)
        and     v23.16b, v23.16b, v30.16b
        shl     v23.16b, v23.16b, #4
        orr     v22.16b, v22.16b, v23.16b
        movi    v25.16b, #32
        sub     v22.16b, v22.16b, v25.16b       // sc[0..16], signed
        sxtl    v23.8h, v22.8b
        sxtl2   v22.8h, v22.16b
        sxtl    v3.4s, v23.4h                   // sc[0..4]
        sxtl2   v5.4s, v23.8h                   // sc[4..8]
        sxtl    v6.4s, v22.4h                   // sc[8..12]
        sxtl2   v21.4s, v22.8h                  // sc[12..16]
        ldp     q19, q20, [x0]                  // hmask
        ldp     q17, q18, [x0, #32]             // h = 0
        Q3_BLOCK 0, 0, v3, 0, 1, v2, 0, v0
        Q3_BLOCK 0, 1, v3, 2, 3, v2, 1, v1
        Q3_BLOCK 0, 2, v5, 0, 1, v2, 2, v0
        Q3_BLOCK 0, 3, v5, 2, 3, v2, 3, v1
        ldp     q17, q18, [x0, #64]             // h = 1
        Q3_BLOCK 1, 0, v6, 0, 1, v4, 0, v0
        Q3_BLOCK 1, 1, v6, 2, 3, v4, 1, v1
        Q3_BLOCK 1, 2, v21, 0, 1, v4, 2, v0
        Q3_BLOCK 1, 3, v21, 2, 3, v4, 3, v1
        add     x0, x0, #110
.endm

FUNC lanner_dot_q3_k_q8a_dotprod
        adrp    x12, .Lq3_shifts
        add     x12, x12, :lo12:.Lq3_shifts
        movi    v30.16b, #3
        movi    v31.16b, #4
        ROWS    q3_k, 8, STEP_Q3_K
ENDFUNC lanner_dot_q3_k_q8a_dotprod

        .section .note.GNU-stack,"",%progbits
