#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Snapshot benchmark (issue 12): vmm's restore of a booted guest (vmm --restore) against a cold boot of
# the same guest to the same point, and against QEMU's restore of the same guest (migrate to a file,
# -incoming); 256 MiB and 2 GiB of guest RAM. Prints a Markdown table (median, min-max) and the goals
# of issue 12, met or not (report.awk). See bench/README.md, section "Snapshot".
# Where this machine's /dev/kvm runs stock kernels (VMX/SVM) the runs happen here; otherwise (PVM, or
# no /dev/kvm) inside one boot of the nested test host (tests/host/, QEMU with software SVM).
# usage: bench/snapshot/run.sh [BUILD_DIR]    (default build/plain; needs BUILD_DIR/vmm and
#        BUILD_DIR/guest/{vmlinuz,initramfs.gz,modules/}: tests/guest/build-assets.sh)
# env:   BENCH_RUNS=N   counted rounds (default 10; one warm-up run per config comes on top)
#        BENCH_LOG=F    keep the raw log (the test host's console, or the direct runs' output) in F
#        BENCH_REPORT=F print the tables again from such a log, without running anything
#        QEMU_MACHINE   QEMU's -M (default microvm,rtc=on, as in bench/boot)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
SRC=$(cd "$HERE/../.." && pwd)
B=${1:-$SRC/build/plain}
RUNS=${BENCH_RUNS:-10}
QEMU_MACHINE=${QEMU_MACHINE:-microvm,rtc=on}
say() { echo "bench: $*" >&2; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }

# report LOG MACHINE KVER: the tables from a raw log.
report() {
	tr -d '\r' <"$1" | awk -v date="$(date -u +%Y-%m-%d)" -v machine="$2" -v kver="$3" -v qm="$QEMU_MACHINE" \
		-f "$HERE/../boot/stats.awk" -f "$HERE/report.awk"
}
if [ -n "${BENCH_REPORT:-}" ]; then
	[ -s "$BENCH_REPORT" ] || die "no log $BENCH_REPORT"
	host=$(tr -d '\r' <"$BENCH_REPORT" | sed -n 's/^@@HOST-READY \([^ ]*\).*cpus=\([0-9]*\).*/\1, \2 vCPUs/p' | head -1)
	kver=$(tr -d '\r' <"$BENCH_REPORT" | sed -n 's/^@@SNAP-INFO kernel=.* guest=\(.*\)/\1/p' | head -1)
	report "$BENCH_REPORT" "${host:+nested test host ($host)}" "${kver:-unknown}"
	exit 0
fi

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS: a number of rounds"
for f in "$B/vmm" "$B/guest/vmlinuz" "$B/guest/initramfs.gz" "$B/guest/modules/kvm-amd.ko"; do
	[ -s "$f" ] || die "missing $f (build with cmake, then: bash tests/guest/build-assets.sh $B/guest)"
done
bench_need_qemu

bench_workdir "$B"
cc -std=c11 -O2 -static -Wall -Wextra -Werror -o "$W/extra/snapwatch" "$HERE/snapwatch.c"
install -m 0755 "$HERE/run-inside.sh" "$W/extra/run-inside.sh"
bench_qemu_firmware "$W/extra/fw"

LOG=${BENCH_LOG:-$W/bench.log}
mode=$(bash "$SRC/scripts/kvm-mode.sh")
say "mode $mode, $RUNS rounds of vmm restore (256 MiB, 2 GiB), QEMU restore (256 MiB, 2 GiB), vmm and QEMU cold boot (+ warm-ups), guest kernel $KVER"
case $mode in
direct)
	VMM=$W/vmm GUEST=$W/guest SNAPWATCH=$W/extra/snapwatch FW=$W/extra/fw QEMU=$QEMU QEMU_MACHINE=$QEMU_MACHINE \
		RUNS=$RUNS TMPDIR=$W sh "$W/extra/run-inside.sh" | tee "$LOG" | grep --line-buffered -E '^@@SNAP' >&2 || true
	MACHINE="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, $(uname -r), direct /dev/kvm"
	;;
nested | none)
	cp "$B/guest/kernel-version" "$W/extra/kernel-version" 2>/dev/null || true
	printf 'RUNS=%s QEMU_MACHINE=%s GUEST_KVER_FILE=/extra/kernel-version sh /extra/run-inside.sh\n' \
		"$RUNS" "$QEMU_MACHINE" >"$W/extra/run.sh"
	# The idle VM that keeps KVM static keys on: without it the nested host can freeze (tests/host/kvm-keeper.c).
	VMM_EXTRA_PROGRAMS=$([ -x "$B/tests/kvm-keeper" ] && echo "$B/tests/kvm-keeper") \
	VMM_HOST_EXTRA=$W/extra VMM_HOST_BINS=$QEMU \
		bash "$SRC/tests/host/build-host.sh" "$W/host.cpio" "$W/vmm" "$W/guest" || die "cannot build the test host image"
	# Saving takes four boots; a round six runs of 1 to 10 s: a minute per run is the budget.
	limit=$((900 + 6 * (RUNS + 1) * 60))
	say "booting the nested test host (several minutes; at most $limit s)"
	: >"$LOG"
	timeout "$limit" bash "$SRC/tests/host/qemu-host.sh" "$W/guest/vmlinuz" "$W/host.cpio" script \
		-serial "file:$LOG" </dev/null || say "the test host exited with status $?"
	tr -d '\r' <"$LOG" | grep -aE '^@@(HOST|SNAP|SCRIPT)' | grep -v '^@@SNAP ' >&2 || true
	host=$(tr -d '\r' <"$LOG" | sed -n 's/^@@HOST-READY \([^ ]*\).*cpus=\([0-9]*\).*/\1, \2 vCPUs/p' | head -1)
	MACHINE="nested test host (QEMU $("$QEMU" --version | sed -n '1s/.*version \([^ ]*\).*/\1/p') TCG, EPYC+svm, ${host:-?}, kvm-amd)"
	;;
*) die "no usable /dev/kvm here (kvm-mode: $mode)" ;;
esac

tr -d '\r' <"$LOG" | grep -aq '^@@SNAP-DONE' || { tr -d '\r' <"$LOG" | tail -n 40 >&2; die "the benchmark did not finish (log above)"; }
report "$LOG" "$MACHINE" "$KVER"
