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

R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,lib/modules,vmm,guest,tests}
cp /bin/busybox "$R/bin/busybox"
# Absolute links: on a merged-/usr build machine a relative link computed with realpath would
# point at usr/bin/busybox, which the image does not have (busybox sh hid that: it runs applets itself).
/bin/busybox --list-full | while read -r app; do
	[ "$app" = bin/busybox ] || [ -e "$R/$app" ] || ln -s /bin/busybox "$R/$app"
done
install -m 0755 "$HERE/init" "$R/init"
for m in irqbypass kvm kvm-amd kvm-intel; do cp "$G/modules/$m.ko" "$R/lib/modules/"; done
# networking (guest assets built before these were added lack them: the net cases then fail on their own)
for m in tun tap vhost_iotlb vhost vhost_net; do [ ! -f "$G/modules/$m.ko" ] || cp "$G/modules/$m.ko" "$R/lib/modules/"; done
# with_libs BINARY: the loader and every library BINARY needs, at the paths it looks for them.
with_libs() { bash "$SRC/scripts/copy-libs.sh" "$R" "$1"; }
cp "$VMM" "$R/vmm/vmm"
with_libs "$VMM"
# Programs the cases find next to vmm, as "$(dirname "$VMM")/NAME" (VMM_EXTRA_PROGRAMS: space-separated
# paths): ELF programs with their libraries, scripts as they are.
for p in ${VMM_EXTRA_PROGRAMS:-}; do
	install -m 0755 "$p" "$R/vmm/$(basename "$p")"
	if [ "$(head -c 4 "$p" | tail -c 3)" = ELF ]; then with_libs "$p"; fi
done
# The virtio-fs cases' backend, QEMU's C virtiofsd (Debian: qemu-system-common), when this machine has it.
VFSD=/usr/lib/qemu/virtiofsd
if [ -x "$VFSD" ] && [ ! -e "$R/vmm/virtiofsd" ]; then install -m 0755 "$VFSD" "$R/vmm/virtiofsd" && with_libs "$VFSD"; fi
# The cases prepare and inspect disk images from outside the guest with e2fsprogs.
# direct.sh is a bash script, and its error case locks a disk image with util-linux's flock.
# user_net.sh runs vmm as another user with util-linux's setpriv (busybox's cannot change the uid).
for b in /sbin/mke2fs /sbin/debugfs "$(command -v bash)" "$(command -v flock)" "$(command -v setpriv)" ${VMM_HOST_BINS:-}; do
	mkdir -p "$R$(dirname "$b")"
	rm -f "$R$b" # it may be a busybox applet link: never copy through it onto the host's busybox
	cp -L "$b" "$R$b"
	with_libs "$b"
done
# api.valgrind: Valgrind's memcheck (Debian: valgrind) and the C library's debugging symbols it
# needs to start (libc6-dbg), found by build id, for the loader and libc the image carries.
if printf '%s\n' "$@" | grep -qx api.valgrind && command -v valgrind >/dev/null; then
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
