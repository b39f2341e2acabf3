#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Print where guests run here:
#   direct  this /dev/kvm is VMX/SVM (x86_64) or an arm64 machine's KVM: stock Linux kernels and the
#           freestanding payload run on it
#   nested  this /dev/kvm is PVM (or lacks VMX/SVM): the payload runs on it, Linux guests run in
#           the nested test host (tests/host/)
#   none    no /dev/kvm, one this user cannot open read-write, or guests of another architecture than
#           this machine's (VMM_ARCH): everything that needs KVM runs in the nested test host
# VMM_ARCH=x86_64|arm64 is the guests' architecture (default x86_64). VMM_TEST_MODE=direct|nested|none
# overrides the detection (none: route even the payload cases to the test host, e.g. to try that route
# on a machine that has KVM).
if [ -n "${VMM_TEST_MODE:-}" ]; then echo "$VMM_TEST_MODE"; exit 0; fi
case $(uname -m) in
aarch64 | arm64) machine=arm64 ;;
*) machine=$(uname -m) ;;
esac
if [ "${VMM_ARCH:-x86_64}" != "$machine" ]; then echo none; exit 0; fi
if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then echo none; exit 0; fi
# arm64 has no PVM and no CPU flag to look for: a /dev/kvm there runs stock kernels.
if [ "$machine" = arm64 ]; then echo direct; exit 0; fi
if [ -d /sys/module/kvm_pvm ] || ! grep -qwE 'vmx|svm' /proc/cpuinfo; then echo nested; else echo direct; fi
