#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boot the nested test host: QEMU in pure software mode (TCG) emulating an AMD CPU with SVM, so
# that kvm-amd inside it gives our vmm a hardware-style /dev/kvm. Extra arguments go to QEMU.
# VMM_ARCH=arm64: the arm64 test host instead, QEMU's virt machine with the virtualization extensions
# (EL2) and a GICv3, so that the kernel's built-in KVM gives vmm a /dev/kvm; KERNEL is the arm64 Image
# and its console is the virt machine's PL011 (ttyAMA0).
# usage: qemu-host.sh KERNEL HOST_CPIO MODE [QEMU ARGS...]    (MODE: batch, shell or uname)
set -euo pipefail
K=$1 CPIO=$2 MODE=$3
shift 3
if [ "${VMM_ARCH:-x86_64}" = arm64 ]; then
	command -v qemu-system-aarch64 >/dev/null || { echo "qemu-host: qemu-system-aarch64 is not installed (Debian: qemu-system-arm)" >&2; exit 1; }
	# 3 vCPUs on multi-threaded TCG, as for x86. -cpu max with pauth-impdef=on: QEMU's own pointer
	# authentication algorithm instead of the architected QARMA, which TCG computes slowly (the kernel
	# signs every return address: measured, this test host reached its /init in 3.3 s of uptime instead
	# of 11 s, the arm64 guest kernel under TCG in 1.8 s instead of 5.8 s).
	exec qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu max,pauth-impdef=on \
		-accel tcg,thread=multi -m 2560 -smp "${VMM_HOST_SMP:-3}" -nodefaults -display none \
		-no-reboot -kernel "$K" -initrd "$CPIO" \
		-append "console=ttyAMA0 panic=-1 quiet vmmhost.mode=$MODE vmmhost.epoch=$(date +%s)" "$@"
fi
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-host: qemu-system-x86_64 is not installed (Debian: qemu-system-x86)" >&2; exit 1; }
# 3 vCPUs on multi-threaded TCG: both of a small machine's cores work, and a 2-vCPU guest inside
# never takes every CPU of the test host (with as many host CPUs as guest vCPUs, the emulated SVM
# was seen to starve the host's own threads until it hung). The guest inside gets 512 MiB.
exec qemu-system-x86_64 -accel tcg,thread=multi -cpu EPYC,+svm -m 2560 -smp "${VMM_HOST_SMP:-3}" -nodefaults -display none \
	-no-reboot -kernel "$K" -initrd "$CPIO" \
	-append "console=ttyS0 panic=-1 quiet vmmhost.mode=$MODE vmmhost.epoch=$(date +%s)" "$@" \
	2> >(grep -v "TCG doesn't support requested feature" >&2)
