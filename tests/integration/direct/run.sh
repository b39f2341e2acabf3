#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Tests that run our vmm directly on this machine's /dev/kvm (any kind, PVM included):
# the freestanding payload exercises real KVM exits; error cases check the one-line messages.
# usage: run.sh VMM PAYLOAD CASE [GUEST_ASSET_DIR]     exit 0 pass, 1 fail, 77 skip
set -u
VMM=$1 PAYLOAD=$2 CASE=$3 ASSETS=${4:-}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LOG=$WORK/console.log ERR=$WORK/stderr.log

fail() { echo "FAIL: $CASE: $*"; echo "--- console"; cat "$LOG" 2>/dev/null; echo "--- stderr"; cat "$ERR" 2>/dev/null; exit 1; }
# shellcheck disable=SC2015
# need_kvm: skip (77) without a usable /dev/kvm; fail instead with VMM_REQUIRE_ALL=1 (run-tests.sh sends
# these cases to the nested test host where this machine has none, so a skip there is a defect).
need_kvm() {
	[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && return 0
	[ "${VMM_REQUIRE_ALL:-0}" = 1 ] && fail "/dev/kvm is absent or not accessible, and VMM_REQUIRE_ALL=1"
	echo "SKIP: $CASE: /dev/kvm is absent or not accessible"
	exit 77
}
# run EXPECTED_RC [vmm args...]: run vmm with a console log and a timeout, check its exit code.
run() {
	local want=$1; shift
	timeout 280 "$VMM" --console="file:$LOG" "$@" </dev/null 2>"$ERR"
	rc=$?
	[ "$rc" = "$want" ] || fail "exit code $rc, expected $want"
}
expect_log() { grep -q -- "$1" "$LOG" || fail "console lacks '$1'"; }
expect_err() { grep -q -- "$1" "$ERR" || fail "stderr lacks '$1'"; }
# one_line_error ARGS...: vmm must exit 1 with exactly one line, starting with "vmm: ", on stderr.
one_line_error() {
	"$VMM" "$@" </dev/null >"$LOG" 2>"$ERR"
	rc=$?
	[ "$rc" = 1 ] || fail "exit code $rc for '$*', expected 1"
	[ "$(wc -l <"$ERR")" = 1 ] || fail "expected one line on stderr for '$*'"
	grep -q '^vmm: ' "$ERR" || fail "stderr line does not start with 'vmm: '"
	echo "ok: vmm $* -> $(cat "$ERR")"
}

# hostile_once SEED ROUNDS [PAYLOAD ARGS]: the hostile guest (firmware/payload/hostile.c) with 2 vCPUs,
# a scratch disk and a virtio console. vmm must stay up and exit 0 (the guest powers off), print the
# guest's final line, keep its warnings rationed (at most MAX_ERR_LINES lines on stderr), stay quiet
# under the sanitizers, and use little CPU while the guest halts at the end (no thread left
# spinning by what the guest did).
hostile_once() {
	local seed=$1 rounds=$2 args=${3:-} IDLE=6 MAX_ERR_LINES=200 start pid c0 c1 t0 t1 took hz pct
	# 64 KiB: a read fills at most that much guest RAM, which hostile.c's PROTECT_LO margin allows for.
	truncate -s 64K "$WORK/disk.img" || fail "cannot make the scratch disk"
	start=$(date +%s)
	# shellcheck disable=SC2086 # HOSTILE_VMM_ARGS: more vmm options, word-split (e.g. -v: registers on a triple fault)
	"$VMM" ${HOSTILE_VMM_ARGS:-} --console="file:$LOG" --kernel "$PAYLOAD" --cpus 2 --disk "$WORK/disk.img" --hvc="file:$WORK/hvc.log" \
		--cmdline "payload=hostile seed=$seed rounds=$rounds idle=$IDLE $args" --timeout "${HOSTILE_TIMEOUT:-250}" \
		</dev/null 2>"$ERR" &
	pid=$!
	# CPU time (user + system, clock ticks) of the whole vmm process, all threads.
	cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null; }
	# Wall time from /proc/uptime in hundredths of a second (busybox date has no %N).
	up() { awk '{ printf "%d", $1 * 100 }' /proc/uptime; }
	while kill -0 "$pid" 2>/dev/null && ! grep -q "hostile: idle" "$LOG" 2>/dev/null; do sleep 0.1; done
	c0=$(cpu) t0=$(up)
	sleep 3
	c1=$(cpu) t1=$(up)
	wait "$pid"
	rc=$?
	took=$(( $(date +%s) - start ))
	echo "seed $seed rounds $rounds: vmm exit $rc after $took s; $(wc -l <"$ERR") stderr line(s), by kind:"
	sed 's/[0-9][0-9]*/N/g' "$ERR" | sort | uniq -c | sort -rn | head -20
	grep -a "^hostile: done" "$LOG" | tr -d '\r'
	grep -qaE "AddressSanitizer|LeakSanitizer|runtime error:|ThreadSanitizer" "$ERR" &&
		fail "a sanitizer report on stderr (seed $seed)"
	[ "$(wc -l <"$ERR")" -le $MAX_ERR_LINES ] ||
		fail "$(wc -l <"$ERR") lines on stderr (more than $MAX_ERR_LINES: guest errors are not rationed) (seed $seed)"
	HOSTILE_RETRY=
	if ! grep -qa "hostile: done" "$LOG" && [ "$rc" = 0 ] && grep -q "the guest reset itself (triple fault)" "$ERR"; then
		HOSTILE_RETRY=1
		return 0
	fi
	grep -qa "hostile: done" "$LOG" || fail "the guest's final line is not on the console (seed $seed)"
	[ "$rc" = 0 ] || fail "exit code $rc, expected 0 (the guest powers off) (seed $seed)"
	[ -n "$c0" ] && [ -n "$c1" ] || fail "vmm ended before the guest's idle phase could be measured (seed $seed)"
	hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
	# Percent of one CPU used by vmm while the guest halted (woken 10 times a second by its timer).
	pct=$(( (c1 - c0) * 100 * 100 / hz / (t1 - t0 > 0 ? t1 - t0 : 1) ))
	echo "vmm used ${pct}% of a CPU while the guest halted"
	[ "$pct" -le 50 ] || fail "vmm used ${pct}% of a CPU while the guest halted (a thread spins) (seed $seed)"
}
# hostile_case SEED ROUNDS [ARGS]: the hostile guest, run again with another seed (SEED+100, +200, +300)
# each time it triple-faulted before its final line. The guest aims its devices' DMA and its MSIs at
# targets of its own choosing on two vCPUs at once, and now and then wrecks itself: a triple fault is
# a reset (exit 0), the VMM's correct answer, but then the run proves less. Every run is held to all
# the VMM's checks (sanitizers, rationed warnings, exit status); the case fails when four runs in a
# row end in the guest's own triple fault (CI saw two in a row at seed 1; its cause is in the guest,
# not found yet: see the closing note of issue 15's work).
hostile_case() {
	local seed=$1 first=$1 try=1
	shift
	hostile_once "$seed" "$@"
	while [ -n "$HOSTILE_RETRY" ]; do
		cp "$LOG" "$LOG.triple$try" 2>/dev/null
		cp "$ERR" "$ERR.triple$try" 2>/dev/null
		[ $try -lt 4 ] || fail "the hostile guest triple-faulted before its final line four times (seeds $first to $seed)"
		echo "RETRY: the hostile guest triple-faulted before its final line (seed $seed); running seed $((seed + 100))"
		seed=$((seed + 100)) try=$((try + 1))
		hostile_once "$seed" "$@"
	done
}

case $CASE in
hello)
	need_kvm
	run 0 --kernel "$PAYLOAD" --cmdline "payload=hello" --timeout 60
	expect_log "payload: hello from the guest" ;;
smp)
	need_kvm
	run 0 --kernel "$PAYLOAD" --cmdline "payload=hello" --cpus 4 --timeout 60
	expect_log "payload: hello from the guest" ;;
reboot)
	need_kvm
	run 0 --kernel "$PAYLOAD" --cmdline "payload=reboot" --timeout 60
	expect_log "payload: started" ;;
reset-reg)
	need_kvm
	run 0 --kernel "$PAYLOAD" --cmdline "payload=reset-reg" --timeout 60
	expect_log "payload: started" ;;
triple-fault)
	need_kvm
	# A triple fault resets a PC: the run ends as a reboot (exit 0), with one line saying why.
	run 0 --kernel "$PAYLOAD" --cmdline "payload=triple" --timeout 60
	[ "$(cat "$ERR")" = "vmm: the guest reset itself (triple fault)" ] ||
		fail "stderr is not the one triple-fault line: $(head -c 300 "$ERR")"
	# With -v the registers follow, for a triple fault nobody asked for.
	run 0 -v --kernel "$PAYLOAD" --cmdline "payload=triple" --timeout 60
	expect_err "rip=" ;;
timeout)
	need_kvm
	start=$(date +%s)
	# With --stats each vCPU also says where the timeout found it (a hung guest's last place).
	run 124 --kernel "$PAYLOAD" --cmdline "payload=hang" --timeout 2 --stats
	took=$(( $(date +%s) - start ))
	[ "$took" -le 10 ] || fail "--timeout 2 took $took s"
	expect_log "spinning forever"
	expect_err "timeout of 2 s reached"
	expect_err "stats: vCPU 0 at the timeout:"
	pc=$(sed -n '/stats: vCPU 0 at the timeout:/,$p' "$ERR" | sed -n 's/.*\(rip=\|pc \)\([0-9a-f]\{16\}\).*/\2/p' | head -1)
	[ -n "$pc" ] || fail "no instruction pointer after the timeout line: $(tail -n 8 "$ERR")"
	[ "$pc" != 0000000000000000 ] || fail "the instruction pointer at the timeout reads 0"
	echo "ok: stopped after $took s; vCPU 0 was at $pc" ;;
console-input)
	need_kvm
	mkfifo "$WORK/in"
	timeout 120 "$VMM" --console="file:$LOG" --kernel "$PAYLOAD" --cmdline "payload=echo" --timeout 60 \
		<"$WORK/in" 2>"$ERR" &
	pid=$!
	exec 3>"$WORK/in"
	for _ in $(seq 100); do grep -q "ready for input" "$LOG" 2>/dev/null && break; sleep 0.1; done
	printf 'hello from the host\n' >&3
	wait "$pid"; rc=$?
	exec 3>&-
	[ "$rc" = 0 ] || fail "exit code $rc"
	expect_log "HELLO FROM THE HOST" ;;
ctrl-a-x)
	# At a terminal (a pty here): Ctrl-A x quits at once with status 0 and the terminal is as before
	# (pty-run checks its settings); Ctrl-A Ctrl-A reaches the guest as one Ctrl-A first.
	need_kvm
	PTY=$(dirname "$VMM")/pty-run
	[ -x "$PTY" ] || PTY=$(dirname "$VMM")/tests/integration/pty-run
	[ -x "$PTY" ] || fail "no pty-run next to $VMM"
	"$PTY" 60 "ready for input" 'ab\x01\x01c' 'AB\x01C' '\x01x' -- "$VMM" --kernel "$PAYLOAD" \
		--cmdline "payload=echo" --timeout 50 >"$LOG" 2>&1
	rc=$?
	[ "$rc" = 0 ] || fail "pty-run exited with $rc (0: vmm quit with 0 and restored the terminal)"
	grep -q "timeout of" "$LOG" && fail "vmm ran into its --timeout: Ctrl-A x did not quit"
	grep -q "$(printf 'AB\001C')" "$LOG" || fail "Ctrl-A Ctrl-A did not reach the guest as one Ctrl-A"
	grep -q "$(printf '\001\001')" "$LOG" && fail "the guest saw two Ctrl-As for Ctrl-A Ctrl-A"
	echo "ok: Ctrl-A x quit vmm on a terminal with status 0; the terminal's settings were restored" ;;
console-reader-gone)
	# The reader of vmm's output goes away (head exits): vmm says so once, discards the rest and
	# runs on until its --timeout (neither a hang nor a crash on EPIPE).
	need_kvm
	start=$(date +%s)
	( timeout 60 "$VMM" --kernel "$PAYLOAD" --cmdline "payload=count" --timeout 4 </dev/null 2>"$ERR"
	  echo $? >"$WORK/rc" ) | head -c 40 >"$LOG"
	rc=$(cat "$WORK/rc")
	[ "$rc" = 124 ] || fail "exit code $rc, expected 124 (the timeout)"
	[ $(($(date +%s) - start)) -le 30 ] || fail "vmm took $(($(date +%s) - start)) s to end"
	expect_err "console serial: cannot write the guest's output (Broken pipe); discarding it"
	[ "$(grep -c "cannot write" "$ERR")" = 1 ] || fail "the failed write was reported more than once"
	expect_err "bytes of the guest's output were discarded"
	echo "ok: $(tr '\n' ' ' <"$ERR")" ;;
console-full-disk)
	# The console file is on a full disk (/dev/full: ENOSPC): one line, and the guest runs to its end.
	need_kvm
	timeout 60 "$VMM" --console=file:/dev/full --kernel "$PAYLOAD" --cmdline "payload=hello" --timeout 30 \
		</dev/null 2>"$ERR"
	rc=$?
	[ "$rc" = 0 ] || fail "exit code $rc, expected 0 (the guest powers off)"
	expect_err "console serial: cannot write the guest's output (No space left on device)"
	echo "ok: $(tr '\n' ' ' <"$ERR")" ;;
console-hangup)
	# The terminal goes away under a running guest: SIGHUP asks the guest to shut down (the payload
	# ignores its power button: stopped after the 10 s grace period, status 128 + SIGHUP), and the
	# writes that fail on the dead terminal neither hang nor crash vmm.
	need_kvm
	PTY=$(dirname "$VMM")/pty-run
	[ -x "$PTY" ] || PTY=$(dirname "$VMM")/tests/integration/pty-run
	[ -x "$PTY" ] || fail "no pty-run next to $VMM"
	start=$(date +%s)
	"$PTY" 60 "count 3" HANGUP -- "$VMM" --kernel "$PAYLOAD" --cmdline "payload=count" --timeout 50 >"$LOG" 2>&1
	rc=$?
	[ "$rc" = 129 ] || fail "pty-run exited with $rc, expected 129 (vmm stopped by SIGHUP)"
	[ $(($(date +%s) - start)) -le 30 ] || fail "vmm took $(($(date +%s) - start)) s to end after the hangup"
	echo "ok: vmm ended with 129 after the terminal went away" ;;
seccomp)
	# The default --seccomp=on: a vmm thread that makes a call its filter does not list stops vmm
	# with one line naming the thread and the call, exit 2. The forbidden call comes from
	# seccomp-probe.so (LD_PRELOAD): the RTC's gmtime_r(), on the vCPU thread, opens a socket first.
	need_kvm
	PROBE=$(dirname "$VMM")/seccomp-probe.so
	[ -e "$PROBE" ] || PROBE=$(dirname "$VMM")/tests/integration/seccomp-probe.so
	[ -e "$PROBE" ] || fail "no seccomp-probe.so next to $VMM"
	# A sanitized vmm wants its runtime first among the libraries; the probe comes before it.
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	LD_PRELOAD=$PROBE run 2 --kernel "$PAYLOAD" --cmdline "payload=rtc" --timeout 60
	expect_err "vmm: seccomp: thread vmm-vcpu0 made system call 41 (socket), which its filter forbids; stopping"
	[ "$(wc -l <"$ERR")" = 1 ] || fail "more than the one line on stderr"
	grep -q "payload: rtc" "$LOG" && fail "the guest finished: the forbidden call was not stopped"
	echo "ok: on: $(cat "$ERR")"
	# With --seccomp=off and =log the same probe is harmless: the guest reads its clock and powers off.
	for m in off log; do
		LD_PRELOAD=$PROBE run 0 --seccomp=$m --kernel "$PAYLOAD" --cmdline "payload=rtc" --timeout 60
		expect_log "payload: rtc $(date -u +%Y-%m-%d)"
		echo "ok: $m: the guest ran"
	done
	# A bad mode is a usage error.
	one_line_error --seccomp=maybe --kernel "$PAYLOAD" ;;
rtc)
	need_kvm
	run 0 --kernel "$PAYLOAD" --cmdline "payload=rtc" --timeout 60
	today=$(date -u +%Y-%m-%d)
	expect_log "payload: rtc $today" ;;
cpuid)
	need_kvm
	run 0 --kernel "$PAYLOAD" --cmdline "payload=cpuid" --cpus 2 --timeout 60
	expect_log "payload: hypervisor KVMKVMKVM" ;;
unclaimed-port)
	need_kvm
	run 0 --kernel "$PAYLOAD" --cmdline "payload=unclaimed" --timeout 60
	expect_log "reads 0xff" ;;
debug-exit)
	# A guest write of V to the --debug-exit port ends vmm with (V << 1) | 1.
	need_kvm
	for v in 0 1 42; do
		run $(( (v << 1) | 1 )) --kernel "$PAYLOAD" --cmdline "payload=debugexit payload.value=$v" \
			--debug-exit=0xf4 --timeout 60
		expect_log "payload: debug exit $v"
		grep -q "did not stop" "$LOG" && fail "the debug-exit port did not stop the VM"
	done ;;
boot-timer)
	# --boot-timer: the phases in order, times non-decreasing, one line per guest marker; --stats: the
	# counts (the payload writes the boot-timer port 0x620 once per marker).
	need_kvm
	run 0 --kernel "$PAYLOAD" --cmdline "payload=marker payload.markers=5" --boot-timer --stats --cpus 2 --timeout 60
	expect_log "payload: marker 5"
	phases=$(sed -n 's/^vmm: boot-timer: \(.*\) at \(-\{0,1\}[0-9.]*\) ms$/\2 \1/p' "$ERR")
	echo "$phases"
	echo "$phases" | awk '
		NR == 1 && !($2 == "process" && $3 == "start" && $1 == 0) { print "first phase is not process start at 0: " $0; bad = 1 }
		NR > 1 && $1 + 0 < prev { print "time goes back: " $0; bad = 1 }
		{ prev = $1 + 0 }
		END { exit bad }' || fail "boot-timer phases out of order"
	names=$(echo "$phases" | cut -d' ' -f2- | sed 's/ (vCPU [0-9]*)//' | tr '\n' '|')
	want="process start|vmm_create entry|vmm_create done|first KVM_RUN|guest marker 1|guest marker 2|guest marker 3|guest marker 4|guest marker 5|"
	[ "$names" = "$want" ] || fail "boot-timer phases are '$names', expected '$want'"
	# Strictly later: vmm_create does real work, and the guest runs after it.
	echo "$phases" | awk '$2 == "vmm_create" && $3 == "done" { d = $1 } $2 == "first" { f = $1 }
		END { exit !(d > 0 && f > d) }' || fail "process start < create done < first KVM_RUN does not hold"
	expect_err "^vmm: stats: exits: [0-9]* (io [0-9]*"
	expect_err "^vmm: stats: port 0x620 boot-timer: 5 exits$"
	expect_err "^vmm: stats: port 0x3f8-0x3ff serial: [0-9]* exits$"
	expect_err "^vmm: stats: user space exit handling: [0-9.]* ms in total"
	# Two vCPUs: one line each (vCPU 1 waits for a SIPI that never comes: no exits of its own).
	expect_err "^vmm: stats: vCPU 0: [1-9][0-9]* exits, [0-9.]* ms handling them$"
	expect_err "^vmm: stats: vCPU 1: [0-9]* exits"
	# The payload writes 0x600 (S5) once to power off.
	expect_err "^vmm: stats: port 0x600-0x603 acpi-pm: 1 exits$"
	# Without the options, none of it.
	run 0 --kernel "$PAYLOAD" --cmdline "payload=marker" --timeout 60
	[ ! -s "$ERR" ] || fail "stderr not empty without --boot-timer/--stats" ;;
hostile)
	# The hostile guest (firmware/payload/hostile.c) attacks every port, MMIO range, configuration
	# register, MSI-X table and virtqueue of a VM with a disk and a virtio console, prints its counts,
	# halts for a few seconds and powers off (hostile_case above has the checks).
	# HOSTILE_SEED / HOSTILE_ROUNDS override the fixed seed and the rounds (bench/hostile/run.sh uses
	# them); HOSTILE_ARGS adds payload options (ops=N snapshots=N: see firmware/payload/hostile.c).
	need_kvm
	hostile_case "${HOSTILE_SEED:-1}" "${HOSTILE_ROUNDS:-8}" "${HOSTILE_ARGS:-}" ;;
hostile-snapshot-requests)
	# The same guest asking for 1000 snapshots, a millisecond or two apart, of a vmm without
	# --snapshot-dir: the "asked for a snapshot ... ignored" warning is guest-triggered and must be
	# rationed like the others (it was not when this case was written: one line per request; the vmm
	# command now says it once).
	need_kvm
	hostile_case 1 1 "snapshots=1000" ;;
errors)
	printf 'this is not a kernel\n%.0s' $(seq 100) >"$WORK/garbage"
	: >"$WORK/empty"
	one_line_error --kernel "$WORK/does-not-exist"
	one_line_error --mem 0 --kernel "$PAYLOAD"
	one_line_error --mem 10Q --kernel "$PAYLOAD"
	one_line_error --mem 100T --kernel "$PAYLOAD"
	one_line_error --cpus 65 --kernel "$PAYLOAD"
	one_line_error --bogus-option
	one_line_error
	one_line_error --kernel "$PAYLOAD" --console=file:/nonexistent-dir/log
	one_line_error --kernel "$PAYLOAD" --user 0
	one_line_error --kernel "$PAYLOAD" --chroot /
	if [ -c /dev/kvm ]; then
		# The privilege drop comes after the VM is made: a root directory that is not there.
		one_line_error --kernel "$PAYLOAD" --user 65534 --chroot "$WORK/no-such-dir"
		expect_err "^vmm: cannot change the root directory to '$WORK/no-such-dir': No such file or directory$"
		one_line_error --kernel "$WORK/garbage"
		one_line_error --kernel "$WORK/empty"
		one_line_error --kernel "$PAYLOAD" --initrd "$WORK/does-not-exist"
		one_line_error --kernel "$PAYLOAD" --mem 20T
		# More than this host has, but within the 1 TiB limit.
		host_kib=$(awk '/MemTotal|SwapTotal/ {s += $2} END {print s}' /proc/meminfo)
		one_line_error --kernel "$PAYLOAD" --mem "$(( host_kib / 1024 / 1024 + 8 ))G"
		# Disks: missing, not a file or block device, in use read-write by another process.
		one_line_error --kernel "$PAYLOAD" --disk "$WORK/does-not-exist.img"
		one_line_error --kernel "$PAYLOAD" --disk /dev/null
		truncate -s 1M "$WORK/busy.img"
		# This shell holds the lock on fd 8 (no child process outlives the test); vmm must not start.
		exec 8<"$WORK/busy.img"
		flock -x 8 || fail "flock on the test image failed"
		one_line_error --kernel "$PAYLOAD" --disk "$WORK/busy.img"
		grep -q "in use" "$ERR" || fail "a locked disk is not reported as in use"
		exec 8<&-
	fi ;;
errors-order)
	# Needs no KVM: a bad kernel, initrd or disk path is reported before /dev/kvm is even opened, so a
	# typo is not hidden behind a missing /dev/kvm (on a machine without one, the order shows).
	one_line_error --kernel "$WORK/does-not-exist"
	expect_err "^vmm: cannot open kernel '$WORK/does-not-exist': No such file or directory$"
	one_line_error --kernel "$PAYLOAD" --initrd "$WORK/does-not-exist"
	expect_err "^vmm: cannot open initrd '$WORK/does-not-exist': No such file or directory$"
	one_line_error --kernel "$WORK"
	expect_err "^vmm: kernel '$WORK' is not a regular file$"
	one_line_error --kernel "$PAYLOAD" --disk "$WORK/does-not-exist.img"
	expect_err "^vmm: cannot open disk '$WORK/does-not-exist.img': No such file or directory$"
	# A snapshot is read and checked before /dev/kvm too (tests/integration/cases/snapshot.sh has the rest).
	one_line_error --restore "$WORK/no-snapshot"
	expect_err "^vmm: cannot open snapshot '$WORK/no-snapshot': No such file or directory$"
	mkdir -p "$WORK/snap-garbage"
	head -c 4096 "$PAYLOAD" >"$WORK/snap-garbage/state"
	: >"$WORK/snap-garbage/memory"
	one_line_error --restore "$WORK/snap-garbage"
	expect_err "^vmm: snapshot '$WORK/snap-garbage' cannot be restored: it is not a vmm snapshot (no VMMSNAP header)$"
	one_line_error --restore "$WORK/snap-garbage" --kernel "$PAYLOAD"
	expect_err "^vmm: --restore takes the kernel, initrd and command line from the snapshot: drop --kernel$"
	if [ ! -e /dev/kvm ]; then
		# Good files: now the missing /dev/kvm is the error.
		one_line_error --kernel "$PAYLOAD" --initrd "$PAYLOAD"
		expect_err "/dev/kvm does not exist"
	fi ;;
help)
	"$VMM" --help >"$LOG" 2>"$ERR" || fail "--help exit code $?"
	for opt in --kernel --initrd --cmdline --mem --cpus --console --timeout --user --chroot --snapshot-dir \
		--snapshot-resume --restore "Ctrl-A"; do
		grep -q -- "$opt" "$LOG" || fail "--help does not mention $opt"
	done ;;
stock-kernel-pvm)
	# On a PVM host a stock kernel starts in KVM's emulator, prints its first lines and dies
	# at an instruction the emulator lacks; vmm must say so and exit 2.
	# Only a PVM /dev/kvm has that emulator: elsewhere this cannot run anywhere on the machine (the
	# nested test host's kvm-amd is not PVM), so it is the one case that skips even with VMM_REQUIRE_ALL=1.
	if [ ! -c /dev/kvm ] || [ ! -d /sys/module/kvm_pvm ]; then
		echo "SKIP: $CASE: this machine has no PVM /dev/kvm (nothing here can run this case)"
		exit 77
	fi
	need_kvm
	[ -f "$ASSETS/vmlinuz" ] || fail "no guest kernel in '$ASSETS'"
	# 128 MiB: less memory to initialise in the emulator (about 5 million instructions a second).
	run 2 --kernel "$ASSETS/vmlinuz" --cmdline "console=ttyS0 earlyprintk=serial,ttyS0" --mem 128M --timeout 250
	expect_log "Linux version"
	expect_err "guest crashed: vCPU 0: KVM instruction emulation failed" ;;
*)
	echo "unknown case $CASE"; exit 1 ;;
esac
echo "PASS: $CASE"
