# SPDX-License-Identifier: Apache-2.0
# Shared by bench/*/run.sh (sourced; they define die).

# bench_need_qemu: install qemu-system-x86 with apt-get when it is missing; sets QEMU to its path.
bench_need_qemu() {
	local SUDO=() inst
	if ! command -v qemu-system-x86_64 >/dev/null; then
		echo "bench: installing qemu-system-x86" >&2
		[ "$(id -u)" = 0 ] || SUDO=(sudo)
		inst=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-system-x86)
		"${inst[@]}" >&2 || { "${SUDO[@]}" apt-get update -q >&2 && "${inst[@]}" >&2; } || die "cannot install qemu-system-x86"
	fi
	QEMU=$(command -v qemu-system-x86_64)
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
