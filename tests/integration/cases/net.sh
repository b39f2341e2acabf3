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
	echo "+ vmm $* &"
	"$VMM" --console="file:$LOG" --timeout "$NTMO" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" "$@" \
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
	dd if=/dev/urandom of="$OUT/h2g" bs=1M count=16 2>/dev/null
	listen 5001 "$OUT/g2h"
	start_vmm --mem 512M --net tap=vmt0 --cmdline "$BASE $NET vmmtest=net-tcp vmmtest.timeout=200 vmmtest.port1=5001 vmmtest.port2=5002"
	host_end vmt0 10.0.2.2/24
	send_h2g 5002
	end_vmm vmt0
	reap_nc
	guest_passed net-tcp
	received "$OUT/g2h" G2H
	sent_h2g
	rm -f "$OUT/g2h" "$OUT/h2g" "$OUT/hold"
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
	start_vmm --mem 256M --net tap=vmt0 --net tap=vmt1 --cmdline "$BASE $NET vmmtest=net-two"
	host_end vmt0 10.0.2.2/24
	host_end vmt1 10.0.3.2/24
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
*)
	fail "unknown case '$CASE'" ;;
esac
