#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: install what is missing, build the plain and the sanitized (ASan+UBSan)
# configurations, and run every test of both with CTest; then the fuzz configuration (clang,
# VMM_FUZZ=ON: tests/fuzz), whose tests run each libFuzzer target on its seed corpus for a short
# fixed budget. The plain build also cross-builds vmm for arm64 and runs its Linux cases in the arm64
# test host (label arm64; on an arm64 machine natively). Exits non-zero when any test fails.
# Ends with one line that counts, per build, the tests that ran, passed, failed and skipped.
# VMM_REQUIRE_ALL=1 (the default) makes a test that needs /dev/kvm or io_uring fail where it would
# skip: whatever this machine cannot run directly runs in the nested test host, so the only skip
# left is a case that cannot run anywhere here (direct.stock-kernel-pvm without a PVM /dev/kvm).
# VMM_REQUIRE_ALL=0 lets them skip. Extra arguments go to CTest (e.g. -L unit, -R direct).
set -uo pipefail
cd "$(dirname "$0")" || exit 1
export VMM_REQUIRE_ALL=${VMM_REQUIRE_ALL:-1}
bash scripts/install-deps.sh --arm64 || exit 1
mode=$(bash scripts/kvm-mode.sh)
case $mode in
direct) where="everything runs on this /dev/kvm (VMX/SVM)" ;;
nested) where="the payload and API tests run on this /dev/kvm (PVM); Linux guests in the nested QEMU test host" ;;
*) where="no usable /dev/kvm here: Linux guests, the payload and the API tests run in the nested QEMU test host" ;;
esac
echo "run-tests: mode $mode: $where (see README.md, Tests)"
start=$(date +%s)
status=0 summary=() total_pass=0 total_fail=0 total_skip=0
for variant in plain sanitize fuzz; do
	case $variant in
	plain) opts=(-DVMM_SANITIZE=OFF -DVMM_ARM64_TESTS=ON) ;; # and the arm64 build and its Linux cases
	sanitize) opts=(-DVMM_SANITIZE=ON) ;;
	fuzz) opts=(-DCMAKE_C_COMPILER=clang -DVMM_FUZZ=ON) ;;
	esac
	echo "=== $variant build (${opts[*]#-D})"
	if ! cmake -S . -B "build/$variant" "${opts[@]}" >/dev/null ||
	   ! cmake --build "build/$variant" -j"$(nproc)"; then
		echo "run-tests: the $variant build failed"
		summary+=("$variant: BUILD FAILED")
		status=1
		continue
	fi
	out=build/$variant/ctest.log
	ctest --test-dir "build/$variant" --output-on-failure "$@" 2>&1 | tee "$out"
	[ "${PIPESTATUS[0]}" = 0 ] || status=1
	# Count CTest's result lines ("12/95 Test #12: name ....   Passed  1.0 sec"): Passed, Skipped
	# (exit 77, named); anything else (Failed, Timeout, Not Run after a failed fixture, ...) failed.
	read -r pass fail skip skipped < <(awk '
		/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: / {
			name = $0; sub(/^[^:]*: */, "", name); sub(/ .*/, "", name)
			st = $0; sub(/^[^:]*: *[^ ]+ [ .]*(\*\*\*)?/, "", st); sub(/[^A-Za-z].*/, "", st)
			if (st == "Passed") p++
			else if (st == "Skipped") { s++; names = names (names == "" ? "" : ",") name }
			else f++
		}
		END { print p + 0, f + 0, s + 0, names }' "$out")
	summary+=("$variant: $((pass + fail)) ran, $pass passed, $fail failed, $skip skipped${skipped:+ ($skipped)}")
	total_pass=$((total_pass + pass)) total_fail=$((total_fail + fail)) total_skip=$((total_skip + skip))
done
echo "run-tests: $(IFS=';'; echo "${summary[*]}" | sed 's/;/; /g') (mode $mode, $(( ($(date +%s) - start) / 60 )) min)"
echo "total: $total_pass passed, $total_fail failed, $total_skip skipped"
exit $status
