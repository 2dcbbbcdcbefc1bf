#!/usr/bin/env bash
# CI's check that the benchmarks build and run (they are not tests: no numbers are checked here).
#   1. every criterion bench (benches/*.rs) once, in criterion's test mode;
#   2. the load test's own unit tests, then the load test against every echo server, one round
#      of 0.5 s per scenario (SMOKE=1): it fails if any server, scenario or echo fails.
# About 3-5 minutes on 2 cores once built. Any error fails the script.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS=0

echo "=== bench-smoke: cargo bench --benches -- --test ==="
cargo bench --benches -- --test

echo "=== bench-smoke: loadtest unit tests ==="
cargo test --release --manifest-path loadtest/Cargo.toml --target-dir "$ROOT/target"

echo "=== bench-smoke: SMOKE=1 scripts/loadtest.sh ==="
SMOKE=1 LOADTEST_OUT="$ROOT/target/loadtest/smoke-table.md" bash scripts/loadtest.sh

echo "=== bench-smoke: scripts/pinned-ab.sh, one short round ==="
RUNS=1 DURATION=0.3 SKIP_BUILD=1 bash scripts/pinned-ab.sh

echo "=== bench-smoke: passed in $((SECONDS / 60))m$((SECONDS % 60))s ==="
