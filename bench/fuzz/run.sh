#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run every libFuzzer target (tests/fuzz) for a while and print one Markdown table: per target the
# executions, libFuzzer's coverage (cov: covered edges, ft: features) from its final stats line,
# the corpus it grew to, and the crashes (any finding: crash, sanitizer report, failed invariant,
# leak, timeout, out-of-memory; libFuzzer stops at the first, so the count is 0 or 1).
#
#   bench/fuzz/run.sh                   # 10 minutes per target (FUZZ_MINUTES=10)
#   FUZZ_MINUTES=30 bench/fuzz/run.sh   # longer
#   FUZZ_SECONDS=20 bench/fuzz/run.sh   # a short run (seconds win over minutes)
#   FUZZ_TARGETS="virtq net" bench/fuzz/run.sh
#   FUZZ_JOBS=2 bench/fuzz/run.sh       # two targets at a time (default 1; each uses one core)
#
# Each target starts from a copy of its seed corpus (tests/fuzz/corpus/<target>) in
# build/fuzz/bench/<target>/, with a random seed (printed in the table), FUZZ_JOBS targets at a
# time: each uses one core. Findings stay in build/fuzz/bench/<target>/artifacts/ (replay one with
# build/fuzz/tests/fuzz/fuzz_<target> FILE); the full logs beside them. The table is also written
# to build/fuzz/bench/results.md. Builds build/fuzz first (clang, VMM_FUZZ=ON) when needed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
seconds=${FUZZ_SECONDS:-$(( ${FUZZ_MINUTES:-10} * 60 ))}
# Every target of tests/fuzz (each fuzz_<what>.c is one) unless FUZZ_TARGETS names some.
all=$(for f in tests/fuzz/fuzz_*.c; do f=${f##*/fuzz_}; echo "${f%.c}"; done)
targets=${FUZZ_TARGETS:-$all}
build=build/fuzz
out=$build/bench

cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DVMM_FUZZ=ON >/dev/null &&
	cmake --build "$build" -j"$(nproc)" >/dev/null || { echo "bench/fuzz: the fuzz build failed" >&2; exit 1; }
mkdir -p "$out"
jobs_max=${FUZZ_JOBS:-1}
# run_one TARGET: fuzz it, write its table row to build/fuzz/bench/TARGET/row.
run_one() {
	local t=$1 bin=$build/tests/fuzz/fuzz_$1 work=$out/$1 seed status last cov ft corp execs crashes rate
	seed=$(( (RANDOM << 15 | RANDOM) + 1 ))
	echo "bench/fuzz: $t for ${seconds}s (seed $seed)" >&2
	"$bin" -max_total_time="$seconds" -seed="$seed" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/fuzz.log" 2>&1
	status=$?
	# The last status line ("#123 DONE cov: 456 ft: 789 corp: 10/1Kb ..."; "pulse"/"NEW" if it stopped early).
	last=$(grep -E '^#[0-9]+[[:space:]]+[A-Z]+ +cov: ' "$work/fuzz.log" | tail -n 1)
	cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
	ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
	corp=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$last")
	execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$work/fuzz.log")
	[ -n "$execs" ] || execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
	crashes=$(find "$work/artifacts" -type f | wc -l)
	if [ "$status" != 0 ] && [ "$crashes" = 0 ]; then
		crashes="exit $status" # stopped without an artifact: see the log
	fi
	rate=$(( ${execs:-0} / (seconds > 0 ? seconds : 1) ))
	echo "| fuzz_$t | $seconds s | ${execs:-?} | $rate | ${cov:-?} | ${ft:-?} | ${corp:-?} | $crashes | $seed |" >"$work/row"
}
for t in $targets; do
	[ -x "$build/tests/fuzz/fuzz_$t" ] || { echo "bench/fuzz: no target $build/tests/fuzz/fuzz_$t" >&2; exit 1; }
	rm -rf "${out:?}/$t"
	mkdir -p "$out/$t/corpus" "$out/$t/artifacts"
	cp tests/fuzz/corpus/"$t"/* "$out/$t/corpus/"
done
for t in $targets; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do sleep 1; done
	run_one "$t" &
done
wait
rows=() found=0
for t in $targets; do
	row=$(cat "$out/$t/row" 2>/dev/null || echo "| fuzz_$t | ? | ? | ? | ? | ? | ? | no result | ? |")
	rows+=("$row")
	[ "$(awk -F'|' '{ gsub(/ /, "", $(NF - 2)); print $(NF - 2) }' <<<"$row")" = 0 ] || found=1 # the crashes column
done
{
	echo "Fuzzing run of $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs, $jobs_max target(s) at a time:"
	echo
	echo "| target | time | executions | exec/s | cov | ft | corpus | crashes | seed |"
	echo "|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
} | tee "$out/results.md"
exit "$found"
