#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copy the dynamic loader and every shared library each PROGRAM needs into the root file system ROOT,
# without running anything: for programs of another architecture (the arm64 test host and guest
# built on an x86_64 machine), where copy-libs.sh's ldd cannot work. The closure of DT_NEEDED is
# read with readelf and each library looked up, in this order, in: the program's RUNPATH/RPATH
# ($ORIGIN expanded), the folders of VMM_LIB_PATH (colon-separated: e.g. Debian packages unpacked
# into a folder), /usr/lib/TRIPLET, /lib/TRIPLET, /usr/TRIPLET/lib (the cross toolchain's C
# library, last). Every library goes to ROOT/lib/TRIPLET (a folder the loader always searches), the
# loader to the path the program names (PT_INTERP). TRIPLET comes from the ELF header (AArch64:
# aarch64-linux-gnu). A static program needs nothing. A library found nowhere is an error. A library
# the program (or one of its libraries) loads itself with dlopen goes too, with what it needs:
# libslirp.so.0, which vmm loads for its first user-mode NIC (src/slirp_lib.h), when it is named.
# usage: copy-libs-elf.sh ROOT PROGRAM...
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 ROOT PROGRAM..." >&2; exit 2; }
die() { echo "copy-libs-elf: ERROR: $*" >&2; exit 1; }
R=$1
shift
DLOPENED=libslirp.so.0
READELF=readelf
command -v aarch64-linux-gnu-readelf >/dev/null && READELF=aarch64-linux-gnu-readelf
command -v "$READELF" >/dev/null || die "no readelf (Debian: binutils)"

triplet_of() {
	case $(LC_ALL=C "$READELF" -h "$1" 2>/dev/null | sed -n 's/^ *Machine: *//p') in
	AArch64) echo aarch64-linux-gnu ;;
	*X86-64*) echo x86_64-linux-gnu ;;
	*) return 1 ;;
	esac
}
# needed FILE: the sonames FILE names in DT_NEEDED, one a line.
needed() { LC_ALL=C "$READELF" -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
# runpath FILE: its RUNPATH and RPATH folders, $ORIGIN expanded, one a line.
runpath() {
	local origin
	origin=$(cd "$(dirname "$1")" && pwd)
	LC_ALL=C "$READELF" -d "$1" 2>/dev/null | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p' | tr ':' '\n' |
		sed -e "s|\\\$ORIGIN|$origin|g" -e "s|\\\${ORIGIN}|$origin|g"
}
interp() { LC_ALL=C "$READELF" -l "$1" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p'; }

for prog in "$@"; do
	[ -f "$prog" ] || die "$prog does not exist"
	t=$(triplet_of "$prog") || die "$prog: not an AArch64 or x86-64 ELF file"
	ld=$(interp "$prog")
	[ -n "$ld" ] || [ -n "$(needed "$prog")" ] || continue # static: nothing to copy
	dirs=()
	while read -r d; do [ -n "$d" ] && dirs+=("$d"); done < <(runpath "$prog")
	IFS=: read -r -a extra <<<"${VMM_LIB_PATH:-}"
	dirs+=("${extra[@]}" "/usr/lib/$t" "/lib/$t" "/usr/$t/lib")
	# The loader: at the path the program names, found there under a VMM_LIB_PATH root, on this machine, or in
	# the cross toolchain's folder (by its name).
	if [ -n "$ld" ] && [ ! -e "$R$ld" ]; then
		src=
		for d in "${extra[@]}"; do
			root=${d%/usr/lib/"$t"}
			root=${root%/lib/"$t"}
			[ -e "$root$ld" ] && { src=$root$ld; break; }
		done
		[ -n "$src" ] || { [ -e "$ld" ] && src=$ld; }
		[ -n "$src" ] || { [ -e "/usr/$t/lib/$(basename "$ld")" ] && src=/usr/$t/lib/$(basename "$ld"); }
		[ -n "$src" ] || die "$prog: its loader $ld is nowhere (Debian: libc6:${t%%-*} or libc6-*-cross)"
		mkdir -p "$R$(dirname "$ld")"
		cp -L "$src" "$R$ld"
	fi
	# Breadth first over DT_NEEDED (and the dlopened library, where a file names it); each library once.
	mapfile -t todo < <(needed "$prog")
	grep -qaF "$DLOPENED" "$prog" && todo+=("$DLOPENED")
	seen=" "
	while [ ${#todo[@]} -gt 0 ]; do
		lib=${todo[0]}
		todo=("${todo[@]:1}")
		case $seen in *" $lib "*) continue ;; esac
		seen="$seen$lib "
		found=
		for d in "${dirs[@]}"; do
			[ -e "$d/$lib" ] && { found=$d/$lib; break; }
		done
		[ -n "$found" ] || die "$prog needs $lib, found in none of: ${dirs[*]}"
		dst=$R/lib/$t/$lib
		if [ ! -e "$dst" ]; then
			mkdir -p "$R/lib/$t"
			cp -L "$found" "$dst"
		fi
		mapfile -t more < <(needed "$found")
		todo+=("${more[@]}")
		grep -qaF "$DLOPENED" "$found" && todo+=("$DLOPENED")
	done
done
