#!/usr/bin/env bash
# clustersim sweep end to end: the table has one row per point; a sweep stopped early (--max-points) and resumed, one
# killed with SIGKILL and resumed, and one run as two shards then gathered give byte-identical tables; a bad value
# exits 2 naming the file, line, axis and value, and writes nothing.
# Usage: sweep_cli.sh CLUSTERSIM WORKDIR DATADIR
set -u
cs=$1
dir=$2
data=$3
rm -rf "$dir" && mkdir -p "$dir"
fail=0
same() {  # dir_a dir_b
  for f in sweep.csv sweep.json report.html; do
    cmp -s "$1/$f" "$2/$f" || { echo "FAIL: $1/$f and $2/$f differ"; fail=1; }
  done
}
"$cs" sweep "$data/small.textproto" --out "$dir/whole" >"$dir/whole.out" 2>"$dir/whole.err" || { echo "FAIL: sweep"; cat "$dir/whole.err"; exit 1; }
rows=$(($(wc -l <"$dir/whole/sweep.csv") - 1))
[ "$rows" -eq 8 ] || { echo "FAIL: $rows rows, expected 8"; fail=1; }
[ "$(ls "$dir/whole/points" | wc -l)" -eq 8 ] || { echo "FAIL: expected 8 point files"; fail=1; }
grep -q '^\[8/8\] gpus=32 fabric=rail_optimized batch=32: .* step, MFU' "$dir/whole.err" || { echo "FAIL: progress"; cat "$dir/whole.err"; fail=1; }

# Interrupted after 3 points, then resumed: the 3 finished points are not simulated again.
"$cs" sweep "$data/small.textproto" --out "$dir/resumed" --max-points 3 2>"$dir/part.err" >/dev/null || fail=1
[ ! -e "$dir/resumed/sweep.csv" ] || { echo "FAIL: a partial sweep wrote the table"; fail=1; }
grep -q "5 of 8 points still to run" "$dir/part.err" || { echo "FAIL: partial message"; cat "$dir/part.err"; fail=1; }
"$cs" sweep "$data/small.textproto" --out "$dir/resumed" 2>"$dir/resume.err" >/dev/null || fail=1
[ "$(grep -c '(cached)' "$dir/resume.err")" -eq 3 ] || { echo "FAIL: expected 3 cached points"; cat "$dir/resume.err"; fail=1; }
grep -q "5 simulated, 3 cached" "$dir/resume.err" || { echo "FAIL: resume counts"; fail=1; }
same "$dir/whole" "$dir/resumed"

# Killed (SIGKILL) after its first point files are written, then resumed: the table is the same. Point files are
# written atomically, so a kill can lose the point in progress but never leaves a partial file behind.
"$cs" sweep "$data/small.textproto" --out "$dir/killed" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 1200); do
  [ "$(ls "$dir/killed/points" 2>/dev/null | grep -c '\.json$')" -ge 2 ] && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
done_before=$(ls "$dir/killed/points" 2>/dev/null | grep -c '\.json$')
echo "killed with $done_before of 8 points written"
"$cs" sweep "$data/small.textproto" --out "$dir/killed" >/dev/null 2>"$dir/killed.err" || { echo "FAIL: resume after kill"; cat "$dir/killed.err"; fail=1; }
[ "$(grep -c '(cached)' "$dir/killed.err")" -ge "$done_before" ] || { echo "FAIL: finished points were recomputed"; fail=1; }
same "$dir/whole" "$dir/killed"

# Slurm job array style: two shards into one directory, then --gather.
for i in 0 1; do
  "$cs" sweep "$data/small.textproto" --out "$dir/shards" --shard $i/2 -q >/dev/null 2>&1 || { echo "FAIL: shard $i"; fail=1; }
done
"$cs" sweep "$data/small.textproto" --out "$dir/shards" --gather >/dev/null 2>&1 || { echo "FAIL: gather"; fail=1; }
same "$dir/whole" "$dir/shards"

# Bad input.
"$cs" sweep "$data/bad_value.textproto" --out "$dir/bad" >/dev/null 2>"$dir/bad.err"
rc=$?
[ $rc -eq 2 ] || { echo "FAIL: bad value: exit status $rc, expected 2"; fail=1; }
grep -q 'bad_value.textproto:5: workload.parallelism.tp = "eight": axis 2: not a valid uint32 value' "$dir/bad.err" || { echo "FAIL: bad value message:"; cat "$dir/bad.err"; fail=1; }
[ ! -e "$dir/bad" ] || { echo "FAIL: bad sweep wrote output"; fail=1; }
"$cs" sweep "$data/small.textproto" --out "$dir/x" --shard 2/2 >/dev/null 2>"$dir/shard.err"
[ $? -eq 2 ] && grep -q -- '--shard = "2/2": must be I/N' "$dir/shard.err" || { echo "FAIL: bad shard"; cat "$dir/shard.err"; fail=1; }
[ $fail -eq 0 ] && echo "sweep CLI checks passed"
exit $fail
