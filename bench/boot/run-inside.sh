#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Boot benchmark, the part that runs where /dev/kvm runs stock kernels: inside the nested test host
# (busybox sh, as /extra/run-inside.sh) or directly on a VMX/SVM machine. Boots the same guest
# (Debian's cloud kernel, busybox initramfs, vmmtest=poweroff) alternately under our vmm and under
# QEMU microvm, RUNS counted runs each after one warm-up run each, and prints one line per run:
#   @@BENCH vmm|qemu run=N|warmup result_ms=.. exit_ms=.. rss_kib=.. status=.. pass=0|1 guest_up_s=..
# result_ms: process start to the first console line with VMMTEST-RESULT; exit_ms: start to exit;
# rss_kib: peak RSS of the VMM process; pass=1 when the guest printed "VMMTEST-RESULT poweroff PASS";
# guest_up_s: the guest's own uptime when its test started (its "vmmtest: running" line).
# QEMU gets -M microvm,rtc=on: microvm leaves the CMOS clock out under KVM by default, and the
# guest kernel then spends seconds probing the missing chip (3.6 s in the nested test host); our
# vmm has one, so both guests see the same devices. QEMU_MACHINE=microvm measures the default.
# MODE=timeline (bench/boot/timeline.sh): the guest runs vmmtest=dmesg instead, result_ms is the time
# to its "vmmtest: running" line (its /init), bootwatch also samples the VMM's /proc/PID/smaps then, and
# each run's kernel log follows its @@BENCH line as "@@DMESG vmm|qemu RUN [time] message" lines; with
# STRACE=1 and strace in PATH, one more run per VMM under strace prints
#   @@STRACE vmm|qemu create_vm_ms=.. first_run_ms=..  (from the VMM's execve, host clock)
# env (defaults are the test host's paths):
#   VMM=/vmm/vmm  GUEST=/guest  BOOTWATCH=/extra/bootwatch  FW=/extra/fw (QEMU -L directory)
#   QEMU=qemu-system-x86_64  QEMU_MACHINE=microvm,rtc=on  RUNS=10  TMPDIR=/tmp  MODE=boot
#   GUEST_KVER_FILE=$GUEST/kernel-version
VMM=${VMM:-/vmm/vmm}
GUEST=${GUEST:-/guest}
BOOTWATCH=${BOOTWATCH:-/extra/bootwatch}
FW=${FW:-/extra/fw}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_MACHINE=${QEMU_MACHINE:-microvm,rtc=on}
RUNS=${RUNS:-10}
T=${TMPDIR:-/tmp}
MODE=${MODE:-boot}
TEST=poweroff PATTERN=VMMTEST-RESULT SMAPS=
if [ "$MODE" = timeline ]; then TEST=dmesg PATTERN="vmmtest: running" SMAPS=-s; fi
CMDLINE="console=ttyS0 reboot=k panic=-1 quiet vmmtest=$TEST"

for f in "$VMM" "$BOOTWATCH" "$GUEST/vmlinuz" "$GUEST/initramfs.gz" "$FW/bios-microvm.bin"; do
	[ -e "$f" ] || { echo "@@BENCH-ERROR missing $f"; exit 1; }
done
command -v "$QEMU" >/dev/null 2>&1 || { echo "@@BENCH-ERROR $QEMU not found"; exit 1; }
[ -c /dev/kvm ] || { echo "@@BENCH-ERROR no /dev/kvm"; exit 1; }

echo "@@BENCH-INFO kernel=$(uname -r) cpus=$(nproc) guest=$(cat "${GUEST_KVER_FILE:-$GUEST/kernel-version}" 2>/dev/null || echo unknown)"
echo "@@BENCH-INFO vmm=$("$VMM" --version 2>&1 | head -1)"
echo "@@BENCH-INFO qemu=$("$QEMU" --version 2>&1 | head -1) machine=$QEMU_MACHINE"
# What starting each program costs before any VM exists (loading, dynamic linking): --version.
for _ in 1 2; do
	echo "@@BENCH-INFO vmm --version: $("$BOOTWATCH" -t 60 NONE -- "$VMM" --version)"
	echo "@@BENCH-INFO qemu --version: $("$BOOTWATCH" -t 60 NONE -- "$QEMU" --version)"
done

# one WHICH RUN [WRAPPER...]: a single timed boot (under WRAPPER, e.g. strace, if given); prints its
# @@BENCH line, and the console's tail on failure.
one() {
	w=$1 run=$2
	shift 2
	out=$T/bench-$w.out
	case $w in
	vmm)
		line=$("$BOOTWATCH" -t 300 -o "$out" $SMAPS "$PATTERN" -- "$@" \
			"$VMM" --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initramfs.gz" --mem 512M --cpus 1 \
			--console=stdio --cmdline "$CMDLINE") ;;
	qemu)
		line=$("$BOOTWATCH" -t 300 -o "$out" $SMAPS "$PATTERN" -- "$@" \
			"$QEMU" -M "$QEMU_MACHINE" -accel kvm -cpu host -m 512M -smp 1 -nodefaults -no-user-config \
			-nographic -serial stdio -no-reboot -L "$FW" \
			-kernel "$GUEST/vmlinuz" -initrd "$GUEST/initramfs.gz" -append "$CMDLINE") ;;
	esac
	pass=0
	grep -q "VMMTEST-RESULT $TEST PASS" "$out" && pass=1
	up=$(sed -n "s/^vmmtest: running .* uptime \([0-9.]*\) s.*/\1/p" "$out" | head -1)
	echo "@@BENCH $w run=$run $line pass=$pass guest_up_s=${up:-?}"
	[ "$MODE" = timeline ] && tr -d '\r' <"$out" | sed -n '/^VMMTEST-DMESG-BEGIN/,/^VMMTEST-DMESG-END/p' |
		grep '^\[' | sed "s/^/@@DMESG $w $run /"
	case "$line" in
	*" status=0 "*) ok=$pass ;;
	*) ok=0 ;;
	esac
	if [ "$ok" != 1 ]; then
		echo "@@BENCH-FAIL $w run=$run: console tail follows"
		tail -n 20 "$out" | tr -d '\r'
		echo "@@BENCH-FAIL-END"
	fi
	rm -f "$out"
}

one vmm warmup
one qemu warmup
# Host-side start-up, timed by strace on the VMM's own clock: execve -> KVM_CREATE_VM -> first KVM_RUN.
# Not counted: strace stops the VMM at every ioctl (each KVM_RUN too), which slows the boot itself (in the
# nested test host the two runs took minutes) and its start-up too (the figures are upper bounds).
if [ "$MODE" = timeline ] && [ "${STRACE:-0}" = 1 ] && command -v strace >/dev/null 2>&1; then
	for w in vmm qemu; do
		one "$w" strace strace -f -ttt -e trace=execve,ioctl -o "$T/strace-$w.txt" >/dev/null
		awk -v w="$w" '{ for (i = 1; i <= 2; i++) if ($i ~ /^[0-9]+\.[0-9]+$/) { t = $i; break } }
			/execve\(/ && t0 == "" { t0 = t }
			/KVM_CREATE_VM/ && cv == "" { cv = t }
			/KVM_RUN/ && fr == "" { fr = t }
			END { printf "@@STRACE %s create_vm_ms=%.1f first_run_ms=%.1f\n", w, (cv - t0) * 1e3, (fr - t0) * 1e3 }' \
			"$T/strace-$w.txt"
		rm -f "$T/strace-$w.txt"
	done
fi
i=1
while [ "$i" -le "$RUNS" ]; do
	# Alternate which one goes first, so neither always follows the other.
	if [ $((i % 2)) = 1 ]; then one vmm "$i"; one qemu "$i"; else one qemu "$i"; one vmm "$i"; fi
	i=$((i + 1))
done
echo "@@BENCH-DONE runs=$RUNS"
