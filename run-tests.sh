#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: install what is missing, build the plain and the sanitized (ASan+UBSan)
# configurations, and run every test of both with CTest. Exits non-zero when any test fails.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
bash scripts/install-deps.sh || exit 1
echo "run-tests: Linux guests run: $(bash scripts/kvm-mode.sh) (direct: on this /dev/kvm; nested: inside the QEMU test host, see README.md)"
status=0
for variant in plain sanitize; do
	flag=OFF; [ "$variant" = sanitize ] && flag=ON
	echo "=== $variant build (VMM_SANITIZE=$flag)"
	if ! cmake -S . -B "build/$variant" -DVMM_SANITIZE=$flag >/dev/null ||
	   ! cmake --build "build/$variant" -j"$(nproc)"; then
		echo "run-tests: the $variant build failed"
		status=1
		continue
	fi
	ctest --test-dir "build/$variant" --output-on-failure || status=1
done
exit $status
