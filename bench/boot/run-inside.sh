#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Boot benchmark, the part that runs where /dev/kvm runs stock kernels: inside the nested test host
# (busybox sh, as /extra/run-inside.sh) or directly on a VMX/SVM machine. Boots the same guest
# (Debian's cloud kernel, busybox initramfs, vmmtest=poweroff, 512 MiB) under our vmm, QEMU microvm
# and QEMU q35, for every config of the matrix CPUS_LIST x KERNELS (1 and 2 vCPUs; the bzImage
# vmlinuz and the ELF vmlinux through its PVH entry). First one warm-up run per VMM and kernel
# (1 vCPU); when a VMM fails it twice, that VMM and kernel are n/a:
#   @@BENCH-NA microvm|q35|vmm kernel=bzImage|vmlinux reason=...
# then RUNS rounds; in each, every config runs the three VMMs in an order that changes with the
# round and the config (all six orders in turn). One line per run:
#   @@BENCH vmm|microvm|q35 run=N|warmup cpus=N kernel=K result_ms=.. exit_ms=.. rss_kib=.. status=..
#          user_ms=.. sys_ms=.. first_ms=.. exec_ms=.. [mark_ms=..] smaps_rss_kib=.. ram_rss_kib=..
#          ram_size_kib=.. pass=0|1 guest_up_s=.. own_kib=.. [first_run_ms=.. timer_run_ms=..]
# result_ms: process start (bootwatch's fork) to the first console line with VMMTEST-RESULT, which
# the guest's /init prints first thing; exit_ms: start to exit; rss_kib: peak RSS of the VMM process;
# pass=1 when the guest printed "VMMTEST-RESULT poweroff PASS"; guest_up_s: the guest's own uptime
# when its test started (its "vmmtest: running" line); own_kib: the VMM's own memory when the result
# line came (Rss of /proc/PID/smaps minus the Rss of its largest mapping, the guest RAM; -1: no
# sample). For vmm only (run with --boot-timer, its stderr kept apart): first_run_ms, execvp to the
# moment bootwatch read vmm's "boot-timer: first KVM_RUN" line (includes loading the program and its
# libraries; late by the pipe's wake-up), and timer_run_ms, that line's own figure (from vmm's main()).
# QEMU gets -M microvm,rtc=on: microvm leaves the CMOS clock out under KVM by default, and the
# guest kernel then spends seconds probing the missing chip (3.6 s in the nested test host); our
# vmm has one, so both guests see the same devices. QEMU_MACHINE=microvm measures the default.
# QEMU -M q35 boots through SeaBIOS (bios-256k.bin) and linuxboot_dma.bin or pvh.bin.
# MODE=timeline (bench/boot/timeline.sh): vmm against QEMU (-M QEMU_MACHINE, named "qemu") only,
# 1 vCPU, bzImage; the guest runs vmmtest=dmesg instead, result_ms is the time
# to its "vmmtest: running" line (its /init), bootwatch also samples the VMM's /proc/PID/smaps then, and
# each run's kernel log follows its @@BENCH line as "@@DMESG vmm|qemu RUN [time] message" lines; with
# STRACE=1 and strace in PATH, one more run per VMM under strace prints
#   @@STRACE vmm|qemu create_vm_ms=.. first_run_ms=..  (from the VMM's execve, host clock)
# env (defaults are the test host's paths):
#   VMM=/vmm/vmm  GUEST=/guest  BOOTWATCH=/extra/bootwatch  FW=/extra/fw (QEMU -L directory)
#   QEMU=qemu-system-x86_64  QEMU_MACHINE=microvm,rtc=on  RUNS=10  TMPDIR=/tmp  MODE=boot
#   CPUS_LIST="1 2"  KERNELS="bzImage vmlinux"  GUEST_KVER_FILE=$GUEST/kernel-version
#   DEVICES=user|tap: every VMM also gets one virtio-blk disk (a 64 MiB raw image) and one virtio-net
#   NIC, on user-mode networking (vmm --net user, QEMU -netdev user) or on a tap of its own that it
#   makes and removes (vmm --net tap=vmmbt0, QEMU -netdev tap,ifname=vmmbt0; needs root), with
#   virtio-*-device on microvm and virtio-*-pci on q35: the VMM's own memory with one disk and one
#   NIC (issue 10)
VMM=${VMM:-/vmm/vmm}
GUEST=${GUEST:-/guest}
BOOTWATCH=${BOOTWATCH:-/extra/bootwatch}
FW=${FW:-/extra/fw}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_MACHINE=${QEMU_MACHINE:-microvm,rtc=on}
RUNS=${RUNS:-10}
T=${TMPDIR:-/tmp}
MODE=${MODE:-boot}
CPUS_LIST=${CPUS_LIST:-1 2}
KERNELS=${KERNELS:-bzImage vmlinux}
DEVICES=${DEVICES:-}
TEST=poweroff PATTERN=VMMTEST-RESULT
if [ "$MODE" = timeline ]; then TEST=dmesg PATTERN="vmmtest: running"; fi
CMDLINE="console=ttyS0 reboot=k panic=-1 quiet vmmtest=$TEST"

for f in "$VMM" "$BOOTWATCH" "$GUEST/vmlinuz" "$GUEST/initramfs.gz" "$FW/bios-microvm.bin"; do
	[ -e "$f" ] || { echo "@@BENCH-ERROR missing $f"; exit 1; }
done
command -v "$QEMU" >/dev/null 2>&1 || { echo "@@BENCH-ERROR $QEMU not found"; exit 1; }
[ -c /dev/kvm ] || { echo "@@BENCH-ERROR no /dev/kvm"; exit 1; }

echo "@@BENCH-INFO kernel=$(uname -r) cpus=$(nproc) guest=$(cat "${GUEST_KVER_FILE:-$GUEST/kernel-version}" 2>/dev/null || echo unknown)"
# DEVICES=user|tap: the disk and NIC options of each VMM (the image is made once; the guest does not touch it).
VMM_DEV='' MICROVM_DEV='' Q35_DEV=''
case $DEVICES in
user | tap)
	DISK=$T/bench-disk.img
	rm -f "$DISK"
	dd if=/dev/zero of="$DISK" bs=1M count=0 seek=64 2>/dev/null || { echo "@@BENCH-ERROR cannot make $DISK"; exit 1; }
	if [ "$DEVICES" = user ]; then
		VMM_DEV="--disk $DISK --net user" qn="-netdev user,id=n0" what="user-mode networking"
	else
		VMM_DEV="--disk $DISK --net tap=vmmbt0" qn="-netdev tap,id=n0,ifname=vmmbt0,script=no,downscript=no"
		what="a tap (made and removed by the VMM)"
	fi
	qd="-drive id=d0,file=$DISK,format=raw,if=none $qn"
	MICROVM_DEV="$qd -device virtio-blk-device,drive=d0 -device virtio-net-device,netdev=n0"
	Q35_DEV="$qd -device virtio-blk-pci,drive=d0 -device virtio-net-pci,netdev=n0,romfile="
	echo "@@BENCH-INFO devices=one virtio-blk disk (64 MiB raw image) and one virtio-net NIC on $what, every VMM"
	;;
'') ;;
*) echo "@@BENCH-ERROR DEVICES is user, tap or empty, not '$DEVICES'"; exit 1 ;;
esac
echo "@@BENCH-INFO vmm=$("$VMM" --version 2>&1 | head -1)"
if [ "$MODE" = timeline ]; then
	echo "@@BENCH-INFO qemu=$("$QEMU" --version 2>&1 | head -1) machine=$QEMU_MACHINE"
else
	echo "@@BENCH-INFO qemu=$("$QEMU" --version 2>&1 | head -1) machine=$QEMU_MACHINE,q35"
fi
# What starting each program costs before any VM exists (loading, dynamic linking): --version.
for _ in 1 2; do
	echo "@@BENCH-INFO vmm --version: $("$BOOTWATCH" -t 60 NONE -- "$VMM" --version)"
	echo "@@BENCH-INFO qemu --version: $("$BOOTWATCH" -t 60 NONE -- "$QEMU" --version)"
done

# kv KEY LINE: the value of KEY=value in LINE (empty when absent).
kv() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }

# one WHO RUN CPUS KERNEL [WRAPPER...]: a single timed boot (under WRAPPER, e.g. strace, if given);
# prints its @@BENCH line, and the console's tail on failure (ok=1 when it passed, else fail_reason).
one() {
	w=$1 run=$2 cpus=$3 kern=$4
	shift 4
	out=$T/bench-$w.out err=$T/bench-$w.err
	kfile=$GUEST/vmlinuz
	[ "$kern" = vmlinux ] && kfile=$GUEST/vmlinux
	if [ "$MODE" = timeline ]; then
		set -- -o "$out" -s "$PATTERN" -- "$@"
	elif [ "$w" = vmm ]; then
		set -- -o "$out" -e "$err" -s -m "boot-timer: first KVM_RUN" "$PATTERN" -- "$@"
	else
		set -- -o "$out" -e "$err" -s "$PATTERN" -- "$@"
	fi
	case $w in
	vmm)
		timer=
		[ "$MODE" = timeline ] || timer=--boot-timer
		# shellcheck disable=SC2086 # VMM_DEV: options, split on purpose
		line=$("$BOOTWATCH" -t 300 "$@" \
			"$VMM" --kernel "$kfile" --initrd "$GUEST/initramfs.gz" --mem 512M --cpus "$cpus" \
			--console=stdio $timer $VMM_DEV --cmdline "$CMDLINE") ;;
	*)
		m=$QEMU_MACHINE dev=$MICROVM_DEV
		[ "$w" = q35 ] && m=q35 dev=$Q35_DEV
		# shellcheck disable=SC2086 # dev: options, split on purpose
		line=$("$BOOTWATCH" -t 300 "$@" \
			"$QEMU" -M "$m" -accel kvm -cpu host -m 512M -smp "$cpus" -nodefaults -no-user-config \
			-nographic -serial stdio -no-reboot -L "$FW" $dev \
			-kernel "$kfile" -initrd "$GUEST/initramfs.gz" -append "$CMDLINE") ;;
	esac
	pass=0
	grep -q "VMMTEST-RESULT $TEST PASS" "$out" && pass=1
	# Not anchored: under q35 the line can follow SeaBIOS's "Booting from ROM.." on the same line.
	up=$(sed -n "s/.*vmmtest: running .* uptime \([0-9.]*\) s.*/\1/p" "$out" | head -1)
	if [ "$MODE" = timeline ]; then
		echo "@@BENCH $w run=$run $line pass=$pass guest_up_s=${up:-?}"
		tr -d '\r' <"$out" | sed -n '/^VMMTEST-DMESG-BEGIN/,/^VMMTEST-DMESG-END/p' |
			grep '^\[' | sed "s/^/@@DMESG $w $run /"
	else
		own=-1 extra=
		ram=$(kv ram_rss_kib "$line") tot=$(kv smaps_rss_kib "$line")
		[ "${ram:--1}" -gt 0 ] 2>/dev/null && own=$((tot - ram))
		if [ "$w" = vmm ]; then
			fr=$(echo "$(kv mark_ms "$line") $(kv exec_ms "$line")" |
				awk '$1 >= 0 && $2 >= 0 { printf "%.1f", $1 - $2; exit } { print -1 }')
			tmr=$(tr -d '\r' <"$err" | sed -n 's/^vmm: boot-timer: first KVM_RUN .* at \([0-9.]*\) ms.*/\1/p' | head -1)
			extra=" first_run_ms=$fr timer_run_ms=${tmr:--1}"
		fi
		echo "@@BENCH $w run=$run cpus=$cpus kernel=$kern $line pass=$pass guest_up_s=${up:-?} own_kib=$own$extra"
	fi
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

if [ "$MODE" = timeline ]; then
	one vmm warmup 1 bzImage
	one qemu warmup 1 bzImage
	# Host-side start-up, timed by strace on the VMM's own clock: execve -> KVM_CREATE_VM -> first KVM_RUN.
	# Not counted: strace stops the VMM at every ioctl (each KVM_RUN too), which slows the boot itself (in the
	# nested test host the two runs took minutes) and its start-up too (the figures are upper bounds).
	if [ "${STRACE:-0}" = 1 ] && command -v strace >/dev/null 2>&1; then
		for w in vmm qemu; do
			one "$w" strace 1 bzImage strace -f -ttt -e trace=execve,ioctl -o "$T/strace-$w.txt" >/dev/null
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
		if [ $((i % 2)) = 1 ]; then one vmm "$i" 1 bzImage; one qemu "$i" 1 bzImage; else one qemu "$i" 1 bzImage; one vmm "$i" 1 bzImage; fi
		i=$((i + 1))
	done
	echo "@@BENCH-DONE runs=$RUNS"
	exit 0
fi

# The matrix. NA holds " WHO:KERNEL " for the VMMs that cannot boot a kernel.
NA=" "
is_na() { case $NA in *" $1:$2 "*) return 0 ;; esac; return 1; }
[ -e "$GUEST/vmlinux" ] && cat "$GUEST/vmlinux" >/dev/null # into the page cache (direct runs)
# shellcheck disable=SC2086 # the lists' words, joined by commas
echo "@@BENCH-INFO matrix cpus=$(echo $CPUS_LIST | tr ' ' ,) kernels=$(echo $KERNELS | tr ' ' ,) runs=$RUNS"
c1=${CPUS_LIST%% *}
for kern in $KERNELS; do
	for w in vmm microvm q35; do
		if [ "$kern" = vmlinux ] && [ ! -s "$GUEST/vmlinux" ]; then
			NA="$NA$w:$kern "
			echo "@@BENCH-NA $w kernel=$kern reason=no $GUEST/vmlinux in this host"
			continue
		fi
		ok=0
		one "$w" warmup "$c1" "$kern"
		[ "$ok" = 1 ] || one "$w" warmup "$c1" "$kern"
		if [ "$ok" != 1 ]; then
			NA="$NA$w:$kern "
			echo "@@BENCH-NA $w kernel=$kern reason=two warm-up runs failed, the last: $fail_reason"
		fi
	done
done
# order K: the K-th (mod 6) of the six orders of the three VMMs.
order() {
	case $(($1 % 6)) in
	0) echo vmm microvm q35 ;; 1) echo microvm q35 vmm ;; 2) echo q35 vmm microvm ;;
	3) echo vmm q35 microvm ;; 4) echo q35 microvm vmm ;; *) echo microvm vmm q35 ;;
	esac
}
i=1
while [ "$i" -le "$RUNS" ]; do
	j=0
	for cpus in $CPUS_LIST; do
		for kern in $KERNELS; do
			j=$((j + 1))
			for w in $(order $((i + j))); do
				is_na "$w" "$kern" || one "$w" "$i" "$cpus" "$kern"
			done
		done
	done
	i=$((i + 1))
done
echo "@@BENCH-DONE runs=$RUNS"
