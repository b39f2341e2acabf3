#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# api.install: install the build tree into a temporary prefix, build examples/pkgconfig there
# (outside the source tree) with pkg-config against the installed libvmm.so, then libvmm.a
# (pkg-config --static), and run both builds: they print vmm_version() and, with a usable
# /dev/kvm, boot the payload and see its hello line.
# usage: install.sh BUILD_DIR EXAMPLE_DIR PAYLOAD_ELF VMM_SANITIZE(ON|OFF) CC    exit 0/1/77
set -u
BUILD=$1 EXAMPLE=$2 PAYLOAD=$3 SANITIZE=$4 CC=$5
WORK=$(mktemp -d /tmp/vmm-api-install.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PREFIX=$WORK/prefix

fail() { echo "FAIL: api.install: $*"; exit 1; }
for tool in pkg-config make ldd; do
	command -v "$tool" >/dev/null || { echo "SKIP: api.install: $tool is not installed"; exit 77; }
done

cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "cmake --install"; }
pc=$(find "$PREFIX" -name vmm.pc)
[ -n "$pc" ] || fail "no vmm.pc installed"
LIBDIR=$(dirname "$(dirname "$pc")")
for f in "$PREFIX/include/vmm/vmm.h" "$LIBDIR/libvmm.a" "$LIBDIR/libvmm.so" "$LIBDIR/libvmm.so.0" "$PREFIX/bin/vmm"; do
	[ -e "$f" ] || fail "$f was not installed"
done
echo "installed into $PREFIX (libdir $LIBDIR)"

export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
pkg-config --exists --print-errors vmm || fail "pkg-config cannot use $pc"
version=$(pkg-config --modversion vmm)
echo "pkg-config: vmm $version: $(pkg-config --cflags --libs vmm) | static: $(pkg-config --static --libs vmm)"
# The flags must point into the temporary prefix, not where the build tree was configured to go.
# Our own include directory is the first -I (libslirp's, a Requires.private, follow it).
incdir=$(pkg-config --cflags-only-I vmm | sed 's/^ *-I//; s/ -I.*//; s/ *$//')
[ "$(realpath "$incdir")" = "$(realpath "$PREFIX/include")" ] || fail "Cflags point to '$incdir', not $PREFIX/include"
libflag=$(pkg-config --libs-only-L vmm | sed 's/^ *-L//; s/ *$//')
[ "$(realpath "$libflag")" = "$(realpath "$LIBDIR")" ] || fail "Libs point to '$libflag', not $LIBDIR"
pkg-config --static --libs vmm | grep -q -- -luring || fail "pkg-config --static --libs vmm lacks liburing"

# Built outside the source tree; a sanitized libvmm needs the sanitizer runtime in the program too.
cp -r "$EXAMPLE" "$WORK/src" || fail "cannot copy $EXAMPLE"
flags=(CC="$CC")
if [ "$SANITIZE" = ON ]; then
	flags+=(CFLAGS="-O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined" LDFLAGS="-fsanitize=address,undefined")
else
	flags+=(CFLAGS="-O2 -g -Wall -Wextra -Werror")
fi

kvm=no
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && kvm=yes
# run LABEL [env...]: run the example, check the version line and, with KVM, the guest's hello.
run() {
	local label=$1; shift
	env "$@" "$WORK/src/vmm-example" "$PAYLOAD" >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "$label: exit code $?"; }
	cat "$WORK/out"
	grep -qx "libvmm $version" "$WORK/out" || fail "$label: it does not print 'libvmm $version'"
	if [ "$kvm" = yes ]; then
		grep -q "hello line seen" "$WORK/out" || fail "$label: the guest did not say hello"
	fi
}

make -C "$WORK/src" "${flags[@]}" || fail "make (shared) failed"
ldd "$WORK/src/vmm-example" >"$WORK/ldd" 2>&1
LD_LIBRARY_PATH=$LIBDIR ldd "$WORK/src/vmm-example" | grep -q "libvmm.so.0 => $LIBDIR/libvmm.so.0" ||
	fail "the shared build does not use $LIBDIR/libvmm.so.0"
run shared LD_LIBRARY_PATH="$LIBDIR"

make -C "$WORK/src" clean >/dev/null
make -C "$WORK/src" "${flags[@]}" STATIC=1 || fail "make STATIC=1 failed"
if ldd "$WORK/src/vmm-example" | grep -q libvmm; then fail "the static build still needs libvmm.so"; fi
ldd "$WORK/src/vmm-example" | grep -q liburing || echo "note: liburing is linked statically too"
run static

# find_package(vmm) from a separate CMake project (examples/cmake), shared and static.
mkdir -p "$WORK/ex"
cp -r "$EXAMPLE/../cmake" "$EXAMPLE" "$WORK/ex/" || fail "cannot copy examples/cmake and examples/pkgconfig"
for kind in OFF ON; do
	rm -rf "$WORK/cbuild"
	cflags="-O2 -g"
	[ "$SANITIZE" = ON ] && cflags="$cflags -fsanitize=address,undefined"
	cmake -S "$WORK/ex/cmake" -B "$WORK/cbuild" -DCMAKE_PREFIX_PATH="$PREFIX" -DVMM_STATIC=$kind -DCMAKE_C_COMPILER="$CC" \
		-DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$([ "$SANITIZE" = ON ] && echo -fsanitize=address,undefined)" \
		>"$WORK/cmake.log" 2>&1 || { cat "$WORK/cmake.log"; fail "find_package(vmm) (VMM_STATIC=$kind) failed"; }
	cmake --build "$WORK/cbuild" >"$WORK/cmake.log" 2>&1 || { cat "$WORK/cmake.log"; fail "building with find_package(vmm) (VMM_STATIC=$kind) failed"; }
	cp "$WORK/cbuild/vmm-example" "$WORK/src/vmm-example"
	run "find_package static=$kind" LD_LIBRARY_PATH="$LIBDIR"
done

[ "$kvm" = yes ] || echo "note: no usable /dev/kvm: built and ran both, did not boot the payload"
echo "PASS: api.install"
