#!/usr/bin/env python3
"""Writes tests/validation/extra/<case id>.textproto: held-out validation cases from published measurements that are
NOT in ../shared/validation/cases.yaml. Nothing is fitted on them; they check the calibration made on the shared
cases (docs/validation-notes.md, "Cases outside cases.yaml").

Source: the Megatron-Bridge performance summary of the 25.11 NeMo container, "Pre-Training Performance" tables for
DGX-H100, DGX-B200 and DGX-GB200 (NVIDIA-NeMo/Megatron-Bridge docs/performance-summary.md at commit 00b7660be025,
https://docs.nvidia.com/nemo/megatron-bridge/latest/performance-summary.html). Each row gives the model, GPU count,
precision, GBS, MBS, sequence length, FSDP, TP, PP, CP, VP, EP, tokens/s/GPU and model TFLOP/s/GPU (causal
convention). The DGX-H100 Llama-3 70B row is in cases.yaml (mbridge2511_llama3_70b_h100_64gpu) and not repeated.

Second source: the same summary for the 26.08 NeMo container (commit 067f987df), DGX-GB200 MoE rows (ROWS_2608), with
the recipe settings the table does not show read from src/megatron/bridge/perf_recipes/{qwen,deepseek}/gb200/ at that
commit (RECIPE_2608).

Third source: the 26.04.01 DGX-H100 rows of the same summary's archive (ROWS_2604), with the H100 performance
recipes' settings (RECIPE_2604).

Usage: python3 tests/validation/extra/make_extra.py [--check]
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import make_cases as mc  # noqa: E402  (helpers: emit, scenario, expect_value, MBRIDGE_NOTE)

SCRIPT = "tests/validation/extra/make_extra.py"
SOURCE = ("NVIDIA-NeMo/Megatron-Bridge docs/performance-summary.md (commit 00b7660be025), 25.11 NeMo container, "
          "Pre-Training Performance, System: {system}; "
          "https://docs.nvidia.com/nemo/megatron-bridge/latest/performance-summary.html")

# (id suffix, system, preset, GPUs, precision as published, GBS, MBS, seq, FSDP, TP, PP, CP, VP, EP, tokens/s/GPU,
#  model TFLOP/s/GPU). VP "n/a" is written 1.
ROWS = [
    ("llama3_8b_h100_8gpu", "DGX-H100", "llama3_8b", 8, "FP8-CS", 128, 1, 8192, 1, 1, 1, 1, 1, 1, 14451, 744),
    ("llama31_405b_h100_1024gpu", "DGX-H100", "llama3_405b", 1024, "FP8-CS", 512, 1, 8192, 0, 8, 8, 2, 8, 1, 292, 737),
    ("qwen3_30b_a3b_h100_16gpu", "DGX-H100", "qwen3_30b_a3b", 16, "FP8-CS", 512, 2, 4096, 0, 1, 2, 1, 24, 8, 5275,
     121),
    ("llama3_8b_b200_8gpu", "DGX-B200", "llama3_8b", 8, "FP8-CS", 128, 2, 8192, 0, 1, 1, 1, 1, 1, 30624, 1576),
    ("llama31_405b_b200_128gpu", "DGX-B200", "llama3_405b", 128, "FP8-CS", 64, 1, 8192, 0, 4, 8, 2, 8, 1, 661, 1667),
    ("deepseek_v3_b200_256gpu", "DGX-B200", "deepseek_v3_671b", 256, "FP8-MX", 2048, 1, 4096, 0, 1, 16, 1, 1, 8,
     2139, 557),
    ("qwen3_30b_a3b_b200_8gpu", "DGX-B200", "qwen3_30b_a3b", 8, "FP8-MX", 512, 1, 4096, 0, 1, 1, 1, 1, 8, 9299, 214),
    ("qwen3_235b_a22b_b200_64gpu", "DGX-B200", "qwen3_235b_a22b", 64, "FP8-MX", 1024, 1, 4096, 0, 1, 8, 1, 2, 8,
     3269, 484),
    ("llama3_8b_gb200_8gpu", "DGX-GB200", "llama3_8b", 8, "FP8-CS", 128, 2, 8192, 0, 1, 1, 1, 1, 1, 31508, 1622),
    ("qwen3_235b_a22b_gb200_256gpu", "DGX-GB200", "qwen3_235b_a22b", 256, "BF16", 8192, 1, 4096, 0, 1, 8, 1, 3, 32,
     4916, 728),
    ("deepseek_v3_gb200_256gpu_bf16", "DGX-GB200", "deepseek_v3_671b", 256, "BF16", 4096, 1, 4096, 0, 1, 4, 1, 4, 64,
     3139, 782),
]

# The 26.08 DGX-GB200 MoE rows (same columns). MXFP8 throughout.
ROWS_2608 = [
    ("deepseek_v3_gb200_256gpu", "DGX-GB200", "deepseek_v3_671b", 256, "MXFP8", 4096, 1, 4096, 0, 1, 4, 1, 4, 64,
     4912, 1276),
    ("qwen3_30b_a3b_gb200_8gpu", "DGX-GB200", "qwen3_30b_a3b", 8, "MXFP8", 512, 4, 4096, 0, 1, 1, 1, 1, 8, 39936,
     923),
    ("qwen3_235b_a22b_gb200_256gpu", "DGX-GB200", "qwen3_235b_a22b", 256, "MXFP8", 8192, 1, 4096, 0, 1, 8, 1, 3, 32,
     7280, 1077),
]
SOURCE_2608 = ("NVIDIA-NeMo/Megatron-Bridge docs/performance-summary.md (commit 067f987df), 26.08 NeMo container, "
               "Pre-Training Performance, System: {system}")
# The 26.08 MXFP8 recipes (perf_recipes/qwen/common.py _enable_hybridep_full_iteration_mxfp8, perf_recipes/deepseek/
# gb200/deepseek_v3.py): flex dispatcher with the HybridEP backend, overlap_moe_expert_parallel_comm with
# delay_wgrad_compute, full-iteration CUDA graphs, FP8 dot-product attention, fused grouped MLP; DeepSeek-V3 recomputes
# mla_up_proj. clustersim expresses the dispatcher, the overlap, the recompute, FP8 attention and the fused grouped
# MLP; the CUDA graphs are not modelled.
RECIPE_2608 = {"deepseek_v3_gb200_256gpu": ["mla_up_proj"], "qwen3_30b_a3b_gb200_8gpu": [],
               "qwen3_235b_a22b_gb200_256gpu": []}

# The 26.04.01 DGX-H100 rows (docs/performance-summary-archive.md at commit 067f987df, "26.04.01 NeMo Container",
# Pre-Training Performance: the most recent release with DGX-H100 rows). FP8 on H100 is per-tensor current scaling
# (the H100 performance recipes' _perf_precision("fp8_cs")). GPT OSS 120B stays out (sliding-window attention).
ROWS_2604 = [
    ("llama3_70b_h100_64gpu", "DGX-H100", "llama3_70b", 64, "FP8-CS", 256, 1, 8192, 0, 4, 8, 1, 5, 1, 1664, 731),
    ("llama31_405b_h100_1024gpu", "DGX-H100", "llama3_405b", 1024, "FP8-CS", 1536, 1, 8192, 0, 8, 8, 2, 8, 1, 328,
     827),
    ("qwen3_30b_a3b_h100_16gpu", "DGX-H100", "qwen3_30b_a3b", 16, "FP8-CS", 1024, 1, 4096, 0, 1, 1, 1, 1, 16, 8960,
     206),
    ("qwen3_235b_a22b_h100_256gpu", "DGX-H100", "qwen3_235b_a22b", 256, "FP8-CS", 8192, 1, 4096, 0, 2, 8, 1, 4, 32,
     1712, 253),
]
SOURCE_2604 = ("NVIDIA-NeMo/Megatron-Bridge docs/performance-summary-archive.md (commit 067f987df), 26.04.01 NeMo "
               "container, Pre-Training Performance, System: {system}")
# What the H100 performance recipes (src/megatron/bridge/perf_recipes/{llama,qwen}/h100/ at 067f987df, the closest
# recipes found to that release) set beyond the table, and what clustersim expresses of it.
RECIPE_2604 = {
    "llama3_70b_h100_64gpu": {
        "notes": "the recipe's TP communication overlap (userbuffers_fp8_h100_h8192_tp4_mbs1_seqlen8192), no recompute"},
    "llama31_405b_h100_1024gpu": {
        "notes": "the recipe's TP communication overlap (userbuffers_fp8_h100_h16384_tp8_cp2_mbs1_seqlen8192), no "
                 "recompute, the embedding and the loss counted as pipeline layers (the base recipe)"},
    "qwen3_30b_a3b_h100_16gpu": {
        "moe_routing": {"dispatcher": "flex", "dispatch_dtype": "bf16"},
        "notes": "the flex dispatcher with the HybridEP backend (BF16 dispatch), no all-to-all overlap "
                 "(moe_a2a_overlap False), router fusion, no recompute; not modelled: the CUDA graphs of attn, "
                 "moe_router and moe_preprocess (cuda_graph_impl transformer_engine)"},
    "qwen3_235b_a22b_h100_256gpu": {
        "parallelism": {"overlap_moe_a2a": True, "tp_comm_overlap": False},
        "notes": "the all-to-all dispatcher with its exchange overlapped (overlap_moe_expert_parallel_comm, "
                 "delay_wgrad_compute), no TP communication overlap (tp_comm_overlap False), router fusion, no "
                 "recompute, the embedding and the loss counted as pipeline layers (the base recipe)"},
}


def build_2604(row):
    """A 26.04.01 DGX-H100 row: the 25.11 rules of build() with the recipe's settings of RECIPE_2604 on top."""
    c = build(row, "26.04.01")
    recipe = RECIPE_2604[row[0]]
    w = c["scenario"]["workload"]
    w["parallelism"].update(recipe.get("parallelism", {}))
    if "moe_routing" in recipe:
        w["moe_routing"].update(recipe["moe_routing"])
    head = c["notes"].split(". Assumed")[0]
    c["notes"] = (head + ". Assumed from the recipe: " + recipe["notes"] + "; distributed optimizer (zero_stage 1) "
                  "with overlapped gradient reduce-scatter and parameter all-gather" +
                  (", sequence parallelism" if row[9] > 1 else "") +
                  (", expert_tp 1, balanced routing (moe_router_force_load_balancing)" if row[13] > 1 else "") +
                  ". Held out: nothing is fitted on this case.")
    return c


# Rows of the same tables left out, and why (docs/validation-notes.md repeats this list).
NOT_EXPRESSED = {
    "GPT OSS 120B (H100, B200, GB200)": "alternating sliding-window attention is not modelled",
    "Qwen3 235B-A22B on DGX-H100": "the published row is missing a column (GBS or MBS), so the plan is ambiguous",
    "Llama 3 70B on DGX-GB200 (FSDP, MBS 2)": "without the recipe's activation recompute or offload, clustersim's "
    "memory estimate is 338 GB per GPU (186 GB available)",
    "Llama 3.1 405B on DGX-GB200": "clustersim's memory estimate without recompute is 186.9 GB per GPU, 0.9 GB over",
    "DeepSeek-V3 on DGX-GB200, FP8-MX": "its PP8 EP32 is not the 25.11 GB200 config's PP4 EP64, and the settings "
    "that go with it (recompute, dispatcher) were not found",
    "DGX-GB300 rows": "no GB300 entry in the accelerator catalog",
}


# Recipe settings the table does not show, from the 25.11 performance configs (Megatron-Bridge
# scripts/performance/configs/deepseek/deepseek_workload_base_configs.py at 00b7660be025:
# DEEPSEEK_V3_PRETRAIN_CONFIG_B200_BASE_CONFIG sets recompute_modules ["mla_up_proj"] and moe_a2a_overlap False, and
# no flex backend, so the B200 row keeps the default all-to-all dispatcher; the GB200 config sets "hybridep").
RECOMPUTE_MODULES = {"deepseek_v3_b200_256gpu": ["mla_up_proj"], "deepseek_v3_gb200_256gpu_bf16": ["mla_up_proj"]}
# The 25.11 GB200 DeepSeek-V3 config (DEEPSEEK_V3_PRETRAIN_CONFIG_GB200_BASE_CONFIG, same file) also sets
# moe_flex_dispatcher_backend "hybridep" (flex, BF16 dispatch), moe_a2a_overlap False, and CUDA graphs of moe_router and
# moe_preprocess (not modelled). Its BF16 row runs that config's PP4 VP4 EP64; the FP8-MX row's PP8 EP32 is set
# elsewhere and stays out (NOT_EXPRESSED).
HYBRIDEP_2511 = {"deepseek_v3_gb200_256gpu_bf16"}


def cluster(system, n):
    if system == "DGX-GB200":
        # NVL72 racks, of which the benchmarks use 64 GPUs (16 compute trays x 4); one ConnectX-7 400 Gb/s per GPU.
        return {"num_gpus": n, "scale_up": {"kind": "nvl72", "domain_size": min(n, 64), "gpus_per_node": 4},
                "scale_out": {"topology": "fat_tree", "nic_bandwidth_gbps": 400.0, "nics_per_gpu": 1,
                              "switch_radix": 64}}
    return mc.dgx_h100_cluster(n)  # DGX H100 and DGX B200 alike: 8 GPUs per NVSwitch node, 8 x 400 Gb/s


ACCELERATOR = {"DGX-H100": "H100-SXM", "DGX-B200": "B200", "DGX-GB200": "GB200"}


def build(row, release="25.11"):
    (suffix, system, preset, n, prec, gbs, mbs, seq, fsdp, tp, pp, cp, vp, ep, tok, tflops) = row
    recent = release == "26.08"
    cid = {"26.08": "mbridge2608x_", "26.04.01": "mbridge2604x_"}.get(release, "mbridge2511x_") + suffix
    moe = ep > 1
    dp = n // (tp * pp * cp)
    p = {"tp": tp, "cp": cp, "pp": pp, "dp": dp}
    if moe:
        p["ep"] = ep
        p["expert_tp"] = 1
    if vp > 1:
        p["vpp"] = vp
    modules = RECIPE_2608.get(suffix) if recent else RECOMPUTE_MODULES.get(suffix)
    p.update({"sequence_parallel": tp > 1, "micro_batch_size": mbs, "global_batch_size": gbs,
              "zero_stage": 3 if fsdp else 1, "recompute": "selective" if modules else "none",
              "overlap_grad_reduce": True, "overlap_param_gather": True})
    if modules:
        p["recompute_modules"] = modules
    if preset == "deepseek_v3_671b" and pp * vp == 16:
        # recipes/deepseek/deepseek_v3.py's layout map (00b7660be025) and set_deepseek_v3_pipeline_model_parallel_layout
        # (067f987) for PP x VP = 16: the embedding and 4 layers, 14 x 4 layers, 1 layer with the MTP module and loss.
        p["pipeline_model_parallel_layout"] = "Et*4|(t*4|)*14tmL"
    if pp > 1 and preset in ("llama3_405b", "qwen3_235b_a22b"):
        # The base recipes (recipes/llama/llama3.py llama31_405b_pretrain_config, recipes/qwen/qwen3_moe.py
        # qwen3_235b_a22b_pretrain_config, at 00b7660be025 and 067f987) count the embedding and the loss as layers.
        p["account_for_embedding_in_pipeline_split"] = True
        p["account_for_loss_in_pipeline_split"] = True
    if tp > 1:
        p["tp_comm_overlap"] = True  # the performance recipes' TP communication overlap (userbuffers)
    if recent:
        p["overlap_moe_a2a"] = True  # overlap_moe_expert_parallel_comm (pp > 1 rows have vpp > 1, as Megatron needs)
    precision = "fp8" if prec.startswith(("FP8", "MXFP8")) else "bf16"
    workload = {"model": {"preset": preset, "seq_len": seq}, "parallelism": p, "precision": precision}
    if precision == "fp8":
        # The table's FP8-CS is per-tensor current scaling, FP8-MX (MXFP8) Blackwell's block scaling: neither reduces
        # amaxes across replicas (workload.fp8_recipe).
        workload["fp8_recipe"] = "tensorwise" if prec.endswith("CS") else "mxfp8"
    if moe:
        workload["moe_routing"] = {"distribution": "balanced"}
        if recent or suffix in HYBRIDEP_2511:
            workload["moe_routing"]["dispatcher"] = "flex"
            workload["moe_routing"]["dispatch_dtype"] = "bf16"  # HybridEP refuses FP8 dispatch (fused_a2a.py)
    if recent:
        workload["fp8_attention"] = True  # the recipes' fp8_dot_product_attention
    if recent and moe and precision == "fp8":
        workload["fused_grouped_mlp"] = True  # use_transformer_engine_op_fuser with moe_mlp_glu_interleave_size 32
    notes = (f"Megatron-Bridge {release} on {system} ({n} GPUs), parallelism as published (tp {tp}, pp {pp}, cp {cp}, "
             f"vpp {vp}" + (f", ep {ep}" if moe else "") + f", dp {dp}, mbs {mbs}, gbs {gbs}, seq {seq}, FSDP "
             f"{fsdp}), precision {prec} run as {precision}. Assumed (not in the table): sequence parallelism with "
             "tp > 1 and TP communication overlapped with the GEMMs (the recipes' userbuffers), " + ("FSDP as zero_stage 3 (implementation nccl)" if fsdp else
                           "distributed optimizer (zero_stage 1)") +
             " with overlapped gradient reduce-scatter and parameter all-gather, " +
             (f"selective recompute of {modules} (the recipe's recompute_modules)" if modules else
              "no activation recompute"))
    if moe and recent:
        notes += (", expert_tp 1, balanced routing (the table's 'force-balance the token distribution'), the flex "
                  "dispatcher (the recipes' HybridEP backend, which dispatches BF16: dispatch_dtype bf16) with its "
                  "exchange overlapped (overlap_moe_a2a: the "
                  "recipes' overlap_moe_expert_parallel_comm), FP8 dot-product attention (fp8_attention: the "
                  "recipes' fp8_dot_product_attention), the fused grouped MLP (fused_grouped_mlp: the recipes' "
                  "use_transformer_engine_op_fuser); not modelled: full-iteration CUDA graphs")
    elif moe and suffix in HYBRIDEP_2511:
        notes += (", expert_tp 1, balanced routing (the table's 'force-balance the token distribution'), the flex "
                  "dispatcher (the config's HybridEP backend: BF16 dispatch, dispatch_dtype bf16), no all-to-all "
                  "overlap (moe_a2a_overlap False); not modelled: the CUDA graphs of moe_router and moe_preprocess")
    elif moe:
        notes += (" (the 25.11 Qwen3 recipes set recompute_granularity None)" if preset.startswith("qwen3") else "")
        notes += (", expert_tp 1, balanced routing (the table's 'force-balance the token distribution'), "
                  "no all-to-all overlap, the default all-to-all")
    if system == "DGX-GB200":
        notes += ", NVL72 racks used as 64-GPU NVLink domains"
    notes += ". Held out: nothing is fitted on this case."
    expected = [mc.expect_value("tokens_per_s_per_gpu", tok, 10, note="primary comparison"),
                mc.expect_value("model_tflops_per_gpu_causal", tflops, 10, note=mc.MBRIDGE_NOTE)]
    sc = mc.scenario(cid, f"Megatron-Bridge {release}: {preset} on {n} x {system}", ACCELERATOR[system],
                     cluster(system, n), workload)
    return {"id": cid, "category": "training_moe" if moe else "training_dense",
            "source": {"26.08": SOURCE_2608, "26.04.01": SOURCE_2604}.get(release, SOURCE).format(system=system), "calibration": False, "notes": notes, "scenario": sc,
            "expected": expected}


def main():
    return mc.outside_case_main(__doc__.splitlines()[0], HERE, SCRIPT, [build(row) for row in ROWS] +
                                 [build(row, "26.08") for row in ROWS_2608] + [build_2604(row) for row in ROWS_2604])


if __name__ == "__main__":
    sys.exit(main())
