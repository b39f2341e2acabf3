#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Boot benchmark on arm64, the part that runs where /dev/kvm is: inside the arm64 test host (busybox
# sh, as /extra/run-inside-arm64.sh) or directly on an arm64 machine with KVM. Boots the same guest
# (Debian's arm64 cloud kernel as an Image, the busybox initramfs, vmmtest=poweroff, 512 MiB) under
# our vmm and under QEMU's virt machine, for each vCPU count of CPUS_LIST. First one warm-up run per
# VMM (the first vCPU count); when a VMM fails it twice it is n/a:
#   @@BENCH-NA vmm|virt kernel=Image reason=...
# then RUNS rounds; in each, every vCPU count runs both VMMs one after the other, the first of the
# two alternating with the round and the vCPU count. One line per run, as bench/boot/run-inside.sh:
#   @@BENCH vmm|virt run=N|warmup cpus=N kernel=Image result_ms=.. exit_ms=.. rss_kib=.. status=..
#          user_ms=.. sys_ms=.. first_ms=.. exec_ms=.. [mark_ms=..] smaps_rss_kib=.. ram_rss_kib=..
#          ram_size_kib=.. pass=0|1 guest_up_s=.. own_kib=.. [first_run_ms=.. timer_run_ms=..]
# (the fields are bootwatch's, bench/boot/bootwatch.c; own_kib is the smaps Rss minus that of the
# largest mapping, the guest RAM; first_run_ms and timer_run_ms: vmm's first KVM_RUN, from execvp as
# bootwatch read it and from vmm's main() as vmm's --boot-timer says).
# The two guests' command lines differ only in the console: vmm's UART is a 16550 on MMIO (ttyS0),
# QEMU virt's a PL011 (ttyAMA0). QEMU: -M virt,gic-version=3 (vmm's in-kernel GICv3 and ITS;
# virt's default GICv2 does not exist on a GICv3 host), no firmware (with -kernel, virt starts the
# Image itself, with its own device tree), -nodefaults; the guest's poweroff is PSCI SYSTEM_OFF.
# QEMU's -cpu host gives the guest what KVM offers (pointer authentication, SVE, the PMU, stolen
# time); vmm's vCPUs have none of these: QEMU_CPU=host,pauth=off,sve=off,pmu=off,kvm-steal-time=off
# boots QEMU's guest with the same CPU features as vmm's.
# env (defaults are the test host's paths):
#   VMM=/vmm/vmm  GUEST=/guest  BOOTWATCH=/extra/bootwatch  QEMU=qemu-system-aarch64
#   QEMU_MACHINE=virt,gic-version=3  QEMU_CPU=host  RUNS=10  CPUS_LIST="1 2"  TMPDIR=/tmp
#   GUEST_KVER_FILE=$GUEST/kernel-version
VMM=${VMM:-/vmm/vmm}
GUEST=${GUEST:-/guest}
BOOTWATCH=${BOOTWATCH:-/extra/bootwatch}
QEMU=${QEMU:-qemu-system-aarch64}
QEMU_MACHINE=${QEMU_MACHINE:-virt,gic-version=3}
QEMU_CPU=${QEMU_CPU:-host}
RUNS=${RUNS:-10}
CPUS_LIST=${CPUS_LIST:-1 2}
T=${TMPDIR:-/tmp}
KERNEL=$GUEST/Image
[ -e "$KERNEL" ] || KERNEL=$GUEST/vmlinuz # build-host.sh copies the Image under this name
PATTERN=VMMTEST-RESULT
ARGS="reboot=k panic=-1 quiet vmmtest=poweroff"

for f in "$VMM" "$BOOTWATCH" "$KERNEL" "$GUEST/initramfs.gz"; do
	[ -e "$f" ] || { echo "@@BENCH-ERROR missing $f"; exit 1; }
done
command -v "$QEMU" >/dev/null 2>&1 || { echo "@@BENCH-ERROR $QEMU not found"; exit 1; }
[ -c /dev/kvm ] || { echo "@@BENCH-ERROR no /dev/kvm"; exit 1; }

echo "@@BENCH-INFO kernel=$(uname -r) cpus=$(nproc) guest=$(cat "${GUEST_KVER_FILE:-$GUEST/kernel-version}" 2>/dev/null || echo unknown)"
echo "@@BENCH-INFO vmm=$("$VMM" --version 2>&1 | head -1)"
echo "@@BENCH-INFO qemu=$("$QEMU" --version 2>&1 | head -1) machine=$QEMU_MACHINE cpu=$QEMU_CPU"
# What starting each program costs before any VM exists (loading, dynamic linking): --version.
for _ in 1 2; do
	echo "@@BENCH-INFO vmm --version: $("$BOOTWATCH" -t 60 NONE -- "$VMM" --version)"
	echo "@@BENCH-INFO qemu --version: $("$BOOTWATCH" -t 60 NONE -- "$QEMU" --version)"
done

# kv KEY LINE: the value of KEY=value in LINE (empty when absent).
kv() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }

# one WHO RUN CPUS: a single timed boot; prints its @@BENCH line, and the console's tail on failure
# (ok=1 when it passed, else fail_reason says why).
one() {
	w=$1 run=$2 cpus=$3
	out=$T/bench-$w.out err=$T/bench-$w.err
	case $w in
	vmm)
		line=$("$BOOTWATCH" -t 300 -o "$out" -e "$err" -s -m "boot-timer: first KVM_RUN" "$PATTERN" -- \
			"$VMM" --kernel "$KERNEL" --initrd "$GUEST/initramfs.gz" --mem 512M --cpus "$cpus" \
			--console=stdio --boot-timer --cmdline "console=ttyS0 $ARGS") ;;
	*)
		line=$("$BOOTWATCH" -t 300 -o "$out" -e "$err" -s "$PATTERN" -- \
			"$QEMU" -M "$QEMU_MACHINE" -accel kvm -cpu "$QEMU_CPU" -m 512M -smp "$cpus" -nodefaults -no-user-config \
			-nographic -serial stdio -no-reboot \
			-kernel "$KERNEL" -initrd "$GUEST/initramfs.gz" -append "console=ttyAMA0 $ARGS") ;;
	esac
	pass=0
	grep -q "VMMTEST-RESULT poweroff PASS" "$out" && pass=1
	up=$(sed -n "s/.*vmmtest: running .* uptime \([0-9.]*\) s.*/\1/p" "$out" | head -1)
	own=-1 extra=
	ram=$(kv ram_rss_kib "$line") tot=$(kv smaps_rss_kib "$line")
	[ "${ram:--1}" -gt 0 ] 2>/dev/null && own=$((tot - ram))
	if [ "$w" = vmm ]; then
		fr=$(echo "$(kv mark_ms "$line") $(kv exec_ms "$line")" |
			awk '$1 >= 0 && $2 >= 0 { printf "%.1f", $1 - $2; exit } { print -1 }')
		tmr=$(tr -d '\r' <"$err" | sed -n 's/^vmm: boot-timer: first KVM_RUN .* at \([0-9.]*\) ms.*/\1/p' | head -1)
		extra=" first_run_ms=$fr timer_run_ms=${tmr:--1}"
	fi
	echo "@@BENCH $w run=$run cpus=$cpus kernel=Image $line pass=$pass guest_up_s=${up:-?} own_kib=$own$extra"
	st=$(kv status "$line")
	ok=0
	[ "$st" = 0 ] && ok=$pass
	if [ "$ok" != 1 ]; then
		fail_reason="status=${st:-?}: $(cat "$err" "$out" 2>/dev/null | tr -d '\r' | grep -v '^[[:space:]]*$' | tail -n 1 | cut -c1-160)"
		echo "@@BENCH-FAIL $w run=$run: console tail follows"
		tail -n 20 "$out" | tr -d '\r'
		if [ -s "$err" ]; then echo "-- stderr:"; tail -n 10 "$err" | tr -d '\r'; fi
		echo "@@BENCH-FAIL-END"
	fi
	rm -f "$out" "$err"
}

# shellcheck disable=SC2086 # the list's words, joined by commas
echo "@@BENCH-INFO matrix cpus=$(echo $CPUS_LIST | tr ' ' ,) kernels=Image runs=$RUNS"
NA=" "
c1=${CPUS_LIST%% *}
for w in vmm virt; do
	ok=0
	one "$w" warmup "$c1"
	[ "$ok" = 1 ] || one "$w" warmup "$c1"
	if [ "$ok" != 1 ]; then
		NA="$NA$w "
		echo "@@BENCH-NA $w kernel=Image reason=two warm-up runs failed, the last: $fail_reason"
	fi
done
i=1
while [ "$i" -le "$RUNS" ]; do
	j=0
	for cpus in $CPUS_LIST; do
		j=$((j + 1))
		order="vmm virt"
		[ $(((i + j) % 2)) = 1 ] && order="virt vmm"
		for w in $order; do
			case $NA in *" $w "*) ;; *) one "$w" "$i" "$cpus" ;; esac
		done
	done
	i=$((i + 1))
done
echo "@@BENCH-DONE runs=$RUNS"
