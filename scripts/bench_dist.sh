#!/usr/bin/env bash
# Time per training iteration of `ned train-renderer` and `ned train-manipulator` with 1 process and with 2
# data-parallel processes (Gloo over 127.0.0.1) at the same global batch, on synthetic inputs
# (bench_dist_data). Per iteration = (time of 2 epochs - time of 1 epoch) / iterations of 1 epoch, so start-up,
# preparation and the first epoch's warm-up cancel out.
# Usage: scripts/bench_dist.sh [build-dir=build] [renderer ngf=16]      Results go to docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
NGF=${2:-16}
NED=$B/src/cli/ned
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$B/bench/bench_dist_data" "$T" 96 >/dev/null
PORT=$((29500 + RANDOM % 2000))
secs() { local s; s=$(date +%s.%N); "$@" >/dev/null 2>"$T/err" || { cat "$T/err" >&2; exit 1; }; echo "$(date +%s.%N) - $s" | bc; }
# renderer: 96 frames -> 12 sub-sequences of 8, global batch 2 -> 6 steps per epoch (1 window of 4 frames)
ren() {  # ren PROCS BATCH THREADS EPOCHS OUT
  local args=(-q --threads "$3" train-renderer "$T/renderer_work" --out "$T/$5" --ngf "$NGF" --ndf "$NGF" --no-vgg
              --epochs "$4" --clip-frames 4 --subsequence 8 --val-frames 0 --batch-size "$2" --save-minutes 1000 -y)
  if [ "$1" = 1 ]; then secs "$NED" "${args[@]}"; else MASTER_PORT=$((PORT++)) secs scripts/launch_local.sh "$1" "$NED" "${args[@]}"; fi
}
man() {  # man PROCS BATCH THREADS EPOCHS OUT
  local args=(-q --threads "$3" train-manipulator "$T/manip_data" --out "$T/$5" --batch-size "$2" --epochs "$4"
              --decay-epochs 0 --iters-per-epoch 3 --val-fraction 0 -y)
  if [ "$1" = 1 ]; then secs "$NED" "${args[@]}"; else MASTER_PORT=$((PORT++)) secs scripts/launch_local.sh "$1" "$NED" "${args[@]}"; fi
}
per_iter() { echo "scale=3; ($2 - $1) / $3" | bc; }
for cfg in "1 2 1" "1 2 2" "2 1 1"; do
  set -- $cfg
  a=$(ren "$1" "$2" "$3" 1 r1); b=$(ren "$1" "$2" "$3" 2 r2)
  echo "train-renderer    ngf $NGF, crop 64, global batch 2: $1 process(es) x batch $2 x $3 thread(s): $(per_iter "$a" "$b" 6) s/iteration"
done
for cfg in "1 16 1" "1 16 2" "2 8 1"; do
  set -- $cfg
  a=$(man "$1" "$2" "$3" 1 m1); b=$(man "$1" "$2" "$3" 2 m2)
  echo "train-manipulator full size, global batch 16: $1 process(es) x batch $2 x $3 thread(s): $(per_iter "$a" "$b" 3) s/iteration"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
