// Attention over cached keys and values, AVX-512F (+ BW for the 64-bit lane masks): the scores
// of one query head against a run of keys, and the probability-weighted sum of the value rows.
// The backend (CpuBackend::attention in src/backend/cpu/mod.rs) calls them once per KV block and
// query head, and does the softmax in between.
//
// Rust prototypes (System V x86-64 ABI; `scale` travels in xmm0, not in an integer register):
//   extern "C" fn lanner_attn_scores_avx512(q: *const f32, k: *const f32, stride: usize, n: usize,
//                                           hd: usize, out: *mut f32, scale: f32) -> f32;
//   extern "C" fn lanner_attn_accum_avx512(p: *const f32, v: *const f32, stride: usize, n: usize,
//                                          hd: usize, acc: *mut f32);
// Scalar references: crate::backend::cpu::reference::{attn_scores, attn_accum}:
//   scores: out[j] = scale * sum_{d < hd} q[d] * k[j * stride + d]  for j < n; returns the largest
//           out[j] (-inf when n = 0)
//   accum:  acc[d] += sum_{j < n} p[j] * v[j * stride + d]          for d < hd
// Any n, hd and stride (in floats); no alignment required. Masked loads and stores never touch
// memory past the last row's hd values, nor out / acc past n / hd.

#include "macros.inc"
        .intel_syntax noprefix
        .text

// k1..k4 = the lanes of the 64-float chunk at d (r11 for scores, r10 for accum) that lie below
// hd (r8): all of them but in a row's last chunk. Clobbers rax, rcx.
.macro  CHUNK_MASKS d
        mov     rcx, r8
        sub     rcx, \d                         // floats left in the row (> 0)
        mov     rax, -1
        cmp     rcx, 64
        jae     1f
        shl     rax, cl
        not     rax                             // (1 << left) - 1
1:      kmovq   k1, rax
        kshiftrq k2, k1, 16
        kshiftrq k3, k1, 32
        kshiftrq k4, k1, 48
.endm

// --- scores ---------------------------------------------------------------------------------
// Tiles of 16 keys. The query's chunk of 64 floats stays in zmm16..19 while the tile's (up to)
// 16 rows are multiplied into one accumulator each; the accumulators are then reduced to one
// vector of 16 scores by a transpose-add tree instead of 16 horizontal sums.
// Registers: rdi = q, rsi = the tile's first key row, rdx = stride in bytes, r10 = 3 * stride,
//            rbx = keys left (the tile has min(16, rbx)), r8 = hd, r9 = out (tile's first score),
//            r11 = d (floats), rax = row pointer, zmm0..15 = accumulators, zmm16..19 = q chunk,
//            zmm24..25 = temporaries, zmm30 = running maximum, zmm31 = scale.
// A row's last chunk only goes through the vectors that reach below hd (hd = 80: 64 + 16).
// The tree leaves the sum of accumulator SIGMA(j) in lane j (see .Ls5_reduce), so key row j
// accumulates in zmm SIGMA(j), SIGMA = (0 2 1 3 8 10 9 11 4 6 5 7 12 14 13 15), and lane j of
// the result is key j's score.

// Key row `j` (address `addr`) into accumulator `acc` over the chunk's first `v` vectors of 16
// floats (the rest of the chunk lies past hd), unless the tile has no row j.
.macro  S5ROW j, acc, addr, v
        .if \j > 0
        cmp     rbx, \j
        jbe     .Ls5_rows_done
        .endif
        vfmadd231ps zmm\acc{k1}, zmm16, [\addr]
        .if \v > 1
        vfmadd231ps zmm\acc{k2}, zmm17, [\addr + 64]
        .endif
        .if \v > 2
        vfmadd231ps zmm\acc{k3}, zmm18, [\addr + 128]
        .endif
        .if \v > 3
        vfmadd231ps zmm\acc{k4}, zmm19, [\addr + 192]
        .endif
.endm

// The tile's 16 rows over the chunk's first `v` vectors, from rax (clobbered); row j into
// accumulator SIGMA(j).
.macro  S5TILE v
        S5ROW   0, 0, "rax", \v
        S5ROW   1, 2, "rax + rdx", \v
        S5ROW   2, 1, "rax + rdx*2", \v
        S5ROW   3, 3, "rax + r10", \v
        lea     rax, [rax + rdx*4]
        S5ROW   4, 8, "rax", \v
        S5ROW   5, 10, "rax + rdx", \v
        S5ROW   6, 9, "rax + rdx*2", \v
        S5ROW   7, 11, "rax + r10", \v
        lea     rax, [rax + rdx*4]
        S5ROW   8, 4, "rax", \v
        S5ROW   9, 6, "rax + rdx", \v
        S5ROW   10, 5, "rax + rdx*2", \v
        S5ROW   11, 7, "rax + r10", \v
        lea     rax, [rax + rdx*4]
        S5ROW   12, 12, "rax", \v
        S5ROW   13, 14, "rax + rdx", \v
        S5ROW   14, 13, "rax + rdx*2", \v
        S5ROW   15, 15, "rax + r10", \v
.endm

// zmm\a = [a.q0 + a.q2, a.q1 + a.q3, b.q0 + b.q2, b.q1 + b.q3] (128-bit quarters), b = zmm\b.
.macro  FOLD256 a, b
        vshuff32x4 zmm24, zmm\a, zmm\b, 0x44
        vshuff32x4 zmm25, zmm\a, zmm\b, 0xEE
        vaddps  zmm\a, zmm24, zmm25
.endm

// zmm\a = [a.q0 + a.q1, b.q0 + b.q1, a.q2 + a.q3, b.q2 + b.q3] (quarters), b = zmm\b.
.macro  FOLD128 a, b
        vshuff32x4 zmm24, zmm\a, zmm\b, 0x88
        vshuff32x4 zmm25, zmm\a, zmm\b, 0xDD
        vaddps  zmm\a, zmm24, zmm25
.endm

        .globl  lanner_attn_scores_avx512
        .type   lanner_attn_scores_avx512, @function
        .p2align 5
lanner_attn_scores_avx512:
        push    rbx
        mov     rbx, rcx                        // keys left
        vbroadcastss zmm31, xmm0                // scale
        mov     eax, 0xFF800000                 // -inf
        vpbroadcastd zmm30, eax
        shl     rdx, 2                          // stride in bytes
        lea     r10, [rdx + rdx*2]
        test    rbx, rbx
        jz      .Ls5_done
.Ls5_tile:
        vxorps  xmm0, xmm0, xmm0                // (a VEX write clears the whole zmm)
        vxorps  xmm1, xmm1, xmm1
        vxorps  xmm2, xmm2, xmm2
        vxorps  xmm3, xmm3, xmm3
        vxorps  xmm4, xmm4, xmm4
        vxorps  xmm5, xmm5, xmm5
        vxorps  xmm6, xmm6, xmm6
        vxorps  xmm7, xmm7, xmm7
        vxorps  xmm8, xmm8, xmm8
        vxorps  xmm9, xmm9, xmm9
        vxorps  xmm10, xmm10, xmm10
        vxorps  xmm11, xmm11, xmm11
        vxorps  xmm12, xmm12, xmm12
        vxorps  xmm13, xmm13, xmm13
        vxorps  xmm14, xmm14, xmm14
        vxorps  xmm15, xmm15, xmm15
        xor     r11d, r11d
        test    r8, r8
        jz      .Ls5_reduce
.Ls5_chunk:                                     // 64 floats of every row of the tile
        CHUNK_MASKS r11
        vmovups zmm16{k1}{z}, [rdi + r11*4]
        vmovups zmm17{k2}{z}, [rdi + r11*4 + 64]
        vmovups zmm18{k3}{z}, [rdi + r11*4 + 128]
        vmovups zmm19{k4}{z}, [rdi + r11*4 + 192]
        lea     rax, [rsi + r11*4]              // rows 0..3 at rax + {0, 1, 2, 3} * stride
        cmp     rcx, 48                         // only the vectors that reach below hd
        ja      .Ls5_v4
        cmp     rcx, 32
        ja      .Ls5_v3
        cmp     rcx, 16
        ja      .Ls5_v2
        S5TILE  1
        jmp     .Ls5_rows_done
.Ls5_v2:
        S5TILE  2
        jmp     .Ls5_rows_done
.Ls5_v3:
        S5TILE  3
        jmp     .Ls5_rows_done
.Ls5_v4:
        S5TILE  4
.Ls5_rows_done:
        add     r11, 64
        cmp     r11, r8
        jb      .Ls5_chunk
.Ls5_reduce:
        // step 1, pairs (i, i + 8): zmm_i quarters = [A_i, B_i, A_i+8, B_i+8], 8 partial sums each
        FOLD256 0, 8
        FOLD256 1, 9
        FOLD256 2, 10
        FOLD256 3, 11
        FOLD256 4, 12
        FOLD256 5, 13
        FOLD256 6, 14
        FOLD256 7, 15
        // step 2, pairs (i, i + 4): zmm_i quarters = accumulators [i, i + 8, i + 4, i + 12], 4 each
        FOLD128 0, 4
        FOLD128 1, 5
        FOLD128 2, 6
        FOLD128 3, 7
        // step 3, pairs (i, i + 2): 64-bit halves of each quarter; quarter q of zmm_i =
        // [2 of acc b+i, 2 of acc b+i+2], b = 0, 8, 4, 12 for q = 0..3
        vunpcklpd zmm24, zmm0, zmm2
        vunpckhpd zmm25, zmm0, zmm2
        vaddps  zmm0, zmm24, zmm25
        vunpcklpd zmm24, zmm1, zmm3
        vunpckhpd zmm25, zmm1, zmm3
        vaddps  zmm1, zmm24, zmm25
        // step 4: single lanes; quarter q = full sums of accumulators [b, b+2, b+1, b+3]: lane j
        // holds accumulator SIGMA(j)
        vshufps zmm24, zmm0, zmm1, 0x88
        vshufps zmm25, zmm0, zmm1, 0xDD
        vaddps  zmm0, zmm24, zmm25
        vmulps  zmm0, zmm0, zmm31
        mov     rcx, rbx                        // k5 = the tile's min(16, rbx) keys
        mov     eax, 0xFFFF
        cmp     rcx, 16
        jae     2f
        mov     eax, 1
        shl     eax, cl
        dec     eax
2:      kmovw   k5, eax
        vmovups [r9]{k5}, zmm0
        vmaxps  zmm30{k5}, zmm30, zmm0
        lea     rsi, [rsi + rdx*8]              // next tile: 16 rows on
        lea     rsi, [rsi + rdx*8]
        add     r9, 64
        sub     rbx, 16
        jg      .Ls5_tile
.Ls5_done:
        HMAX_ZMM 30
        pop     rbx
        vzeroupper
        ret
        .size   lanner_attn_scores_avx512, .-lanner_attn_scores_avx512


// --- accum ----------------------------------------------------------------------------------
// Chunks of 64 floats of acc: the chunk stays in zmm0..3 (even rows) and zmm4..7 (odd rows, a
// second chain of FMAs to hide their latency) while every value row adds p[j] times its chunk.
// A row's last chunk only goes through the vectors that reach below hd (hd = 80: 64 + 16).
// Registers: rdi = p, rsi = v, rdx = stride in bytes, rbx = n, r8 = hd, r9 = acc, r10 = d
//            (floats), r11 = j, rcx = n rounded down to even (in the row loop), rax = row j's
//            chunk, zmm16..17 = p[j], p[j + 1].

// Vector i (< v) of a chunk of acc, masked by k<i+1>. A5LOAD: zmm\i = acc's vector, zmm\odd
// (odd rows) = 0; A5STORE: the sum of both back.
.macro  A5LOAD v, i, k, odd
        .if \i < \v
        vmovups zmm\i{k\k}{z}, [r9 + r10*4 + 64 * \i]
        vxorps  xmm\odd, xmm\odd, xmm\odd
        .endif
.endm

.macro  A5STORE v, i, k, odd
        .if \i < \v
        vaddps  zmm\i, zmm\i, zmm\odd
        vmovups [r9 + r10*4 + 64 * \i]{k\k}, zmm\i
        .endif
.endm

// zmm\acc += zmm\p * vector i of the value row at `addr`, masked by k<i+1>.
.macro  A5FMA v, i, k, acc, p, addr
        .if \i < \v
        vfmadd231ps zmm\acc{k\k}, zmm\p, [\addr + 64 * \i]
        .endif
.endm

// One chunk of acc, its first `v` vectors of 16 floats (the rest lies past hd): load it, add
// every row's p[j] times its chunk (even rows into zmm0..3, odd rows into zmm4..7), store.
.macro  A5CHUNK v
        A5LOAD  \v, 0, 1, 4
        A5LOAD  \v, 1, 2, 5
        A5LOAD  \v, 2, 3, 6
        A5LOAD  \v, 3, 4, 7
        lea     rax, [rsi + r10*4]
        xor     r11d, r11d
        mov     rcx, rbx
        and     rcx, -2
        jz      2f
1:                                              // rows j and j + 1
        vbroadcastss zmm16, [rdi + r11*4]
        vbroadcastss zmm17, [rdi + r11*4 + 4]
        A5FMA   \v, 0, 1, 0, 16, "rax"
        A5FMA   \v, 1, 2, 1, 16, "rax"
        A5FMA   \v, 2, 3, 2, 16, "rax"
        A5FMA   \v, 3, 4, 3, 16, "rax"
        A5FMA   \v, 0, 1, 4, 17, "rax + rdx"
        A5FMA   \v, 1, 2, 5, 17, "rax + rdx"
        A5FMA   \v, 2, 3, 6, 17, "rax + rdx"
        A5FMA   \v, 3, 4, 7, 17, "rax + rdx"
        lea     rax, [rax + rdx*2]
        add     r11, 2
        cmp     r11, rcx
        jb      1b
2:                                              // the last row when n is odd
        cmp     r11, rbx
        jae     3f
        vbroadcastss zmm16, [rdi + r11*4]
        A5FMA   \v, 0, 1, 0, 16, "rax"
        A5FMA   \v, 1, 2, 1, 16, "rax"
        A5FMA   \v, 2, 3, 2, 16, "rax"
        A5FMA   \v, 3, 4, 3, 16, "rax"
3:
        A5STORE \v, 0, 1, 4
        A5STORE \v, 1, 2, 5
        A5STORE \v, 2, 3, 6
        A5STORE \v, 3, 4, 7
.endm

        .globl  lanner_attn_accum_avx512
        .type   lanner_attn_accum_avx512, @function
        .p2align 5
lanner_attn_accum_avx512:
        push    rbx
        mov     rbx, rcx
        shl     rdx, 2
        xor     r10d, r10d
        test    r8, r8
        jz      .La5_done
.La5_chunk:
        CHUNK_MASKS r10
        cmp     rcx, 48                         // only the vectors that reach below hd
        ja      .La5_v4
        cmp     rcx, 32
        ja      .La5_v3
        cmp     rcx, 16
        ja      .La5_v2
        A5CHUNK 1
        jmp     .La5_next
.La5_v2:
        A5CHUNK 2
        jmp     .La5_next
.La5_v3:
        A5CHUNK 3
        jmp     .La5_next
.La5_v4:
        A5CHUNK 4
.La5_next:
        add     r10, 64
        cmp     r10, r8
        jb      .La5_chunk
.La5_done:
        pop     rbx
        vzeroupper
        ret
        .size   lanner_attn_accum_avx512, .-lanner_attn_accum_avx512



// --- softmax numerators ----------------------------------------------------------------------
//   extern "C" fn lanner_attn_softmax_avx512(x: *mut f32, n: usize, max: f32) -> f32;
// Scalar reference: crate::backend::cpu::reference::attn_softmax: x[i] = exp(x[i] - max) for
// i < n; returns their sum. exp is EXP_ZMM (macros.inc).
// Registers: rdi = x, rsi = n, rax = i, zmm0 = sum, zmm1..3 = work, zmm16 = max,
//            zmm17..28 = exp's constants.

        .globl  lanner_attn_softmax_avx512
        .type   lanner_attn_softmax_avx512, @function
        .p2align 5
lanner_attn_softmax_avx512:
        vbroadcastss zmm16, xmm0
        EXP_CONSTS_ZMM
        vxorps  xmm0, xmm0, xmm0
        xor     eax, eax
        mov     rcx, rsi
        and     rcx, -16
        jz      .Lx5_tail
.Lx5_loop:                                      // 16 values at a time
        vmovups zmm1, [rdi + rax*4]
        vsubps  zmm1, zmm1, zmm16               // a = x - max
        EXP_ZMM 1, 2, 3
        vmovups [rdi + rax*4], zmm1
        vaddps  zmm0, zmm0, zmm1
        add     rax, 16
        cmp     rax, rcx
        jb      .Lx5_loop
.Lx5_tail:                                      // the last n % 16, masked
        mov     rcx, rsi
        sub     rcx, rax
        jz      .Lx5_done
        mov     edx, 1
        shl     edx, cl
        dec     edx
        kmovw   k1, edx
        vmovups zmm1{k1}{z}, [rdi + rax*4]
        vsubps  zmm1, zmm1, zmm16
        EXP_ZMM 1, 2, 3
        vmovups [rdi + rax*4]{k1}, zmm1
        vaddps  zmm0{k1}, zmm0, zmm1
.Lx5_done:
        HSUM_ZMM0
        vzeroupper
        ret
        .size   lanner_attn_softmax_avx512, .-lanner_attn_softmax_avx512

        .section .rodata
        EXP_TABLE

        .section .note.GNU-stack,"",@progbits
