#!/usr/bin/env python3
"""Writes tests/validation/scale/<case id>.textproto: published measurements of training at scale (the same model at
several GPU counts, 256 to 16,384 GPUs) and of per-GPU memory, outside ../shared/validation/cases.yaml.

The scale terms of clustersim (collective latency at group size, the per-step overhead, GPU-to-GPU variability and
stragglers, docs/workloads.md "What grows with scale") are calibrated on the rows marked `fit` below, once per
accelerator family; every other row is a check. docs/validation-notes.md ("Scale series") lists every source with
its role.

Sources:
  MLPerf Training closed-division result logs (mlcommons/training_results_v3.1, v5.0), NVIDIA's submissions: step
    times between block_start and block_stop events, tokens per second per accelerator computed from the logged
    global batch (NVIDIA configs give TP/PP/VPP/CP/MBS).
  Jiang et al., "MegaScale: Scaling Large Language Model Training to More Than 10,000 GPUs", NSDI 2024
    (arXiv:2402.15627), Table 2: the Megatron-LM baseline rows (175B, A100).
  Dubey et al., "The Llama 3 Herd of Models" (arXiv:2407.21783), Table 4 (405B on 8,192 and 16,384 H100).
  NVIDIA/dgxc-benchmarking nemo_megatron/README_175b.md (NeMo 24.09, H100, GPT-3 175B, 128 to 2,048 GPUs, global
    batch proportional to the GPU count).
  Memory: Megatron-Bridge skills/nemo-mbridge-perf-memory-tuning/SKILL.md (Llama 3 70B SFT, FP8-CS, 32 H100, peak
    allocated per variant) and skills/nemo-mbridge-perf-moe-hardware-configs/SKILL.md (Qwen3-30B-A3B, 16 H100, rank-0
    peak allocated 62.166 GiB).

Usage: python3 tests/validation/scale/make_scale.py [--check]
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import make_cases as mc  # noqa: E402  (helpers: emit, scenario, expect_value, write_or_check)

SCRIPT = "tests/validation/scale/make_scale.py"
GIB = 1024 ** 3

MLPERF31 = ("MLPerf Training v3.1 closed, NVIDIA Eos (DGX H100, 8 x 400 Gb/s NDR), GPT-3 175B result logs "
            "(mlcommons/training_results_v3.1 NVIDIA/results/eos_n{nodes}_ngc23.09_nemo/gpt3); tokens/s/GPU = "
            "global batch x 2048 / mean step time / GPUs")
MLPERF50_405B = ("MLPerf Training v5.0 closed, NVIDIA {system}, Llama 3.1 405B result logs "
                 "(mlcommons/training_results_v5.0 NVIDIA/results/{name}/llama31_405b); tokens/s/GPU = global batch x "
                 "8192 / median train_step_time / GPUs")
MEGASCALE = ("Jiang et al., MegaScale, NSDI 2024 (arXiv:2402.15627), Table 2, Megatron-LM baseline rows (175B, "
             "A100, TP8 PP8 interleave 6, ZeRO-2, seq 2048, vocab 64000); tokens/s/GPU = global batch x 2048 / "
             "iteration time / GPUs")
LLAMA3 = "Dubey et al., The Llama 3 Herd of Models (arXiv:2407.21783), section 3.3.2, Table 4"
DGXC = ("NVIDIA/dgxc-benchmarking nemo_megatron/README_175b.md (NeMo 24.09, DGX H100, GPT-3 175B, TP4 PP8 VP12 "
        "MBS1, 64 micro-batches per pipeline, step time of the last steps)")


def h100_cluster(n, oversub=None):
    c = mc.dgx_h100_cluster(n)
    if oversub:
        c["scale_out"]["oversubscription"] = oversub
    return c


def gb200_cluster(n):
    # GB200 NVL72 racks; the benchmarks use 64 GPUs of each NVLink domain (16 compute trays x 4), one ConnectX-7
    # 400 Gb/s per GPU (make_extra.py uses the same cluster).
    return {"num_gpus": n, "scale_up": {"kind": "nvl72", "domain_size": 64, "gpus_per_node": 4},
            "scale_out": {"topology": "fat_tree", "nic_bandwidth_gbps": 400.0, "nics_per_gpu": 1, "switch_radix": 64}}


def a100_cluster(n):
    # MegaScale servers: 8 A100 per node (NVSwitch), 8 x 200 Gb/s NICs, 3-tier Clos of 64 x 400G switches.
    return {"num_gpus": n, "scale_up": {"kind": "nvswitch", "domain_size": 8, "gpus_per_node": 8},
            "scale_out": {"topology": "fat_tree", "nic_bandwidth_gbps": 200.0, "nics_per_gpu": 1, "switch_radix": 64}}


def parallelism(tp, pp, vpp, cp, dp, mbs, gbs, zero=1, tp_overlap=True):
    p = {"tp": tp, "cp": cp, "pp": pp, "dp": dp}
    if vpp > 1:
        p["vpp"] = vpp
    p.update({"sequence_parallel": tp > 1, "micro_batch_size": mbs, "global_batch_size": gbs, "zero_stage": zero,
              "recompute": "none", "overlap_grad_reduce": True, "overlap_param_gather": True})
    if tp > 1 and tp_overlap:
        p["tp_comm_overlap"] = True  # NVIDIA's NeMo / MLPerf configs: TP communication overlap (userbuffers)
    return p


def training_case(cid, source, fit, notes, accelerator, cluster, model, par, precision, expected, fp8_recipe=None):
    workload = {"model": model, "parallelism": par, "precision": precision}
    if fp8_recipe:
        workload["fp8_recipe"] = fp8_recipe
    return {"id": cid, "category": "training_dense", "source": source, "calibration": fit,
            "notes": notes + (" Fitted on (the scale terms' per-family parameters)." if fit else
                              " Held out: nothing is fitted on this case."),
            "scenario": mc.scenario(cid, cid, accelerator, cluster, workload), "expected": expected}


def tokens(value, tol=10, note="primary comparison"):
    return [mc.expect_value("tokens_per_s_per_gpu", value, tol, note=note)]


# (nodes, GPUs, DP, global batch, tokens/s/GPU, fit): MLPerf v3.1 Eos GPT-3 175B, TP4 PP8 VPP12 MBS1 FP8.
MLPERF31_GPT3 = [(64, 512, 16, 2048, 739.9, True), (96, 768, 24, 3072, 738.5, False),
                 (512, 4096, 128, 2048, 629.2, True), (768, 6144, 192, 3072, 625.9, False),
                 (1024, 8192, 256, 4096, 624.3, True), (1280, 10240, 320, 2560, 540.7, False),
                 (1344, 10752, 336, 2688, 537.9, True)]


def mlperf_gpt3():
    out = []
    for nodes, n, dp, gbs, tok, fit in MLPERF31_GPT3:
        cid = f"mlperf31_gpt3_175b_h100_{n}gpu"
        notes = (f"MLPerf v3.1 GPT-3 175B on {n} H100 (Eos, {nodes} DGX H100): TP4 PP8 VPP12 DP{dp}, MBS 1, global "
                 f"batch {gbs} (micro-batches per pipeline {gbs // dp}), seq 2048, FP8 (TransformerEngine), "
                 "distributed optimizer with overlapped gradient reduce-scatter and parameter all-gather, sequence "
                 "parallelism, no recompute, rail-optimized non-blocking NDR fabric (modelled as a fat-tree). FP8 "
                 "delayed scaling with the amax all-reduce over the tensor x data-parallel ranks (the submission's "
                 "config_fp8.sh: FP8_HYBRID, FP8_AMAX_HISTORY 1024, FP8_REDUCE_AMAX True).")
        out.append(training_case(cid, MLPERF31.format(nodes=nodes), fit, notes, "H100-SXM", h100_cluster(n),
                                 {"preset": "gpt3_175b", "seq_len": 2048}, parallelism(4, 8, 12, 1, dp, 1, gbs),
                                 "fp8", tokens(tok), fp8_recipe="delayed"))
    return out


# (system, result name, GPUs, DP, global batch, tokens/s/GPU, fit): MLPerf v5.0 Llama 3.1 405B, CP2 VPP8 MBS1 FP8.
MLPERF50_LLAMA = [("H100", "eos_n64", 512, 4, 1152, 334.3, False), ("H100", "eos_n256", 2048, 16, 1152, 324.1, False),
                  ("H100", "eos_n1024", 8192, 64, 1536, 296.6, False),
                  ("GB200", "tyche_n128", 512, 8, 896, 737.0, True), ("GB200", "tyche_n256", 1024, 16, 768, 727.2, False),
                  ("GB200", "tyche_n512", 2048, 32, 1280, 715.2, True),
                  ("GB200", "tyche_n624", 2496, 39, 1248, 703.4, False)]


def mlperf_llama():
    out = []
    for system, name, n, dp, gbs, tok, fit in MLPERF50_LLAMA:
        tp = 8 if system == "H100" else 4
        cid = f"mlperf50_llama31_405b_{system.lower()}_{n}gpu"
        notes = (f"MLPerf v5.0 Llama 3.1 405B on {n} {system}: TP{tp} PP8 VPP8 CP2 DP{dp}, MBS 1, global batch {gbs} "
                 f"(micro-batches per pipeline {gbs // dp}), seq 8192, FP8, distributed optimizer with overlapped "
                 "gradient reduce-scatter and parameter all-gather, sequence parallelism, no recompute.")
        accelerator = "H100-SXM" if system == "H100" else "GB200"
        cluster = h100_cluster(n) if system == "H100" else gb200_cluster(n)
        out.append(training_case(cid, MLPERF50_405B.format(system=system, name=name), fit, notes, accelerator, cluster,
                                 {"preset": "llama3_405b", "seq_len": 8192}, parallelism(tp, 8, 8, 2, dp, 1, gbs),
                                 "fp8", tokens(tok)))
    return out


# (GPUs, global batch, iteration s): MegaScale Table 2, Megatron-LM rows.
MEGASCALE_ROWS = [(256, 768, 40.0), (512, 768, 21.2), (768, 768, 15.2), (1024, 768, 11.9), (3072, 6144, 29.02),
                  (6144, 6144, 14.78), (8192, 6144, 12.24), (12288, 6144, 8.57)]
MEGASCALE_FIT = {(1024, 768), (12288, 6144)}


def megascale():
    out = []
    model = {"preset": "gpt3_175b", "seq_len": 2048, "vocab": 64000, "tied_embeddings": False}
    for n, gbs, iter_s in MEGASCALE_ROWS:
        dp = n // 64
        cid = f"megascale_megatron_175b_a100_{n}gpu_gbs{gbs}"
        tok = gbs * 2048 / iter_s / n
        notes = (f"MegaScale's Megatron-LM baseline, 175B (96 layers, h 12288, 128 heads per the paper; run with the "
                 f"gpt3_175b shape, vocab 64000) on {n} A100: TP8 PP8 interleave 6, DP{dp} with ZeRO-2, global batch "
                 f"{gbs} (micro-batches per pipeline {gbs // dp}), seq 2048, BF16, no recompute, data-parallel "
                 f"communication not overlapped (MegaScale Table 3 adds that overlap); iteration {iter_s} s.")
        p = parallelism(8, 8, 6, 1, dp, 1, gbs, zero=2, tp_overlap=False)
        # MegaScale's ablation (Table 3) adds data-parallel overlap to this baseline: here it is not overlapped.
        p["overlap_grad_reduce"] = False
        p["overlap_param_gather"] = False
        out.append(training_case(cid, MEGASCALE, (n, gbs) in MEGASCALE_FIT, notes, "A100-80GB", a100_cluster(n),
                                 model, p, "bf16", tokens(round(tok, 1))))
    return out


def llama3():
    out = []
    model = {"preset": "llama3_405b", "seq_len": 8192}
    for n, dp, tflops in [(8192, 64, 430), (16384, 128, 400)]:
        cid = f"llama3_405b_h100_{n}gpu"
        notes = (f"Llama 3 405B pre-training on {n} H100 (Meta, RoCE, 3-tier Clos: 3,072-GPU pods at full bisection, "
                 f"1:7 oversubscribed above): TP8 CP1 PP16 DP{dp}, seq 8192, 16M tokens per batch (global batch "
                 "2048 sequences), BF16, interleaved schedule with 8 model chunks of one layer slot per rank: "
                 "section 3.3.2 removes one layer each from the first and last stages so that 'the first model chunk "
                 "on the first stage has only the embedding, and the last model chunk on the last stage has only "
                 "output projection and loss' (126 layers + 2 slots = 16 x 8; Megatron-Core's "
                 "account_for_embedding/loss_in_pipeline_split), "
                 "FSDP sharding optimizer states and gradients, weights kept unsharded from forward to backward "
                 "('Our use of FSDP for Llama 3 shards optimizer states and gradients, but for model shards we do not "
                 "reshard after forward computation': zero_stage 2), no activation recompute. Table 4 gives "
                 "TFLOP/s per GPU in the Chowdhery et al. convention (6N + 12 L h s per token, full attention), "
                 "clustersim's model_tflops_per_gpu convention.")
        p = parallelism(8, 16, 8, 1, dp, 1, 2048, zero=2, tp_overlap=False)
        p["account_for_embedding_in_pipeline_split"] = True
        p["account_for_loss_in_pipeline_split"] = True
        expected = [mc.expect_value("model_tflops_per_gpu", tflops, 10, note="primary comparison (Table 4)")]
        out.append(training_case(cid, LLAMA3, False, notes, "H100-SXM", h100_cluster(n, [1, 7]), model, p, "bf16",
                                 expected))
    return out


# (GPUs, BF16 step s, FP8 step s): dgxc-benchmarking README_175b.md, GBS = 64 x DP.
DGXC_ROWS = [(128, 8.309, 5.626), (256, 8.408, 5.725), (512, 8.42, 5.774), (1024, 8.453, 5.82), (2048, 8.49, 5.96)]


def dgxc():
    out = []
    model = {"preset": "gpt3_175b", "seq_len": 2048}
    for n, bf16_s, fp8_s in DGXC_ROWS:
        dp = n // 32
        gbs = 64 * dp
        for precision, step in (("bf16", bf16_s), ("fp8", fp8_s)):
            cid = f"dgxc2409_gpt3_175b_h100_{n}gpu_{precision}"
            notes = (f"NeMo 24.09 GPT-3 175B on {n} H100: TP4 PP8 VP12 DP{dp}, MBS 1, global batch {gbs} (64 "
                     f"micro-batches per pipeline at every size), seq 2048, {precision.upper()}, distributed optimizer "
                     f"with overlapped reduce-scatter and all-gather, sequence parallelism, no recompute; step {step} s.")
            if precision == "fp8":
                notes += (" FP8 as NeMo 24.09 runs it: TransformerEngine delayed scaling (amax history 1024) with "
                          "Megatron-Core 0.9's amax all-reduce over the tensor x data x context-parallel ranks "
                          "(get_amax_reduction_group, tp_only_amax_red off).")
            tok = gbs * 2048 / step / n
            out.append(training_case(cid, DGXC, False, notes, "H100-SXM", h100_cluster(n), model,
                                     parallelism(4, 8, 12, 1, dp, 1, gbs), precision, tokens(round(tok, 1)),
                                     fp8_recipe="delayed" if precision == "fp8" else None))
    return out


# --------------------------------------------------------------------------------------------------------------------
# Memory.
# --------------------------------------------------------------------------------------------------------------------

BRIDGE_MEM = ("NVIDIA-NeMo/Megatron-Bridge skills/nemo-mbridge-perf-memory-tuning/SKILL.md (Llama 3 70B SFT on 32 "
              "H100, FP8-CS, peak allocated memory per variant)")
BRIDGE_MOE = ("NVIDIA-NeMo/Megatron-Bridge skills/nemo-mbridge-perf-moe-hardware-configs/SKILL.md (Qwen3-30B-A3B on "
              "16 H100, BF16, rank-0 peak allocated 62.166 GiB)")


def memory_case(cid, source, notes, accelerator, cluster, workload, allocated_gb, tol=10):
    expected = [mc.expect_value("memory_allocated_gb", allocated_gb, tol,
                                note="peak allocated by the framework (PyTorch max allocated), worst stage")]
    return {"id": cid, "category": "memory", "source": source, "calibration": False,
            "notes": notes + " Held out: nothing is fitted on this case.",
            "scenario": mc.scenario(cid, cid, accelerator, cluster, workload), "expected": expected}


# (suffix, TP, PP, VPP, recompute modules, peak GB)
LLAMA70B_SFT = [("baseline", 4, 4, 5, None, 58.8), ("pp8", 4, 8, 5, None, 53.2), ("tp8", 8, 4, 5, None, 50.2),
                ("recompute_mlp", 4, 4, 5, ["mlp"], 55.6), ("vpp10", 4, 4, 10, None, 60.2)]


def memory():
    out = []
    for suffix, tp, pp, vpp, modules, gb in LLAMA70B_SFT:
        dp = 32 // (tp * pp)
        p = parallelism(tp, pp, vpp, 1, dp, 1, 32)
        if modules:
            p["recompute"] = "selective"
            p["recompute_modules"] = modules
        workload = {"model": {"preset": "llama3_70b", "seq_len": 4096}, "parallelism": p, "precision": "fp8",
                    "fp8_recipe": "tensorwise", "memory": {"fp8_params": True}}
        notes = (f"Llama 3 70B SFT on 32 H100: TP{tp} PP{pp} VPP{vpp} DP{dp}, MBS 1, global batch 32, seq 4096, "
                 "FP8 current scaling with FP8 primary weights (the Bridge FP8-CS recipes' fp8_param_gather), bf16 "
                 "main gradients (Bridge performance recipes), distributed optimizer" +
                 (f", selective recompute of {modules}" if modules else ", no recompute") + f"; peak {gb} GB.")
        out.append(memory_case(f"mbridge_llama3_70b_sft_h100_32gpu_{suffix}", BRIDGE_MEM, notes, "H100-SXM",
                               h100_cluster(32), workload, gb))
    out.append(memory_case("mbridge_qwen3_30b_a3b_h100_16gpu_ep16", BRIDGE_MOE, QWEN3_30B_NOTES + " Peak 62.166 GiB.",
                           "H100-SXM", h100_cluster(16), qwen3_30b_workload(), round(62.166 * GIB / 1e9, 2)))
    return out


# The canonical 16-H100 Qwen3-30B-A3B recipe of the same SKILL.md: HybridEP (BF16 dispatch, permute fused into it),
# EP overlap, CUDA graphs of the router and the MoE preprocessing (not modelled), no delayed wgrad.
QWEN3_30B_NOTES = ("Qwen3-30B-A3B on 16 H100: TP1 EP16 PP1 DP16, MBS 1, global batch 1024, seq 4096, BF16, bf16 main "
                   "gradients, distributed optimizer, no recompute, balanced routing (forced balance), the HybridEP "
                   "dispatcher (flex, BF16 dispatch) with EP overlap (overlap_moe_a2a); not modelled: the CUDA graphs "
                   "of moe_router and moe_preprocess.")


def qwen3_30b_workload():
    p = parallelism(1, 1, 1, 1, 16, 1, 1024)
    p["ep"] = 16
    p["expert_tp"] = 1
    p["overlap_moe_a2a"] = True
    return {"model": {"preset": "qwen3_30b_a3b", "seq_len": 4096}, "parallelism": p, "precision": "bf16",
            "moe_routing": {"distribution": "balanced", "dispatcher": "flex", "dispatch_dtype": "bf16"}}


def moe_throughput():
    """The same recipe's measured step: 20.14729 s, 299.352 model TFLOP/s per GPU (causal attention counted half)."""
    cid = "mbridge_qwen3_30b_a3b_h100_16gpu_ep16_step"
    step = 20.14729
    expected = [mc.expect_value("tokens_per_s_per_gpu", round(1024 * 4096 / step / 16, 1), 10,
                                note="primary comparison: 1,024 x 4,096 tokens / 20.14729 s / 16 GPUs"),
                mc.expect_value("model_tflops_per_gpu_causal", 299.352, 10,
                                note="Megatron counts causal attention as half the s x s matrix")]
    return [{"id": cid, "category": "training_moe", "source": BRIDGE_MOE.replace(", rank-0 peak allocated 62.166 GiB",
                                                                               ", 20.14729 s per step"),
             "calibration": False,
             "notes": QWEN3_30B_NOTES + " Measured over iterations 41-50. Held out: nothing is fitted on this case.",
             "scenario": mc.scenario(cid, cid, "H100-SXM", h100_cluster(16), qwen3_30b_workload()),
             "expected": expected}]


def main():
    messages = mlperf_gpt3() + mlperf_llama() + megascale() + llama3() + dgxc() + memory() + moe_throughput()
    return mc.outside_case_main(__doc__.splitlines()[0], HERE, SCRIPT, messages)


if __name__ == "__main__":
    sys.exit(main())
