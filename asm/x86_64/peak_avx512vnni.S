// The int8 multiply-add peak of one core, AVX-512 VNNI: `iters` times 24 independent vpdpbusd
// on zmm registers (64 unsigned x signed byte products each, accumulated in i32), enough chains
// to cover the instruction's latency on two ports. Nothing is read or written: the benchmark
// (bench/bench.py, through lanner._lanner._int8_peak_gops) times it to state prefill speed as a
// fraction of what the int8 units can do.
//
// Rust prototype (System V x86-64 ABI):
//   extern "C" fn lanner_int8_peak_avx512vnni(iters: usize);
// Registers: rdi = iterations left, zmm0..23 = accumulators, zmm30 / zmm31 = operands.

        .intel_syntax noprefix
        .text
        .globl  lanner_int8_peak_avx512vnni
        .type   lanner_int8_peak_avx512vnni, @function
        .p2align 5
lanner_int8_peak_avx512vnni:
        vpternlogd zmm30, zmm30, zmm30, 0xFF    // all ones
        vpabsb  zmm31, zmm30                    // bytes 1
        .irp    r, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23
        vpxord  zmm\r, zmm\r, zmm\r
        .endr
        test    rdi, rdi
        jz      .Lpk_done
.Lpk_loop:
        .irp    r, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23
        vpdpbusd zmm\r, zmm31, zmm30
        .endr
        dec     rdi
        jnz     .Lpk_loop
.Lpk_done:
        vzeroupper
        ret
        .size   lanner_int8_peak_avx512vnni, .-lanner_int8_peak_avx512vnni
