#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Decompile the arm64 device tree (test_fdt's 2-vCPU tree, written through FDT_DUMP) with dtc: any dtc error or
# warning, or a tree without the nodes Linux needs, fails; so does a decompiled source that does not compile back
# to the same tree. Usage: fdt-dtc.sh TEST_FDT_BINARY WORKDIR. Exit 77 (skip) when dtc is not installed.
#
# One warning is expected, and only when compiling the decompiled source back: "clocks_property ... cell 0 is not
# a phandle reference". A decompiled source holds the phandle as a bare number where a hand-written one has a
# &label, and dtc checks clocks for the label in source input only; the first step (binary input) resolves and
# checks the same reference without complaint, so nothing is lost by filtering it there.
set -eu
test_fdt=$1
dir=$2

if ! command -v dtc >/dev/null 2>&1; then
	echo "SKIP: dtc not installed (Debian: device-tree-compiler)"
	exit 77
fi
rm -rf "$dir"
mkdir -p "$dir"
FDT_DUMP="$dir/vmm.dtb" "$test_fdt" || { echo "FAIL: $test_fdt could not write the tree"; exit 1; }
cd "$dir"
[ -s vmm.dtb ] || { echo "FAIL: vmm.dtb was not written"; exit 1; }
status=0
if ! dtc -I dtb -O dts -o out.dts vmm.dtb >dtc.log 2>&1; then
	echo "FAIL: dtc -I dtb -O dts exited non-zero"
	status=1
fi
# dtc reports failed checks as warnings and still exits 0: any output at all is a complaint.
if [ -s dtc.log ]; then
	echo "FAIL: dtc complains about vmm.dtb:"
	cat dtc.log
	status=1
fi
[ -s out.dts ] || { echo "FAIL: dtc wrote no out.dts"; exit 1; }
for want in 'compatible = "linux,dummy-virt";' 'compatible = "arm,psci-1.0\0arm,psci-0.2";' \
	    'compatible = "arm,armv8-timer";' 'compatible = "arm,gic-v3";' 'compatible = "arm,gic-v3-its";' \
	    'compatible = "ns16550a";' 'compatible = "arm,pl031\0arm,primecell";' \
	    'compatible = "pci-host-ecam-generic";' 'stdout-path = "/serial@9000000";' 'bootargs = ' \
	    'cpu@0 {' 'cpu@1 {' 'memory@40000000 {' 'interrupt-map = <' 'msi-map = <' 'linux,initrd-start = <'; do
	grep -qF "$want" out.dts || { printf "FAIL: no '%s' in out.dts\n" "$want"; status=1; }
done
# The decompiled source must compile back to the same tree.
if ! dtc -I dts -O dtb -o roundtrip.dtb out.dts >roundtrip.log 2>&1 ||
   ! dtc -I dtb -O dts -o roundtrip.dts roundtrip.dtb >>roundtrip.log 2>&1; then
	echo "FAIL: out.dts does not compile back:"
	cat roundtrip.log
	status=1
elif grep -v 'Warning (clocks_property): /rtc@[0-9a-f]*:clocks: cell 0 is not a phandle reference$' roundtrip.log |
     grep -q .; then
	echo "FAIL: dtc complains about out.dts:"
	cat roundtrip.log
	status=1
elif ! cmp -s out.dts roundtrip.dts; then
	echo "FAIL: out.dts compiles back to a different tree:"
	diff out.dts roundtrip.dts || true
	status=1
fi
[ $status = 0 ] && echo "dtc: vmm.dtb ($(wc -c <vmm.dtb) bytes) decompiled and compiled back without complaint"
exit $status
