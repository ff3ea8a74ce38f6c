#!/usr/bin/env bash
# Print the Python interpreter that ned's converters and tests use, the one way it is found everywhere:
#   1. $NED_PYTHON, when set (then only that one is tried);
#   2. else the virtual environment of the pinned torch wheel that scripts/setup.sh makes (scripts/torch_env.sh);
#   3. else Debian's /usr/bin/python3 (python3-numpy / python3-torch with NED_TORCH=debian);
#   4. else the first python3 on PATH.
# With module names as arguments (e.g. `find_python.sh numpy torch`), the interpreter must import them all;
# exit status 1 (and nothing printed) when none does. A `python3` on PATH may be a shim without numpy or
# torch, which is why Debian's own interpreter comes first.
set -u
mods=""
for m in "$@"; do mods="${mods}import ${m}; "; done
if [ -n "${NED_PYTHON:-}" ]; then
  cands=("$NED_PYTHON")
else
  . "$(dirname "$0")/torch_env.sh"
  cands=()
  p=$(ned_torch_python) && cands+=("$p")
  cands+=(/usr/bin/python3)
  p=$(command -v python3 2>/dev/null) && cands+=("$p")
fi
for c in "${cands[@]}"; do
  [ -x "$c" ] || c=$(command -v "$c" 2>/dev/null) || continue
  if "$c" -c "${mods:-pass}" >/dev/null 2>&1; then
    echo "$c"
    exit 0
  fi
done
exit 1
