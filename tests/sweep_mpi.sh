#!/usr/bin/env bash
# A sweep under `mpirun -n 2` (loopback) writes the same table, byte for byte, as one process; skipped (77) when
# mpirun is absent or clustersim was built without MPI.
# Usage: sweep_mpi.sh CLUSTERSIM WORKDIR DATADIR
set -u
cs=$1
dir=$2
data=$3
command -v mpirun >/dev/null || { echo "mpirun not found: skipped"; exit 77; }
ldd "$cs" | grep -q libmpi || { echo "clustersim built without MPI: skipped"; exit 77; }
rm -rf "$dir" && mkdir -p "$dir"
"$cs" sweep "$data/small.textproto" --out "$dir/one" -q >/dev/null 2>&1 || { echo "FAIL: single-process sweep"; exit 1; }
mpirun -n 2 --oversubscribe "$cs" sweep "$data/small.textproto" --out "$dir/mpi" >"$dir/mpi.out" 2>"$dir/mpi.err" ||
  { echo "FAIL: mpirun"; cat "$dir/mpi.err"; exit 1; }
fail=0
for f in sweep.csv sweep.json report.html; do
  cmp "$dir/one/$f" "$dir/mpi/$f" || fail=1
done
[ "$(grep -c '^\[[0-9]/8\]' "$dir/mpi.err")" -eq 8 ] || { echo "FAIL: rank 0 should print 8 progress lines"; cat "$dir/mpi.err"; fail=1; }
[ $fail -eq 0 ] && echo "MPI sweep matches the single-process sweep"
exit $fail
