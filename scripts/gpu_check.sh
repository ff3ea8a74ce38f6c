#!/usr/bin/env bash
# The torch-only layer of ned (-DNED_NETS_ONLY=ON: networks and numerics, no OpenCV/FFmpeg/dlib) built, tested and
# measured on one GPU, for a bare machine that has only PyTorch (+ CUDA) as python3, nvcc, cmake, ninja and a C++
# compiler -- nothing to download.
#
#   scripts/gpu_check.sh --pack       on the development machine (Debian 12 with libspdlog-dev, libfmt-dev,
#                                     nlohmann-json3-dev, libgloo-dev, googletest): copy what the bare machine lacks
#                                     (spdlog, fmt, nlohmann-json and gloo headers, googletest's sources) into .deps/;
#                                     .deps is git-ignored, so the device tool must carry it: carry=[".deps"]
#   scripts/gpu_check.sh              on the GPU machine (one H100/H200, sm_90): configure build-gpu (Ninja,
#                                     NED_NETS_ONLY=ON, NED_CUDA=ON, TORCH_CUDA_ARCH_LIST=9.0, the deps from .deps),
#                                     build only ned_gpu_check and the test programs that hold CUDA tests, run every
#                                     CUDA test (ctest -L gpu), then ned_gpu_check, which writes ONE JSON file:
#                                     $OUT/gpu_check.json when $OUT is set, else <build>/gpu_check.json
#   scripts/gpu_check.sh --dry-run    on a CPU machine: the same targets (NED_CUDA=AUTO), the CUDA tests skip, and
#                                     ned_gpu_check --dry-run (tiny sizes on the CPU; "device": "cpu", "dry_run": true)
# Options:
#   --build DIR       build folder (default build-gpu)
#   --jobs N          parallel compile jobs (default: nproc); on a shared machine: nice -n 15 scripts/gpu_check.sh ...
#   --all-tests       build every test program of the layer and run all their tests (not only -L gpu)
#   --skip-tests      no ctest (only the build and ned_gpu_check)
#   --python PY       the Python whose torch gives LibTorch (default: $NED_PYTHON, scripts/torch_env.sh's venv, python3)
# Environment: NED_DEPS_FROM=auto|system|bundled (default: bundled when .deps/ exists, else auto), OUT (see above),
#   NED_GPU_CHECK_ARGS (extra arguments for ned_gpu_check, e.g. "--reps 20").
# Typical device run (about 5 min of building on 16 cores, then ~1-2 min of checks):
#   scripts/gpu_check.sh --pack      # here, once
#   run(command="scripts/gpu_check.sh", carry=[".deps"], timeout_s=600)
# Exit status: 0 when the build, the tests and every measurement succeeded; the JSON is written (and printed) even
# when a measurement fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

mode=gpu
BUILD=build-gpu
JOBS=$(nproc)
ALL_TESTS=0
SKIP_TESTS=0
PY=${NED_PYTHON:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --pack) mode=pack ;;
    --dry-run) mode=dry ;;
    --build) BUILD=$2; shift ;;
    --jobs) JOBS=$2; shift ;;
    --all-tests) ALL_TESTS=1 ;;
    --skip-tests) SKIP_TESTS=1 ;;
    --python) PY=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

T0=$(date +%s)
phase_t=$T0
declare -a SUMMARY=()
phase() {  # phase NAME: print the time of the previous phase, start this one
  local now; now=$(date +%s)
  echo
  echo "=== gpu_check: $1 ($(date -u +%H:%M:%S), $((now - T0)) s since start)"
  phase_t=$now
}
done_phase() {  # done_phase NAME: record how long the current phase took
  local now; now=$(date +%s)
  SUMMARY+=("$1: $((now - phase_t)) s")
  echo "=== gpu_check: $1 took $((now - phase_t)) s"
}
die() { echo "gpu_check: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------- --pack
if [ "$mode" = pack ]; then
  phase "pack: copying Debian's headers and googletest into .deps/"
  DEPS=$ROOT/.deps
  for d in /usr/include/spdlog /usr/include/fmt /usr/include/nlohmann /usr/include/gloo /usr/src/googletest; do
    [ -d "$d" ] || die "--pack: $d is missing (apt install libspdlog-dev libfmt-dev nlohmann-json3-dev libgloo-dev googletest)"
  done
  rm -rf "$DEPS.new"
  mkdir -p "$DEPS.new/include"
  cp -a /usr/include/spdlog /usr/include/fmt /usr/include/nlohmann /usr/include/gloo "$DEPS.new/include/"
  cp -a /usr/src/googletest "$DEPS.new/googletest"
  {
    echo "# copied by scripts/gpu_check.sh --pack on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    for p in libspdlog-dev libfmt-dev nlohmann-json3-dev libgloo-dev googletest; do
      echo "$p $(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo unknown)"
    done
  } > "$DEPS.new/MANIFEST"
  rm -rf "$DEPS"
  mv "$DEPS.new" "$DEPS"
  cat "$DEPS/MANIFEST"
  echo "gpu_check: .deps/ holds $(du -sh "$DEPS" | cut -f1) (carry it to the GPU machine: carry=[\".deps\"])"
  done_phase pack
  exit 0
fi

# ---------------------------------------------------------------------------------------------------- environment
phase "environment"
. scripts/torch_env.sh
if [ -z "$PY" ]; then
  PY=$(ned_torch_python || true)
  [ -n "$PY" ] || PY=$(command -v python3 || true)
fi
[ -n "$PY" ] || die "no python3 found (give --python)"
TORCH_INFO=$("$PY" -c 'import os, torch, torch.utils
print(os.path.dirname(torch.__file__)); print(torch.utils.cmake_prefix_path); print(torch.__version__)
print(torch.version.cuda or "none"); print(torch.cuda.is_available())') \
  || die "$PY cannot import torch"
TORCH_PREFIX=$(sed -n 1p <<<"$TORCH_INFO")
TORCH_CMAKE=$(sed -n 2p <<<"$TORCH_INFO")
echo "python: $PY"
echo "torch $(sed -n 3p <<<"$TORCH_INFO") (CUDA $(sed -n 4p <<<"$TORCH_INFO"), GPU available: $(sed -n 5p <<<"$TORCH_INFO")) at $TORCH_PREFIX"
NVCC=$(ned_nvcc || true)
echo "nvcc: ${NVCC:-none}${NVCC:+ ($("$NVCC" --version | tail -1))}"
echo "cmake: $(cmake --version | head -1); ninja: $(ninja --version 2>/dev/null || echo none); c++: $(c++ --version 2>/dev/null | head -1)"
command -v ninja >/dev/null || die "ninja not found"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
echo "cores: $(nproc), jobs: $JOBS"
if [ -z "${NED_DEPS_FROM:-}" ]; then
  if [ -d .deps/include ]; then NED_DEPS_FROM=bundled; else NED_DEPS_FROM=auto; fi
fi
echo "deps: NED_DEPS_FROM=$NED_DEPS_FROM$( [ -f .deps/MANIFEST ] && echo " ($(sed -n 1p .deps/MANIFEST | sed 's/^# //'))")"
if [ "$mode" = gpu ]; then
  [ -n "$NVCC" ] || die "nvcc not found (PATH, \$CUDACXX, /usr/local/cuda/bin/nvcc): NED_CUDA=ON needs it"
  CUDA_OPT=ON
else
  CUDA_OPT=AUTO
fi
done_phase environment

# ---------------------------------------------------------------------------------------------------- configure
phase "configure $BUILD (NED_NETS_ONLY=ON, NED_CUDA=$CUDA_OPT)"
CMAKE_ARGS=(-S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
  "-DCMAKE_PREFIX_PATH=$TORCH_PREFIX;$TORCH_CMAKE"
  -DNED_NETS_ONLY=ON -DNED_CUDA=$CUDA_OPT -DTORCH_CUDA_ARCH_LIST=9.0
  -DNED_DEPS_FROM=$NED_DEPS_FROM -DNED_BUILD_TESTS=ON -DNED_BUILD_BENCH=ON)
[ -n "$NVCC" ] && CMAKE_ARGS+=("-DCMAKE_CUDA_COMPILER=$NVCC")
if [ -f "$BUILD/CMakeCache.txt" ] && ! grep -q "^CMAKE_GENERATOR:INTERNAL=Ninja" "$BUILD/CMakeCache.txt"; then
  die "$BUILD was configured with another generator than Ninja; remove it or give --build DIR"
fi
mkdir -p "$BUILD"
cmake "${CMAKE_ARGS[@]}" > "$BUILD/configure.log" 2>&1 || { tail -40 "$BUILD/configure.log"; die "configure failed (log: $BUILD/configure.log)"; }
grep -E "^-- ned:" "$BUILD/configure.log" || true
done_phase configure

# ---------------------------------------------------------------------------------------------------- build
# ned_gpu_check, and the test programs that hold CUDA tests (TEST names with Cuda/CUDA: ned_add_test gives them the
# label "gpu"): the test sources that define such tests, mapped to their programs through the configured build
# (an object tests/unit/X/CMakeFiles/<program>.dir/<source>.o); with --all-tests everything the layer builds.
TARGETS=(ned_gpu_check)
if [ "$ALL_TESTS" = 1 ]; then
  TARGETS=(all)
elif [ "$SKIP_TESTS" = 0 ]; then
  while IFS= read -r src; do
    dir=$(dirname "$src") base=$(basename "$src")
    prog=$(grep -oE "^build $dir/CMakeFiles/[A-Za-z0-9_]+\.dir/${base//./\\.}\.o:" "$BUILD/build.ninja" \
             | sed -E 's|.*/CMakeFiles/([A-Za-z0-9_]+)\.dir/.*|\1|' | head -1 || true)
    if [ -n "$prog" ] && [[ " ${TARGETS[*]} " != *" $prog "* ]]; then TARGETS+=("$prog"); fi
  done < <(grep -lE '^TEST(_F|_P)?\([^)]*(Cuda|CUDA)' tests/unit/*/*.cpp tests/*/*.cpp 2>/dev/null || true)
fi
phase "build ${TARGETS[*]} (-j$JOBS)"
if ! cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}" > "$BUILD/build.log" 2>&1; then
  grep -E "error|Error|FAILED" "$BUILD/build.log" | head -30
  tail -30 "$BUILD/build.log"
  die "build failed (log: $BUILD/build.log)"
fi
tail -1 "$BUILD/build.log"
done_phase build

# ---------------------------------------------------------------------------------------------------- tests
status=0
if [ "$SKIP_TESTS" = 0 ]; then
  if [ "$ALL_TESTS" = 1 ]; then LABEL=(); what="every test of the layer"; else LABEL=(-L gpu); what="CUDA tests (ctest -L gpu)"; fi
  phase "$what"
  if ! ctest --test-dir "$BUILD" "${LABEL[@]}" -j "$JOBS" --timeout 300 --output-on-failure > "$BUILD/ctest.log" 2>&1; then
    status=1
    echo "gpu_check: tests failed; the end of $BUILD/ctest.log:"
    tail -80 "$BUILD/ctest.log"
  fi
  grep -E "tests passed|tests failed|Total Test time|\*\*\*|Failed|Not Run|Skipped" "$BUILD/ctest.log" | tail -40 || true
  if [ "$mode" = gpu ] && grep -q "(Skipped)" "$BUILD/ctest.log"; then
    echo "gpu_check: note: tests skipped on the GPU machine (a test that needs two GPUs skips on one):"
    grep "(Skipped)" "$BUILD/ctest.log" || true
  fi
  grep -q "No tests were found" "$BUILD/ctest.log" && echo "gpu_check: no test matched" || true
  done_phase tests
fi

# ---------------------------------------------------------------------------------------------------- measurements
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  JSON=$OUT/gpu_check.json
else
  JSON=$BUILD/gpu_check.json
fi
GC_ARGS=(--out "$JSON")
if [ "$mode" = dry ]; then GC_ARGS+=(--dry-run); else GC_ARGS+=(--device cuda); fi
# shellcheck disable=SC2206
[ -n "${NED_GPU_CHECK_ARGS:-}" ] && GC_ARGS+=(${NED_GPU_CHECK_ARGS})
phase "ned_gpu_check ${GC_ARGS[*]}"
if ! "$BUILD/bench/ned_gpu_check" "${GC_ARGS[@]}"; then
  status=1
  echo "gpu_check: ned_gpu_check reported errors (see \"errors\" in the JSON)"
fi
done_phase ned_gpu_check
echo
[ -f "$JSON" ] && cat "$JSON"

echo
echo "=== gpu_check summary ($mode, $(( $(date +%s) - T0 )) s in all): ${SUMMARY[*]/%/;}"
echo "=== JSON: $JSON; exit status $status"
exit $status
