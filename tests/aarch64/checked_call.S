// Callee-saved register check for the AArch64 kernels (FFmpeg checkasm's checked_call, small).
//
// C prototypes (one entry point; the C side picks the return type it expects):
//   float lanner_checked_call_f(const void *fn, uintptr_t a0, ..., uintptr_t a6);
//   void  lanner_checked_call_v(const void *fn, uintptr_t a0, ..., uintptr_t a6);
// Calls fn(a0..a6) with x19-x28 and d8-d15 holding lanner_canary[0..18] and every caller-saved
// SIMD register filled with garbage (a kernel that forgets to zero an accumulator shows), then
// stores what the callee left in x19-x28, d8-d15 into lanner_after[0..18], and sp before / after
// the call and x29 after it into lanner_after[18..21]. The C side compares. fn's result (x0 or
// s0) is passed back untouched; this function itself preserves everything AAPCS64 asks.

        .text
        .globl  lanner_checked_call_f
        .type   lanner_checked_call_f, %function
        .globl  lanner_checked_call_v
        .type   lanner_checked_call_v, %function
        .p2align 4
lanner_checked_call_f:
lanner_checked_call_v:
        stp     x29, x30, [sp, #-160]!
        mov     x29, sp
        stp     x19, x20, [sp, #16]             // the caller's callee-saved registers
        stp     x21, x22, [sp, #32]
        stp     x23, x24, [sp, #48]
        stp     x25, x26, [sp, #64]
        stp     x27, x28, [sp, #80]
        stp     d8, d9, [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]

        mov     x16, x0                         // fn
        mov     x0, x1                          // shift the arguments down
        mov     x1, x2
        mov     x2, x3
        mov     x3, x4
        mov     x4, x5
        mov     x5, x6
        mov     x6, x7
        .irp    r, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        movi    v\r\().16b, #0x55               // 0x55555555 = 1.47e13 as f32
        .endr
        adrp    x17, lanner_canary
        add     x17, x17, :lo12:lanner_canary
        ldp     x19, x20, [x17, #0]
        ldp     x21, x22, [x17, #16]
        ldp     x23, x24, [x17, #32]
        ldp     x25, x26, [x17, #48]
        ldp     x27, x28, [x17, #64]
        ldp     d8, d9, [x17, #80]
        ldp     d10, d11, [x17, #96]
        ldp     d12, d13, [x17, #112]
        ldp     d14, d15, [x17, #128]
        adrp    x17, lanner_after
        add     x17, x17, :lo12:lanner_after
        mov     x15, sp
        str     x15, [x17, #144]                // sp before the call
        blr     x16

        adrp    x16, lanner_after               // x0 / v0 hold the result: leave them alone
        add     x16, x16, :lo12:lanner_after
        stp     x19, x20, [x16, #0]
        stp     x21, x22, [x16, #16]
        stp     x23, x24, [x16, #32]
        stp     x25, x26, [x16, #48]
        stp     x27, x28, [x16, #64]
        stp     d8, d9, [x16, #80]
        stp     d10, d11, [x16, #96]
        stp     d12, d13, [x16, #112]
        stp     d14, d15, [x16, #128]
        mov     x15, sp
        str     x15, [x16, #152]                // sp after the call
        str     x29, [x16, #160]                // x29 after the call (must equal sp before)

        ldp     x19, x20, [sp, #16]
        ldp     x21, x22, [sp, #32]
        ldp     x23, x24, [sp, #48]
        ldp     x25, x26, [sp, #64]
        ldp     x27, x28, [sp, #80]
        ldp     d8, d9, [sp, #96]
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        ldp     x29, x30, [sp], #160
        ret
        .size   lanner_checked_call_f, .-lanner_checked_call_f
        .size   lanner_checked_call_v, .-lanner_checked_call_v

        .section .note.GNU-stack,"",%progbits
