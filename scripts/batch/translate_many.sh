#!/bin/bash
# Run many `ned translate` / `ned style` jobs from a tab-separated job file, N at a time.
#
#   scripts/batch/translate_many.sh [-j N] [--logs DIR] [--line K] JOBS.tsv [-- options for every job]
#
# JOBS.tsv: one job a line, fields separated by TABs; empty lines and lines starting with # are ignored:
#   INPUT  OUTPUT  EDIT  [OPTIONS]
#     EDIT:    happy | happy,sad | emotion=happy | schedule=0:neutral,2.5:happy | reference=REF.mp4
#              (a bare word is an emotion; reference= runs `ned style`)
#     OPTIONS: further ned options for this job, split on spaces (e.g. --renderer r.safetensors --intensity 0.7)
# A job whose OUTPUT exists is skipped (delete it, or add -y to its OPTIONS, to redo it). Each job writes
# LOGS/<line>_<output name>.log (default LOGS = logs/ next to JOBS.tsv). Jobs run through $NED (default: ned on
# the PATH). --line K runs only the K-th job line (1-based, counting job lines only): the Slurm array template
# uses it. Exit status: the number of failed jobs (0 = all ok or skipped; at most 100).
set -uo pipefail

JOBS_AT_ONCE=1
LOGS=""
ONLY_LINE=0
JOBFILE=""
COMMON=()
while (($#)); do
    case "$1" in
        -j) JOBS_AT_ONCE=${2:?-j needs a number}; shift 2 ;;
        -j*) JOBS_AT_ONCE=${1#-j}; shift ;;
        --logs) LOGS=${2:?--logs needs a folder}; shift 2 ;;
        --line) ONLY_LINE=${2:?--line needs a number}; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --) shift; COMMON=("$@"); break ;;
        *) if [[ -z "$JOBFILE" ]]; then JOBFILE=$1; shift; else echo "translate_many: unexpected argument '$1'" >&2; exit 2; fi ;;
    esac
done
[[ -n "$JOBFILE" ]] || { echo "usage: translate_many.sh [-j N] [--logs DIR] [--line K] JOBS.tsv [-- options]" >&2; exit 2; }
[[ -f "$JOBFILE" ]] || { echo "translate_many: job file not found: $JOBFILE" >&2; exit 2; }
[[ "$JOBS_AT_ONCE" =~ ^[1-9][0-9]*$ ]] || { echo "translate_many: -j needs a positive number" >&2; exit 2; }
NED=${NED:-ned}
[[ -n "$LOGS" ]] || LOGS="$(dirname "$JOBFILE")/logs"
mkdir -p "$LOGS" || exit 2

# run_job NUMBER INPUT OUTPUT EDIT [OPTIONS]: one job, its log in LOGS; returns ned's exit status.
run_job() {
    local n=$1 input=$2 output=$3 edit=$4 opts=${5:-}
    local log="$LOGS/${n}_$(basename "$output").log"
    local cmd edit_args
    case "$edit" in
        reference=*) cmd=style; edit_args=(--reference "${edit#reference=}") ;;
        schedule=*) cmd=translate; edit_args=(--schedule "${edit#schedule=}") ;;
        emotion=*) cmd=translate; edit_args=(--emotion "${edit#emotion=}") ;;
        "") echo "job $n: no edit (third field)" >"$log"; return 2 ;;
        *) cmd=translate; edit_args=(--emotion "$edit") ;;
    esac
    local extra=()
    # shellcheck disable=SC2206  # OPTIONS are split on spaces on purpose
    [[ -n "$opts" ]] && extra=($opts)
    {
        echo "job $n: $NED $cmd $input $output ${edit_args[*]} ${extra[*]} ${COMMON[*]}"
        "$NED" "$cmd" "$input" "$output" "${edit_args[@]}" "${extra[@]}" "${COMMON[@]}"
    } >"$log" 2>&1
}

declare -A PID_JOB=()
failed=0 done_ok=0 skipped=0 n=0
reap_one() {  # wait for any job, count its result
    local pid status
    wait -n -p pid; status=$?
    local job=${PID_JOB[$pid]:-?}
    unset "PID_JOB[$pid]"
    if ((status == 0)); then
        done_ok=$((done_ok + 1)); echo "job $job: ok"
    else
        failed=$((failed + 1)); echo "job $job: FAILED (exit $status, log in $LOGS)" >&2
    fi
}

while IFS=$'\t' read -r input output edit opts || [[ -n "${input:-}" ]]; do
    [[ -z "${input// }" || "$input" == \#* ]] && continue
    n=$((n + 1))
    ((ONLY_LINE > 0 && n != ONLY_LINE)) && continue
    if [[ -z "${output:-}" ]]; then
        echo "job $n: no output (second field)" >&2; failed=$((failed + 1)); continue
    fi
    if [[ -e "$output" && " ${opts:-} " != *" -y "* ]]; then
        echo "job $n: $output exists, skipped"; skipped=$((skipped + 1)); continue
    fi
    while ((${#PID_JOB[@]} >= JOBS_AT_ONCE)); do reap_one; done
    run_job "$n" "$input" "$output" "${edit:-}" "${opts:-}" &
    PID_JOB[$!]=$n
done <"$JOBFILE"
while ((${#PID_JOB[@]} > 0)); do reap_one; done

if ((ONLY_LINE > 0 && n < ONLY_LINE)); then
    echo "translate_many: the job file has only $n job lines (asked for line $ONLY_LINE)" >&2; exit 2
fi
echo "translate_many: $done_ok ok, $skipped skipped, $failed failed"
exit $((failed > 100 ? 100 : failed))
