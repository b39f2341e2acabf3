#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build.hardening: read the built binaries' headers and check the hardening the build asks for
# (CMakeLists.txt): vmm is a PIE; vmm and libvmm.so have full RELRO (a GNU_RELRO segment and
# immediate binding) and stack canaries (__stack_chk_fail); in the plain build, _FORTIFY_SOURCE's
# checked calls (__*_chk); every object of libvmm.a carries the CET markers (IBT, SHSTK).
# The linked binaries cannot carry CET themselves on Debian 12: its crt1.o has no marker, and the
# linker keeps a marker only when every input has it. -fstack-clash-protection leaves no trace to read.
# usage: hardening.sh VMM LIBVMM_SO LIBVMM_A SANITIZE(ON|OFF)     exit 0 pass, 1 fail
set -u
VMM=$1 SO=$2 A=$3 SANITIZE=$4
bad=0
fail() { echo "FAIL: $*"; bad=1; }
ok() { echo "ok: $*"; }
command -v readelf >/dev/null || { echo "FAIL: readelf (binutils) is not installed"; exit 1; }

readelf -h "$VMM" | grep -q 'Type: *DYN' && readelf -d "$VMM" | grep -q 'FLAGS_1.*PIE' &&
	ok "vmm is a position-independent executable" || fail "vmm is not a PIE"
for f in "$VMM" "$SO"; do
	n=$(basename "$f")
	readelf -lW "$f" | grep -q GNU_RELRO || fail "$n has no GNU_RELRO segment"
	readelf -d "$f" | grep -qE 'BIND_NOW|FLAGS_1.*NOW' || fail "$n is not bound immediately (-z now)"
	readelf -lW "$f" | grep -q GNU_RELRO && readelf -d "$f" | grep -qE 'BIND_NOW|FLAGS_1.*NOW' && ok "$n: full RELRO"
	nm -D "$f" | grep -q ' U __stack_chk_fail' && ok "$n: stack protector" || fail "$n has no stack protector (__stack_chk_fail)"
	if [ "$SANITIZE" != ON ]; then
		chk=$(nm -D "$f" | grep -cE ' U __[a-z0-9_]+_chk(@|$)')
		[ "$chk" -gt 0 ] && ok "$n: _FORTIFY_SOURCE ($chk checked libc calls)" || fail "$n has no _FORTIFY_SOURCE checked calls"
	fi
done
members=$(ar t "$A" | grep -c '\.o$')
cet=$(readelf -nW "$A" | grep -c 'x86 feature: IBT, SHSTK')
[ "$members" -gt 0 ] && [ "$cet" = "$members" ] && ok "libvmm.a: all $members objects carry IBT and SHSTK markers" ||
	fail "libvmm.a: $cet of $members objects carry the IBT, SHSTK markers"
[ $bad = 0 ] && echo "PASS: build.hardening"
exit $bad
