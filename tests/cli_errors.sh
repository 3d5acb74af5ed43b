#!/usr/bin/env bash
# Bad input must give exit status 2, a message naming the field and the rule on stderr, and no output file.
# Usage: cli_errors.sh CLUSTERSIM WORKDIR DATADIR
set -u
cs=$1
dir=$2
data=$3
rm -rf "$dir" && mkdir -p "$dir"
fail=0
check() {  # name, expected stderr regex, args...
  local name=$1 re=$2
  shift 2
  rm -rf "$dir/out"
  "$cs" "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  local rc=$?
  if [ $rc -ne 2 ]; then echo "FAIL $name: exit status $rc, expected 2"; fail=1; fi
  if ! grep -Eq -- "$re" "$dir/$name.err"; then echo "FAIL $name: stderr does not match /$re/:"; cat "$dir/$name.err"; fail=1; fi
  if [ "$(wc -l <"$dir/$name.err")" -gt 1 ]; then echo "FAIL $name: more than one line on stderr"; fail=1; fi
  if [ -e "$dir/out/result.json" ]; then echo "FAIL $name: an output file was written"; fail=1; fi
}
cat >"$dir/neg_bw.textproto" <<'X'
accelerator { name: "H100-SXM" }
cluster { num_gpus: 16 scale_out { nic_bandwidth_gbps: -400 } }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 16 } }
X
cat >"$dir/bad_tp.textproto" <<'X'
accelerator { name: "H100-SXM" }
cluster { num_gpus: 16 }
workload { model { preset: "llama3_8b" } parallelism { tp: 3 global_batch_size: 16 } }
X
cat >"$dir/unknown.textproto" <<'X'
accelerator { name: "H100-SXM" }
cluster { num_gpus: 16 gpus_per_rack: 2 }
X
cat >"$dir/hd.textproto" <<'X'
accelerator { name: "H100-SXM" }
cluster { num_gpus: 24 }
workload { model { preset: "llama3_8b" seq_len: 4096 } parallelism { tp: 8 global_batch_size: 24 } }
collectives { all_reduce: "halving_doubling" }
X
cat >"$dir/zero.json" <<'X'
{"accelerator": {"name": "H100-SXM"}, "cluster": {"num_gpus": 0},
 "workload": {"model": {"preset": "llama3_8b"}, "parallelism": {"global_batch_size": 16}}}
X
check missing_file "nonexistent.*cannot open" run "$dir/nonexistent.textproto" --out "$dir/out"
check negative_bandwidth "neg_bw.textproto:2: cluster.scale_out.nic_bandwidth_gbps = -400: must be" run "$dir/neg_bw.textproto" --out "$dir/out"
check bad_parallelism "bad_tp.textproto:3: workload.parallelism.[a-z]+ = .*3" run "$dir/bad_tp.textproto" --out "$dir/out"
check unknown_field "unknown.textproto:2.*gpus_per_rack" run "$dir/unknown.textproto" --out "$dir/out"
check zero_gpus "zero.json: cluster.num_gpus = 0: must be > 0" run "$dir/zero.json" --out "$dir/out"
check unknown_option "unknown|not expected|extras" run --bogus-option
check bad_size "--sizes = \"12Q\"" coll --sizes 12Q
check impossible_scenario_algorithm "all_reduce over the dp group of 3 ranks.*power-of-two" run "$dir/hd.textproto" --out "$dir/out"
check bad_algorithm "unknown all_reduce algorithm \"bogus\"" coll -a bogus --sizes 1M
check impossible_algorithm "halving_doubling needs a power-of-two group, got 12 ranks" coll -a halving_doubling -g 12 --sizes 1M
check bad_case "bad_case.textproto:4: expected.quantity = \"speed\": unknown quantity" validate "$data/bad_case.textproto"
check missing_case "nonexistent.textproto: cannot open validation case" validate "$dir/nonexistent.textproto"
if [ $fail -eq 0 ]; then echo "all bad-input checks passed"; fi
exit $fail
