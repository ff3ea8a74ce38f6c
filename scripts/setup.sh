#!/usr/bin/env bash
# Install ned's Debian 12 build dependencies (idempotent, non-interactive) and build Release into build/.
#   scripts/setup.sh            install packages (via sudo when not root) and build
#   NED_SKIP_APT=1 scripts/setup.sh   only configure and build
#   NED_CMAKE_ARGS="-DCMAKE_PREFIX_PATH=/opt/libtorch" scripts/setup.sh   extra CMake arguments
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config ccache git
  libtorch-dev libopenblas0-openmp
  libopencv-dev libpng-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  libdlib-dev libdlib-data
  libeigen3-dev libcli11-dev libspdlog-dev libgtest-dev nlohmann-json3-dev
  ffmpeg python3 python3-numpy python3-torch libgloo-dev
)

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

JOBS=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${NED_CMAKE_ARGS:-}
cmake --build build -j"$JOBS"
echo "setup: built build/src/cli/ned"
