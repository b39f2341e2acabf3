#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's demo where this /dev/kvm cannot run a stock kernel: boot the nested test host with
# its console on this terminal and let it run our vmm with the default guest inside.
#   shell: a busybox shell in the guest (Ctrl-A x quits vmm, then the test host powers off)
#   uname: the guest runs uname -a and powers off; exits with vmm's exit status
# usage: run-demo.sh VMM GUEST_DIR shell|uname
set -euo pipefail
VMM=$1 G=$2 WHAT=$3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CPIO=$(mktemp --suffix=.cpio)
trap 'rm -f "$CPIO"' EXIT
bash "$HERE/build-host.sh" "$CPIO" "$VMM" "$G"
if [ "$WHAT" = shell ]; then
	echo "Starting the nested test host (about 3 s), then the guest; Ctrl-A x quits."
	# signal=off: Ctrl-C goes to the guest, not to QEMU.
	bash "$HERE/qemu-host.sh" "$G/vmlinuz" "$CPIO" shell -chardev stdio,id=con,signal=off -serial chardev:con
	exit 0
fi
LOG=$(mktemp)
trap 'rm -f "$CPIO" "$LOG"' EXIT
bash "$HERE/qemu-host.sh" "$G/vmlinuz" "$CPIO" uname -serial stdio </dev/null | tr -d '\r' | tee "$LOG"
rc=$(sed -n 's/^vmm exited with status \([0-9]*\).*/\1/p' "$LOG" | tail -1)
[ -n "$rc" ] || { echo "run-demo: the test host did not report vmm's exit status" >&2; exit 1; }
exit "$rc"
