// GEMM microkernel over packed panels, broadcast (outer-product) form, AVX-512F: a tile of
// 12 tokens x 32 weight rows of C, accumulated in place.
//
// Rust prototype (System V x86-64 ABI):
//   extern "C" fn lanner_gemm_packed_12x32_avx512(wp: *const f32, xp: *const f32, kc: usize,
//                                                  c: *mut f32, ldc: usize, fresh: usize);
// Scalar reference: crate::backend::cpu::reference::gemm_packed (mr = 12, nr = 32):
//   for t < 12, r < 32:  acc = fresh ? +0.0 : c[t * ldc + r];
//                        for k < kc: acc = fma(wp[k * 32 + r], xp[k * 12 + t], acc);
//                        c[t * ldc + r] = acc
// i.e. one fused multiply-add per k, in k order, so the result is bit-identical to the reference
// and independent of the tile a token or a row sits in. wp is the weight panel packed k-major
// (32 rows per k), xp the activation panel packed k-major (12 tokens per k); the framework in
// src/backend/cpu/mod.rs packs both, walks the tiles, splits k and handles the edges. No
// alignment required.
// fresh != 0: C is not read (the first k block of a product: no zero-fill, no load).
// The next tile down (c + 12 ldc, the framework's next call) is prefetched while this one runs.
// Registers: rdi = wp (advancing), rsi = xp (advancing), rdx = k left, rcx = c, r8 = ldc * 4,
//            r9 = fresh, then row of C, r10 = row of the next tile, zmm0/1 = the 32 weights of one k, zmm2..4 = a broadcast token,
//            zmm8 + 2 t + h = acc[token t][rows 16 h .. 16 h + 15].

        .intel_syntax noprefix
        .text

// acc pair (a, b) <-> C row at r9, then r9 += ldc
.macro  CLOAD a, b
        vmovups zmm\a, [r9]
        vmovups zmm\b, [r9 + 64]
        add     r9, r8
.endm
.macro  CZERO a
        vxorps  zmm\a, zmm\a, zmm\a
.endm
// prefetch one row of the next tile (its two lines), then on to the next row
.macro  CNEXT
        prefetcht0 [r10]
        prefetcht0 [r10 + 64]
        add     r10, r8
.endm
.macro  CSTORE a, b
        vmovups [r9], zmm\a
        vmovups [r9 + 64], zmm\b
        add     r9, r8
.endm

// token t of step s (xp offset 48 s + 4 t) times the weights in zmm0/1, into acc pair (a, b)
.macro  TOK s, t, a, b, br
        vbroadcastss zmm\br, dword ptr [rsi + 48 * \s + 4 * \t]
        vfmadd231ps zmm\a, zmm0, zmm\br
        vfmadd231ps zmm\b, zmm1, zmm\br
.endm

// one value of k: 32 weights, 12 tokens
.macro  STEP s
        vmovups zmm0, [rdi + 128 * \s]
        vmovups zmm1, [rdi + 128 * \s + 64]
        TOK     \s, 0, 8, 9, 2
        TOK     \s, 1, 10, 11, 3
        TOK     \s, 2, 12, 13, 4
        TOK     \s, 3, 14, 15, 2
        TOK     \s, 4, 16, 17, 3
        TOK     \s, 5, 18, 19, 4
        TOK     \s, 6, 20, 21, 2
        TOK     \s, 7, 22, 23, 3
        TOK     \s, 8, 24, 25, 4
        TOK     \s, 9, 26, 27, 2
        TOK     \s, 10, 28, 29, 3
        TOK     \s, 11, 30, 31, 4
.endm

        .globl  lanner_gemm_packed_12x32_avx512
        .type   lanner_gemm_packed_12x32_avx512, @function
        .p2align 5
lanner_gemm_packed_12x32_avx512:
        shl     r8, 2                           // ldc in bytes
        lea     r10, [r8 + r8 * 2]
        shl     r10, 2
        add     r10, rcx                        // the next tile: c + 12 ldc
        .rept   12
        CNEXT
        .endr
        test    r9, r9
        jz      .Lp_load
        .irp    r, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        CZERO   \r
        .endr
        jmp     .Lp_go
.Lp_load:
        mov     r9, rcx
        CLOAD   8, 9
        CLOAD   10, 11
        CLOAD   12, 13
        CLOAD   14, 15
        CLOAD   16, 17
        CLOAD   18, 19
        CLOAD   20, 21
        CLOAD   22, 23
        CLOAD   24, 25
        CLOAD   26, 27
        CLOAD   28, 29
        CLOAD   30, 31
.Lp_go:
        cmp     rdx, 4
        jb      .Lp_tail
.Lp_loop4:                                      // 4 values of k per iteration
        STEP    0
        STEP    1
        STEP    2
        STEP    3
        add     rdi, 512
        add     rsi, 192
        sub     rdx, 4
        cmp     rdx, 4
        jae     .Lp_loop4
.Lp_tail:
        test    rdx, rdx
        jz      .Lp_store
.Lp_loop1:
        STEP    0
        add     rdi, 128
        add     rsi, 48
        dec     rdx
        jnz     .Lp_loop1
.Lp_store:
        mov     r9, rcx
        CSTORE  8, 9
        CSTORE  10, 11
        CSTORE  12, 13
        CSTORE  14, 15
        CSTORE  16, 17
        CSTORE  18, 19
        CSTORE  20, 21
        CSTORE  22, 23
        CSTORE  24, 25
        CSTORE  26, 27
        CSTORE  28, 29
        CSTORE  30, 31
        vzeroupper
        ret
        .size   lanner_gemm_packed_12x32_avx512, .-lanner_gemm_packed_12x32_avx512

        .section .note.GNU-stack,"",@progbits
