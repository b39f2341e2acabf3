#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# vsock benchmark: throughput of vmm's virtio-vsock (hybrid vsock over unix sockets) between a host
# program and the test guest, both ends tests/guest/vsock.c (vmm-vsock): host -> guest -> host echo
# through CONNECT (each byte crosses twice, both directions at once) and guest -> host one way.
# There is no QEMU counterpart with the same host side (QEMU's vhost-vsock ends in the host
# kernel's AF_VSOCK, not a unix socket), so this prints our figures only; bench/README.md says how
# they stand against published ones. Runs directly where /dev/kvm runs stock kernels, else in the
# nested test host.
# usage: bench/vsock/run.sh [BUILD_DIR]   (default build/plain; needs vmm, tests/vmm-vsock, guest/)
# env:   BENCH_MIB=N  MiB per transfer (default 256)   BENCH_ROUNDS=N  boots (default 3)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
B=${1:-$SRC/build/plain}
MIB=${BENCH_MIB:-256}
ROUNDS=${BENCH_ROUNDS:-3}
die() { echo "bench-vsock: ERROR: $*" >&2; exit 1; }
for f in "$B/vmm" "$B/tests/vmm-vsock" "$B/guest/vmlinuz" "$B/guest/initramfs.gz"; do
	[ -s "$f" ] || die "missing $f (build with cmake, then: bash tests/guest/build-assets.sh $B/guest)"
done
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/extra" "$W/guest"
cp "$B/vmm" "$W/vmm"
cp -r "$B/guest/vmlinuz" "$B/guest/initramfs.gz" "$B/guest/modules" "$W/guest/"
install -m 0755 "$B/tests/vmm-vsock" "$HERE/run-inside.sh" "$W/extra/"
LOG=$W/bench.log
case $(bash "$SRC/scripts/kvm-mode.sh") in
direct)
	VMM="$W/vmm" VV="$W/extra/vmm-vsock" KERNEL="$W/guest/vmlinuz" INITRD="$W/guest/initramfs.gz" MIB=$MIB \
		ROUNDS=$ROUNDS TMPDIR=$W sh "$W/extra/run-inside.sh" | tee "$LOG" >&2
	MACHINE="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, direct /dev/kvm"
	;;
*)
	printf 'MIB=%s ROUNDS=%s sh /extra/run-inside.sh\n' "$MIB" "$ROUNDS" >"$W/extra/run.sh"
	VMM_EXTRA_PROGRAMS=$([ -x "$B/tests/kvm-keeper" ] && echo "$B/tests/kvm-keeper") VMM_HOST_EXTRA=$W/extra \
		bash "$SRC/tests/host/build-host.sh" "$W/host.cpio" "$W/vmm" "$W/guest" || die "cannot build the test host image"
	timeout 3000 bash "$SRC/tests/host/qemu-host.sh" "$W/guest/vmlinuz" "$W/host.cpio" script \
		-serial "file:$LOG" </dev/null || echo "bench-vsock: the test host exited with status $?" >&2
	MACHINE="nested test host (QEMU TCG, EPYC+svm, kvm-amd)"
	;;
esac
tr -d '\r' <"$LOG" | grep -aq '^@@VSOCK-DONE' || { tr -d '\r' <"$LOG" | tail -n 30 >&2; die "the benchmark did not finish"; }
tr -d '\r' <"$LOG" | awk -v machine="$MACHINE" -v mib="$MIB" '
	function kv(  i, p) { delete x; for (i = 2; i <= NF; i++) { split($i, p, "="); x[p[1]] = p[2] } }
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return n == 0 ? -1 : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
	}
	/^@@VSOCK round=/ {
		kv(); n++
		if (x["status"] == "0" && x["echo_s"] > 0 && x["echo_bytes"] == mib * 1048576) e[++ne] = x["echo_bytes"] / x["echo_s"] / 1048576
		if (x["status"] == "0" && x["g2h_s"] > 0) g[++ng] = x["g2h_bytes"] / x["g2h_s"] / 1048576
		printf "round %d: echo %s MiB in %s s, guest -> host %s MiB in %s s, status %s %s\n", n, mib, x["echo_s"], mib, x["g2h_s"], x["status"], x["result"]
	}
	END {
		printf "\nvsock benchmark: %s; %s MiB per transfer, %d boots\n\n", machine, mib, n
		printf "| transfer | median MiB/s | runs |\n| --- | ---: | ---: |\n"
		printf "| host -> guest -> host echo (each direction) | %.1f | %d |\n", median(e, ne), ne
		printf "| guest -> host | %.1f | %d |\n", median(g, ng), ng
	}'
