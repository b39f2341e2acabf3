# SPDX-License-Identifier: Apache-2.0
# User-mode networking cases (user-net, user-net-noloop), sourced by linux.sh after its helpers
# (guest_passed, printed, pass, fail, sha) with CASE VMM G OUT LOG ERR TMO BASE set. POSIX sh. The
# guest's end is tests/guest/init (t_user_net*). vmm runs with --net user as an unprivileged user
# (uid 65534 from its start, linux.sh's unprivileged) when we are root; as ourselves otherwise.
#   user-net         the guest gets 10.0.2.15 by DHCP and a 65520-byte MTU (VIRTIO_NET_F_MTU);
#                    downloads 4 MiB from busybox httpd on the host's 127.0.0.1 through the gateway
#                    10.0.2.2 and sends them back to a busybox nc listener on the host (both
#                    checksums compared: frames of 32 KiB segments each way); asks slirp's
#                    resolver 10.0.2.3 for vmmtest.internal (in the test host, resolv.conf points at
#                    dns-peer on 127.0.0.1, which answers 10.9.8.7; elsewhere any answer from
#                    10.0.2.3 counts); then the host connects to 127.0.0.1:HP, forwarded to the guest's
#                    port 8080, and reads the token the guest printed; vmm exits 0
#   user-net-noloop  host-loopback=off: the guest's download from 10.0.2.2 fails; vmm exits 0
#   user-net-snapshot  the guest (DHCP, a download) asks for a snapshot; the VM restored from it
#                    with a new --net user downloads the file again with its checksum (slirp's own
#                    state is not in a snapshot: the guest's lease and route still hold)
BB=/bin/busybox
[ -x "$BB" ] || fail "the user-net cases need $BB (Debian: busybox-static)"
in_host=
[ -e /tests/linux.sh ] && in_host=1
[ "$(id -u)" = 0 ] && $BB ip link set lo up 2>/dev/null
PORT=$((20000 + $$ % 20000))
HP=$((PORT + 1))
UP=$((PORT + 2))
W=$OUT/www
rm -rf "$W"
mkdir -p "$W"
dd if=/dev/urandom of="$W/big.bin" bs=1M count=4 2>/dev/null
$BB httpd -f -p "127.0.0.1:$PORT" -h "$W" &
HTTPD=$!
DNSPID= UPPID=
stop_bg() { kill $HTTPD $DNSPID $UPPID 2>/dev/null; }
trap stop_bg EXIT
DNS_NAME=
if [ -n "$in_host" ]; then
	DP=$(dirname "$VMM")/dns-peer
	[ -x "$DP" ] || fail "no $DP (VMM_EXTRA_PROGRAMS)"
	"$DP" 127.0.0.1 53 vmmtest.internal 10.9.8.7 >"$OUT/dns.log" 2>&1 &
	DNSPID=$!
	echo "nameserver 127.0.0.1" >/etc/resolv.conf
	DNS_NAME=vmmtest.internal
fi
unprivileged # AS: run as uid 65534 (linux.sh)
if [ "$CASE" = user-net-snapshot ]; then
	S=$OUT/snap
	rm -rf "$S"
	mkdir -p "$S" && chmod 0777 "$S"
	echo "+ ${AS:+(as uid 65534) }vmm --net user --snapshot-dir $S"
	$AS "$VMM" --console="file:$LOG" --timeout "$TMO" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" --mem 256M \
		--net user --snapshot-dir "$S" \
		--cmdline "$BASE vmmtest=snapshot vmmtest.arg=user vmmtest.port1=$PORT vmmtest.virtio=1 vmmtest.timeout=200" \
		</dev/null 2>"$ERR"
	rc=$?
	echo "vmm exited with $rc"
	[ "$rc" = 0 ] || fail "vmm exited with $rc, expected 0 ($(head -c 300 "$ERR" | tr '\r\n' '  '))"
	grep -q "snapshot saved in '$S'" "$ERR" || fail "no snapshot: $(grep -a 'VMMTEST-RESULT\|USERNET' "$LOG" | tr -d '\r' | tr '\n' ' ')"
	rl=$OUT/restore.log
	: >"$rl"
	chmod 0666 "$rl"
	echo "+ ${AS:+(as uid 65534) }vmm --restore $S --net user"
	echo "true" | $AS "$VMM" --restore "$S" --console="file:$rl" --timeout "$TMO" --net user 2>"$OUT/restore.err"
	rc=$?
	grep -a "SNAP-\|USERNET-\|VMMTEST-RESULT" "$rl" | tr -d '\r'
	[ "$rc" = 0 ] || fail "the restored vmm exited with $rc ($(head -c 300 "$OUT/restore.err" | tr '\r\n' '  '))"
	grep -q "VMMTEST-RESULT snapshot PASS" "$rl" || fail "restored guest: $(grep -a VMMTEST-RESULT "$rl" | tr -d '\r')"
	got=$(sed -n 's/.*SNAP-USERNET-AFTER \([0-9a-f]*\).*/\1/p' "$rl" | head -1)
	[ "$got" = "$(sha "$W/big.bin")" ] || fail "after the restore the guest downloaded sha256 '$got'"
	pass
fi
# The guest and the host's forward differ per case; the rest is the same.
if [ "$CASE" = user-net-noloop ]; then
	NETOPT="user,host-loopback=off"
	GT="user-net-noloop vmmtest.port1=$PORT"
else
	NETOPT="user,hostfwd=tcp:127.0.0.1:$HP-:8080"
	GT="user-net vmmtest.port1=$PORT vmmtest.port2=$UP vmmtest.arg=${DNS_NAME:-localhost}"
	# The guest's upload: busybox nc listens on every address (it has no -s) and exits at the guest's
	# EOF. Its stdin is a FIFO we hold open: at an EOF there it would half-close towards the guest,
	# whose nc would then stop sending.
	rm -f "$OUT/up.in"
	mkfifo "$OUT/up.in"
	timeout "$TMO" $BB nc -l -p "$UP" <"$OUT/up.in" >"$OUT/up.bin" &
	UPPID=$!
	exec 9>"$OUT/up.in"
fi
echo "+ ${AS:+(as uid 65534) }vmm --net $NETOPT"
$AS "$VMM" --console="file:$LOG" --timeout "$TMO" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" --mem 256M \
	--net "$NETOPT" --cmdline "$BASE vmmtest=$GT vmmtest.virtio=1 vmmtest.timeout=100" </dev/null 2>"$ERR" &
pid=$!
sleep 0.5
uid=$(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$pid/status 2>/dev/null)
echo "vmm runs as uid ${uid:-?}"
if [ -n "$AS" ] && [ -n "$uid" ] && [ "$uid" != 65534 ]; then kill $pid; fail "vmm runs as uid $uid, not 65534"; fi
if [ "$CASE" = user-net ]; then
	i=0
	until grep -q "USERNET-LISTENING" "$LOG" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || break
		[ $i -ge $((TMO * 10)) ] && { kill "$pid"; fail "the guest did not get to its listener"; }
		sleep 0.1
		i=$((i + 1))
	done
	got=
	if grep -q "USERNET-LISTENING" "$LOG"; then
		for _ in 1 2 3 4 5; do
			got=$(timeout 20 $BB nc -w 3 127.0.0.1 "$HP" </dev/null | tr -d '\r')
			[ -n "$got" ] && break
			sleep 1
		done
	fi
fi
wait "$pid"
rc=$?
echo "vmm exited with $rc"
grep -a "USERNET-\|dns: \|VMMTEST-RESULT" "$LOG" | tr -d '\r'
[ -n "$DNSPID" ] && cat "$OUT/dns.log"
[ "$rc" = 0 ] || fail "vmm exited with $rc, expected 0 ($(head -c 300 "$ERR" | tr '\r\n' '  '))"
guest_passed "$CASE"
grep -q "USERNET-DHCP 10.0.2.15 10.0.2.2 10.0.2.3" "$LOG" ||
	fail "the guest's lease is not 10.0.2.15 via 10.0.2.2, DNS 10.0.2.3: $(grep -a USERNET-DHCP "$LOG" | tr -d '\r')"
[ "$CASE" = user-net-noloop ] && pass
[ "$(printed USERNET-MTU)" = 65520 ] || fail "the guest's eth0 has MTU '$(printed USERNET-MTU)', vmm advises 65520"
want=$(sha "$W/big.bin")
[ "$(printed USERNET-SHA)" = "$want" ] || fail "the guest downloaded sha256 '$(printed USERNET-SHA)', the host served $want"
wait "$UPPID"
UPPID=
exec 9>&-
[ "$(sha "$OUT/up.bin")" = "$want" ] ||
	fail "the host's listener got $(wc -c <"$OUT/up.bin") bytes back from the guest (sha256 $(sha "$OUT/up.bin")), not the 4 MiB it sent"
token=$(sed -n 's/.*USERNET-TOKEN \(guest-[0-9a-f]*\).*/\1/p' "$LOG" | head -1)
[ -n "$token" ] && [ "$got" = "$token" ] || fail "through the forward the host read '$got', the guest sent '$token'"
dns=$(sed -n 's/.*USERNET-DNS \([0-9.]*\).*/\1/p' "$LOG" | head -1)
if [ -n "$in_host" ]; then
	[ "$dns" = 10.9.8.7 ] || fail "slirp's resolver answered '$dns' for vmmtest.internal, dns-peer says 10.9.8.7"
else
	grep -q "dns: .*10.0.2.3" "$LOG" || fail "no answer from slirp's resolver 10.0.2.3"
fi
pass
