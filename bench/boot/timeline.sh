#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boot timeline: the same guest as bench/boot/run.sh (Debian's cloud kernel, the busybox test
# initramfs, quiet, 1 vCPU, 512 MiB) under our vmm and under QEMU microvm, but the guest's /init
# prints its dmesg (vmmtest=dmesg). timeline-report.awk aligns the two kernel logs message by message
# and prints where the timelines part, host-side start-up times (bootwatch; strace when installed)
# and each VMM's own memory (Rss minus the guest RAM's Rss, from /proc/PID/smaps at the guest's /init).
# usage: bench/boot/timeline.sh [BUILD_DIR]   (default build/plain; as for run.sh)
# env:   BENCH_RUNS=N (default 5, interleaved rounds), BENCH_LOG=F, QEMU_MACHINE, as for run.sh;
#        TIMELINE_GAP_MS=N: show a message when its gap to the previous one differs by more (20);
#        TIMELINE_STRACE=1: one more run per VMM under strace (exec -> KVM_CREATE_VM -> first KVM_RUN)
set -euo pipefail
export BENCH_MODE=timeline BENCH_RUNS=${BENCH_RUNS:-5}
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/run.sh" "$@"
