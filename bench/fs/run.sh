#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shared-folder benchmark: in the guest, fio and a metadata-heavy job (untar a source-like tree,
# find, du, rm) on a virtio-fs share served by the same QEMU C virtiofsd, our vmm (--fs) against
# QEMU (microvm with PCIe, vhost-user-fs-pci, a shared memfd RAM backend); same guest (Debian's
# cloud kernel, the test initramfs with fio and the tree appended), 1 vCPU, 512 MiB; alternating
# rounds; prints a Markdown table of medians (min-max).
# Where this machine's /dev/kvm runs stock kernels (VMX/SVM) the runs happen here (as root:
# Debian's C virtiofsd needs it); otherwise inside one boot of the nested test host.
# usage: bench/fs/run.sh [BUILD_DIR]      (default build/plain; needs BUILD_DIR/vmm and
#        BUILD_DIR/guest/{vmlinuz,initramfs.gz,modules/}: cmake, then tests/guest/build-assets.sh)
# env:   BENCH_RUNTIME=S  seconds per fio job (default 10)      BENCH_ROUNDS=N  boots per VMM (5)
#        BENCH_BIG_MB=N   the file fio reads (default 256)      BENCH_LOG=F     keep the raw log
#        QEMU_MACHINE     QEMU's -M                              BENCH_ONLY=JOB,... those jobs alone
#        (jobs: seqread-1m randread-4k seqwrite-1m untar find du rm; find, du and rm need untar)
#        BENCH_VMM_ARGS='...' more vmm options (e.g. '--stats --timeout 400': where a hung guest was)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
SRC=$(cd "$HERE/../.." && pwd)
B=${1:-$SRC/build/plain}
RUNTIME=${BENCH_RUNTIME:-10}
ROUNDS=${BENCH_ROUNDS:-5}
BIG_MB=${BENCH_BIG_MB:-256}
QEMU_MACHINE=${QEMU_MACHINE:-microvm,rtc=on,pcie=on}
ONLY=${BENCH_ONLY:-}
VMM_ARGS=${BENCH_VMM_ARGS:-}
case $VMM_ARGS in *[!a-z0-9=,\ -]*) echo "bench-fs: BENCH_VMM_ARGS takes plain options" >&2; exit 1 ;; esac
case $ONLY in *[!a-z0-9,-]*) echo "bench-fs: BENCH_ONLY takes job names and commas" >&2; exit 1 ;; esac
say() { echo "bench-fs: $*" >&2; }
die() { echo "bench-fs: ERROR: $*" >&2; exit 1; }

for f in "$B/vmm" "$B/guest/vmlinuz" "$B/guest/initramfs.gz" "$B/guest/modules/virtiofs.ko"; do
	[ -s "$f" ] || die "missing $f (build with cmake, then: bash tests/guest/build-assets.sh $B/guest)"
done
bench_need qemu-system-x86_64 qemu-system-x86
bench_need fio fio
bench_need cpio cpio
QEMU=$(command -v qemu-system-x86_64)
FIO=$(command -v fio)
VFSD=/usr/lib/qemu/virtiofsd
[ -x "$VFSD" ] || die "no $VFSD (Debian: qemu-system-common)"

bench_workdir "$B"
cc -std=c11 -O2 -static -Wall -Wextra -Werror -o "$W/extra/bootwatch" "$SRC/bench/boot/bootwatch.c"
install -m 0755 "$HERE/run-inside.sh" "$W/extra/run-inside.sh"

# The tree the guest unpacks: 20 folders of 50 text files each, 1 to 8 KiB (about 4.5 MiB, like a
# small source tree), the same every run.
mkdir -p "$W/tree"
awk -v root="$W/tree" 'BEGIN {
	srand(1)
	for (d = 0; d < 20; d++) {
		system("mkdir -p " root "/dir" d)
		for (f = 0; f < 50; f++) {
			name = root "/dir" d "/file" f ".c"
			n = 16 + int(rand() * 112)
			for (l = 0; l < n; l++) printf "static int line_%d_%d_%d = %d; /* filler text */\n", d, f, l, l * 7 >name
			close(name)
		}
	}
}'
tar -cf "$W/bench-tree.tar" -C "$W/tree" .
rm -rf "$W/tree"
# The bench initramfs: the test initramfs, then an archive with fio, its libraries and
# /bench-fs.sh, then one with /bench-tree.tar (the kernel unpacks concatenated archives in order).
bench_initramfs "$B/guest/initramfs.gz" "$FIO" "$HERE/bench-fs.sh" "$W/extra/bench-initramfs.gz"
(cd "$W" && echo bench-tree.tar | cpio -o -H newc --owner=0:0 --reproducible --quiet) | gzip -1n >>"$W/extra/bench-initramfs.gz"
rm -f "$W/bench-tree.tar"
say "bench initramfs: $(($(stat -c %s "$W/extra/bench-initramfs.gz") / 1024)) KiB ($("$FIO" --version))"

bench_qemu_firmware "$W/extra/fw"

LOG=${BENCH_LOG:-$W/bench.log}
mode=$(bash "$SRC/scripts/kvm-mode.sh")
say "mode $mode, guest kernel $KVER, ${RUNTIME}s per fio job, $ROUNDS round(s), ${BIG_MB} MiB file"
case $mode in
direct)
	[ "$(id -u)" = 0 ] || die "Debian's C virtiofsd runs as root only: run this as root"
	DIR=/dev/shm
	[ -d /dev/shm ] && [ -w /dev/shm ] || DIR=$W
	VMM=$W/vmm KERNEL=$W/guest/vmlinuz INITRD=$W/extra/bench-initramfs.gz BOOTWATCH=$W/extra/bootwatch \
		VFSD=$VFSD FW=$W/extra/fw QEMU=$QEMU QEMU_MACHINE=$QEMU_MACHINE DIR=$DIR BIG_MB=$BIG_MB RUNTIME=$RUNTIME \
		ROUNDS=$ROUNDS TMPDIR=$W ONLY=$ONLY VMM_ARGS=$VMM_ARGS \
		sh "$W/extra/run-inside.sh" | tee "$LOG" | grep --line-buffered -E '^@@FSB' >&2 || true
	MACHINE="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, $(uname -r), direct /dev/kvm"
	;;
nested | none)
	printf "QEMU_MACHINE=%s BIG_MB=%s RUNTIME=%s ROUNDS=%s ONLY=%s VMM_ARGS='%s' sh /extra/run-inside.sh\n" \
		"$QEMU_MACHINE" "$BIG_MB" "$RUNTIME" "$ROUNDS" "$ONLY" "$VMM_ARGS" >"$W/extra/run.sh"
	# build-host.sh puts Debian's virtiofsd at /vmm/virtiofsd; run-inside.sh wants it in /extra.
	cp "$VFSD" "$W/extra/virtiofsd"
	bench_nested "$B" "$LOG" "$((2 * ROUNDS * (3 * (RUNTIME + 1) + 60) / 60 + 1))" 5400 'HOST|FSB|SCRIPT' "$QEMU"
	;;
*) die "no usable /dev/kvm here (kvm-mode: $mode)" ;;
esac

tr -d '\r' <"$LOG" | grep -aq '^@@FSB-DONE' || { tr -d '\r' <"$LOG" | tail -n 40 >&2; die "the benchmark did not finish (log above)"; }

# The table: per job the median (min-max) over rounds.
tr -d '\r' <"$LOG" | awk -v date="$(date -u +%Y-%m-%d)" -v qm="$QEMU_MACHINE" -v machine="$MACHINE" -v kver="$KVER" '
	function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
	function stat(w, j, key, scale, fmt,   i, a, m, c) {
		c = 0
		for (i = 1; i <= n[w, j]; i++) if ((w, j, key, i) in val) a[++c] = val[w, j, key, i] / scale
		if (c == 0) { med[w] = -1; return "n/a" }
		sort(a, c)
		m = c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
		med[w] = m
		return sprintf(fmt " (" fmt "-" fmt ")", m, a[1], a[c])
	}
	/^@@FSB-INFO kernel=/ { sub(/^@@FSB-INFO /, ""); info = $0 }
	/^@@FSB-GUEST vmm / { sub(/^@@FSB-GUEST vmm /, ""); ginfo = $0 }
	/^@@FSB (vmm|qemu) round=/ {
		w = $2; j = $4; n[w, j]++
		for (i = 5; i <= NF; i++) { split($i, p, "="); val[w, j, p[1], n[w, j]] = p[2] }
	}
	/^@@FSB-RUN (vmm|qemu) / {
		w = $2; delete kv
		for (i = 4; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
		runs[w]++; cpu[w] += kv["user_ms"] + kv["sys_ms"]; rss[w] = kv["rss_kib"]
	}
	# run-inside.sh judged the boot (its status, and every job it was asked for reported).
	/^@@FSB-FAIL (vmm|qemu) round=[0-9]+: console tail follows/ { bad[$2]++ }
	END {
		split("seqread-1m randread-4k seqwrite-1m untar find du rm", jobs, " ")
		label["seqread-1m"] = "fio sequential read, 1M (MiB/s)"; key["seqread-1m"] = "bw_kib"; sc["seqread-1m"] = 1024; hi["seqread-1m"] = 1
		label["randread-4k"] = "fio random read, 4k QD1 (IOPS)"; key["randread-4k"] = "iops"; sc["randread-4k"] = 1; hi["randread-4k"] = 1
		label["seqwrite-1m"] = "fio sequential write, 1M (MiB/s)"; key["seqwrite-1m"] = "bw_kib"; sc["seqwrite-1m"] = 1024; hi["seqwrite-1m"] = 1
		label["untar"] = "untar 1000 files, 4.5 MiB (s)"; label["find"] = "find over the tree (s)"
		label["du"] = "du -s of the tree (s)"; label["rm"] = "rm -rf of the tree (s)"
		printf "Shared-folder benchmark, %s: %s; guest kernel %s; QEMU -M %s with vhost-user-fs-pci; QEMU C virtiofsd -o cache=none for both\n", date, machine, kver, qm
		printf "conditions: %s\nguest: %s\nboots: vmm %d, QEMU %d (failed: %d, %d)\n\n", info, ginfo, runs["vmm"], runs["qemu"], bad["vmm"] + 0, bad["qemu"] + 0
		printf "| job, median (min-max) | vmm | QEMU | vmm/QEMU (higher is better) |\n| --- | ---: | ---: | ---: |\n"
		for (k = 1; k <= 7; k++) {
			j = jobs[k]
			if (j in key) { a = stat("vmm", j, key[j], sc[j], "%.1f"); b = stat("qemu", j, key[j], sc[j], "%.1f") }
			else { a = stat("vmm", j, "ms", 1000, "%.2f"); b = stat("qemu", j, "ms", 1000, "%.2f") }
			va = med["vmm"]; vb = med["qemu"]
			r = (va <= 0 || vb <= 0) ? "n/a" : sprintf("%.2f", (j in hi) ? va / vb : vb / va)
			printf "| %s | %s | %s | %s |\n", label[j], a, b, r
		}
		printf "\nCPU time of the VMM process per boot, user+sys (s, mean; boot and all jobs): vmm %s, QEMU %s; peak RSS vmm %s, QEMU %s MiB\n", \
			runs["vmm"] ? sprintf("%.1f", cpu["vmm"] / runs["vmm"] / 1000) : "n/a", runs["qemu"] ? sprintf("%.1f", cpu["qemu"] / runs["qemu"] / 1000) : "n/a", \
			rss["vmm"] ? sprintf("%.0f", rss["vmm"] / 1024) : "n/a", rss["qemu"] ? sprintf("%.0f", rss["qemu"] / 1024) : "n/a"
	}'
