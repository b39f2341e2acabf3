# SPDX-License-Identifier: Apache-2.0
# virtio-net cases (net-*), sourced by linux.sh after its helpers (boot, guest_passed, printed, pass,
# fail, sha) with CASE VMM G OUT LOG ERR TMO BASE set. POSIX sh: busybox ash in the nested test host,
# any sh directly on a VMX/SVM host. The guest's end is tests/guest/init (t_net_*).
#
# Each case runs vmm in the background with --net tap=vmt0 (vmm creates the tap: it has CAP_NET_ADMIN
# here); this script gives the host end 10.0.2.2/24 (vmt1: 10.0.3.2/24) and brings it up, the guest
# takes 10.0.2.15/24 (10.0.3.15/24). Traffic stays between the two: in the nested test host (a VM of
# our own) or, directly on a VMX/SVM host, in a network namespace this script makes for the case.

# Directly on a host: run the case again in a fresh network namespace (only its loopback and our taps)
# and mount namespace.
if [ ! -e /tests/linux.sh ] && [ -z "${VMM_NET_NETNS:-}" ]; then
	us=
	for u in /usr/bin/unshare /bin/unshare; do [ -x "$u" ] && us=$u && break; done
	[ -n "$us" ] || fail "the net cases need util-linux unshare for a network namespace"
	"$us" --net --mount true 2>/dev/null || fail "cannot create a network namespace (unshare --net --mount; root needed)"
	export VMM_NET_NETNS=1
	exec "$us" --net --mount sh "$0" "$CASE" "$VMM" "$G" "$OUT"
fi
# In our namespace /sys still shows the old one's interfaces until sysfs is mounted again (in our
# own mount namespace: unshare makes it private).
if [ -n "${VMM_NET_NETNS:-}" ]; then mount -t sysfs sysfs /sys || fail "cannot mount sysfs in the case's namespaces"; fi

BB=/bin/busybox # its nc and ping behave the same everywhere (the guest runs them too)
[ -x "$BB" ] || fail "the net cases need $BB (Debian: busybox-static)"
if command -v ip >/dev/null 2>&1; then IP=ip; else IP="$BB ip"; fi
[ -c /dev/net/tun ] || fail "no /dev/net/tun (is the tun module loaded?)"
$IP link set lo up 2>/dev/null
# A transfer case needs two 16 MiB transfers on a slow nested host: give vmm and the guest more time.
NTMO=$TMO
[ "$NTMO" -ge 240 ] || NTMO=240
VPID= BGPIDS=

# stop: end what this case started in the background (by pid).
stop() {
	for p in $BGPIDS $VPID; do kill "$p" 2>/dev/null; done
	for p in $BGPIDS $VPID; do wait "$p" 2>/dev/null; done
	BGPIDS= VPID=
}
nfail() {
	echo "--- host network"
	$IP addr 2>&1
	cat /proc/net/dev
	stop
	fail "$*"
}
# start_vmm ARGS...: the guest in the background (pid VPID).
start_vmm() {
	echo "+ ${AS:+(as uid 65534) }vmm $* &"
	${AS:-} "$VMM" --console="file:$LOG" --timeout "$NTMO" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" "$@" \
		</dev/null 2>"$ERR" &
	VPID=$!
}
vmm_died() {
	wait "$VPID"
	rc=$?
	VPID=
	line=$(grep -a "VMMTEST-RESULT" "$LOG" | head -1 | tr -d '\r')
	nfail "vmm exited with $rc before $1; guest: ${line:-no VMMTEST-RESULT line}; vmm: $(head -c 300 "$ERR" | tr '\r\n' '  ')"
}
# host_end TAP ADDR/LEN: wait for vmm to create TAP, then give it ADDR and bring it up.
host_end() {
	i=0
	while [ ! -e "/sys/class/net/$1" ]; do
		kill -0 "$VPID" 2>/dev/null || vmm_died "tap $1 appeared"
		i=$((i + 1))
		[ $i -le 300 ] || nfail "vmm did not create tap $1 within 30 s"
		sleep 0.1
	done
	$IP addr add "$2" dev "$1" && $IP link set "$1" up || nfail "cannot configure tap $1 with $2"
	echo "host: $1 up with $2 ($(cat "/sys/class/net/$1/address"))"
}
# wait_line WORD SECS: wait until the guest printed WORD.
wait_line() {
	i=0
	while ! grep -q "$1" "$LOG" 2>/dev/null; do
		kill -0 "$VPID" 2>/dev/null || vmm_died "the guest printed $1"
		i=$((i + 1))
		[ $i -le $(($2 * 5)) ] || nfail "the guest did not print $1 within $2 s"
		sleep 0.2
	done
}
# end_vmm: vmm must exit with 0, and its taps (it created them) must be gone with it.
end_vmm() {
	wait "$VPID"
	rc=$?
	VPID=
	echo "vmm exited with $rc"
	[ "$rc" = 0 ] || nfail "vmm exited with $rc, expected 0 ($(head -c 300 "$ERR" | tr '\r\n' '  '))"
	for t in "$@"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do [ -e "/sys/class/net/$t" ] || break; sleep 0.2; done
		[ ! -e "/sys/class/net/$t" ] || nfail "tap $t is still there after vmm exited (vmm created it)"
	done
}
# listen PORT FILE: the host's nc listener in the background, its stdin held open (a fifo on fd 4)
# so that busybox nc does not shut down its side of the connection before the data arrives.
listen() {
	rm -f "$OUT/hold"
	mkfifo "$OUT/hold" || fail "mkfifo failed"
	timeout 200 $BB nc -l -p "$1" >"$2" <"$OUT/hold" &
	NCPID=$!
	BGPIDS="$BGPIDS $NCPID"
	exec 4>"$OUT/hold"
}
# received FILE TAG: FILE (from nc) has what the guest sent: NET-SHA-TAG on its console.
received() {
	want=$(printed "NET-SHA-$2")
	got=$(sha "$1")
	echo "host: $2: $(wc -c <"$1") bytes, sha256 $got; the guest sent $want"
	[ -n "$want" ] && [ "$want" = "$got" ] || fail "$2: the host received $(wc -c <"$1") bytes with sha256 $got, the guest sent $want"
}
# reap_nc: the listener normally ended with the transfer; if the transfer broke off it waits for a
# peer that is gone: give it a few seconds, then stop it.
reap_nc() {
	for _ in $(seq 25); do kill -0 "$NCPID" 2>/dev/null || break; sleep 0.2; done
	kill "$NCPID" 2>/dev/null
	wait "$NCPID"
	echo "host: nc listening exited with $?"
	exec 4>&-
	BGPIDS=
}
# send_h2g PORT: once the guest listens on PORT, send it $OUT/h2g.
send_h2g() {
	wait_line "NET-LISTENING $1" 150
	echo "host: sending 16 MiB to 10.0.2.15:$1"
	timeout 120 $BB nc -w 10 10.0.2.15 "$1" <"$OUT/h2g"
	echo "host: nc sending exited with $?"
}
# sent_h2g: the guest got $OUT/h2g (its NET-SHA-H2G).
sent_h2g() {
	want=$(sha "$OUT/h2g")
	got=$(printed NET-SHA-H2G)
	echo "host: H2G: sent sha256 $want; the guest received $got"
	[ -n "$got" ] && [ "$want" = "$got" ] || fail "H2G: the guest received sha256 '$got', the host sent $want"
}
# tcp_over_tap VMM-ARGS...: the guest (vmm VMM-ARGS with a NIC on tap vmt0, NETOPT appended to its
# --net) sends 16 MiB to the host's nc on port 5001 and takes 16 MiB on its port 5002; both
# checksums must match. DURING: a command run once the tap is up, while vmm runs.
tcp_over_tap() {
	dd if=/dev/urandom of="$OUT/h2g" bs=1M count=16 2>/dev/null
	listen 5001 "$OUT/g2h"
	start_vmm "$@" --net "tap=vmt0${NETOPT:-}" --cmdline "$BASE $NET vmmtest=net-tcp vmmtest.timeout=200 vmmtest.port1=5001 vmmtest.port2=5002"
	host_end vmt0 10.0.2.2/24
	[ -z "${DURING:-}" ] || $DURING
	send_h2g 5002
	end_vmm vmt0
	reap_nc
	guest_passed net-tcp
	received "$OUT/g2h" G2H
	sent_h2g
	rm -f "$OUT/g2h" "$OUT/h2g" "$OUT/hold"
}
# replies PING-OUTPUT: the replies in a ping summary.
replies() { echo "$1" | sed -n 's/.*transmitted, \([0-9]*\) .*received.*/\1/p' | tail -1; }

NET="vmmtest.virtio=1"
case $CASE in
net-ping)
	mac=52:54:00:12:34:56
	start_vmm --mem 256M --net "tap=vmt0,mac=$mac" --cmdline "$BASE $NET vmmtest=net-ping"
	host_end vmt0 10.0.2.2/24
	wait_line NET-READY 90
	out=$($BB ping -c 3 -W 3 10.0.2.15 2>&1)
	echo "$out"
	n=$(replies "$out")
	neigh=$($IP neigh show 10.0.2.15 2>&1)
	echo "host: neighbour 10.0.2.15: $neigh"
	end_vmm vmt0
	guest_passed net-ping
	[ "${n:-0}" = 3 ] || fail "the host's ping of the guest: ${n:-0} of 3 replies"
	grep -q "NET-MAC eth0 $mac" "$LOG" || fail "the guest's eth0 is not $mac: $(grep NET-MAC "$LOG" | tr -d '\r')"
	case $neigh in *"$mac"*) ;; *) fail "the host sees 10.0.2.15 at '$neigh', not $mac" ;; esac
	pass ;;
net-tcp)
	tcp_over_tap --mem 512M
	pass ;;
net-vhost)
	# vhost-net: the host kernel moves the frames of both queue pairs. While the guest runs, vmm holds
	# two /dev/vhost-net fds and the kernel runs a vhost-<pid> worker for each. A snapshot on SIGUSR1
	# (--snapshot-resume) stops the kernel's rings and hands them back; then 16 MiB each way.
	[ -c /dev/vhost-net ] || fail "no /dev/vhost-net (the vhost_net module)"
	vhost_used() {
		fds=$(ls -l "/proc/$VPID/fd" 2>/dev/null | grep -c /dev/vhost-net)
		workers=$(grep -lx "vhost-$VPID" /proc/[0-9]*/comm 2>/dev/null | wc -l)
		echo "host: vmm holds $fds /dev/vhost-net fds; $workers vhost-$VPID kernel threads"
		[ "$fds" = 2 ] && [ "$workers" = 2 ] || nfail "vhost-net is not in use: $fds fds, $workers workers"
		wait_line NET-LISTENING 150
		kill -USR1 "$VPID"
		k=0
		until grep -q "snapshot saved" "$ERR"; do
			k=$((k + 1))
			[ $k -le 100 ] || nfail "no snapshot within 20 s of SIGUSR1: $(head -c 300 "$ERR" | tr '\r\n' '  ')"
			sleep 0.2
		done
		echo "host: $(cat "$ERR")"
	}
	NETOPT=,queues=2,vhost=on DURING=vhost_used tcp_over_tap --mem 512M --cpus 2 --snapshot-dir "$OUT/snap" --snapshot-resume
	rm -rf "$OUT/snap"
	[ "$(wc -l <"$ERR")" = 1 ] && grep -q "snapshot saved in '$OUT/snap' (asked by SIGUSR1)" "$ERR" ||
		fail "vmm said: $(head -c 300 "$ERR" | tr '\r\n' '  ')"
	pass ;;
net-vhost-fallback)
	# Without a usable /dev/vhost-net (here /dev/null in its place: open works, VHOST_SET_OWNER does
	# not), vhost=on warns once and the NIC runs on vmm's own path.
	[ -c /dev/vhost-net ] || fail "no /dev/vhost-net (the vhost_net module)"
	mount --bind /dev/null /dev/vhost-net || fail "cannot put /dev/null over /dev/vhost-net"
	start_vmm --mem 256M --net tap=vmt0,vhost=on --cmdline "$BASE $NET vmmtest=net-ping"
	host_end vmt0 10.0.2.2/24
	wait_line NET-READY 90
	out=$($BB ping -c 3 -W 3 10.0.2.15 2>&1)
	echo "$out"
	n=$(replies "$out")
	end_vmm vmt0
	umount /dev/vhost-net
	guest_passed net-ping
	[ "${n:-0}" = 3 ] || fail "the host's ping of the guest: ${n:-0} of 3 replies"
	echo "vmm said: $(cat "$ERR")"
	[ "$(wc -l <"$ERR")" = 1 ] && grep -q "tap 'vmt0': vhost-net is not available (/dev/vhost-net: Inappropriate ioctl for device); frames go through vmm" "$ERR" ||
		fail "expected one line about vhost-net, vmm said: $(tr '\r\n' '  ' <"$ERR")"
	pass ;;
net-tso)
	dd if=/dev/urandom of="$OUT/h2g" bs=1M count=16 2>/dev/null
	listen 5003 "$OUT/g2h"
	start_vmm --mem 512M --net tap=vmt0 --cmdline "$BASE $NET vmmtest=net-tso vmmtest.timeout=200 vmmtest.port1=5003 vmmtest.port2=5004"
	host_end vmt0 10.0.2.2/24
	send_h2g 5004
	end_vmm vmt0
	reap_nc
	f=$(printed NET-FEATURES)
	echo "host: the guest's features $f, $(grep -a NET-GSO-MAX-SIZE "$LOG" | tr -d '\r')"
	for b in 0:CSUM 7:GUEST_TSO4 11:HOST_TSO4 15:MRG_RXBUF; do
		[ "$(echo "$f" | cut -c $((${b%%:*} + 1)))" = 1 ] || fail "${b#*:} (bit ${b%%:*}) was not negotiated: features '$f'"
	done
	guest_passed net-tso
	received "$OUT/g2h" G2H
	sent_h2g
	rm -f "$OUT/g2h" "$OUT/h2g" "$OUT/hold"
	pass ;;
net-two)
	# Three I/O threads: each NIC on its own (the second's and the third's), the console on the first.
	start_vmm --mem 256M --io-threads 3 --net tap=vmt0 --net tap=vmt1 --cmdline "$BASE $NET vmmtest=net-two"
	host_end vmt0 10.0.2.2/24
	host_end vmt1 10.0.3.2/24
	names=$(cat /proc/"$VPID"/task/*/comm 2>/dev/null | sort | tr '\n' ' ')
	echo "vmm's threads: $names"
	for t in vmm-io vmm-io2 vmm-io3; do
		case " $names" in *" $t "*) ;; *) nfail "no thread $t with --io-threads 3 (threads: $names)" ;; esac
	done
	end_vmm vmt0 vmt1
	guest_passed net-two
	pass ;;
net-mq)
	start_vmm --mem 256M --cpus 2 --net tap=vmt0,queues=2 --cmdline "$BASE $NET vmmtest=net-mq"
	host_end vmt0 10.0.2.2/24
	end_vmm vmt0
	guest_passed net-mq
	pass ;;
net-tap-bounce)
	start_vmm --mem 256M --net tap=vmt0 --cmdline "$BASE $NET vmmtest=net-bounce"
	host_end vmt0 10.0.2.2/24
	wait_line NET-PINGING 90
	sleep 3
	echo "host: vmt0 down for 3 s"
	$IP link set vmt0 down || nfail "ip link set vmt0 down failed"
	sleep 3
	kill -0 "$VPID" 2>/dev/null || vmm_died "the tap came back up"
	$IP link set vmt0 up || nfail "ip link set vmt0 up failed"
	echo "host: vmt0 up again"
	end_vmm vmt0
	grep "NET-BOUNCE" "$LOG" | tr -d '\r'
	guest_passed net-bounce
	pass ;;
net-stream)
	# --net stream=PATH: vmm connects to a unix stream socket (QEMU's stream framing, as passt and
	# gvproxy speak it); net-stream-peer (next to vmm) listens there and bridges each connection to
	# tap vmt0, whose host end is 10.0.2.2 as in the tap cases. First boot: the guest pings 10.0.2.2
	# (3 of 3) and the host pings it (3 of 3); second boot (a new connection to the same peer): 16 MiB
	# each way over TCP with checksums (no offloads on this backend: the guest checksums and segments).
	# The peer (and with it vmt0) goes when the case ends, whichever way.
	PEER=$(dirname "$VMM")/net-stream-peer
	[ -x "$PEER" ] || fail "no $PEER (VMM_EXTRA_PROGRAMS)"
	sock=$OUT/net.sock mac=52:54:00:12:34:58
	rm -f "$sock"
	"$PEER" "$sock" vmt0 >"$OUT/peer.log" 2>&1 &
	PEERPID=$!
	trap 'kill "$PEERPID" 2>/dev/null; wait "$PEERPID" 2>/dev/null' EXIT
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
	[ -S "$sock" ] || nfail "net-stream-peer did not listen on $sock: $(cat "$OUT/peer.log")"
	BGPIDS="$BGPIDS $PEERPID"
	# vmm needs no privilege for a stream socket: it runs as uid 65534 (linux.sh's unprivileged).
	chmod 0777 "$sock"
	unprivileged
	$IP addr add 10.0.2.2/24 dev vmt0 && $IP link set vmt0 up || nfail "cannot configure vmt0"
	start_vmm --mem 256M --net "stream=$sock,mac=$mac" --cmdline "$BASE $NET vmmtest=net-ping"
	wait_line NET-READY 90
	out=$($BB ping -c 3 -W 3 10.0.2.15 2>&1)
	echo "$out"
	n=$(replies "$out")
	end_vmm
	guest_passed net-ping
	[ "${n:-0}" = 3 ] || nfail "the host's ping of the guest: ${n:-0} of 3 replies"
	grep -q "NET-MAC eth0 $mac" "$LOG" || nfail "the guest's eth0 is not $mac: $(grep NET-MAC "$LOG" | tr -d '\r')"
	cp "$LOG" "$OUT/console-ping.log"
	dd if=/dev/urandom of="$OUT/h2g" bs=1M count=16 2>/dev/null
	listen 5005 "$OUT/g2h"
	: >"$LOG"
	start_vmm --mem 512M --net "stream=$sock" --cmdline "$BASE $NET vmmtest=net-tcp vmmtest.timeout=200 vmmtest.port1=5005 vmmtest.port2=5006"
	send_h2g 5006
	end_vmm
	reap_nc
	BGPIDS=$PEERPID
	guest_passed net-tcp
	received "$OUT/g2h" G2H
	sent_h2g
	cat "$OUT/peer.log"
	rm -f "$OUT/g2h" "$OUT/h2g" "$OUT/hold"
	stop
	pass ;;
net-passt)
	# The same 16 MiB each way through passt (Debian's passt, next to vmm when VMM_EXTRA_PROGRAMS names
	# it): passt insists on a default route, so a tap held by net-stream-peer (vmt9) carries one; passt
	# gives the guest 10.0.2.15/24 and maps the gateway 10.0.2.2 to the test host's loopback (the guest's
	# upload reaches nc on 127.0.0.1) and forwards 127.0.0.1:5008 to the guest (the download).
	PASST=$(dirname "$VMM")/passt PEER=$(dirname "$VMM")/net-stream-peer
	[ -x "$PASST" ] || fail "no $PASST (VMM_EXTRA_PROGRAMS)"
	"$PEER" "$OUT/hold.sock" vmt9 >"$OUT/peer.log" 2>&1 &
	PEERPID=$!
	trap 'kill "$PEERPID" $PASSTPID 2>/dev/null; wait "$PEERPID" 2>/dev/null' EXIT
	for _ in $(seq 100); do [ -e /sys/class/net/vmt9 ] && break; sleep 0.1; done
	$IP addr add 10.0.9.1/24 dev vmt9 && $IP link set vmt9 up && $IP route add default via 10.0.9.2 dev vmt9 ||
		nfail "cannot give the test host a default route"
	echo "0 2147483647" >/proc/sys/net/ipv4/ping_group_range # passt answers pings with ping sockets
	# passt sandboxes itself with pivot_root, which the test host's initramfs root (rootfs) refuses, and
	# a user namespace, which a chroot refuses: it runs in a mount namespace whose root is a tmpfs moved
	# onto / (what switch_root does), with its libraries, /proc and /dev. It drops root for nobody:
	# numbers (the test host has no /etc/passwd), and a socket directory it may write.
	PR=$OUT/passt-root
	mkdir -p "$PR" && mount -t tmpfs tmpfs "$PR" || nfail "cannot mount a tmpfs for passt"
	trap 'kill "$PEERPID" $PASSTPID 2>/dev/null; wait "$PEERPID" 2>/dev/null; umount "$PR/proc" "$PR/dev" "$PR" 2>/dev/null; $IP addr del 10.0.2.2/32 dev lo 2>/dev/null' EXIT
	# passt needs only the C library and the loader, at the paths of this machine's architecture.
	case $(uname -m) in
	aarch64) libdir=/lib/aarch64-linux-gnu ld=/lib/ld-linux-aarch64.so.1 ;;
	*) libdir=/lib/x86_64-linux-gnu ld=/lib64/ld-linux-x86-64.so.2 ;;
	esac
	mkdir -p "$PR/proc" "$PR/dev" "$PR/tmp" "$PR/s" "$PR/bin" "$PR$libdir" "$PR$(dirname "$ld")"
	chmod 1777 "$PR/s"
	cp "$PASST" "$PR/bin/passt" && cp "$libdir/libc.so.6" "$PR$libdir/" &&
		cp "$ld" "$PR$ld" || nfail "cannot copy passt and its libraries"
	mount -t proc proc "$PR/proc" && mount -o bind /dev "$PR/dev" || nfail "cannot mount /proc and /dev for passt"
	sock=$PR/s/passt.sock
	# passt sends the guest's pings of its gateway out of ping sockets to 10.0.2.2 as they are (no
	# loopback mapping for ICMP): the test host answers them on lo. (Debian's passt beside vmm:
	# tests/integration/CMakeLists.txt names /usr/bin/passt in VMM_EXTRA_PROGRAMS.)
	$IP addr add 10.0.2.2/32 dev lo || nfail "cannot give lo 10.0.2.2"
	# shellcheck disable=SC2016 # expanded by the inner shell
	$BB unshare -m sh -c 'cd "$1" && mount -o move . / && exec chroot . /bin/passt -f -e --runas 65534:65534 \
		-s /s/passt.sock -a 10.0.2.15 -n 24 -g 10.0.2.2 -t 5008' sh "$PR" >"$OUT/passt.log" 2>&1 &
	PASSTPID=$!
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
	sleep 1
	echo "--- passt's start"
	grep -v "to syslog" "$OUT/passt.log"
	[ -S "$sock" ] && kill -0 "$PASSTPID" 2>/dev/null || nfail "passt is not listening on $sock"
	dd if=/dev/urandom of="$OUT/h2g" bs=1M count=16 2>/dev/null
	listen 5007 "$OUT/g2h"
	unprivileged # vmm as uid 65534, the user passt runs as too (linux.sh)
	start_vmm --mem 512M --net "stream=$sock" --cmdline "$BASE $NET vmmtest=net-tcp vmmtest.timeout=200 vmmtest.port1=5007 vmmtest.port2=5008"
	wait_line "NET-SENT G2H" 150
	grep -v "to syslog" "$OUT/passt.log" | tail -n 40
	wait_line "NET-LISTENING 5008" 150
	echo "host: sending 16 MiB to 127.0.0.1:5008 (passt forwards it to the guest)"
	timeout 120 $BB nc -w 10 127.0.0.1 5008 <"$OUT/h2g"
	echo "host: nc sending exited with $?"
	end_vmm
	reap_nc
	echo "--- passt (the end of its log)"
	grep -v "to syslog" "$OUT/passt.log" | tail -n 60
	guest_passed net-tcp
	received "$OUT/g2h" G2H
	sent_h2g
	rm -f "$OUT/g2h" "$OUT/h2g" "$OUT/hold"
	pass ;;
net-snapshot | net-vhost-snapshot)
	# net-vhost-snapshot: the same with vhost=on for the run and both restores (the kernel's rings
	# stopped for the save, their positions in the snapshot, handed to the kernel again on restore).
	VOPT=
	[ "$CASE" = net-snapshot ] || VOPT=,vhost=on
	# Boot with a NIC of a given MAC; the guest (t_snapshot, vmmtest.arg=net) reaches the host, asks
	# for a snapshot, vmm saves it and exits 0, its tap going with it. Then restore twice with
	# --net tap=vmt0 and no mac=: vmm makes the tap again and the host end comes up again (same
	# address, same MAC: the guest's neighbour entry for 10.0.2.2 stays true); once the guest runs
	# (READY-FOR-COMMAND) the host pings it (3 of 3) and its neighbour entry must show the original
	# MAC; then a command line through a fifo on vmm's stdin lets the guest go on: it pings the host
	# (3 of 3) and passes. The second command first unbinds and binds the guest's virtio-net driver:
	# the re-probe resets the restored device and reads the MAC from its configuration space again.
	# Last, restores with another number of NICs or queue pairs are refused: exit 1, one line.
	mac=52:54:00:12:34:57 hmac=02:00:0a:00:02:02
	S=$OUT/snap
	rm -rf "$S"
	start_vmm --mem 256M --net "tap=vmt0,mac=$mac$VOPT" --snapshot-dir "$S" \
		--cmdline "$BASE $NET vmmtest=snapshot vmmtest.arg=net vmmtest.timeout=900"
	host_end vmt0 10.0.2.2/24
	$IP link set vmt0 address "$hmac" || nfail "cannot give vmt0 the MAC $hmac"
	end_vmm vmt0
	grep -q "snapshot saved in '$S' (asked by the guest); the VM is stopped" "$ERR" ||
		fail "vmm did not say it saved the snapshot: $(head -c 300 "$ERR" | tr '\r\n' '  ')"
	! grep -q "VMMTEST-RESULT" "$LOG" || fail "the guest ended before its snapshot: $(grep VMMTEST-RESULT "$LOG" | tr -d '\r')"
	grep -q "net: 10.0.2.2 answers" "$LOG" || fail "the guest did not reach the host before its snapshot"
	# Run by the guest's eval; eth0 comes back from the re-probe down and without its address.
	# shellcheck disable=SC2016 # the guest expands it
	rebind='d=$(basename $(readlink /sys/class/net/eth0/device)); echo $d >/sys/bus/virtio/drivers/virtio_net/unbind; echo $d >/sys/bus/virtio/drivers/virtio_net/bind; for i in $(seq 50); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; cat /sys/class/net/eth0/address'
	LOG0=$LOG ERR0=$ERR
	for r in 1 2; do # not i: host_end and wait_line count with it
		LOG=$OUT/restore$r.log ERR=$OUT/restore$r.err fifo=$OUT/cmd$r
		: >"$LOG"
		rm -f "$fifo"
		mkfifo "$fifo" || nfail "mkfifo failed"
		if [ $r = 1 ]; then cmd='cat /sys/class/net/eth0/address'; else cmd=$rebind; fi
		echo "+ vmm --restore $S --net tap=vmt0$VOPT <$fifo &"
		"$VMM" --restore "$S" --net "tap=vmt0$VOPT" --console="file:$LOG" --timeout "$NTMO" <"$fifo" 2>"$ERR" &
		VPID=$!
		exec 3>"$fifo"
		host_end vmt0 10.0.2.2/24
		$IP link set vmt0 address "$hmac" || nfail "cannot give vmt0 the MAC $hmac"
		echo "host: vmt0 has the MAC $hmac again"
		# The snapshot may have cut the guest's READY-FOR-COMMAND line in two: the original run
		# printed its start, each restored one prints the rest. Look for it across both.
		k=0
		while ! cat "$LOG0" "$LOG" 2>/dev/null | tr -d '\r\n' | grep -q "READY-FOR-COMMAND"; do
			kill -0 "$VPID" 2>/dev/null || vmm_died "the guest printed READY-FOR-COMMAND"
			k=$((k + 1))
			[ $k -le 600 ] || nfail "the restored guest did not print READY-FOR-COMMAND within 120 s"
			sleep 0.2
		done
		out=$($BB ping -c 3 -W 3 10.0.2.15 2>&1)
		echo "$out"
		n=$(replies "$out")
		neigh=$($IP neigh show 10.0.2.15 2>&1)
		echo "host: restore $r: neighbour 10.0.2.15: $neigh"
		echo "host: restore $r: command: $cmd"
		printf '%s\n' "$cmd" >&3
		end_vmm vmt0
		exec 3>&-
		echo "--- restore $r: console"
		tr -d '\r' <"$LOG"
		echo "--- restore $r: stderr"
		cat "$ERR"
		echo "---"
		grep -q "VMMTEST-RESULT snapshot PASS" "$LOG" ||
			fail "restore $r: guest result: $(grep VMMTEST-RESULT "$LOG" | tr -d '\r') (console: $(tail -c 300 "$LOG" | tr '\r\n' '  '))"
		grep -q "SNAP-COUNT 42" "$LOG" || fail "restore $r: the guest's counter is not 42: $(grep SNAP-COUNT "$LOG" | tr -d '\r')"
		[ "${n:-0}" = 3 ] || fail "restore $r: the host's ping of the guest: ${n:-0} of 3 replies"
		case $neigh in *"$mac"*) ;; *) fail "restore $r: the host sees 10.0.2.15 at '$neigh', not $mac" ;; esac
		grep -q "SNAP-CMD-OUT $mac" "$LOG" ||
			fail "restore $r: the guest's eth0 has MAC '$(sed -n 's/.*SNAP-CMD-OUT //p' "$LOG" | tr -d '\r')', not $mac"
		[ ! -s "$ERR" ] || fail "restore $r: vmm said $(head -c 300 "$ERR" | tr '\r\n' '  ')"
	done
	LOG=$LOG0 ERR=$ERR0
	# refuse WANT ARGS...: a restore with these options: exit 1, one line saying WANT, no tap left.
	refuse() {
		want=$1
		shift
		echo "+ vmm --restore $S $*"
		"$VMM" --restore "$S" --console=none --timeout 30 "$@" </dev/null >"$OUT/refused.out" 2>"$OUT/refused.err"
		rc=$?
		echo "refused ($*): exit $rc: $(tr '\r\n' '  ' <"$OUT/refused.err")"
		[ "$rc" = 1 ] || fail "a restore with '$*' exited with $rc, not 1: $(head -c 300 "$OUT/refused.err")"
		[ "$(wc -l <"$OUT/refused.err")" = 1 ] || fail "a restore with '$*' said $(wc -l <"$OUT/refused.err") lines, not one"
		grep -q "$want" "$OUT/refused.err" || fail "a restore with '$*': the message does not say '$want'"
		for t in vmt0 vmt1; do [ ! -e "/sys/class/net/$t" ] || fail "a refused restore left tap $t behind"; done
	}
	refuse "taken with 1 NIC; the restore has 0"
	refuse "taken with 1 NIC; the restore has 2" --net tap=vmt0 --net tap=vmt1
	refuse "NIC 0 had 1 queue pairs; the restore asks for 2" --net tap=vmt0,queues=2
	refuse "NIC 0 had MAC 52:54:00:12:34:57; the restore asks for another" --net tap=vmt0,mac=52:54:00:12:34:99
	pass ;;
net-seccomp)
	# Issue 15's audit: with --seccomp=log a call outside a thread's list is allowed and the kernel
	# logs it (audit type=1326, comm "vmm-KIND"). A guest with a disk, a tap NIC and a virtio console
	# writing its disk, then 16 MiB each way over TCP, must make vmm log none. The control first:
	# seccomp-probe.so (LD_PRELOAD; the RTC's gmtime_r opens a socket on the vCPU thread, as the
	# guest's hwclock reads it) must log exactly that call, or an empty log would prove nothing; and
	# with the default --seccomp=on the same call stops vmm with its one line (exit 2).
	EXE=$(readlink -f "$VMM")
	PROBE=$(dirname "$VMM")/seccomp-probe.so
	[ -e "$PROBE" ] || PROBE=$(dirname "$VMM")/tests/integration/seccomp-probe.so
	[ -e "$PROBE" ] || fail "no seccomp-probe.so next to $VMM"
	dmesg >/dev/null 2>&1 || fail "cannot read the kernel log (dmesg; root needed)"
	# audit_lines: vmm's seccomp audit lines in the kernel log, as "COMM syscall N".
	audit_lines() {
		dmesg | tr -d '\r' | grep 'type=1326' | grep -F "exe=\"$EXE\"" |
			sed -n 's/.*comm="\([^"]*\)".*syscall=\([0-9]*\).*/\1 syscall \2/p'
	}
	# socket(2)'s number in the audit lines and vmm's message: x86_64 41, arm64 198.
	nr_socket=41
	[ "$(uname -m)" != aarch64 ] || nr_socket=198
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	export ASAN_OPTIONS
	n0=$(audit_lines | wc -l)
	echo "+ (LD_PRELOAD seccomp-probe.so) vmm --seccomp=log ... vmmtest=date"
	env LD_PRELOAD="$PROBE" "$VMM" --seccomp=log --console="file:$LOG" --timeout "$TMO" --kernel "$G/vmlinuz" \
		--initrd "$G/initramfs.gz" --mem 256M --cmdline "$BASE vmmtest=date vmmtest.epoch=$(date +%s)" </dev/null 2>"$ERR"
	rc=$?
	[ "$rc" = 0 ] || fail "the control run (log) exited with $rc: $(head -c 300 "$ERR" | tr '\r\n' '  ')"
	guest_passed date
	new=$(audit_lines | tail -n +$((n0 + 1)))
	echo "control: the kernel logged: $(echo "$new" | sort | uniq -c | tr '\n' ';')"
	echo "$new" | grep -q "^vmm-vcpu[0-9]* syscall $nr_socket\$" || fail "the probe's socket call on a vCPU thread was not logged (got: $new)"
	echo "+ (LD_PRELOAD seccomp-probe.so) vmm ... vmmtest=date (the default --seccomp=on)"
	env LD_PRELOAD="$PROBE" "$VMM" --console="file:$LOG" --timeout "$TMO" --kernel "$G/vmlinuz" \
		--initrd "$G/initramfs.gz" --mem 256M --cmdline "$BASE vmmtest=date vmmtest.epoch=$(date +%s)" </dev/null 2>"$ERR"
	rc=$?
	echo "vmm exited with $rc: $(cat "$ERR")"
	[ "$rc" = 2 ] || fail "a forbidden call (the probe's) ended vmm with $rc, expected 2"
	grep -q "^vmm: seccomp: thread vmm-vcpu[0-9]* made system call $nr_socket (socket), which its filter forbids; stopping" "$ERR" ||
		fail "no line naming the forbidden call: $(head -c 300 "$ERR")"
	# The audit proper: a disk, a NIC and a virtio console, the disk written...
	n0=$(audit_lines | wc -l)
	img=$OUT/disk.img
	truncate -s 64M "$img"
	boot 0 --seccomp=log --mem 256M --cpus 2 --disk "$img" --net tap=vmt0 --hvc "file:$OUT/hvc.log" \
		--cmdline "$BASE vmmtest=blk-raw vmmtest.virtio=1"
	guest_passed blk-raw
	want=$(printed BLK-PATTERN-SHA)
	got=$(dd if="$img" bs=1M skip=1 count=4 2>/dev/null | sha)
	[ -n "$want" ] && [ "$want" = "$got" ] || fail "the image holds $got at 1 MiB, the guest wrote $want"
	# ...then the NIC moving 16 MiB each way.
	tcp_over_tap --seccomp=log --mem 512M --cpus 2 --disk "$img"
	new=$(audit_lines | tail -n +$((n0 + 1)))
	[ -z "$new" ] || fail "vmm's threads made calls outside their seccomp lists: $(echo "$new" | sort | uniq -c | tr '\n' ';')"
	echo "audit: no call outside the lists"
	rm -f "$img"
	pass ;;
*)
	fail "unknown case '$CASE'" ;;
esac
