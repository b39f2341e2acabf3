# SPDX-License-Identifier: Apache-2.0
# The virtio-vsock case (vsock), sourced by linux.sh after its helpers (guest_passed, printed, pass,
# fail, sha) with CASE VMM G OUT LOG ERR TMO BASE set. POSIX sh. The guest's end is tests/guest/init
# (t_vsock); both ends use vmm-vsock (tests/guest/vsock.c), found next to vmm (VMM_EXTRA_PROGRAMS).
#
# vmm runs with --vsock cid=3,uds=D/v.sock, as user 65534 from its start when we are root (linux.sh's
# unprivileged: no privilege is needed to serve vsock). Checked:
#   host -> guest: CONNECT 5000 on D/v.sock, "OK <port>", 1 MiB echoed back by the guest byte for byte
#   guest -> host: 64 MiB to CID 2 port 5001, i.e. the unix socket D/v.sock_5001, with the checksum the
#                  guest printed (many credit updates on the way)
#   100 connections opened and closed: vmm holds no more open files than before
#   refused both ways: the guest's connect to port 5002 (nothing at D/v.sock_5002) fails; our CONNECT
#                  to guest port 5999 (no listener) is closed without "OK"
#
# vsock-snapshot: the guest holds a connection to the host's port 5003 and asks for a snapshot; in the
# VM restored from it (the listener PATH made again) that connection has been reset (TRANSPORT_RESET
# on the event queue: the host sockets are not in the snapshot) and a CONNECT echoes again.
VV=$(dirname "$VMM")/vmm-vsock
[ -x "$VV" ] || fail "no $VV (run-batch.sh puts the VMM_EXTRA_PROGRAMS next to vmm)"
D=$OUT/vs
rm -rf "$D"
mkdir -p "$D"
chmod 777 "$D"
uds=$D/v.sock

if [ "$CASE" = vsock-snapshot ]; then
	S=$OUT/snap
	rm -rf "$S"
	"$VV" uds-listen "${uds}_5003" >/dev/null 2>"$D/held.err" &
	lpid=$!
	boot 0 --mem 256M --vsock "cid=3,uds=$uds" --snapshot-dir "$S" \
		--cmdline "$BASE vmmtest=vsock-snapshot vmmtest.virtio=1 vmmtest.timeout=300"
	kill "$lpid" 2>/dev/null
	wait "$lpid"
	grep -q "VSOCK-SNAP-REQUEST" "$LOG" || fail "the guest did not ask for its snapshot: $(grep VMMTEST-RESULT "$LOG" | tr -d '\r')"
	grep -q "snapshot saved in '$S'" "$ERR" || fail "vmm did not save the snapshot: $(head -c 300 "$ERR" | tr '\r\n' '  ')"
	rl=$OUT/restore.log
	: >"$rl"
	echo "+ vmm --restore $S --vsock cid=3,uds=$uds"
	echo go | "$VMM" --restore "$S" --console="file:$rl" --timeout "$TMO" --vsock "cid=3,uds=$uds" \
		2>"$OUT/restore.err" &
	pid=$!
	i=0
	until grep -q "VSOCK-RESTORED" "$rl" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || fail "the restored vmm ended early: $(head -c 300 "$OUT/restore.err" | tr '\r\n' '  ')"
		[ $i -ge 1200 ] && { kill "$pid"; fail "the restored guest did not go on"; }
		sleep 0.1
		i=$((i + 1))
	done
	echo "after restore" | "$VV" uds-connect "$uds" 5000 >"$D/echo.out" 2>"$D/echo.err" ||
		{ kill "$pid"; fail "CONNECT after the restore failed: $(tr '\n' ' ' <"$D/echo.err")"; }
	[ "$(cat "$D/echo.out")" = "after restore" ] || { kill "$pid"; fail "the echo after restore was '$(cat "$D/echo.out")'"; }
	wait "$pid"
	rc=$?
	grep -a "VSOCK-\|ECHO-DONE\|VMMTEST-RESULT" "$rl" | tr -d '\r'
	[ "$rc" = 0 ] || fail "the restored vmm exited with $rc ($(head -c 300 "$OUT/restore.err" | tr '\r\n' '  '))"
	grep -q "VMMTEST-RESULT vsock-snapshot PASS" "$rl" || fail "restored guest: $(grep -a VMMTEST-RESULT "$rl" | tr -d '\r')"
	pass
fi
"$VV" uds-listen "${uds}_5001" >"$D/g2h.bin" 2>"$D/g2h.err" &
lpid=$!
unprivileged # AS: run as uid 65534 (linux.sh)
echo "+ ${AS:+(as uid 65534) }vmm --vsock cid=3,uds=$uds"
$AS "$VMM" --console="file:$LOG" --timeout 400 --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" --mem 512M \
	--vsock "cid=3,uds=$uds" --cmdline "$BASE vmmtest=vsock vmmtest.virtio=1 vmmtest.echoes=102 vmmtest.timeout=380" \
	</dev/null 2>"$ERR" &
pid=$!
stop_all() { kill "$pid" "$lpid" 2>/dev/null; }
i=0
until grep -q "VSOCK-LISTENING" "$LOG" 2>/dev/null; do
	kill -0 "$pid" 2>/dev/null || { stop_all; fail "vmm ended before the guest listened: $(head -c 300 "$ERR" | tr '\r\n' '  ')"; }
	[ $i -ge 3000 ] && { stop_all; fail "the guest did not start its vsock listener"; }
	[ $((i % 100)) = 0 ] && echo "waiting for the guest's listener ($((i / 10)) s)"
	sleep 0.1
	i=$((i + 1))
done
head -c 1048576 /dev/urandom >"$D/echo.in"
echo "+ vmm-vsock uds-connect $uds 5000 (1 MiB echo)"
"$VV" uds-connect "$uds" 5000 <"$D/echo.in" >"$D/echo.out" 2>"$D/echo.err" ||
	{ stop_all; fail "host -> guest connection failed: $(tr '\n' ' ' <"$D/echo.err")"; }
cat "$D/echo.err"
cmp -s "$D/echo.in" "$D/echo.out" ||
	{ stop_all; fail "the echo came back different ($(wc -c <"$D/echo.out") bytes of 1048576)"; }
echo "+ vmm-vsock uds-connect $uds 5999 (nobody listens)"
if "$VV" uds-connect "$uds" 5999 </dev/null >/dev/null 2>"$D/refused.err"; then
	stop_all
	fail "a CONNECT to guest port 5999, where nothing listens, was accepted"
fi
cat "$D/refused.err"
# 100 more connections, each echoing a line and closed: vmm's open files are as before. Counted once the
# guest's own connections (64 MiB to port 5001, the refused one) are over.
i=0
until grep -q "VSOCK-REFUSED" "$LOG" 2>/dev/null; do
	kill -0 "$pid" 2>/dev/null || { stop_all; fail "vmm ended early: $(grep VMMTEST-RESULT "$LOG" | tr -d '\r')"; }
	[ $i -ge 3000 ] && { stop_all; fail "the guest did not finish sending to port 5001"; }
	[ $((i % 100)) = 0 ] && echo "waiting for the guest's 64 MiB ($((i / 10)) s; $(wc -c <"$D/g2h.bin") bytes so far)"
	sleep 0.1
	i=$((i + 1))
done
sleep 1
fds0=$(ls /proc/$pid/fd | wc -l)
n=0
while [ $n -lt 100 ]; do
	echo "line $n" | "$VV" uds-connect "$uds" 5000 >"$D/one.out" 2>/dev/null || { stop_all; fail "connection $n of 100 failed"; }
	[ "$(cat "$D/one.out")" = "line $n" ] || { stop_all; fail "connection $n of 100 echoed '$(cat "$D/one.out")'"; }
	n=$((n + 1))
done
sleep 1
# The guest waits for one more echo (vmmtest.echoes=102: the 1 MiB, these 100, the last below), so vmm
# is still running to be counted: a count of a vmm that has exited would prove nothing.
fds1=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
echo "vmm's open files: $fds0 before 100 connections, $fds1 after"
kill -0 "$pid" 2>/dev/null && [ "$fds1" -gt 0 ] || { stop_all; fail "vmm was gone before its open files could be counted again"; }
[ "$fds1" -le "$fds0" ] || { stop_all; fail "vmm holds $((fds1 - fds0)) more files after 100 closed connections"; }
echo "last" | "$VV" uds-connect "$uds" 5000 >"$D/one.out" 2>/dev/null || { stop_all; fail "the last connection failed"; }
[ "$(cat "$D/one.out")" = "last" ] || { stop_all; fail "the last connection echoed '$(cat "$D/one.out")'"; }
i=0
while kill -0 "$pid" 2>/dev/null; do
	[ $((i % 100)) = 0 ] && echo "waiting for the guest ($((i / 10)) s; $(wc -c <"$D/g2h.bin") bytes from it so far)"
	sleep 0.1
	i=$((i + 1))
done
wait "$pid"
rc=$?
kill "$lpid" 2>/dev/null
wait "$lpid"
echo "vmm exited with $rc"
[ "$rc" = 0 ] || fail "vmm exited with $rc ($(head -c 300 "$ERR" | tr '\r\n' '  '))"
grep "VSOCK-\|ECHO-DONE" "$LOG" | tr -d '\r'
guest_passed vsock
want=$(printed VSOCK-G2H-SHA)
got=$(sha "$D/g2h.bin")
[ -n "$want" ] && [ "$want" = "$got" ] ||
	fail "guest -> host: $(wc -c <"$D/g2h.bin") bytes with sha256 $got arrived; the guest sent $want"
grep -q "ECHO-DONE 1048576" "$LOG" || fail "the guest's echo server did not count 1048576 bytes"
rm -f "$D/g2h.bin" "$D/echo.in" "$D/echo.out"
pass
