#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# fuzz.<what>: run one libFuzzer target for a short fixed budget on a copy of its seed corpus (the
# repository's corpus is never written), with a fixed seed. Passes when the target exits 0: no
# crash, sanitizer report, failed invariant, leak, timeout (10 s for one input) or out-of-memory.
# The whole log is WORK/fuzz.log; what is printed is its summary, or its end after a finding
# (saved as WORK/artifacts/crash-*, timeout-*, leak-* or oom-*: replay it with `TARGET FILE`).
# usage: run-corpus.sh TARGET CORPUS_DIR WORK_DIR SECONDS
set -u
target=$1 corpus=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts" || exit 1
cp "$corpus"/* "$work/corpus/" || exit 1
"$target" -max_total_time="$seconds" -seed=1 -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/fuzz.log" 2>&1
status=$?
if [ "$status" = 0 ]; then
	grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|peak_rss_mb)' "$work/fuzz.log"
else
	tail -n 80 "$work/fuzz.log"
	echo "run-corpus: $(basename "$target") exited with $status; the finding is in $work/artifacts/"
fi
exit "$status"
