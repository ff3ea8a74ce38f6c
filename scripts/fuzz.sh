#!/usr/bin/env bash
# Build the libFuzzer targets (tests/fuzz, clang, ASan + UBSan) into build-fuzz and run each for RUNS executions
# starting from the seed corpus in tests/fuzz/corpus/<kind>. Not part of the default build or of .ci/run.
#
#   scripts/fuzz.sh [RUNS]          # default 1000000 executions per target
#
# New inputs found by the fuzzer go to build-fuzz/corpus_<kind>; a crash leaves crash-* / leak-* files in
# build-fuzz and a non-zero exit status.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1000000}
JOBS=${NED_JOBS:-2}
cmake -S tests/fuzz -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$JOBS"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
for kind in safetensors reconstruction track; do
  mkdir -p "build-fuzz/corpus_$kind"
  echo "== fuzz_$kind: $RUNS executions"
  (cd build-fuzz && "./fuzz_$kind" -runs="$RUNS" -max_len=8192 -print_final_stats=1 \
     "corpus_$kind" "../tests/fuzz/corpus/$kind" 2>&1 | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==ERROR|SUMMARY)" || true)
  ls build-fuzz/crash-* build-fuzz/leak-* build-fuzz/timeout-* 2>/dev/null && exit 1
done
echo "no findings"
