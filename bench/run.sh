#!/usr/bin/env bash
# make bench: side-by-side benchmarks in one run (medians, ratios). Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release
echo "== sandbox launch =="
"$BIN/coven-bench" launch --iterations "${BENCH_ITERATIONS:-200}" --cli "$BIN/coven-supervisor"
