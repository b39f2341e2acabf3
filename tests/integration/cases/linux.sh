#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# One Linux-guest integration case: boot Debian's cloud kernel with the test initramfs under our
# vmm, check the exit status and what the guest printed. POSIX sh: it runs inside the nested test
# host (busybox) and directly on VMX/SVM hosts alike.
# usage: linux.sh CASE VMM GUEST_DIR OUTDIR
#   writes OUTDIR/result ("PASS" or "FAIL <reason>"), OUTDIR/console.log, OUTDIR/stderr.log
# env: VMM_CASE_TIMEOUT  seconds given to vmm --timeout (default 120)
CASE=$1 VMM=$2 G=$3 OUT=$4
mkdir -p "$OUT"
LOG=$OUT/console.log ERR=$OUT/stderr.log
: >"$LOG"
: >"$ERR"
TMO=${VMM_CASE_TIMEOUT:-120}
BASE="console=ttyS0 reboot=k panic=-1 quiet"

result() { echo "$*" >"$OUT/result"; echo "$CASE: $*"; exit 0; }
pass() { result PASS; }
fail() { result "FAIL $*"; }

# boot EXPECTED_STATUS ARGS...: run the guest; fail unless vmm exits with EXPECTED_STATUS.
boot() {
	want=$1
	shift
	echo "+ vmm $*"
	"$VMM" --console="file:$LOG" --timeout "$TMO" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" "$@" \
		</dev/null 2>"$ERR"
	rc=$?
	echo "vmm exited with $rc"
	[ "$rc" = "$want" ] || fail "vmm exited with $rc, expected $want ($(head -c 300 "$ERR" | tr '\r\n' '  '))"
}
# guest_passed NAME: the guest printed its PASS line for test NAME.
guest_passed() {
	grep -q "VMMTEST-RESULT $1 PASS" "$LOG" && return 0
	line=$(grep "VMMTEST-RESULT" "$LOG" | head -1 | tr -d '\r')
	fail "guest result: ${line:-none (no VMMTEST-RESULT line on the console)}"
}

case $CASE in
boot-1cpu)
	boot 0 --mem 512M --cpus 1 --cmdline "$BASE vmmtest=cpus vmmtest.cpus=1"
	guest_passed cpus
	pass ;;
boot-2cpu)
	boot 0 --mem 512M --cpus 2 --cmdline "$BASE vmmtest=cpus vmmtest.cpus=2"
	guest_passed cpus
	pass ;;
poweroff)
	boot 0 --mem 256M --cmdline "$BASE vmmtest=poweroff"
	guest_passed poweroff
	grep -q "reboot: Power down" "$LOG" || grep -q "VMMTEST-RESULT poweroff PASS" "$LOG" || fail "no power-down"
	pass ;;
reboot)
	boot 0 --mem 256M --cmdline "$BASE vmmtest=reboot"
	guest_passed reboot
	pass ;;
date)
	boot 0 --mem 256M --cmdline "$BASE vmmtest=date vmmtest.epoch=$(date +%s)"
	guest_passed date
	pass ;;
kvmclock)
	boot 0 --mem 256M --cmdline "$BASE vmmtest=clocksource"
	guest_passed clocksource
	pass ;;
console-input)
	fifo=$OUT/input
	rm -f "$fifo"
	mkfifo "$fifo" || fail "mkfifo failed"
	echo "+ vmm (input through $fifo)"
	"$VMM" --console="file:$LOG" --timeout "$TMO" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" \
		--mem 256M --cmdline "$BASE vmmtest=console-input" <"$fifo" 2>"$ERR" &
	pid=$!
	exec 3>"$fifo"
	i=0
	while ! grep -q READY-FOR-INPUT "$LOG" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le $((TMO * 5)) ] || break
		kill -0 $pid 2>/dev/null || break
		sleep 0.2
	done
	printf 'echo-from-host 42\n' >&3
	wait $pid
	rc=$?
	exec 3>&-
	[ "$rc" = 0 ] || fail "vmm exited with $rc, expected 0"
	grep -q "GOT-INPUT:echo-from-host 42" "$LOG" || fail "the guest did not receive the line sent through its serial port"
	guest_passed console-input
	pass ;;
*)
	fail "unknown case '$CASE'" ;;
esac
