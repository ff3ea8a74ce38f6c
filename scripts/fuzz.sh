#!/usr/bin/env bash
# Build the libFuzzer targets (tests/fuzz, clang, ASan + UBSan) into build-fuzz and run each for RUNS executions
# starting from its seed corpus. Not part of the default build or of .ci/run.
#
#   scripts/fuzz.sh [RUNS] [TARGET...]     # default 1000000 executions of every target
#
# Kinds (one per boundary-file reader): safetensors, reconstruction, track, png (face / mask / conditioning
# images), stage_record (translate's WORK/stages/*.json) -- each its own binary fuzz_<kind> -- and, when
# LibTorch is found, the model assets flame, deca, unet (FSGAN segmentation), manipulator (checkpoint),
# renderer (ned.renderer checkpoint) and the renderer's conditioning.json, all in fuzz_models (NED_FUZZ_KIND).
# Seeds: tests/fuzz/corpus/<kind> (written by tests/fuzz/make_seeds.py) and, for the model assets,
# build-fuzz/seeds/<kind> (written by fuzz_models itself with ned's own writers: NED_FUZZ_WRITE_SEEDS).
# New inputs found by the fuzzer go to build-fuzz/corpus_<kind>; a crash leaves crash-* / leak-* / oom-* /
# timeout-* files in build-fuzz and a non-zero exit status, and so does a "libpng" line in a target's log.
# The full logs are build-fuzz/fuzz_<kind>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1000000}
shift || true
JOBS=${NED_JOBS:-2}
cmake -S tests/fuzz -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$JOBS"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
KINDS=("$@")
if [ ${#KINDS[@]} -eq 0 ]; then
  KINDS=(safetensors reconstruction track png stage_record)
  [ -x build-fuzz/fuzz_models ] && KINDS+=(flame deca unet manipulator renderer conditioning)
fi
if [ -x build-fuzz/fuzz_models ]; then
  (cd build-fuzz && ASAN_OPTIONS=detect_leaks=0 NED_FUZZ_WRITE_SEEDS=seeds ./fuzz_models >/dev/null)
fi
# Largest input per target: a little above its largest seed (FLAME 51.6 KB, the 2-wide manipulator 20.4 KB of which
# 10 KB are the JSON header, the 1-wide renderer 14 KB), since each execution's cost grows with the input size.
max_len() {
  case "$1" in
    flame) echo 65536 ;;
    manipulator) echo 24576 ;;
    renderer) echo 16384 ;;
    deca | unet) echo 65536 ;;  # seeds: first parameters of DECA, U-Net (<= 60 KB)
    png) echo 16384 ;;
    *) echo 8192 ;;
  esac
}
for kind in "${KINDS[@]}"; do
  mkdir -p "build-fuzz/corpus_$kind"
  seeds=()
  [ -d "tests/fuzz/corpus/$kind" ] && seeds+=("../tests/fuzz/corpus/$kind")
  [ -d "build-fuzz/seeds/$kind" ] && seeds+=("seeds/$kind")
  bin="./fuzz_$kind"
  case "$kind" in flame | deca | unet | manipulator | renderer | conditioning) bin=./fuzz_models ;; esac
  echo "== fuzz_$kind: $RUNS executions"
  (cd build-fuzz && NED_FUZZ_KIND="$kind" "$bin" -runs="$RUNS" -max_len="$(max_len "$kind")" -rss_limit_mb=2048 -timeout=30 \
     -print_final_stats=1 "corpus_$kind" "${seeds[@]}" >"fuzz_$kind.log" 2>&1) || true
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==ERROR|SUMMARY)" \
    "build-fuzz/fuzz_$kind.log" || true
  if grep -q "libpng" "build-fuzz/fuzz_$kind.log"; then
    echo "fuzz_$kind: libpng printed to stderr"; exit 1
  fi
  ls build-fuzz/crash-* build-fuzz/leak-* build-fuzz/oom-* build-fuzz/timeout-* 2>/dev/null && exit 1
  grep -q "stat::number_of_executed_units" "build-fuzz/fuzz_$kind.log" || { echo "fuzz_$kind did not finish"; exit 1; }
done
echo "no findings"
