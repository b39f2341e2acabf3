#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# CTest's command for a KVM case that is not a Linux guest (direct.*, api.*, unit.msix-kvm): where
# this machine has a usable /dev/kvm (VMX/SVM or PVM) it runs COMMAND here; where it has none, the
# case already ran inside the nested test host (kvm.batch, tests/host/run-batch.sh) and this
# reports that result (tests/host/case-result.sh).
# usage: here-or-host.sh RESULTS CASE COMMAND [ARG...]
R=$1 C=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
if [ "$(bash "$HERE/../../scripts/kvm-mode.sh")" = none ]; then
	echo "$C: no usable /dev/kvm here: this case ran in the nested test host"
	exec sh "$HERE/case-result.sh" "$R" "$C"
fi
exec "$@"
