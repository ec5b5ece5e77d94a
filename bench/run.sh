#!/usr/bin/env bash
# make bench: side-by-side benchmarks in one run (medians, ratios). Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release
echo "== sandbox launch =="
"$BIN/coven-bench" launch --iterations "${BENCH_ITERATIONS:-200}" --cli "$BIN/coven-supervisor"
echo
echo "== webhook ingestion =="
"$BIN/coven-bench" webhook --requests "${BENCH_REQUESTS:-3000}" --concurrency "${BENCH_CONCURRENCY:-64}" --rounds "${BENCH_WEBHOOK_ROUNDS:-5}" --cli "$BIN/coven-supervisor"
echo "== daemon memory =="
"$BIN/coven-bench" memory --settle "${BENCH_MEMORY_SETTLE:-10}" --burst "${BENCH_MEMORY_BURST:-20}" --after "${BENCH_MEMORY_AFTER:-60}" --cli "$BIN/coven-supervisor"
echo "== webhook ingestion, the daemon's store on PostgreSQL (one host of a fleet) =="
"$BIN/coven-bench" webhook --store postgres --requests "${BENCH_REQUESTS:-3000}" --concurrency "${BENCH_CONCURRENCY:-64}" --rounds "${BENCH_WEBHOOK_ROUNDS:-3}" --cli "$BIN/coven-supervisor"
echo
echo "== egress proxy =="
"$BIN/coven-bench" egress --iterations "${BENCH_EGRESS_ITERATIONS:-300}" --megabytes "${BENCH_EGRESS_MB:-256}"
echo
echo "== task claim =="
"$BIN/coven-bench" claim --queued "${BENCH_CLAIM_QUEUED:-1000,100000}"
echo
echo "== fleet store (PostgreSQL, fsync on) vs SQLite =="
"$BIN/coven-bench" fleet --tasks "${BENCH_FLEET_TASKS:-1000}" --deliveries "${BENCH_FLEET_DELIVERIES:-3000}" --rounds "${BENCH_FLEET_ROUNDS:-3}"
echo
echo "== task claim on PostgreSQL =="
"$BIN/coven-bench" claim --engine postgres --queued "${BENCH_CLAIM_QUEUED:-1000,100000}"
echo
echo "== idle sandboxes =="
"$BIN/coven-bench" idle --sandboxes "${BENCH_IDLE_SANDBOXES:-100}" --seconds "${BENCH_IDLE_SECONDS:-5}"
