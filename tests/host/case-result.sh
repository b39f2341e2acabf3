#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Report one case of a batch (run-batch.sh) to CTest: print its log; exit 0 on PASS, 77 on SKIP
# (1 instead when VMM_REQUIRE_ALL=1: in the test host nothing has a reason to skip), else 1.
# usage: case-result.sh RESULTS CASE
R=$1/$2
if [ ! -f "$R/result" ]; then
	echo "FAIL: $2: no result in $1 (did the batch run?)"
	exit 1
fi
res=$(cat "$R/result")
echo "$2: $res"
# A crashed guest is booted once more (linux.sh); say so even when the second boot passed.
grep -a '^RETRY:' "$R/log" 2>/dev/null
case $res in
PASS) exit 0 ;;
esac
echo "--- log of $2 (kept in $R/log)"
cat "$R/log" 2>/dev/null
case $res in
SKIP*) [ "${VMM_REQUIRE_ALL:-0}" = 1 ] && { echo "FAIL: $2 skipped, and VMM_REQUIRE_ALL=1"; exit 1; }; exit 77 ;;
esac
exit 1
