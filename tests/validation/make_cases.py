#!/usr/bin/env python3
"""Writes tests/validation/<case id>.textproto (clustersim.v1.ValidationCase, text format) from the published
measurements in ../shared/validation/cases.yaml (relative to the repository root).

This script is the record of how the case files were made: every number that is not read from cases.yaml is set
here with the reason next to it, and README.md in this folder explains the assumptions per family of cases.

Usage: python3 tests/validation/make_cases.py [--check] [--only PREFIX]
  --check  write nothing; exit 1 if a file on disk differs from what the script would write (or is missing/extra).
  --only   restrict writing / checking to the case files whose id starts with PREFIX (e.g. deepep_).
"""
import argparse
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CASES_YAML = ROOT.parent / "shared" / "validation" / "cases.yaml"
SCRIPT = "tests/validation/make_cases.py"

# --------------------------------------------------------------------------------------------------------------------
# Text-format writer. Messages are dicts (insertion order is the output order), repeated fields are lists.
# --------------------------------------------------------------------------------------------------------------------


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.10g}"
    if isinstance(v, str):
        return quote(v)
    raise TypeError(f"cannot write {v!r}")


def emit(msg, indent=0):
    pad = "  " * indent
    out = []
    for key, value in msg.items():
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                out.append(f"{pad}{key} {{")
                out.extend(emit(item, indent + 1))
                out.append(f"{pad}}}")
            else:
                out.append(f"{pad}{key}: {scalar(item)}")
    return out


# --------------------------------------------------------------------------------------------------------------------
# Pieces shared by the families.
# --------------------------------------------------------------------------------------------------------------------


def source_of(case):
    s = case["source"]
    parts = [s["ref"]]
    if s.get("locator"):
        parts.append(s["locator"])
    if s.get("url"):
        parts.append(s["url"])
    return "; ".join(parts)


def expect(quantity, published, note=None):
    """An Expectation from a cases.yaml expected entry: value and its band, copied as published."""
    e = {"quantity": quantity, "value": float(published["value"])}
    if "tolerance_pct" in published:
        e["tolerance_pct"] = float(published["tolerance_pct"])
    if "tolerance_abs_pct_points" in published:
        e["tolerance_abs"] = float(published["tolerance_abs_pct_points"])
    n = [x for x in (published.get("note"), note) if x]
    if n:
        e["note"] = "; ".join(n)
    return e


def expect_value(quantity, value, tolerance_pct=None, tolerance_abs=None, note=None):
    """An Expectation whose band cases.yaml does not give (chosen here; README.md says why)."""
    e = {"quantity": quantity, "value": float(value)}
    if tolerance_pct is not None:
        e["tolerance_pct"] = float(tolerance_pct)
    if tolerance_abs is not None:
        e["tolerance_abs"] = float(tolerance_abs)
    if note:
        e["note"] = note
    return e


def selene_cluster(num_gpus):
    # Selene (DGX A100): 8 GPUs per NVSwitch node, one 200 Gb/s HDR NIC per GPU, HDR InfiniBand fat-tree built from
    # 40-port QM8700-class switches (the A100 catalog entry already says 1 x 200 Gb/s; written out for clarity).
    return {
        "num_gpus": num_gpus,
        "scale_up": {"kind": "nvswitch", "domain_size": 8, "gpus_per_node": 8},
        "scale_out": {"topology": "fat_tree", "nic_bandwidth_gbps": 200.0, "nics_per_gpu": 1, "switch_radix": 40},
    }


def dgx_h100_cluster(num_gpus):
    # DGX H100 / H800 nodes: 8 GPUs per NVSwitch node, one 400 Gb/s ConnectX-7 NDR NIC per GPU, non-blocking fat-tree
    # of 64-port QM9700-class switches.
    return {
        "num_gpus": num_gpus,
        "scale_up": {"kind": "nvswitch", "domain_size": 8, "gpus_per_node": 8},
        "scale_out": {"topology": "fat_tree", "nic_bandwidth_gbps": 400.0, "nics_per_gpu": 1, "switch_radix": 64},
    }


def gpt_model(name, m):
    # GPT-3-style shape as in Megatron-LM (SC21 Eq. 2): GELU MLP of 4h, learned positions, vocab padded to 51200,
    # input and output embeddings tied (Megatron's default; Eq. 2 counts V*h once).
    return {
        "name": name,
        "kind": "dense",
        "layers": int(m["layers"]),
        "hidden": int(m["hidden"]),
        "ffn_hidden": 4 * int(m["hidden"]),
        "heads": int(m["heads"]),
        "vocab": int(m.get("vocab", 51200)),
        "seq_len": int(m.get("seq_len", 2048)),
        "gated_mlp": False,
        "tied_embeddings": True,
    }


def placeholder_workload(num_gpus):
    # The scenario loader validates a workload even for `coll` and `topo`, which do not use it: a small data-parallel
    # Llama 3 8B with one sequence per GPU.
    return {"model": {"preset": "llama3_8b"}, "parallelism": {"micro_batch_size": 1, "global_batch_size": num_gpus}}


def scenario(name, description, accelerator, cluster, workload, collectives=None):
    s = {"name": name, "description": description, "seed": 1, "accelerator": {"name": accelerator},
         "cluster": cluster, "workload": workload}
    if collectives:
        s["collectives"] = collectives
    return s


def case_file(case, category, notes, expected, calibration=False, scenario_msg=None, collective=None, carbon=None,
              case_id=None):
    return {
        "id": case_id or case["id"],
        "category": category,
        "source": source_of(case),
        "calibration": calibration,
        "notes": notes,
        "scenario": scenario_msg,
        "collective": collective,
        "carbon": carbon,
        "expected": expected,
    }


# --------------------------------------------------------------------------------------------------------------------
# Megatron-LM SC21 (Narayanan et al.), Tables 1 and 2.
# --------------------------------------------------------------------------------------------------------------------

# From the paper's artifact, NVIDIA/Megatron-LM examples/sc21/run_table_1.sh: micro-batch size, layers per virtual
# pipeline stage (--num-layers-per-virtual-pipeline-stage; None = plain 1F1B) and the DDP implementation ("torch" =
# PyTorch DDP, which overlaps the gradient all-reduce with backward; "local" = Megatron's local DDP, all-reduce after
# backward). All rows use full (uniform) activation recomputation.
SC21_T1_ARTIFACT = {
    "megatron_sc21_t1_1p7B_32gpu": (16, None, "torch"),
    "megatron_sc21_t1_3p6B_64gpu": (16, None, "torch"),
    "megatron_sc21_t1_7p5B_128gpu": (16, None, "torch"),
    "megatron_sc21_t1_18p4B_256gpu": (8, None, "torch"),
    "megatron_sc21_t1_39p1B_512gpu": (4, None, "local"),
    "megatron_sc21_t1_76p1B_1024gpu": (2, 5, "local"),
    "megatron_sc21_t1_145p6B_1536gpu": (2, 5, "local"),
    "megatron_sc21_t1_310p1B_1920gpu": (1, 3, "local"),
    "megatron_sc21_t1_529p6B_2520gpu": (1, 1, "local"),
    "megatron_sc21_t1_1008p0B_3072gpu": (1, None, "local"),
}

GPT3_175B = {"layers": 96, "hidden": 12288, "heads": 96}
MT_NLG_530B = {"layers": 105, "hidden": 20480, "heads": 128}

HW_FLOPS_NOTE = ("Megatron Eq. 3 counts the recomputed forward: compared as hardware (recompute-inclusive) TFLOP/s; "
                 "clustersim's hardware FLOPs with full recompute equal Eq. 3 for GPT shapes")


def gpt_model_for(case):
    m = case["inputs"]["model"]
    if int(m.get("hidden", 0)) == GPT3_175B["hidden"] and int(m.get("layers", 0)) == GPT3_175B["layers"]:
        return {"preset": "gpt3_175b"}, "model preset gpt3_175b (96 layers, h 12288, 96 heads, tied, vocab 51200)"
    return gpt_model("gpt_" + case["id"].split("_")[-2].lower(), m), None


CALIBRATION_A100_PP1 = {"megatron_sc21_t1_1p7B_32gpu", "megatron_sc21_t1_7p5B_128gpu"}
# The two factors of zero3_implementation "deepspeed_2021" (workloads/zero3_impl.h): compute on the row whose step is
# compute-bound, collectives on the row whose step is bound by the ZeRO-3 traffic.
CALIBRATION_ZERO3 = {"megatron_sc21_t2_zero3_174B_384gpu", "megatron_sc21_t2_zero3_174B_1536gpu"}


def sc21_table1(case):
    inp = case["inputs"]
    par = inp["parallelism"]
    n = int(inp["hardware"]["gpus"])
    mbs, layers_per_virtual_stage, ddp = SC21_T1_ARTIFACT[case["id"]]
    model, model_note = gpt_model_for(case)
    tp, pp, dp = int(par["tp"]), int(par["pp"]), int(par["dp"])
    layers = int(inp["model"]["layers"])
    vpp = layers // pp // layers_per_virtual_stage if layers_per_virtual_stage else 1
    p = {"tp": tp, "pp": pp, "dp": dp}
    if vpp > 1:
        p["vpp"] = vpp
    p.update({"sequence_parallel": False, "micro_batch_size": mbs, "global_batch_size": int(par["global_batch_seqs"]),
              "zero_stage": 0, "recompute": "full", "overlap_grad_reduce": ddp == "torch"})
    workload = {"model": model, "parallelism": p, "precision": "bf16"}
    sched = (f"interleaved 1F1B with vpp {vpp} ({layers_per_virtual_stage} layers per virtual stage)" if vpp > 1
             else "1F1B without interleaving" if pp > 1 else "no pipeline")
    notes = (f"SC21 Table 1 weak-scaling row on Selene (A100-80GB). Micro-batch {mbs}, {sched}, DDP '{ddp}' "
             f"(overlap_grad_reduce {'true' if ddp == 'torch' else 'false'}) and full recompute are from the paper's "
             "artifact NVIDIA/Megatron-LM examples/sc21/run_table_1.sh (cases.yaml gives none of them). fp16 mixed "
             "precision run as bf16 (same 312 TFLOP/s peak). No sequence parallelism or distributed optimizer "
             "(2021 Megatron). aggregate_pflops is not compared (it is the per-GPU figure times the GPU count); the "
             f"derived iteration time {case['derived']['iteration_time_s']} s is the same information as the "
             "TFLOP/s figure.")
    if model_note:
        notes += " " + model_note + "."
    e = case["expected"]
    expected = [expect("hardware_tflops_per_gpu", e["achieved_tflops_per_gpu"], HW_FLOPS_NOTE),
                expect("hfu_pct", e["pct_of_peak"],
                       "published percentage of the 312 TFLOP/s peak (recompute-inclusive)")]
    # docs/accelerators.md: the A100 factors were fitted on the pp > 1 rows plus two pp = 1 rows that span the small
    # models (1.7B: h 2304, head dim 96, tp 1; 7.5B: h 4096, head dim 128, tp 4); 3.6B and 18.4B stay held out.
    calibration = pp > 1 or case["id"] in CALIBRATION_A100_PP1
    sc = scenario(case["id"], f"Megatron SC21 Table 1: {inp['model']['params_b']}B GPT on {n} A100", "A100-80GB",
                  selene_cluster(n), workload)
    return [case_file(case, "training_dense", notes, expected, calibration, sc)]


def sc21_table2(case):
    inp = case["inputs"]
    par = inp["parallelism"]
    n = int(inp["hardware"]["gpus"])
    params_b = float(inp["model"]["params_b"])
    shape = GPT3_175B if params_b < 300 else MT_NLG_530B
    if shape is GPT3_175B:
        model = {"preset": "gpt3_175b"}
    else:
        model = gpt_model("gpt_529p6b", {"layers": shape["layers"], "hidden": shape["hidden"], "heads": shape["heads"]})
    gbs, mbs = int(par["global_batch_seqs"]), int(par["microbatch"])
    calibration = False
    if par["scheme"] == "zero3":
        p = {"tp": 1, "pp": 1, "dp": n, "sequence_parallel": False, "micro_batch_size": mbs, "global_batch_size": gbs,
             "zero_stage": 3, "recompute": "full", "overlap_grad_reduce": True, "overlap_param_gather": True,
             "zero3_implementation": "deepspeed_2021"}
        calibration = case["id"] in CALIBRATION_ZERO3
        notes = (f"SC21 Table 2 ZeRO-3 row (DeepSpeed, no model parallelism): tp = pp = 1, dp = {n}, zero_stage 3, "
                 f"micro-batch {mbs} (one micro-batch per step). Assumed: full activation recompute (the model cannot "
                 "fit otherwise) and DeepSpeed's overlapped parameter prefetch and gradient reduce-scatter "
                 "(overlap_param_gather, overlap_grad_reduce true). Run as zero3_implementation \"deepspeed_2021\" "
                 "(workloads/zero3_impl.h), whose two factors are fitted on the 174.6B rows at 384 GPUs (compute) "
                 "and 1536 GPUs (collectives), and checked on the other four rows. A negative test: throughput "
                 "collapses as the ZeRO-3 traffic crosses nodes.")
    else:
        mp = int(par["model_parallel_size"])
        tp, pp = 8, mp // 8
        p = {"tp": tp, "pp": pp, "dp": n // mp, "sequence_parallel": False, "micro_batch_size": mbs,
             "global_batch_size": gbs, "zero_stage": 0, "recompute": "full", "overlap_grad_reduce": False}
        notes = (f"SC21 Table 2 PTD-P row: the table gives only model_parallel_size = {mp}; chosen tp = 8 (one NVLink "
                 f"node) and pp = {mp}/8 = {pp}, dp = {n // mp}. Assumed as in Table 1's large rows: plain 1F1B (no "
                 "interleaving; the table does not say), full recompute, Megatron local DDP (no gradient overlap).")
    notes += (" Model: " + ("preset gpt3_175b (174.6B)" if shape is GPT3_175B else
                            "529.6B = 105 layers, h 20480, 128 heads (MT-NLG shape), GPT-style")
              + ". fp16 mixed precision run as bf16 (same peak on A100).")
    workload = {"model": model, "parallelism": p, "precision": "bf16"}
    expected = [expect("hardware_tflops_per_gpu", case["expected"]["achieved_tflops_per_gpu"], HW_FLOPS_NOTE)]
    sc = scenario(case["id"], f"Megatron SC21 Table 2 ({par['scheme']}): {params_b}B GPT on {n} A100", "A100-80GB",
                  selene_cluster(n), workload)
    return [case_file(case, "training_dense", notes, expected, calibration, sc)]


# --------------------------------------------------------------------------------------------------------------------
# Korthikanti et al. (MLSys 2023), Table 5: full recompute vs sequence parallel + selective recompute.
# --------------------------------------------------------------------------------------------------------------------


def korthikanti(case):
    inp = case["inputs"]
    par = inp["parallelism"]
    m = inp["model"]
    n = int(inp["hardware"]["gpus"])
    gbs = int(par["global_batch_seqs"])
    mbs = 4 if m["name"] == "22B" else 1  # case notes: "22B uses microbatch 4; others microbatch 1"
    if int(m["hidden"]) == GPT3_175B["hidden"] and int(m["layers"]) == GPT3_175B["layers"]:
        model, model_note = {"preset": "gpt3_175b"}, "model preset gpt3_175b"
    else:
        model, model_note = gpt_model("gpt_" + m["name"].lower(), m), "GPT-style custom model"
    e = case["expected"]
    out = []
    for variant in ("full", "selective"):
        sp = variant == "selective"
        p = {"tp": int(par["tp"]), "pp": int(par["pp"]), "dp": int(par["dp"]), "sequence_parallel": sp,
             "micro_batch_size": mbs, "global_batch_size": gbs, "zero_stage": 0, "recompute": variant}
        workload = {"model": model, "parallelism": p, "precision": "bf16"}
        common = (f"Korthikanti Table 5, {m['name']} on {n} A100 (Selene), tp {par['tp']} pp {par['pp']} dp 1 (no "
                  f"gradient all-reduce), micro-batch {mbs} (per the case notes / calculon configs), plain 1F1B. "
                  f"{model_note}. fp16 run as bf16.")
        if variant == "full":
            notes = (common + " This file is the 'full recompute' column: tensor parallelism with all-reduce and no "
                     "sequence parallelism (calculon validation/seqsel/tab5/*_full.json: tensor_par_comm_type 'ar'). "
                     "The MFU/HFU figures of the case belong to the selective column (file *_selective).")
            expected = [expect("step_time_s", e["iteration_time_s_full_recompute"])]
            out.append(case_file(case, "training_dense", notes, expected, True,
                                 scenario(case["id"], f"Korthikanti Table 5 {m['name']} full recompute", "A100-80GB",
                                          selene_cluster(n), workload)))
        else:
            notes = (common + " This file is the 'present work' column: sequence parallelism + selective "
                     "recompute (calculon *_seqsel.json: rs_ag, attn_only). MFU/HFU are from the Megatron-LM README "
                     "table of the same runs (they reproduce from the selective iteration time).")
            expected = [expect("step_time_s", e["iteration_time_s_seqpar_selective"]),
                        expect("mfu_pct", e["mfu_pct"]), expect("hfu_pct", e["hfu_pct"])]
            out.append(case_file(case, "training_dense", notes, expected, False,
                                 scenario(case["id"] + "_selective",
                                          f"Korthikanti Table 5 {m['name']} sequence parallel + selective",
                                          "A100-80GB", selene_cluster(n), workload),
                                 case_id=case["id"] + "_selective"))
    return out


# --------------------------------------------------------------------------------------------------------------------
# NVIDIA NeMo 24.12 and Megatron-Bridge 25.x performance summaries (DGX H100), MCore Qwen3 recipe.
# --------------------------------------------------------------------------------------------------------------------

def fp8_recipe_of(cid, precision):
    """workload.fp8_recipe of an FP8 case: as cases.yaml states it, else the framework's recipe of the time. NeMo
    24.12's bf16_with_fp8_mixed is TransformerEngine delayed scaling (amax history 1024) with Megatron-Core 0.10's
    amax all-reduce over the tensor x data x context-parallel ranks."""
    if "current scaling" in precision:
        return "tensorwise"
    if "blockwise" in precision:
        return "blockwise"
    if cid.startswith("nemo2412"):
        return "delayed"
    raise ValueError(f"{cid}: no FP8 recipe known for precision {precision!r}")


CALIBRATION_HOPPER = {"nemo2412_gpt3_175b_128gpu_fp8", "nemo2412_gpt3_175b_512gpu_fp8",
                      "nemo2412_llama3_70b_64gpu_fp8", "mbridge2511_llama3_70b_h100_64gpu"}

MBRIDGE_NOTE = ("Megatron-Bridge and Megatron-Core count causal attention as half the s x s matrix: compared with "
                "clustersim's model FLOPs in that convention (model_tflops_per_gpu_causal); tokens/s is the primary "
                "comparison")


def nvidia_recipe(case):
    inp = case["inputs"]
    par = inp["parallelism"]
    n = int(inp["hardware"]["gpus"])
    mtype = inp["model"]["type"]
    seq = int(par["seq_len"])
    vpp = int(par.get("vp", par.get("vpp", 1)) or 1)
    tp, pp, cp = int(par["tp"]), int(par["pp"]), int(par.get("cp", 1) or 1)
    dp = int(par["dp"]) if "dp" in par else n // (tp * pp * cp)
    moe = mtype in ("deepseek_v3_moe", "moe")
    if mtype == "gpt_dense":
        model = {"preset": "gpt3_175b", "seq_len": seq}
    elif mtype == "llama_dense_gqa":
        model = {"preset": "llama3_70b", "seq_len": seq}
    elif mtype == "deepseek_v3_moe":
        model = {"preset": "deepseek_v3_671b", "seq_len": seq}
    elif case["id"].startswith("mcore_qwen3"):
        model = {"preset": "qwen3_235b_a22b", "seq_len": seq}
    else:
        raise ValueError(case["id"])
    p = {"tp": tp, "cp": cp, "pp": pp, "dp": dp}
    if moe:
        p["ep"] = int(par["ep"])
        p["expert_tp"] = 1
    if vpp > 1:
        p["vpp"] = vpp
    recompute = "selective" if moe else "none"
    p.update({"sequence_parallel": tp > 1, "micro_batch_size": int(par["microbatch"]),
              "global_batch_size": int(par["global_batch_seqs"]), "zero_stage": 1, "recompute": recompute,
              "overlap_grad_reduce": True, "overlap_param_gather": True})
    if tp > 1:
        # NeMo and Megatron-Bridge performance recipes on Hopper enable TP communication overlap (userbuffers).
        p["tp_comm_overlap"] = True
    qwen = case["id"].startswith("mcore_qwen3")
    dsv3 = mtype == "deepseek_v3_moe"
    # Megatron-Core --recompute-modules of the published recipes (the list replaces the default core_attn).
    if qwen:
        p["recompute_modules"] = ["layernorm", "moe_act"]
    elif dsv3:
        p["recompute_modules"] = ["mla_up_proj", "mlp"]
    if qwen or dsv3:
        p["overlap_moe_a2a"] = True
    if dsv3:
        # Megatron-Bridge scripts/performance/configs/deepseek/deepseek_llm_pretrain.py,
        # deepseek_v3_h100_1024gpus_fp8_config: comm_overlap.overlap_grad_reduce = False.
        p["overlap_grad_reduce"] = False
        # The same recipe's pipeline layout for H100 (run_script.py at v0.1.0rc4, deepseek_llm_pretrain.py at v0.2.0):
        # the first virtual stage the embedding and one layer, the last only the MTP module and the loss.
        p["pipeline_model_parallel_layout"] = "Et|(tt|)*30mL"
    precision = "fp8" if str(inp["precision"]).startswith("fp8") else "bf16"
    workload = {"model": model, "parallelism": p, "precision": precision}
    if precision == "fp8":
        workload["fp8_recipe"] = fp8_recipe_of(case["id"], str(inp["precision"]))
    if moe:
        workload["moe_routing"] = {"distribution": "balanced"}
    if qwen or dsv3:
        # Both recipes run the DeepEP dispatcher (flex): permute fused into the exchange, no host sync per layer.
        workload["moe_routing"]["dispatcher"] = "flex"
        # Megatron-Core's DeepEP path (fused_a2a.py FusedDispatch) hands DeepEP the BF16 hidden states with no FP8
        # scales: the exchange is BF16 even in FP8 runs (DeepSeek's own training dispatches FP8).
        workload["moe_routing"]["dispatch_dtype"] = "bf16"
    if dsv3:
        # DeepSeekV3ModelProvider: moe_router_num_groups 8, moe_router_group_topk 4; with ep 64 on 8 nodes a group is
        # a node's 32 experts, so every token reaches at most 4 nodes (node-limited routing, per-node deduplication).
        workload["moe_routing"]["max_nodes_per_token"] = 4
    collectives = None  # the flex dispatcher's exchange resolves to DeepEP's kernels (collectives.all_to_all deepep)
    if case["id"].startswith("nemo"):
        framework = "NeMo 24.12"
    elif case["id"].startswith("mbridge"):
        framework = "Megatron-Bridge"
    else:
        framework = "Megatron-Core (Megatron-MoE-ModelZoo)"
    notes = (f"{framework} on DGX H100 ({n} GPUs), parallelism as published (tp {tp}, pp {pp}, cp {cp}, vpp {vpp}"
             + (f", ep {par['ep']}" if moe else "") + f", dp {dp}, mbs {par['microbatch']}, gbs "
             f"{par['global_batch_seqs']}, seq {seq}), precision {precision}. Assumed (not in cases.yaml): sequence "
             "parallelism with tp > 1 and its communication overlapped with the GEMMs (tp_comm_overlap, the "
             "performance recipes' userbuffers setting), distributed optimizer (zero_stage 1) with overlapped gradient "
             "reduce-scatter and parameter all-gather (the frameworks' defaults)")
    if moe:
        if qwen:
            notes += (", selective recompute of the modules 'layernorm' and 'moe_act' (the recipe's 'recompute: norm, "
                      "act' in cases.yaml, Megatron-Core --recompute-modules names)")
        else:
            notes += (", selective recompute of the modules 'mla_up_proj' and 'mlp' (Megatron-Bridge's DeepSeek-V3 "
                      "1024 x H100 performance recipes set recompute_modules = [\"mla_up_proj\", \"mlp\"])")
        notes += ", expert_tp 1, balanced routing ('dropless, forced balance')"
        if dsv3:
            notes += (", the recipe's communication settings (Megatron-Bridge scripts/performance/configs/deepseek/"
                      "deepseek_llm_pretrain.py, deepseek_v3_h100_1024gpus_fp8_config: enable_deepep, "
                      "set_moe_a2a_overlap_overrides, overlap_grad_reduce = False): the flex (DeepEP) "
                      "dispatcher (DeepEP's normal kernels, per-node deduplication, BF16 dispatch as Megatron-Core's FusedDispatch sends it), 1F1B all-to-all overlap, gradient reduce-scatter not overlapped, the pipeline layout 'Et|(tt|)*30mL' of "
                      "its H100 configuration, and DeepSeek-V3's "
                      "group-limited routing (moe_router_num_groups 8, group_topk 4: at most 4 of the 8 nodes per "
                      "token)")
        if qwen:
            notes += (", 1F1B all-to-all overlap (overlap_moe_a2a: the 17.6 s figure is the overlapped one; without it "
                      "19.7 s) and the flex (DeepEP) dispatcher (DeepEP's normal kernels, per-node deduplication)")
    else:
        notes += ", no activation recompute"
    if workload.get("fp8_recipe") == "delayed":
        notes += (", FP8 delayed scaling (NeMo 24.12's bf16_with_fp8_mixed: amax history 1024) with its amax "
                  "all-reduce over the tensor x data-parallel ranks after every chunk's forward and backward")
    notes += "."
    e = case["expected"]
    if case["id"].startswith("nemo"):
        expected = [expect("tokens_per_s_per_gpu", e["tokens_per_s_per_gpu"]),
                    expect("model_tflops_per_gpu", e["model_tflops_per_gpu"],
                           "NeMo 24.12 counts full (non-causal) attention like clustersim")]
    elif case["id"].startswith("mbridge"):
        expected = [expect("tokens_per_s_per_gpu", e["tokens_per_s_per_gpu"], "primary comparison"),
                    expect("model_tflops_per_gpu_causal", e["model_tflops_per_gpu"], MBRIDGE_NOTE)]
    else:
        expected = [expect("step_time_s", e["step_time_s"], "primary comparison (with 1F1B A2A overlap)"),
                    expect("model_tflops_per_gpu_causal", e["tflops_per_gpu"],
                           "Megatron-Core counts causal attention as half the s x s matrix: compared with "
                           "clustersim's model FLOPs in that convention (model_tflops_per_gpu_causal); the step time "
                           "is the primary comparison")]
    category = "training_moe" if moe else "training_dense"
    sc = scenario(case["id"], f"{framework}: {case['id']}", "H100-SXM", dgx_h100_cluster(n), workload, collectives)
    return [case_file(case, category, notes, expected, case["id"] in CALIBRATION_HOPPER, sc)]


# --------------------------------------------------------------------------------------------------------------------
# Collectives: nccl-tests figures on DGX H100, DeepEP on H800, 64-byte latency.
# --------------------------------------------------------------------------------------------------------------------

GIB = 1024 ** 3
CALIBRATION_COLL = {"nccl_ring_dgx_h100_intranode", "nccl_allreduce_dgx_h100_intranode_nvls",
                    "nccl_allreduce_2node_h100_8x400g"}


def coll_scenario(case_id, description, accelerator, num_gpus, scale_out_extra=None):
    cluster = dgx_h100_cluster(num_gpus)
    if scale_out_extra:
        cluster["scale_out"].update(scale_out_extra)
    return scenario(case_id, description, accelerator, cluster, placeholder_workload(num_gpus))


def nccl(case):
    cid = case["id"]
    e = case["expected"]
    common = (" The scenario's workload is a placeholder (the loader needs one; `coll` ignores it). Size per rank "
              "follows nccl-tests (-b/-e bytes).")
    if cid == "nccl_allreduce_dgx_h100_intranode_nvls":
        coll = {"collective": "all_reduce", "algorithm": "nvls", "size_bytes": 8 * GIB, "group_size": 8,
                "group_stride": 1}
        expected = [expect("busbw_gbyte_per_s", e["busbw_GBps"]), expect("algbw_gbyte_per_s", e["algbw_GBps"])]
        notes = ("nccl-tests all_reduce_perf on one DGX H100 (8 GPUs, NVLink4 + NVSwitch) with NVLink SHARP (NVLS); "
                 "'large' message read as 8 GiB per rank (the case: >= 1-8 GB, 256 MB too small).") + common
        n = 8
    elif cid == "nccl_ring_dgx_h100_intranode":
        coll = {"collective": "all_reduce", "algorithm": "ring", "size_bytes": 8 * GIB, "group_size": 8,
                "group_stride": 1}
        expected = [expect("busbw_gbyte_per_s", e["busbw_GBps"])]
        notes = ("nccl-tests on one DGX H100 with NCCL_ALGO=RING / NVLS disabled; the case covers all_gather, "
                 "reduce_scatter and all_reduce (same busbw); all_reduce ring is the one compared (a user measured "
                 "368.76 GB/s with NVLS disabled). 8 GiB per rank.") + common
        n = 8
    elif cid == "nccl_allreduce_2node_h100_8x400g":
        coll = {"collective": "all_reduce", "algorithm": "ring", "size_bytes": 8 * GIB, "group_size": 16,
                "group_stride": 1}
        expected = [expect("busbw_gbyte_per_s", e["achievable_busbw_GBps"],
                           "peak (line rate) busbw 400 GB/s; per-NIC 46-49 GB/s")]
        notes = ("nccl-tests all_reduce_perf on 2 DGX H100 (16 GPUs, 8 x CX-7 NDR 400 Gb/s per node) with "
                 "NCCL_ALGO=Ring (recommended by NVIDIA for 2-node tests; tree/NVLSTree exceed the network bound). "
                 "8 GiB per rank. Fat-tree of 64-port switches.") + common
        n = 16
    elif cid == "dgx_h100_gpu_nic_p2p":
        coll = {"collective": "broadcast", "size_bytes": GIB, "group_size": 2, "group_stride": 8}
        expected = [expect("busbw_gbyte_per_s", e["gpu_nic_p2p_GBps_per_gpu"],
                           "broadcast busbw = algbw (nccl-tests factor 1)")]
        notes = ("GPU <-> NIC peer-to-peer bandwidth of a DGX H100 (CX-7 NDR 400 via PCIe Gen5 x16, one NIC per "
                 "GPU), expressed as a 2-rank broadcast (a send/recv) of 1 GiB between GPU 0 of two nodes "
                 "(stride 8): the path is GPU -> PCIe -> NIC -> leaf -> NIC -> PCIe -> GPU, bounded by one NIC. "
                 "Not an nccl-tests figure (MLPerf system documentation); an approximation of the measurement."
                 + common)
        n = 16
    else:
        raise ValueError(cid)
    sc = coll_scenario(cid, f"{cid}: {n} x H100 SXM", "H100-SXM", n)
    return [case_file(case, "collective", notes, expected, cid in CALIBRATION_COLL, sc, collective=coll)]


def fp8_token_bytes(hidden):
    return hidden + hidden // 128 * 4  # e4m3 values + one fp32 scale per 128 channels


def nodes_text(num_gpus):
    nodes = num_gpus // 8
    return f"{nodes} node" + ("s" if nodes > 1 else "")


# DeepEP's benchmarks (deepseek-ai/DeepEP at de8cfca, 2025-06-05, the commit that published these tables;
# tests/test_intranode.py, tests/test_internode.py, tests/test_low_latency.py):
# - normal mode: 4096 tokens per rank, (256 // ep) * ep = 256 experts, top-8, top groups min(nodes, 4) (node-limited:
#   a token's experts lie on at most that many nodes), scores uniform random. Bytes per token copy: fp8 = hidden x
#   (1 + 4 / 128) (the test's fp8_factor), bf16 = 2 x hidden. Reported: 'RDMA' = tokens x distinct destination nodes
#   (own node included) x bytes / kernel time, 'NVL' = tokens received by the rank (one copy per (token, rank)) x
#   bytes / kernel time. The table's bottleneck figure is NVL within a node, RDMA across nodes.
# - low latency: 128 tokens per rank, 288 experts, top-8, one message per (token, expert) with no de-duplication;
#   message bytes fp8 = hidden + hidden / 128 x 4 + 16, bf16 = 2 x hidden. NVLink is used for same-node peers since
#   DeepEP PR #173 (2025-05-23); the table was re-measured with it (README update of 2025-06-05).
DEEPEP_NORMAL_EXPERTS = 256
DEEPEP_LL_EXPERTS = 288
# The one parameter of the low-latency family (kDeepEpLlKernelNs in sim/network/collectives.cpp) is fitted on EP 16 (dispatch
# and combine), chosen before fitting as the first multi-node size; EP 8, 32 and 64 are held out.
DEEPEP_LL_CALIBRATION = {"deepep_v1_lowlatency_ep16_h800", "deepep_v1_lowlatency_ep16_h800_combine"}
# The two parameters of the normal family, DeepEP's rates on each link type (kDeepEpNvlEfficiency,
# kDeepEpRdmaEfficiency), are fitted on the dispatch row that each link bounds: EP 8 (NVLink only) and EP 32 (RDMA);
# the combines and EP 16 are held out.
DEEPEP_NORMAL_CALIBRATION = {"deepep_v1_normal_ep8_h800", "deepep_v1_normal_ep32_h800"}


def deepep(case):
    cid = case["id"]
    inp = case["inputs"]
    w = inp["workload"]
    ep = int(inp["ep"])
    tokens, hidden, top_k = int(w["tokens_per_batch"]), int(w["hidden"]), int(w["top_k"])
    n = max(ep, 8)
    nodes = n // 8
    low_latency = "lowlatency" in cid
    e = case["expected"]
    out = []
    for phase in ("dispatch", "combine"):
        case_id = cid if phase == "dispatch" else cid + "_combine"
        calibration = False
        if low_latency:
            tok_bytes = hidden + hidden // 128 * 4 + 16 if phase == "dispatch" else 2 * hidden
            size = tokens * top_k * tok_bytes
            coll = {"collective": "all_to_all", "algorithm": "deepep_ll", "size_bytes": size, "group_size": ep,
                    "group_stride": 1}
            rdma = e[f"{phase}_rdma_GBps"]
            expected = [expect("time_us", e[f"{phase}_latency_us"],
                               f"DeepEP also reports {rdma} GB/s 'RDMA' = these bytes / time (not compared: no band)")]
            calibration = case_id in DEEPEP_LL_CALIBRATION
            notes = (f"DeepEP V1 low-latency {phase} over EP {ep} on H800 ({nodes_text(n)} of 8, NVLink inside a "
                     "node, CX-7 400 Gb/s per GPU across nodes), as one all_to_all over the EP ranks placed as in the "
                     "benchmark (8 per node, contiguous). The low-latency kernels send one message per (token, "
                     "expert), no de-duplication, straight to the expert's rank: NVLink for same-node peers (since "
                     "DeepEP PR #173, with which the table was measured), RDMA (IBGDA) otherwise, no forwarding: "
                     f"algorithm deepep_ll. Volume: {tokens} tokens x top_k {top_k} x {tok_bytes} B per message "
                     + (f"(fp8: {hidden} B + {hidden // 128} fp32 scales + 16 B, as DeepEP's test counts)"
                        if phase == "dispatch" else f"(bf16: 2 x {hidden})")
                     + f" = {size} B per rank ({DEEPEP_LL_EXPERTS} experts, uniform random top-{top_k}). Compared: "
                     "the kernel time as time_us; deepep_ll adds the family's one fitted kernel cost "
                     "(kDeepEpLlKernelNs, fitted on EP 16).")
        else:
            tok_bytes = fp8_token_bytes(hidden) if phase == "dispatch" else 2 * hidden
            top_groups = int(w["top_groups"])
            max_nodes = min(nodes, top_groups)
            coll = {"collective": "all_to_all", "algorithm": "deepep_normal", "group_size": ep, "group_stride": 1,
                    "moe": {"tokens": tokens, "top_k": top_k, "experts": DEEPEP_NORMAL_EXPERTS,
                            "max_nodes_per_token": max_nodes, "token_bytes": tok_bytes,
                            "combine": phase == "combine", "seed": 1}}
            key = f"{phase}_bottleneck_bw_GBps"
            internode = nodes > 1
            quantity = "deepep_rdma_gbyte_per_s" if internode else "deepep_nvl_gbyte_per_s"
            accounting = ("DeepEP 'RDMA' = tokens x distinct destination nodes (own node included) x bytes per token "
                          "/ kernel time" if internode else
                          "DeepEP 'NVL' = tokens received by a rank (one copy per (token, rank), its own included) x "
                          "bytes per token / kernel time")
            expected = [expect(quantity, e[key], accounting)]
            calibration = case_id in DEEPEP_NORMAL_CALIBRATION
            notes = (f"DeepEP V1 normal-mode {phase} over EP {ep} on H800 ({nodes_text(n)} of 8 GPUs, NVLink, CX-7 "
                     f"400 Gb/s IB per GPU), as DeepEP's benchmark runs it: {tokens} tokens per rank routed to "
                     f"top-{top_k} of {DEEPEP_NORMAL_EXPERTS} experts (uniform scores) on at most {max_nodes} "
                     f"node(s) (top groups min(nodes, {top_groups})), {tok_bytes} B per token copy "
                     + (f"(fp8: {hidden} B + {hidden // 128} fp32 scales)" if phase == "dispatch"
                        else f"(bf16: 2 x {hidden})")
                     + ". Routing by workloads/moe_routing (as the training steps route), traffic by algorithm "
                     "deepep_normal: one RDMA copy per (token, destination node) to the sender's same-rail GPU there, "
                     "then one NVLink copy per (token, destination rank) from that GPU, at DeepEP's NVLink and "
                     "RDMA rates (kDeepEpNvlEfficiency, kDeepEpRdmaEfficiency, fitted on EP 8 and EP 32 dispatch), "
                     "the two pipelined"
                     + ("" if internode else " (one node: NVLink only)")
                     + f". Compared with DeepEP's own accounting as {quantity}. Case note: bottleneck link = "
                     + ("RDMA." if internode else "NVLink."))
        if phase == "combine":
            notes += " Combine is the reverse exchange (bf16), a separate file *_combine."
        sc = coll_scenario(case_id, f"DeepEP {phase}, EP {ep} on H800", "H800", n)
        out.append(case_file(case, "collective", notes, expected, calibration, sc, collective=coll, case_id=case_id))
    return out


def latency_64b(case):
    e = case["expected"]
    out = []
    variants = [
        ("ib_same_leaf", "ib_same_leaf_us", 8,
         "GPU 0 of node 0 and GPU 0 of node 1, both under leaf 0 (32 NIC ports per leaf of a 2-tier fat-tree of "
         "64-port switches): GPU -> PCIe -> NIC -> leaf -> NIC -> PCIe -> GPU"),
        ("ib_cross_leaf", "ib_cross_leaf_us", 32,
         "GPU 0 and GPU 32 (leaf 0 and leaf 1): one more switch pair (leaf -> spine -> leaf)"),
        ("nvlink_intranode", "nvlink_intranode_us", 1, "two GPUs of one node over NVLink/NVSwitch"),
    ]
    for suffix, key, stride, where in variants:
        cid = f"{case['id']}_{suffix}"
        coll = {"collective": "send_recv", "size_bytes": 64, "group_size": 2, "group_stride": stride}
        expected = [expect_value("time_us", e[key], tolerance_pct=20,
                                 note="cases.yaml gives no band; 20% chosen for a single-message latency")]
        # collectives.p2p_latency_ns (the software latency of one message) was fitted on this case alone.
        calibration = suffix == "ib_same_leaf"
        notes = ("DeepSeek ISCA'25 Table 5: 64-byte one-way latency, expressed as one send/recv of 64 B: "
                 f"{where}. H800 nodes, 400 Gb/s IB, 2-tier fat-tree forced (tiers 2) so that same-leaf and "
                 "cross-leaf pairs exist in 64 GPUs. Default link (100 ns), switch (300 ns) and scale-up (500 ns) "
                 "latencies plus collectives.p2p_latency_ns (2.1 us, fitted on the same-leaf row: the NIC and "
                 "software overhead of one message). The RoCE rows (3.6 and 5.6 us) are not written: clustersim "
                 "has no IB/RoCE transport distinction. The placeholder workload is ignored by `coll`.")
        sc = coll_scenario(cid, f"64 B latency, {suffix}", "H800", 64, {"tiers": 2})
        out.append(case_file(case, "collective", notes, expected, calibration, sc, collective=coll, case_id=cid))
    return out


# --------------------------------------------------------------------------------------------------------------------
# Topology counts (DeepSeek ISCA'25 Table 3) and carbon.
# --------------------------------------------------------------------------------------------------------------------


def topology(case):
    kind = case["inputs"]["topology"]
    e = case["expected"]
    n = int(e["endpoints"])
    radix = int(case["inputs"]["switch_radix"])
    so = {"FT2": {"topology": "fat_tree", "tiers": 2},
          "FT3": {"topology": "fat_tree", "tiers": 3},
          "MPFT": {"topology": "multi_plane", "planes": 8, "tiers": 2}}[kind]
    so.update({"nic_bandwidth_gbps": 400.0, "nics_per_gpu": 1, "switch_radix": radix})
    cluster = dgx_h100_cluster(n)
    cluster["scale_out"] = so
    exact = "model-based claim of exact counts: band 0.5 (integer match)"
    expected = [expect_value("endpoints", n, tolerance_abs=0.5, note=exact + "; endpoints = NIC ports = GPUs"),
                expect_value("switches", e["switches"], tolerance_abs=0.5, note=exact + "; scale-out switches only"),
                expect_value("switch_links", e["links"], tolerance_abs=0.5,
                             note=exact + "; 'links' of the paper = switch-to-switch links")]
    notes = (f"DeepSeek ISCA'25 Table 3 {kind} ({'8 planes of ' if kind == 'MPFT' else ''}"
             f"{'3' if kind == 'FT3' else '2'}-tier fat-tree, {radix}-port 400G switches): num_gpus = endpoints "
             f"({n}) with one NIC per GPU, 8 GPUs per node. Compared: the inventory of `clustersim topo` (endpoints, "
             "scale-out switches, switch-to-switch links). The cost columns (cost_musd, cost_per_endpoint_kusd) are "
             "not compared: clustersim's part prices are its own estimates. The placeholder workload is ignored.")
    sc = scenario(case["id"], f"DeepSeek ISCA'25 {kind}", "H800", cluster, placeholder_workload(n))
    return [case_file(case, "topology", notes, expected, False, sc)]


def carbon(case):
    inp = case["inputs"]
    e = case["expected"]
    if case["id"].startswith("llama2"):
        c = {"gpu_hours": float(inp["gpu_hours"]), "power_w_per_gpu": float(inp["hardware"]["power_w_per_gpu"]),
             "pue": 0.0, "kgco2e_per_kwh": float(case["derived"]["implied_kgco2e_per_kwh"])}
        expected = [expect("tco2e", e["tco2e"])]
        notes = ("Llama 2 model card carbon row: GPU-hours x per-GPU power (the card's TDP figure) x intensity. The "
                 f"card gives no PUE or intensity; {c['kgco2e_per_kwh']} kgCO2e/kWh is the intensity implied by the "
                 "card's own rows (cases.yaml derived.implied_kgco2e_per_kwh), with PUE folded in (pue 0 = 1). This "
                 "checks the roll-up arithmetic, not an independent prediction.")
    else:
        hw = inp["hardware"]
        dc = inp["datacenter"]
        hours = float(hw["devices"]) * float(inp["training_days"]) * 24.0
        c = {"gpu_hours": hours, "power_w_per_gpu": float(hw["avg_system_power_w_per_device"]),
             "pue": float(dc["pue"]), "kgco2e_per_kwh": float(dc["kgco2e_per_kwh"])}
        expected = [expect("energy_mwh", e["energy_MWh"]), expect("tco2e", e["tco2e"])]
        notes = (f"Patterson et al. Table 4 ({hw['device']}): device-hours = {hw['devices']} devices x "
                 f"{inp['training_days']} days x 24 = {hours:.0f}; power = the measured average system power per "
                 f"device ({hw['avg_system_power_w_per_device']} W, not the {hw['device_tdp_w']} W TDP); PUE "
                 f"{dc['pue']}; {dc['kgco2e_per_kwh']} kgCO2e/kWh. energy = hours x power x PUE.")
    return [case_file(case, "energy_carbon", notes, expected, False, carbon=c)]


# --------------------------------------------------------------------------------------------------------------------

def build(case):
    cid = case["id"]
    cat = case["category"]
    if case["kind"] not in ("measured", "claim"):
        return []
    if cid.startswith("megatron_sc21_t1"):
        return sc21_table1(case)
    if cid.startswith("megatron_sc21_t2"):
        return sc21_table2(case)
    if cid.startswith("korthikanti"):
        return korthikanti(case)
    if cat in ("training_dense", "training_moe"):
        return nvidia_recipe(case)
    if cat == "collective":
        return nccl(case)
    if cat == "collective_moe_a2a":
        return deepep(case)
    if cat == "network_latency":
        return latency_64b(case)
    if cat == "topology_cost":
        return topology(case)
    if cat == "energy_carbon":
        return carbon(case)
    raise ValueError(f"{cid}: no rule for category {cat}")


def render(msg):
    header = (f"# {msg['id']}: generated by {SCRIPT} from ../shared/validation/cases.yaml; edit the script, not "
              "this file.\n# Format: clustersim.v1.ValidationCase (proto/validation.proto).\n")
    return header + "\n".join(emit(msg)) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--only", default="", help="write or check only the case files whose id starts with this prefix")
    args = ap.parse_args()
    data = yaml.safe_load(CASES_YAML.read_text())
    files = {}
    for case in data["cases"]:
        for msg in build(case):
            name = msg["id"] + ".textproto"
            if name in files:
                raise ValueError(f"duplicate case file {name}")
            files[name] = render(msg)
    files = {n: t for n, t in files.items() if n.startswith(args.only)}
    return write_or_check(HERE, files, args.check, args.only)


def outside_case_main(description, directory, script, messages):
    """The command line of a generator of cases outside cases.yaml (extra/make_extra.py, scale/make_scale.py): renders
    every message with the header naming `script`, then writes them into `directory` or, with --check, compares."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    header = ("# {}: generated by " + script + " (a published measurement outside cases.yaml); edit the script, "
              "not this file.\n# Format: clustersim.v1.ValidationCase (proto/validation.proto).\n")
    files = {m["id"] + ".textproto": header.format(m["id"]) + "\n".join(emit(m)) + "\n" for m in messages}
    return write_or_check(directory, files, args.check)


def write_or_check(directory, files, check, prefix=""):
    """Writes `files` (name -> text) into `directory`, or with `check` writes nothing and returns 1 if a file there
    (whose name starts with `prefix`) differs from what would be written, is missing, or is not generated."""
    existing = {p.name for p in directory.glob(prefix + "*.textproto")}
    if check:
        bad = sorted(n for n, t in files.items() if not (directory / n).exists() or (directory / n).read_text() != t)
        extra = sorted(existing - set(files))
        for n in bad:
            print(f"differs or missing: {n}")
        for n in extra:
            print(f"not generated: {n}")
        return 1 if bad or extra else 0
    for name, text in files.items():
        (directory / name).write_text(text)
    print(f"wrote {len(files)} files to {directory.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
