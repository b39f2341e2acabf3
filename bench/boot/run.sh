#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boot benchmark: our vmm against QEMU microvm and QEMU q35, same guest (Debian's cloud kernel, the
# busybox test initramfs, vmmtest=poweroff), 512 MiB, for 1 and 2 vCPUs and the kernel as bzImage
# (vmlinuz) and as ELF vmlinux (PVH entry); prints per config a Markdown table (median, min-max)
# and the goals of issue 10, met or not (boot-report.awk).
# Where this machine's /dev/kvm runs stock kernels (VMX/SVM) the runs happen here; otherwise (PVM)
# inside one boot of the nested test host (tests/host/, QEMU with software SVM).
# usage: bench/boot/run.sh [BUILD_DIR]      (default build/plain; needs BUILD_DIR/vmm and
#        BUILD_DIR/guest/{vmlinuz,vmlinux,initramfs.gz,modules/}: ./setup-and-boot.sh or
#        tests/guest/build-assets.sh)
# env:   BENCH_RUNS=N  counted rounds (default 10; one warm-up run per VMM and kernel comes on top)
#        BENCH_CPUS="1 2", BENCH_KERNELS="bzImage vmlinux"  the matrix (e.g. BENCH_CPUS=1 for a quick try)
#        BENCH_LOG=F   keep the raw log (the test host's console, or the direct runs' output) in F
#        QEMU_MACHINE  QEMU's -M for the microvm column (default microvm,rtc=on; see run-inside.sh)
#        BENCH_MODE=timeline  1 vCPU, bzImage, vmm against QEMU -M QEMU_MACHINE only: the guests print
#                      their dmesg instead, and timeline-report.awk compares them phase by phase
#                      (bench/boot/timeline.sh sets it); TIMELINE_STRACE=1 adds one run per VMM under
#                      strace (slow: minutes in the nested test host)
#        BENCH_DEVICES=user|tap  every VMM also gets one virtio-blk disk and one NIC, on user-mode
#                      networking or on a tap of its own (the VMM's own memory with one disk and one
#                      NIC, issue 10's overhead goal; tap needs root where the runs happen directly)
#        VMM_ARCH=arm64  the arm64 benchmark instead: vmm against QEMU virt (bench/boot/run-arm64.sh)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# VMM_ARCH=arm64: the arm64 benchmark, vmm against QEMU virt (run-arm64.sh; BUILD_DIR default build/arm64).
if [ "${VMM_ARCH:-x86_64}" = arm64 ]; then exec bash "$HERE/run-arm64.sh" "$@"; fi
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
SRC=$(cd "$HERE/../.." && pwd)
B=${1:-$SRC/build/plain}
RUNS=${BENCH_RUNS:-10}
QEMU_MACHINE=${QEMU_MACHINE:-microvm,rtc=on}
MODE=${BENCH_MODE:-boot}
DEVICES=${BENCH_DEVICES:-}
STRACE=${TIMELINE_STRACE:-0}
read -ra words <<<"${BENCH_CPUS:-1 2}"
CPUS_LIST="${words[*]}"
read -ra words <<<"${BENCH_KERNELS:-bzImage vmlinux}"
KERNELS="${words[*]}"
say() { echo "bench: $*" >&2; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }
case $DEVICES in '' | user | tap) ;; *) die "BENCH_DEVICES: user, tap or empty, not '$DEVICES'" ;; esac

[[ $CPUS_LIST =~ ^[1-9][0-9]*( [1-9][0-9]*)*$ ]] || die "BENCH_CPUS: vCPU counts, e.g. \"1 2\""
for k in $KERNELS; do [[ $k = bzImage || $k = vmlinux ]] || die "BENCH_KERNELS: bzImage and/or vmlinux"; done
[ -n "$KERNELS" ] || die "BENCH_KERNELS is empty"
need=("$B/vmm" "$B/guest/vmlinuz" "$B/guest/initramfs.gz" "$B/guest/modules/kvm-amd.ko")
VMLINUX=0
if [ "$MODE" != timeline ] && [[ " $KERNELS " = *" vmlinux "* ]]; then VMLINUX=1 need+=("$B/guest/vmlinux"); fi
for f in "${need[@]}"; do
	[ -s "$f" ] || die "missing $f (build with cmake, then: bash tests/guest/build-assets.sh $B/guest)"
done
bench_need_qemu

bench_workdir "$B"
# The ELF kernel only when it is measured (tests/host/build-host.sh puts it into the test host then).
[ "$VMLINUX" = 1 ] && cp "$B/guest/vmlinux" "$W/guest/"
cc -std=c11 -O2 -static -Wall -Wextra -Werror -o "$W/extra/bootwatch" "$HERE/bootwatch.c"
install -m 0755 "$HERE/run-inside.sh" "$W/extra/run-inside.sh"

bench_qemu_firmware "$W/extra/fw"
# q35 also needs SeaBIOS and the kvmvapic option ROM (QEMU 7.2 opens both; no VGA BIOS with -nodefaults).
if [ "$MODE" != timeline ]; then
	for fw in bios-256k.bin kvmvapic.bin; do
		for d in /usr/share/qemu /usr/share/seabios; do
			if [ -e "$d/$fw" ]; then cp -L "$d/$fw" "$W/extra/fw/$fw"; break; fi
		done
		[ -s "$W/extra/fw/$fw" ] || say "QEMU's $fw not found: the q35 runs will fail (package seabios / qemu-system-data)"
	done
fi

LOG=${BENCH_LOG:-$W/bench.log}
mode=$(bash "$SRC/scripts/kvm-mode.sh")
if [ "$MODE" = timeline ]; then
	say "mode $mode, $RUNS runs each (+1 warm-up), guest kernel $KVER"
else
	say "mode $mode, $RUNS rounds of vCPUs {$CPUS_LIST} x kernels {$KERNELS} x vmm/microvm/q35 (+ warm-ups), guest kernel $KVER"
fi
case $mode in
direct)
	STRACE=$STRACE MODE=$MODE VMM=$W/vmm GUEST=$W/guest BOOTWATCH=$W/extra/bootwatch FW=$W/extra/fw QEMU=$QEMU QEMU_MACHINE=$QEMU_MACHINE \
		RUNS=$RUNS TMPDIR=$W CPUS_LIST=$CPUS_LIST KERNELS=$KERNELS DEVICES=$DEVICES \
		sh "$W/extra/run-inside.sh" | tee "$LOG" | grep --line-buffered -E '^@@BENCH' >&2 || true
	MACHINE="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, $(uname -r), direct /dev/kvm"
	;;
nested | none)
	cp "$B/guest/kernel-version" "$W/extra/kernel-version" 2>/dev/null || true
	printf 'STRACE=%s MODE=%s RUNS=%s QEMU_MACHINE=%s CPUS_LIST="%s" KERNELS="%s" DEVICES=%s GUEST_KVER_FILE=/extra/kernel-version sh /extra/run-inside.sh\n' \
		"$STRACE" "$MODE" "$RUNS" "$QEMU_MACHINE" "$CPUS_LIST" "$KERNELS" "$DEVICES" >"$W/extra/run.sh"
	bins=$QEMU
	if [ "$STRACE" = 1 ] && command -v strace >/dev/null; then bins="$bins $(command -v strace)"; fi
	# The idle VM that keeps KVM static keys on: without it the nested host can freeze (tests/host/kvm-keeper.c).
	VMM_EXTRA_PROGRAMS=$([ -x "$B/tests/kvm-keeper" ] && echo "$B/tests/kvm-keeper") \
	VMM_HOST_EXTRA=$W/extra VMM_HOST_BINS=$bins \
		bash "$SRC/tests/host/build-host.sh" "$W/host.cpio" "$W/vmm" "$W/guest" || die "cannot build the test host image"
	# Each boot takes 3 to 11 s in the test host; a minute per boot is the budget (3000 s at least).
	limit=3000
	if [ "$MODE" != timeline ]; then
		nk=$(wc -w <<<"$KERNELS") nc=$(wc -w <<<"$CPUS_LIST")
		limit=$((300 + nc * nk * 3 * (RUNS + 1) * 60))
		[ "$limit" -ge 3000 ] || limit=3000
	fi
	say "booting the nested test host (a few minutes; at most $limit s)"
	: >"$LOG"
	timeout "$limit" bash "$SRC/tests/host/qemu-host.sh" "$W/guest/vmlinuz" "$W/host.cpio" script \
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
		-f "$HERE/stats.awk" -f "$HERE/timeline-report.awk"
	exit 0
fi
# The tables: per config, median (min-max) over the counted runs that exited 0 with the guest's PASS line.
tr -d '\r' <"$LOG" | awk -v date="$(date -u +%Y-%m-%d)" -v qm="$QEMU_MACHINE" -v machine="$MACHINE" -v kver="$KVER" \
	-v runs="$RUNS" -v cpus="$CPUS_LIST" -v kernels="$KERNELS" -f "$HERE/stats.awk" -f "$HERE/boot-report.awk"
