// Attention over cached keys and values, AVX2 + FMA: the same two kernels as attn_avx512.S
// (see there and crate::backend::cpu::reference::{attn_scores, attn_accum}), on 8-float vectors.
//
// Rust prototypes (System V x86-64 ABI; `scale` travels in xmm0, not in an integer register):
//   extern "C" fn lanner_attn_scores_avx2(q: *const f32, k: *const f32, stride: usize, n: usize,
//                                         hd: usize, out: *mut f32, scale: f32) -> f32;
//   extern "C" fn lanner_attn_accum_avx2(p: *const f32, v: *const f32, stride: usize, n: usize,
//                                        hd: usize, acc: *mut f32);
//   scores: out[j] = scale * sum_{d < hd} q[d] * k[j * stride + d]  for j < n; returns the largest
//           out[j] (-inf when n = 0)
//   accum:  acc[d] += sum_{j < n} p[j] * v[j * stride + d]          for d < hd
// Any n, hd and stride (in floats); no alignment required. The last hd % 32 floats of a row go
// through masked loads (vmaskmovps) 8 at a time, which never touch memory past the row's end.

#include "macros.inc"
        .intel_syntax noprefix
        .text

// ymm\m = the lane mask of min(\left, 8) floats (\left > 0, a register, clobbered); rax = table.
.macro  TAIL_MASK m, left
        cmp     \left, 8
        jb      1f
        mov     \left, 8
1:      neg     \left
        lea     rax, [rip + .Lmask8]
        vmovups ymm\m, [rax + \left*4 + 32]     // table[8 - left ..]: `left` ones, then zeros
.endm

// --- scores ---------------------------------------------------------------------------------
// Tiles of 8 keys, one accumulator each. Whole 32-float chunks of the query sit in ymm8..11 and
// meet each row through FMAs with a memory operand; the rest of the row (hd % 32 floats) goes
// through as many 8-float vectors as it needs, the last one a masked load. A transpose-add tree (vperm2f128, vhaddps) turns the 8 accumulators
// into one vector of 8 scores, key j in lane j.
// Registers: rdi = q, rsi = the tile's first key row, rdx = stride in bytes, r10 = 3 * stride,
//            rbx = keys left (the tile has min(8, rbx)), r8 = hd, r9 = out, r11 = d (floats),
//            rcx = end of the whole 32-float chunks (then: floats left), rax = row pointer,
//            ymm0..7 = accumulators, ymm8..11 = q chunk, ymm12 = tail mask, ymm13 = a masked key load,
//            ymm14 = scale, ymm15 = running maximum.

// Key row `j` (address `addr`) into ymm\j over a 32-float chunk, unless the tile has no row j.
.macro  S2ROW32 j, addr, v
        .if \j > 0
        cmp     rbx, \j
        jbe     .Ls2_rows32_done
        .endif
        vfmadd231ps ymm\j, ymm8, [\addr]
        vfmadd231ps ymm\j, ymm9, [\addr + 32]
        vfmadd231ps ymm\j, ymm10, [\addr + 64]
        vfmadd231ps ymm\j, ymm11, [\addr + 96]
.endm

// The same over the row's last `v` vectors of 8 floats: v - 1 whole ones (q in ymm8..10), then
// one masked by ymm12 (q in ymm11).
.macro  S2ROWT j, addr, v
        .if \j > 0
        cmp     rbx, \j
        jbe     .Ls2_reduce
        .endif
        .if \v > 1
        vfmadd231ps ymm\j, ymm8, [\addr]
        .endif
        .if \v > 2
        vfmadd231ps ymm\j, ymm9, [\addr + 32]
        .endif
        .if \v > 3
        vfmadd231ps ymm\j, ymm10, [\addr + 64]
        .endif
        vmaskmovps ymm13, ymm12, [\addr + 32 * (\v - 1)]
        vfmadd231ps ymm\j, ymm11, ymm13
.endm

// Eight key rows, addresses from rax (clobbered), with row macro `row` (and its `v`).
.macro  S2ROWS row, v
        \row   0, "rax", \v
        \row   1, "rax + rdx", \v
        \row   2, "rax + rdx*2", \v
        \row   3, "rax + r10", \v
        lea     rax, [rax + rdx*4]
        \row   4, "rax", \v
        \row   5, "rax + rdx", \v
        \row   6, "rax + rdx*2", \v
        \row   7, "rax + r10", \v
.endm

// The row's last hd % 32 floats (rcx of them, 1..31) as `v` vectors, the last one masked.
.macro  S2TAIL v
        sub     rcx, 8 * (\v - 1)              // floats in the last vector
        TAIL_MASK 12, rcx
        .if \v > 1
        vmovups ymm8, [rdi + r11*4]
        .endif
        .if \v > 2
        vmovups ymm9, [rdi + r11*4 + 32]
        .endif
        .if \v > 3
        vmovups ymm10, [rdi + r11*4 + 64]
        .endif
        vmaskmovps ymm11, ymm12, [rdi + r11*4 + 32 * (\v - 1)]
        lea     rax, [rsi + r11*4]
        S2ROWS  S2ROWT, \v
.endm

        .globl  lanner_attn_scores_avx2
        .type   lanner_attn_scores_avx2, @function
        .p2align 5
lanner_attn_scores_avx2:
        push    rbx
        mov     rbx, rcx                        // keys left
        vbroadcastss ymm14, xmm0                // scale
        mov     eax, 0xFF800000                 // -inf
        vmovd   xmm15, eax
        vbroadcastss ymm15, xmm15
        shl     rdx, 2                          // stride in bytes
        lea     r10, [rdx + rdx*2]
        test    rbx, rbx
        jz      .Ls2_done
.Ls2_tile:
        vxorps  ymm0, ymm0, ymm0
        vxorps  ymm1, ymm1, ymm1
        vxorps  ymm2, ymm2, ymm2
        vxorps  ymm3, ymm3, ymm3
        vxorps  ymm4, ymm4, ymm4
        vxorps  ymm5, ymm5, ymm5
        vxorps  ymm6, ymm6, ymm6
        vxorps  ymm7, ymm7, ymm7
        xor     r11d, r11d
        mov     rcx, r8
        and     rcx, -32
        jz      .Ls2_tail
.Ls2_chunk32:                                   // 32 floats of every row of the tile
        vmovups ymm8, [rdi + r11*4]
        vmovups ymm9, [rdi + r11*4 + 32]
        vmovups ymm10, [rdi + r11*4 + 64]
        vmovups ymm11, [rdi + r11*4 + 96]
        lea     rax, [rsi + r11*4]
        S2ROWS  S2ROW32, 4
.Ls2_rows32_done:
        add     r11, 32
        cmp     r11, rcx
        jb      .Ls2_chunk32
.Ls2_tail:                                      // the row's last hd % 32 floats, if any
        mov     rcx, r8
        sub     rcx, r11
        jz      .Ls2_reduce
        cmp     rcx, 24
        ja      .Ls2_t4
        cmp     rcx, 16
        ja      .Ls2_t3
        cmp     rcx, 8
        ja      .Ls2_t2
        S2TAIL  1
        jmp     .Ls2_reduce
.Ls2_t2:
        S2TAIL  2
        jmp     .Ls2_reduce
.Ls2_t3:
        S2TAIL  3
        jmp     .Ls2_reduce
.Ls2_t4:
        S2TAIL  4
.Ls2_reduce:
        // pairs (i, i + 4): ymm_i = [lo + hi of acc i | lo + hi of acc i + 4], 4 partial sums each
        vperm2f128 ymm8, ymm0, ymm4, 0x20
        vperm2f128 ymm9, ymm0, ymm4, 0x31
        vaddps  ymm0, ymm8, ymm9
        vperm2f128 ymm8, ymm1, ymm5, 0x20
        vperm2f128 ymm9, ymm1, ymm5, 0x31
        vaddps  ymm1, ymm8, ymm9
        vperm2f128 ymm8, ymm2, ymm6, 0x20
        vperm2f128 ymm9, ymm2, ymm6, 0x31
        vaddps  ymm2, ymm8, ymm9
        vperm2f128 ymm8, ymm3, ymm7, 0x20
        vperm2f128 ymm9, ymm3, ymm7, 0x31
        vaddps  ymm3, ymm8, ymm9
        vhaddps ymm0, ymm0, ymm1                // [acc 0, 0, 1, 1 | 4, 4, 5, 5], 2 partial sums each
        vhaddps ymm2, ymm2, ymm3                // [acc 2, 2, 3, 3 | 6, 6, 7, 7]
        vhaddps ymm0, ymm0, ymm2                // [acc 0, 1, 2, 3 | 4, 5, 6, 7], full sums
        vmulps  ymm0, ymm0, ymm14
        mov     rcx, rbx                        // ymm12 = the tile's min(8, rbx) keys
        TAIL_MASK 12, rcx
        vmaskmovps [r9], ymm12, ymm0
        vblendvps ymm13, ymm15, ymm0, ymm12     // the tile's scores, the maximum elsewhere
        vmaxps  ymm15, ymm15, ymm13
        lea     rsi, [rsi + rdx*8]              // next tile: 8 rows on
        add     r9, 32
        sub     rbx, 8
        jg      .Ls2_tile
.Ls2_done:
        vmovaps ymm0, ymm15
        HMAX_YMM0
        pop     rbx
        vzeroupper
        ret
        .size   lanner_attn_scores_avx2, .-lanner_attn_scores_avx2


// --- accum ----------------------------------------------------------------------------------
// Whole 32-float chunks of acc stay in ymm0..3 (even rows) and ymm4..7 (odd rows: a second FMA
// chain) while every value row adds p[j] times its chunk; the rest of acc (hd % 32 floats) goes
// the same way as many 8-float vectors as it needs, the last one through masked loads and
// stores.
// Registers: rdi = p, rsi = v, rdx = stride in bytes, rcx = n, rbx = n rounded down to even,
//            r8 = hd, r9 = acc, r10 = d (floats), r11 = j, rax = row j's chunk,
//            ymm8..9 = p[j], p[j + 1], ymm12 = tail mask, ymm13..14 = masked value loads.

// Vector i (< v) of a chunk of acc: whole, or masked by ymm12 if it is the last one and `m`.
// A2LOAD: ymm\i = acc's vector, ymm\i+4 (odd rows) = 0; A2STORE: the sum of both back.
.macro  A2LOAD v, m, i, odd
        .if \i < \v
        .if \m && \i == \v - 1
        vmaskmovps ymm\i, ymm12, [r9 + r10*4 + 32 * \i]
        .else
        vmovups ymm\i, [r9 + r10*4 + 32 * \i]
        .endif
        vxorps  ymm\odd, ymm\odd, ymm\odd
        .endif
.endm

.macro  A2STORE v, m, i, odd
        .if \i < \v
        vaddps  ymm\i, ymm\i, ymm\odd
        .if \m && \i == \v - 1
        vmaskmovps [r9 + r10*4 + 32 * \i], ymm12, ymm\i
        .else
        vmovups [r9 + r10*4 + 32 * \i], ymm\i
        .endif
        .endif
.endm

// ymm\acc += ymm\p * vector i of the value row at `addr` (through ymm\t when masked).
.macro  A2FMA v, m, i, acc, p, addr, t
        .if \i < \v
        .if \m && \i == \v - 1
        vmaskmovps ymm\t, ymm12, [\addr + 32 * \i]
        vfmadd231ps ymm\acc, ymm\p, ymm\t
        .else
        vfmadd231ps ymm\acc, ymm\p, [\addr + 32 * \i]
        .endif
        .endif
.endm

// One chunk of acc at d (r10), `v` vectors of 8 floats, the last one masked by ymm12 if `m`:
// load it, add every row's p[j] times its chunk (even rows into ymm0..3, odd rows into
// ymm4..7), store.
.macro  A2CHUNK v, m
        A2LOAD  \v, \m, 0, 4
        A2LOAD  \v, \m, 1, 5
        A2LOAD  \v, \m, 2, 6
        A2LOAD  \v, \m, 3, 7
        lea     rax, [rsi + r10*4]
        xor     r11d, r11d
        test    rbx, rbx
        jz      2f
1:                                              // rows j and j + 1
        vbroadcastss ymm8, [rdi + r11*4]
        vbroadcastss ymm9, [rdi + r11*4 + 4]
        A2FMA   \v, \m, 0, 0, 8, "rax", 13
        A2FMA   \v, \m, 1, 1, 8, "rax", 13
        A2FMA   \v, \m, 2, 2, 8, "rax", 13
        A2FMA   \v, \m, 3, 3, 8, "rax", 13
        A2FMA   \v, \m, 0, 4, 9, "rax + rdx", 14
        A2FMA   \v, \m, 1, 5, 9, "rax + rdx", 14
        A2FMA   \v, \m, 2, 6, 9, "rax + rdx", 14
        A2FMA   \v, \m, 3, 7, 9, "rax + rdx", 14
        lea     rax, [rax + rdx*2]
        add     r11, 2
        cmp     r11, rbx
        jb      1b
2:                                              // the last row when n is odd
        cmp     r11, rcx
        jae     3f
        vbroadcastss ymm8, [rdi + r11*4]
        A2FMA   \v, \m, 0, 0, 8, "rax", 13
        A2FMA   \v, \m, 1, 1, 8, "rax", 13
        A2FMA   \v, \m, 2, 2, 8, "rax", 13
        A2FMA   \v, \m, 3, 3, 8, "rax", 13
3:
        A2STORE \v, \m, 0, 4
        A2STORE \v, \m, 1, 5
        A2STORE \v, \m, 2, 6
        A2STORE \v, \m, 3, 7
.endm

        .globl  lanner_attn_accum_avx2
        .type   lanner_attn_accum_avx2, @function
        .p2align 5
lanner_attn_accum_avx2:
        push    rbx
        mov     rbx, rcx
        and     rbx, -2
        shl     rdx, 2
        xor     r10d, r10d
.La2_chunk32:                                   // while d + 32 <= hd
        lea     rax, [r10 + 32]
        cmp     rax, r8
        ja      .La2_tail
        A2CHUNK 4, 0
        add     r10, 32
        jmp     .La2_chunk32
.La2_tail:                                      // the last hd % 32 floats, if any
        mov     r11, r8
        sub     r11, r10
        jz      .La2_done
        cmp     r11, 24
        ja      .La2_t4
        cmp     r11, 16
        ja      .La2_t3
        cmp     r11, 8
        ja      .La2_t2
        TAIL_MASK 12, r11
        A2CHUNK 1, 1
        jmp     .La2_done
.La2_t2:
        sub     r11, 8
        TAIL_MASK 12, r11
        A2CHUNK 2, 1
        jmp     .La2_done
.La2_t3:
        sub     r11, 16
        TAIL_MASK 12, r11
        A2CHUNK 3, 1
        jmp     .La2_done
.La2_t4:
        sub     r11, 24
        TAIL_MASK 12, r11
        A2CHUNK 4, 1
.La2_done:
        pop     rbx
        vzeroupper
        ret
        .size   lanner_attn_accum_avx2, .-lanner_attn_accum_avx2



// --- softmax numerators ----------------------------------------------------------------------
//   extern "C" fn lanner_attn_softmax_avx2(x: *mut f32, n: usize, max: f32) -> f32;
// x[i] = exp(x[i] - max) for i < n; returns their sum. exp is EXP_YMM (macros.inc).
// Registers: rdi = x, rsi = n, rax = i, rcx = end of the whole vectors, ymm0 = sum,
//            ymm1..5 = work, ymm6 = 89, ymm7 = -104, ymm12 = tail mask, ymm15 = max, rdx = exp's
//            other constants (.Lexp8).


        .globl  lanner_attn_softmax_avx2
        .type   lanner_attn_softmax_avx2, @function
        .p2align 5
lanner_attn_softmax_avx2:
        vbroadcastss ymm15, xmm0
        mov     eax, 0x42b20000                 // 89
        vmovd   xmm6, eax
        vbroadcastss ymm6, xmm6
        mov     eax, 0xc2d00000                 // -104
        vmovd   xmm7, eax
        vbroadcastss ymm7, xmm7
        lea     rdx, [rip + .Lexp8]               // exp's constants
        vxorps  xmm0, xmm0, xmm0
        xor     eax, eax
        mov     rcx, rsi
        and     rcx, -8
        jz      .Lx2_tail
.Lx2_loop:                                      // 8 values at a time
        vmovups ymm1, [rdi + rax*4]
        vsubps  ymm1, ymm1, ymm15               // a = x - max
        EXP_YMM 1, rdx
        vmovups [rdi + rax*4], ymm1
        vaddps  ymm0, ymm0, ymm1
        add     rax, 8
        cmp     rax, rcx
        jb      .Lx2_loop
.Lx2_tail:                                      // the last n % 8, masked
        mov     rcx, rsi
        sub     rcx, rax
        jz      .Lx2_done
        neg     rcx
        lea     r8, [rip + .Lmask8]
        vmovups ymm12, [r8 + rcx*4 + 32]        // n % 8 lanes on
        vmaskmovps ymm1, ymm12, [rdi + rax*4]
        vsubps  ymm1, ymm1, ymm15
        EXP_YMM 1, rdx
        vmaskmovps [rdi + rax*4], ymm12, ymm1
        vandps  ymm1, ymm1, ymm12
        vaddps  ymm0, ymm0, ymm1
.Lx2_done:
        HSUM_YMM0
        vzeroupper
        ret
        .size   lanner_attn_softmax_avx2, .-lanner_attn_softmax_avx2

        .section .rodata
        EXP8_TABLE
.Lmask8:                                        // 8 lanes on, 8 off (see TAIL_MASK)
        .long   -1, -1, -1, -1, -1, -1, -1, -1
        .long   0, 0, 0, 0, 0, 0, 0, 0

        .section .note.GNU-stack,"",@progbits
