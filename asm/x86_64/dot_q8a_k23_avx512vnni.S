// Dot products of Q2_K / Q3_K weight rows with one Q8A activation row, AVX-512 VNNI tier (decode:
// one token). Same prototypes, row loop and conventions as dot_q8a_avx512vnni.S (read that file
// first):
//   extern "C" fn lanner_dot_T_q8a_avx512vnni(w: *const u8, qs: *const i8, ds: *const f32,
//                                              nblocks: usize, nrows: usize, out: *mut f32);
// T in q2_k, q3_k; nblocks = 256-value super-blocks per row. Scalar reference, per row:
// crate::quant::q8a::dot(GgmlType::T, w_row, a).
//
// Both types have 16 sub-blocks of 16 values per super-block (two per Q8A block), and a term
// per sub-block j that multiplies the sum of its 16 activations A_j = sum (256 q1 + q2):
//   Q2_K: x = d sc_j q - dmin m_j            dot = sum_j (d sc_j e) sum(q a) - sum_j (dmin m_j) e A_j
//   Q3_K: x = d sc_j (u - 4), u in 0..8      dot = sum_j (d sc_j e) sum(u a) - 4 sum_j (d sc_j) e A_j
// (e = the Q8A block's scale). A_j depends on the activations only, so the kernels compute
// P_j = e A_j once per call for the whole row (exact integers, one rounding), on the stack, and
// each super-block of each row adds 16 products (min or offset) times P from there; the level
// part is one vpdpbusd per plane per 64 values, its i32 lanes (4 values of one sub-block each)
// scaled by d sc_j e as floats (as the Q6_K kernel does).
//
// Registers: rdi = w, rsi = qs, rdx = ds, rcx = super-blocks left, r10 = P of the super-block;
// r12 = nblocks, r13 / r14 = qs / ds of the row start, r15 = n, rbx = rows left, rbp = out;
// rsp = P (nblocks x 16 floats, 64-aligned; the caller's rsp is stored after it): n / 4 bytes
// of stack, 1.2 KiB for a 4864-value row, its pages touched from the top down.
// zmm0, zmm15 = level accumulators, zmm7 = min / offset accumulator, zmm1 = d sc_j e (16 floats);
// zmm16..19 spread 4 sub-block scales over 4 lanes each, zmm20 spreads e over sub-blocks,
// zmm24 = bytes 3, zmm28 = bytes 0x0F, zmm29 = word shifts [0 x 16, 2 x 16].
// No alignment required; nothing is read past the row.

#include "macros.inc"
        .intel_syntax noprefix

#define PF 4096

        .section .rodata
        .p2align 6
.Lk_g0:                         // 64 values = 4 sub-blocks, each scale over 4 i32 lanes
        .long 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3
.Lk_g1:
        .long 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7
.Lk_g2:
        .long 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11
.Lk_g3:
        .long 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15
.Lk_dx:                         // sub-block j takes e of Q8A block j / 2
        .long 0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14
.Lk_sums:                       // vpermd: sub-block sums from transposed order to j = 0..15
        .long 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15
.Lk_shift:                      // vpsrlw counts: 256-bit halves [>> 0, >> 2]
        .rept 16
        .short 0
        .endr
        .rept 16
        .short 2
        .endr
.Lq3_hbits:                     // Q3_K: hmask bits of the 4 groups of 64 values (two per half)
        .irp b, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
        .rept 32
        .byte \b
        .endr
        .endr
.Lq3_u2:                        // Q3_K: vpsrlvd counts for the scales' high bits
        .long 0, 2, 4, 6

        .text

.macro  PREFETCH bytes
        .irp i, 0, 1
        .if 64*\i < \bytes
        prefetcht0 [rdi + PF + 64*\i]
        .endif
        .endr
.endm

// Save the callee-saved registers, the arguments to their registers, the P array on the stack,
// constants; then P_j = e A_j of the whole activation row (needs zmm20).
.macro  PROLOGUE
        Q8A_ENTER 8
        mov     rax, rsp
        mov     r8, rcx
        shl     r8, 6                           // 64 bytes of P per super-block
        sub     rsp, r8
        sub     rsp, 64
        and     rsp, -64
        mov     r9, rax                         // touch each page from the top down (the stack
1:      sub     r9, 4096                        // grows a page at a time)
        cmp     r9, rsp
        jb      2f
        or      dword ptr [r9], 0
        jmp     1b
2:      mov     qword ptr [rsp + r8], rax       // the caller's rsp, after P
        mov     eax, 0x0F
        vpbroadcastb zmm28, eax
        mov     eax, 3
        vpbroadcastb zmm24, eax
        vmovdqu64 zmm29, zmmword ptr [rip + .Lk_shift]
        vmovdqu64 zmm16, zmmword ptr [rip + .Lk_g0]
        vmovdqu64 zmm17, zmmword ptr [rip + .Lk_g1]
        vmovdqu64 zmm18, zmmword ptr [rip + .Lk_g2]
        vmovdqu64 zmm19, zmmword ptr [rip + .Lk_g3]
        vmovdqu64 zmm20, zmmword ptr [rip + .Lk_dx]
        test    rbx, rbx
        jz      4f
        test    r12, r12
        jz      4f
        // P: per 64 activations, zmm10+k = 256 vpdpbusd(1, q1) + vpdpbusd(1, q2): 16 sums of 4;
        // 128-bit lane L of group k is sub-block 4k + L. Sum each 128-bit lane of the four
        // groups (two unpack-and-add rounds: transposed order), reorder, times e.
        mov     eax, 1
        vpbroadcastb zmm2, eax
        vmovdqu64 zmm3, zmmword ptr [rip + .Lk_sums]
        mov     r8, r12
        mov     r10, rsp
3:      .irp k, 0, 1, 2, 3
        vpxord  zmm1\k, zmm1\k, zmm1\k
        .endr
        .irp k, 0, 1, 2, 3
        vpdpbusd zmm1\k, zmm2, zmmword ptr [rsi + 64*\k]
        .endr
        .irp k, 0, 1, 2, 3
        vpslld  zmm1\k, zmm1\k, 8
        vpdpbusd zmm1\k, zmm2, zmmword ptr [rsi + r15 + 64*\k]
        .endr
        vpunpckldq zmm4, zmm10, zmm11
        vpunpckhdq zmm5, zmm10, zmm11
        vpaddd  zmm4, zmm4, zmm5                // per 128-bit lane [a0 + a2, b0 + b2, a1 + a3, b1 + b3]
        vpunpckldq zmm5, zmm12, zmm13
        vpunpckhdq zmm6, zmm12, zmm13
        vpaddd  zmm5, zmm5, zmm6                // [c0 + c2, d0 + d2, c1 + c3, d1 + d3]
        vpunpcklqdq zmm6, zmm4, zmm5
        vpunpckhqdq zmm4, zmm4, zmm5
        vpaddd  zmm4, zmm4, zmm6                // [sum a, sum b, sum c, sum d]: A_{4k + L} at 4 L + k
        vpermd  zmm4, zmm3, zmm4                // A_0..15
        vcvtdq2ps zmm4, zmm4                    // exact: |A| <= 16 * 32639
        vpermps zmm5, zmm20, zmmword ptr [rdx]
        vmulps  zmm4, zmm4, zmm5                // P_j = e A_j
        vmovaps zmmword ptr [r10], zmm4
        add     rsi, 256
        add     rdx, 64
        add     r10, 64
        dec     r8
        jnz     3b
4:
.endm

.macro  ROW_START
        vpxord  zmm0, zmm0, zmm0
        vpxord  zmm15, zmm15, zmm15
        vpxord  zmm7, zmm7, zmm7
        mov     rsi, r13
        mov     rdx, r14
        mov     rcx, r12
        mov     r10, rsp
.endm

// out[r] = sum of the lanes of zmm0 + zmm15 + \f zmm7; next row.
.macro  ROW_END f, label
        vaddps  zmm0, zmm0, zmm15
        mov     eax, \f
        vpbroadcastd zmm6, eax
        vfmadd231ps zmm0, zmm7, zmm6
        HSUM_ZMM0
        vmovss  dword ptr [rbp], xmm0
        add     rbp, 4
        dec     rbx
        jnz     \label
.endm

.macro  EPILOGUE
        mov     rax, r12
        shl     rax, 6
        mov     rsp, qword ptr [rsp + rax]
        Q8A_LEAVE
        vzeroupper
        ret
.endm

// \acc += (i32 lanes of 256 vpdpbusd(\vals, q1) + vpdpbusd(\vals, q2), 64 activations from
// group \g of the super-block) * (d sc_j e spread by \idx).
.macro  K23_DOT vals, g, acc, idx
        vpxord  zmm13, zmm13, zmm13
        vpdpbusd zmm13, \vals, zmmword ptr [rsi + 64*(\g)]
        vpslld  zmm13, zmm13, 8
        vpdpbusd zmm13, \vals, zmmword ptr [rsi + r15 + 64*(\g)]
        vcvtdq2ps zmm13, zmm13
        vpermps zmm14, \idx, zmm1
        vfmadd231ps \acc, zmm13, zmm14
.endm

// zmm8 / zmm9 = the 2-bit levels of values 0..64 / 64..128 of the half whose 32 bytes are at
// [rdi + \o]: value 32 s + l is bits 2 s, 2 s + 1 of byte l.
.macro  CRUMBS o
        vbroadcasti64x4 zmm8, ymmword ptr [rdi + \o]    // [q, q]
        vpsrlvw zmm8, zmm8, zmm29               // [q, q >> 2]
        vpsrlw  zmm9, zmm8, 4                   // [q >> 4, q >> 6]
        vpandd  zmm8, zmm8, zmm24
        vpandd  zmm9, zmm9, zmm24
.endm


// ---- Q2_K (84 B: scales[16] (lo 4 bits sc, hi 4 bits m) | qs[64] | d f16 | dmin f16) ----------
        .globl  lanner_dot_q2_k_q8a_avx512vnni
        .type   lanner_dot_q2_k_q8a_avx512vnni, @function
        .p2align 5
lanner_dot_q2_k_q8a_avx512vnni:
        PROLOGUE
        test    rbx, rbx
        jz      .Lq2k_done
.Lq2k_row:
        ROW_START
        test    rcx, rcx
        jz      .Lq2k_end
.Lq2k_loop:
        PREFETCH 84
        vpmovzxbd zmm1, xmmword ptr [rdi]       // scale bytes
        vpsrld  zmm2, zmm1, 4                   // m_j
        vpandd  zmm1, zmm1, zmm28               // sc_j
        vcvtdq2ps zmm1, zmm1
        vcvtdq2ps zmm2, zmm2
        vmovd   xmm3, dword ptr [rdi + 80]      // f16 [d, dmin]
        vcvtph2ps xmm3, xmm3
        vbroadcastss zmm4, xmm3                 // d
        vmovshdup xmm3, xmm3
        vbroadcastss zmm3, xmm3                 // dmin
        vmulps  zmm2, zmm2, zmm3
        vfmadd231ps zmm7, zmm2, zmmword ptr [r10]       // += (dmin m_j) e A_j
        vpermps zmm5, zmm20, zmmword ptr [rdx]  // e of each sub-block
        vmulps  zmm1, zmm1, zmm4
        vmulps  zmm1, zmm1, zmm5                // d sc_j e
        CRUMBS  16
        K23_DOT zmm8, 0, zmm0, zmm16
        K23_DOT zmm9, 1, zmm15, zmm17
        CRUMBS  48
        K23_DOT zmm8, 2, zmm0, zmm18
        K23_DOT zmm9, 3, zmm15, zmm19
        add     rdi, 84
        add     rsi, 256
        add     rdx, 64
        add     r10, 64
        dec     rcx
        jnz     .Lq2k_loop
.Lq2k_end:
        ROW_END 0xBF800000, .Lq2k_row           // - the min terms
.Lq2k_done:
        EPILOGUE
        .size   lanner_dot_q2_k_q8a_avx512vnni, .-lanner_dot_q2_k_q8a_avx512vnni


// ---- Q3_K (110 B: hmask[32] | qs[64] | scales[12] (16 x 6-bit, -32) | d f16) -------------------
// Value 128 h + 32 s + l (l < 32): u = (bits 2 s, 2 s + 1 of qs[32 h + l]) | 4 (bit 4 h + s of
// hmask[l]); x = d sc (u - 4). The scales, with u0, u1, u2 the dwords of scales[12], per byte:
//   sc0..3 = (u0 & 15) | (u2 & 3) << 4,        sc4..7 = (u1 & 15) | (u2 >> 2 & 3) << 4,
//   sc8..11 = (u0 >> 4 & 15) | (u2 >> 4 & 3) << 4,  sc12..15 = (u1 >> 4 & 15) | (u2 >> 6) << 4
// (minus 32). Levels: the third bit by vptestmb of [hmask, hmask] against the group's bits.
// zmm10 = [hmask, hmask], zmm21 = bytes 4, zmm22..25, 30, 31: see below, zmm27 = bytes 32.
        .globl  lanner_dot_q3_k_q8a_avx512vnni
        .type   lanner_dot_q3_k_q8a_avx512vnni, @function
        .p2align 5
lanner_dot_q3_k_q8a_avx512vnni:
        PROLOGUE
        mov     eax, 4
        vpbroadcastb zmm21, eax
        mov     eax, 32
        vpbroadcastb zmm27, eax
        vmovdqu32 xmm22, xmmword ptr [rip + .Lq3_u2]
        vmovdqu64 zmm23, zmmword ptr [rip + .Lq3_hbits]         // groups 0, 1
        vmovdqu64 zmm25, zmmword ptr [rip + .Lq3_hbits + 64]    // 2, 3
        vmovdqu64 zmm30, zmmword ptr [rip + .Lq3_hbits + 128]   // 4, 5
        vmovdqu64 zmm31, zmmword ptr [rip + .Lq3_hbits + 192]   // 6, 7
        test    rbx, rbx
        jz      .Lq3k_done
.Lq3k_row:
        ROW_START
        test    rcx, rcx
        jz      .Lq3k_end
.Lq3k_loop:
        PREFETCH 110
        vmovq   xmm1, qword ptr [rdi + 96]      // u0, u1
        vpsrlw  xmm2, xmm1, 4
        vpunpcklqdq xmm1, xmm1, xmm2            // [u0, u1, u0 >> 4, u1 >> 4]
        vpandd  xmm1, xmm1, xmm28               // low 4 bits of sc0..15
        vpbroadcastd xmm2, dword ptr [rdi + 104]
        vpsrlvd xmm2, xmm2, xmm22               // [u2, u2 >> 2, u2 >> 4, u2 >> 6]
        vpandd  xmm2, xmm2, xmm24
        vpsllw  xmm2, xmm2, 4                   // high 2 bits
        vpord   xmm1, xmm1, xmm2
        vpsubb  xmm1, xmm1, xmm27               // sc_j
        vpmovsxbd zmm1, xmm1
        vcvtdq2ps zmm1, zmm1
        movzx   eax, word ptr [rdi + 108]
        vmovd   xmm3, eax
        vcvtph2ps xmm3, xmm3
        vbroadcastss zmm3, xmm3                 // d
        vmulps  zmm1, zmm1, zmm3
        vfmadd231ps zmm7, zmm1, zmmword ptr [r10]       // += (d sc_j) e A_j (times -4 at the end)
        vpermps zmm5, zmm20, zmmword ptr [rdx]  // e of each sub-block
        vmulps  zmm1, zmm1, zmm5                // d sc_j e
        vbroadcasti64x4 zmm10, ymmword ptr [rdi]        // [hmask, hmask]
        CRUMBS  32
        vptestmb k1, zmm10, zmm23
        vptestmb k2, zmm10, zmm25
        vpaddb  zmm8{k1}, zmm8, zmm21           // + 4 (byte-masked)
        vpaddb  zmm9{k2}, zmm9, zmm21
        K23_DOT zmm8, 0, zmm0, zmm16
        K23_DOT zmm9, 1, zmm15, zmm17
        CRUMBS  64
        vptestmb k1, zmm10, zmm30
        vptestmb k2, zmm10, zmm31
        vpaddb  zmm8{k1}, zmm8, zmm21
        vpaddb  zmm9{k2}, zmm9, zmm21
        K23_DOT zmm8, 2, zmm0, zmm18
        K23_DOT zmm9, 3, zmm15, zmm19
        add     rdi, 110
        add     rsi, 256
        add     rdx, 64
        add     r10, 64
        dec     rcx
        jnz     .Lq3k_loop
.Lq3k_end:
        ROW_END 0xC0800000, .Lq3k_row           // - 4 the offset terms
.Lq3k_done:
        EPILOGUE
        .size   lanner_dot_q3_k_q8a_avx512vnni, .-lanner_dot_q3_k_q8a_avx512vnni

        .section .note.GNU-stack,"",@progbits
