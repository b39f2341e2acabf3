#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Run one KVM case that is not a Linux guest, where CTest cannot run it itself because this
# machine has no usable /dev/kvm: inside the nested test host (tests/host/init), from /vmm/.
#   direct.NAME    tests/integration/direct/run.sh NAME (the freestanding payload, the CLI)
#   api.NAME       the API test program api_NAME (tests/api/) on the payload
#   api.valgrind   every API test program under Valgrind (tests/api/valgrind.sh)
#   unit.msix-kvm  the KVM part of the MSI-X unit suite (real KVM_SET_GSI_ROUTING and irqfds)
#   unit.vcpu-state-kvm  the KVM part of the vCPU/VM state suite (save a guest, restore it into new VMs)
# The commands are the ones tests/integration/direct.cmake, tests/api/CMakeLists.txt and
# tests/unit/CMakeLists.txt give CTest; keep them in step.
# Writes OUT/script.log (everything the case printed) and OUT/result: "PASS", "SKIP <why>" or
# "FAIL <why>".
# usage: payload-case.sh CASE BIN OUT     (BIN: the folder with vmm, payload.elf and the programs;
#                                         direct.sh, tests/integration/direct/run.sh, beside this script)
C=$1 BIN=$2 OUT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
# Each case has the time CTest gives it (300 s; api.valgrind 1000 s), then it is stopped and fails.
limit=300
case $C in
api.valgrind) limit=1000 ;;
esac
case $C in
api.valgrind) timeout $limit sh "$BIN/valgrind.sh" "$BIN" "$BIN/payload.elf" ;;
direct.*) timeout 300 bash "$HERE/direct.sh" "$BIN/vmm" "$BIN/payload.elf" "${C#direct.}" ;;
api.*) timeout 300 "$BIN/api_$(echo "${C#api.}" | tr - _)" "$BIN/payload.elf" ;;
unit.msix-kvm) CK_FORK=yes CK_RUN_CASE=irq_routes VMM_REQUIRE_KVM=1 timeout 300 "$BIN/test_msix" ;;
unit.vcpu-state-kvm) CK_FORK=yes CK_RUN_CASE=kvm VMM_REQUIRE_KVM=1 timeout 300 "$BIN/test_vcpu_state" ;;
*) echo "payload-case: unknown case $C"; false ;;
esac >"$OUT/script.log" 2>&1
rc=$?
case $rc in
0) echo PASS ;;
77) echo "SKIP $(grep -m1 'SKIP' "$OUT/script.log" | tr -d '\r')" ;;
143 | 124) echo "FAIL did not finish in $limit s" ;;
*) echo "FAIL exit status $rc: $(grep -m1 -E 'FAIL|FATAL|ERROR|Assertion' "$OUT/script.log" | tr -d '\r' | head -c 300)" ;;
esac >"$OUT/result"
