#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# api.valgrind: every API test program (tests/api/) again under Valgrind's memcheck, on the
# payload. Passes when each program passes and memcheck reports no error: no invalid read or
# write, no use of an uninitialised value, no bad free, no memory definitely or indirectly lost
# (file descriptors: api.cycles and api.cloexec count them). ("Possibly lost" blocks are not counted: a test's watchdog thread is still
# sleeping when the program exits, holding its stack.) The plain build only: Valgrind cannot run
# an ASan program.
# usage: valgrind.sh BINDIR PAYLOAD    (BINDIR: where the api_* programs are)
BIN=$1 PAYLOAD=$2
command -v valgrind >/dev/null || { echo "FAIL: valgrind is not installed (Debian: valgrind, libc6-dbg)"; exit 1; }
export API_UNDER_VALGRIND=1
LOG=${TMPDIR:-/tmp}/api-valgrind.$$
failed=0
for t in misuse two_vms cycles cloexec events callbacks pause_stops_vcpus debug_exit; do
	# timeout: a program that hangs under Valgrind fails here instead of stopping the batch.
	timeout -s KILL 200 valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--track-origins=yes --num-callers=30 "$BIN/api_$t" "$PAYLOAD" >"$LOG" 2>&1
	rc=$?
	summary=$(grep -m1 'ERROR SUMMARY' "$LOG" | sed 's/^==[0-9]*== //')
	case $rc in
	0) echo "ok: api_$t: $summary" ;;
	99) echo "FAIL: api_$t: memcheck: $summary"; cat "$LOG"; failed=1 ;;
	137) echo "FAIL: api_$t did not finish in 200 s under valgrind"; tail -40 "$LOG"; failed=1 ;;
	*) echo "FAIL: api_$t: exit status $rc under valgrind"; cat "$LOG"; failed=1 ;;
	esac
done
rm -f "$LOG"
[ $failed = 0 ] && echo "PASS: api.valgrind" && exit 0
exit 1
