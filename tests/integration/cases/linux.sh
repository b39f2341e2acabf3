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
pass() {
	if [ -n "$RETRIED" ]; then echo "note: $RETRIED"; fi
	result PASS
}
fail() { result "FAIL $*"; }

# A guest that crashes (vmm exits 2) is booted once more, loudly: the nested test host's emulated
# SVM has been seen to triple-fault a guest about once in 200 boots, before the kernel printed a
# line. A triple fault is a reset now (vmm exits 0 and says "the guest reset itself (triple
# fault)"), so a guest that reset itself that way before it printed any VMMTEST-RESULT line is
# booted once more too; the reboot cases print their result before they reboot, so a reboot that
# fell through to a triple fault is never retried. A real, repeatable crash or reset fails the
# second time too; every retry is named in the result.
RETRIED=
TRIPLE="the guest reset itself (triple fault)"
# early_reset: the guest triple-faulted (a reset) before it reported a result.
early_reset() { grep -q "$TRIPLE" "$ERR" && ! grep -q "VMMTEST-RESULT" "$LOG"; }
# run_vmm ARGS...: one vmm run with the case's console and stderr files; sets rc.
run_vmm() {
	"$VMM" --console="file:$LOG" --timeout "$TMO" --kernel "${KERNEL:-$G/vmlinuz}" --initrd "$G/initramfs.gz" "$@" \
		</dev/null 2>"$ERR"
	rc=$?
}
retry_crash() {
	{ [ "$rc" = 2 ] || early_reset; } && [ -z "$RETRIED" ] || return 1
	RETRIED="(retried once after a guest crash or early reset: $(head -c 200 "$ERR" | tr '\r\n' '  '))"
	echo "RETRY: the guest crashed or reset itself early; booting it once more. $RETRIED"
	cp "$LOG" "$OUT/console.crash.log" 2>/dev/null
	cp "$ERR" "$OUT/stderr.crash.log" 2>/dev/null
	return 0
}
# boot EXPECTED_STATUS ARGS...: run the guest; fail unless vmm exits with EXPECTED_STATUS.
boot() {
	want=$1
	shift
	echo "+ vmm $*"
	run_vmm "$@"
	if [ "$want" != 2 ] && retry_crash; then run_vmm "$@"; fi
	echo "vmm exited with $rc"
	[ "$rc" = "$want" ] || fail "vmm exited with $rc, expected $want ($(head -c 300 "$ERR" | tr '\r\n' '  '))"
}
# guest_passed NAME: the guest printed its PASS line for test NAME.
guest_passed() {
	grep -q "VMMTEST-RESULT $1 PASS" "$LOG" && return 0
	line=$(grep "VMMTEST-RESULT" "$LOG" | head -1 | tr -d '\r')
	fail "guest result: ${line:-none (no VMMTEST-RESULT line on the console)}"
}

sha() { sha256sum "$@" | cut -d' ' -f1; }
# unprivileged: set AS to a prefix that runs a command as uid and gid 65534 from its start (util-linux
# setpriv) when we are root and that user can open /dev/kvm (the test host opens /dev/kvm to everyone,
# as a distribution's kvm group would); empty when we are not root (we are the unprivileged user).
unprivileged() {
	AS=
	[ "$(id -u)" = 0 ] || return 0
	[ -e /tests/linux.sh ] && chmod 0666 /dev/kvm
	if [ -x /usr/bin/setpriv ] &&
		/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups -- sh -c ': </dev/kvm' 2>/dev/null; then
		AS="/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups --"
		chmod 0666 "$LOG"
		return 0
	fi
	[ ! -e /tests/linux.sh ] || fail "cannot run vmm as uid 65534 in the test host (no util-linux setpriv?)"
}
# printed WORD: the value the guest printed after "WORD " on its console.
printed() { sed -n "s/.*$1 \([0-9a-f]*\).*/\1/p" "$LOG" | head -1; }

case $CASE in
boot-1cpu)
	boot 0 --mem 512M --cpus 1 --cmdline "$BASE vmmtest=cpus vmmtest.cpus=1"
	guest_passed cpus
	pass ;;
boot-2cpu)
	boot 0 --mem 512M --cpus 2 --cmdline "$BASE vmmtest=cpus vmmtest.cpus=2"
	guest_passed cpus
	pass ;;
boot-pvh)
	# The same kernel as an ELF vmlinux (tests/guest/build-assets.sh unpacks it from the bzImage),
	# entered through its PVH note: 2 vCPUs, and vmm says (-v) which entry it took.
	[ -s "$G/vmlinux" ] || fail "no $G/vmlinux (tests/guest/build-assets.sh makes it)"
	KERNEL=$G/vmlinux
	boot 0 -v --mem 512M --cpus 2 --cmdline "$BASE vmmtest=cpus vmmtest.cpus=2"
	KERNEL=
	guest_passed cpus
	grep -q "ELF vmlinux, .* PVH entry at" "$ERR" || fail "vmm did not say it used the PVH entry: $(grep -m1 'kernel' "$ERR")"
	pass ;;
boot-clean)
	# A verbose boot (no quiet) on 2 vCPUs: the kernel's log must hold no warning splat or oops
	# ("cut here"): what we tell the guest (CPUID, ACPI, devices) is consistent. Seen before the fix:
	# "XSAVE consistency problem: size 832 != kernel_size 576" from CPUID 0xD.
	boot 0 --mem 512M --cpus 2 --cmdline "console=ttyS0 reboot=k panic=-1 vmmtest=dmesg"
	guest_passed dmesg
	grep -q "Run /init as init process" "$LOG" || fail "the console holds no verbose kernel log"
	splat=$(grep -a -m1 -A2 -e "cut here" -e "XSAVE consistency" -e "BUG:" -e "Oops" "$LOG" | tr -d '\r' | tr '\n' ' ')
	[ -z "$splat" ] || fail "the kernel warned at boot: $splat"
	pass ;;
poweroff)
	boot 0 --mem 256M --cmdline "$BASE vmmtest=poweroff"
	guest_passed poweroff
	grep -q "reboot: Power down" "$LOG" || grep -q "VMMTEST-RESULT poweroff PASS" "$LOG" || fail "no power-down"
	pass ;;
reboot | reboot-default | reboot-acpi | reboot-triple | reboot-pci | reboot-bios | reboot-efi)
	# Each way Linux can reset an x86 machine ends the run as a reboot (exit 0). Without reboot=,
	# on our hardware-reduced ACPI machine Linux picks EFI, finds none and jumps to the BIOS's reset
	# vector (as reboot=b): vmm puts a reset there. A method that fails falls through to the last
	# resort, a triple fault, which vmm reports on stderr: only reboot=t may end that way.
	case $CASE in
	reboot) how=reboot=k ;;
	reboot-default) how= ;;
	reboot-acpi) how=reboot=a ;;
	reboot-triple) how=reboot=t ;;
	reboot-pci) how=reboot=p ;;
	reboot-bios) how=reboot=b ;;
	reboot-efi) how=reboot=e ;;
	esac
	boot 0 --mem 256M --cmdline "console=ttyS0 $how panic=-1 quiet vmmtest=reboot"
	guest_passed reboot
	grep -q "reboot: Restarting system" "$LOG" || fail "no 'reboot: Restarting system' on the console"
	if [ "$CASE" = reboot-triple ]; then
		[ "$(cat "$ERR")" = "vmm: $TRIPLE" ] || fail "stderr is not the one triple-fault line: $(head -c 300 "$ERR" | tr '\r\n' '  ')"
	elif [ -s "$ERR" ]; then
		fail "${how:-the default method} did not reset the guest by itself: $(head -c 300 "$ERR" | tr '\r\n' '  ')"
	fi
	pass ;;
boot-timer)
	# --boot-timer: /init's marker (1, written first thing) comes after the first KVM_RUN; --stats
	# names the serial port among the exits.
	boot 0 --mem 256M --boot-timer --stats --cmdline "$BASE vmmtest=poweroff"
	guest_passed poweroff
	grep "boot-timer:\|stats:" "$ERR"
	# "NAME TIME" per phase, in the order printed.
	ph=$(sed -n 's/^vmm: boot-timer: \(.*\) at \([0-9.-]*\) ms.*$/\1|\2/p' "$ERR" | tr -d '\r')
	t_of() { echo "$ph" | grep "^$1" | head -1 | cut -d'|' -f2; }
	run=$(t_of "first KVM_RUN") mark=$(t_of "guest marker 1|") done=$(t_of "vmm_create done")
	[ -n "$run" ] && [ -n "$mark" ] && [ -n "$done" ] || fail "missing boot-timer phases: $(echo "$ph" | tr '\n' ' ')"
	awk -v d="$done" -v r="$run" -v m="$mark" 'BEGIN { exit !(0 < d && d < r && r < m) }' ||
		fail "phases out of order: create done $done, first KVM_RUN $run, /init marker $mark"
	echo "$ph" | awk -F'|' '$2 + 0 < prev { bad = 1 } { prev = $2 + 0 } END { exit bad }' ||
		fail "boot-timer times go back: $(echo "$ph" | tr '\n' ' ')"
	# x86: I/O ports; arm64: the same registers on MMIO (src/arm64/layout.h).
	serial="port 0x3f8-0x3ff" marker="port 0x620"
	[ "$(uname -m)" != aarch64 ] || serial="mmio 0x9000000-0x9000007" marker="mmio 0x9020000"
	grep -q "^vmm: stats: $serial serial: [1-9][0-9]* exits" "$ERR" || fail "--stats does not name the serial port"
	grep -q "^vmm: stats: $marker boot-timer: [1-9]" "$ERR" || fail "--stats does not count the /init marker"
	grep -q "^vmm: stats: user space exit handling: " "$ERR" || fail "--stats has no handling time"
	pass ;;
date)
	boot 0 --mem 256M --cmdline "$BASE vmmtest=date vmmtest.epoch=$(date +%s)"
	guest_passed date
	pass ;;
kvmclock)
	boot 0 --mem 256M --cmdline "$BASE vmmtest=clocksource"
	guest_passed clocksource
	pass ;;
console-input | console-hvc-input)
	# A line typed into vmm's stdin (a fifo here) once the guest asks for it reaches the guest: through
	# the serial port, or through hvc0 (--hvc=stdio; the serial port writes to a file).
	fifo=$OUT/input
	if [ "$CASE" = console-input ]; then
		line='echo-from-host 42' how="its serial port"
		set -- --cmdline "$BASE vmmtest=console-input"
	else
		line='echo-from-host 43' how=hvc0
		set -- --hvc=stdio --cmdline "$BASE vmmtest=console-input vmmtest.dev=hvc0 vmmtest.virtio=1"
	fi
	# input_once ARGS...: boot with stdin from a fifo, send the line once the guest asks; sets rc.
	input_once() {
		rm -f "$fifo"
		mkfifo "$fifo" || fail "mkfifo failed"
		echo "+ vmm $* (input through $fifo)"
		"$VMM" --console="file:$LOG" --timeout "$TMO" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" \
			--mem 256M "$@" <"$fifo" >"$OUT/stdout" 2>"$ERR" &
		pid=$!
		exec 3>"$fifo"
		i=0
		while ! grep -q READY-FOR-INPUT "$LOG" 2>/dev/null; do
			i=$((i + 1))
			[ $i -le $((TMO * 5)) ] && kill -0 $pid 2>/dev/null || break
			sleep 0.2
		done
		printf '%s\n' "$line" >&3
		wait $pid
		rc=$?
		exec 3>&-
	}
	input_once "$@"
	if retry_crash; then input_once "$@"; fi
	[ "$rc" = 0 ] || fail "vmm exited with $rc, expected 0"
	grep -q "GOT-INPUT:$line" "$LOG" || fail "the guest did not receive the line sent through $how"
	guest_passed console-input
	pass ;;
console-serial | console-hvc)
	# The guest floods ttyS0 (or hvc0) through --console=stdio (--hvc=stdio) into a pipe whose reader
	# (cat) is stopped mid-flood long enough for the pipe (64 KiB) and vmm's buffer to fill, so the
	# guest's driver must wait: no byte may be lost (the host's own `seq` gives the same bytes), and the
	# guest must keep running meanwhile (its 0.2 s uptime sampler sees no gap of half the stop). Both
	# carry 2700000 lines (20.5 MB) where guests run directly; in the nested test hosts hvc0 carries
	# 2 MB (below) and ttyS0, which moves one byte per VM
	# exit, 1 to 9 KB/s under emulation, so 20000 lines (110 KB; the UART's buffer is 16 KiB) and a
	# 15 s stop there (VMM_SERIAL_LINES to change it). hvc0 gets a 5 s stop (vmm holds up to 32 MiB of
	# hvc0 output for a stalled reader: Linux's hvc driver would spin its vCPU otherwise).
	flood=$OUT/flood.out fifo=$OUT/flood.fifo stop=5
	if [ "$CASE" = console-serial ]; then
		if [ -n "${VMM_NESTED_TEST_HOST:-}" ]; then lines=${VMM_SERIAL_LINES:-20000} stop=15
		else lines=${VMM_SERIAL_LINES:-2700000}; fi
		set -- --console=stdio --cmdline "$BASE vmmtest=console-flood vmmtest.dev=ttyS0 vmmtest.lines=$lines vmmtest.timeout=280"
	else
		# The nested test hosts (emulated) move hvc0 at 100 to 300 KB/s: 270000 lines (2 MB) there, still
		# far more than the pipe holds while its reader is stopped (VMM_HVC_LINES to change it).
		lines=${VMM_HVC_LINES:-2700000}
		[ -z "${VMM_NESTED_TEST_HOST:-}" ] || lines=${VMM_HVC_LINES:-270000}
		set -- --console="file:$LOG" --hvc=stdio \
			--cmdline "$BASE vmmtest=console-flood vmmtest.dev=hvc0 vmmtest.virtio=1 vmmtest.lines=$lines vmmtest.timeout=280"
	fi
	flood_once() {
		rm -f "$fifo" "$flood"
		mkfifo "$fifo" || fail "mkfifo failed"
		cat "$fifo" >"$flood" &
		catpid=$!
		echo "+ vmm $* >$fifo"
		"$VMM" --timeout 300 --stats --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" --mem 256M "$@" \
			</dev/null >"$fifo" 2>"$OUT/stderr.all" &
		pid=$!
		i=0
		until grep -q FLOOD-BEGIN "$flood" 2>/dev/null; do
			i=$((i + 1))
			[ $i -le 1500 ] && kill -0 $pid 2>/dev/null || break
			sleep 0.2
		done
		kill -STOP $catpid
		echo "reader stopped at $(wc -c <"$flood") bytes"
		sleep $stop
		echo "reader resumed at $(wc -c <"$flood") bytes"
		kill -CONT $catpid
		wait $pid
		rc=$?
		wait $catpid
		# --stats tells, when the flood stalls, which side waits (the guest's UART driver, vmm's
		# console writer, the reader): kept apart from what vmm says otherwise, which must be nothing.
		grep -a '^vmm: stats: ' "$OUT/stderr.all" >"$OUT/stats.log"
		grep -av '^vmm: stats: ' "$OUT/stderr.all" >"$ERR"
		grep -a 'serial\|hvc0\|stats: exits' "$OUT/stats.log"
		[ "$rc" = 0 ] ||
			echo "the flood stopped after $(wc -c <"$flood") bytes; its last lines: $(tail -n 2 "$flood" | tr '\r\n' '  ')"
	}
	flood_once "$@"
	[ "$CASE" = console-serial ] && cp "$flood" "$LOG"
	if retry_crash; then flood_once "$@"; fi
	[ "$CASE" = console-serial ] && cp "$flood" "$LOG"
	[ "$rc" = 0 ] || fail "vmm exited with $rc, expected 0 ($(head -c 300 "$ERR" | tr '\r\n' '  '))"
	grep -a "FLOOD-RATE\|FLOOD-MAXGAP" "$LOG"
	guest_passed console-flood
	want=$(seq 1 "$lines" | md5sum | cut -d' ' -f1)
	got=$(awk '/^FLOOD-BEGIN\r?$/ { on = 1; next } /^FLOOD-END\r?$/ { on = 0 } on' "$flood" | md5sum | cut -d' ' -f1)
	[ "$want" = "$got" ] || fail "the flood arrived damaged: md5 $got, expected $want ($(wc -c <"$flood") bytes in all)"
	gap=$(sed -n 's/^FLOOD-MAXGAP \([0-9.]*\).*/\1/p' "$LOG" | head -1)
	[ -n "$gap" ] || fail "no FLOOD-MAXGAP line"
	# A vCPU blocked on output would stop the sampler for the whole stop; a busy nested guest may
	# pause it for a second or two on its own.
	awk -v g="$gap" -v s="$stop" 'BEGIN { exit !(g < s / 2) }' ||
		fail "the guest stood still for $gap s while the host reader was stopped for $stop s (a vCPU blocked on output?)"
	[ -s "$ERR" ] && fail "vmm said something on stderr: $(head -c 300 "$ERR" | tr '\r\n' '  ')"
	pass ;;
console-hvc-boot)
	# console=hvc0: the guest's /init and the kernel's console on the virtio console, the UART unused.
	boot 0 --mem 256M --console=none --hvc="file:$LOG" --cmdline "console=hvc0 reboot=k panic=-1 quiet vmmtest=poweroff"
	guest_passed poweroff
	pass ;;
blk-raw)
	img=$OUT/disk.img
	truncate -s 64M "$img"
	boot 0 --mem 256M --disk "$img" --cmdline "$BASE vmmtest=blk-raw vmmtest.virtio=1"
	guest_passed blk-raw
	want=$(printed BLK-PATTERN-SHA)
	got=$(dd if="$img" bs=1M skip=1 count=4 2>/dev/null | sha)
	[ -n "$want" ] && [ "$want" = "$got" ] || fail "the image holds $got at 1 MiB, the guest wrote $want"
	pass ;;
user-drop)
	# --user 65534:65534 --chroot DIR: once the guest runs, vmm (every thread) has the new user and
	# group, no capability in any set, no-new-privileges and its root in DIR; the disk it opened as
	# root before the drop still takes the guest's writes. (The sanitized build's exit-time leak
	# check reads /proc, so DIR gets one.)
	[ "$(id -u)" = 0 ] || fail "needs root (the test host runs as root)"
	img=$OUT/disk.img jail=$OUT/jail
	truncate -s 64M "$img"
	chmod 600 "$img"
	mkdir -p "$jail/proc"
	mount -t proc proc "$jail/proc" || fail "cannot mount proc in $jail"
	# --net user starts its poll thread (under its seccomp filter) before the drop, which glibc makes
	# every thread carry out: that thread must take part, and lose its root too.
	"$VMM" --console="file:$LOG" --timeout "$TMO" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" --mem 256M \
		--disk "$img" --net user --user 65534:65534 --chroot "$jail" --rlimit nofile=64 \
		--cmdline "$BASE vmmtest=blk-raw vmmtest.virtio=1 vmmtest.hold=3" </dev/null 2>"$ERR" &
	pid=$!
	i=0
	until grep -q "VMMTEST-RESULT" "$LOG" 2>/dev/null || [ $i -ge 600 ] || ! kill -0 $pid 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	st=$OUT/status
	: >"$st"
	for t in /proc/$pid/task/*; do cat "$t/status" >>"$st" 2>/dev/null; done
	root=$(readlink /proc/$pid/root)
	nofile=$(awk '/^Max open files/ { print $4 "/" $5 }' /proc/$pid/limits)
	wait $pid
	rc=$?
	umount "$jail/proc"
	echo "vmm exited with $rc; its root was $root"
	grep -E "^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" "$st" | sort | uniq -c
	[ "$rc" = 0 ] || fail "vmm exited with $rc ($(head -c 300 "$ERR" | tr '\r\n' '  '))"
	guest_passed blk-raw
	[ -s "$st" ] || fail "could not read vmm's status while the guest ran"
	n=$(grep -c "^Uid:" "$st")
	[ "$(grep -c -E '^Uid:[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534$' "$st")" = "$n" ] ||
		fail "a thread of vmm is not user 65534: $(grep '^Uid:' "$st" | sort -u | tr '\n\t' '  ')"
	[ "$(grep -c -E '^Gid:[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534$' "$st")" = "$n" ] ||
		fail "a thread of vmm is not group 65534: $(grep '^Gid:' "$st" | sort -u | tr '\n\t' '  ')"
	for f in CapInh CapPrm CapEff CapBnd CapAmb; do
		[ "$(grep -c -E "^$f:[[:space:]]+0+$" "$st")" = "$n" ] ||
			fail "vmm keeps capabilities: $(grep "^$f:" "$st" | sort -u | tr '\n\t' '  ')"
	done
	[ "$(grep -c -E '^NoNewPrivs:[[:space:]]+1$' "$st")" = "$n" ] || fail "vmm can gain privileges (NoNewPrivs not 1)"
	# The default --seccomp=on: every thread (main, signals, I/O, vCPU, supervisor, net poller) is filtered.
	[ "$(grep -c -E '^Seccomp:[[:space:]]+2$' "$st")" = "$n" ] ||
		fail "a thread of vmm runs without a seccomp filter: $(grep '^Seccomp:' "$st" | sort | uniq -c | tr '\n\t' '  ')"
	[ "$n" -ge 6 ] || fail "vmm had $n threads while the guest ran; expected at least 6 (main, signals, io, vcpu, supervisor, net-poll)"
	grep -q -E '^Groups:[[:space:]]*$' "$st" || fail "vmm keeps supplementary groups: $(grep -m1 '^Groups:' "$st")"
	[ "$root" = "$jail" ] || fail "vmm's root directory is '$root', not $jail"
	[ "$nofile" = 64/64 ] || fail "vmm's open-files limit is '$nofile', not 64/64 (--rlimit nofile=64)"
	want=$(printed BLK-PATTERN-SHA)
	got=$(dd if="$img" bs=1M skip=1 count=4 2>/dev/null | sha)
	[ -n "$want" ] && [ "$want" = "$got" ] || fail "the image holds $got at 1 MiB, the guest wrote $want"
	[ -s "$ERR" ] && fail "vmm said something on stderr: $(head -c 300 "$ERR" | tr '\r\n' '  ')"
	pass ;;
blk-intx | blk-direct)
	# The same raw-bytes check with legacy INTx instead of MSI-X (guest pci=nomsi), or with O_DIRECT.
	img=$OUT/disk.img
	truncate -s 64M "$img"
	if [ "$CASE" = blk-intx ]; then extra=pci=nomsi disk=$img; else extra= disk=$img,direct=on; fi
	boot 0 --mem 256M --disk "$disk" --cmdline "$BASE $extra vmmtest=blk-raw vmmtest.virtio=1"
	guest_passed blk-raw
	want=$(printed BLK-PATTERN-SHA)
	got=$(dd if="$img" bs=1M skip=1 count=4 2>/dev/null | sha)
	[ -n "$want" ] && [ "$want" = "$got" ] || fail "the image holds $got at 1 MiB, the guest wrote $want"
	pass ;;
blk-ext4)
	img=$OUT/disk.img
	truncate -s 128M "$img"
	boot 0 --mem 256M --disk "$img" --cmdline "$BASE vmmtest=blk-ext4 vmmtest.virtio=1"
	guest_passed blk-ext4
	want=$(printed EXT4-SHA)
	debugfs -R "dump /data $OUT/data" "$img" >/dev/null 2>&1 || fail "debugfs cannot read /data from the image"
	got=$(sha "$OUT/data")
	rm -f "$OUT/data"
	[ -n "$want" ] && [ "$want" = "$got" ] || fail "/data in the image is $got, the guest wrote $want"
	pass ;;
blk-sync-kill)
	img=$OUT/disk.img
	# sync_kill_once: boot, wait for the guest's sync, SIGKILL vmm; sets rc (137 when killed).
	sync_kill_once() {
		rm -f "$img"
		truncate -s 64M "$img"
		echo "+ vmm --disk $img (killed with SIGKILL after the guest's sync)"
		"$VMM" --console="file:$LOG" --timeout "$TMO" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" \
			--mem 256M --disk "$img" --cmdline "$BASE vmmtest=blk-sync vmmtest.virtio=1" </dev/null 2>"$ERR" &
		pid=$!
		i=0
		while ! grep -q "SYNCED" "$LOG" 2>/dev/null; do
			i=$((i + 1))
			[ $i -le $((TMO * 5)) ] && kill -0 $pid 2>/dev/null || break
			sleep 0.2
		done
		kill -9 $pid 2>/dev/null
		wait $pid
		rc=$?
	}
	sync_kill_once
	if retry_crash; then sync_kill_once; fi
	want=$(printed SYNCED)
	[ -n "$want" ] || fail "the guest never reported its sync (vmm exited with $rc)"
	got=$(dd if="$img" bs=1M skip=2 count=8 2>/dev/null | sha)
	[ "$want" = "$got" ] || fail "after kill -9 the image holds $got, the guest synced $want"
	pass ;;
blk-ro)
	img=$OUT/disk.img
	mkdir -p "$OUT/rofs"
	echo "hello from the host" >"$OUT/rofs/hello"
	/sbin/mke2fs -q -F -t ext4 -d "$OUT/rofs" "$img" 32M || fail "mke2fs failed"
	before=$(sha "$img")
	boot 0 --mem 256M --disk "$img,ro" --cmdline "$BASE vmmtest=blk-ro vmmtest.virtio=1"
	guest_passed blk-ro
	[ "$(sha "$img")" = "$before" ] || fail "the read-only image changed"
	pass ;;
blk-discard)
	img=$OUT/disk.img
	truncate -s 256M "$img"
	boot 0 --mem 256M --disk "$img" --cmdline "$BASE vmmtest=blk-discard vmmtest.virtio=1"
	guest_passed blk-discard
	kib=$(du -k "$img" | cut -f1)
	echo "allocated after writing 64 MiB and discarding 48 MiB: $kib KiB"
	[ "$kib" -ge 12288 ] && [ "$kib" -le 24576 ] || fail "the sparse image has $kib KiB allocated, expected about 16384"
	pass ;;
blk-two)
	truncate -s 32M "$OUT/a.img"
	truncate -s 32M "$OUT/b.img"
	# Two I/O threads: the disks are on different ones (vda the second's, vdb the first's).
	boot 0 --mem 256M --io-threads 2 --disk "$OUT/a.img,serial=SERIAL-A" --disk "$OUT/b.img,serial=SERIAL-B" \
		--cmdline "$BASE vmmtest=blk-two vmmtest.virtio=1"
	guest_passed blk-two
	for d in a b; do
		dev=vd$d
		line=$(grep "DISK $dev " "$LOG" | tr -d '\r')
		want=${line##*sha=}
		got=$(dd if="$OUT/$d.img" bs=1M count=2 2>/dev/null | sha)
		case $line in *"serial=SERIAL-$(echo $d | tr ab AB) "*) ;; *) fail "$dev: wrong serial in '$line'" ;; esac
		[ "$want" = "$got" ] || fail "$d.img holds $got, the guest wrote $want to $dev"
	done
	pass ;;
blk-mq)
	img=$OUT/disk.img
	truncate -s 64M "$img"
	boot 0 --mem 256M --cpus 2 --disk "$img" --cmdline "$BASE vmmtest=blk-mq vmmtest.virtio=1"
	guest_passed blk-mq
	# Both queues signalled through their own MSI-X vectors, not a shared INTx line.
	grep -q "BLK-MQ-IRQS 2" "$LOG" || fail "not one MSI-X vector per queue with interrupts: $(grep BLK-MQ-IRQS "$LOG" | tr -d '\r')"
	pass ;;
ext4-root)
	img=$OUT/root.img
	r=$OUT/rootfs
	mkdir -p "$r/bin" "$r/sbin" "$r/etc" "$r/proc" "$r/dev"
	cp /bin/busybox "$r/bin/busybox"
	echo "marker-42" >"$r/etc/vmm-root"
	cat >"$r/sbin/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo "VMMTEST-RESULT root PASS $(/bin/busybox cat /etc/vmm-root) on $(/bin/busybox awk '$2 == "/" {print $1, $3}' /proc/mounts | /bin/busybox tail -1)"
/bin/busybox sync
/bin/busybox poweroff -f
INIT
	chmod +x "$r/sbin/init"
	/sbin/mke2fs -q -F -t ext4 -d "$r" "$img" 64M || fail "mke2fs failed"
	boot 0 --mem 256M --disk "$img" --cmdline "$BASE vmmtest=root"
	grep -q "VMMTEST-RESULT root PASS marker-42 on /dev/vda ext4" "$LOG" || fail "no ext4 root: $(grep VMMTEST-RESULT "$LOG" | tr -d '\r')"
	pass ;;
net-*) . "$(dirname "$0")/net.sh" ;;
snapshot | snapshot-*) . "$(dirname "$0")/snapshot.sh" ;;
fs | fs-*) . "$(dirname "$0")/fs.sh" ;;
vsock | vsock-snapshot) . "$(dirname "$0")/vsock.sh" ;;
user-net | user-net-*) . "$(dirname "$0")/user_net.sh" ;;
embed | api-pause | api-hvc | api-snapshot)
	# Programs built on libvmm, next to vmm (run-batch.sh: VMM_EXTRA_PROGRAMS): examples/embed.c
	# (start, READY, pause 1 s, resume, power button), tests/api-linux/api-pause-clock.c and api-hvc.c.
	case $CASE in
	embed) prog=$(dirname "$VMM")/embed ;;
	api-pause) prog=$(dirname "$VMM")/api-pause-clock ;;
	api-snapshot) prog=$(dirname "$VMM")/api-snapshot ;;
	*) prog=$(dirname "$VMM")/api-hvc ;;
	esac
	[ -x "$prog" ] || fail "no $prog (run-batch.sh puts the VMM_EXTRA_PROGRAMS next to vmm)"
	# api_once: one run, its output as the case's console log; sets rc.
	api_once() {
		echo "+ $(basename "$prog") $G/vmlinuz $G/initramfs.gz"
		"$prog" "$G/vmlinuz" "$G/initramfs.gz" </dev/null >"$LOG" 2>"$ERR"
		rc=$?
		echo "$(basename "$prog") exited with $rc"
	}
	api_once
	if [ "$rc" != 0 ] && [ -z "$RETRIED" ] && { grep -q "event: guest crashed" "$LOG" || grep -q "$TRIPLE" "$ERR"; }; then
		RETRIED="(retried once after a guest crash or triple fault)"
		cp "$LOG" "$OUT/console.crash.log"
		api_once
	fi
	[ "$rc" = 0 ] || fail "$(basename "$prog") exited with $rc: $(grep -E 'FAIL' "$LOG" | head -3 | tr '\r\n' '  ')"
	pass ;;
run-exit)
	# examples/run-in-microvm: the command's status through the debug-exit port, its output streamed.
	rim=$(dirname "$VMM")/run-in-microvm
	[ -x "$rim" ] || fail "no $rim (run-batch.sh puts the VMM_EXTRA_PROGRAMS next to vmm)"
	: >"$LOG"
	# rim_run WANT CMD...: run CMD in a micro-VM (once more after a crash); fail unless it exits WANT.
	rim_run() {
		want=$1
		shift
		for try in 1 2; do
			echo "+ run-in-microvm -- $*"
			echo "=== run-in-microvm -- $*" >>"$LOG"
			"$rim" --vmm "$VMM" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" --timeout "$TMO" -- "$@" \
				</dev/null >"$OUT/out" 2>"$ERR"
			rc=$?
			cat "$OUT/out" >>"$LOG"
			echo "run-in-microvm exited with $rc"
			[ "$rc" = 125 ] && [ $try = 1 ] && [ -z "$RETRIED" ] && grep -q "crashed\|$TRIPLE" "$ERR" || break
			RETRIED="(retried once after a guest crash: $*)"
		done
		[ "$rc" = "$want" ] || fail "run-in-microvm -- $* exited with $rc, expected $want ($(head -c 300 "$ERR" | tr '\r\n' '  '))"
	}
	rim_run 0 true
	[ -s "$OUT/out" ] && fail "'true' printed '$(head -c 200 "$OUT/out" | tr '\r\n' '  ')': the guest must print nothing around the command"
	rim_run 1 false
	rim_run 42 exit 42
	rim_run 0 echo hello-from-guest
	[ "$(cat "$OUT/out")" = hello-from-guest ] || fail "the output is '$(head -c 300 "$OUT/out" | tr '\r\n' '  ')', expected exactly 'hello-from-guest'"
	pass ;;
sigterm-graceful)
	# The first SIGTERM presses the power button (10 s grace): the guest shuts down cleanly, vmm exits 143.
	sigterm_once() {
		echo "+ vmm vmmtest=wait_power (SIGTERM after READY)"
		"$VMM" --console="file:$LOG" --timeout "$TMO" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" \
			--mem 256M --cmdline "$BASE vmmtest=wait_power" </dev/null 2>"$ERR" &
		pid=$!
		i=0
		while ! grep -q READY "$LOG" 2>/dev/null; do
			i=$((i + 1))
			[ $i -le $((TMO * 5)) ] && kill -0 $pid 2>/dev/null || break
			sleep 0.2
		done
		t0=$(date +%s)
		kill -TERM $pid 2>/dev/null
		wait $pid
		rc=$?
		echo "vmm exited with $rc, $(($(date +%s) - t0)) s after SIGTERM"
	}
	sigterm_once
	if retry_crash; then sigterm_once; fi
	grep -q READY "$LOG" || fail "the guest never printed READY (vmm exited with $rc)"
	grep -q "vmmtest: power button: shutting down" "$LOG" || fail "no power-button shutdown on the console (vmm exited with $rc)"
	[ "$rc" = 143 ] || fail "vmm exited with $rc, expected 143 ($(head -c 300 "$ERR" | tr '\r\n' '  '))"
	pass ;;
*)
	fail "unknown case '$CASE'" ;;
esac
