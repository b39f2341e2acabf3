#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What the arm64 Linux cases need, from an x86_64 build: vmm cross-built for arm64
# (cmake/toolchain-aarch64.cmake) into OUT with the API programs and example of the Linux cases
# (api-pause, api-hvc, api-snapshot, embed), the programs the cases run next to vmm (tests/host/programs.cmake:
# vmm-vsock, dns-peer, net-stream-peer, vhost-user-mq-proxy; not kvm-keeper, whose idle VM makes
# x86's in-kernel irqchip), and the arm64 guest assets (Debian's arm64 cloud kernel and a busybox
# initramfs) into OUT/guest. On an arm64 machine they are built natively instead.
# usage: arm64-build.sh SOURCE_DIR OUT
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SOURCE_DIR OUT" >&2; exit 2; }
SRC=$(realpath "$1") OUT=$2
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
opts=()
[ "$(uname -m)" = aarch64 ] || opts=(-DCMAKE_TOOLCHAIN_FILE="$SRC/cmake/toolchain-aarch64.cmake")
cmake -S "$SRC" -B "$OUT" "${opts[@]}" >/dev/null
cmake --build "$OUT" -j"$(nproc)" --target vmm api-pause-clock api-hvc api-snapshot embed \
	vmm-vsock dns-peer net-stream-peer vhost-user-mq-proxy seccomp-probe
# Guest assets share the download cache of the build tree that runs this (build/.cache by default).
VMM_ARCH=arm64 VMM_CACHE_DIR=${VMM_CACHE_DIR:-$(dirname "$OUT")/../.cache} bash "$SRC/tests/guest/build-assets.sh" "$OUT/guest"
echo "arm64-build: $OUT/vmm and $OUT/guest are ready"
