#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boot the nested test host: QEMU in pure software mode (TCG) emulating an AMD CPU with SVM, so
# that kvm-amd inside it gives our vmm a hardware-style /dev/kvm. Extra arguments go to QEMU.
# usage: qemu-host.sh KERNEL HOST_CPIO MODE [QEMU ARGS...]    (MODE: batch, shell or uname)
set -euo pipefail
K=$1 CPIO=$2 MODE=$3
shift 3
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-host: qemu-system-x86_64 is not installed (Debian: qemu-system-x86)" >&2; exit 1; }
# 3 vCPUs on multi-threaded TCG: both of a small machine's cores work, and a 2-vCPU guest inside
# never takes every CPU of the test host (with as many host CPUs as guest vCPUs, the emulated SVM
# was seen to starve the host's own threads until it hung). The guest inside gets 512 MiB.
exec qemu-system-x86_64 -accel tcg,thread=multi -cpu EPYC,+svm -m 2560 -smp "${VMM_HOST_SMP:-3}" -nodefaults -display none \
	-no-reboot -kernel "$K" -initrd "$CPIO" \
	-append "console=ttyS0 panic=-1 quiet vmmhost.mode=$MODE vmmhost.epoch=$(date +%s)" "$@" \
	2> >(grep -v "TCG doesn't support requested feature" >&2)
