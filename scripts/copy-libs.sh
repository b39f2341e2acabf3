#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copy the dynamic loader and every shared library that ldd names for each PROGRAM into the root
# file system ROOT, at the paths the program looks for them (guest and test-host images, bench
# archives). A library from outside the system directories (libvmm.so.0 from a build tree, found
# through RUNPATH) also goes to ROOT/usr/lib/x86_64-linux-gnu, where the loader always looks: the
# test host mounts a tmpfs on /tmp, which hides a build tree under /tmp.
# usage: copy-libs.sh ROOT PROGRAM...
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 ROOT PROGRAM..." >&2; exit 2; }
R=$1
shift
for prog in "$@"; do
	# A static program (or the freestanding payload) needs nothing.
	ldd "$prog" >/dev/null 2>&1 || continue
	ldd "$prog" | awk '/=> \// {print $3} /^\t\// {print $1}' | while read -r lib; do
		[ -e "$R$lib" ] && continue
		mkdir -p "$R$(dirname "$lib")"
		cp -L "$lib" "$R$lib"
		case $lib in
		/lib/* | /lib64/* | /usr/lib/* | /usr/lib64/*) ;;
		*) mkdir -p "$R/usr/lib/x86_64-linux-gnu" && cp -L "$lib" "$R/usr/lib/x86_64-linux-gnu/" ;;
		esac
	done
done
