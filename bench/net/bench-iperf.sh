#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Network benchmark, the guest side. The kernel runs this as PID 1 (rdinit=/bench-iperf.sh): it lives
# in the second archive that bench/net/run.sh appends to the test initramfs (tests/guest/), with
# /usr/bin/iperf3 and its libraries. It mounts the basics, loads the virtio modules, gives eth0
# 10.0.2.15/24, waits until the host end (10.0.2.2, a tap the host configures while we boot)
# answers, then runs three iperf3 tests against the host's iperf3 -s. Around each test it prints
#   @@IPERF-BEGIN NAME @@  (then waits 2 s: the host snapshots the VMM process's CPU time)
#   @@IPERF NAME rc=N recv_bytes=.. recv_s=.. sent_bytes=.. sent_s=.. retrans=.. packets=.. lost=..
#   @@IPERF-END NAME @@    (the trailing @@ tells the host the line is complete)
# then "@@IPERF-DONE ok=N failed=N", waits 2 s and powers off. Kernel command line parameters:
#   bench.runtime=SECONDS  per test (default 10)   bench.server=ADDR  (default 10.0.2.2)
#   bench.trace=1          also "@@IPERF-DROPS NAME reason=count ..." per test: the packets the
#                          guest's kernel dropped (the skb:kfree_skb trace event)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp 2>/dev/null
[ -t 1 ] || exec </dev/console >/dev/console 2>&1

power_off() {
	sync
	poweroff -f
	echo o >/proc/sysrq-trigger 2>/dev/null
	sleep 5
	while :; do sleep 3600; done # never let PID 1 exit (a panic)
}
die() {
	echo "@@IPERF-ERROR $*"
	echo "@@IPERF-DONE ok=0 failed=1"
	sleep 1
	power_off
}

runtime=10 server=10.0.2.2 trace='' parallel=''
TR=/sys/kernel/tracing
# shellcheck disable=SC2013 # the words of the command line
for w in $(cat /proc/cmdline); do
	case $w in
	bench.runtime=*) runtime=${w#*=} ;;
	bench.server=*) server=${w#*=} ;;
	bench.trace=*) trace=${w#*=} ;;
	bench.parallel=*) parallel=${w#*=} ;;
	esac
done

while read -r m; do
	insmod "/lib/modules/$m.ko" 2>/dev/null || echo "bench-iperf: insmod $m failed"
done </lib/modules/virtio.order
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /sys/class/net/eth0 ] || die "no eth0 (virtio devices: $(ls /sys/bus/virtio/devices 2>/dev/null | tr '\n' ' '))"
[ -x /usr/bin/iperf3 ] || die "no /usr/bin/iperf3 (the bench archive was not unpacked?)"
/usr/bin/iperf3 --version >/tmp/v 2>&1 || die "iperf3 does not start: $(head -c 300 /tmp/v)"
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 || die "cannot configure eth0"
i=0
until ping -c 1 -W 1 "$server" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 60 ] || die "$server does not answer pings"
done
dev=$(basename "$(readlink /sys/class/net/eth0/device)")
echo "@@IPERF-INFO $(head -1 /tmp/v | tr -s ' ') kernel=$(uname -r) cpus=$(nproc) runtime=${runtime}s" \
	"mtu=$(cat /sys/class/net/eth0/mtu) features=$(cat "/sys/bus/virtio/devices/$dev/features" 2>/dev/null)" \
	"queues=$(ls -d /sys/class/net/eth0/queues/rx-* 2>/dev/null | wc -l) uptime=$(cut -d' ' -f1 /proc/uptime)"

ok=0 failed=0
[ -z "$trace" ] || mount -t tracefs nodev "$TR" 2>/dev/null
# tcpext: the guest's TcpExt counters (/proc/net/netstat), a "name value" line each.
tcpext() {
	awk '/^(TcpExt|IpExt|Ip|Tcp|Udp):/ { k = $1; if (!(k in h)) { for (i = 2; i <= NF; i++) n[k, i] = $i; h[k] = 1 } else for (i = 2; i <= NF; i++) print k n[k, i], $i }
		FILENAME ~ /softnet/ { x = 0; for (i = 1; i <= length($2); i++) x = 16 * x + index("0123456789abcdef", substr($2, i, 1)) - 1; d += x } END { print "SoftnetDropped", d + 0 }' /proc/net/netstat /proc/net/snmp /proc/net/softnet_stat
}
# run NAME IPERF3-ARGS...: one test; the numbers come from iperf3's JSON (end.sum_sent and
# end.sum_received: for -R the host is the sender; for UDP sum_received.packets counts what was
# sent, lost_packets what did not arrive).
run() {
	name=$1
	shift
	echo "@@IPERF-BEGIN $name @@"
	sleep 2
	tcpext >/tmp/tcpext0
	if [ -n "$trace" ] && [ -e "$TR/events/skb/kfree_skb/enable" ]; then
		: >"$TR/trace"
		echo 1 >"$TR/events/skb/kfree_skb/enable"
	fi
	timeout $((runtime + 60)) /usr/bin/iperf3 -c "$server" -t "$runtime" -J "$@" >/tmp/out 2>/tmp/err
	rc=$?
	echo "@@IPERF-END $name @@"
	# What the guest's TCP saw of losses and reordering during the test (the counters that moved).
	tcpext | awk -v name="$name" 'BEGIN { printf "@@IPERF-TCPEXT %s", name } NR == FNR { a[$1] = $2; next }
		$1 ~ /OFO|Drop|Prune|Collaps|DSACK|Loss|Retrans|Reneg|Backlog|Timeout|Recover|Spurious|ZeroWindow|SACK|Reorder|Undo|Discard|Errs|Errors|Dropped|Truncated/ && $2 != a[$1] {
			printf " %s=%d", $1, $2 - a[$1] } END { printf "\n" }' /tmp/tcpext0 -
	if [ -n "$trace" ] && [ -e "$TR/events/skb/kfree_skb/enable" ]; then
		echo 0 >"$TR/events/skb/kfree_skb/enable"
		echo "@@IPERF-DROPS $name $(sed -n 's/.*reason: \([A-Z_]*\).*/\1/p' "$TR/trace" | sort | uniq -c | sort -rn | head -12 | awk '{ printf "%s=%s ", $2, $1 }')"
	fi
	res=$(awk '
		/"sum_sent":/ { s = "sent"; next }
		/"sum_received":/ { s = "recv"; next }
		s != "" && /}/ { s = ""; next }
		s != "" { l = $0; gsub(/[\t ",]/, "", l); split(l, kv, ":"); v[s "_" kv[1]] = kv[2] }
		END {
			if (v["recv_bytes"] == "") exit 1
			printf "recv_bytes=%s recv_s=%s sent_bytes=%s sent_s=%s retrans=%s packets=%s lost=%s\n",
				v["recv_bytes"], v["recv_seconds"], v["sent_bytes"], v["sent_seconds"],
				v["sent_retransmits"] == "" ? "-" : v["sent_retransmits"],
				v["recv_packets"] == "" ? "-" : v["recv_packets"], v["recv_lost_packets"] == "" ? "-" : v["recv_lost_packets"]
		}' /tmp/out)
	if [ $rc = 0 ] && [ -n "$res" ]; then
		echo "@@IPERF $name rc=$rc $res"
		ok=$((ok + 1))
	else
		echo "@@IPERF-ERROR $name rc=$rc: $(grep -a '"error"' /tmp/out | head -c 300) $(head -c 300 /tmp/err)"
		failed=$((failed + 1))
	fi
	sleep 1
}
run tcp-g2h
run tcp-h2g -R
run udp-g2h -u -l 64 -b 0
# bench.parallel=N: host -> guest again over N connections at once (is one connection's window the limit?)
case $parallel in [2-9]) run "tcp-h2g-p$parallel" -R -P "$parallel" ;; esac
# eth0's packet counters and every error or drop counter that is not 0, the driver's RX complaints.
echo "@@IPERF-STATS rx_packets=$(cat /sys/class/net/eth0/statistics/rx_packets) tx_packets=$(cat /sys/class/net/eth0/statistics/tx_packets)" \
	"$(cd /sys/class/net/eth0/statistics && for f in *drop* *error*; do [ "$(cat "$f")" = 0 ] || printf '%s=%s ' "$f" "$(cat "$f")"; done)" \
	"interrupts=$(awk '/virtio/ { n = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i; printf "%s%s:%d", sep, $NF, n; sep = "," }' /proc/interrupts)"
dmesg | grep -i -E 'virtio|eth0|rx error|bad gso' | grep -v -i -E 'virtio_(pci|blk)|renamed|link becomes|enabling device' | tail -5 | sed 's/^/@@IPERF-DMESG /'
echo "@@IPERF-DONE ok=$ok failed=$failed uptime=$(cut -d' ' -f1 /proc/uptime)"
sleep 2
power_off
