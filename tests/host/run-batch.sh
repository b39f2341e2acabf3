#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run a batch of cases that need KVM and leave one result per case:
#   RESULTS/CASE/result   "PASS", "SKIP <why>" or "FAIL <why>"
#   RESULTS/CASE/log      the case's script output, vmm's stderr and the guest console
# Two kinds of case, and where each runs (scripts/kvm-mode.sh tells the mode):
#   NAME                      a Linux-guest case (tests/integration/cases/linux.sh): directly where this
#                             machine's /dev/kvm runs stock kernels (mode direct), else in the test host
#   direct.* api.* unit.*     a payload, API or unit case (tests/host/payload-case.sh): CTest runs it
#                             itself where this machine has a usable /dev/kvm (VMX/SVM or PVM), so it is
#                             left out here; in the test host where there is none (mode none)
# Every case that runs in the test host runs in ONE boot of it (QEMU software SVM).
# VMM_ARCH=arm64: VMM, the programs and GUEST_DIR are arm64 (VMM_ARCH=arm64 tests/guest/build-assets.sh);
# on a machine of another architecture every case runs in the arm64 test host (QEMU TCG aarch64 with
# the virtualization extensions, tests/host/qemu-host.sh), on an arm64 machine with /dev/kvm directly.
# usage: run-batch.sh VMM GUEST_DIR RESULTS CASE...     exit 0 when every case has a result
# env: VMM_EXTRA_PROGRAMS  programs and files (space-separated paths) the cases find next to vmm
#      (embed, the API test programs, payload.elf, ...)
#      VMM_ARCH            x86_64 (default) or arm64
set -uo pipefail
[ $# -ge 4 ] || { echo "usage: $0 VMM GUEST_DIR RESULTS CASE..." >&2; exit 2; }
VMM=$(realpath "$1") G=$(realpath "$2") RESULTS=$3
shift 3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
RESULTS=$(realpath "$RESULTS")
if [ "${VMM_ARCH:-x86_64}" = arm64 ]; then
	# The wrong binary or guest folder would fail every case in a long boot: say so at once.
	m=$(LC_ALL=C readelf -h "$VMM" 2>/dev/null | sed -n 's/^ *Machine: *//p')
	[ "$m" = AArch64 ] || { echo "run-batch: VMM_ARCH=arm64, but $VMM is not an AArch64 program (${m:-not ELF})"; exit 1; }
	[ "$(cat "$G/arch" 2>/dev/null)" = arm64 ] || { echo "run-batch: $G holds no arm64 guest assets (VMM_ARCH=arm64 tests/guest/build-assets.sh $G)"; exit 1; }
	QEMU=qemu-system-aarch64
else
	QEMU=qemu-system-x86_64
fi
mode=$(bash "$SRC/scripts/kvm-mode.sh")
here=() host=() ctest=()
for c in "$@"; do
	case $c in
	direct.* | api.* | unit.*) if [ "$mode" = none ]; then host+=("$c"); else ctest+=("$c"); fi ;;
	*) if [ "$mode" = direct ]; then here+=("$c"); else host+=("$c"); fi ;;
	esac
done
echo "run-batch: ${#@} case(s), mode $mode: ${#here[@]} run here, ${#host[@]} in the nested test host, ${#ctest[@]} by CTest itself on this /dev/kvm"

if [ ${#here[@]} -gt 0 ]; then
	# The cases find the VMM_EXTRA_PROGRAMS next to vmm, as in the test host's /vmm/: link them together.
	if [ -n "${VMM_EXTRA_PROGRAMS:-}" ]; then
		mkdir -p "$RESULTS/bin"
		ln -sf "$VMM" "$RESULTS/bin/vmm"
		for p in $VMM_EXTRA_PROGRAMS; do ln -sf "$(realpath "$p")" "$RESULTS/bin/$(basename "$p")"; done
		VMM=$RESULTS/bin/vmm
	fi
	for c in "${here[@]}"; do
		out=$RESULTS/$c
		mkdir -p "$out"
		start=$(date +%s)
		sh "$SRC/tests/integration/cases/linux.sh" "$c" "$VMM" "$G" "$out/run" >"$out/script.log" 2>&1
		{ cat "$out/script.log"; for f in stderr.log console.log; do echo "--- $f"; cat "$out/run/$f" 2>/dev/null; done; } >"$out/log"
		cp "$out/run/result" "$out/result" 2>/dev/null || echo "FAIL the case script wrote no result" >"$out/result"
		echo "run-batch: $c: $(cat "$out/result") ($(( $(date +%s) - start )) s)"
	done
fi
[ ${#host[@]} -gt 0 ] || exit 0

# Nested: one test-host boot runs the whole batch; its console carries the results. The emulated
# test host itself is not perfectly stable (QEMU's software SVM; seen: a kernel panic in the test
# host's scheduler): when it dies, the cases it did not finish run again in a fresh boot, at most
# three boots in all, and the crash is reported.
HOSTLOG=$RESULTS/host-console.log
: >"$HOSTLOG"
# split LOG: per-case logs and results out of one test-host console log.
split() {
	awk -v dir="$RESULTS" '
		{ sub(/\r$/, "") }
		/^@@CASE-BEGIN / { c = $2; f = dir "/" c "/log"; system("mkdir -p \"" dir "/" c "\""); printf "" > f; next }
		/^@@CASE-END / { r = $0; sub(/^@@CASE-END [^ ]+ /, "", r); print r > (dir "/" $2 "/result"); close(dir "/" $2 "/result"); close(f); c = ""; next }
		/^@@CASE-TIME / { print $3 > (dir "/" $2 "/time"); close(dir "/" $2 "/time"); next }
		/^@@FILE / { if (c != "") print "--- " $2 > f; next }
		{ if (c != "") print > f }
	' "$1"
}
todo=("${host[@]}")
for boot in 1 2 3; do
	CPIO=$RESULTS/host.cpio
	bash "$HERE/build-host.sh" "$CPIO" "$VMM" "$G" "${todo[@]}" || { echo "run-batch: cannot build the test host image"; exit 1; }
	start=$(date +%s)
	log=$RESULTS/boot$boot.log
	: >"$log"
	timeout 1500 bash "$HERE/qemu-host.sh" "$G/vmlinuz" "$CPIO" batch -serial "file:$log" </dev/null &
	qpid=$!
	# The test host prints a heartbeat every 30 s: silence for STALL_S means it hangs (seen: the
	# emulated SVM starving the host's threads); kill it and rerun the unfinished cases.
	last=$(date +%s) size=0 stalled=0
	while kill -0 $qpid 2>/dev/null; do
		sleep 5
		now_size=$(stat -c %s "$log" 2>/dev/null || echo 0)
		if [ "$now_size" != "$size" ]; then size=$now_size last=$(date +%s); fi
		if [ $(( $(date +%s) - last )) -ge "${STALL_S:-150}" ]; then
			echo "run-batch: the test host printed nothing for ${STALL_S:-150} s: it hangs; killing it"
			stalled=1
			pkill -P $qpid 2>/dev/null
			kill $qpid 2>/dev/null
			pkill -f "$QEMU.*$CPIO" 2>/dev/null
			break
		fi
	done
	wait $qpid
	qrc=$?
	rm -f "$CPIO"
	echo "run-batch: test host boot $boot ran ${#todo[@]} case(s) in $(( $(date +%s) - start )) s (QEMU exit status $qrc)"
	cat "$RESULTS/boot$boot.log" >>"$HOSTLOG"
	grep -a '^@@HOST' "$RESULTS/boot$boot.log" | tr -d '\r'
	split "$RESULTS/boot$boot.log"
	left=()
	for c in "${todo[@]}"; do [ -s "$RESULTS/$c/result" ] || left+=("$c"); done
	[ ${#left[@]} -eq 0 ] && break
	echo "run-batch: the test host stopped before finishing ${left[*]}; its console ended with:"
	tail -n 30 "$RESULTS/boot$boot.log" | tr -d '\r'
	if grep -aq '^@@HOST-ERROR' "$RESULTS/boot$boot.log" && [ $stalled = 0 ]; then break; fi
	todo=("${left[@]}")
done
missing=0
for c in "${host[@]}"; do
	if [ ! -s "$RESULTS/$c/result" ]; then
		mkdir -p "$RESULTS/$c"
		echo "FAIL no result from the test host (it stopped early: see $HOSTLOG)" >"$RESULTS/$c/result"
		missing=1
	fi
	t=$(cat "$RESULTS/$c/time" 2>/dev/null)
	echo "run-batch: $c: $(cat "$RESULTS/$c/result")${t:+ ($t s)}"
done
exit $missing
