#!/usr/bin/env bash
# make bench: side-by-side benchmarks in one run (medians, ratios). Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release
echo "== sandbox launch =="
"$BIN/coven-bench" launch --iterations "${BENCH_ITERATIONS:-200}" --cli "$BIN/coven-supervisor"
echo
echo "== webhook ingestion =="
"$BIN/coven-bench" webhook --requests "${BENCH_REQUESTS:-4000}" --concurrency "${BENCH_CONCURRENCY:-8}" --cli "$BIN/coven-supervisor"
echo
echo "== egress proxy =="
"$BIN/coven-bench" egress --iterations "${BENCH_EGRESS_ITERATIONS:-300}" --megabytes "${BENCH_EGRESS_MB:-256}"
echo
echo "== task claim =="
"$BIN/coven-bench" claim --queued "${BENCH_CLAIM_QUEUED:-1000,27000}"
echo
echo "== idle sandboxes =="
"$BIN/coven-bench" idle --sandboxes "${BENCH_IDLE_SANDBOXES:-100}" --seconds "${BENCH_IDLE_SECONDS:-5}"
