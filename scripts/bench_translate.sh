#!/usr/bin/env bash
# `ned translate` end to end on a 720p piece of a shared clip with stand-in models of NED's size (synthetic
# FLAME, random manipulator, random ngf-64 renderer: bench/bench_translate_models.cpp), in fp32 and bf16.
# Prints the report's per-stage times and fps and the peak RSS (/usr/bin/time -v). Results: docs/performance.md.
# Usage: scripts/bench_translate.sh [build-dir] [frames=30] [fit-iters=30]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-30}
FIT=${3:-30}
V=${NED_TEST_DATA_DIR:-../shared/data}/video/wav2lip-gfpgan__kim_7s_raw.mp4
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$B/bench/bench_translate_models" "$T/models"
ffmpeg -hide_banner -loglevel error -nostdin -i "$V" -frames:v "$N" -vf scale=1280:720 -c:v libx264 -crf 18 \
    -preset veryfast -c:a copy "$T/clip.mp4"
for p in fp32 bf16; do
    /usr/bin/time -v "$B/src/cli/ned" translate "$T/clip.mp4" "$T/out_$p.mp4" --emotion happy \
        --renderer "$T/models/renderer.safetensors" --models "$T/models" --precision "$p" --fit-iters "$FIT" \
        --report "$T/report_$p.json" --preset veryfast -q -y 2> "$T/time_$p.txt" || { cat "$T/time_$p.txt"; exit 1; }
    echo "== $p: $N frames 1280x720, $(jq -r '"total \(.wall_s | .*10|round/10) s, \(.fps | .*1000|round/1000) fps"' "$T/report_$p.json"), peak RSS $(grep 'Maximum resident' "$T/time_$p.txt" | awk '{print $NF}') KB"
    jq -r --argjson total "$(jq .wall_s "$T/report_$p.json")" \
        '.stages[] | "  \(.stage): \(.wall_s | .*10|round/10) s (\(.wall_s / $total * 100 | round) %), \(.fps // 0 | .*100|round/100) fps\(if .busy_s then " (streamed; busy s: " + (.busy_s | to_entries | map("\(.key) \(.value | .*10|round/10)") | join(", ")) + ")" else "" end)"' \
        "$T/report_$p.json"
done
