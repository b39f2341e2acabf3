#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Disassemble the generated ACPI tables with iasl: any iasl error or warning, or a DSDT without \_S5, COM1, the RTC,
# the GED (ACPI0013, _EVT) and the power button (PNP0C0C) it notifies, fails. Usage: acpi-iasl.sh TEST_ACPI_BINARY
# WORKDIR. Exit 77 (skip) when iasl is not installed.
set -eu
test_acpi=$1
dir=$2

if ! command -v iasl >/dev/null 2>&1; then
	echo "SKIP: iasl not installed (Debian: acpica-tools)"
	exit 77
fi
rm -rf "$dir"
mkdir -p "$dir"
"$test_acpi" "$dir"
cd "$dir"
for t in dsdt facp apic xsdt; do
	[ -s "$t.dat" ] || { echo "FAIL: $t.dat was not written"; exit 1; }
done
status=0
for f in *.dat; do
	if ! iasl -d "$f" >"${f%.dat}.log" 2>&1; then
		echo "FAIL: iasl -d $f exited non-zero"
		status=1
	fi
	# iasl reports checksum, length and field problems as errors or warnings without always failing.
	if grep -Eiq 'error|warning|incorrect|invalid' "${f%.dat}.log" ||
	   grep -Eiq '\*\*\*\*|error|warning|incorrect|invalid' "${f%.dat}.dsl"; then
		echo "FAIL: iasl complains about $f"
		status=1
	fi
	grep -Ei '\*\*\*\*|error|warning|incorrect|invalid' "${f%.dat}.log" "${f%.dat}.dsl" || true
done
grep -q '_S5' dsdt.dsl || { echo "FAIL: no _S5 in the DSDT"; status=1; }
grep -q 'PNP0501' dsdt.dsl || { echo "FAIL: no PNP0501 (COM1) in the DSDT"; status=1; }
grep -q 'PNP0B00' dsdt.dsl || { echo "FAIL: no PNP0B00 (RTC) in the DSDT"; status=1; }
grep -q '"ACPI0013"' dsdt.dsl || { echo "FAIL: no ACPI0013 (GED) in the DSDT"; status=1; }
grep -q 'PNP0C0C' dsdt.dsl || { echo "FAIL: no PNP0C0C (power button) in the DSDT"; status=1; }
grep -q 'Method (_EVT, 1, Serialized)' dsdt.dsl || { echo "FAIL: no _EVT method in the DSDT"; status=1; }
grep -q 'Notify (PWRB, 0x80)' dsdt.dsl || { echo "FAIL: _EVT does not notify PWRB"; status=1; }
# The disassembled DSDT must compile back cleanly.
if ! iasl -p dsdt-recompiled dsdt.dsl >recompile.log 2>&1 ||
   grep -Eq '[1-9][0-9]* (Errors|Warnings)' recompile.log; then
	echo "FAIL: the disassembled DSDT does not recompile cleanly:"
	cat recompile.log
	status=1
fi
[ $status = 0 ] && echo "iasl: $(ls *.dat | tr '\n' ' ')disassembled without complaint"
exit $status
