// Dot products of Q2_K / Q3_K weight rows with one Q8A activation row, AVX2 + FMA tier (the
// vpmaddubsw path, no VNNI). Same prototypes, algorithm and stack array P_j = e A_j as
// dot_q8a_k23_avx512vnni.S, integer sums as dot_q8a_avx2.S (read those first):
//   extern "C" fn lanner_dot_T_q8a_avx2(w: *const u8, qs: *const i8, ds: *const f32,
//                                        nblocks: usize, nrows: usize, out: *mut f32);
// T in q2_k, q3_k. Scalar reference, per row: crate::quant::q8a::dot(GgmlType::T, w_row, a).
//
// One Q8A block (32 values, sub-blocks 2b and 2b + 1) per ymm: its 8 i32 lanes of
// sum u (256 q1 + q2) (vpmaddubsw, vpmaddwd) times [S_2b x 4, S_2b+1 x 4], S_j = d sc_j e,
// which one vpermps takes from the 16 S of the super-block stored on the stack.
//
// Registers: rdi = w, rsi = qs, rdx = ds, rcx = super-blocks left, r10 = P of the super-block;
// r12 = nblocks, r13 / r14 = qs / ds of the row start, r15 = n, rbx = rows left, rbp = out;
// stack (64-aligned): [rsp] = S_0..15 (and 64 bytes that vpermps may read past them),
// [rsp + 128] = P (nblocks x 16 floats), then the caller's rsp.
// ymm0, ymm8 = level accumulators, ymm7 = min / offset accumulator, ymm15 = words 256, ymm14 =
// words 1, ymm12 = bytes 3, ymm11 = vpermps picks [0 x 4, 1 x 4].
// No alignment required; nothing is read past the row.

#include "macros.inc"
        .intel_syntax noprefix

        .section .rodata
        .p2align 5
.Lk2_pick:                      // vpermps: lanes 0..3 <- S_2b, 4..7 <- S_2b+1 (from [rsp + 8 b])
        .long 0, 0, 0, 0, 1, 1, 1, 1
.Lk2_sums:                      // vpermd: sub-block sums from [0, 2, 4, 6, 1, 3, 5, 7] order
        .long 0, 4, 1, 5, 2, 6, 3, 7
.Lk2_b0f:
        .rept 32
        .byte 0x0F
        .endr
.Lk2_b4:
        .rept 32
        .byte 4
        .endr
.Lk2_b32:
        .rept 16
        .byte 32
        .endr
.Lk2_u2:                        // Q3_K: vpsrlvd counts for the scales' high bits
        .long 0, 2, 4, 6

        .text

// Save the callee-saved registers, the arguments to their registers, S and P on the stack,
// constants; then P_j = e A_j of the whole activation row.
.macro  PROLOGUE
        Q8A_ENTER 8
        mov     rax, rsp
        mov     r8, rcx
        shl     r8, 6                           // 64 bytes of P per super-block
        sub     rsp, r8
        sub     rsp, 192
        and     rsp, -64
        mov     r9, rax                         // touch each page from the top down (the stack
1:      sub     r9, 4096                        // grows a page at a time)
        cmp     r9, rsp
        jb      2f
        or      dword ptr [r9], 0
        jmp     1b
2:      mov     qword ptr [rsp + r8 + 128], rax // the caller's rsp, after P
        mov     eax, 256
        vmovd   xmm15, eax
        vpbroadcastw ymm15, xmm15
        mov     eax, 1
        vmovd   xmm14, eax
        vpbroadcastw ymm14, xmm14
        mov     eax, 3
        vmovd   xmm12, eax
        vpbroadcastb ymm12, xmm12
        vmovdqu ymm11, ymmword ptr [rip + .Lk2_pick]
        test    rbx, rbx
        jz      4f
        test    r12, r12
        jz      4f
        // P: per Q8A block ymm\b = 256 vpmaddwd(vpmaddubsw(1, q1)) + ...(q2): 8 sums of 4, the
        // low / high 128 bits sub-block 2b / 2b + 1. Two vphaddd rounds over four blocks sum
        // each 128-bit lane: [A_0, A_2, A_4, A_6 | A_1, A_3, A_5, A_7]; reorder, times e.
        mov     eax, 1
        vmovd   xmm4, eax
        vpbroadcastb ymm4, xmm4
        vmovdqu ymm6, ymmword ptr [rip + .Lk2_sums]
        mov     r8, r12
        lea     r10, [rsp + 128]
3:      .irp g, 0, 1
        .irp b, 0, 1, 2, 3
        vpmaddubsw ymm\b, ymm4, ymmword ptr [rsi + 128*\g + 32*\b]
        vpmaddubsw ymm5, ymm4, ymmword ptr [rsi + r15 + 128*\g + 32*\b]
        vpmaddwd ymm\b, ymm\b, ymm15
        vpmaddwd ymm5, ymm5, ymm14
        vpaddd  ymm\b, ymm\b, ymm5
        .endr
        vphaddd ymm0, ymm0, ymm1
        vphaddd ymm2, ymm2, ymm3
        vphaddd ymm0, ymm0, ymm2
        vpermd  ymm0, ymm6, ymm0                // A_8g .. A_8g+7
        vcvtdq2ps ymm0, ymm0                    // exact: |A| <= 16 * 32639
        vmovsldup ymm1, ymmword ptr [rdx + 32*\g]       // [e0, e0, e1, e1, ...]
        vmulps  ymm0, ymm0, ymm1
        vmovaps ymmword ptr [r10 + 32*\g], ymm0
        .endr
        add     rsi, 256
        add     rdx, 64
        add     r10, 64
        dec     r8
        jnz     3b
4:
.endm

.macro  ROW_START
        vxorps  xmm0, xmm0, xmm0
        vxorps  xmm8, xmm8, xmm8
        vxorps  xmm7, xmm7, xmm7
        mov     rsi, r13
        mov     rdx, r14
        mov     rcx, r12
        lea     r10, [rsp + 128]
.endm

// out[r] = sum of the lanes of ymm0 + ymm8 + \f ymm7; next row.
.macro  ROW_END f, label
        vaddps  ymm0, ymm0, ymm8
        mov     eax, \f
        vmovd   xmm1, eax
        vbroadcastss ymm1, xmm1
        vfmadd231ps ymm0, ymm7, ymm1
        HSUM_YMM0
        vmovss  dword ptr [rbp], xmm0
        add     rbp, 4
        dec     rbx
        jnz     \label
.endm

.macro  EPILOGUE
        mov     rax, r12
        shl     rax, 6
        mov     rsp, qword ptr [rsp + rax + 128]
        Q8A_LEAVE
        vzeroupper
        ret
.endm

// ymm0 / ymm8 (\b even / odd) += (i32 lanes of sum u (256 q1 + q2), levels u in ymm1, Q8A
// block \b of the super-block) * [S_2b x 4, S_2b+1 x 4]. Clobbers ymm2, ymm3, ymm6.
.macro  K23_BLOCK b
        vpmaddubsw ymm2, ymm1, ymmword ptr [rsi + 32*(\b)]
        vpmaddubsw ymm3, ymm1, ymmword ptr [rsi + r15 + 32*(\b)]
        vpmaddwd ymm2, ymm2, ymm15
        vpmaddwd ymm3, ymm3, ymm14
        vpaddd  ymm2, ymm2, ymm3
        vcvtdq2ps ymm2, ymm2
        vpermps ymm6, ymm11, ymmword ptr [rsp + 8*(\b)]
.if (\b) & 1
        vfmadd231ps ymm8, ymm2, ymm6
.else
        vfmadd231ps ymm0, ymm2, ymm6
.endif
.endm

// ymm1 = the 2-bit levels of Q8A block 4 h + s: bits 2 s, 2 s + 1 of the half's bytes in ymm9.
.macro  CRUMB s
.if \s
        vpsrlw  ymm1, ymm9, 2*\s
        vpand   ymm1, ymm1, ymm12
.else
        vpand   ymm1, ymm9, ymm12
.endif
.endm


// ---- Q2_K (84 B: scales[16] (lo 4 bits sc, hi 4 bits m) | qs[64] | d f16 | dmin f16) ----------
        .globl  lanner_dot_q2_k_q8a_avx2
        .type   lanner_dot_q2_k_q8a_avx2, @function
        .p2align 5
lanner_dot_q2_k_q8a_avx2:
        PROLOGUE
        vmovdqu ymm13, ymmword ptr [rip + .Lk2_b0f]
        test    rbx, rbx
        jz      .Lq2k2_done
.Lq2k2_row:
        ROW_START
        test    rcx, rcx
        jz      .Lq2k2_end
.Lq2k2_loop:
        vmovd   xmm4, dword ptr [rdi + 80]      // f16 [d, dmin]
        vcvtph2ps xmm4, xmm4
        vbroadcastss ymm5, xmm4                 // d
        vmovshdup xmm4, xmm4
        vbroadcastss ymm4, xmm4                 // dmin
        .irp i, 0, 1                            // sub-blocks 8 i .. 8 i + 7
        vpmovzxbd ymm1, qword ptr [rdi + 8*\i]
        vpsrld  ymm2, ymm1, 4                   // m_j
        vpand   ymm1, ymm1, ymm13               // sc_j
        vcvtdq2ps ymm2, ymm2
        vcvtdq2ps ymm1, ymm1
        vmulps  ymm2, ymm2, ymm4
        vfmadd231ps ymm7, ymm2, ymmword ptr [r10 + 32*\i]       // += (dmin m_j) e A_j
        vmovsldup ymm3, ymmword ptr [rdx + 32*\i]               // e of each sub-block
        vmulps  ymm1, ymm1, ymm5
        vmulps  ymm1, ymm1, ymm3
        vmovaps ymmword ptr [rsp + 32*\i], ymm1                 // S_j = d sc_j e
        .endr
        .irp h, 0, 1
        vmovdqu ymm9, ymmword ptr [rdi + 16 + 32*\h]
        .irp s, 0, 1, 2, 3
        CRUMB   \s
        K23_BLOCK 4*\h+\s
        .endr
        .endr
        add     rdi, 84
        add     rsi, 256
        add     rdx, 64
        add     r10, 64
        dec     rcx
        jnz     .Lq2k2_loop
.Lq2k2_end:
        ROW_END 0xBF800000, .Lq2k2_row          // - the min terms
.Lq2k2_done:
        EPILOGUE
        .size   lanner_dot_q2_k_q8a_avx2, .-lanner_dot_q2_k_q8a_avx2


// ---- Q3_K (110 B: hmask[32] | qs[64] | scales[12] (16 x 6-bit, -32) | d f16) -------------------
// Levels and scales as in dot_q8a_k23_avx512vnni.S; the third bit of Q8A block k = 4 h + s is
// bit k of the hmask bytes (ymm10), moved to bit 2 by a word shift (the bits that cross into
// the neighbouring byte are masked off). ymm13 = bytes 4.
        .globl  lanner_dot_q3_k_q8a_avx2
        .type   lanner_dot_q3_k_q8a_avx2, @function
        .p2align 5
lanner_dot_q3_k_q8a_avx2:
        PROLOGUE
        vmovdqu ymm13, ymmword ptr [rip + .Lk2_b4]
        test    rbx, rbx
        jz      .Lq3k2_done
.Lq3k2_row:
        ROW_START
        test    rcx, rcx
        jz      .Lq3k2_end
.Lq3k2_loop:
        vmovq   xmm1, qword ptr [rdi + 96]      // u0, u1
        vpsrlw  xmm2, xmm1, 4
        vpunpcklqdq xmm1, xmm1, xmm2            // [u0, u1, u0 >> 4, u1 >> 4]
        vpand   xmm1, xmm1, xmmword ptr [rip + .Lk2_b0f]        // low 4 bits of sc0..15
        vpbroadcastd xmm2, dword ptr [rdi + 104]
        vpsrlvd xmm2, xmm2, xmmword ptr [rip + .Lk2_u2]         // [u2, u2 >> 2, u2 >> 4, u2 >> 6]
        vpand   xmm2, xmm2, xmm12
        vpsllw  xmm2, xmm2, 4                   // high 2 bits
        vpor    xmm1, xmm1, xmm2
        vpsubb  xmm1, xmm1, xmmword ptr [rip + .Lk2_b32]        // sc_j
        vpmovsxbd ymm2, xmm1                    // sc 0..8
        vpsrldq xmm1, xmm1, 8
        vpmovsxbd ymm3, xmm1                    // sc 8..16
        vcvtdq2ps ymm2, ymm2
        vcvtdq2ps ymm3, ymm3
        movzx   eax, word ptr [rdi + 108]
        vmovd   xmm4, eax
        vcvtph2ps xmm4, xmm4
        vbroadcastss ymm4, xmm4                 // d
        vmulps  ymm2, ymm2, ymm4                // d sc_j
        vmulps  ymm3, ymm3, ymm4
        vfmadd231ps ymm7, ymm2, ymmword ptr [r10]       // += (d sc_j) e A_j (times -4 at the end)
        vfmadd231ps ymm7, ymm3, ymmword ptr [r10 + 32]
        vmovsldup ymm4, ymmword ptr [rdx]       // e of each sub-block
        vmovsldup ymm5, ymmword ptr [rdx + 32]
        vmulps  ymm2, ymm2, ymm4
        vmulps  ymm3, ymm3, ymm5
        vmovaps ymmword ptr [rsp], ymm2         // S_j = d sc_j e
        vmovaps ymmword ptr [rsp + 32], ymm3
        vmovdqu ymm10, ymmword ptr [rdi]        // hmask
        .irp h, 0, 1
        vmovdqu ymm9, ymmword ptr [rdi + 32 + 32*\h]
        .irp s, 0, 1, 2, 3
        CRUMB   \s
.if 4*\h+\s < 2
        vpsllw  ymm4, ymm10, 2-(4*\h+\s)
        vpand   ymm4, ymm4, ymm13
.elseif 4*\h+\s == 2
        vpand   ymm4, ymm10, ymm13
.else
        vpsrlw  ymm4, ymm10, 4*\h+\s-2
        vpand   ymm4, ymm4, ymm13
.endif
        vpor    ymm1, ymm1, ymm4                // | 4 (third bit)
        K23_BLOCK 4*\h+\s
        .endr
        .endr
        add     rdi, 110
        add     rsi, 256
        add     rdx, 64
        add     r10, 64
        dec     rcx
        jnz     .Lq3k2_loop
.Lq3k2_end:
        ROW_END 0xC0800000, .Lq3k2_row          // - 4 the offset terms
.Lq3k2_done:
        EPILOGUE
        .size   lanner_dot_q3_k_q8a_avx2, .-lanner_dot_q3_k_q8a_avx2

        .section .note.GNU-stack,"",@progbits
