# SPDX-License-Identifier: Apache-2.0
# Cross-build vmm and libvmm for arm64 on a Debian x86_64 machine:
#   cmake -S . -B build/arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
# Needs Debian's gcc-aarch64-linux-gnu and the arm64 libraries through multiarch
# (dpkg --add-architecture arm64; liburing-dev:arm64 libslirp-dev:arm64 libseccomp-dev:arm64
# zlib1g-dev:arm64 libfdt1:arm64; scripts/install-deps.sh --arm64 installs them). libfdt's headers
# are the same for every architecture and come from libfdt-dev. The tests are not built: they run
# in the arm64 test host from the cross-built programs.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Programs from the build machine, libraries and pkg-config files only from the arm64 multiarch tree.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
