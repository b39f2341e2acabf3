# SPDX-License-Identifier: Apache-2.0
# Snapshot and restore cases (snapshot*), sourced by linux.sh after its helpers (boot, guest_passed,
# printed, pass, fail, sha) with CASE VMM G OUT LOG ERR TMO BASE set. POSIX sh. The guest's end is
# tests/guest/init (t_snapshot).
#
# The guest boots with --snapshot-dir, keeps a counter in memory and a file on tmpfs, and asks for a
# snapshot on port 0x624: vmm saves it and exits 0. Then the snapshot is restored three times in a
# row; each restored guest reads a command from its console, runs it and checks its state.
#   snapshot       1 vCPU; then bad snapshots (truncated, a flipped byte, another version, a RAM size
#                  that does not match, no memory file, a missing disk): exit 1 with one line each
#   snapshot-2cpu  2 vCPUs
#   snapshot-blk   a virtio-blk disk: data synced before the snapshot is read back after each restore,
#                  and a write after restore lands in the image
#   snapshot-hvc   the guest's console is hvc0 (virtio-console): output and input through it
#   snapshot-io    SIGUSR1 from the host while the guest writes its disk (requests in flight): the
#                  restored guest finishes its writes and reads every block back intact; then the same
#                  with --snapshot-resume and --io-threads 2 (restored with 3): the original VM runs
#                  on to its end too

S=$OUT/snap
rm -rf "$S"

if [ "$CASE" = snapshot-io ]; then
	img=$OUT/disk.img
	# io_snapshot [--snapshot-resume]: boot, SIGUSR1 once the guest's writes run; sets rc and ERR.
	io_snapshot() {
		rm -rf "$S" "$img"
		truncate -s 256M "$img"
		: >"$LOG"
		echo "+ vmm --disk $img --snapshot-dir $S $* (SIGUSR1 once the guest writes)"
		"$VMM" --console="file:$LOG" --timeout "$TMO" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" --mem 256M \
			--disk "$img" --snapshot-dir "$S" "$@" \
			--cmdline "$BASE vmmtest=blk-loop vmmtest.virtio=1 vmmtest.timeout=900" </dev/null 2>"$ERR" &
		pid=$!
		i=0
		while ! grep -q "IO-LOOP-START" "$LOG" 2>/dev/null; do
			i=$((i + 1))
			[ $i -le $((TMO * 10)) ] && kill -0 $pid 2>/dev/null || fail "the guest did not start writing ($(head -c 300 "$ERR"))"
			sleep 0.1
		done
		sleep 1
		kill -USR1 $pid
		wait $pid
		rc=$?
		echo "vmm exited with $rc: $(tr '\r\n' '  ' <"$ERR" | head -c 300)"
	}
	# io_restore N [ARGS]: restore the snapshot; the guest must finish its loop and PASS.
	io_restore() {
		rl=$OUT/restore$1.log n=$1
		shift
		"$VMM" --restore "$S" --console="file:$rl" --timeout "$TMO" --disk "$img" "$@" </dev/null 2>"$OUT/restore$n.err"
		rc=$?
		echo "restore $n: vmm exited with $rc; guest: $(grep -a -e IO-LOOP -e VMMTEST-RESULT "$rl" | tr -d '\r' | tr '\n' ' ')"
		[ "$rc" = 0 ] || fail "restore $n: vmm exited with $rc ($(head -c 300 "$OUT/restore$n.err" | tr '\r\n' '  '))"
		grep -q "VMMTEST-RESULT blk-loop PASS" "$rl" || fail "restore $n: $(grep -a VMMTEST-RESULT "$rl" | tr -d '\r')"
		! grep -q "IO-LOOP-START" "$rl" || fail "restore $n: the guest started over instead of going on"
	}
	io_snapshot
	[ "$rc" = 0 ] || fail "vmm exited with $rc after SIGUSR1, expected 0"
	grep -q "snapshot saved in '$S' (asked by SIGUSR1); the VM is stopped" "$ERR" || fail "vmm did not say it saved the snapshot"
	! grep -q "IO-LOOP-WRITTEN" "$LOG" || fail "the guest finished its writes before the snapshot: nothing was in flight"
	io_restore 1
	# The VM runs on after the snapshot: it finishes, and so does the snapshot restored afterwards.
	# This time with two I/O threads (the disk on the second: its requests in flight are waited for
	# there), restored with three.
	io_snapshot --snapshot-resume --io-threads 2
	[ "$rc" = 0 ] || fail "with --snapshot-resume vmm exited with $rc, expected 0"
	grep -q "snapshot saved in '$S' (asked by SIGUSR1)" "$ERR" || fail "vmm did not say it saved the snapshot (resume)"
	grep -q "VMMTEST-RESULT blk-loop PASS" "$LOG" || fail "the resumed guest: $(grep -a VMMTEST-RESULT "$LOG" | tr -d '\r')"
	io_restore 2 --io-threads 3
	pass
fi

cpus=1 arg='' disk='' con="--console=file:$LOG" GLOG=$LOG
case $CASE in
snapshot-hvc)
	# The guest's console is hvc0: what it prints goes to HVCLOG, its input comes from stdin there too.
	GLOG=$OUT/hvc.log
	con="--hvc=file:$GLOG"
	BASE="console=hvc0 reboot=k panic=-1 quiet" ;;
esac
case $CASE in
snapshot-2cpu) cpus=2 ;;
snapshot-blk)
	arg=blk
	img=$OUT/disk.img
	rm -f "$img"
	truncate -s 64M "$img"
	disk="--disk $img" ;;
esac
# shellcheck disable=SC2086 # $disk: no or two words
boot 0 --mem 256M --cpus "$cpus" $disk $con --snapshot-dir "$S" \
	--cmdline "$BASE vmmtest=snapshot vmmtest.timeout=900 vmmtest.virtio=1${arg:+ vmmtest.arg=$arg}"
grep -q "snapshot saved in '$S' (asked by the guest); the VM is stopped" "$ERR" ||
	fail "vmm did not say it saved the snapshot: $(head -c 300 "$ERR" | tr '\r\n' '  ')"
! grep -q "VMMTEST-RESULT" "$GLOG" || fail "the guest ended before its snapshot: $(grep VMMTEST-RESULT "$GLOG" | tr -d '\r')"
# The guest's last line before its request may still be in its tty buffer when the VM is paused, to
# be printed by each restored VM: look for it in the original and the first restore's output together.
asked() { cat "$GLOG" "$OUT/restore1.log" 2>/dev/null | tr -d '\r' | grep -q "SNAP-REQUEST count=41"; }
[ -s "$S/state" ] && [ -f "$S/memory" ] || fail "no state and memory files in $S: $(ls -l "$S" 2>&1 | tr '\n' ' ')"
[ "$(wc -c <"$S/memory")" = $((256 << 20)) ] || fail "the memory file has $(wc -c <"$S/memory") bytes, not 256 MiB"
used=$(du -k "$S/memory" | cut -f1)
echo "memory file: 256 MiB, $used KiB allocated"
[ "$used" -lt $((128 << 10)) ] || fail "the memory file is not sparse: $used KiB allocated of 256 MiB"
[ -z "$arg" ] || want_before=$(printed SNAP-BLK-BEFORE)
rcon="--console=file:"
[ "$CASE" != snapshot-hvc ] || rcon="--console=none --hvc=file:"

for i in 1 2 3; do
	rl=$OUT/restore$i.log re=$OUT/restore$i.err
	echo "+ echo restored-$i | vmm --restore $S $disk"
	# shellcheck disable=SC2086
	printf 'echo restored-%s\n' "$i" | "$VMM" --restore "$S" $rcon"$rl" --timeout "$TMO" $disk 2>"$re"
	rc=$?
	echo "restore $i: vmm exited with $rc; guest: $(grep -a -e SNAP-COUNT -e SNAP-UPTIME -e VMMTEST-RESULT "$rl" | tr -d '\r' | tr '\n' ' ')"
	[ "$rc" = 0 ] || fail "restore $i: vmm exited with $rc ($(head -c 300 "$re" | tr '\r\n' '  '))"
	grep -q "VMMTEST-RESULT snapshot PASS" "$rl" ||
		fail "restore $i: guest result: $(grep VMMTEST-RESULT "$rl" | tr -d '\r') (console: $(tail -c 300 "$rl" | tr '\r\n' '  '))"
	grep -q "SNAP-CMD-OUT restored-$i" "$rl" || fail "restore $i: the guest did not run the command given on its console"
	grep -q "SNAP-COUNT 42" "$rl" || fail "restore $i: the guest's counter is not 42: $(grep SNAP-COUNT "$rl" | tr -d '\r')"
	[ "$i" != 1 ] || asked || fail "the guest did not ask for its snapshot (no SNAP-REQUEST count=41 line)"
	if [ "$arg" = blk ]; then
		after=$(sed -n 's/.*SNAP-BLK-AFTER \([0-9a-f]*\).*/\1/p' "$rl" | head -1)
		got=$(dd if="$img" bs=1M skip=8 count=1 2>/dev/null | sha)
		[ -n "$after" ] && [ "$after" = "$got" ] || fail "restore $i: the image holds $got at 8 MiB; the guest wrote $after"
		got=$(dd if="$img" bs=1M skip=1 count=1 2>/dev/null | sha)
		[ "$got" = "$want_before" ] || fail "the image holds $got at 1 MiB; the guest wrote $want_before before its snapshot"
	fi
done

# bad SETUP WANT: a broken copy of the snapshot (SETUP edits $B) is refused: exit 1, one line naming WANT.
bad() {
	B=$OUT/bad
	rm -rf "$B"
	cp -r "$S" "$B"
	eval "$1"
	shift
	# shellcheck disable=SC2086
	"$VMM" --restore "$B" --console=none --timeout 30 $disk $BADOPT </dev/null >"$OUT/bad.out" 2>"$OUT/bad.err"
	rc=$?
	echo "bad snapshot ($1): exit $rc: $(cat "$OUT/bad.err" | tr '\r\n' '  ')"
	[ "$rc" = 1 ] || fail "a bad snapshot ($1) made vmm exit $rc, not 1: $(head -c 300 "$OUT/bad.err")"
	[ "$(wc -l <"$OUT/bad.err")" = 1 ] || fail "a bad snapshot ($1) gave $(wc -l <"$OUT/bad.err") lines, not one"
	grep -q "$1" "$OUT/bad.err" || fail "a bad snapshot: the message does not say '$1': $(cat "$OUT/bad.err")"
	BADOPT=
}
if [ "$CASE" = snapshot ]; then
	size=$(wc -c <"$S/state")
	bad 'head -c $((size - 7)) "$S/state" >"$B/state"' "truncated"
	bad 'printf "\\377" | dd of="$B/state" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null' "checksum does not match"
	bad 'printf "\\002" | dd of="$B/state" bs=1 seek=8 conv=notrunc 2>/dev/null' "format version 2"
	bad 'head -c 100 /dev/zero >"$B/state"' "not a vmm snapshot"
	bad 'rm "$B/memory"' "its memory file"
	bad 'truncate -s 128M "$B/memory"' "memory file has 134217728 bytes"
	bad 'rm "$B/state"' "its state file"
	BADOPT="--mem 128M"
	bad ':' "the restore asks for 1 and 128 MiB"
	BADOPT="--disk $OUT/bad/none.img"
	bad ':' "taken with 0 disks; the restore has 1"
fi
pass
