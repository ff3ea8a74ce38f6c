#!/usr/bin/env bash
# Where ned's LibTorch comes from: sourced by scripts/setup.sh, scripts/find_python.sh and scripts/gpu_check.sh
# so that all of them agree. Nothing here downloads; scripts/setup.sh does (PyPI) when the venv is missing.
#
#   NED_TORCH=wheel (default)  the pinned PyPI `torch` wheel in a virtual environment outside the source tree;
#                              its torch/ folder is the official LibTorch (C++11 ABI, CUDA 13.0)
#   NED_TORCH=debian           Debian 12's LibTorch 1.13 (CPU only; libtorch-dev, python3-torch)
#   NED_TORCH=/path            any LibTorch prefix (an unpacked official archive, a wheel's torch/ folder)
#   NED_TORCH_VENV=DIR         where the wheel's virtual environment lives (default below; CI's fresh clones on
#                              the same machine reuse it, so the 2.5 GB of wheels are fetched once)
NED_TORCH_VERSION=2.11.0
NED_NUMPY_VERSION=2.4.6
NED_TORCH=${NED_TORCH:-wheel}
NED_TORCH_VENV=${NED_TORCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ned/torch-${NED_TORCH_VERSION}}

# ned_torch_python: the venv's interpreter (prints nothing when the venv is absent).
ned_torch_python() {
  [ -x "$NED_TORCH_VENV/bin/python" ] && echo "$NED_TORCH_VENV/bin/python"
}

# ned_torch_prefix: the LibTorch prefix for CMAKE_PREFIX_PATH (the folder holding lib/ and share/cmake/Torch).
ned_torch_prefix() {
  case "$NED_TORCH" in
    wheel) local py; py=$(ned_torch_python) || return 1
           "$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))' ;;
    debian) echo /usr ;;
    *) echo "$NED_TORCH" ;;
  esac
}

# ned_nvcc: the CUDA compiler (PATH, then the toolkit's usual home), or nothing.
ned_nvcc() {
  command -v nvcc 2>/dev/null && return 0
  for c in "${CUDACXX:-}" /usr/local/cuda/bin/nvcc; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
  done
  return 1
}
