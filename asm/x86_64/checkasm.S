// checkasm helper (FFmpeg's checkasm_checked_call): call a kernel with the callee-saved registers
// set to known values and report whether it gave them back.
//
// Rust prototype (System V x86-64 ABI):
//   extern "C" fn lanner_checkasm_call(f: *const (), args: *const u64, ret: *mut f32) -> u64;
// Calls f(args[0], ..., args[5]) (integer / pointer arguments; xmm0 = 1.0 for a kernel that takes
// one f32 argument, which travels in xmm0 beside the integer ones), stores its xmm0 (an f32
// result) at *ret, and returns the OR of (register ^ the value it was given) over rbx, rbp, r12..r15:
// 0 when every callee-saved register survived. Used by the tests in src/backend/cpu/table.rs.

        .intel_syntax noprefix
        .text

        .globl  lanner_checkasm_call
        .type   lanner_checkasm_call, @function
        .p2align 4
lanner_checkasm_call:
        push    rbx
        push    rbp
        push    r12
        push    r13
        push    r14
        push    r15
        push    rdx                             // ret (also aligns the stack to 16 for the call)
        mov     rax, rdi
        movabs  rbx, 0x5A5A0000DEAD0001
        movabs  rbp, 0x5A5A0000DEAD0002
        movabs  r12, 0x5A5A0000DEAD0003
        movabs  r13, 0x5A5A0000DEAD0004
        movabs  r14, 0x5A5A0000DEAD0005
        movabs  r15, 0x5A5A0000DEAD0006
        mov     rdi, [rsi]
        mov     rdx, [rsi + 16]
        mov     rcx, [rsi + 24]
        mov     r8, [rsi + 32]
        mov     r9, [rsi + 40]
        mov     rsi, [rsi + 8]
        mov     r10d, 0x3F800000                // 1.0f
        movd    xmm0, r10d
        call    rax
        pop     rdx
        movss   dword ptr [rdx], xmm0
        movabs  rax, 0x5A5A0000DEAD0001
        xor     rax, rbx
        movabs  rcx, 0x5A5A0000DEAD0002
        xor     rcx, rbp
        or      rax, rcx
        movabs  rcx, 0x5A5A0000DEAD0003
        xor     rcx, r12
        or      rax, rcx
        movabs  rcx, 0x5A5A0000DEAD0004
        xor     rcx, r13
        or      rax, rcx
        movabs  rcx, 0x5A5A0000DEAD0005
        xor     rcx, r14
        or      rax, rcx
        movabs  rcx, 0x5A5A0000DEAD0006
        xor     rcx, r15
        or      rax, rcx
        pop     r15
        pop     r14
        pop     r13
        pop     r12
        pop     rbp
        pop     rbx
        ret
        .size   lanner_checkasm_call, .-lanner_checkasm_call

        .section .note.GNU-stack,"",@progbits
