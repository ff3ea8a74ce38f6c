#!/usr/bin/env bash
# Run a ned training command as N data-parallel processes on this machine (one per GPU when there are
# GPUs, else N CPU processes over Gloo), the way torchrun would:
#   scripts/launch_local.sh 4 ned train-renderer actor/ --out runs/actor
#   scripts/launch_local.sh 2 build/src/cli/ned train-manipulator dataset/ --out runs/manip --batch-size 32
# Sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1 and MASTER_PORT (default 29500, or $MASTER_PORT)
# for each process, prefixes each line of output with its rank, and exits non-zero if any rank fails
# (a rank that dies makes the others stop within --dist-timeout). Ctrl-C stops all ranks.
set -u
if [ $# -lt 2 ] || ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ]; then
  echo "usage: $0 N COMMAND [ARGS...]   (N >= 1 processes)" >&2
  exit 2
fi
N=$1
shift
PORT=${MASTER_PORT:-29500}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null' INT TERM
for ((r = 0; r < N; r++)); do
  RANK=$r WORLD_SIZE=$N LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT \
    "$@" > >(sed -u "s/^/[rank $r] /") 2> >(sed -u "s/^/[rank $r] /" >&2) &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do
  wait "$p" || status=1
done
exit $status
