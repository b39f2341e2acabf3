#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boot benchmark: our vmm against QEMU microvm, same guest (Debian's cloud kernel, the busybox test
# initramfs, vmmtest=poweroff), 1 vCPU, 512 MiB; prints a Markdown table of medians.
# Where this machine's /dev/kvm runs stock kernels (VMX/SVM) the runs happen here; otherwise (PVM)
# inside one boot of the nested test host (tests/host/, QEMU with software SVM).
# usage: bench/boot/run.sh [BUILD_DIR]      (default build/plain; needs BUILD_DIR/vmm and
#        BUILD_DIR/guest/{vmlinuz,initramfs.gz,modules/}: ./setup-and-boot.sh or
#        tests/guest/build-assets.sh)
# env:   BENCH_RUNS=N  counted runs per VMM (default 10; one warm-up run each comes on top)
#        BENCH_LOG=F   keep the raw log (the test host's console, or the direct runs' output) in F
#        QEMU_MACHINE  QEMU's -M (default microvm,rtc=on; see run-inside.sh)
#        BENCH_MODE=timeline  the guests print their dmesg instead, and timeline-report.awk compares
#                      them phase by phase (bench/boot/timeline.sh sets it); TIMELINE_STRACE=1 adds
#                      one run per VMM under strace (slow: minutes in the nested test host)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
SRC=$(cd "$HERE/../.." && pwd)
B=${1:-$SRC/build/plain}
RUNS=${BENCH_RUNS:-10}
QEMU_MACHINE=${QEMU_MACHINE:-microvm,rtc=on}
MODE=${BENCH_MODE:-boot}
STRACE=${TIMELINE_STRACE:-0}
say() { echo "bench: $*" >&2; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }

for f in "$B/vmm" "$B/guest/vmlinuz" "$B/guest/initramfs.gz" "$B/guest/modules/kvm-amd.ko"; do
	[ -s "$f" ] || die "missing $f (build with cmake, then: bash tests/guest/build-assets.sh $B/guest)"
done
bench_need_qemu

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# Others may rebuild the tree while we run: work on copies.
cp "$B/vmm" "$W/vmm"
mkdir -p "$W/guest" "$W/extra/fw"
cp -r "$B/guest/vmlinuz" "$B/guest/initramfs.gz" "$B/guest/modules" "$W/guest/"
KVER=$(cat "$B/guest/kernel-version" 2>/dev/null || echo unknown)
cp "$B/guest/kernel-version" "$W/guest/" 2>/dev/null || true
cc -std=c11 -O2 -static -Wall -Wextra -Werror -o "$W/extra/bootwatch" "$HERE/bootwatch.c"
install -m 0755 "$HERE/run-inside.sh" "$W/extra/run-inside.sh"

bench_qemu_firmware "$W/extra/fw"

LOG=${BENCH_LOG:-$W/bench.log}
mode=$(bash "$SRC/scripts/kvm-mode.sh")
say "mode $mode, $RUNS runs each (+1 warm-up), guest kernel $KVER"
case $mode in
direct)
	STRACE=$STRACE MODE=$MODE VMM=$W/vmm GUEST=$W/guest BOOTWATCH=$W/extra/bootwatch FW=$W/extra/fw QEMU=$QEMU QEMU_MACHINE=$QEMU_MACHINE \
		RUNS=$RUNS TMPDIR=$W \
		sh "$W/extra/run-inside.sh" | tee "$LOG" | grep --line-buffered -E '^@@BENCH' >&2 || true
	MACHINE="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, $(uname -r), direct /dev/kvm"
	;;
nested | none)
	cp "$B/guest/kernel-version" "$W/extra/kernel-version" 2>/dev/null || true
	printf 'STRACE=%s MODE=%s RUNS=%s QEMU_MACHINE=%s GUEST_KVER_FILE=/extra/kernel-version sh /extra/run-inside.sh\n' \
		"$STRACE" "$MODE" "$RUNS" "$QEMU_MACHINE" >"$W/extra/run.sh"
	bins=$QEMU
	if [ "$STRACE" = 1 ] && command -v strace >/dev/null; then bins="$bins $(command -v strace)"; fi
	# The idle VM that keeps KVM static keys on: without it the nested host can freeze (tests/host/kvm-keeper.c).
	VMM_EXTRA_PROGRAMS=$([ -x "$B/tests/kvm-keeper" ] && echo "$B/tests/kvm-keeper") \
	VMM_HOST_EXTRA=$W/extra VMM_HOST_BINS=$bins \
		bash "$SRC/tests/host/build-host.sh" "$W/host.cpio" "$W/vmm" "$W/guest" || die "cannot build the test host image"
	say "booting the nested test host (a few minutes)"
	: >"$LOG"
	timeout 3000 bash "$SRC/tests/host/qemu-host.sh" "$W/guest/vmlinuz" "$W/host.cpio" script \
		-serial "file:$LOG" </dev/null || say "the test host exited with status $?"
	tr -d '\r' <"$LOG" | grep -aE '^@@(HOST|BENCH|SCRIPT|STRACE)' >&2 || true
	host=$(tr -d '\r' <"$LOG" | sed -n 's/^@@HOST-READY \([^ ]*\).*cpus=\([0-9]*\).*/\1, \2 vCPUs/p' | head -1)
	MACHINE="nested test host (QEMU $("$QEMU" --version | sed -n '1s/.*version \([^ ]*\).*/\1/p') TCG, EPYC+svm, ${host:-?}, kvm-amd)"
	;;
*) die "no usable /dev/kvm here (kvm-mode: $mode)" ;;
esac

tr -d '\r' <"$LOG" | grep -aq '^@@BENCH-DONE' || { tr -d '\r' <"$LOG" | tail -n 40 >&2; die "the benchmark did not finish (log above)"; }

if [ "$MODE" = timeline ]; then
	tr -d '\r' <"$LOG" | awk -v date="$(date -u +%Y-%m-%d)" -v machine="$MACHINE" -v kver="$KVER" -v qm="$QEMU_MACHINE" \
		-f "$HERE/timeline-report.awk"
	exit 0
fi
# The table: medians over the counted runs that exited 0 with the guest's PASS line.
tr -d '\r' <"$LOG" | awk -v date="$(date -u +%Y-%m-%d)" -v qm="$QEMU_MACHINE" -v machine="$MACHINE" -v kver="$KVER" -v runs="$RUNS" '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		if (n == 0) return -1
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function f(v, fmt) { return v < 0 ? "n/a" : sprintf(fmt, v) }
	function ratio(a, b) { return (a < 0 || b <= 0) ? "n/a" : sprintf("%.2f", a / b) }
	/^@@BENCH (vmm|qemu) / {
		w = $2; run = $3; sub(/^run=/, "", run)
		if (run == "warmup") next
		ok = 1; delete kv
		for (i = 4; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
		if (kv["status"] != "0" || kv["pass"] != "1" || kv["result_ms"] < 0) { bad[w]++; next }
		n[w]++; res[w, n[w]] = kv["result_ms"]; ex[w, n[w]] = kv["exit_ms"]; rss[w, n[w]] = kv["rss_kib"] / 1024
		cpu[w, n[w]] = kv["user_ms"] + kv["sys_ms"]
		if (kv["guest_up_s"] ~ /^[0-9.]+$/) { nu[w]++; up[w, nu[w]] = kv["guest_up_s"] }
	}
	/^@@BENCH-INFO (vmm|qemu) --version: / {
		w = $2; for (i = 4; i <= NF; i++) { split($i, p, "="); if (p[1] == "exit_ms") { nv[w]++; ver[w, nv[w]] = p[2] } }
	}
	END {
		for (k = 1; k <= 2; k++) {
			w = k == 1 ? "vmm" : "qemu"
			for (i = 1; i <= n[w]; i++) { a[i] = res[w, i] } r[w] = median(a, n[w]); delete a
			for (i = 1; i <= n[w]; i++) { a[i] = ex[w, i] } e[w] = median(a, n[w]); delete a
			for (i = 1; i <= n[w]; i++) { a[i] = rss[w, i] } m[w] = median(a, n[w]); delete a
			for (i = 1; i <= nu[w]; i++) { a[i] = up[w, i] } u[w] = median(a, nu[w]); delete a
			for (i = 1; i <= n[w]; i++) { a[i] = cpu[w, i] } c[w] = median(a, n[w]); delete a
			for (i = 1; i <= nv[w]; i++) { a[i] = ver[w, i] } v[w] = median(a, nv[w]); delete a
		}
		printf "Boot benchmark, %s: %s; guest kernel %s; QEMU -M %s; runs counted: vmm %d, QEMU %d (failed: %d, %d)\n\n", \
			date, machine, kver, qm, n["vmm"], n["qemu"], bad["vmm"], bad["qemu"]
		printf "| | vmm | QEMU microvm | ratio |\n| --- | ---: | ---: | ---: |\n"
		printf "| start -> result line (ms, median of %d) | %s | %s | %s |\n", runs, f(r["vmm"], "%.0f"), f(r["qemu"], "%.0f"), ratio(r["vmm"], r["qemu"])
		printf "| start -> exit (ms, median of %d) | %s | %s | %s |\n", runs, f(e["vmm"], "%.0f"), f(e["qemu"], "%.0f"), ratio(e["vmm"], e["qemu"])
		printf "| peak RSS (MiB, median) | %s | %s | %s |\n", f(m["vmm"], "%.1f"), f(m["qemu"], "%.1f"), ratio(m["vmm"], m["qemu"])
		printf "\nratio = vmm / QEMU (below 1: vmm is faster or smaller)\n"
		printf "guest uptime when its test starts (s, median): vmm %s, QEMU %s\n", f(u["vmm"], "%.2f"), f(u["qemu"], "%.2f")
		printf "CPU time of the VMM process, user+sys (ms, median): vmm %s, QEMU %s\n", f(c["vmm"], "%.0f"), f(c["qemu"], "%.0f")
		printf "start -> exit of \"--version\" alone (ms, median): vmm %s, QEMU %s\n", f(v["vmm"], "%.1f"), f(v["qemu"], "%.1f")
	}'
