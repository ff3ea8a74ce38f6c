#!/usr/bin/env bash
# Run the benchmark programs built in build/bench on the shared clips and print their results.
# Usage: scripts/bench.sh [build-dir]     (results are recorded by hand in docs/performance.md)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
DATA=${NED_TEST_DATA_DIR:-../shared/data}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for b in "$B"/bench/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" "$DATA"
done
