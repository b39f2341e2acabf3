#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Snapshot benchmark, the part that runs where /dev/kvm runs stock kernels: inside the nested test
# host (busybox sh, as /extra/run-inside.sh) or directly on a VMX/SVM machine.
#
# The guest: Debian's cloud kernel, the busybox test initramfs, 1 vCPU, command line
#   console=ttyS0 reboot=k panic=-1 quiet vmmtest=snapshot vmmtest.timeout=900
# Its /init (t_snapshot in tests/guest/init) prints "SNAP-REQUEST ...", writes port 0x624 (asks for a
# snapshot), prints "READY-FOR-COMMAND", reads one line from the console and runs it: for the command
# "echo x" it prints "SNAP-COUNT 42", "SNAP-UPTIME ...", "SNAP-CMD-OUT x",
# "VMMTEST-RESULT snapshot PASS" and powers off.
#
# 1. Saving, once per VMM and RAM size (256 MiB and 2 GiB):
#    vmm:  vmm -v --kernel .. --mem M --snapshot-dir DIR: vmm saves at the guest's port write, exits 0.
#    QEMU: -device pvpanic,ioport=0x624 -action panic=pause: the guest's write to 0x624 is a "panic"
#          that pauses the VM at the same instruction; then HMP `migrate "exec:cat > FILE"`, quit.
#    One line each:  @@SNAP-SAVE vmm|qemu mem=MIB ...
# 2. Runs; each config: snapwatch starts the VMM, writes "echo x" to its stdin once
#    READY-FOR-COMMAND is on the console, and times everything up to the exit:
#      vmm restore   vmm --restore DIR --console=stdio --boot-timer            (256 MiB and 2 GiB)
#      qemu restore  the save's QEMU command with -incoming defer and -qmp; snapwatch sends
#                    migrate-incoming "exec:cat FILE" and, once loaded, cont  (256 MiB and 2 GiB)
#      vmm cold      vmm --kernel .. --mem 256M --console=stdio --boot-timer (no --snapshot-dir: the
#                    guest's request is ignored and it goes on to READY-FOR-COMMAND)
#      qemu cold     the QEMU command without pvpanic and -incoming
#    One warm-up run per config (not counted), then RUNS rounds; in round N the configs run in the
#    list's order rotated by N. One line per run:
#      @@SNAP vmm|qemu restore|cold mem=MIB run=N|warmup <snapwatch's line> [first_run_ms=..]
#            pass=0|1 first=FIRST_LINE   (FIRST_LINE: the console's first line, spaces as _)
# env (defaults are the test host's paths):
#   VMM=/vmm/vmm  GUEST=/guest  SNAPWATCH=/extra/snapwatch  FW=/extra/fw  QEMU=qemu-system-x86_64
#   QEMU_MACHINE=microvm,rtc=on  RUNS=10  TMPDIR=/tmp  GUEST_KVER_FILE=$GUEST/kernel-version
VMM=${VMM:-/vmm/vmm}
GUEST=${GUEST:-/guest}
SW=${SNAPWATCH:-/extra/snapwatch}
FW=${FW:-/extra/fw}
QEMU=${QEMU:-qemu-system-x86_64}
QM=${QEMU_MACHINE:-microvm,rtc=on}
RUNS=${RUNS:-10}
T=${TMPDIR:-/tmp}
CMDLINE="console=ttyS0 reboot=k panic=-1 quiet vmmtest=snapshot vmmtest.timeout=900"
CMD="echo x"

for f in "$VMM" "$SW" "$GUEST/vmlinuz" "$GUEST/initramfs.gz" "$FW/bios-microvm.bin"; do
	[ -e "$f" ] || { echo "@@SNAP-ERROR missing $f"; exit 1; }
done
command -v "$QEMU" >/dev/null 2>&1 || { echo "@@SNAP-ERROR $QEMU not found"; exit 1; }
[ -c /dev/kvm ] || { echo "@@SNAP-ERROR no /dev/kvm"; exit 1; }
echo "@@SNAP-INFO kernel=$(uname -r) cpus=$(nproc) mem_kib=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) guest=$(cat "${GUEST_KVER_FILE:-$GUEST/kernel-version}" 2>/dev/null || echo unknown)"
echo "@@SNAP-INFO vmm=$("$VMM" --version 2>&1 | head -1)"
echo "@@SNAP-INFO qemu=$("$QEMU" --version 2>&1 | head -1) machine=$QM"

kv() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
up() { cut -d' ' -f1 /proc/uptime; }
# qemu_args MIB [pvpanic]: QEMU's machine for this guest (the same on the saving and the restoring side).
qemu_args() {
	echo "-M $QM -accel kvm -cpu host -m ${1}M -smp 1 -nodefaults -no-user-config -display none -no-reboot -L $FW"
	[ "${2:-}" = pvpanic ] && echo "-device pvpanic,ioport=0x624 -action panic=pause"
}
D256=$T/snap-vmm-256 D2048=$T/snap-vmm-2048 Q256=$T/snap-qemu-256.mig Q2048=$T/snap-qemu-2048.mig

# save_vmm MIB DIR: boot with --snapshot-dir; the guest's request saves it and vmm exits 0. vmm pauses
# the VM a little after the guest's port write (the vCPU raises an event; the CLI's thread pauses), so
# the guest may run on meanwhile; a save whose guest got as far as printing READY-FOR-COMMAND is not
# the state QEMU saves (paused at the write) and its restores would wait for that line in vain: such
# a save is taken again (up to 5 times; races=N says how often it happened).
save_vmm() {
	out=$T/save.out err=$T/save.err
	races=0 try=0 ok=0
	while [ "$ok" != 1 ] && [ $try -lt 5 ]; do
		try=$((try + 1))
		rm -rf "$2"
		line=$("$SW" -t 600 -o "$out" -e "$err" SNAP-REQUEST -- "$VMM" -v --kernel "$GUEST/vmlinuz" \
			--initrd "$GUEST/initramfs.gz" --mem "${1}M" --cpus 1 --console=stdio --snapshot-dir "$2" --cmdline "$CMDLINE")
		[ "$(kv status "$line")" = 0 ] && grep -q "snapshot saved in '$2' (asked by the guest)" "$err" && [ -s "$2/state" ] && ok=1
		if grep -q READY-FOR-COMMAND "$out"; then
			[ "$ok" = 1 ] && races=$((races + 1))
			ok=0
		fi
	done
	saved=$(sed -n "s/.*snapshot saved in '[^']*': \(.*\)/\1/p" "$err" | head -1 | tr ' ,' '_;')
	echo "@@SNAP-SAVE vmm mem=$1 ok=$ok tries=$try races=$races $line state_bytes=$(wc -c <"$2/state" 2>/dev/null || echo -1) memory_bytes=$(wc -c <"$2/memory" 2>/dev/null || echo -1) memory_alloc_kib=$(du -k "$2/memory" 2>/dev/null | cut -f1) saved=${saved:-?}"
	if [ "$ok" = 1 ]; then SAVED="$SAVED vmm:restore:$1"; else
		echo "@@SNAP-FAIL vmm save mem=$1: console and stderr tails follow"
		tail -n 15 "$out" | tr -d '\r'
		tail -n 10 "$err" | tr -d '\r'
		echo "@@SNAP-FAIL-END"
	fi
}

# save_qemu MIB FILE: boot with pvpanic at 0x624 (the guest's request pauses it), migrate to FILE, quit.
save_qemu() {
	rm -f "$2" "$T/mon.fifo"
	mkfifo "$T/mon.fifo"
	out=$T/qsave.out mon=$T/qsave.mon
	: >"$out"
	# shellcheck disable=SC2046 # qemu_args: words
	"$QEMU" $(qemu_args "$1" pvpanic) -monitor stdio -serial "file:$out" -kernel "$GUEST/vmlinuz" \
		-initrd "$GUEST/initramfs.gz" -append "$CMDLINE" <"$T/mon.fifo" >"$mon" 2>&1 &
	qpid=$!
	exec 3>"$T/mon.fifo"
	t0=$(up) ok=0 i=0
	while [ $i -lt 6000 ] && kill -0 "$qpid" 2>/dev/null; do
		grep -q SNAP-REQUEST "$out" && break
		sleep 0.1
		i=$((i + 1))
	done
	t1=$(up) i=0
	while [ $i -lt 300 ] && kill -0 "$qpid" 2>/dev/null; do
		echo "info status" >&3
		sleep 0.1
		grep -q "guest-panicked" "$mon" && ok=1 && break
		i=$((i + 1))
	done
	t2=$(up)
	if [ "$ok" = 1 ]; then
		echo "migrate \"exec:cat > $2\"" >&3
		echo "info status" >&3
		i=0
		while [ $i -lt 3000 ] && ! grep -q "postmigrate" "$mon"; do sleep 0.05; i=$((i + 1)); done
		grep -q "postmigrate" "$mon" || ok=0
	fi
	t3=$(up)
	echo quit >&3
	exec 3>&-
	wait "$qpid"
	st=$?
	grep -q READY-FOR-COMMAND "$out" && ok=0
	[ -s "$2" ] || ok=0
	echo "@@SNAP-SAVE qemu mem=$1 ok=$ok status=$st boot_to_request_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') migrate_s=$(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.2f", b - a }') file_bytes=$(wc -c <"$2" 2>/dev/null || echo -1)"
	if [ "$ok" = 1 ]; then SAVED="$SAVED qemu:restore:$1"; else
		echo "@@SNAP-FAIL qemu save mem=$1: console and monitor tails follow"
		tail -n 15 "$out" | tr -d '\r'
		tr -d '\r' <"$mon" | sed 's/\x1b\[[0-9]*[A-Z]//g' | tail -n 10
		echo "@@SNAP-FAIL-END"
	fi
	rm -f "$T/mon.fifo"
}

# one WHO KIND MIB RUN: a single timed run (see the header); prints its @@SNAP line.
one() {
	w=$1 kind=$2 mib=$3 run=$4
	out=$T/snap-$w.out err=$T/snap-$w.err
	common="-t 120 -o $out -e $err -s -i"
	case $w-$kind in
	vmm-restore)
		d=$D256
		[ "$mib" = 2048 ] && d=$D2048
		# shellcheck disable=SC2086 # $common: several options
		line=$("$SW" $common "$CMD" -w READY-FOR-COMMAND -m "boot-timer: first KVM_RUN" SNAP-CMD-OUT -- \
			"$VMM" --restore "$d" --console=stdio --boot-timer) ;;
	vmm-cold)
		# shellcheck disable=SC2086 # $common: several options
		line=$("$SW" $common "$CMD" -w READY-FOR-COMMAND -m "boot-timer: first KVM_RUN" SNAP-CMD-OUT -- \
			"$VMM" --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initramfs.gz" --mem "${mib}M" --cpus 1 \
			--console=stdio --boot-timer --cmdline "$CMDLINE") ;;
	qemu-restore)
		f=$Q256
		[ "$mib" = 2048 ] && f=$Q2048
		rm -f "$T/qmp.sock"
		# shellcheck disable=SC2046,SC2086 # qemu_args and $common: several words
		line=$("$SW" $common "$CMD" -w READY-FOR-COMMAND -q "$T/qmp.sock" -u "exec:cat $f" SNAP-CMD-OUT -- \
			"$QEMU" $(qemu_args "$mib" pvpanic) -qmp "unix:$T/qmp.sock,server=on,wait=off" -serial stdio \
			-kernel "$GUEST/vmlinuz" -initrd "$GUEST/initramfs.gz" -append "$CMDLINE" -incoming defer) ;;
	qemu-cold)
		# shellcheck disable=SC2046,SC2086 # qemu_args and $common: several words
		line=$("$SW" $common "$CMD" -w READY-FOR-COMMAND SNAP-CMD-OUT -- \
			"$QEMU" $(qemu_args "$mib") -serial stdio \
			-kernel "$GUEST/vmlinuz" -initrd "$GUEST/initramfs.gz" -append "$CMDLINE") ;;
	esac
	pass=0
	grep -q "VMMTEST-RESULT snapshot PASS" "$out" && grep -q "SNAP-CMD-OUT x" "$out" && pass=1
	extra=
	if [ "$w" = vmm ]; then
		fr=$(echo "$(kv mark_ms "$line") $(kv exec_ms "$line")" |
			awk '$1 >= 0 && $2 >= 0 { printf "%.1f", $1 - $2; exit } { print -1 }')
		extra=" first_run_ms=$fr"
	fi
	first=$(tr -d '\r' <"$out" | grep -v '^[[:space:]]*$' | head -n 1 | cut -c1-60 | tr -c 'A-Za-z0-9.:=/\n-' '_')
	echo "@@SNAP $w $kind mem=$mib run=$run $line$extra pass=$pass first=${first:-none}"
	if [ "$(kv status "$line")" != 0 ] || [ "$pass" != 1 ]; then
		echo "@@SNAP-FAIL $w $kind mem=$mib run=$run: console tail follows"
		tail -n 20 "$out" | tr -d '\r'
		if [ -s "$err" ]; then echo "-- stderr:"; tail -n 10 "$err" | tr -d '\r'; fi
		echo "@@SNAP-FAIL-END"
	fi
	rm -f "$out" "$err"
}

SAVED=
save_vmm 256 "$D256"
save_vmm 2048 "$D2048"
save_qemu 256 "$Q256"
save_qemu 2048 "$Q2048"
echo "@@SNAP-INFO tmp: $(df -k "$T" | tail -n 1 | tr -s ' ')"

CONFIGS="vmm:restore:256 qemu:restore:256 vmm:cold:256 vmm:restore:2048 qemu:restore:2048 qemu:cold:256"
NCONF=6
# run_config W:K:M RUN
# (restore configs whose save failed are skipped; they were reported as @@SNAP-FAIL).
run_config() {
	IFS=: read -r a b c <<EOF
$1
EOF
	case "$b $SAVED " in restore*" $1 "*) ;; restore*) return ;; esac
	one "$a" "$b" "$c" "$2"
}
for c in $CONFIGS; do run_config "$c" warmup; done
i=1
while [ "$i" -le "$RUNS" ]; do
	# The configs in the list's order rotated by i.
	k=0
	while [ $k -lt $NCONF ]; do
		idx=$(((i + k) % NCONF + 1))
		# shellcheck disable=SC2086
		run_config "$(echo $CONFIGS | cut -d' ' -f$idx)" "$i"
		k=$((k + 1))
	done
	i=$((i + 1))
done
echo "@@SNAP-DONE runs=$RUNS"
