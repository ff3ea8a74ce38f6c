#!/usr/bin/env bash
# Formats ned's C++ sources with .clang-format (clang-format 14, Debian 12's `clang-format-14`; other versions
# format some constructs differently, so the check insists on 14).
#   scripts/format.sh              format every tracked .cpp/.hpp/.h/.cu under src/ include/ tests/ bench/
#   scripts/format.sh FILE...      format these files
#   scripts/format.sh --check [FILE...]   change nothing; list the files that are not formatted, exit 1 if any
# Exit 77 (skip) when clang-format 14 is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
CF=${CLANG_FORMAT:-}
if [[ -z "$CF" ]]; then
  for c in clang-format-14 clang-format; do
    if command -v "$c" >/dev/null && "$c" --version | grep -q "version 14\."; then CF=$c; break; fi
  done
fi
if [[ -z "$CF" ]]; then
  echo "format.sh: clang-format 14 not found (apt install clang-format-14); not checked" >&2
  exit 77
fi
check=0
if [[ "${1:-}" == "--check" ]]; then check=1; shift; fi
if [[ $# -gt 0 ]]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files 'src/*.cpp' 'src/*.hpp' 'src/*.h' 'src/*.cu' 'include/*.hpp' 'include/*.h' \
                                    'tests/*.cpp' 'tests/*.hpp' 'bench/*.cpp' 'bench/*.hpp')
fi
if [[ $check -eq 1 ]]; then
  bad=0
  for f in "${files[@]}"; do
    if ! "$CF" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then echo "not formatted: $f"; bad=1; fi
  done
  long=$(awk 'length > 120 { print FILENAME ":" FNR; n++ } END { exit 0 }' "${files[@]}" | head -20)
  if [[ -n "$long" ]]; then echo "lines over 120 columns:"; echo "$long"; bad=1; fi
  if [[ $bad -eq 1 ]]; then echo "run scripts/format.sh to fix" >&2; fi
  exit $bad
fi
"$CF" --style=file -i "${files[@]}"
