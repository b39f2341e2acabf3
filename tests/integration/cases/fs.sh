# SPDX-License-Identifier: Apache-2.0
# virtio-fs cases (fs, fs-kill), sourced by linux.sh after its helpers (boot, guest_passed, printed,
# pass, fail, sha) with CASE VMM G OUT LOG ERR TMO BASE set. POSIX sh. The guest's end is
# tests/guest/init (t_fs). The backend is QEMU's C virtiofsd (Debian's qemu-system-common), found
# next to vmm (build-host.sh ships it into the test host's /vmm/) or at /usr/lib/qemu/virtiofsd;
# it runs as root, chrooted into the shared folder (-o sandbox=chroot: an initramfs root cannot
# be pivot_root'ed away from).
#   fs        files of known checksums, 1000 entries in a folder; the guest checks them, writes a file,
#             renames and deletes one; the host then sees exactly that; after the guest's power-off
#             virtiofsd has exited 0 (vmm hung up)
#   fs-kill   virtiofsd is killed while the guest reads: vmm logs the death in one line, and
#             nothing else, and stays up, answers the guest's requests
#             with EIO, so the guest's read fails with an I/O error (FS-READ-ERROR) and its sync
#             returns; the guest powers off, vmm exits 0
#   fs-mq     2 vCPUs and 2 request queues, the fs case's checks: the C virtiofsd serves one request
#             queue, so tests/host/vhost-user-mq-proxy sits between: queues 0 and 1 go through to
#             the daemon, the proxy holds queue 2 (set up and started by vmm and the guest) and fails
#             if a request ever lands there. Linux 6.1's virtiofs sets up every request queue but
#             sends all requests on the first (it picks queues by CPU only from 6.11 on).
#   fs-bad    bad input: no socket there, a plain file, a tag of 37 bytes, more request queues than
#             the C virtiofsd serves: exit 1 with one line each, no guest started

VFSD=$(dirname "$VMM")/virtiofsd
[ -x "$VFSD" ] || VFSD=/usr/lib/qemu/virtiofsd
[ -x "$VFSD" ] || fail "no virtiofsd next to vmm or at /usr/lib/qemu/virtiofsd (Debian: qemu-system-common)"
D=$OUT/share
SOCK=/tmp/vmm-fs-$$.sock
rm -rf "$D" "$SOCK"
mkdir -p "$D/many" "$D/sub"
dd if=/dev/urandom of="$D/a.bin" bs=1M count=8 2>/dev/null
dd if=/dev/urandom of="$D/sub/b.bin" bs=4k count=3 2>/dev/null
echo "hello from the host" >"$D/hello.txt"
: >"$D/empty"
(cd "$D" && sha256sum a.bin sub/b.bin hello.txt empty >SUMS)
i=0
while [ $i -lt 1000 ]; do : >"$D/many/entry-$i"; i=$((i + 1)); done
echo "rename me" >"$D/rename-me"
echo "delete me" >"$D/delete-me"

# start_vfsd: virtiofsd on $D at $SOCK, in the background (vpid); waits for its socket.
start_vfsd() {
	"$VFSD" --socket-path="$SOCK" -o source="$D" -o sandbox=chroot -o cache=auto >"$OUT/virtiofsd.log" 2>&1 &
	vpid=$!
	i=0
	until [ -S "$SOCK" ]; do
		i=$((i + 1))
		[ $i -le 100 ] && kill -0 $vpid 2>/dev/null ||
			fail "virtiofsd did not listen on $SOCK ($(tail -c 300 "$OUT/virtiofsd.log" | tr '\r\n' '  '))"
		sleep 0.1
	done
}
# vfsd_status: wait (at most 10 s, then it is killed: 143) for virtiofsd to end; sets st to its exit
# status. (Not in a $(...) subshell: only this shell can wait for its child; kill -0 would see a zombie.)
vfsd_status() {
	(sleep 10; kill $vpid 2>/dev/null) &
	killer=$!
	wait $vpid
	st=$?
	kill $killer 2>/dev/null
}

# fs_host_checks: after the fs guest test, the host sees what the guest did, and vmm said nothing.
fs_host_checks() {
	want=$(printed FS-NEW-SHA)
	[ -n "$want" ] && [ "$(sha "$D/new.bin")" = "$want" ] || fail "new.bin on the host: $(sha "$D/new.bin" 2>&1), guest wrote $want"
	[ -f "$D/renamed" ] && [ ! -e "$D/rename-me" ] || fail "rename-me was not renamed to renamed on the host"
	[ ! -e "$D/delete-me" ] || fail "delete-me is still on the host"
	[ "$(cat "$D/renamed")" = "rename me" ] || fail "renamed holds '$(cat "$D/renamed")'"
	[ "$(ls "$D/many" | wc -l)" = 1000 ] || fail "many/ changed on the host"
	! grep -q "vhost-user" "$ERR" || fail "vmm complained: $(grep vhost-user "$ERR" | head -2 | tr '\n' ' ')"
}

case $CASE in
fs)
	start_vfsd
	boot 0 --mem 512M --fs "tag=share,socket=$SOCK" --cmdline "$BASE vmmtest=fs vmmtest.virtio=1"
	guest_passed fs
	vfsd_status
	rm -f "$SOCK"
	[ "$st" = 0 ] || fail "virtiofsd: $st after the guest powered off ($(tail -c 300 "$OUT/virtiofsd.log" | tr '\r\n' '  '))"
	fs_host_checks
	pass ;;
fs-mq)
	PROXY=$(dirname "$VMM")/vhost-user-mq-proxy
	[ -x "$PROXY" ] || fail "no vhost-user-mq-proxy next to vmm"
	start_vfsd
	"$PROXY" --listen "$SOCK.mq" --backend "$SOCK" --pass 2 --queues 3 >"$OUT/proxy.out" 2>"$OUT/proxy.err" &
	ppid=$!
	i=0
	until [ -S "$SOCK.mq" ]; do
		i=$((i + 1))
		[ $i -le 100 ] && kill -0 $ppid 2>/dev/null || fail "the proxy did not listen ($(tr '\n' ' ' <"$OUT/proxy.err"))"
		sleep 0.1
	done
	boot 0 --mem 512M --cpus 2 --fs "tag=share,socket=$SOCK.mq,queues=2" --cmdline "$BASE vmmtest=fs vmmtest.virtio=1"
	guest_passed fs
	wait $ppid
	pst=$?
	echo "proxy: exit $pst; $(tr '\n' ' ' <"$OUT/proxy.err") $(tr '\n' ' ' <"$OUT/proxy.out")"
	vfsd_status
	rm -f "$SOCK" "$SOCK.mq"
	[ "$pst" = 0 ] || fail "the proxy exited with $pst: $(tr '\n' ' ' <"$OUT/proxy.err")"
	grep -q "^queue 2: started" "$OUT/proxy.err" || fail "the second request queue (2) was never started"
	[ "$st" = 0 ] || fail "virtiofsd: $st after the guest powered off ($(tail -c 300 "$OUT/virtiofsd.log" | tr '\r\n' '  '))"
	n=$(printed FS-REQUEST-QUEUES)
	[ "$n" = 2 ] || fail "the guest has $n request-queue interrupts, expected 2"
	fs_host_checks
	pass ;;
fs-kill)
	start_vfsd
	: >"$LOG"
	echo "+ vmm --fs tag=share,socket=$SOCK (virtiofsd killed once the guest reads)"
	"$VMM" --console="file:$LOG" --timeout "$TMO" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" --mem 512M \
		--fs "tag=share,socket=$SOCK" --cmdline "$BASE vmmtest=fs-read vmmtest.virtio=1" </dev/null 2>"$ERR" &
	pid=$!
	i=0
	while ! grep -q "FS-READING" "$LOG" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le $((TMO * 10)) ] && kill -0 $pid 2>/dev/null || fail "the guest did not start reading ($(head -c 300 "$ERR"))"
		sleep 0.1
	done
	kill -9 $vpid
	wait $pid
	rc=$?
	rm -f "$SOCK"
	echo "vmm exited with $rc: $(tr '\r\n' '  ' <"$ERR" | head -c 300)"
	[ "$rc" = 0 ] || fail "vmm exited with $rc after virtiofsd was killed, expected 0"
	n=$(grep -c "virtio-fs 'share': vhost-user backend closed the connection" "$ERR")
	[ "$n" = 1 ] || fail "vmm logged the backend's death $n times, expected once"
	n=$(grep -c "vhost-user" "$ERR")
	[ "$n" = 1 ] || fail "vmm logged $n lines about the vhost-user backend, expected 1"
	others=$(grep -v -e "vhost-user backend closed the connection" "$ERR")
	[ -z "$others" ] || fail "vmm logged more: $(echo "$others" | head -3 | tr '\n' ' ')"
	err=$(grep "FS-READ-ERROR" "$LOG" | head -1 | tr -d '\r')
	echo "guest: ${err:-no FS-READ-ERROR line}"
	case $err in
	*"I/O error"* | *"Input/output error"*) ;;
	*) fail "the guest's read did not fail with an I/O error: ${err:-no FS-READ-ERROR line}" ;;
	esac
	guest_passed fs-read
	pass ;;
fs-bad)
	# bad ARGS...: vmm must exit 1 with exactly one line on stderr, naming what is wrong.
	bad() {
		echo "+ vmm $*"
		run_vmm --mem 256M --cmdline "$BASE vmmtest=boot" "$@"
		echo "vmm exited with $rc: $(cat "$ERR")"
		[ "$rc" = 1 ] || fail "vmm $* exited with $rc, expected 1"
		[ "$(wc -l <"$ERR")" = 1 ] || fail "vmm $* printed $(wc -l <"$ERR") lines: $(tr '\n' ' ' <"$ERR")"
	}
	bad --fs "tag=share,socket=$OUT/no-such.sock"
	grep -q "shared folder 'share': no vhost-user socket at '$OUT/no-such.sock': No such file" "$ERR" ||
		fail "no socket: $(cat "$ERR")"
	: >"$OUT/plain"
	bad --fs "tag=share,socket=$OUT/plain"
	grep -q "shared folder 'share': no vhost-user socket at '$OUT/plain': Socket operation on non-socket" "$ERR" ||
		fail "plain file: $(cat "$ERR")"
	bad --fs "tag=0123456789012345678901234567890123456,socket=$OUT/plain"
	grep -q "longer than 36 bytes" "$ERR" || fail "long tag: $(cat "$ERR")"
	start_vfsd
	bad --fs "tag=share,socket=$SOCK,queues=2"
	grep -q "virtio-fs 'share': vhost-user backend serves at most 2 queues, and the device needs 3" "$ERR" ||
		fail "queues=2: $(cat "$ERR")"
	vfsd_status
	rm -f "$SOCK"
	[ "$st" = 0 ] || fail "virtiofsd: $st after vmm refused it"
	pass ;;
esac
fail "unknown fs case $CASE"
