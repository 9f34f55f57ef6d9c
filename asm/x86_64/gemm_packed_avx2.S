// GEMM microkernel over packed panels, broadcast (outer-product) form, AVX2 + FMA: a tile of
// 6 tokens x 16 weight rows of C, accumulated in place.
//
// Rust prototype (System V x86-64 ABI):
//   extern "C" fn lanner_gemm_packed_6x16_avx2(wp: *const f32, xp: *const f32, kc: usize,
//                                              c: *mut f32, ldc: usize, fresh: usize);
// Scalar reference: crate::backend::cpu::reference::gemm_packed (mr = 6, nr = 16):
//   for t < 6, r < 16:  acc = fresh ? +0.0 : c[t * ldc + r];
//                       for k < kc: acc = fma(wp[k * 16 + r], xp[k * 6 + t], acc);
//                       c[t * ldc + r] = acc
// (one fused multiply-add per k, in k order: bit-identical to the reference). See
// gemm_packed_avx512.S for the packing. No alignment required.
// fresh != 0: C is not read (the first k block of a product).
// Registers: rdi = wp (advancing), rsi = xp (advancing), rdx = k left, rcx = c, r8 = ldc * 4,
//            r9 = fresh, then row of C, ymm0/1 = the 16 weights of one k, ymm2/3 = a broadcast token,
//            ymm4 + 2 t + h = acc[token t][rows 8 h .. 8 h + 7].

        .intel_syntax noprefix
        .text

.macro  CLOAD a, b
        vmovups ymm\a, [r9]
        vmovups ymm\b, [r9 + 32]
        add     r9, r8
.endm
.macro  CSTORE a, b
        vmovups [r9], ymm\a
        vmovups [r9 + 32], ymm\b
        add     r9, r8
.endm

.macro  TOK s, t, a, b, br
        vbroadcastss ymm\br, dword ptr [rsi + 24 * \s + 4 * \t]
        vfmadd231ps ymm\a, ymm0, ymm\br
        vfmadd231ps ymm\b, ymm1, ymm\br
.endm

.macro  STEP s
        vmovups ymm0, [rdi + 64 * \s]
        vmovups ymm1, [rdi + 64 * \s + 32]
        TOK     \s, 0, 4, 5, 2
        TOK     \s, 1, 6, 7, 3
        TOK     \s, 2, 8, 9, 2
        TOK     \s, 3, 10, 11, 3
        TOK     \s, 4, 12, 13, 2
        TOK     \s, 5, 14, 15, 3
.endm

        .globl  lanner_gemm_packed_6x16_avx2
        .type   lanner_gemm_packed_6x16_avx2, @function
        .p2align 5
lanner_gemm_packed_6x16_avx2:
        shl     r8, 2                           // ldc in bytes
        test    r9, r9
        jz      .Lq_load
        .irp    r, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
        vxorps  ymm\r, ymm\r, ymm\r
        .endr
        jmp     .Lq_go
.Lq_load:
        mov     r9, rcx
        CLOAD   4, 5
        CLOAD   6, 7
        CLOAD   8, 9
        CLOAD   10, 11
        CLOAD   12, 13
        CLOAD   14, 15
.Lq_go:
        cmp     rdx, 4
        jb      .Lq_tail
.Lq_loop4:                                      // 4 values of k per iteration
        STEP    0
        STEP    1
        STEP    2
        STEP    3
        add     rdi, 256
        add     rsi, 96
        sub     rdx, 4
        cmp     rdx, 4
        jae     .Lq_loop4
.Lq_tail:
        test    rdx, rdx
        jz      .Lq_store
.Lq_loop1:
        STEP    0
        add     rdi, 64
        add     rsi, 24
        dec     rdx
        jnz     .Lq_loop1
.Lq_store:
        mov     r9, rcx
        CSTORE  4, 5
        CSTORE  6, 7
        CSTORE  8, 9
        CSTORE  10, 11
        CSTORE  12, 13
        CSTORE  14, 15
        vzeroupper
        ret
        .size   lanner_gemm_packed_6x16_avx2, .-lanner_gemm_packed_6x16_avx2

        .section .note.GNU-stack,"",@progbits
