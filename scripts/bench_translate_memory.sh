#!/usr/bin/env bash
# Memory of `ned translate` against the length of the input (issue 12: "memory stays constant in video length"):
# the same 1080p footage (a shared clip looped and scaled to 1920x1080) cut to SHORT and LONG seconds, edited
# with stand-in models (bench/bench_translate_models: synthetic FLAME, random manipulator, random renderer of
# the given ngf; ngf 64 is NED's size), peak RSS of each run from /usr/bin/time -v. Constant memory means the
# two peaks agree within the allocator's noise. Results: docs/performance.md.
# Usage: scripts/bench_translate_memory.sh [build-dir] [short-seconds=20] [long-seconds=60] [ngf=16] [fit-iters=10]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
SHORT=${2:-20}
LONG=${3:-60}
NGF=${4:-16}
FIT=${5:-10}
V=${NED_TEST_DATA_DIR:-../shared/data}/video/wav2lip-gfpgan__kim_7s_raw.mp4
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$B/bench/bench_translate_models" "$T/models" "$NGF"
ffmpeg -hide_banner -loglevel error -nostdin -stream_loop -1 -i "$V" -t "$LONG" -vf scale=1920:1080 -c:v libx264 \
    -crf 18 -preset veryfast -c:a aac "$T/long.mp4"
ffmpeg -hide_banner -loglevel error -nostdin -i "$T/long.mp4" -t "$SHORT" -c copy "$T/short.mp4"
for clip in short long; do
    /usr/bin/time -v "$B/src/cli/ned" translate "$T/$clip.mp4" "$T/out_$clip.mp4" --emotion happy \
        --renderer "$T/models/renderer.safetensors" --models "$T/models" --fit-iters "$FIT" \
        --report "$T/report_$clip.json" --preset veryfast -q -y 2> "$T/time_$clip.txt" &
    TPID=$!
    # VmRSS of the ned process every 5 s, with the last stage record finished at that time.
    ( sleep 1; P=$(pgrep -P "$TPID" -f "ned translate" | head -1); W=
      while kill -0 "$P" 2>/dev/null; do
          [ -z "$W" ] && W=$(ls -d /tmp/ned-translate-* 2>/dev/null | head -1)
          S=$(ls -t "$W"/stages 2>/dev/null | head -1)
          echo "$SECONDS $(awk '/VmRSS/{print int($2/1024)}' /proc/"$P"/status 2>/dev/null) ${S%.json}"
          sleep 5
      done ) > "$T/rss_$clip.txt" &
    wait "$TPID" || { cat "$T/time_$clip.txt"; exit 1; }
    echo "== $clip: $(jq .frames "$T/report_$clip.json") frames 1920x1080, $(jq -r '"total \(.wall_s | .*10|round/10) s, \(.fps | .*1000|round/1000) fps"' "$T/report_$clip.json"), peak RSS $(grep 'Maximum resident' "$T/time_$clip.txt" | awk '{print $NF}') KB"
    jq -r '.stages[] | "  \(.stage): \(.wall_s | .*10|round/10) s, \(.fps // 0 | .*100|round/100) fps"' "$T/report_$clip.json"
    echo "  VmRSS MB every 5 s (after the last finished stage): $(awk '{printf "%s%s", (NR>1?", ":""), $2 ($3!=""?"("$3")":"")}' "$T/rss_$clip.txt")"
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
