#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the nested test host's initramfs (an uncompressed newc cpio):
#   /init                 tests/host/init
#   /bin/busybox          static busybox and its applet links
#   /lib/modules/*.ko     irqbypass, kvm, kvm-amd, kvm-intel, tun (+ tap, vhost_iotlb, vhost, vhost_net
#                         when present) from the guest assets
#   /vmm/vmm              our vmm, with every shared library ldd names at its own path
#   /vmm/NAME             the programs VMM_EXTRA_PROGRAMS names (space-separated paths), likewise
#   /guest/               the guest kernel and initramfs
#   /tests/               the case scripts (tests/integration/cases/linux.sh, net.sh, direct/run.sh as
#                         direct.sh, tests/host/payload-case.sh) and the batch list
#   /bin/bash, flock      for direct.sh
#   /extra/               for benchmarks: the folder VMM_HOST_EXTRA names, if set
#   /usr/bin/valgrind     memcheck and libc's debugging symbols, when the batch has api.valgrind
# Programs named in VMM_HOST_BINS (space-separated absolute paths) go in at their own paths with
# their libraries, like vmm.
# VMM_ARCH=arm64: the arm64 test host (GUEST_DIR from VMM_ARCH=arm64 tests/guest/build-assets.sh). No kvm
# modules (Debian's arm64 kernel has KVM built in); busybox, mke2fs, debugfs, bash, flock, setpriv and
# virtiofsd come from GUEST_DIR/sysroot (Debian's arm64 packages); the libraries of every program
# (vmm: liburing, libfdt, zlib, libseccomp, libslirp, glib, glibc) are found with readelf
# (scripts/copy-libs-elf.sh) in that sysroot, then in this machine's arm64 library folders; no valgrind.
# usage: build-host.sh OUT.cpio VMM GUEST_DIR [CASE...]
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 OUT.cpio VMM GUEST_DIR [CASE...]" >&2; exit 2; }
OUTFILE=$1 VMM=$2 G=$3
shift 3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
for f in "$VMM" "$G/vmlinuz" "$G/initramfs.gz"; do
	[ -s "$f" ] || { echo "build-host: missing $f" >&2; exit 1; }
done
ARCH=${VMM_ARCH:-x86_64}
garch=$(cat "$G/arch" 2>/dev/null || echo x86_64)
[ "$garch" = "$ARCH" ] || { echo "build-host: $G holds $garch guest assets, but VMM_ARCH=$ARCH" >&2; exit 1; }
case $ARCH in
x86_64) ;;
arm64)
	S=$G/sysroot
	if [ ! -x "$S/bin/busybox" ] || [ ! -s "$G/busybox.applets" ]; then
		echo "build-host: no arm64 busybox in $S (VMM_ARCH=arm64 tests/guest/build-assets.sh makes it)" >&2
		exit 1
	fi
	export VMM_LIB_PATH=$S/lib/aarch64-linux-gnu:$S/usr/lib/aarch64-linux-gnu
	;;
*) echo "build-host: VMM_ARCH=$ARCH: x86_64 or arm64" >&2; exit 1 ;;
esac

R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,lib/modules,vmm,guest,tests}
if [ "$ARCH" = arm64 ]; then
	cp "$S/bin/busybox" "$R/bin/busybox"
	applets() { cat "$G/busybox.applets"; }
else
	cp /bin/busybox "$R/bin/busybox"
	applets() { /bin/busybox --list-full; }
fi
# Absolute links: on a merged-/usr build machine a relative link computed with realpath would
# point at usr/bin/busybox, which the image does not have (busybox sh hid that: it runs applets itself).
applets | while read -r app; do
	[ "$app" = bin/busybox ] || [ -e "$R/$app" ] || ln -s /bin/busybox "$R/$app"
done
install -m 0755 "$HERE/init" "$R/init"
# arm64: KVM is built into the kernel, there is no module to load.
[ "$ARCH" = arm64 ] || for m in irqbypass kvm kvm-amd kvm-intel; do cp "$G/modules/$m.ko" "$R/lib/modules/"; done
# networking (guest assets built before these were added lack them: the net cases then fail on their own)
for m in tun tap vhost_iotlb vhost vhost_net; do [ ! -f "$G/modules/$m.ko" ] || cp "$G/modules/$m.ko" "$R/lib/modules/"; done
# with_libs BINARY: the loader and every library BINARY needs, at the paths it looks for them.
with_libs() {
	if [ "$ARCH" = x86_64 ]; then bash "$SRC/scripts/copy-libs.sh" "$R" "$1"; return; fi
	local m
	m=$(LC_ALL=C readelf -h "$1" 2>/dev/null | sed -n 's/^ *Machine: *//p')
	[ "$m" = AArch64 ] || { echo "build-host: $1 is not an AArch64 program (${m:-not ELF}): not for the arm64 test host" >&2; return 1; }
	bash "$SRC/scripts/copy-libs-elf.sh" "$R" "$1"
}
# host_bin PATH: where this architecture's program PATH is: for arm64 in the sysroot when it is there.
host_bin() {
	if [ "$ARCH" = arm64 ] && [ -e "$S$1" ]; then echo "$S$1"; else echo "$1"; fi
}
cp "$VMM" "$R/vmm/vmm"
with_libs "$VMM"
# Programs the cases find next to vmm, as "$(dirname "$VMM")/NAME" (VMM_EXTRA_PROGRAMS: space-separated
# paths): ELF programs with their libraries, scripts as they are.
for p in ${VMM_EXTRA_PROGRAMS:-}; do
	install -m 0755 "$p" "$R/vmm/$(basename "$p")"
	if [ "$(head -c 4 "$p" | tail -c 3)" = ELF ]; then with_libs "$p"; fi
done
# The virtio-fs cases' backend, QEMU's C virtiofsd (Debian: qemu-system-common), when this machine has it.
VFSD=$(host_bin /usr/lib/qemu/virtiofsd)
if [ "$ARCH" = arm64 ]; then
	# arm64: qemu-system-common:arm64 in the sysroot (build-assets.sh); glib and libseccomp from this machine.
	if [ -x "$VFSD" ] && [ ! -e "$R/vmm/virtiofsd" ] && [ "$VFSD" != /usr/lib/qemu/virtiofsd ]; then
		install -m 0755 "$VFSD" "$R/vmm/virtiofsd"
		with_libs "$VFSD" || { echo "build-host: no libraries for the arm64 virtiofsd: the fs cases will fail" >&2; rm -f "$R/vmm/virtiofsd"; }
	fi
elif [ -x "$VFSD" ] && [ ! -e "$R/vmm/virtiofsd" ]; then install -m 0755 "$VFSD" "$R/vmm/virtiofsd" && with_libs "$VFSD"; fi
# The cases prepare and inspect disk images from outside the guest with e2fsprogs.
# direct.sh is a bash script, and its error case locks a disk image with util-linux's flock.
# user_net.sh runs vmm as another user with util-linux's setpriv (busybox's cannot change the uid).
# arm64: the sysroot's programs at the paths Debian gives them (linux.sh runs /usr/bin/setpriv).
if [ "$ARCH" = arm64 ]; then TOOLS=(/sbin/mke2fs /sbin/debugfs /bin/bash /usr/bin/flock /usr/bin/setpriv)
else TOOLS=(/sbin/mke2fs /sbin/debugfs "$(command -v bash)" "$(command -v flock)" "$(command -v setpriv)"); fi
for b in "${TOOLS[@]}" ${VMM_HOST_BINS:-}; do
	mkdir -p "$R$(dirname "$b")"
	rm -f "$R$b" # it may be a busybox applet link: never copy through it onto the host's busybox
	cp -L "$(host_bin "$b")" "$R$b"
	with_libs "$(host_bin "$b")"
done
# api.valgrind: Valgrind's memcheck (Debian: valgrind) and the C library's debugging symbols it
# needs to start (libc6-dbg), found by build id, for the loader and libc the image carries.
# (Not in the arm64 test host: this machine's valgrind is for x86_64.)
if [ "$ARCH" = x86_64 ] && printf '%s\n' "$@" | grep -qx api.valgrind && command -v valgrind >/dev/null; then
	VGLIB=/usr/libexec/valgrind
	mkdir -p "$R/usr/bin" "$R$VGLIB"
	cp /usr/bin/valgrind /usr/bin/valgrind.bin "$R/usr/bin/"
	with_libs /usr/bin/valgrind.bin
	for f in memcheck-amd64-linux vgpreload_core-amd64-linux.so vgpreload_memcheck-amd64-linux.so default.supp; do
		cp "$VGLIB/$f" "$R$VGLIB/"
	done
	for lib in /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/libc.so.6; do
		id=$(readelf -n "$lib" 2>/dev/null | awk '/Build ID/ {print $3}')
		dbg=/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
		if [ -n "$id" ] && [ -f "$dbg" ]; then
			mkdir -p "$R$(dirname "$dbg")" && cp "$dbg" "$R$dbg"
		fi
	done
fi
if [ -n "${VMM_HOST_EXTRA:-}" ]; then mkdir -p "$R/extra" && cp -a "$VMM_HOST_EXTRA"/. "$R/extra/"; fi
cp "$G/vmlinuz" "$G/initramfs.gz" "$R/guest/"
if [ -s "$G/vmlinux" ]; then cp "$G/vmlinux" "$R/guest/"; fi
install -m 0755 "$SRC/tests/integration/cases/linux.sh" "$R/tests/linux.sh"
install -m 0755 "$SRC/tests/integration/cases/net.sh" "$R/tests/net.sh"
install -m 0755 "$SRC/tests/integration/cases/snapshot.sh" "$R/tests/snapshot.sh"
install -m 0755 "$SRC/tests/integration/cases/fs.sh" "$R/tests/fs.sh"
install -m 0755 "$SRC/tests/integration/cases/vsock.sh" "$R/tests/vsock.sh"
install -m 0755 "$SRC/tests/integration/cases/user_net.sh" "$R/tests/user_net.sh"
install -m 0755 "$SRC/tests/integration/direct/run.sh" "$R/tests/direct.sh"
install -m 0755 "$HERE/payload-case.sh" "$R/tests/payload-case.sh"
printf '%s\n' "$@" >"$R/tests/batch.list"
ln -sf mke2fs "$R/sbin/mkfs.ext4"
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$R/etc/"
echo "root:x:0:0:root:/root:/bin/sh" >"$R/etc/passwd"
echo "root:x:0:" >"$R/etc/group"
if [ "$(id -u)" = 0 ]; then mknod -m 600 "$R/dev/console" c 5 1; fi
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet) >"$OUTFILE.tmp"
mv "$OUTFILE.tmp" "$OUTFILE"
