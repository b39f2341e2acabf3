#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Print where guests run here:
#   direct  this /dev/kvm is VMX/SVM: stock Linux kernels and the freestanding payload run on it
#   nested  this /dev/kvm is PVM (or lacks VMX/SVM): the payload runs on it, Linux guests run in
#           the nested test host (tests/host/)
#   none    no /dev/kvm, or one this user cannot open read-write: everything that needs KVM runs in
#           the nested test host
# VMM_TEST_MODE=direct|nested|none overrides the detection (none: route even the payload cases to
# the test host, e.g. to try that route on a machine that has KVM).
if [ -n "${VMM_TEST_MODE:-}" ]; then echo "$VMM_TEST_MODE"; exit 0; fi
if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then echo none; exit 0; fi
if [ -d /sys/module/kvm_pvm ] || ! grep -qwE 'vmx|svm' /proc/cpuinfo; then echo nested; else echo direct; fi
