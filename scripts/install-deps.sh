#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install what building and testing vmm needs on Debian 12 (only what is missing).
# --arm64: also what the arm64 tests need on an x86_64 machine (run-tests.sh asks for it): the cross
# compiler, the arm64 libraries through Debian's multiarch (dpkg --add-architecture arm64) and QEMU's
# aarch64 emulator for the arm64 test host. On an arm64 machine the native packages above are enough.
# usage: install-deps.sh [--arm64]
set -euo pipefail
arm64=0
[ "${1:-}" = --arm64 ] && arm64=1
pkgs=(build-essential cmake pkg-config liburing-dev libslirp-dev libglib2.0-dev libseccomp-dev check busybox-static cpio gzip kmod acpica-tools)
# arm64 guests: the device tree (libfdt) and Image.gz (zlib); their unit tests run on x86 too (dtc checks the tree).
pkgs+=(libfdt-dev zlib1g-dev device-tree-compiler)
# The guest assets: the kernel's modules (xz, zstd) and its payload (Debian's is lz4), unpacked.
pkgs+=(xz-utils zstd lz4)
# The Linux case net-passt: --net stream=PATH to Debian's passt.
pkgs+=(passt)
# The fuzz build (run-tests.sh's third configuration): clang and its runtimes (libFuzzer, ASan, UBSan),
# which Debian ships in libclang-rt-dev (only recommended by clang).
pkgs+=(clang libclang-rt-dev)
# api.valgrind: the API tests under Valgrind's memcheck, which needs the C library's symbols.
pkgs+=(valgrind libc6-dbg)
# The nested test host (QEMU's software SVM) is needed where /dev/kvm cannot run a stock kernel.
if [ "$(bash "$(dirname "$0")/kvm-mode.sh")" != direct ]; then
	pkgs+=(qemu-system-x86)
fi
if [ "$arm64" = 1 ] && [ "$(uname -m)" != aarch64 ]; then
	pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm)
	# libfdt-dev cannot be installed for two architectures at once: its headers come from the native
	# package, the arm64 library from libfdt1:arm64 (cmake/toolchain-aarch64.cmake).
	pkgs+=(liburing-dev:arm64 libfdt1:arm64 zlib1g-dev:arm64 libseccomp-dev:arm64 libslirp-dev:arm64
		libglib2.0-dev:arm64)
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		echo "install-deps: adding Debian's arm64 architecture (dpkg --add-architecture arm64)" >&2
		SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
		$SUDO dpkg --add-architecture arm64
	fi
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}" >&2
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
