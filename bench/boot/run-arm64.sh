#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boot benchmark on arm64 (issue 16): our vmm against QEMU's virt machine, same guest (Debian's arm64
# cloud kernel as an Image, the busybox test initramfs, vmmtest=poweroff, quiet), 512 MiB, 1 and 2
# vCPUs, interleaved rounds; prints per vCPU count a Markdown table (median, min-max) and the goals
# (start -> result line at most QEMU virt's, peak RSS less), met or not (boot-report-arm64.awk).
# On an arm64 machine with KVM the runs happen here, with its qemu-system-aarch64. Anywhere else
# inside one boot of the arm64 test host (tests/host/, QEMU TCG aarch64 with virtualization=on),
# where QEMU is Debian's arm64 build: qemu-system-arm:arm64 and the arm64 libraries it needs
# (QEMU_DEBS below; glibc from the guest assets' sysroot, the same as the test host's), downloaded
# with apt-get into the .deb cache of tests/guest/build-assets.sh and unpacked with dpkg-deb; its
# program and libraries go in through /extra and are moved into the test host's /usr/bin and
# /lib/aarch64-linux-gnu before the runs, so QEMU starts there as an installed program does.
# usage: bench/boot/run-arm64.sh [BUILD_DIR]    (default build/arm64; also VMM_ARCH=arm64 bench/boot/run.sh)
#        needs BUILD_DIR/vmm (arm64: cmake -S . -B build/arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
#        && cmake --build build/arm64 --target vmm) and BUILD_DIR/guest/{Image,initramfs.gz,sysroot/}
#        (VMM_ARCH=arm64 bash tests/guest/build-assets.sh BUILD_DIR/guest)
# env:   BENCH_RUNS=N  counted rounds (default 10; one warm-up run per VMM comes on top)
#        BENCH_CPUS="1 2"  the vCPU counts
#        BENCH_LOG=F   keep the raw log (the test host's console, or the direct runs' output) in F
#        QEMU_MACHINE  QEMU's -M (default virt,gic-version=3)
#        QEMU_CPU      QEMU's -cpu (default host; host,pauth=off,sve=off,pmu=off,kvm-steal-time=off: the
#                      CPU features of vmm's vCPUs, see run-inside-arm64.sh)
#        VMM_CACHE_DIR where the .debs are kept (default as build-assets.sh: $XDG_CACHE_HOME/vmm if set,
#                      else BUILD_DIR/../.cache, i.e. build/.cache)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
SRC=$(cd "$HERE/../.." && pwd)
B=${1:-$SRC/build/arm64}
RUNS=${BENCH_RUNS:-10}
QEMU_MACHINE=${QEMU_MACHINE:-virt,gic-version=3}
QEMU_CPU=${QEMU_CPU:-host}
read -ra words <<<"${BENCH_CPUS:-1 2}"
CPUS_LIST="${words[*]}"
say() { echo "bench: $*" >&2; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }
# qemu-system-arm:arm64's DT_NEEDED closure, package by package (Debian 12; libc6 is the sysroot's).
# A package Debian adds later shows up as "needs libX, found in none of" from copy-libs-elf.sh.
QEMU_DEBS=(qemu-system-arm libaio1 libblkid1 libbpf1 libcapstone4 libdaxctl1 libelf1 libfdt1 libffi8
	libfuse3-3 libgcc-s1 libglib2.0-0 libgmp10 libgnutls30 libhogweed6 libibverbs1 libidn2-0
	libjpeg62-turbo libkmod2 liblzma5 libmount1 libndctl6 libnettle8 libnl-3-200 libnl-route-3-200
	libnuma1 libp11-kit0 libpcre2-8-0 libpixman-1-0 libpmem1 libpng16-16 librdmacm1 libsasl2-2
	libseccomp2 libselinux1 libslirp0 libssl3 libtasn1-6 libudev1 libunistring2 liburing2 libuuid1
	libvdeplug2 libzstd1 zlib1g)

[[ $CPUS_LIST =~ ^[1-9][0-9]*( [1-9][0-9]*)*$ ]] || die "BENCH_CPUS: vCPU counts, e.g. \"1 2\""
for f in "$B/vmm" "$B/guest/Image" "$B/guest/initramfs.gz"; do
	[ -s "$f" ] || die "missing $f (see the usage at the top of $0)"
done
[ "$(cat "$B/guest/arch" 2>/dev/null)" = arm64 ] || die "$B/guest holds no arm64 guest assets (VMM_ARCH=arm64 bash tests/guest/build-assets.sh $B/guest)"
m=$(LC_ALL=C readelf -h "$B/vmm" 2>/dev/null | sed -n 's/^ *Machine: *//p')
[ "$m" = AArch64 ] || die "$B/vmm is not an AArch64 program (${m:-not ELF})"
CC=aarch64-linux-gnu-gcc
[ "$(uname -m)" = aarch64 ] && CC=cc
command -v "$CC" >/dev/null || die "no $CC for bootwatch (Debian: gcc-aarch64-linux-gnu, libc6-dev-arm64-cross)"

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# Others may rebuild the tree while we run: work on copies.
cp "$B/vmm" "$W/vmm"
mkdir -p "$W/guest" "$W/extra"
cp "$B/guest/Image" "$W/guest/vmlinuz" # build-host.sh takes the kernel by this name
cp -r "$B/guest/initramfs.gz" "$B/guest/modules" "$B/guest/arch" "$B/guest/busybox.applets" "$B/guest/sysroot" "$W/guest/"
KVER=$(cat "$B/guest/kernel-version" 2>/dev/null || echo unknown)
cp "$B/guest/kernel-version" "$W/guest/" 2>/dev/null || true
"$CC" -std=c11 -O2 -static -Wall -Wextra -Werror -o "$W/extra/bootwatch" "$HERE/bootwatch.c"
install -m 0755 "$HERE/run-inside-arm64.sh" "$W/extra/run-inside-arm64.sh"

# qemu_arm64 DIR: Debian's arm64 QEMU into DIR: DIR/qemu-system-aarch64 and its libraries in DIR/lib
# (the loader not: the test host's is the sysroot's). Sets QEMU_VERSION (the package's).
qemu_arm64() {
	local dir=$1 cache debs want=() files=() p v f tmpd SUDO=() r S=$W/guest/sysroot
	if [ -n "${VMM_CACHE_DIR:-}" ]; then cache=$VMM_CACHE_DIR
	elif [ -n "${XDG_CACHE_HOME:-}" ]; then cache=$XDG_CACHE_HOME/vmm
	else cache=$B/../.cache
	fi
	debs=$cache/debs
	mkdir -p "$debs"
	[ "$(id -u)" = 0 ] || SUDO=(sudo)
	declare -A ver=()
	versions() {
		while read -r p v; do ver[$p]=$v; done < <(apt-cache show --no-all-versions "${QEMU_DEBS[@]/%/:arm64}" 2>/dev/null |
			awk '/^Package:/ { p = $2 } /^Version:/ { print p, $2 }')
	}
	versions
	if [ "${#ver[@]}" -lt "${#QEMU_DEBS[@]}" ]; then
		say "apt-cache knows ${#ver[@]} of the ${#QEMU_DEBS[@]} arm64 packages: apt-get update"
		"${SUDO[@]}" apt-get update -q >&2 || say "apt-get update failed"
		versions
	fi
	for p in "${QEMU_DEBS[@]}"; do
		v=${ver[$p]:-}
		if [ -z "$v" ]; then # offline: the newest one cached
			f=$(find "$debs" -maxdepth 1 -name "${p}_*_arm64.deb" 2>/dev/null | sort -V | tail -1)
			[ -n "$f" ] || die "cannot resolve $p:arm64 with apt-cache and no $p .deb is cached in $debs"
			v=$(dpkg-deb -f "$f" Version)
		fi
		f=$debs/${p}_${v//:/%3a}_arm64.deb
		[ -f "$f" ] || want+=("$p:arm64=$v")
		files+=("$f")
		[ "$p" = qemu-system-arm ] && QEMU_VERSION=$v
	done
	exec 9>"$debs/.lock"
	flock 9 || true
	if [ ${#want[@]} -gt 0 ]; then
		say "downloading ${#want[@]} arm64 package(s) into $debs"
		tmpd=$(mktemp -d "$debs/.dl.XXXXXX")
		local opts=(-q)
		[ "$(id -u)" = 0 ] && opts+=(-o APT::Sandbox::User=root)
		(cd "$tmpd" && apt-get "${opts[@]}" download "${want[@]}" >&2) || { rm -rf "$tmpd"; die "apt-get download failed"; }
		for f in "$tmpd"/*.deb; do mv -f "$f" "$debs/"; done
		rmdir "$tmpd"
	fi
	flock -u 9
	exec 9>&-
	for f in "${files[@]}"; do
		[ -f "$f" ] || die "apt-get download left no $(basename "$f")"
		dpkg-deb -x "$f" "$W/qemu-debs"
	done
	# The closure of DT_NEEDED: glibc from the sysroot first (the test host's loader is the sysroot's).
	r=$W/qemu-root
	VMM_LIB_PATH=$S/lib/aarch64-linux-gnu:$S/usr/lib/aarch64-linux-gnu:$W/qemu-debs/lib/aarch64-linux-gnu:$W/qemu-debs/usr/lib/aarch64-linux-gnu \
		bash "$SRC/scripts/copy-libs-elf.sh" "$r" "$W/qemu-debs/usr/bin/qemu-system-aarch64"
	mkdir -p "$dir"
	cp "$W/qemu-debs/usr/bin/qemu-system-aarch64" "$dir/"
	mv "$r/lib/aarch64-linux-gnu" "$dir/lib"
	rm -rf "$W/qemu-debs" "$r"
	say "QEMU $QEMU_VERSION for arm64: the program $(du -m "$dir/qemu-system-aarch64" | cut -f1) MiB, $(find "$dir/lib" -type f | wc -l) libraries $(du -sm "$dir/lib" | cut -f1) MiB"
}

LOG=${BENCH_LOG:-$W/bench.log}
mode=$(VMM_ARCH=arm64 bash "$SRC/scripts/kvm-mode.sh")
say "mode $mode, $RUNS rounds of vCPUs {$CPUS_LIST} x vmm/virt (+ warm-ups), guest kernel $KVER"
case $mode in
direct)
	bench_need qemu-system-aarch64 qemu-system-arm
	QEMU=$(command -v qemu-system-aarch64)
	cp "$B/guest/Image" "$W/guest/Image"
	VMM=$W/vmm GUEST=$W/guest BOOTWATCH=$W/extra/bootwatch QEMU=$QEMU QEMU_MACHINE=$QEMU_MACHINE QEMU_CPU=$QEMU_CPU \
		RUNS=$RUNS TMPDIR=$W CPUS_LIST=$CPUS_LIST \
		sh "$W/extra/run-inside-arm64.sh" | tee "$LOG" | grep --line-buffered -E '^@@BENCH' >&2 || true
	MACHINE="$(uname -m), $(nproc) CPUs, $(uname -r), direct /dev/kvm"
	;;
nested | none)
	bench_need qemu-system-aarch64 qemu-system-arm # the test host's emulator (this machine's)
	qemu_arm64 "$W/extra/qemu"
	cp "$B/guest/kernel-version" "$W/extra/kernel-version" 2>/dev/null || true
	# In the test host: QEMU and its libraries where an installed QEMU's are (a library the test host
	# has already, for vmm, stays: the same Debian 12 build), then the runs.
	cat >"$W/extra/run.sh" <<-EOF
		mkdir -p /lib/aarch64-linux-gnu /usr/bin
		for f in /extra/qemu/lib/*; do [ -e "/lib/aarch64-linux-gnu/\${f##*/}" ] || mv "\$f" /lib/aarch64-linux-gnu/; done
		mv /extra/qemu/qemu-system-aarch64 /usr/bin/qemu-system-aarch64
		RUNS=$RUNS QEMU_MACHINE=$QEMU_MACHINE QEMU_CPU=$QEMU_CPU CPUS_LIST="$CPUS_LIST" GUEST_KVER_FILE=/extra/kernel-version sh /extra/run-inside-arm64.sh
	EOF
	VMM_ARCH=arm64 VMM_HOST_EXTRA=$W/extra \
		bash "$SRC/tests/host/build-host.sh" "$W/host.cpio" "$W/vmm" "$W/guest" || die "cannot build the test host image"
	# A boot takes about 10 s in the test host: a minute each is the budget (1200 s at least).
	nc=$(wc -w <<<"$CPUS_LIST")
	limit=$((300 + nc * 2 * (RUNS + 1) * 60))
	[ "$limit" -ge 1200 ] || limit=1200
	say "booting the arm64 test host (at most $limit s)"
	: >"$LOG"
	VMM_ARCH=arm64 timeout "$limit" bash "$SRC/tests/host/qemu-host.sh" "$W/guest/vmlinuz" "$W/host.cpio" script \
		-serial "file:$LOG" </dev/null || say "the test host exited with status $?"
	tr -d '\r' <"$LOG" | grep -aE '^@@(HOST|BENCH|SCRIPT)' >&2 || true
	host=$(tr -d '\r' <"$LOG" | sed -n 's/^@@HOST-READY \([^ ]*\).*cpus=\([0-9]*\).*/\1, \2 vCPUs/p' | head -1)
	MACHINE="arm64 test host (QEMU $(qemu-system-aarch64 --version | sed -n '1s/.*version \([^ ]*\).*/\1/p') TCG, -M virt,virtualization=on,gic-version=3 -cpu max,pauth-impdef=on, ${host:-?}, 2560 MiB, KVM built in) on $(uname -m), $(nproc) CPUs"
	;;
*) die "no usable /dev/kvm here (kvm-mode: $mode)" ;;
esac

tr -d '\r' <"$LOG" | grep -aq '^@@BENCH-DONE' || { tr -d '\r' <"$LOG" | tail -n 40 >&2; die "the benchmark did not finish (log above)"; }
# The tables: per vCPU count, median (min-max) over the counted runs that exited 0 with the guest's PASS line.
tr -d '\r' <"$LOG" | awk -v date="$(date -u +%Y-%m-%d)" -v qm="$QEMU_MACHINE" -v qcpu="$QEMU_CPU" -v machine="$MACHINE" -v kver="$KVER" \
	-v runs="$RUNS" -v cpus="$CPUS_LIST" -f "$HERE/stats.awk" -f "$HERE/boot-report-arm64.awk"
