#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Console benchmark: guest console throughput (the test guest's vmmtest=console-flood, `seq 1 N`
# written raw to /dev/ttyS0 or /dev/hvc0, checked byte for byte on the host) and the time of a
# verbose boot (no quiet, loglevel=8) with the console on ttyS0 or on hvc0, our vmm against QEMU
# (microvm with PCIe: UART at 0x3f8, virtio-serial-pci + virtconsole), same guest (Debian's cloud
# kernel, the busybox test initramfs), 1 vCPU, 256 MiB; prints Markdown tables of medians.
# Where this machine's /dev/kvm runs stock kernels (VMX/SVM) the runs happen here; otherwise (PVM,
# or no /dev/kvm) inside one boot of the nested test host (tests/host/, QEMU with software SVM).
# usage: bench/console/run.sh [BUILD_DIR]   (default build/plain; needs BUILD_DIR/vmm and
#        BUILD_DIR/guest/{vmlinuz,initramfs.gz,modules/}: cmake, then tests/guest/build-assets.sh)
# env:   BENCH_RUNS=N      rounds (default 5); each round runs every configuration once per VMM
#        BENCH_LINES=N     the hvc0 flood is `seq 1 N` (default 2700000: 20.5 MB; 200000 = 1.3 MB to try)
#        BENCH_SERIAL_LINES=N  the ttyS0 flood's N (default BENCH_LINES where the runs happen directly;
#                          270000, 2.0 MB, in the nested test host, where a UART moves a few kB/s)
#        BENCH_FLOOD_LIMIT=S  seconds a flood run may take (default 300 + N/250: at least 2 kB/s)
#        BENCH_WHAT="flood boot"  which halves to run
#        BENCH_LOG=F       keep the raw log (the test host's console, or the direct runs' output) in F
#        BENCH_REPORT=F    run nothing: print the tables from F, a raw log kept with BENCH_LOG
#        QEMU_MACHINE      QEMU's -M (default microvm,rtc=on,pcie=on; see run-inside.sh and README)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
SRC=$(cd "$HERE/../.." && pwd)
B=${1:-$SRC/build/plain}
RUNS=${BENCH_RUNS:-5}
LINES=${BENCH_LINES:-2700000}
FLOOD_LIMIT=${BENCH_FLOOD_LIMIT:-}
WHAT=${BENCH_WHAT:-flood boot}
QEMU_MACHINE=${QEMU_MACHINE:-microvm,rtc=on,pcie=on}
say() { echo "bench-console: $*" >&2; }
die() { echo "bench-console: ERROR: $*" >&2; exit 1; }

# run_all: the runs, here or in the nested test host; sets LOG and MACHINE.
run_all() {
	local f mode W QEMU host SERIAL_LINES sl hl
	for f in "$B/vmm" "$B/guest/vmlinuz" "$B/guest/initramfs.gz" "$B/guest/modules/kvm-amd.ko"; do
		[ -s "$f" ] || die "missing $f (build with cmake, then: bash tests/guest/build-assets.sh $B/guest)"
	done
	bench_need_qemu

	bench_workdir "$B"
	cc -std=c11 -O2 -static -Wall -Wextra -Werror -o "$W/extra/bootwatch" "$SRC/bench/boot/bootwatch.c"
	install -m 0755 "$HERE/run-inside.sh" "$W/extra/run-inside.sh"
	bench_qemu_firmware "$W/extra/fw"
	"$W/vmm" --help 2>&1 | grep -q -- '--hvc' || say "this vmm has no --hvc option: its hvc0 runs are skipped"

	LOG=${BENCH_LOG:-$W/bench.log}
	mode=$(bash "$SRC/scripts/kvm-mode.sh")
	if [ "$mode" = direct ]; then SERIAL_LINES=${BENCH_SERIAL_LINES:-$LINES}; else SERIAL_LINES=${BENCH_SERIAL_LINES:-270000}; fi
	say "mode $mode, $RUNS round(s), floods of $SERIAL_LINES lines (ttyS0) and $LINES lines (hvc0), guest kernel $KVER"
	case $mode in
	direct)
		VMM=$W/vmm GUEST=$W/guest BOOTWATCH=$W/extra/bootwatch FW=$W/extra/fw QEMU=$QEMU QEMU_MACHINE=$QEMU_MACHINE \
			RUNS=$RUNS LINES=$LINES SERIAL_LINES=$SERIAL_LINES FLOOD_LIMIT=$FLOOD_LIMIT WHAT=$WHAT TMPDIR=$W \
			sh "$W/extra/run-inside.sh" | tee "$LOG" | grep --line-buffered -E '^@@CON' >&2 || true
		MACHINE="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, $(uname -r), direct /dev/kvm"
		;;
	nested | none)
		cp "$B/guest/kernel-version" "$W/extra/kernel-version" 2>/dev/null || true
		printf 'RUNS=%s LINES=%s SERIAL_LINES=%s FLOOD_LIMIT=%s WHAT="%s" QEMU_MACHINE=%s GUEST_KVER_FILE=/extra/kernel-version sh /extra/run-inside.sh\n' \
			"$RUNS" "$LINES" "$SERIAL_LINES" "$FLOOD_LIMIT" "$WHAT" "$QEMU_MACHINE" >"$W/extra/run.sh"
		# The idle VM that keeps KVM static keys on: without it the nested host can freeze (tests/host/kvm-keeper.c).
		VMM_EXTRA_PROGRAMS=$([ -x "$B/tests/kvm-keeper" ] && echo "$B/tests/kvm-keeper") \
		VMM_HOST_EXTRA=$W/extra VMM_HOST_BINS=$QEMU \
			bash "$SRC/tests/host/build-host.sh" "$W/host.cpio" "$W/vmm" "$W/guest" || die "cannot build the test host image"
		say "booting the nested test host"
		: >"$LOG"
		# A ceiling, not an estimate: every flood run at its limit, every boot at 300 s.
		sl=${FLOOD_LIMIT:-$((300 + SERIAL_LINES / 250))} hl=${FLOOD_LIMIT:-$((300 + LINES / 250))}
		timeout $((1200 + RUNS * (2 * (sl + 60) + 2 * (hl + 60) + 4 * 300))) \
			bash "$SRC/tests/host/qemu-host.sh" "$W/guest/vmlinuz" "$W/host.cpio" script \
			-serial "file:$LOG" </dev/null || say "the test host exited with status $?"
		tr -d '\r' <"$LOG" | grep -aE '^@@(HOST|CON|SCRIPT)' >&2 || true
		host=$(tr -d '\r' <"$LOG" | sed -n 's/^@@HOST-READY \([^ ]*\).*cpus=\([0-9]*\).*/\1, \2 vCPUs/p' | head -1)
		MACHINE="nested test host (QEMU $("$QEMU" --version | sed -n '1s/.*version \([^ ]*\).*/\1/p') TCG, EPYC+svm, ${host:-?}, kvm-amd)"
		;;
	*) die "no usable /dev/kvm here (kvm-mode: $mode)" ;;
	esac
}

if [ -n "${BENCH_REPORT:-}" ]; then
	[ -s "$BENCH_REPORT" ] || die "BENCH_REPORT=$BENCH_REPORT: no such log"
	LOG=$BENCH_REPORT
	host=$(tr -d '\r' <"$LOG" | sed -n 's/^@@HOST-READY \([^ ]*\).*cpus=\([0-9]*\).*/\1, \2 vCPUs/p' | head -1)
	MACHINE="the runs logged in $LOG ($([ -n "$host" ] && echo "nested test host, $host" || echo "direct /dev/kvm"))"
	KVER=$(tr -d '\r' <"$LOG" | sed -n 's/^@@CON-INFO kernel=.* guest=//p' | head -1)
else
	run_all
fi
tr -d '\r' <"$LOG" | grep -aq '^@@CON-DONE' || { tr -d '\r' <"$LOG" | tail -n 40 >&2; die "the benchmark did not finish (log above)"; }

# The tables: medians (min-max) over the counted runs that exited 0 with the guest's PASS line (and,
# for the flood, all its bytes intact).
tr -d '\r' <"$LOG" | awk -v date="$(date -u +%Y-%m-%d)" -v machine="$MACHINE" -v kver="$KVER" '
	function sort(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	}
	# stat KEY FIELD: "median (min-max)" of the values v[KEY, FIELD, 1..n[KEY]]; sets med.
	function stat(k, f, fmt,   a, i, m) {
		m = n[k]; med = -1
		if (m == 0) return "n/a"
		for (i = 1; i <= m; i++) a[i] = v[k, f, i]
		sort(a, m)
		med = m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
		if (m == 1) return sprintf(fmt, med)
		return sprintf(fmt " (" fmt "-" fmt ")", med, a[1], a[m])
	}
	function ratio(a, b) { return (a < 0 || b <= 0) ? "n/a" : sprintf("%.2f", a / b) }
	function counts(k) {
		s = sprintf("%d", n[k] + 0)
		if (corrupt[k]) s = s sprintf(", **%d corrupt**", corrupt[k])
		if (crlf[k]) s = s sprintf(", **%d with \\r\\n for \\n** (the guest tty was not raw)", crlf[k])
		if (failed[k]) s = s sprintf(", %d failed", failed[k])
		if (skipped[k]) s = s ", not run"
		return s
	}
	/^@@CON-INFO qemu=/ { qm = $NF; sub(/^machine=/, "", qm); sub(/^@@CON-INFO qemu=/, ""); sub(/ machine=.*/, ""); qver = $0 }
	/^@@CON-INFO runs=/ { runs = $2; sub(/^runs=/, "", runs) }
	/^@@CON-INFO vmm=/ { sub(/^@@CON-INFO vmm=/, ""); sub(/ hvc=.*/, ""); vver = $0 }
	/^@@CON-INFO flood=/ {
		delete kv
		for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
		fl[kv["flood"]] = kv["lines"]; fb[kv["flood"]] = kv["bytes"]
	}
	/^@@CON-SKIP vmm hvc0/ { skipped["flood hvc0 vmm"] = skipped["boot hvc0 vmm"] = 1 }
	/^@@CON (flood|boot) / {
		k = $2 " " $3 " " $4; run = $5; sub(/^run=/, "", run)
		if (run == "warmup") next
		delete kv
		for (i = 6; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
		if (kv["status"] != "0" || kv["pass"] != "1") { failed[k]++; next }
		if ($2 == "flood" && kv["intact"] == "crlf") { crlf[k]++; next }
		if ($2 == "flood" && kv["intact"] != "1") { corrupt[k]++; next }
		m = ++n[k]
		v[k, "exit_s", m] = kv["exit_ms"] / 1000
		v[k, "cpu_s", m] = (kv["user_ms"] + kv["sys_ms"]) / 1000
		v[k, "rss", m] = kv["rss_kib"] / 1024
		v[k, "con_kib", m] = kv["con_bytes"] / 1024
		v[k, "con_lines", m] = kv["con_lines"]
		v[k, "kbps", m] = kv["secs"] > 0 ? kv["bytes"] / kv["secs"] / 1e3 : -1
		v[k, "secs", m] = kv["secs"]
		v[k, "gap", m] = kv["maxgap"]
	}
	END {
		printf "Console benchmark, %s: %s; guest kernel %s; vmm: %s; QEMU: %s, -M %s; %d round(s)\n\n", \
			date, machine, kver, vver, qver, qm, runs
		printf "Flood: `seq 1 N` written raw to the console device (ttyS0: N = %d, %.2f MB; hvc0: N = %d, %.2f MB), 1 vCPU, 256 MiB; kB = 1000 bytes, MB = 10^6.\n\n", \
			fl["ttyS0"], fb["ttyS0"] / 1e6, fl["hvc0"], fb["hvc0"] / 1e6
		printf "| flood | rate (kB/s) | write time in the guest (s) | start -> exit (s) | VMM CPU, user+sys (s) | longest guest stall (s) | runs counted |\n"
		printf "| --- | ---: | ---: | ---: | ---: | ---: | --- |\n"
		split("ttyS0 vmm|hvc0 vmm|ttyS0 qemu|hvc0 qemu", cf, "|")
		split("vmm, ttyS0 (UART)|vmm, hvc0 (virtio-console)|QEMU, ttyS0 (UART)|QEMU, hvc0 (virtconsole)", cn, "|")
		for (c = 1; c <= 4; c++) {
			k = "flood " cf[c]
			r = stat(k, "kbps", "%.1f"); rate[cf[c]] = med
			printf "| %s | %s | %s | %s | %s | %s | %s |\n", cn[c], r, stat(k, "secs", "%.1f"), stat(k, "exit_s", "%.1f"), \
				stat(k, "cpu_s", "%.1f"), stat(k, "gap", "%.2f"), counts(k)
		}
		printf "\nRatios of the median rates (goal in brackets):\n\n"
		printf "- vmm ttyS0 / QEMU ttyS0: %s (>= 2)\n", ratio(rate["ttyS0 vmm"], rate["ttyS0 qemu"])
		printf "- vmm hvc0 / vmm ttyS0: %s (>= 10)\n", ratio(rate["hvc0 vmm"], rate["ttyS0 vmm"])
		printf "- vmm hvc0 / QEMU hvc0: %s\n", ratio(rate["hvc0 vmm"], rate["hvc0 qemu"])
		printf "- QEMU hvc0 / QEMU ttyS0: %s\n", ratio(rate["hvc0 qemu"], rate["ttyS0 qemu"])
		printf "\nVerbose boot: vmmtest=poweroff without quiet, loglevel=8; start -> exit of the VMM process.\n\n"
		printf "| boot | start -> exit (s) | VMM CPU, user+sys (s) | console output (KiB) | console lines | runs counted |\n"
		printf "| --- | ---: | ---: | ---: | ---: | --- |\n"
		for (c = 1; c <= 4; c++) {
			k = "boot " cf[c]
			r = stat(k, "exit_s", "%.2f"); bt[cf[c]] = med
			printf "| %s | %s | %s | %s | %s | %s |\n", cn[c], r, stat(k, "cpu_s", "%.2f"), stat(k, "con_kib", "%.1f"), \
				stat(k, "con_lines", "%d"), counts(k)
		}
		printf "\nRatios of the median boot times: vmm/QEMU on ttyS0 %s, on hvc0 %s; hvc0/ttyS0 under vmm %s, under QEMU %s\n", \
			ratio(bt["ttyS0 vmm"], bt["ttyS0 qemu"]), ratio(bt["hvc0 vmm"], bt["hvc0 qemu"]), \
			ratio(bt["hvc0 vmm"], bt["ttyS0 vmm"]), ratio(bt["hvc0 qemu"], bt["ttyS0 qemu"])
	}'
