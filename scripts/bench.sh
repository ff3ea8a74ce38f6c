#!/usr/bin/env bash
# Run the benchmark programs (bench/*.cpp, built into <build>/bench) on the shared clips.
# Usage: scripts/bench.sh [build-dir]       Results are recorded by hand in docs/performance.md.
# The machine must be otherwise idle: the numbers are wall-clock rates.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
V=${NED_TEST_DATA_DIR:-../shared/data}/video
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
run() { echo "== $*"; "$@"; }
run "$B/bench/bench_io" "$V/wav2lip-gfpgan__kim_7s_raw.mp4"
run "$B/bench/bench_crop_composite" "$V/wav2lip-gfpgan__kim_7s_raw.mp4" --preset veryfast
run "$B/bench/bench_analyze" "$V/wav2lip-gfpgan__kim_7s_raw.mp4"
run "$B/bench/bench_analyze" "$V/sadtalker__WDA_KatieHill_000.mp4"
run "$B/bench/bench_recon" "$(nproc)"
run "$B/bench/bench_render"
run "$B/bench/bench_manip" "$(nproc)"
run "$B/bench/bench_renderer" "$(nproc)" 3 256 1
