#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The hostile guest with random seeds, for a while: runs the direct.hostile case
# (tests/integration/direct/run.sh hostile: firmware/payload/hostile.c attacks every port, MMIO range,
# PCI configuration register, MSI-X table and virtqueue, idles, powers off) again and again with a
# new random seed each time, and reports every run's seed and outcome, then the totals. A failing
# seed is reproduced with: HOSTILE_SEED=N HOSTILE_ROUNDS=R tests/integration/direct/run.sh VMM PAYLOAD hostile
# Where this machine has a usable /dev/kvm (any kind: the payload runs on PVM too) the runs happen
# here; otherwise inside one boot of the nested test host (tests/host/, QEMU with software SVM).
# usage: bench/hostile/run.sh [BUILD_DIR]   (default build/plain; needs BUILD_DIR/vmm,
#        BUILD_DIR/firmware/payload.elf and, for the test host, BUILD_DIR/guest: tests/guest/build-assets.sh)
# env:   BENCH_SECONDS=N   how long to keep starting runs (default 600)
#        HOSTILE_ROUNDS=N  rounds per run (default 40)
#        BENCH_GUEST=DIR   the test host's kernel and modules (default BUILD_DIR/guest)
#        BENCH_LOG=F       keep the raw log in F
#        HOSTILE_ARGS=".."  more payload options (ops=N snapshots=N; firmware/payload/hostile.c)
#        BENCH_SEEDS="N.."  these seeds, once each, instead of random ones for BENCH_SECONDS
#        BENCH_VERBOSE=1   print every run's log (vmm's stderr by kind), not only the failed ones
# Exit status: 0 when every run passed, 1 when one failed (its seed and log are printed), 2 set-up.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
B=${1:-$SRC/build/plain}
SECONDS_TOTAL=${BENCH_SECONDS:-600}
ROUNDS=${HOSTILE_ROUNDS:-40}
VERBOSE=${BENCH_VERBOSE:-0}
ARGS=${HOSTILE_ARGS:-}
SEEDS=${BENCH_SEEDS:-}
G=${BENCH_GUEST:-$B/guest}
say() { echo "bench-hostile: $*" >&2; }
die() { echo "bench-hostile: ERROR: $*" >&2; exit 2; }

for f in "$B/vmm" "$B/firmware/payload.elf"; do [ -s "$f" ] || die "missing $f (build with cmake first)"; done
W=$(mktemp -d)
# shellcheck disable=SC2064 # W is fixed from here on
trap "rm -rf '$W'" EXIT
# Others may rebuild the tree while we run: work on copies.
mkdir -p "$W/bin" "$W/extra"
cp "$B/vmm" "$B/firmware/payload.elf" "$W/bin/"
LOG=${BENCH_LOG:-$W/bench.log}

# The loop, as a POSIX sh script (busybox in the test host): DIRECT_SH VMM PAYLOAD.
cat >"$W/extra/loop.sh" <<'EOF'
D=$1 VMM=$2 P=$3
end=$(( $(cut -d. -f1 /proc/uptime) + SECONDS_TOTAL ))
runs=0 fails=0 FIXED=$SEEDS
echo "@@HOSTILE-START seconds=$SECONDS_TOTAL rounds=$ROUNDS"
while [ -n "$SEEDS" ] || { [ -z "$FIXED" ] && [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; }; do
	if [ -n "$SEEDS" ]; then
		seed=${SEEDS%% *}
		[ "$seed" = "$SEEDS" ] && SEEDS="" || SEEDS=${SEEDS#* }
		[ -n "$seed" ] || break
	else
		seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
	fi
	t0=$(cut -d. -f1 /proc/uptime)
	HOSTILE_SEED=$seed HOSTILE_ROUNDS=$ROUNDS HOSTILE_ARGS=$ARGS HOSTILE_VMM_ARGS=-v HOSTILE_TIMEOUT=$(( 120 + ROUNDS * 10 )) \
		bash "$D" "$VMM" "$P" hostile >/tmp/hostile-run.log 2>&1
	rc=$?
	runs=$((runs + 1))
	res=PASS
	[ $rc = 0 ] || { res=FAIL; fails=$((fails + 1)); }
	echo "@@HOSTILE-RUN seed=$seed result=$res time=$(( $(cut -d. -f1 /proc/uptime) - t0 ))s $(grep -m1 '^seed ' /tmp/hostile-run.log | sed 's/^seed [0-9]* rounds [0-9]*: //; s/, by kind:$//') $(grep -m1 'of a CPU' /tmp/hostile-run.log)"
	if [ $res = FAIL ] || [ "$VERBOSE" = 1 ]; then
		grep -av '^vmm: virtio' /tmp/hostile-run.log | head -n 150 | sed "s/^/@@HOSTILE-LOG /"
	fi
done
echo "@@HOSTILE-DONE runs=$runs fails=$fails"
EOF

mode=$(bash "$SRC/scripts/kvm-mode.sh")
say "mode $mode: runs of $ROUNDS rounds with random seeds for $SECONDS_TOTAL s"
case $mode in
none)
	[ -s "$G/vmlinuz" ] || die "missing $G/vmlinuz (bash tests/guest/build-assets.sh $G)"
	printf 'SECONDS_TOTAL=%s ROUNDS=%s VERBOSE=%s ARGS="%s" SEEDS="%s" sh /extra/loop.sh /tests/direct.sh /vmm/vmm /vmm/payload.elf\n' \
		"$SECONDS_TOTAL" "$ROUNDS" "$VERBOSE" "$ARGS" "$SEEDS" >"$W/extra/run.sh"
	VMM_EXTRA_PROGRAMS="$W/bin/payload.elf $([ -x "$B/tests/kvm-keeper" ] && echo "$B/tests/kvm-keeper")" \
	VMM_HOST_EXTRA=$W/extra bash "$SRC/tests/host/build-host.sh" "$W/host.cpio" "$W/bin/vmm" "$G" ||
		die "cannot build the test host image"
	say "booting the nested test host"
	: >"$LOG"
	timeout $((SECONDS_TOTAL + 600 + ROUNDS * 10)) bash "$SRC/tests/host/qemu-host.sh" "$G/vmlinuz" \
		"$W/host.cpio" script -serial "file:$LOG" </dev/null &
	qpid=$!
	# The test host prints a heartbeat every 30 s: 150 s of silence is a frozen test host (QEMU's
	# emulated SVM; seen with another test host busy on the same 2 cores): stop it, say so.
	last=$(date +%s) size=0
	while kill -0 $qpid 2>/dev/null; do
		sleep 5
		now=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
		if [ "$now" != "$size" ]; then size=$now last=$(date +%s); fi
		if [ $(( $(date +%s) - last )) -ge 150 ]; then
			say "the test host printed nothing for 150 s: it hangs; stopping it"
			pkill -P $qpid 2>/dev/null
			kill $qpid 2>/dev/null
			pkill -f "qemu-system-x86_64.*$W/host.cpio" 2>/dev/null
			break
		fi
	done
	wait $qpid || say "the test host exited with status $?"
	;;
*)
	SECONDS_TOTAL=$SECONDS_TOTAL ROUNDS=$ROUNDS VERBOSE=$VERBOSE ARGS=$ARGS SEEDS=$SEEDS sh "$W/extra/loop.sh" "$SRC/tests/integration/direct/run.sh" \
		"$W/bin/vmm" "$W/bin/payload.elf" >"$LOG" 2>&1 || true
	;;
esac
tr -d '\r' <"$LOG" | grep -a '^@@HOSTILE' | sed 's/^@@HOSTILE-//' >&2 || true
done_line=$(tr -d '\r' <"$LOG" | grep -a '^@@HOSTILE-DONE' || true)
[ -n "$done_line" ] || { tr -d '\r' <"$LOG" | tail -n 40 >&2; die "the runs did not finish (log above)"; }
say "${done_line#@@HOSTILE-DONE }"
case $done_line in *" fails=0") exit 0 ;; *) exit 1 ;; esac
