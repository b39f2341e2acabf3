#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Console benchmark, the part that runs where /dev/kvm runs stock kernels: inside the nested test host
# (busybox sh, as /extra/run-inside.sh) or directly on a VMX/SVM machine. Boots the test guest
# (Debian's cloud kernel, busybox initramfs), 1 vCPU, 256 MiB, under our vmm and under QEMU, in
# eight configurations per round:
#   flood ttyS0  vmmtest=console-flood vmmtest.dev=ttyS0: `seq 1 LINES` (20.5 MB for 2700000) written
#                raw to the 16550 UART; vmm --console=file:OUT, QEMU -serial file:OUT
#   flood hvc0   the same on /dev/hvc0 (virtio-console, vmmtest.virtio=1 loads the module); the
#                kernel console stays on ttyS0 (LOG); vmm --hvc=file:OUT, QEMU virtconsole on a
#                file chardev
#   boot ttyS0   vmmtest=poweroff with a verbose kernel (no quiet, loglevel=8), console=ttyS0
#   boot hvc0    the same with console=hvc0 (/init loads virtio_console and adopts /dev/hvc0; the
#                kernel's own messages reach no console, neither before nor after that)
# QEMU's machine: microvm with PCIe for all four, since the guest kernel sees virtio only on PCI
# (virtio_mmio is a module the initramfs lacks); the UART is the same ISA 16550 either way.
# Each round runs the configurations in turn, vmm and QEMU back to back, which of the two goes first
# alternating from round to round. Prints one line per run:
#   @@CON flood|boot ttyS0|hvc0 vmm|qemu run=N|warmup result_ms=.. exit_ms=.. rss_kib=.. status=..
#         user_ms=.. sys_ms=.. first_ms=.. pass=0|1 [bytes=.. secs=.. maxgap=.. intact=1|0|crlf got=..]
#         con_bytes=.. con_lines=..
# (bootwatch's fields, then: pass=1 when the guest printed "VMMTEST-RESULT <test> PASS"; for the flood
# the guest's FLOOD-RATE and FLOOD-MAXGAP figures and intact=1 when the bytes between FLOOD-BEGIN and
# FLOOD-END in OUT are exactly `seq 1 LINES` (md5), got= how many bytes were there; con_bytes and
# con_lines: the size of the file that carried the flood or the boot console).
# env (defaults are the test host's paths):
#   VMM=/vmm/vmm  GUEST=/guest  BOOTWATCH=/extra/bootwatch  FW=/extra/fw (QEMU -L)
#   QEMU=qemu-system-x86_64  QEMU_MACHINE=microvm,rtc=on,pcie=on  RUNS=5
#   LINES=2700000 (the hvc0 flood)  SERIAL_LINES=$LINES (the ttyS0 flood)
#   FLOOD_LIMIT=seconds per flood run (bootwatch's and the guest watchdog's limit; default
#   300 + lines/250, i.e. at least 2 kB/s)  TMPDIR=/tmp
#   WHAT="flood boot" (which halves to run)  GUEST_KVER_FILE=$GUEST/kernel-version
VMM=${VMM:-/vmm/vmm}
GUEST=${GUEST:-/guest}
BOOTWATCH=${BOOTWATCH:-/extra/bootwatch}
FW=${FW:-/extra/fw}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_MACHINE=${QEMU_MACHINE:-microvm,rtc=on,pcie=on}
RUNS=${RUNS:-5}
LINES=${LINES:-2700000}
SERIAL_LINES=${SERIAL_LINES:-$LINES}
WHAT=${WHAT:-flood boot}
T=${TMPDIR:-/tmp}
BASE="reboot=k panic=-1"
FLOOD_CMD="console=ttyS0 $BASE quiet vmmtest=console-flood"
BOOT_CMD="$BASE loglevel=8 vmmtest=poweroff"

for f in "$VMM" "$BOOTWATCH" "$GUEST/vmlinuz" "$GUEST/initramfs.gz" "$FW/bios-microvm.bin"; do
	[ -e "$f" ] || { echo "@@CON-ERROR missing $f"; exit 1; }
done
command -v "$QEMU" >/dev/null 2>&1 || { echo "@@CON-ERROR $QEMU not found"; exit 1; }
[ -c /dev/kvm ] || { echo "@@CON-ERROR no /dev/kvm"; exit 1; }
HVC=0
"$VMM" --help 2>&1 | grep -q -- '--hvc' && HVC=1

# What each flood must deliver, computed once per size, and how long it may take: at least 2 kB/s
# (about 7.6 bytes a line), and the boot.
S_BYTES=$(seq 1 "$SERIAL_LINES" | wc -c)
S_MD5=$(seq 1 "$SERIAL_LINES" | md5sum | cut -d' ' -f1)
S_LIMIT=${FLOOD_LIMIT:-$((300 + SERIAL_LINES / 250))}
H_BYTES=$(seq 1 "$LINES" | wc -c)
H_MD5=$(seq 1 "$LINES" | md5sum | cut -d' ' -f1)
H_LIMIT=${FLOOD_LIMIT:-$((300 + LINES / 250))}
# flood_params DEV: sets nl (lines), exp_n (bytes), exp_md5 and glimit (seconds) for DEV's flood.
flood_params() {
	if [ "$1" = ttyS0 ]; then
		nl=$SERIAL_LINES exp_n=$S_BYTES exp_md5=$S_MD5 glimit=$S_LIMIT
	else
		nl=$LINES exp_n=$H_BYTES exp_md5=$H_MD5 glimit=$H_LIMIT
	fi
}
echo "@@CON-INFO kernel=$(uname -r) cpus=$(nproc) guest=$(cat "${GUEST_KVER_FILE:-$GUEST/kernel-version}" 2>/dev/null || echo unknown)"
echo "@@CON-INFO vmm=$("$VMM" --version 2>&1 | head -1) hvc=$HVC"
echo "@@CON-INFO qemu=$("$QEMU" --version 2>&1 | head -1) machine=$QEMU_MACHINE"
echo "@@CON-INFO flood=ttyS0 lines=$SERIAL_LINES bytes=$S_BYTES md5=$S_MD5 limit_s=$S_LIMIT"
echo "@@CON-INFO flood=hvc0 lines=$LINES bytes=$H_BYTES md5=$H_MD5 limit_s=$H_LIMIT"
echo "@@CON-INFO runs=$RUNS what=$WHAT"
[ "$HVC" = 1 ] || echo "@@CON-SKIP vmm hvc0: this vmm has no --hvc option (vmm --help does not mention it)"

# check_flood FILE DEV: intact=1|0|crlf got=BYTES (the bytes between the FLOOD-BEGIN line and the
# FLOOD-END line, compared with `seq 1 LINES` by length and md5; crlf: every \n came as \r\n, i.e. the
# guest's tty was not raw, otherwise intact). By byte offsets: a few streaming passes.
check_flood() {
	flood_params "$2"
	lb=$(grep -a -n -m1 '^FLOOD-BEGIN' "$1" | cut -d: -f1)
	le=$(grep -a -n -m1 '^FLOOD-END' "$1" | cut -d: -f1)
	if [ -z "$lb" ] || [ -z "$le" ] || [ "$le" -le "$lb" ]; then
		echo "intact=0 got=-1"
		return
	fi
	ob=$(head -n "$lb" "$1" | wc -c)
	oe=$(head -n $((le - 1)) "$1" | wc -c)
	n=$((oe - ob))
	if [ "$n" = $((exp_n + nl)) ]; then
		sum=$(tail -c +$((ob + 1)) "$1" | head -c "$n" | tr -d '\r' | md5sum | cut -d' ' -f1)
		if [ "$sum" = "$exp_md5" ]; then echo "intact=crlf got=$n"; else echo "intact=0 got=$n"; fi
		return
	fi
	if [ "$n" != "$exp_n" ]; then
		echo "intact=0 got=$n"
		return
	fi
	sum=$(tail -c +$((ob + 1)) "$1" | head -c "$n" | md5sum | cut -d' ' -f1)
	if [ "$sum" = "$exp_md5" ]; then echo "intact=1 got=$n"; else echo "intact=0 got=$n"; fi
}

# one TEST DEV WHICH RUN: one timed run; prints its @@CON line, and the consoles' tails on failure.
one() {
	test=$1 dev=$2 w=$3 run=$4
	out=$T/con-out.txt log=$T/con-log.txt err=$T/con-err.txt
	rm -f "$out" "$log" "$err"
	case $test in
	flood)
		flood_params "$dev"
		limit=$((glimit + 60))
		cmd="$FLOOD_CMD vmmtest.lines=$nl vmmtest.timeout=$glimit vmmtest.dev=$dev"
		[ "$dev" = hvc0 ] && cmd="$cmd vmmtest.virtio=1"
		rtest=console-flood ;;
	boot)
		# console=hvc0: /init loads the virtio modules itself (vmmtest.virtio=1 would load them a
		# second time, with an error line per module).
		limit=300
		cmd="console=$dev $BOOT_CMD"
		rtest=poweroff ;;
	esac
	# Where /init's lines (the result, FLOOD-RATE) land: the kernel's console.
	con=$out
	[ "$test" = flood ] && [ "$dev" = hvc0 ] && con=$log
	case $w-$dev in
	vmm-ttyS0)
		line=$("$BOOTWATCH" -t "$limit" -o "$err" @@NEVER -- \
			"$VMM" --console="file:$out" --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initramfs.gz" \
			--mem 256M --cpus 1 --cmdline "$cmd") ;;
	vmm-hvc0)
		line=$("$BOOTWATCH" -t "$limit" -o "$err" @@NEVER -- \
			"$VMM" --console="file:$log" --hvc="file:$out" --kernel "$GUEST/vmlinuz" \
			--initrd "$GUEST/initramfs.gz" --mem 256M --cpus 1 --cmdline "$cmd") ;;
	qemu-ttyS0)
		line=$("$BOOTWATCH" -t "$limit" -o "$err" @@NEVER -- \
			"$QEMU" -M "$QEMU_MACHINE" -accel kvm -cpu host -m 256M -smp 1 -nodefaults -no-user-config \
			-nographic -no-reboot -L "$FW" -serial "file:$out" \
			-kernel "$GUEST/vmlinuz" -initrd "$GUEST/initramfs.gz" -append "$cmd") ;;
	qemu-hvc0)
		line=$("$BOOTWATCH" -t "$limit" -o "$err" @@NEVER -- \
			"$QEMU" -M "$QEMU_MACHINE" -accel kvm -cpu host -m 256M -smp 1 -nodefaults -no-user-config \
			-nographic -no-reboot -L "$FW" -serial "file:$log" \
			-device virtio-serial-pci,id=vser0 -chardev "file,id=hvc,path=$out" \
			-device virtconsole,chardev=hvc,bus=vser0.0 \
			-kernel "$GUEST/vmlinuz" -initrd "$GUEST/initramfs.gz" -append "$cmd") ;;
	esac
	[ -e "$out" ] || : >"$out"
	[ -e "$log" ] || : >"$log"
	tail -n 200 "$con" | tr -d '\r' >"$T/con-tail.txt"
	pass=0
	grep -aq "VMMTEST-RESULT $rtest PASS" "$T/con-tail.txt" && pass=1
	extra=
	ok=$pass
	if [ "$test" = flood ]; then
		rate=$(sed -n 's/^FLOOD-RATE \([0-9]*\) \([0-9.]*\).*/bytes=\1 secs=\2/p' "$T/con-tail.txt" | head -1)
		gap=$(sed -n 's/^FLOOD-MAXGAP \([0-9.]*\).*/\1/p' "$T/con-tail.txt" | head -1)
		chk=$(check_flood "$out" "$dev")
		extra=" ${rate:-bytes=-1 secs=-1} maxgap=${gap:--1} $chk"
		case $chk in intact=1*) ;; *) ok=0 ;; esac
	fi
	echo "@@CON $test $dev $w run=$run $line pass=$pass$extra con_bytes=$(wc -c <"$out") con_lines=$(wc -l <"$out")"
	case "$line" in
	*" status=0 "*) ;;
	*) ok=0 ;;
	esac
	if [ "$ok" != 1 ]; then
		echo "@@CON-FAIL $test $dev $w run=$run: the VMM's own output, then the tails of the consoles"
		tail -n 15 "$err" 2>/dev/null | tr -d '\r'
		echo "--- console (${con##*/}):"
		tail -n 25 "$T/con-tail.txt"
		if [ "$con" != "$out" ]; then
			echo "--- flood file:"
			tail -c 600 "$out" | tr -d '\r'
			echo
		fi
		echo "@@CON-FAIL-END"
	fi
	rm -f "$out" "$log" "$err" "$T/con-tail.txt"
}

# pair TEST DEV RUN FIRST: vmm and QEMU back to back (FIRST goes first).
pair() {
	if [ "$4" = vmm ]; then order="vmm qemu"; else order="qemu vmm"; fi
	for w in $order; do
		[ "$w-$2" = vmm-hvc0 ] && [ "$HVC" = 0 ] && continue
		one "$1" "$2" "$w" "$3"
	done
}

# One warm-up boot per VMM, not counted.
pair boot ttyS0 warmup vmm
i=1
while [ "$i" -le "$RUNS" ]; do
	first=vmm
	[ $((i % 2)) = 0 ] && first=qemu
	for t in $WHAT; do
		for d in ttyS0 hvc0; do pair "$t" "$d" "$i" "$first"; done
	done
	i=$((i + 1))
done
echo "@@CON-DONE runs=$RUNS"
