#!/usr/bin/env bash
# The numeric tests again with the CPU's vector extensions capped to AVX2, so that a development machine with
# AVX-512/AVX512-BF16/AMX runs the kernels that users' AVX2-only CPUs (e.g. AMD Zen 3) run: results that depend on
# a kernel's rounding show up here instead of on the user's machine.
#   scripts/test_capped.sh [BUILD_DIR] [extra ctest arguments]      (default build/, label `numeric`)
# First it proves that the caps change the kernels used: ned_cpu_probe runs a oneDNN convolution and a BLAS
# SGEMM with the libraries' verbose logs on, and the script requires ATen's AVX2 kernels, oneDNN's AVX2 ISA and
# (with MKL, the wheel's BLAS) MKL's AVX2 code path. OPENBLAS_CORETYPE is left alone (this workplace sets it on
# some CPUs because old OpenBLAS builds fail there); Debian's LibTorch 1.13 uses OpenBLAS, whose kernels the
# script then does not cap (it says so).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ $# -gt 0 ] && shift
CAPS=(ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2)
probe="$BUILD/tests/ned_cpu_probe"
[ -x "$probe" ] || { echo "test_capped: $probe not built (run scripts/setup.sh)" >&2; exit 1; }

echo "test_capped: uncapped:"
"$probe" | sed 's/^/  /'
log=$(env "${CAPS[@]}" ONEDNN_VERBOSE=1 MKL_VERBOSE=1 "$probe" 2>&1)
fail() { echo "test_capped: the caps did not take: $*" >&2; echo "$log" | head -40 >&2; exit 1; }
grep -q '^aten_capability AVX2$' <<<"$log" || fail "ATen does not run its AVX2 kernels"
isa=$(grep -m1 'onednn_verbose.*info,cpu,isa:' <<<"$log" | sed 's/.*isa://') || true
[ -n "$isa" ] || fail "oneDNN printed no ISA line"
[ "$isa" = "Intel AVX2" ] || fail "oneDNN runs '$isa', expected 'Intel AVX2'"
conv=$(grep -m1 'onednn_verbose.*exec,cpu,convolution' <<<"$log" | cut -d, -f6-7) || true
if grep -q '^MKL_VERBOSE oneMKL' <<<"$log"; then
  mkl=$(grep -m1 '^MKL_VERBOSE oneMKL' <<<"$log")
  grep -q 'Intel(R) AVX2) enabled processors' <<<"$mkl" || fail "MKL does not run its AVX2 code path: $mkl"
  blas="MKL AVX2"
else
  blas="not MKL (OpenBLAS is not capped: see the script's header)"
fi
echo "test_capped: capped to AVX2: $(grep '^aten_capability' <<<"$log"), oneDNN '$isa' (convolution ${conv:-?}), BLAS $blas, $(grep '^native_bf16' <<<"$log")"

env "${CAPS[@]}" ctest --test-dir "$BUILD" --output-on-failure -j2 -L numeric "$@"
