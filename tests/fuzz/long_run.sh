#!/usr/bin/env bash
# The long fuzzing run of docs/input-limits.md: every fuzz target for N executions (default 10 million), one target
# at a time and at the lowest CPU priority (the machine is shared), each from the seed corpus and the target's
# dictionary, with the limits of the smoke runs. Prints one summary line per target; the logs and the grown corpora
# stay in WORKDIR. Exits non-zero if a target found a crash, hang, leak or out-of-memory input (saved in WORKDIR).
# At nice 19 on a shared machine a unit can wait seconds for a core, so the long run allows 60 s per unit (the smoke
# runs 10 s) and re-runs any saved input alone: a timeout that does not reproduce alone is reported as load.
# Usage: tests/fuzz/long_run.sh BUILD_DIR WORKDIR [RUNS] [TARGET...]
set -u
build=$1
work=$2
runs=${3:-10000000}
shift 3 2>/dev/null || shift $#
src=$(cd "$(dirname "$0")/../.." && pwd)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(scenario_text_fuzz scenario_json_fuzz sweep_fuzz case_fuzz chakra_reader_fuzz)
mkdir -p "$work/bin"
cp "$build"/tests/fuzz/out/*_fuzz "$work/bin/"  # a rebuild during the run does not touch the binaries that run
status=0
for t in "${targets[@]}"; do
  dict=-dict=$src/tests/fuzz/fuzz.dict
  case $t in
    scenario_text_fuzz) seeds=$src/workloads/scenarios ;;
    scenario_json_fuzz) seeds=$src/tests/fuzz/corpus/scenario_json ;;
    sweep_fuzz) seeds=$src/tests/data/sweep ;;
    case_fuzz) seeds=$src/tests/validation ;;
    chakra_reader_fuzz) seeds=$src/tests/fuzz/corpus/chakra; dict= ;;
  esac
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
  start=$(date +%s)
  nice -n 19 "$work/bin/$t" -runs="$runs" -seed=1 -max_len=4096 -timeout=60 -rss_limit_mb=2048 $dict \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" "$work/corpus/$t" "$seeds" >"$work/$t.log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  done_line=$(grep -a "^#[0-9]*[[:space:]]*DONE" "$work/$t.log" | tail -1)
  execs=$(grep -a "stat::number_of_executed_units" "$work/$t.log" | awk '{print $2}')
  peak=$(grep -a "stat::peak_rss_mb" "$work/$t.log" | awk '{print $2}')
  alone=""
  for a in "$work/artifacts/$t"/*; do
    [ -f "$a" ] || continue
    timeout 120 "$work/bin/$t" -timeout=10 -rss_limit_mb=2048 "$a" >/dev/null 2>&1
    alone="$alone $(basename "$a"): exit $? alone;"
  done
  echo "$t: exit $rc, ${execs:-?} executions in ${secs} s, peak RSS ${peak:-?} MB, artifacts: $(ls "$work/artifacts/$t" | wc -l)${alone:+ (}${alone}${alone:+)} | $done_line"
  [ $rc -ne 0 ] && status=1
done
exit $status
