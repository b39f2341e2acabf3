#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Disk benchmark: fio in the guest on a virtio-blk disk, our vmm against QEMU (microvm with PCIe,
# virtio-blk-pci, aio=io_uring), same guest (Debian's cloud kernel, the test initramfs with fio
# appended), 1 vCPU, 512 MiB, a raw image on tmpfs; prints a Markdown table.
# Where this machine's /dev/kvm runs stock kernels (VMX/SVM) the runs happen here; otherwise (PVM)
# inside one boot of the nested test host (tests/host/, QEMU with software SVM).
# usage: bench/blk/run.sh [BUILD_DIR]      (default build/plain; needs BUILD_DIR/vmm and
#        BUILD_DIR/guest/{vmlinuz,initramfs.gz,modules/}: cmake, then tests/guest/build-assets.sh)
# env:   BENCH_RUNTIME=S  seconds per fio job (default 10)      BENCH_ROUNDS=N  boots per VMM (2)
#        BENCH_IMG_MB=N   image size in MiB (default 512)       BENCH_LOG=F     keep the raw log
#        BENCH_CACHE=auto|direct|writeback   host caching for both (auto: O_DIRECT when the image's
#                         file system takes it)              QEMU_MACHINE   QEMU's -M
#        BENCH_REPORT=F   print the table again from the raw log F of an earlier run (no boots)
#        BENCH_IO_THREADS=N  no QEMU: vmm --io-threads N against vmm with one I/O thread, 2 vCPUs,
#                         two disks (image and copy) with every job on both at once (default image
#                         size 256 MiB then)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
SRC=$(cd "$HERE/../.." && pwd)
B=${1:-$SRC/build/plain}
RUNTIME=${BENCH_RUNTIME:-10}
ROUNDS=${BENCH_ROUNDS:-2}
IOT=${BENCH_IO_THREADS:-0}
case $IOT in [0-8]) ;; *) echo "bench-blk: BENCH_IO_THREADS is 1 to 8, not '$IOT'" >&2; exit 1 ;; esac
if [ "$IOT" = 0 ]; then IMG_MB=${BENCH_IMG_MB:-512}; else IMG_MB=${BENCH_IMG_MB:-256}; fi
CACHE=${BENCH_CACHE:-auto}
QEMU_MACHINE=${QEMU_MACHINE:-microvm,rtc=on,pcie=on}
say() { echo "bench-blk: $*" >&2; }
die() { echo "bench-blk: ERROR: $*" >&2; exit 1; }

if [ -n "${BENCH_REPORT:-}" ]; then
	# Only the tables again, from the raw log of an earlier run (BENCH_LOG).
	LOG=$BENCH_REPORT
	MACHINE="(see the raw log $BENCH_REPORT)"
	KVER="(see the raw log)"
else
	for f in "$B/vmm" "$B/guest/vmlinuz" "$B/guest/initramfs.gz" "$B/guest/modules/kvm-amd.ko"; do
		[ -s "$f" ] || die "missing $f (build with cmake, then: bash tests/guest/build-assets.sh $B/guest)"
	done
	bench_need qemu-system-x86_64 qemu-system-x86
	bench_need fio fio
	bench_need cpio cpio
	QEMU=$(command -v qemu-system-x86_64)
	FIO=$(command -v fio)

	bench_workdir "$B"
	cc -std=c11 -O2 -static -Wall -Wextra -Werror -o "$W/extra/bootwatch" "$SRC/bench/boot/bootwatch.c"
	install -m 0755 "$HERE/run-inside.sh" "$W/extra/run-inside.sh"

	# The bench initramfs: the test initramfs, then a second archive with fio, its libraries and
	# /bench-fio.sh (the kernel unpacks concatenated archives in order).
	bench_initramfs "$B/guest/initramfs.gz" "$FIO" "$HERE/bench-fio.sh" "$W/extra/bench-initramfs.gz"
	say "bench initramfs: $(($(stat -c %s "$W/extra/bench-initramfs.gz") / 1024)) KiB ($("$FIO" --version))"

	bench_qemu_firmware "$W/extra/fw"

	LOG=${BENCH_LOG:-$W/bench.log}
	mode=$(bash "$SRC/scripts/kvm-mode.sh")
	say "mode $mode, guest kernel $KVER, ${RUNTIME}s per job, $ROUNDS round(s), ${IMG_MB} MiB image"
	case $mode in
	direct)
		IMG_DIR=/dev/shm
		[ -d /dev/shm ] && [ -w /dev/shm ] || IMG_DIR=$W
		VMM=$W/vmm KERNEL=$W/guest/vmlinuz INITRD=$W/extra/bench-initramfs.gz BOOTWATCH=$W/extra/bootwatch \
			FW=$W/extra/fw QEMU=$QEMU QEMU_MACHINE=$QEMU_MACHINE IMG_DIR=$IMG_DIR IMG_MB=$IMG_MB RUNTIME=$RUNTIME \
			ROUNDS=$ROUNDS CACHE=$CACHE IOT=$IOT TMPDIR=$W \
			sh "$W/extra/run-inside.sh" | tee "$LOG" | grep --line-buffered -E '^@@BLK' >&2 || true
		MACHINE="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, $(uname -r), direct /dev/kvm"
		;;
	nested | none)
		printf 'QEMU_MACHINE=%s IMG_MB=%s RUNTIME=%s ROUNDS=%s CACHE=%s IOT=%s sh /extra/run-inside.sh\n' \
			"$QEMU_MACHINE" "$IMG_MB" "$RUNTIME" "$ROUNDS" "$CACHE" "$IOT" >"$W/extra/run.sh"
		bench_nested "$B" "$LOG" "$((2 * ROUNDS * (6 * (RUNTIME + 1) + 30) / 60 + 1))" 3000 'HOST|BLK|SCRIPT' "$QEMU"
		;;
	*) die "no usable /dev/kvm here (kvm-mode: $mode)" ;;
	esac
fi

tr -d '\r' <"$LOG" | grep -aq '^@@BLK-DONE' || { tr -d '\r' <"$LOG" | tail -n 40 >&2; die "the benchmark did not finish (log above)"; }

# The table: per job the median over rounds (IOPS for 4k jobs, MiB/s for 1M jobs).
# With BENCH_IO_THREADS the second column is vmm with N I/O threads ("vmmio"), not QEMU.
B2=qemu B2NAME=QEMU
if tr -d '\r' <"$LOG" | grep -aq '^@@BLK-RUN vmmio '; then
	B2=vmmio B2NAME="vmm, $(tr -d '\r' <"$LOG" | sed -n 's/^@@BLK-INFO kernel=.* io_threads=\([0-9]*\).*/\1/p' | head -1) I/O threads"
fi
tr -d '\r' <"$LOG" | awk -v date="$(date -u +%Y-%m-%d)" -v qm="$QEMU_MACHINE" -v machine="$MACHINE" -v kver="$KVER" \
	-v q="$B2" -v qname="$B2NAME" '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		if (n == 0) return -1
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function f(v, fmt) { return v < 0 ? "n/a" : sprintf(fmt, v) }
	function ratio(a, b) { return (a < 0 || b <= 0) ? "n/a" : sprintf("%.2f", a / b) }
	function get(w, j, key,   i, a) { for (i = 1; i <= n[w, j]; i++) a[i] = val[w, j, key, i]; return median(a, n[w, j]) }
	# rng(W, J, KEY, DIV, FMT): " (min-max)" of KEY over the rounds (each divided by DIV), two or more of them
	function rng(w, j, key, div, fm,   i, v, lo, hi) {
		if (n[w, j] < 2) return ""
		for (i = 1; i <= n[w, j]; i++) { v = val[w, j, key, i] / div; if (i == 1 || v < lo) lo = v; if (i == 1 || v > hi) hi = v }
		return sprintf(" (" fm "-" fm ")", lo, hi)
	}
	/^@@BLK-INFO kernel=/ { sub(/^@@BLK-INFO /, ""); info = $0 }
	/^@@BLK-GUEST vmm / { sub(/^@@BLK-GUEST vmm /, ""); ginfo = $0 }
	/^@@BLK (vmm|qemu|vmmio) round=/ {
		w = $2; j = $4; n[w, j]++
		for (i = 5; i <= NF; i++) { split($i, p, "="); val[w, j, p[1], n[w, j]] = p[2] }
	}
	/^@@BLK-RUN (vmm|qemu|vmmio) / {
		w = $2; delete kv
		for (i = 4; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
		runs[w]++; cpu[w] += kv["user_ms"] + kv["sys_ms"]; wall[w] += kv["exit_ms"]; rss[w] = kv["rss_kib"]
		if (kv["status"] != "0" || kv["ok"] != "6") bad[w]++
	}
	END {
		split("randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd1 randwrite-4k-qd32 read-1m-qd8 write-1m-qd8", jobs, " ")
		label["randread-4k-qd1"] = "4k random read, QD1 (IOPS)"
		label["randread-4k-qd32"] = "4k random read, QD32 (IOPS)"
		label["randwrite-4k-qd1"] = "4k random write, QD1 (IOPS)"
		label["randwrite-4k-qd32"] = "4k random write, QD32 (IOPS)"
		label["read-1m-qd8"] = "1M sequential read, QD8 (MiB/s)"
		label["write-1m-qd8"] = "1M sequential write, QD8 (MiB/s)"
		printf "Disk benchmark, %s: %s; guest kernel %s; QEMU -M %s with virtio-blk-pci, aio=io_uring\n", date, machine, kver, qm
		printf "conditions: %s\nguest: %s\nboots: vmm %d, %s %d (failed: %d, %d)\n\n", info, ginfo, runs["vmm"], qname, runs[q], bad["vmm"], bad[q]
		if (q == "qemu") printf "| job, median (min-max) | vmm | QEMU | vmm/QEMU |\n| --- | ---: | ---: | ---: |\n"
		else printf "| job (both disks at once), median (min-max) | vmm, 1 I/O thread | %s | ratio |\n| --- | ---: | ---: | ---: |\n", qname
		for (k = 1; k <= 6; k++) {
			j = jobs[k]
			if (j ~ /-1m-/) { key = "bw_kib"; div = 1024; fmt = "%.1f" } else { key = "iops"; div = 1; fmt = "%.0f" }
			a = get("vmm", j, key); b = get(q, j, key); if (a >= 0) a /= div; if (b >= 0) b /= div
			printf "| %s | %s%s | %s%s | %s |\n", label[j], f(a, fmt), rng("vmm", j, key, div, fmt), f(b, fmt), rng(q, j, key, div, fmt), q == "qemu" ? ratio(a, b) : ratio(b, a)
		}
		printf "\nmean latency per I/O (us): "
		for (k = 1; k <= 6; k++) {
			j = jobs[k]
			printf "%s%s vmm %s / %s %s", (k > 1 ? "; " : ""), j, f(get("vmm", j, "lat_us"), "%.0f"), qname, f(get(q, j, "lat_us"), "%.0f")
		}
		printf "\nCPU time of the VMM process per boot, user+sys (s, mean; boot and all jobs): vmm %s, %s %s (wall %s, %s s); peak RSS vmm %s, %s %s MiB\n", \
			runs["vmm"] ? sprintf("%.1f", cpu["vmm"] / runs["vmm"] / 1000) : "n/a", qname, runs[q] ? sprintf("%.1f", cpu[q] / runs[q] / 1000) : "n/a", \
			runs["vmm"] ? sprintf("%.0f", wall["vmm"] / runs["vmm"] / 1000) : "n/a", runs[q] ? sprintf("%.0f", wall[q] / runs[q] / 1000) : "n/a", \
			f(rss["vmm"] / 1024, "%.0f"), qname, f(rss[q] / 1024, "%.0f")
	}'
