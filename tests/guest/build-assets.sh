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
# VMM_ARCH=arm64 builds the arm64 guest from Debian's arm64 packages instead (use another OUTDIR, e.g.
# build/arm64/guest: a folder holds the assets of one architecture, named in OUTDIR/arch):
#   vmlinuz, Image the kernel of linux-image-cloud-arm64 (an uncompressed arm64 Image; two names, one file)
#   modules/       the same guest modules where the arm64 package has them (no kvm modules: KVM is built
#                  in; no button: the power button is virtio_input), tun (+ tap/vhost_iotlb/vhost/vhost_net)
#   initramfs.gz   as above with busybox-static:arm64 and mke2fs from e2fsprogs:arm64; vmm-vsock
#                  cross-compiled (aarch64-linux-gnu-gcc -static); vmm-debug-exit, vmm-mark and
#                  vmm-snapshot are busybox devmem writes to vmm's MMIO registers (debug-exit.c is x86's outb)
#   sysroot/       the arm64 .debs unpacked (busybox, e2fsprogs, bash, util-linux, virtiofsd, passt and
#                  the libraries they need): the arm64 test host's tools (tests/host/build-host.sh)
#   busybox.applets  the arm64 busybox's applets (busybox --list-full), for the test host's links
# usage: build-assets.sh OUTDIR
# env:   VMM_ARCH          x86_64 (default) or arm64
#        VMM_ARM64_CC      the compiler for the arm64 guest programs (default: aarch64-linux-gnu-gcc,
#                          or cc on an arm64 machine)
#        VMM_CACHE_DIR     where downloaded .debs are kept (default: $XDG_CACHE_HOME/vmm if set,
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
# apt's architecture qualifier for the packages: none for x86_64 (the machine's own architecture).
APTQ=
ARCH=${VMM_ARCH:-x86_64}
case $ARCH in
x86_64) ;;
arm64)
	# Debian's arm64 cloud kernel builds KVM in (CONFIG_KVM=y); evdev, virtio_input and every virtio,
	# vsock, fs and net module are modules, as on x86. Its power button is vmm's virtio-input key (it
	# has no gpio-keys): /init loads the virtio core, virtio_input and evdev for it.
	POWER_MODULES=(evdev virtio_input) # vmm's virtio-input power key (no gpio-keys in this kernel)
	KVM_MODULES=()
	KERNEL_META=linux-image-cloud-arm64
	APTQ=:arm64
	# The arm64 .debs unpacked into OUTDIR/sysroot: the guest's busybox and mke2fs with their libraries
	# (the guest takes nothing from this machine), and the test host's tools (build-host.sh).
	ARM64_DEBS=(busybox-static e2fsprogs libext2fs2 libcom-err2 libblkid1 libuuid1 libc6
		libss2 bash libtinfo6 util-linux libcap-ng0)
	# QEMU's C virtiofsd for the fs cases (qemu-system-common) and its libnuma (its glib and libseccomp:
	# this machine's, scripts/install-deps.sh --arm64); passt for net-passt. Required: the arm64 batch
	# runs those cases (tests/integration/CMakeLists.txt, ARM64_CASES).
	ARM64_DEBS+=(qemu-system-common libnuma1 passt)
	ARM64_OPTIONAL_DEBS=()
	;;
*) echo "build-assets: ERROR: VMM_ARCH=$ARCH: x86_64 or arm64" >&2; exit 1 ;;
esac

say() { echo "build-assets: $*" >&2; }
die() { echo "build-assets: ERROR: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
# One architecture per folder: x86_64 assets (built before OUTDIR/arch existed: no such file) are never
# overwritten by arm64 ones, nor the other way round.
if [ -s "$OUT/vmlinuz" ]; then
	have=$(cat "$OUT/arch" 2>/dev/null || echo x86_64)
	[ "$have" = "$ARCH" ] || die "$OUT holds $have guest assets, not $ARCH: give VMM_ARCH=$ARCH another folder (e.g. build/$ARCH/guest)"
fi
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
if [ "$ARCH" = x86_64 ]; then
	need_pkgs gcc libc6-dev # the guest's vmm-debug-exit (debug-exit.c), linked statically
elif [ "$(uname -m)" = aarch64 ]; then
	need_pkgs gcc libc6-dev # vmm-vsock (vsock.c), linked statically
	ARM64_CC=${VMM_ARM64_CC:-cc}
else
	need_pkgs gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu
	ARM64_CC=${VMM_ARM64_CC:-aarch64-linux-gnu-gcc}
fi
# Programs from the host's Debian packages that the guest tests use, copied with their libraries
# (fio is not here: it drags in 30 MB of libraries; bench/blk appends it as a second archive).
GUEST_PROGRAMS=(/sbin/mke2fs)
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing although busybox-static is installed"
BUSYBOX_VERSION=$(dpkg-query -W -f='${Version}' busybox-static)
[ "$ARCH" = x86_64 ] || GUEST_PROGRAMS=() # arm64: mke2fs comes from the sysroot (below)

# Which kernel package, which version.
kernel_pkg() { apt-cache depends "$KERNEL_META$APTQ" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ :]*\).*/\1/p' | head -1; }
pkg_version() { apt-cache show --no-all-versions "$1$APTQ" 2>/dev/null | sed -n 's/^Version: //p' | head -1; }
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
		cached=$(find "$CACHE/debs" -name "linux-image-*-${KERNEL_META#linux-image-}_*.deb" 2>/dev/null | sort -V | tail -1)
		[ -n "$cached" ] || die "cannot resolve $KERNEL_META with apt-cache and no kernel .deb is cached in $CACHE/debs"
		say "apt-cache cannot resolve $KERNEL_META; using cached $(basename "$cached")"
		KPKG=$(dpkg-deb -f "$cached" Package)
		KVER=$(dpkg-deb -f "$cached" Version)
		VMM_GUEST_KERNEL_DEB=$cached
	fi
fi

# arm64: the version of each .deb of the sysroot (the newest one in the cache when apt-cache cannot tell).
ARM64_PKGS=() # "NAME VERSION"
if [ "$ARCH" = arm64 ]; then
	# One apt-cache call for all (each call reads the package lists: about 1.3 s).
	declare -A VER=()
	versions() {
		local p v
		while read -r p v; do VER[$p]=$v; done < <(apt-cache show --no-all-versions "${@/%/$APTQ}" 2>/dev/null |
			awk '/^Package:/ { p = $2 } /^Version:/ { print p, $2 }')
	}
	versions "${ARM64_DEBS[@]}" "${ARM64_OPTIONAL_DEBS[@]}"
	for p in "${ARM64_DEBS[@]}"; do
		[ -n "${VER[$p]:-}" ] && continue
		apt_update_once
		versions "${ARM64_DEBS[@]}" "${ARM64_OPTIONAL_DEBS[@]}"
		break
	done
	for p in "${ARM64_DEBS[@]}" "${ARM64_OPTIONAL_DEBS[@]}"; do
		v=${VER[$p]:-}
		if [ -z "$v" ]; then
			cached=$(find "$CACHE/debs" -maxdepth 1 -name "${p}_*_arm64.deb" 2>/dev/null | sort -V | tail -1)
			[ -z "$cached" ] || v=$(dpkg-deb -f "$cached" Version)
		fi
		if [ -z "$v" ]; then
			[[ " ${ARM64_OPTIONAL_DEBS[*]} " == *" $p "* ]] || die "cannot resolve $p$APTQ with apt-cache and no $p .deb is cached in $CACHE/debs"
			say "optional package $p$APTQ not found: skipped"
			continue
		fi
		ARM64_PKGS+=("$p $v")
	done
fi

STAMP=$( {
	sha256sum "$HERE/build-assets.sh" "$HERE/init" | cut -d' ' -f1
	sha256sum "$HERE/debug-exit.c" | cut -d' ' -f1
	sha256sum "$HERE/vsock.c" | cut -d' ' -f1
	echo "kernel $KPKG $KVER"
	echo "busybox-static $BUSYBOX_VERSION $(sha256sum "$BUSYBOX" | cut -d' ' -f1)"
	for p in "${GUEST_PROGRAMS[@]}"; do echo "$p $(sha256sum "$(readlink -f "$p")" | cut -d' ' -f1)"; done
	if [ "$ARCH" != x86_64 ]; then
		echo "arch $ARCH"
		printf 'deb %s\n' "${ARM64_PKGS[@]}"
		"$ARM64_CC" --version 2>&1 | head -1
	fi
} | sha256sum | cut -d' ' -f1)
# have_outputs: every file this architecture's build leaves is there.
have_outputs() {
	[ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initramfs.gz" ] && [ -d "$OUT/modules" ] || return 1
	if [ "$ARCH" = x86_64 ]; then [ -s "$OUT/vmlinux" ]; else [ -s "$OUT/Image" ] && [ -s "$OUT/busybox.applets" ] && [ -d "$OUT/sysroot" ]; fi
}
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ] && have_outputs; then
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
			(cd "$tmpd" && apt-get "${opts[@]}" download "$KPKG$APTQ=$KVER" >&2)
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
# arm64: the sysroot's .debs, fetched likewise (ARM64_DEBS are named NAME_VERSION_arm64.deb in the cache).
ARM64_DEB_FILES=()
if [ "$ARCH" = arm64 ]; then
	want=()
	for pv in "${ARM64_PKGS[@]}"; do
		p=${pv%% *} v=${pv#* }
		f=$CACHE/debs/${p}_${v//:/%3a}_arm64.deb
		[ -f "$f" ] || want+=("$p$APTQ=$v")
		ARM64_DEB_FILES+=("$f")
	done
	if [ ${#want[@]} -gt 0 ]; then
		say "downloading ${#want[@]} arm64 package(s) into $CACHE/debs: ${want[*]}"
		tmpd=$(mktemp -d "$CACHE/debs/.dl.XXXXXX")
		download_arm64() {
			local opts=(-q)
			[ "$(id -u)" = 0 ] && opts+=(-o APT::Sandbox::User=root)
			(cd "$tmpd" && apt-get "${opts[@]}" download "${want[@]}" >&2)
		}
		if ! download_arm64; then
			apt_update_once
			download_arm64 || { rm -rf "$tmpd"; die "apt-get download ${want[*]} failed"; }
		fi
		for f in "$tmpd"/*.deb; do mv "$f" "$CACHE/debs/"; done
		rmdir "$tmpd"
	fi
	for f in "${ARM64_DEB_FILES[@]}"; do [ -f "$f" ] || die "apt-get download left no $(basename "$f")"; done
fi
flock -u 9

WORKDIR=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORKDIR"' EXIT
if [ "$ARCH" = arm64 ]; then
	say "unpacking ${#ARM64_DEB_FILES[@]} arm64 package(s) into the sysroot"
	for f in "${ARM64_DEB_FILES[@]}"; do dpkg-deb -x "$f" "$WORKDIR/sysroot"; done
	S=$WORKDIR/sysroot
	# The libraries of the programs taken from the sysroot: the sysroot's first (scripts/copy-libs-elf.sh).
	export VMM_LIB_PATH=$S/lib/aarch64-linux-gnu:$S/usr/lib/aarch64-linux-gnu
	GUEST_BUSYBOX=$S/bin/busybox
	[ -x "$GUEST_BUSYBOX" ] || die "busybox-static$APTQ has no /bin/busybox"
	# The applets: the arm64 busybox lists them itself where it runs (an arm64 machine), else this machine's
	# busybox-static does: the same Debian version has the same configuration.
	if ! "$GUEST_BUSYBOX" --list-full >"$WORKDIR/busybox.applets" 2>/dev/null || [ ! -s "$WORKDIR/busybox.applets" ]; then
		bbv=$(dpkg-deb -f "$(printf '%s\n' "${ARM64_DEB_FILES[@]}" | grep '/busybox-static_')" Version)
		[ "$bbv" = "$BUSYBOX_VERSION" ] || say "warning: busybox-static$APTQ is $bbv, this machine's is $BUSYBOX_VERSION: its applet list may differ"
		"$BUSYBOX" --list-full >"$WORKDIR/busybox.applets"
	fi
	guest_applets() { cat "$WORKDIR/busybox.applets"; }
else
	GUEST_BUSYBOX=$BUSYBOX
	guest_applets() { "$BUSYBOX" --list-full; }
fi
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

if [ "$ARCH" = arm64 ]; then
	# An arm64 Image: "ARM\x64" at offset 56 (Documentation/arm64/booting.rst); it is not compressed.
	[ "$(od -An -t x1 -j 56 -N 4 "$vmlinuz" | tr -d ' ')" = 41524d64 ] || die "$(basename "$vmlinuz") is not an arm64 Image"
else
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
fi

say "assembling the guest initramfs"
R=$WORKDIR/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,lib/modules}
cp "$GUEST_BUSYBOX" "$R/bin/busybox"
# Absolute links: on a merged-/usr build machine a relative link computed with realpath would
# point at usr/bin/busybox, which the image does not have (busybox sh hid that: it runs applets itself).
guest_applets | while read -r app; do
	[ "$app" = bin/busybox ] || [ -e "$R/$app" ] || ln -s /bin/busybox "$R/$app"
done
install -m 0755 "$HERE/init" "$R/init"
if [ "$ARCH" = arm64 ]; then
	# vmm-vsock as on x86. debug-exit.c writes x86 I/O ports; on arm64 vmm has its byte registers on MMIO
	# (src/arm64/layout.h), which busybox devmem writes: vmm-mark V (the boot-timer marker) and
	# vmm-snapshot (the snapshot request, VMM_SNAPSHOT_MMIO_ARM64), and vmm-debug-exit STATUS (t_run's
	# status, VMM_DEBUG_EXIT_MMIO_ARM64, there with any --debug-exit).
	# /init marks its start before it mounts /dev: the marker mounts it for /dev/mem (init's own mount
	# later stacks another view of the same devtmpfs on it).
	printf '#!/bin/sh\n[ -c /dev/mem ] || mount -t devtmpfs devtmpfs /dev\nexec devmem 0x09020000 8 "${1:-0}"\n' >"$R/bin/vmm-mark"
	printf '#!/bin/sh\nexec devmem 0x09030000 8 1\n' >"$R/bin/vmm-snapshot"
	printf '#!/bin/sh\ndevmem 0x09040000 8 "$1"\necho "vmm-debug-exit: writing $1 did not stop the VM" >&2\nexit 1\n' >"$R/bin/vmm-debug-exit"
	chmod 0755 "$R/bin/vmm-mark" "$R/bin/vmm-snapshot" "$R/bin/vmm-debug-exit"
	"$ARM64_CC" -static -Os -s -Wall -Wextra -Werror -o "$R/bin/vmm-vsock" "$HERE/vsock.c" ||
		die "cannot compile $HERE/vsock.c statically with $ARM64_CC (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross)"
	# mke2fs (the GUEST_PROGRAMS of x86) from e2fsprogs:arm64, with its libraries from the sysroot. It is
	# a busybox applet link by now: never copy through it onto this machine's /bin/busybox.
	rm -f "$R/sbin/mke2fs"
	cp -L "$S/sbin/mke2fs" "$R/sbin/mke2fs"
	bash "$HERE/../../scripts/copy-libs-elf.sh" "$R" "$R/sbin/mke2fs"
else
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
fi
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
if [ "$ARCH" = arm64 ]; then
	ln -f "$OUT/vmlinuz" "$OUT/Image" 2>/dev/null || cp "$OUT/vmlinuz" "$OUT/Image"
	rm -rf "$OUT/sysroot"
	mv "$WORKDIR/sysroot" "$OUT/sysroot"
	mv "$WORKDIR/busybox.applets" "$OUT/busybox.applets"
	echo "$ARCH" >"$OUT/arch"
else
	mv "$WORKDIR/vmlinux" "$OUT/vmlinux"
fi
mv "$WORKDIR/initramfs.gz" "$OUT/initramfs.gz"
rm -rf "$OUT/modules"
mv "$OUT/modules.new" "$OUT/modules"
echo "$KPKG $KVER" >"$OUT/kernel-version"
echo "$STAMP" >"$OUT/.stamp"
say "done: $OUT/vmlinuz ($(stat -c %s "$OUT/vmlinuz") bytes), $OUT/initramfs.gz ($(stat -c %s "$OUT/initramfs.gz") bytes), $(find "$OUT/modules" -name '*.ko' | wc -l) modules"
