/* SPDX-License-Identifier: Apache-2.0 */
/* Entered in 64-bit mode by the Linux 64-bit boot protocol: %rsi = zero page. */
	.section .text.start, "ax"
	.globl _start
_start:
	lea	stack_top(%rip), %rsp
	mov	%rsi, %rdi
	call	payload_main
1:	cli
	hlt
	jmp	1b

	.section .bss
	.balign 16
stack:
	.skip	16384
stack_top:

	.section .note.GNU-stack, "", @progbits
