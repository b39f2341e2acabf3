#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Network benchmark: iperf3 between the guest and the host over a tap, our vmm (--net tap=vmt0)
# against QEMU (microvm with PCIe, virtio-net-pci on -netdev tap, vhost=off, and vhost=on when the
# host has /dev/vhost-net), same guest (Debian's cloud kernel, the test initramfs with iperf3
# appended), 1 vCPU, 512 MiB: guest -> host TCP, host -> guest TCP, 64-byte UDP guest -> host, and
# the VMM process's CPU time per GB moved over the TCP tests; prints a Markdown table.
# Where this machine's /dev/kvm runs stock kernels (VMX/SVM) the runs happen here, in a network
# namespace of their own (unshare --net --mount: root needed); otherwise (PVM) inside one boot of
# the nested test host (tests/host/, QEMU with software SVM).
# usage: bench/net/run.sh [BUILD_DIR]      (default build/plain; needs BUILD_DIR/vmm and
#        BUILD_DIR/guest/{vmlinuz,initramfs.gz,modules/}: cmake, then tests/guest/build-assets.sh)
# env:   BENCH_RUNTIME=S  seconds per iperf3 test (default 10)   BENCH_ROUNDS=N  boots per VMM (2)
#        BENCH_NET=user   user-mode networking instead of a tap: vmm --net user against QEMU -netdev
#                         user (both libslirp), iperf3 -s on the host's 127.0.0.1 reached at 10.0.2.2
#        BENCH_LOG=F      keep the raw log                        QEMU_MACHINE    QEMU's -M
#        BENCH_REPORT=F   print the tables again from the raw log F of an earlier run (no boots)
#        BENCH_ONLY="vmm ..."  boot only these of vmm, qemu-off, vmm-vhost, qemu-on (a quick look)
#        BENCH_TRACE=1    log where the host's kernel dropped packets during each test (skb:kfree_skb)
#        BENCH_PARALLEL=N one more test, host -> guest TCP over N connections at once (2-9; its
#                         @@IPERF tcp-h2g-pN lines are in the raw log, not in the tables)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
SRC=$(cd "$HERE/../.." && pwd)
B=${1:-$SRC/build/plain}
RUNTIME=${BENCH_RUNTIME:-10}
ROUNDS=${BENCH_ROUNDS:-2}
NET=${BENCH_NET:-tap}
case $NET in tap | user) ;; *) echo "bench-net: BENCH_NET is tap or user, not '$NET'" >&2; exit 1 ;; esac
QEMU_MACHINE=${QEMU_MACHINE:-microvm,rtc=on,pcie=on}
say() { echo "bench-net: $*" >&2; }
die() { echo "bench-net: ERROR: $*" >&2; exit 1; }

if [ -n "${BENCH_REPORT:-}" ]; then
	# Only the tables again, from the raw log of an earlier run (BENCH_LOG).
	LOG=$BENCH_REPORT
	MACHINE="(see the raw log $BENCH_REPORT)"
	KVER="(see the raw log)"
else
	for f in "$B/vmm" "$B/guest/vmlinuz" "$B/guest/initramfs.gz" "$B/guest/modules/kvm-amd.ko"; do
		[ -s "$f" ] || die "missing $f (build with cmake, then: bash tests/guest/build-assets.sh $B/guest)"
	done
	"$B/vmm" --help 2>&1 | grep -c -- '--net' >/dev/null || die "$B/vmm has no --net option (rebuild it)"
	SUDO=()
	[ "$(id -u)" = 0 ] || SUDO=(sudo)
	bench_need qemu-system-x86_64 qemu-system-x86
	bench_need iperf3 iperf3
	bench_need cpio cpio
	QEMU=$(command -v qemu-system-x86_64)
	IPERF=$(command -v iperf3)
	IPERF=$(readlink -f "$IPERF")

	bench_workdir "$B"
	install -m 0755 "$HERE/run-inside.sh" "$W/extra/run-inside.sh"

	# The bench initramfs: the test initramfs, then a second archive with iperf3, its libraries and
	# /bench-iperf.sh (the kernel unpacks concatenated archives in order).
	bench_initramfs "$B/guest/initramfs.gz" "$IPERF" "$HERE/bench-iperf.sh" "$W/extra/bench-initramfs.gz"
	say "bench initramfs: $(($(stat -c %s "$W/extra/bench-initramfs.gz") / 1024)) KiB ($("$IPERF" --version | head -1))"

	bench_qemu_firmware "$W/extra/fw"

	LOG=${BENCH_LOG:-$W/bench.log}
	mode=$(bash "$SRC/scripts/kvm-mode.sh")
	say "mode $mode, guest kernel $KVER, ${RUNTIME}s per test, $ROUNDS round(s)"
	case $mode in
	direct)
		# A network namespace (and a mount namespace, for a sysfs that shows its interfaces) of our own:
		# the taps and the traffic stay in it.
		[ -e /dev/vhost-net ] || "${SUDO[@]}" modprobe vhost_net 2>/dev/null || true
		# shellcheck disable=SC2016 # $0 expands in the inner sh
		"${SUDO[@]}" env VMM="$W/vmm" KERNEL="$W/guest/vmlinuz" INITRD="$W/extra/bench-initramfs.gz" FW="$W/extra/fw" \
			QEMU="$QEMU" QEMU_MACHINE="$QEMU_MACHINE" IPERF="$IPERF" RUNTIME="$RUNTIME" ROUNDS="$ROUNDS" NET="$NET" ONLY="${BENCH_ONLY:-}" TRACE="${BENCH_TRACE:-}" PARALLEL="${BENCH_PARALLEL:-}" TMPDIR="$W" \
			unshare --net --mount sh -c 'mount -t sysfs sysfs /sys && exec sh "$0"' "$W/extra/run-inside.sh" |
			tee "$LOG" | grep --line-buffered -E '^@@NET(-INFO|-FAIL|-RUN|-STDERR| )' >&2 || true
		MACHINE="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, $(uname -r), direct /dev/kvm, own network namespace"
		;;
	nested | none)
		printf 'QEMU_MACHINE=%s RUNTIME=%s ROUNDS=%s IPERF=%s NET=%s ONLY="%s" TRACE="%s" PARALLEL="%s" sh /extra/run-inside.sh\n' \
			"$QEMU_MACHINE" "$RUNTIME" "$ROUNDS" "$IPERF" "$NET" "${BENCH_ONLY:-}" "${BENCH_TRACE:-}" "${BENCH_PARALLEL:-}" >"$W/extra/run.sh"
		bench_nested "$B" "$LOG" "$((3 * ROUNDS * (3 * (RUNTIME + 4) + 8) / 60 + 1))" 3000 'HOST-READY|HOST-ERROR|NET-INFO|NET-FAIL|NET-WARN|NET-RUN|NET-STDERR|NET |SCRIPT' "$QEMU" "$IPERF"
		;;
	*) die "no usable /dev/kvm here (kvm-mode: $mode)" ;;
	esac
fi

tr -d '\r' <"$LOG" | grep -aq '^@@NET-DONE' || { tr -d '\r' <"$LOG" | tail -n 40 >&2; die "the benchmark did not finish (log above)"; }

# The table: per VMM the median over rounds of each metric.
# NET=user: the inside script's ids vmm and qemu-off are vmm --net user and QEMU -netdev user.
relabel() {
	if [ "$NET" = user ]; then
		sed -e 's/QEMU vhost=off/QEMU -netdev user/g; s|vmm/QEMU(off)|vmm/QEMU|; s/ | QEMU vhost=on |/ | (unused) |/' \
			-e 's/with virtio-net-pci on a tap/with virtio-net-pci on -netdev user (libslirp); vmm --net user (libslirp); the host end is iperf3 on 127.0.0.1/'
	else
		cat
	fi
}
tr -d '\r' <"$LOG" | awk -v date="$(date -u +%Y-%m-%d)" -v qm="$QEMU_MACHINE" -v machine="$MACHINE" -v kver="$KVER" '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		if (n == 0) return -1
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function f(v, fmt) { return v < 0 ? "n/a" : sprintf(fmt, v) }
	function ratio(a, b) { return (a < 0 || b <= 0) ? "n/a" : sprintf("%.2f", a / b) }
	# med(W, M): median over W rounds of metric M (rounds where it is missing are left out)
	function med(w, m,   r, a, k) { k = 0; for (r = 1; r <= maxr; r++) if ((w, r, m) in met) a[++k] = met[w, r, m]; return median(a, k) }
	# rng(W, M, FMT): " (min-max)" over the rounds that have metric M, when there are two or more
	function rng(w, m, fm,   r, k, lo, hi, v) {
		k = 0; for (r = 1; r <= maxr; r++) if ((w, r, m) in met) { v = met[w, r, m]; if (!k || v < lo) lo = v; if (!k || v > hi) hi = v; k++ }
		return k < 2 ? "" : sprintf(" (" fm "-" fm ")", lo, hi)
	}
	function kv(from,   i, p) { delete x; for (i = from; i <= NF; i++) { split($i, p, "="); x[p[1]] = p[2] } }
	/^@@NET-INFO kernel=/ { sub(/^@@NET-INFO /, ""); info = $0 }
	/^@@NET-INFO vhost/ { }
	/^@@NET-GUEST vmm / { sub(/^@@NET-GUEST vmm /, ""); ginfo = $0 }
	/^@@NET (vmm|vmm-vhost|qemu-off|qemu-on) round=/ {
		w = $2; r = substr($3, 7) + 0; t = $4; kv(5); if (r > maxr) maxr = r
		if (x["rc"] != "0" || x["recv_s"] <= 0) next
		if (t ~ /^tcp/) {
			met[w, r, t] = x["recv_bytes"] * 8 / x["recv_s"] / 1e6; bytes[w, r] += x["recv_bytes"]; ntcp[w, r]++
			met[w, r, t "_retr"] = x["retrans"]
		}
		else {
			met[w, r, "udp_pps"] = (x["packets"] - x["lost"]) / x["recv_s"]
			met[w, r, "udp_loss"] = x["packets"] > 0 ? 100 * x["lost"] / x["packets"] : -1
			met[w, r, "udp_sent_pps"] = x["packets"] / x["sent_s"]
		}
	}
	/^@@NET-SNAP / {
		w = $2; r = substr($3, 7) + 0; t = $4; kv(6)
		if (x["tasks"] > maxtasks[w]) maxtasks[w] = x["tasks"]
		if (x["iowq_n"] > maxiw[w]) maxiw[w] = x["iowq_n"]
		if ($5 == "end" && t ~ /^tcp/) iwcpu[w] += x["iowq"]
		if (t !~ /^tcp/) next
		sgn = ($5 == "begin") ? -1 : 1
		for (k in x) d[w, r, t, k] += sgn * x[k]
		nsnap[w, r]++
	}
	/^@@NET-RUN / {
		w = $2; kv(4); runs[w]++; if (x["status"] != "0" || x["ok"] < 3) bad[w]++
		rss[w] = x["rss_kib"]; txq[w] = x["txqlen"]
	}
	/^@@NET-FAIL / { fails++ }
	/^@@NET-GSTATS / { w = $2; r = $3; $1 = $2 = $3 = ""; sub(/^ +/, ""); gst = gst sprintf("\n  %s %s: %s", w, r, $0) }
	/^@@NET-GDMESG / { w = $2; r = $3; $1 = $2 = $3 = ""; sub(/^ +/, ""); gst = gst sprintf("\n  %s %s dmesg: %s", w, r, $0) }
	END {
		split("vmm qemu-off vmm-vhost qemu-on", who, " ")
		split("cpu guest vcpu other vhost tap_rx tap_tx tap_rx_drop tap_tx_drop t", keys, " ")
		for (k = 1; k <= 4; k++) {
			w = who[k]
			for (r = 1; r <= maxr; r++) {
				if (ntcp[w, r] != 2 || nsnap[w, r] != 4) continue
				for (j in keys) { q = keys[j]; s[q] = d[w, r, "tcp-g2h", q] + d[w, r, "tcp-h2g", q] }
				gb = (s["tap_rx"] + s["tap_tx"]) / 1e9
				if (gb <= 0) gb = bytes[w, r] / 1e9 # user-mode networking: no tap, so the bytes iperf3 moved
				if (gb <= 0) continue
				# CPU per GB: the VMM process (all its threads, guest time included in user time) plus
				# the vhost kernel thread, over the bytes that crossed the tap in the same windows.
				met[w, r, "cpu_gb"] = (s["cpu"] + s["vhost"]) / 100 / gb
				met[w, r, "own_gb"] = (s["cpu"] - s["guest"] + s["vhost"]) / 100 / gb
				met[w, r, "vcpu_gb"] = s["vcpu"] / 100 / gb
				met[w, r, "guest_gb"] = s["guest"] / 100 / gb
				# other threads: the process total less the vCPU thread (threads that ended, such as
				# io_uring io-wq workers, stay in the total but leave /proc/PID/task)
				met[w, r, "other_gb"] = (s["cpu"] - s["vcpu"]) / 100 / gb
				met[w, r, "vhost_gb"] = s["vhost"] / 100 / gb
				met[w, r, "tap_ratio"] = (s["tap_rx"] + s["tap_tx"]) / bytes[w, r]
				met[w, r, "tap_tx_drop"] = s["tap_tx_drop"]
				met[w, r, "tap_rx_drop"] = s["tap_rx_drop"]
				# busy: % of one CPU in each TCP window
				for (j = 1; j <= 2; j++) {
					t = j == 1 ? "tcp-g2h" : "tcp-h2g"; dt = d[w, r, t, "t"]
					if (dt <= 0) continue
					met[w, r, t "_vcpu"] = d[w, r, t, "vcpu"] / dt
					met[w, r, t "_other"] = (d[w, r, t, "cpu"] - d[w, r, t, "vcpu"]) / dt
					met[w, r, t "_vhost"] = d[w, r, t, "vhost"] / dt
					met[w, r, t "_win"] = dt
				}
			}
		}
		printf "Network benchmark, %s: %s; guest kernel %s; QEMU -M %s with virtio-net-pci on a tap\n", date, machine, kver, qm
		printf "conditions: %s\nguest: %s\n", info, ginfo
		printf "boots: vmm %d, QEMU vhost=off %d, vmm vhost=on %d, QEMU vhost=on %d (failed: %d, %d, %d, %d); tap tx_queue_len vmm %s, QEMU %s\n\n", \
			runs["vmm"], runs["qemu-off"], runs["vmm-vhost"], runs["qemu-on"], bad["vmm"], bad["qemu-off"], bad["vmm-vhost"], \
			bad["qemu-on"], txq["vmm"], txq["qemu-off"]
		nm = 6
		split("tcp-g2h tcp-h2g udp_pps udp_loss cpu_gb own_gb", ms, " ")
		label["tcp-g2h"] = "guest -> host TCP (Mbit/s)"
		label["tcp-h2g"] = "host -> guest TCP (Mbit/s)"
		label["udp_pps"] = "guest -> host UDP, 64 B, received (packets/s)"
		label["udp_loss"] = "UDP 64 B loss (% of sent)"
		label["cpu_gb"] = "VMM process CPU per GB over TCP, user+sys (CPU s/GB)"
		label["own_gb"] = "the same without guest time (CPU s/GB)"
		fmt["tcp-g2h"] = "%.1f"; fmt["tcp-h2g"] = "%.1f"; fmt["udp_pps"] = "%.0f"; fmt["udp_loss"] = "%.1f"; fmt["cpu_gb"] = "%.1f"; fmt["own_gb"] = "%.1f"
		printf "| metric, median (min-max) | vmm | QEMU vhost=off | vmm/QEMU(off) | vmm vhost=on | QEMU vhost=on | vmm/QEMU(on) |\n"
		printf "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
		for (k = 1; k <= nm; k++) {
			m = ms[k]; a = med("vmm", m); b = med("qemu-off", m); v = med("vmm-vhost", m); c = med("qemu-on", m)
			printf "| %s | %s%s | %s%s | %s | %s | %s | %s |\n", label[m], f(a, fmt[m]), rng("vmm", m, fmt[m]), \
				f(b, fmt[m]), rng("qemu-off", m, fmt[m]), ratio(a, b), \
				runs["vmm-vhost"] ? f(v, fmt[m]) rng("vmm-vhost", m, fmt[m]) : "not run", \
				runs["qemu-on"] ? f(c, fmt[m]) rng("qemu-on", m, fmt[m]) : "not run", ratio(v, c)
		}
		printf "\nUDP 64 B sent by the guest (packets/s): vmm %s, QEMU vhost=off %s, vmm vhost=on %s, QEMU vhost=on %s\n", \
			f(med("vmm", "udp_sent_pps"), "%.0f"), f(med("qemu-off", "udp_sent_pps"), "%.0f"), \
			f(med("vmm-vhost", "udp_sent_pps"), "%.0f"), f(med("qemu-on", "udp_sent_pps"), "%.0f")
		printf "CPU per GB over TCP by where it went (CPU s/GB: vCPU thread incl. guest time [of it guest time] / other threads of the process / vhost kernel thread):"
		for (k = 1; k <= 4; k++) {
			w = who[k]; if (!runs[w]) continue
			printf "%s %s %s [%s] / %s / %s", (k > 1 ? ";" : ""), w, f(med(w, "vcpu_gb"), "%.1f"), f(med(w, "guest_gb"), "%.1f"), \
				f(med(w, "other_gb"), "%.1f"), f(med(w, "vhost_gb"), "%.1f")
		}
		printf "\nbusy during the TCP tests (%% of one CPU, guest -> host | host -> guest: vCPU thread / other threads / vhost):"
		for (k = 1; k <= 4; k++) {
			w = who[k]; if (!runs[w]) continue
			printf "%s %s %s/%s/%s | %s/%s/%s", (k > 1 ? ";" : ""), w, \
				f(med(w, "tcp-g2h_vcpu"), "%.0f"), f(med(w, "tcp-g2h_other"), "%.0f"), f(med(w, "tcp-g2h_vhost"), "%.0f"), \
				f(med(w, "tcp-h2g_vcpu"), "%.0f"), f(med(w, "tcp-h2g_other"), "%.0f"), f(med(w, "tcp-h2g_vhost"), "%.0f")
		}
		printf "\nmeasuring windows (s, guest -> host | host -> guest, incl. 2 s of guest idle and iperf3 set-up): vmm %s | %s, QEMU vhost=off %s | %s, vhost=on %s | %s\n", \
			f(med("vmm", "tcp-g2h_win"), "%.1f"), f(med("vmm", "tcp-h2g_win"), "%.1f"), f(med("qemu-off", "tcp-g2h_win"), "%.1f"), \
			f(med("qemu-off", "tcp-h2g_win"), "%.1f"), f(med("qemu-on", "tcp-g2h_win"), "%.1f"), f(med("qemu-on", "tcp-h2g_win"), "%.1f")
		printf "tap bytes in the TCP windows (both directions) per iperf3 byte: vmm %s, QEMU vhost=off %s, vhost=on %s; frames the tap dropped on the way to the guest (tx_dropped) vmm %s, QEMU vhost=off %s, vhost=on %s\n", \
			f(med("vmm", "tap_ratio"), "%.3f"), f(med("qemu-off", "tap_ratio"), "%.3f"), f(med("qemu-on", "tap_ratio"), "%.3f"), \
			f(med("vmm", "tap_tx_drop"), "%d"), f(med("qemu-off", "tap_tx_drop"), "%d"), f(med("qemu-on", "tap_tx_drop"), "%d")
		printf "TCP retransmits counted by the sender (median): guest -> host vmm %s, QEMU vhost=off %s, vmm vhost=on %s, QEMU vhost=on %s; host -> guest vmm %s, QEMU vhost=off %s, vmm vhost=on %s, QEMU vhost=on %s\n", \
			f(med("vmm", "tcp-g2h_retr"), "%d"), f(med("qemu-off", "tcp-g2h_retr"), "%d"), f(med("vmm-vhost", "tcp-g2h_retr"), "%d"), \
			f(med("qemu-on", "tcp-g2h_retr"), "%d"), f(med("vmm", "tcp-h2g_retr"), "%d"), f(med("qemu-off", "tcp-h2g_retr"), "%d"), \
			f(med("vmm-vhost", "tcp-h2g_retr"), "%d"), f(med("qemu-on", "tcp-h2g_retr"), "%d")
		printf "guest eth0 counters per boot (packets; drop and error counters that are not 0):%s\n", gst
		printf "threads of the VMM process at the snapshots (most): vmm %d, QEMU vhost=off %d, vhost=on %d; of them io_uring io-wq workers (iou-wrk) %d, %d, %d\n", \
			maxtasks["vmm"], maxtasks["qemu-off"], maxtasks["qemu-on"], maxiw["vmm"], maxiw["qemu-off"], maxiw["qemu-on"]
		printf "peak RSS (MiB): vmm %s, QEMU vhost=off %s, vmm vhost=on %s, QEMU vhost=on %s\n", f(rss["vmm"] / 1024, "%.0f"), \
			f(rss["qemu-off"] / 1024, "%.0f"), runs["vmm-vhost"] ? f(rss["vmm-vhost"] / 1024, "%.0f") : "n/a", \
			runs["qemu-on"] ? f(rss["qemu-on"] / 1024, "%.0f") : "n/a"
		if (fails) printf "failures reported: %d (see the log)\n", fails
	}' | relabel
