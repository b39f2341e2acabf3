# SPDX-License-Identifier: Apache-2.0
# Shared by bench/*/run.sh (sourced; they define die).

# bench_need_qemu: install qemu-system-x86 with apt-get when it is missing; sets QEMU to its path.
bench_need_qemu() {
	bench_need qemu-system-x86_64 qemu-system-x86
	QEMU=$(command -v qemu-system-x86_64)
}

# bench_need COMMAND PACKAGE: install Debian's PACKAGE with apt-get when COMMAND is missing.
bench_need() {
	local SUDO=() inst
	command -v "$1" >/dev/null && return 0
	echo "bench: installing $2" >&2
	[ "$(id -u)" = 0 ] || SUDO=(sudo)
	inst=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2")
	"${inst[@]}" >&2 || { "${SUDO[@]}" apt-get update -q >&2 && "${inst[@]}" >&2; } || die "cannot install $2"
}

# bench_workdir B: a fresh work folder W (removed on exit) holding copies of build B's vmm and guest
# files (others may rebuild the tree while a benchmark runs) and an empty extra/fw; sets W and KVER.
bench_workdir() {
	W=$(mktemp -d)
	# shellcheck disable=SC2064 # W is fixed from here on
	trap "rm -rf '$W'" EXIT
	cp "$1/vmm" "$W/vmm"
	mkdir -p "$W/guest" "$W/extra/fw"
	cp -r "$1/guest/vmlinuz" "$1/guest/initramfs.gz" "$1/guest/modules" "$W/guest/"
	cp "$1/guest/kernel-version" "$W/guest/" 2>/dev/null || true
	# shellcheck disable=SC2034 # the caller's
	KVER=$(cat "$1/guest/kernel-version" 2>/dev/null || echo unknown)
}

# bench_qemu_firmware DIR: QEMU microvm's firmware (qboot as bios-microvm.bin) and the option ROMs
# -kernel registers, copied into DIR (QEMU then runs with -L DIR).
bench_qemu_firmware() {
	local fw d
	mkdir -p "$1"
	for fw in bios-microvm.bin linuxboot_dma.bin linuxboot.bin pvh.bin; do
		for d in /usr/share/qemu /usr/share/seabios /usr/lib/ipxe/qemu; do
			if [ -e "$d/$fw" ]; then cp -L "$d/$fw" "$1/$fw"; break; fi
		done
	done
	[ -s "$1/bios-microvm.bin" ] || die "QEMU's bios-microvm.bin not found (package qemu-system-data / seabios)"
}

# bench_initramfs BASE PROGRAM SCRIPT OUT: OUT is the test initramfs BASE followed by a second archive
# with PROGRAM at /usr/bin, every library ldd names at its own path, and SCRIPT at / (the kernel
# unpacks concatenated archives in order; SCRIPT becomes PID 1 with rdinit=/NAME).
bench_initramfs() {
	local base=$1 prog=$2 script=$3 out=$4 r
	r=$(mktemp -d)
	mkdir -p "$r/usr/bin"
	cp -L "$prog" "$r/usr/bin/$(basename "$prog")"
	bash "$(dirname "${BASH_SOURCE[0]}")/../scripts/copy-libs.sh" "$r" "$prog"
	install -m 0755 "$script" "$r/$(basename "$script")"
	(cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --reproducible --quiet) |
		gzip -6n >"$out.part"
	cat "$base" "$out.part" >"$out"
	rm -rf "$r" "$out.part"
}

# bench_nested B LOG MINUTES SECONDS MARKS [HOST_BIN...]: build the nested test host's image from
# $W (vmm, guest/, extra/ with the benchmark's run.sh) with build B's kvm-keeper and the HOST_BINs,
# boot it once (at most SECONDS) with its console in LOG, show the console lines that match
# ^@@(MARKS) and set MACHINE to a description of the test host. Needs W and QEMU.
bench_nested() {
	local b=$1 log=$2 minutes=$3 limit=$4 marks=$5 src host
	shift 5
	src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	# The idle VM that keeps KVM static keys on: without it the nested host can freeze (tests/host/kvm-keeper.c).
	VMM_EXTRA_PROGRAMS=$([ -x "$b/tests/kvm-keeper" ] && echo "$b/tests/kvm-keeper") \
	VMM_HOST_EXTRA=$W/extra VMM_HOST_BINS="$*" \
		bash "$src/tests/host/build-host.sh" "$W/host.cpio" "$W/vmm" "$W/guest" || die "cannot build the test host image"
	echo "bench: booting the nested test host (about $minutes minutes)" >&2
	: >"$log"
	timeout "$limit" bash "$src/tests/host/qemu-host.sh" "$W/guest/vmlinuz" "$W/host.cpio" script \
		-serial "file:$log" </dev/null || echo "bench: the test host exited with status $?" >&2
	tr -d '\r' <"$log" | grep -aE "^@@($marks)" >&2 || true
	host=$(tr -d '\r' <"$log" | sed -n 's/^@@HOST-READY \([^ ]*\).*cpus=\([0-9]*\).*/\1, \2 vCPUs/p' | head -1)
	MACHINE="nested test host (QEMU $("$QEMU" --version | sed -n '1s/.*version \([^ ]*\).*/\1/p') TCG, EPYC+svm, ${host:-?}, 2560 MiB, kvm-amd)"
}
