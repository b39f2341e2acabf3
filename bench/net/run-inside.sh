#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Network benchmark, the part that runs where /dev/kvm runs stock kernels: inside the nested test
# host (busybox sh, as /extra/run-inside.sh) or directly on a VMX/SVM machine, there in a network
# namespace of its own that run.sh made (unshare --net --mount, sysfs mounted again). Starts the
# host's iperf3 -s, then boots the same guest (Debian's cloud kernel, the test initramfs with iperf3
# appended, rdinit=/bench-iperf.sh), 1 vCPU, 512 MiB, under
#   vmm        --net tap=vmt0
#   qemu-off   -netdev tap,ifname=vmt0,vhost=off -device virtio-net-pci
#   qemu-on    the same with vhost=on (only when /dev/vhost-net exists)
#   vmm-vhost  vmm --net tap=vmt0,vhost=on (only when /dev/vhost-net exists)
# Each VMM creates the tap vmt0 itself; this script then gives it 10.0.2.2/24 and brings it up (as
# tests/integration/cases/net.sh does), the guest takes 10.0.2.15/24. While the guest runs its
# tests this script follows its console and, at each @@IPERF-BEGIN/END (the guest waits 2 s after BEGIN), snapshots the VMM process's
# CPU time (/proc/PID/stat, per thread from /proc/PID/task/*/stat, plus the vhost-PID kernel thread
# of vhost=on, which Linux before 6.4 does not count in QEMU's process) and the tap's byte counters.
# Prints:
#   @@NET-INFO ...                                    conditions
#   @@NET WHICH round=N NAME rc=.. recv_bytes=.. ...  one per test, from the guest's @@IPERF lines
#   @@NET-SNAP WHICH round=N NAME begin|end t=.. cpu=.. user=.. sys=.. guest=.. vcpu=.. other=.. vhost=..
#              tasks=.. iowq=.. iowq_n=..  (threads now; CPU and number of io_uring io-wq workers now)
#              tap_rx=.. tap_tx=.. tap_rx_drop=.. tap_tx_drop=..  (CPU in clock ticks, 1/100 s; tap
#              counters as the host sees them: rx = from the guest, tx = to the guest)
#   @@NET-RUN WHICH round=N status=.. ok=.. exit_s=.. cpu=.. rss_kib=.. thp_kib=.. txqlen=..
#   @@NET-DONE rounds=N
# env (defaults are the test host's paths):
#   VMM=/vmm/vmm  KERNEL=/guest/vmlinuz  INITRD=/extra/bench-initramfs.gz  FW=/extra/fw (QEMU -L)
#   QEMU=qemu-system-x86_64  QEMU_MACHINE=microvm,rtc=on,pcie=on  IPERF=iperf3  RUNTIME=10  ROUNDS=1
#   TMPDIR=/tmp  NET=tap  ONLY="vmm qemu-off" (boot only these)
# NET=user: user-mode networking instead (no tap, no vhost): vmm --net user against QEMU -netdev user
# (both libslirp); the guest keeps its static 10.0.2.15/24 and reaches the host's iperf3 -s on
# 127.0.0.1 at 10.0.2.2 (slirp's gateway). The two keep the ids vmm and qemu-off in the output (run.sh
# relabels them); no tap counters, so CPU per GB counts iperf3's bytes.
VMM=${VMM:-/vmm/vmm}
KERNEL=${KERNEL:-/guest/vmlinuz}
INITRD=${INITRD:-/extra/bench-initramfs.gz}
FW=${FW:-/extra/fw}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_MACHINE=${QEMU_MACHINE:-microvm,rtc=on,pcie=on}
IPERF=${IPERF:-iperf3}
RUNTIME=${RUNTIME:-10}
ROUNDS=${ROUNDS:-1}
T=${TMPDIR:-/tmp}
TAP=vmt0
NET=${NET:-tap}
CMDLINE="console=ttyS0 reboot=k panic=-1 quiet rdinit=/bench-iperf.sh bench.runtime=$RUNTIME${TRACE:+ bench.trace=1}${PARALLEL:+ bench.parallel=$PARALLEL}"
# Three tests (four with PARALLEL) of RUNTIME s plus about 5 s each, boot, iperf3 start-up: a generous per-guest limit.
LIMIT=$((4 * (RUNTIME + 5) + 240))
if command -v ip >/dev/null 2>&1; then IP=ip; else IP="busybox ip"; fi

for f in "$VMM" "$KERNEL" "$INITRD" "$FW/bios-microvm.bin"; do
	[ -e "$f" ] || { echo "@@NET-ERROR missing $f"; exit 1; }
done
for p in "$QEMU" "$IPERF"; do
	command -v "$p" >/dev/null 2>&1 || { echo "@@NET-ERROR $p not found"; exit 1; }
done
[ -c /dev/kvm ] || { echo "@@NET-ERROR no /dev/kvm"; exit 1; }
[ "$NET" = user ] || [ -c /dev/net/tun ] || { echo "@@NET-ERROR no /dev/net/tun"; exit 1; }
$IP link set lo up 2>/dev/null

WHO="vmm qemu-off vmm-vhost qemu-on"
if [ "$NET" = user ]; then
	vhost="not used (user-mode networking)"
	WHO="vmm qemu-off"
elif [ -c /dev/vhost-net ]; then vhost=yes; else vhost="no (no /dev/vhost-net in this host: QEMU vhost=on not measured)"; WHO="vmm qemu-off"; fi
# ONLY=WHO...: boot only these of them (a quick look at one VMM; the tables then lack the others).
[ -z "${ONLY:-}" ] || WHO=$ONLY
echo "@@NET-INFO kernel=$(uname -r) cpus=$(nproc) mem_mib=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)" \
	"runtime=${RUNTIME}s rounds=$ROUNDS net=$NET vhost_net=$vhost"
echo "@@NET-INFO vmm=$("$VMM" --version 2>&1 | head -1)"
echo "@@NET-INFO qemu=$("$QEMU" --version 2>&1 | head -1) machine=$QEMU_MACHINE"
echo "@@NET-INFO iperf3=$("$IPERF" --version 2>&1 | head -1)"

# start_server: a fresh iperf3 -s for each boot (one left mid-test by a failed boot answers every
# later client with "the server is busy running a test").
SPID=
start_server() {
	[ -z "$SPID" ] || { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }
	"$IPERF" -s -p 5201 >>"$T/iperf-server.log" 2>&1 &
	SPID=$!
	sleep 1
	kill -0 "$SPID" 2>/dev/null || { echo "@@NET-ERROR iperf3 -s did not start: $(tail -c 300 "$T/iperf-server.log")"; exit 1; }
}
start_server

# snap: one line of the VMM process's (PID) CPU times and the tap's counters, read by one awk (every
# fork is slow on an emulated CPU, and the guest waits only 2 s after its BEGIN marker).
snap() {
	[ -n "$VH" ] || VH=$(grep -l -x "vhost-$PID" /proc/[0-9]*/comm 2>/dev/null | head -1 | sed 's|/comm$|/stat|')
	files="/proc/$PID/stat"
	for f in /proc/"$PID"/task/*/stat $VH; do [ -e "$f" ] && files="$files $f"; done
	st=/sys/class/net/$TAP/statistics
	for f in rx_bytes tx_bytes rx_dropped tx_dropped rx_packets tx_packets; do [ -e "$st/$f" ] && files="$files $st/$f"; done
	# After the comm field (which may hold spaces): 12 utime, 13 stime, 41 guest_time.
	# shellcheck disable=SC2086 # the file list
	awk -v vh="${VH:-none}" -v t="$(cut -d' ' -f1 /proc/uptime)" '
		FILENAME ~ /statistics/ { n = FILENAME; sub(/.*\//, "", n); s[n] = $1; next }
		{ l = $0; sub(/^.*\) /, "", l); split(l, f, " ") }
		FILENAME == vh { v += f[12] + f[13]; next }
		FILENAME ~ /task/ {
			nt++
			if (f[41] > 0) vc += f[12] + f[13]; else o += f[12] + f[13]
			if ($0 ~ /\(iou-wrk/) { iw += f[12] + f[13]; niw++ }
			next
		}
		{ cpu = f[12] + f[13]; u = f[12]; sy = f[13]; g = f[41] }
		END {
			printf "t=%s cpu=%.0f user=%.0f sys=%.0f guest=%.0f vcpu=%.0f other=%.0f vhost=%.0f tasks=%.0f iowq=%.0f iowq_n=%.0f", t, cpu, u, sy, g, vc, o, v, nt, iw, niw
			printf " tap_rx=%.0f tap_tx=%.0f tap_rx_drop=%.0f tap_tx_drop=%.0f tap_rx_pk=%.0f tap_tx_pk=%.0f\n", s["rx_bytes"], s["tx_bytes"], s["rx_dropped"], s["tx_dropped"], s["rx_packets"], s["tx_packets"]
		}' $files 2>/dev/null
}

# tcpext: this host's TcpExt counters (/proc/net/netstat), a "name value" line each; tcpext_moved
# BEFORE: those of stdin that moved since BEFORE and tell of loss or reordering, " name=delta" each.
tcpext() {
	awk '/^(TcpExt|IpExt|Ip|Tcp|Udp):/ { k = $1; if (!(k in h)) { for (i = 2; i <= NF; i++) n[k, i] = $i; h[k] = 1 } else for (i = 2; i <= NF; i++) print k n[k, i], $i }
		FILENAME ~ /softnet/ { x = 0; for (i = 1; i <= length($2); i++) x = 16 * x + index("0123456789abcdef", substr($2, i, 1)) - 1; d += x } END { print "SoftnetDropped", d + 0 }' /proc/net/netstat /proc/net/snmp /proc/net/softnet_stat
}
tcpext_moved() {
	awk 'NR == FNR { a[$1] = $2; next }
		$1 ~ /OFO|Drop|Prune|Collaps|DSACK|Loss|Retrans|Reneg|Backlog|Timeout|Recover|Spurious|ZeroWindow|SACK|Reorder|Undo|Discard|Errs|Errors|Dropped|Truncated/ && $2 != a[$1] {
			printf " %s=%d", $1, $2 - a[$1] }' "$1" -
}

# TRACE=1: where this host's kernel freed packets it did not deliver during each test (the
# skb:kfree_skb trace event: the freeing function and the drop reason, with counts).
TR=/sys/kernel/tracing
drops_begin() {
	[ -n "${TRACE:-}" ] || return 0
	[ -e "$TR/trace" ] || mount -t tracefs nodev "$TR" 2>/dev/null
	[ -e "$TR/events/skb/kfree_skb/enable" ] || return 0
	echo 4096 >"$TR/buffer_size_kb"
	: >"$TR/trace"
	echo 1 >"$TR/events/skb/kfree_skb/enable"
}
drops_end() {
	[ -n "${TRACE:-}" ] && [ -e "$TR/events/skb/kfree_skb/enable" ] || return 0
	echo 0 >"$TR/events/skb/kfree_skb/enable"
	echo "$1 $(sed -n 's/.*location=\([^ ]*\).*reason: \([A-Z_]*\).*/\1 \2/p' "$TR/trace" | sed 's/+0x[0-9a-f/x]*//' |
		sort | uniq -c | sort -rn | head -12 | awk '{ printf "%s:%s=%s ", $2, $3, $1 }')"
}

# one WHICH ROUND: boot the guest once under WHICH, follow it, print its lines.
one() {
	# Every boot starts from the same memory: no page cache left by the last one, free memory
	# compacted (successive boots of the same VMM in one test host got slower, 1.9x over five, while
	# fewer of their guest RAM's pages could be huge: AnonHugePages, thp_kib in @@NET-RUN).
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	echo 1 >/proc/sys/vm/compact_memory 2>/dev/null
	start_server
	log=$T/net-$1.log
	err=$T/net-$1.err
	: >"$log"
	case $1 in
	vmm | vmm-vhost)
		netopt=tap=$TAP
		[ "$1" = vmm-vhost ] && netopt=tap=$TAP,vhost=on
		[ "$NET" = user ] && netopt=user
		"$VMM" --kernel "$KERNEL" --initrd "$INITRD" --mem 512M --cpus 1 --console="file:$log" \
			--net "$netopt" --cmdline "$CMDLINE" </dev/null 2>"$err" &
		;;
	qemu-*)
		netdev="tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=${1#qemu-}"
		[ "$NET" = user ] && netdev=user,id=n0
		"$QEMU" -M "$QEMU_MACHINE" -accel kvm -cpu host -m 512M -smp 1 -nodefaults -no-user-config \
			-display none -serial "file:$log" -no-reboot -L "$FW" \
			-kernel "$KERNEL" -initrd "$INITRD" -append "$CMDLINE" \
			-netdev "$netdev" \
			-device virtio-net-pci,netdev=n0,romfile= </dev/null 2>"$err" &
		;;
	esac
	PID=$!
	VH=
	(
		sleep "$LIMIT" &
		s=$!
		trap 'kill $s 2>/dev/null; exit 0' TERM
		wait $s
		kill "$PID" 2>/dev/null && echo "@@NET-FAIL $1 round=$2: killed after $LIMIT s"
	) &
	WPID=$!
	t0=$(cut -d' ' -f1 /proc/uptime)
	i=0 txq=unknown hwm=0 thp=0
	while [ "$NET" = tap ] && [ ! -e "/sys/class/net/$TAP" ]; do
		kill -0 "$PID" 2>/dev/null || break
		i=$((i + 1))
		[ $i -le 300 ] || { echo "@@NET-FAIL $1 round=$2: no tap $TAP after 30 s"; break; }
		sleep 0.1
	done
	if [ "$NET" = tap ] && [ -e "/sys/class/net/$TAP" ]; then
		$IP addr add 10.0.2.2/24 dev "$TAP" && $IP link set "$TAP" up || echo "@@NET-FAIL $1 round=$2: cannot configure $TAP"
		txq=$(cat "/sys/class/net/$TAP/tx_queue_len" 2>/dev/null)
	fi
	# Follow the console: a snapshot at each new BEGIN/END marker (the guest waits 1 s after BEGIN).
	seen=0
	while kill -0 "$PID" 2>/dev/null; do
		# Only complete marker lines (the guest may be half-way through one): BEGIN/END end in " @@".
		tr -d '\r' <"$log" | grep -a -E '^@@IPERF-((BEGIN|END) [^ ]+ @@$|DONE )' >"$log.m"
		n=$(wc -l <"$log.m")
		while [ "$seen" -lt "$n" ]; do
			seen=$((seen + 1))
			# shellcheck disable=SC2046 # the marker line's words
			set -- "$1" "$2" $(sed -n "${seen}p" "$log.m")
			case $3 in
			@@IPERF-BEGIN)
				echo "@@NET-SNAP $1 round=$2 $4 begin $(snap)"
				tcpext >"$T/tcpext0"
				drops_begin
				;;
			@@IPERF-END)
				echo "@@NET-SNAP $1 round=$2 $4 end $(snap)"
				echo "@@NET-HTCPEXT $1 round=$2 $4$(tcpext | tcpext_moved "$T/tcpext0")"
				drops_end "@@NET-DROPS $1 round=$2 $4"
				;;
			@@IPERF-DONE)
				hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID/status" 2>/dev/null)
				thp=$(awk '/^AnonHugePages:/ {s += $2} END {print s + 0}' "/proc/$PID/smaps" 2>/dev/null)
				echo "@@NET-SNAP $1 round=$2 total done $(snap)"
				;;
			esac
			set -- "$1" "$2"
		done
		sleep 0.2
	done
	wait "$PID"
	status=$?
	t1=$(cut -d' ' -f1 /proc/uptime)
	kill "$WPID" 2>/dev/null
	wait "$WPID" 2>/dev/null
	tr -d '\r' <"$log" >"$log.txt"
	sed -n 's/^@@IPERF-INFO /@@NET-GUEST '"$1"' /p' "$log.txt" | head -1
	sed -n 's/^@@IPERF-STATS /@@NET-GSTATS '"$1 round=$2"' /p' "$log.txt" | head -1
	sed -n 's/^@@IPERF-TCPEXT /@@NET-TCPEXT '"$1 round=$2"' /p' "$log.txt"
	sed -n 's/^@@IPERF-DROPS /@@NET-GDROPS '"$1 round=$2"' /p' "$log.txt"
	sed -n 's/^@@IPERF-DMESG /@@NET-GDMESG '"$1 round=$2"' /p' "$log.txt"
	sed -n 's/^@@IPERF \(.*\)/@@NET '"$1 round=$2"' \1/p' "$log.txt"
	sed -n 's/^@@IPERF-ERROR /@@NET-FAIL '"$1 round=$2"' /p' "$log.txt"
	ok=$(sed -n 's/^@@IPERF-DONE ok=\([0-9]*\).*/\1/p' "$log.txt" | head -1)
	echo "@@NET-RUN $1 round=$2 status=$status ok=${ok:-0} exit_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') rss_kib=${hwm:-0} thp_kib=${thp:-0} txqlen=$txq"
	# What the VMM said on stderr (a guest warning, a dropped frame) is part of the result.
	[ ! -s "$err" ] || echo "@@NET-STDERR $1 round=$2 lines=$(wc -l <"$err"): $(head -c 300 "$err" | tr '\r\n' '  ')"
	if [ "$status" != 0 ] || [ "${ok:-0}" != 3 ]; then
		echo "@@NET-FAIL $1 round=$2: console tail and stderr follow"
		tail -n 25 "$log.txt"
		head -c 1000 "$err"
		echo "@@NET-FAIL-END"
	fi
	# The tap goes with the process that created it; remove a leftover before the next VMM.
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -e "/sys/class/net/$TAP" ] || break; sleep 0.3; done
	[ ! -e "/sys/class/net/$TAP" ] || { echo "@@NET-WARN $TAP still there after $1 exited: deleting it"; $IP link del "$TAP"; }
	rm -f "$log" "$log.m" "$log.txt" "$err"
}

r=1
while [ "$r" -le "$ROUNDS" ]; do
	# Alternate the order: vmm first in odd rounds, last in even ones.
	if [ $((r % 2)) = 1 ]; then order=$WHO; else order=$(echo "$WHO" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }'); fi
	for w in $order; do one "$w" "$r"; done
	r=$((r + 1))
done
kill "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null
echo "@@NET-DONE rounds=$ROUNDS"
