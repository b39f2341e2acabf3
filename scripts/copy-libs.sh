#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copy the dynamic loader and every shared library that ldd names for each PROGRAM into the root
# file system ROOT, at the paths the program looks for them (guest and test-host images, bench
# archives). A library from outside the system directories (libvmm.so.0 from a build tree, found
# through RUNPATH) also goes to ROOT/usr/lib/x86_64-linux-gnu, where the loader always looks: the
# test host mounts a tmpfs on /tmp, which hides a build tree under /tmp.
# A library the program (or one of its libraries) loads itself with dlopen goes too, with what it
# needs: libslirp.so.0, which vmm loads for its first user-mode NIC (src/slirp_lib.h), when the
# program names it.
# usage: copy-libs.sh ROOT PROGRAM...
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 ROOT PROGRAM..." >&2; exit 2; }
R=$1
shift
DLOPENED=libslirp.so.0
# copy FILE: FILE into ROOT at its own path.
copy() {
	[ -e "$R$1" ] && return
	mkdir -p "$R$(dirname "$1")"
	cp -L "$1" "$R$1"
}
progs=("$@")
for ((i = 0; i < ${#progs[@]}; i++)); do
	prog=${progs[i]}
	# A static program (or the freestanding payload) needs nothing.
	deps=$(ldd "$prog" 2>/dev/null) || continue
	for f in "$prog" $(echo "$deps" | awk '/=> \// {print $3}'); do
		grep -qaF "$DLOPENED" "$f" || continue
		lib=$(ldconfig -p | awk -v n="$DLOPENED" '!f && $1 == n && /x86-64/ { print $NF; f = 1 }')
		[ -n "$lib" ] || { echo "copy-libs: $prog loads $DLOPENED, which this machine does not have (Debian: libslirp0)" >&2; exit 1; }
		case " ${progs[*]} " in *" $lib "*) ;; *) copy "$lib" && progs+=("$lib") ;; esac
		break
	done
	echo "$deps" | awk '/=> \// {print $3} /^\t\// {print $1}' | while read -r lib; do
		[ -e "$R$lib" ] && continue
		copy "$lib"
		case $lib in
		/lib/* | /lib64/* | /usr/lib/* | /usr/lib64/*) ;;
		*) mkdir -p "$R/usr/lib/x86_64-linux-gnu" && cp -L "$lib" "$R/usr/lib/x86_64-linux-gnu/" ;;
		esac
	done
done
