#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the Linux guest assets into OUTDIR:
#   vmlinuz        Debian's cloud kernel (the image package linux-image-cloud-amd64 depends on)
#   vmlinux        the same kernel as an ELF file (the bzImage's payload, decompressed), for a boot
#                  through its PVH entry point
#   modules/       the guest's virtio modules, plus irqbypass/kvm/kvm-amd/kvm-intel and tun (and, when
#                  the package has them, tap/vhost_iotlb/vhost/vhost_net) for the test host
#   initramfs.gz   newc cpio (gzip): static busybox + applet links, /init = tests/guest/init,
#                  the virtio modules in /lib/modules (load order in /lib/modules/virtio.order)
#                  and button + evdev for the ACPI power button (/init loads them at boot),
#                  /bin/vmm-debug-exit (debug-exit.c: an outb to the isa-debug-exit port) and
#                  /bin/vmm-mark (a link to it: a boot-timer marker on port 0x620)
# usage: build-assets.sh OUTDIR
# env:   VMM_CACHE_DIR     where downloaded .debs are kept (default: $XDG_CACHE_HOME/vmm if set,
#                          else OUTDIR/../../.cache, i.e. build/.cache for OUTDIR=build/<variant>/guest)
#        VMM_GUEST_KERNEL_DEB  use this kernel .deb instead of downloading one (offline use)
# Cached: does nothing when the stamp of its inputs (this script, init, package versions) is unchanged.
set -euo pipefail

# The one list of guest modules, in load order (dependencies first). Tests insmod them in this order.
VIRTIO_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk
	failover net_failover virtio_net virtio_console)
# The ACPI power button: /init insmods these at boot, in this order (then starts busybox acpid).
POWER_MODULES=(button evdev)
# virtio-vsock's guest side: t_vsock insmods these, in this order (not in virtio.order).
VSOCK_MODULES=(vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport)
# virtio-fs's guest side: t_fs insmods these, in this order (not in virtio.order).
FS_MODULES=(fuse virtiofs)
# Modules the nested test host loads to get a /dev/kvm (kvm-intel is kept for completeness).
KVM_MODULES=(irqbypass kvm kvm-amd kvm-intel)
# Networking modules for the test host: tun for the virtio-net cases' taps (required); macvtap's tap and
# vhost-net for a QEMU vhost comparison (optional: skipped when the kernel package lacks them).
NET_MODULES=(tun)
OPTIONAL_MODULES=(tap vhost_iotlb vhost vhost_net)
KERNEL_META=linux-image-cloud-amd64

say() { echo "build-assets: $*" >&2; }
die() { echo "build-assets: ERROR: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
if [ -n "${VMM_CACHE_DIR:-}" ]; then CACHE=$VMM_CACHE_DIR
elif [ -n "${XDG_CACHE_HOME:-}" ]; then CACHE=$XDG_CACHE_HOME/vmm
else CACHE=$OUT/../../.cache
fi
mkdir -p "$CACHE/debs"
CACHE=$(cd "$CACHE" && pwd)

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
APT_UPDATED=0
apt_update_once() {
	[ $APT_UPDATED = 1 ] && return 0
	APT_UPDATED=1
	say "running apt-get update"
	$SUDO apt-get update -q >&2 || say "apt-get update failed"
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# need_pkgs PKG...: apt-get install the packages that are not installed yet.
need_pkgs() {
	local missing=() p
	for p in "$@"; do installed "$p" || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing ${missing[*]}"
	local inst=($SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends)
	"${inst[@]}" "${missing[@]}" >&2 && return 0
	apt_update_once
	"${inst[@]}" "${missing[@]}" >&2 || die "could not install ${missing[*]}"
}
need_pkgs busybox-static cpio gzip e2fsprogs
need_pkgs gcc libc6-dev # the guest's vmm-debug-exit (debug-exit.c), linked statically
# Programs from the host's Debian packages that the guest tests use, copied with their libraries
# (fio is not here: it drags in 30 MB of libraries; bench/blk appends it as a second archive).
GUEST_PROGRAMS=(/sbin/mke2fs)
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing although busybox-static is installed"
BUSYBOX_VERSION=$(dpkg-query -W -f='${Version}' busybox-static)

# Which kernel package, which version.
kernel_pkg() { apt-cache depends "$KERNEL_META" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*\).*/\1/p' | head -1; }
pkg_version() { apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Version: //p' | head -1; }
if [ -n "${VMM_GUEST_KERNEL_DEB:-}" ]; then
	[ -f "$VMM_GUEST_KERNEL_DEB" ] || die "VMM_GUEST_KERNEL_DEB=$VMM_GUEST_KERNEL_DEB does not exist"
	KPKG=$(dpkg-deb -f "$VMM_GUEST_KERNEL_DEB" Package)
	KVER=$(dpkg-deb -f "$VMM_GUEST_KERNEL_DEB" Version)
else
	KPKG=$(kernel_pkg)
	if [ -z "$KPKG" ]; then
		apt_update_once
		KPKG=$(kernel_pkg)
	fi
	KVER=
	[ -n "$KPKG" ] && KVER=$(pkg_version "$KPKG")
	if [ -z "$KPKG" ] || [ -z "$KVER" ]; then
		# No package lists (offline?): fall back to the newest kernel .deb already in the cache.
		cached=$(find "$CACHE/debs" -name 'linux-image-*-cloud-amd64_*.deb' 2>/dev/null | sort -V | tail -1)
		[ -n "$cached" ] || die "cannot resolve $KERNEL_META with apt-cache and no kernel .deb is cached in $CACHE/debs"
		say "apt-cache cannot resolve $KERNEL_META; using cached $(basename "$cached")"
		KPKG=$(dpkg-deb -f "$cached" Package)
		KVER=$(dpkg-deb -f "$cached" Version)
		VMM_GUEST_KERNEL_DEB=$cached
	fi
fi

STAMP=$( {
	sha256sum "$HERE/build-assets.sh" "$HERE/init" | cut -d' ' -f1
	sha256sum "$HERE/debug-exit.c" | cut -d' ' -f1
	sha256sum "$HERE/vsock.c" | cut -d' ' -f1
	echo "kernel $KPKG $KVER"
	echo "busybox-static $BUSYBOX_VERSION $(sha256sum "$BUSYBOX" | cut -d' ' -f1)"
	for p in "${GUEST_PROGRAMS[@]}"; do echo "$p $(sha256sum "$(readlink -f "$p")" | cut -d' ' -f1)"; done
} | sha256sum | cut -d' ' -f1)
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ] &&
   [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/vmlinux" ] && [ -s "$OUT/initramfs.gz" ] && [ -d "$OUT/modules" ]; then
	say "up to date in $OUT ($KPKG $KVER, busybox $BUSYBOX_VERSION)"
	exit 0
fi
say "building into $OUT ($KPKG $KVER, busybox $BUSYBOX_VERSION)"

# Fetch the kernel .deb (cached; the cache is shared by the plain and sanitized builds).
exec 9>"$CACHE/debs/.lock"
flock 9 || true
if [ -n "${VMM_GUEST_KERNEL_DEB:-}" ]; then
	DEB=$VMM_GUEST_KERNEL_DEB
else
	DEB=$(find "$CACHE/debs" -maxdepth 1 -name "${KPKG}_${KVER//:/%3a}_*.deb" | head -1)
	if [ -z "$DEB" ]; then
		say "downloading $KPKG $KVER into $CACHE/debs"
		tmpd=$(mktemp -d "$CACHE/debs/.dl.XXXXXX")
		download() {
			local opts=(-q)
			[ "$(id -u)" = 0 ] && opts+=(-o APT::Sandbox::User=root)
			(cd "$tmpd" && apt-get "${opts[@]}" download "$KPKG=$KVER" >&2)
		}
		if ! download; then
			apt_update_once
			download || { rm -rf "$tmpd"; die "apt-get download $KPKG=$KVER failed"; }
		fi
		for f in "$tmpd"/*.deb; do mv "$f" "$CACHE/debs/"; DEB=$CACHE/debs/$(basename "$f"); done
		rmdir "$tmpd"
		[ -n "$DEB" ] && [ -f "$DEB" ] || die "apt-get download produced no .deb"
	else
		say "using cached $(basename "$DEB")"
	fi
fi
flock -u 9

WORKDIR=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORKDIR"' EXIT
say "extracting $(basename "$DEB")"
dpkg-deb -x "$DEB" "$WORKDIR/kpkg"
vmlinuz=$(find "$WORKDIR/kpkg/boot" -name 'vmlinuz-*' | head -1)
[ -n "$vmlinuz" ] || die "no /boot/vmlinuz-* in $DEB"
moddir=$(find "$WORKDIR/kpkg/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -1)
[ -n "$moddir" ] || die "no /lib/modules/* in $DEB"

rm -rf "$OUT/modules.new"
mkdir -p "$OUT/modules.new"
for m in "${VIRTIO_MODULES[@]}" "${POWER_MODULES[@]}" "${VSOCK_MODULES[@]}" "${FS_MODULES[@]}" "${KVM_MODULES[@]}" "${NET_MODULES[@]}" "${OPTIONAL_MODULES[@]}"; do
	f=$(find "$moddir/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -1)
	if [ -z "$f" ] && [[ " ${OPTIONAL_MODULES[*]} " == *" $m "* ]]; then
		say "optional module $m not found in $KPKG: skipped"
		continue
	fi
	[ -n "$f" ] || die "module $m not found in $KPKG"
	case $f in
	*.ko) cp "$f" "$OUT/modules.new/" ;;
	*.ko.xz) xz -dc "$f" >"$OUT/modules.new/$m.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$OUT/modules.new/$m.ko" ;;
	esac
done

# The ELF vmlinux inside the bzImage: the payload (setup header: payload_offset at 0x248 and
# payload_length at 0x24c, counted from the protected-mode code after the (setup_sects + 1) sectors),
# decompressed by its magic number.
say "extracting the ELF vmlinux from $(basename "$vmlinuz")"
hdr_u32() { od -An -t u4 -j "$1" -N 4 "$vmlinuz" | tr -d ' '; }
sects=$(od -An -t u1 -j $((0x1f1)) -N 1 "$vmlinuz" | tr -d ' ')
[ "$sects" = 0 ] && sects=4
poff=$(( (sects + 1) * 512 + $(hdr_u32 $((0x248))) )) plen=$(hdr_u32 $((0x24c)))
magic=$(od -An -t x1 -j "$poff" -N 4 "$vmlinuz" | tr -d ' ')
case $magic in
1f8b*) unpack="gzip -dc" ;;
fd377a58) unpack="xz -dc" ;;
28b52ffd) unpack="zstd -qdc" ;;
02214c18) unpack="lz4 -dc" ;;
*) die "the kernel's payload is compressed with something this script does not know (magic $magic)" ;;
esac
command -v "${unpack%% *}" >/dev/null || die "${unpack%% *} is needed to unpack the kernel (scripts/install-deps.sh installs it)"
tail -c +$((poff + 1)) "$vmlinuz" | head -c "$plen" | $unpack >"$WORKDIR/vmlinux" 2>/dev/null ||
	[ -s "$WORKDIR/vmlinux" ] || die "cannot unpack the kernel's payload with $unpack"
[ "$(head -c 4 "$WORKDIR/vmlinux" | od -An -t x1 | tr -d ' ')" = 7f454c46 ] ||
	die "the kernel's payload did not unpack to an ELF file"

say "assembling the guest initramfs"
R=$WORKDIR/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,lib/modules}
cp "$BUSYBOX" "$R/bin/busybox"
# Absolute links: on a merged-/usr build machine a relative link computed with realpath would
# point at usr/bin/busybox, which the image does not have (busybox sh hid that: it runs applets itself).
"$BUSYBOX" --list-full | while read -r app; do
	[ "$app" = bin/busybox ] || [ -e "$R/$app" ] || ln -s /bin/busybox "$R/$app"
done
install -m 0755 "$HERE/init" "$R/init"
# t_run reports its command's status on the debug-exit port; Debian's kernels have no /dev/port.
"${CC:-cc}" -static -Os -s -Wall -Wextra -Werror -o "$R/bin/vmm-debug-exit" "$HERE/debug-exit.c" ||
	die "cannot compile $HERE/debug-exit.c statically (gcc, libc6-dev)"
# vmm-vsock: the vsock echo server and client of t_vsock (vsock.c; busybox has no vsock).
"${CC:-cc}" -static -Os -s -Wall -Wextra -Werror -o "$R/bin/vmm-vsock" "$HERE/vsock.c" ||
	die "cannot compile $HERE/vsock.c statically (gcc, libc6-dev)"
# vmm-mark V: the same program writes a boot-timer marker (port 0x620); /init marks its start.
ln -s vmm-debug-exit "$R/bin/vmm-mark"
# vmm-snapshot: the same program asks vmm for a snapshot (port 0x624).
ln -s vmm-debug-exit "$R/bin/vmm-snapshot"
for p in "${GUEST_PROGRAMS[@]}"; do
	mkdir -p "$R$(dirname "$p")"
	rm -f "$R$p"
	cp -L "$p" "$R$p"
done
bash "$HERE/../../scripts/copy-libs.sh" "$R" "${GUEST_PROGRAMS[@]}"
for l in mkfs.ext4 mkfs.ext2; do rm -f "$R/sbin/$l"; ln -s mke2fs "$R/sbin/$l"; done
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$R/etc/"
for m in "${VIRTIO_MODULES[@]}"; do
	cp "$OUT/modules.new/$m.ko" "$R/lib/modules/"
	echo "$m" >>"$R/lib/modules/virtio.order"
done
for m in "${POWER_MODULES[@]}"; do cp "$OUT/modules.new/$m.ko" "$R/lib/modules/"; done
for m in "${VSOCK_MODULES[@]}"; do cp "$OUT/modules.new/$m.ko" "$R/lib/modules/"; done
for m in "${FS_MODULES[@]}"; do cp "$OUT/modules.new/$m.ko" "$R/lib/modules/"; done
echo "$KPKG $KVER" >"$R/etc/vmmtest-kernel"
echo "root:x:0:0:root:/root:/bin/sh" >"$R/etc/passwd"
echo "root:x:0:" >"$R/etc/group"
# /init mounts devtmpfs and reopens the console itself; the node helps the kernel's first open.
if [ "$(id -u)" = 0 ]; then mknod -m 600 "$R/dev/console" c 5 1; fi
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc --owner=0:0 --reproducible --quiet) | gzip -9n >"$WORKDIR/initramfs.gz"

cp "$vmlinuz" "$OUT/vmlinuz.new"
mv "$OUT/vmlinuz.new" "$OUT/vmlinuz"
mv "$WORKDIR/vmlinux" "$OUT/vmlinux"
mv "$WORKDIR/initramfs.gz" "$OUT/initramfs.gz"
rm -rf "$OUT/modules"
mv "$OUT/modules.new" "$OUT/modules"
echo "$KPKG $KVER" >"$OUT/kernel-version"
echo "$STAMP" >"$OUT/.stamp"
say "done: $OUT/vmlinuz ($(stat -c %s "$OUT/vmlinuz") bytes), $OUT/initramfs.gz ($(stat -c %s "$OUT/initramfs.gz") bytes), $(find "$OUT/modules" -name '*.ko' | wc -l) modules"
