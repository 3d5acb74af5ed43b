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
  # One line of ours; AddressSanitizer's stack-switch notice (asan preset, SimGrid contexts) is not counted.
  if [ "$(grep -cvE '^(==[0-9]+==WARNING: ASan is ignoring|False positive error reports may follow|For details see https://github.com/google/sanitizers)' "$dir/$name.err")" -gt 1 ]; then
    echo "FAIL $name: more than one line on stderr"; fail=1
  fi
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
cat >"$dir/bad_zero3.textproto" <<'X'
accelerator { name: "H100-SXM" }
cluster { num_gpus: 16 }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 16 zero_stage: 1 zero3_implementation: "deepspeed_2021" } }
X
check zero3_implementation_needs_zero3 "bad_zero3.textproto:3: workload.parallelism.zero3_implementation = \"deepspeed_2021\": applies to zero_stage 3 only" run "$dir/bad_zero3.textproto" --out "$dir/out"
cat >"$dir/bad_unit.textproto" <<'X'
accelerator { name: "H100-SXM" }
cluster { num_gpus: 16 scale_out { nic_bandwidth_gbps: 400e9 } }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 16 } }
X
check wrong_unit "bad_unit.textproto:2: cluster.scale_out.nic_bandwidth_gbps = 4e\+11: outside the plausible range .* Gb/s per NIC .*unit 1000 or more times smaller" run "$dir/bad_unit.textproto" --out "$dir/out"
check unknown_field "unknown.textproto:2.*gpus_per_rack" run "$dir/unknown.textproto" --out "$dir/out"
check zero_gpus "zero.json: cluster.num_gpus = 0: must be > 0" run "$dir/zero.json" --out "$dir/out"
check unknown_option "unknown|not expected|extras" run --bogus-option
check bad_size "--sizes = \"12Q\"" coll --sizes 12Q
check impossible_scenario_algorithm "all_reduce over the dp group of 3 ranks.*power-of-two" run "$dir/hd.textproto" --out "$dir/out"
check bad_algorithm "unknown all_reduce algorithm \"bogus\"" coll -a bogus --sizes 1M
check impossible_algorithm "halving_doubling needs a power-of-two group, got 12 ranks" coll -a halving_doubling -g 12 --sizes 1M
check bad_case "bad_case.textproto:4: expected.quantity = \"speed\": unknown quantity" validate "$data/bad_case.textproto"
check missing_case "nonexistent.textproto: cannot open validation case" validate "$dir/nonexistent.textproto"
absent() {  # name, path: the failed command must not have left this path behind
  if [ -e "$2" ]; then echo "FAIL $1: $2 was left behind"; fail=1; fi
}
cat >"$dir/carbon.textproto" <<'X'
id: "c" category: "energy_carbon"
expected { quantity: "tco2e" value: 1 tolerance_pct: 5 }
carbon { gpu_hours: 1 power_w_per_gpu: 1 kgco2e_per_kwh: 1 }
X
cat >"$dir/bad_scenario_case.textproto" <<'X'
id: "s" category: "collective"
scenario { accelerator { name: "H100-SXM" } cluster { num_gpus: 12 } workload { model { preset: "llama3_8b" } parallelism { global_batch_size: 12 } } }
collective { collective: "all_reduce" size_bytes: 1048576 group_size: 8 }
expected { quantity: "busbw_gbyte_per_s" value: 100 tolerance_pct: 5 }
X
cat >"$dir/bad_label.textproto" <<'X'
name: "s" label: "{gpus} GPUs {nope}"
scenario { accelerator { name: "H100-SXM" } cluster { num_gpus: 16 } workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 16 } } }
axes { field: "cluster.num_gpus" name: "gpus" values: ["16", "32"] }
X
check scenario_is_dir "$dir: is a directory, not a scenario file" run "$dir"
check out_is_file "--out = \".*hd.textproto\": exists and is not a directory" run "$dir/hd.textproto" --out "$dir/hd.textproto"
check unknown_command "command = \"frobnicate\": unknown; commands: run" frobnicate
check zero_stride "--stride = 0: must be >= 1" coll --stride 0 -g 2 --sizes 1M
check garbage_size "--sizes = \"1..5M\"" coll --sizes 1..5M
check sub_byte_size "--sizes = \"0.5\"" coll --sizes 0.5
check dot_too_large "--dot $dir/fabric.dot: fabric vertices = [0-9]+: Graphviz export is limited" topo --dot "$dir/fabric.dot"
absent dot_too_large "$dir/fabric.dot"
check compare_dir "$dir: is a directory, not a result file" compare "$dir"
check html_no_dir "--html = \".*/nodir/x.html\": the directory .* does not exist" compare "$dir/x.json" --html "$dir/nodir/x.html"
check bad_prefix "--prefix = \"a/b\": must be a plain file name prefix" export "$dir/hd.textproto" "$dir/out" --prefix a/b
absent bad_prefix "$dir/out"
check nan_tokens "--tokens = nan: must be a finite number > 0" goal "$data/plan/goal_small.textproto" --deadline-days 3 --tokens nan
check nan_cost "--max-cost-usd = nan: must be a finite number >= 0" goal "$data/plan/goal_small.textproto" --deadline-days 3 --max-cost-usd nan
check bad_fabric "--fabrics = \"warp\": must be one of: fat_tree" goal "$data/plan/goal_small.textproto" --deadline-days 3 --fabrics fat_tree,warp
check goodput_nan_tokens "--tokens = nan: must be a finite number > 0" goodput "$data/plan/goal_small.textproto" --tokens nan
check missing_known_misses "nonexistent.txt: cannot open known-misses file" validate "$dir/carbon.textproto" --markdown "$dir/v.md" --known-misses "$dir/nonexistent.txt"
absent missing_known_misses "$dir/v.md"
check bad_case_scenario "bad_scenario_case.textproto:2: cluster.num_gpus = 12: must be a multiple" validate "$dir/bad_scenario_case.textproto"
check bad_sweep_label "bad_label.textproto:1: label = .*\{nope\} names no column" sweep "$dir/bad_label.textproto" --out "$dir/out"
absent bad_sweep_label "$dir/out"
cat >"$dir/huge_batch.textproto" <<'X'
accelerator { name: "H100-SXM" } cluster { num_gpus: 8 }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 2147483648 } }
X
cat >"$dir/huge_layers.textproto" <<'X'
accelerator { name: "H100-SXM" } cluster { num_gpus: 8 }
workload { model { preset: "llama3_8b" layers: 4294967295 } parallelism { tp: 8 global_batch_size: 8 } }
X
cat >"$dir/no_fit.textproto" <<'X'
accelerator { name: "H100-SXM" } cluster { num_gpus: 8 }
workload { model { preset: "llama3_405b" } parallelism { tp: 8 global_batch_size: 8 } }
X
check huge_batch "huge_batch.textproto:2: workload.parallelism.global_batch_size = 2147483648: must be in \[1, 1073741824\]" run "$dir/huge_batch.textproto" --out "$dir/out"
check huge_layers "huge_layers.textproto:2: workload.model.layers = 4294967295: must be in \[1, 4096\]" run "$dir/huge_layers.textproto" --out "$dir/out"
check too_many_trials "--trials = 4000000000: must be 1 to 1,000,000" goodput "$data/plan/goal_small.textproto" --trials 4000000000
# A plan over the HBM runs flagged; --strict-memory (or options.strict_memory) refuses it.
check no_fit_names_file "no_fit.textproto: workload.parallelism = \(memory\): needs .* GB per GPU" run "$dir/no_fit.textproto" --strict-memory --out "$dir/out"
cat >"$dir/no_fit_strict.textproto" <<'X'
accelerator { name: "H100-SXM" } cluster { num_gpus: 8 } options { strict_memory: true }
workload { model { preset: "llama3_405b" } parallelism { tp: 8 global_batch_size: 8 } }
X
cat >"$dir/small_fabric.textproto" <<'X'
accelerator { name: "H100-SXM" }
cluster { num_gpus: 1024 scale_out { topology: "fat_tree" switch_radix: 8 tiers: 2 } }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 128 } }
X
check small_fabric "small_fabric.textproto:2: cluster.scale_out.(switch_radix|tiers) = [0-9]+: a 2-tier fat_tree of 8-port switches holds at most 32" run "$dir/small_fabric.textproto" --out "$dir/out"
cat >"$dir/oversub_top.textproto" <<'X'
accelerator { name: "H100-SXM" }
cluster { num_gpus: 64 scale_out { topology: "fat_tree" oversubscription: [2, 3] } }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 64 } }
X
cat >"$dir/dense_routing.textproto" <<'X'
accelerator { name: "H100-SXM" }
cluster { num_gpus: 64 }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 64 } moe_routing { max_nodes_per_token: 2 } }
X
echo '{}' >"$dir/empty.json"
check oversub_top "oversub_top.textproto:2: cluster.scale_out.oversubscription\[0\] = 2: a 1-tier fabric has no uplinks" run "$dir/oversub_top.textproto" --out "$dir/out"
check dense_routing "dense_routing.textproto:3: workload.moe_routing.max_nodes_per_token = 2: routing needs a MoE model" run "$dir/dense_routing.textproto" --out "$dir/out"
check not_a_result "empty.json: not a clustersim result" compare "$dir/empty.json" "$dir/empty.json"
check export_no_fit "no_fit_strict.textproto: workload.parallelism = \(memory\): needs .* GB per GPU" export "$dir/no_fit_strict.textproto" "$dir/out_export"
absent export_no_fit "$dir/out_export"
cat >"$dir/bad_group_case.textproto" <<'X'
id: "s" category: "collective"
scenario { accelerator { name: "H100-SXM" } cluster { num_gpus: 16 } workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 16 } } }
collective { collective: "all_reduce" size_bytes: 1048576 group_size: 64 }
expected { quantity: "busbw_gbyte_per_s" value: 100 tolerance_pct: 5 }
X
check bad_group_case "bad_group_case.textproto:3: collective.group_size = 64 \(group_stride 1\): must hold at least 2 ranks and fit" validate "$dir/carbon.textproto" "$dir/bad_group_case.textproto" --markdown "$dir/v2.md"
absent bad_group_case "$dir/v2.md"
cat >"$dir/implausible.textproto" <<'X'
accelerator { name: "H100-SXM" bf16_tflops: 1e-300 }
cluster { num_gpus: 16 }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 16 } }
X
check implausible_unit "implausible.textproto:1: accelerator.bf16_tflops = 1e-300: outside the plausible range" run "$dir/implausible.textproto" --out "$dir/out"
# Each value plausible, together an implausible step: caught after the simulation.
cat >"$dir/implausible_step.textproto" <<'X'
accelerator { name: "H100-SXM" bf16_tflops: 0.001 fp8_tflops: 0.002 }
cluster { num_gpus: 16 }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 1024 } }
X
check implausible_step "implausible_step.textproto: result.step_time_s = [0-9.]+e\+07: a step longer than 1e\+07 s \(implausible\): it comes from implausible inputs" run "$dir/implausible_step.textproto" --out "$dir/out"
# No silent surprises (issue #22): a custom chip without scale-up must say so; a partial scale-up domain must be asked
# for; an unknown example names the known ones; a budget given twice; FLOPs that are not a number.
cat >"$dir/no_scale_up.textproto" <<'X'
accelerator { name: "MyChip" bf16_tflops: 1000 hbm_gb: 96 hbm_bandwidth_gbyte_per_s: 4000 tdp_w: 800 }
cluster { num_gpus: 64 }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 64 } }
X
check no_scale_up "no_scale_up.textproto:1: accelerator.scale_up_bandwidth_gbyte_per_s = 0: \"MyChip\" has no scale-up fabric: .*kind: \"none\"" run "$dir/no_scale_up.textproto" --out "$dir/out"
cat >"$dir/partial_nvl72.textproto" <<'X'
accelerator { name: "GB200" }
cluster { num_gpus: 98304 }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 12288 } }
X
check partial_domain "partial_nvl72.textproto:2: cluster.num_gpus = 98304: is not a multiple of the scale-up domain \(72 GPUs, nvl72\): the last domain would hold 24 GPUs; use 98280 or 98352 GPUs" run "$dir/partial_nvl72.textproto" --out "$dir/out"
check unknown_example "scenario = \"example:nope\": no such example; examples: .*default" run example:nope --out "$dir/out"
cat >"$dir/two_budgets.textproto" <<'X'
accelerator { name: "H100-SXM" }
cluster { num_gpus: 16 }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 16 } }
facility { training_tokens: 1e12 training_flops: 1e24 }
X
check two_budgets "two_budgets.textproto: facility.training_tokens = 1e\+12: give training_tokens or training_flops, not both" run "$dir/two_budgets.textproto" --out "$dir/out"
check goal_nan_flops "--flops = nan: must be a finite number > 0" goal "$data/plan/goal_small.textproto" --deadline-days 3 --flops nan
if [ $fail -eq 0 ]; then echo "all bad-input checks passed"; fi
exit $fail
