/* head.S: the tiny guest's first bytes: the arm64 Image header that
 * libxenguest's loader looks for (so it is placed at RAM base + 0x80000),
 * the entry (EL1, MMU off, x0 = the device tree), the exception vectors and
 * the two ways of calling Xen (hvc #0xEA1 for hypercalls, hvc #0 for PSCI). */

        .section .head, "ax"
        .globl _head
_head:
        b       entry                   /* code0 */
        .long   0                       /* code1 */
        .quad   0x80000                 /* text_offset */
        .quad   _image_size             /* image_size: file, bss and stack */
        .quad   0x2                     /* flags: little endian, 4 KiB pages */
        .quad   0, 0, 0                 /* res2..res4 */
        .ascii  "ARM\x64"               /* magic */
        .long   0                       /* res5: no PE header */

entry:
        msr     daifset, #0xf           /* no interrupts, ever */
        mov     x19, x0
        adrp    x1, vectors
        add     x1, x1, :lo12:vectors
        msr     vbar_el1, x1
        isb
        adrp    x1, __bss_start         /* the loader copies the file only */
        add     x1, x1, :lo12:__bss_start
        adrp    x2, __bss_end
        add     x2, x2, :lo12:__bss_end
1:      cmp     x1, x2
        b.hs    2f
        str     xzr, [x1], #8
        b       1b
2:      adrp    x1, __stack_top
        add     x1, x1, :lo12:__stack_top
        mov     sp, x1
        mov     x0, x19
        bl      tiny_main
3:      wfi
        b       3b

/* long hypercall(long nr, long a0, long a1, long a2): Xen's ARM ABI puts the
 * number in x16 and the arguments in x0..x4 (which Xen may clobber). */
        .text
        .globl hypercall
hypercall:
        mov     x16, x0
        mov     x0, x1
        mov     x1, x2
        mov     x2, x3
        hvc     #0xea1
        ret

/* long psci(long function): a PSCI call through the hypervisor (SMCCC). */
        .globl psci
psci:
        hvc     #0
        ret

/* Exceptions should not happen: each vector tells tiny_exception which one
 * it was, and that reports and crashes the domain. */
        .macro  vector kind
        .balign 0x80
        mov     x0, #\kind
        mrs     x1, esr_el1
        mrs     x2, elr_el1
        mrs     x3, far_el1
        b       tiny_exception
        .endm

        .balign 0x800
vectors:
        .irp    k, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
        vector  \k
        .endr
