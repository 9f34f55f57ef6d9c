// 16 x 16 f32 transpose, AVX-512F (the GEMM framework's weight-panel packing: dequantized rows
// in, k-major panel out).
//
// Rust prototype (System V x86-64 ABI):
//   extern "C" fn lanner_transpose_16x16_avx512(src: *const f32, lds: usize, dst: *mut f32,
//                                               ldd: usize);
// dst[j * ldd + i] = src[i * lds + j] for i, j in 0..16 (strides in floats). Pure data movement:
// bit-exact. No alignment required.
// Registers: rdi = src, rsi = lds * 4, rdx = dst, rcx = ldd * 4, r9 = 3 ldd * 4, r8 = 12 ldd * 4,
//            rax = row address;
//            zmm0..15 = rows, then 4 x 4 blocks; zmm16..31 = pairs, then lane shuffles.
//
// Stage 1 interleaves row pairs within 128-bit lanes, stage 2 gathers 4 rows of one column per
// lane (shufps), stage 3 moves 128-bit lanes between registers (vshuff32x4) so that each output
// row holds one column of all 16 rows.

        .intel_syntax noprefix
        .text

.macro  UNPACK a, b, lo, hi             // zmm lo/hi = interleave rows a, b (low / high pairs)
        vunpcklps zmm\lo, zmm\a, zmm\b
        vunpckhps zmm\hi, zmm\a, zmm\b
.endm
.macro  SHUF a, b, o0, o1               // zmm o0 / o1 = 64-bit halves 0 / 1 of a and b
        vshufps zmm\o0, zmm\a, zmm\b, 0x44
        vshufps zmm\o1, zmm\a, zmm\b, 0xEE
.endm
// column c of every lane L of u[c], u[4 + c], u[8 + c], u[12 + c] -> dst rows 4 L + c
.macro  LANES row, u0, u1, u2, u3          // row = address of dst row c
        vshuff32x4 zmm16, zmm\u0, zmm\u1, 0x44
        vshuff32x4 zmm17, zmm\u0, zmm\u1, 0xEE
        vshuff32x4 zmm18, zmm\u2, zmm\u3, 0x44
        vshuff32x4 zmm19, zmm\u2, zmm\u3, 0xEE
        vshuff32x4 zmm20, zmm16, zmm18, 0x88
        vshuff32x4 zmm21, zmm16, zmm18, 0xDD
        vshuff32x4 zmm22, zmm17, zmm19, 0x88
        vshuff32x4 zmm23, zmm17, zmm19, 0xDD
        lea     rax, \row
        vmovups [rax], zmm20                    // row c
        vmovups [rax + rcx * 4], zmm21          // row 4 + c
        vmovups [rax + rcx * 8], zmm22          // row 8 + c
        add     rax, r8
        vmovups [rax], zmm23                    // row 12 + c
.endm

        .globl  lanner_transpose_16x16_avx512
        .type   lanner_transpose_16x16_avx512, @function
        .p2align 5
lanner_transpose_16x16_avx512:
        shl     rsi, 2
        shl     rcx, 2
        mov     rax, rdi
        .irp    r, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
        vmovups zmm\r, [rax]
        add     rax, rsi
        .endr
        UNPACK  0, 1, 16, 17
        UNPACK  2, 3, 18, 19
        UNPACK  4, 5, 20, 21
        UNPACK  6, 7, 22, 23
        UNPACK  8, 9, 24, 25
        UNPACK  10, 11, 26, 27
        UNPACK  12, 13, 28, 29
        UNPACK  14, 15, 30, 31
        SHUF    16, 18, 0, 1                    // rows 0..3: columns 4L, 4L + 1
        SHUF    17, 19, 2, 3                    //            columns 4L + 2, 4L + 3
        SHUF    20, 22, 4, 5                    // rows 4..7
        SHUF    21, 23, 6, 7
        SHUF    24, 26, 8, 9                    // rows 8..11
        SHUF    25, 27, 10, 11
        SHUF    28, 30, 12, 13                  // rows 12..15
        SHUF    29, 31, 14, 15
        lea     r9, [rcx + rcx * 2]             // 3 rows of dst
        lea     r8, [r9 * 4]                    // 12 rows of dst
        LANES   "[rdx]", 0, 4, 8, 12
        LANES   "[rdx + rcx]", 1, 5, 9, 13
        LANES   "[rdx + rcx * 2]", 2, 6, 10, 14
        LANES   "[rdx + r9]", 3, 7, 11, 15
        vzeroupper
        ret
        .size   lanner_transpose_16x16_avx512, .-lanner_transpose_16x16_avx512

        .section .note.GNU-stack,"",@progbits
