#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Print how Linux guests run here: "direct" (this /dev/kvm is VMX/SVM and runs stock kernels),
# "nested" (PVM, or no hardware virtualization: use the nested test host), or "none" (no /dev/kvm).
# VMM_TEST_MODE=direct|nested overrides the detection.
if [ -n "${VMM_TEST_MODE:-}" ]; then echo "$VMM_TEST_MODE"; exit 0; fi
if [ ! -c /dev/kvm ]; then echo none; exit 0; fi
if [ -d /sys/module/kvm_pvm ] || ! grep -qwE 'vmx|svm' /proc/cpuinfo; then echo nested; else echo direct; fi
