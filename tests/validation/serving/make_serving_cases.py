#!/usr/bin/env python3
"""Writes the serving validation cases (category "serving") of tests/validation/serving/ from the table below.

Each case is a published serving measurement (docs/validation-notes.md, "Serving"): the deployment as published, the
traffic as published (or as derived, said in the notes), and the measured quantity. `fit` marks the cases the serving
calibration of an accelerator family (sim/serving_engine.cpp, ServingFamilyOf) was fitted on; every other case is held
out. Run it again after editing the table:

    python3 tests/validation/serving/make_serving_cases.py          # rewrite the files
    python3 tests/validation/serving/make_serving_cases.py --check  # exit 1 if a file differs
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

TRTLLM_NEW = ("NVIDIA/TensorRT-LLM docs/source/developer-guide/perf-overview.md (commit 03e27c7): output tokens/s per "
              "GPU at maximum load (trtllm-bench throughput, PyTorch backend)")
TRTLLM_OLD = ("NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md (commit 00f3768, v0.19-v1.0): total "
              "output tokens/s of the TP group at maximum load, divided by TP")
TRTLLM_DSR1 = "NVIDIA/TensorRT-LLM docs/source/blogs/Best_perf_practice_on_DeepSeek-R1_in_TensorRT-LLM.md"
SGLANG_96 = "LMSYS blog 2025-05-05 'Deploying DeepSeek with PD Disaggregation and Large-scale Expert Parallelism on 96 H100 GPUs'"
DEEPSEEK_DAY6 = ("deepseek-ai/open-infra-index 202502OpenSourceWeek/day_6_one_more_thing_deepseekV3R1_inference_"
                 "system_overview.md")
CLOUDMATRIX = "Huawei, 'Serving Large Language Models on Huawei CloudMatrix384', arXiv:2506.12708 (abstract)"
MLPERF51 = "MLPerf Inference v5.1 closed, power results (mlcommons/inference_results_v5.1)"

MAX_LOAD = ("Maximum load is a closed loop: every instance keeps `concurrency` requests in flight (more than its KV "
            "cache holds), so the running batch is bounded by the KV cache and max_batch.")


def node(n, gpn=8, topology="fat_tree", nic=400):
    return {"num_gpus": n, "gpn": gpn, "topology": topology, "nic": nic}


# Each case: id, source, fit (bool), notes, accelerator, cluster, model (preset + overrides), precision, pools,
# traffic, engine, window, expected [(quantity, value, tolerance %)].
CASES = [
    dict(id="trtllm_llama33_70b_h100_tp2_1k1k", source=TRTLLM_NEW, fit=True, acc="H100-SXM", cluster=node(8),
         model="llama3_70b", precision="fp8",
         pools=[dict(role="mixed", instances=4, tp=2, max_batch=1024, max_num_tokens=8192)],
         traffic=dict(arrival="closed", concurrency=2048, input_tokens=1000, output_tokens=1000),
         window=(200, 200), expected=[("output_tokens_per_s_per_gpu", 2209, 10)],
         notes="Llama-3.3-70B (llama3_70b shapes) FP8 on H100, one TP2 instance, ISL/OSL 1000/1000, FP8 KV. " + MAX_LOAD +
         " Fitted: the Hopper software efficiency."),
    dict(id="trtllm_llama33_70b_h200_tp2_1k1k", source=TRTLLM_NEW, fit=False, acc="H200", cluster=node(8),
         model="llama3_70b", precision="fp8",
         pools=[dict(role="mixed", instances=4, tp=2, max_batch=1024, max_num_tokens=8192)],
         traffic=dict(arrival="closed", concurrency=2048, input_tokens=1000, output_tokens=1000),
         window=(200, 200), expected=[("output_tokens_per_s_per_gpu", 2587, 10)],
         notes="As trtllm_llama33_70b_h100_tp2_1k1k on H200 (141 GB, 4.8 TB/s). " + MAX_LOAD),
    dict(id="trtllm_llama33_70b_h100_tp2_8k1k", source=TRTLLM_NEW, fit=False, acc="H100-SXM", cluster=node(8),
         model="llama3_70b", precision="fp8",
         pools=[dict(role="mixed", instances=4, tp=2, max_batch=1024, max_num_tokens=8192)],
         traffic=dict(arrival="closed", concurrency=512, input_tokens=8192, output_tokens=1024),
         window=(200, 200), expected=[("output_tokens_per_s_per_gpu", 398, 10)],
         notes="Llama-3.3-70B FP8 on H100 TP2, ISL/OSL 8192/1024: prefill-heavy. " + MAX_LOAD),
    dict(id="trtllm_llama33_70b_b200_fp4_tp1_1k1k", source=TRTLLM_NEW, fit=True, acc="B200", cluster=node(8),
         model="llama3_70b", precision="fp4",
         pools=[dict(role="mixed", instances=8, tp=1, max_batch=2048, max_num_tokens=8192)],
         traffic=dict(arrival="closed", concurrency=4096, input_tokens=1000, output_tokens=1000),
         window=(200, 200), expected=[("output_tokens_per_s_per_gpu", 6920, 10)],
         notes="Llama-3.3-70B NVFP4 on one B200 (TP1), ISL/OSL 1000/1000, FP8 KV. " + MAX_LOAD +
         " Fitted: the Blackwell software efficiency."),
    dict(id="trtllm_llama33_70b_b200_fp4_tp1_1k8k", source=TRTLLM_NEW, fit=False, acc="B200", cluster=node(8),
         model="llama3_70b", precision="fp4",
         pools=[dict(role="mixed", instances=8, tp=1, max_batch=2048, max_num_tokens=8192)],
         traffic=dict(arrival="closed", concurrency=4096, input_tokens=1024, output_tokens=8192),
         window=(600, 600), expected=[("output_tokens_per_s_per_gpu", 3242, 10)],
         notes="Llama-3.3-70B NVFP4 on one B200, ISL/OSL 1024/8192: decode-heavy with long KV. " + MAX_LOAD),
    dict(id="trtllm_llama33_70b_b200_fp4_tp1_8k1k", source=TRTLLM_NEW, fit=False, acc="B200", cluster=node(8),
         model="llama3_70b", precision="fp4",
         pools=[dict(role="mixed", instances=8, tp=1, max_batch=2048, max_num_tokens=8192)],
         traffic=dict(arrival="closed", concurrency=1024, input_tokens=8192, output_tokens=1024),
         window=(200, 200), expected=[("output_tokens_per_s_per_gpu", 1362, 10)],
         notes="Llama-3.3-70B NVFP4 on one B200, ISL/OSL 8192/1024: prefill-heavy. " + MAX_LOAD),
    dict(id="trtllm_llama31_405b_h100_tp8_1k1k", source=TRTLLM_OLD, fit=False, acc="H100-SXM", cluster=node(8),
         model="llama3_405b", precision="fp8",
         pools=[dict(role="mixed", instances=1, tp=8, max_batch=1024, max_num_tokens=8192)],
         traffic=dict(arrival="closed", concurrency=2048, input_tokens=1000, output_tokens=1000),
         window=(300, 300), expected=[("output_tokens_per_s_per_gpu", 365, 10)],
         notes="Llama-3.1-405B FP8 on 8 H100 (TP8): 2,919 tok/s for the group / 8. " + MAX_LOAD),
    dict(id="trtllm_llama31_405b_b200_fp4_tp4_1k1k", source=TRTLLM_OLD, fit=False, acc="B200", cluster=node(8),
         model="llama3_405b", precision="fp4",
         pools=[dict(role="mixed", instances=2, tp=4, max_batch=1024, max_num_tokens=8192)],
         traffic=dict(arrival="closed", concurrency=2048, input_tokens=1000, output_tokens=1000),
         window=(300, 300), expected=[("output_tokens_per_s_per_gpu", 1302, 10)],
         notes="Llama-3.1-405B NVFP4 on 4 B200 (TP4): 5,209 tok/s for the group / 4. " + MAX_LOAD),
    dict(id="trtllm_dsr1_b200_fp4_dep8_1k2k", source=TRTLLM_DSR1, fit=False, acc="B200", cluster=node(8),
         model="deepseek_v3_671b", precision="fp4",
         pools=[dict(role="mixed", instances=1, tp=1, dp_attention=8, ep=8, max_batch=8 * 896, max_num_tokens=8 * 8192)],
         traffic=dict(arrival="closed", concurrency=7168, input_tokens=1024, output_tokens=2048),
         window=(400, 400), expected=[("output_tokens_per_s_per_gpu", 5393, 10)],
         notes="DeepSeek-R1 NVFP4 MoE on 8 B200: attention data-parallel 8, experts EP8 (WIDEEP), batch up to 896 per "
         "rank, concurrency 7,168, FP8 KV, no MTP (throughput mode). Held out."),
    dict(id="trtllm_dsr1_h200_fp8_dep8_1k2k", source=TRTLLM_DSR1, fit=False, acc="H200", cluster=node(8),
         model="deepseek_v3_671b", precision="fp8",
         pools=[dict(role="mixed", instances=1, tp=1, dp_attention=8, ep=8, max_batch=8 * 128, max_num_tokens=8 * 8192)],
         traffic=dict(arrival="closed", concurrency=1024, input_tokens=1024, output_tokens=2048),
         window=(400, 400), expected=[("output_tokens_per_s_per_gpu", 1436, 10)],
         notes="DeepSeek-R1 FP8 on 8 H200: attention data-parallel 8, EP8, batch 128 per rank, concurrency 1,024. Held "
         "out."),
    dict(id="trtllm_qwen3_235b_h100_fp8_dep8_1k1k", source=TRTLLM_NEW, fit=False, acc="H100-SXM", cluster=node(8),
         model="qwen3_235b_a22b", precision="fp8",
         pools=[dict(role="mixed", instances=1, tp=1, dp_attention=8, ep=8, max_batch=8 * 512, max_num_tokens=8 * 8192)],
         traffic=dict(arrival="closed", concurrency=8192, input_tokens=1000, output_tokens=1000),
         window=(200, 200), expected=[("output_tokens_per_s_per_gpu", 1932, 10)],
         notes="Qwen3-235B-A22B FP8 on 8 H100 with attention DP8 and EP8 (DEP8). " + MAX_LOAD),
    dict(id="sglang_dsv3_96xh100_pd_prefill_2k", source=SGLANG_96, fit=False, acc="H100-SXM", cluster=node(104),
         model="deepseek_v3_671b", precision="fp8",
         pools=[dict(role="prefill", instances=1, tp=1, dp_attention=32, ep=32, redundant_experts=32,
                     max_num_tokens=32 * 16384, two_batch_overlap=True),
                dict(role="decode", instances=1, tp=1, dp_attention=72, ep=72, redundant_experts=32,
                     max_batch=72 * 256, max_num_tokens=72 * 256, two_batch_overlap=True)],
         traffic=dict(arrival="closed", concurrency=2048, input_tokens=2000, output_tokens=100),
         kv="bf16", engine=dict(admission="prompt_only"), window=(60, 60),
         expected=[("prefill_input_tokens_per_s_per_node", 54543, 10)],
         notes="SGLang PD disaggregation on 12 nodes of 8 H100: prefill 4 nodes (DP attention 32, EP32, DeepEP "
         "normal, two-batch overlap, 16,384 tokens per GPU), decode 9 nodes (EP72, DeepEP low latency, 256 sequences "
         "per GPU), 32 redundant experts (EPLB), BF16 MLA cache. 2,000-token prompts with short answers (100 tokens) "
         "so that the prefill pool is the bottleneck, as in the blog's prefill measurement."),
    dict(id="sglang_dsv3_96xh100_pd_decode_2k", source=SGLANG_96, fit=False, acc="H100-SXM", cluster=node(104),
         model="deepseek_v3_671b", precision="fp8",
         pools=[dict(role="prefill", instances=1, tp=1, dp_attention=32, ep=32, redundant_experts=32,
                     max_num_tokens=32 * 16384, two_batch_overlap=True),
                dict(role="decode", instances=1, tp=1, dp_attention=72, ep=72, redundant_experts=32,
                     max_batch=72 * 256, max_num_tokens=72 * 256, two_batch_overlap=True)],
         traffic=dict(arrival="closed", concurrency=72 * 256 + 2048, input_tokens=2000, output_tokens=1500),
         kv="bf16", window=(200, 200), expected=[("decode_output_tokens_per_s_per_node", 22282, 10)],
         notes="As sglang_dsv3_96xh100_pd_prefill_2k with 1,500-token answers and more requests in flight than the "
         "decode pool's 256 per GPU, so that the decode pool runs full, as in the blog's decode measurement."),
    dict(id="deepseek_day6_h800_prefill", source=DEEPSEEK_DAY6, fit=False, acc="H800", cluster=node(288),
         model="deepseek_v3_671b", precision="fp8",
         pools=[dict(role="prefill", instances=2, tp=1, dp_attention=32, ep=32, redundant_experts=32,
                     max_num_tokens=32 * 16384, two_batch_overlap=True),
                dict(role="decode", instances=1, tp=1, dp_attention=144, ep=144, redundant_experts=32,
                     max_batch=144 * 128, max_num_tokens=144 * 256, two_batch_overlap=True)],
         traffic=dict(arrival="closed", concurrency=1024, input_tokens=4400, output_tokens=100,
                      prefix_cache_hit_rate=0.563),
         window=(60, 60), expected=[("prefill_input_tokens_per_s_per_node", 73700, 10)],
         notes="DeepSeek's production H800 inference: prefill units of 4 nodes (EP32, dual micro-batch overlap), decode "
         "units of 18 nodes (EP144), 32 redundant experts, FP8 matmuls and dispatch. 73.7k input tokens/s per prefill "
         "node counts the 56.3% of prompt tokens found in the on-disk KV cache. Prompt length derived: an average KV "
         "length of 4,989 during decode with 168B output per 608B input tokens gives ~4,400-token prompts; short answers "
         "keep the prefill pool the bottleneck."),
    dict(id="deepseek_day6_h800_decode", source=DEEPSEEK_DAY6, fit=False, acc="H800", cluster=node(304),
         model="deepseek_v3_671b", precision="fp8",
         pools=[dict(role="prefill", instances=5, tp=1, dp_attention=32, ep=32, redundant_experts=32,
                     max_num_tokens=32 * 16384, two_batch_overlap=True),
                dict(role="decode", instances=1, tp=1, dp_attention=144, ep=144, redundant_experts=32,
                     max_batch=144 * 100, max_num_tokens=144 * 256, two_batch_overlap=True)],
         traffic=dict(arrival="closed", concurrency=144 * 100 // 5 + 1024, input_tokens=4400, output_tokens=1200,
                      prefix_cache_hit_rate=0.563),
         engine=dict(draft_tokens=1, mean_accepted_tokens=1.85), window=(200, 200),
         expected=[("decode_output_tokens_per_s_per_node", 14800, 10)],
         notes="As deepseek_day6_h800_prefill with ~1,200-token answers and five prefill units feeding one decode unit, so that the decode pool runs full at ~100 sequences per GPU "
         "(1,850 tokens/s per GPU at 20-22 tokens/s per user, research notes section 4), one MTP draft token accepted "
         "at 85-90% (1.85 tokens per step, DeepSeek-V3 report 5.4.3)."),
    dict(id="mlperf51_b200_llama2_70b_offline_power", source=MLPERF51 + ", Lenovo ThinkSystem SR680a V3 (8 x B200)",
         fit=False, acc="B200", cluster=node(8), model="llama3_70b", model_overrides={"vocab": 32000},
         precision="fp4",
         pools=[dict(role="mixed", instances=8, tp=1, max_batch=2048, max_num_tokens=3584)],
         traffic=dict(arrival="closed", concurrency=2048, input_tokens=300, output_tokens=300,
                      length_distribution="lognormal", length_spread=0.8),
         window=(100, 100), pue=1.0, expected=[("node_power_w", 10401, 10)],
         notes="System wall power of 8 B200 running Llama-2-70B (llama3_70b shapes with Llama 2's 32,000-token "
         "vocabulary) FP4 Offline as 8 TP1 instances (NVIDIA's v5.1 config: batch 2,048, 3,584 tokens per iteration). "
         "Prompt and answer lengths of OpenOrca are not published as statistics; ~300 / 300 is assumed (the answer "
         "mean is ~290 from tokens/s over samples/s). PUE 1: MLPerf measures the system, not the facility."),
]


def dense_case(cid, acc, model, precision, tp, isl, osl, value, source=TRTLLM_OLD, note=""):
    """A TensorRT-LLM maximum-load case of one dense model on one 8-GPU node (instances of tp GPUs fill it)."""
    return dict(id=cid, source=source, fit=False, acc=acc, cluster=node(8), model=model, precision=precision,
                pools=[dict(role="mixed", instances=8 // tp, tp=tp, max_batch=2048, max_num_tokens=8192)],
                traffic=dict(arrival="closed", concurrency=4096, input_tokens=isl, output_tokens=osl),
                window=(max(200, osl * 0.2), max(200, osl * 0.2)), expected=[("output_tokens_per_s_per_gpu", value, 10)],
                notes="%s %s on %s, TP%d, ISL/OSL %d/%d. %s%s" % (model, precision.upper(), acc, tp, isl, osl, MAX_LOAD,
                                                                  note))


CASES += [
    dense_case("trtllm_llama31_8b_h100_fp8_tp1_1k1k", "H100-SXM", "llama3_8b", "fp8", 1, 1000, 1000, 15220),
    dense_case("trtllm_llama31_8b_h100_fp8_tp1_2k2k", "H100-SXM", "llama3_8b", "fp8", 1, 2048, 2048, 9305),
    dense_case("trtllm_llama31_8b_h200_fp8_tp1_1k1k", "H200", "llama3_8b", "fp8", 1, 1000, 1000, 17744),
    dense_case("trtllm_llama33_70b_h100_tp2_5k500", "H100-SXM", "llama3_70b", "fp8", 2, 5000, 500, 449,
               note=" 898 tok/s for the TP2 group."),
    dense_case("trtllm_llama33_70b_h100_tp2_20k2k", "H100-SXM", "llama3_70b", "fp8", 2, 20000, 2000, 218.5,
               note=" 437 tok/s for the TP2 group."),
    dense_case("trtllm_llama33_70b_b200_fp4_tp1_5k500", "B200", "llama3_70b", "fp4", 1, 5000, 500, 1459),
    dense_case("trtllm_llama33_70b_b200_fp4_tp1_20k2k", "B200", "llama3_70b", "fp4", 1, 20000, 2000, 665),
    dense_case("trtllm_llama31_405b_h100_tp8_2k2k", "H100-SXM", "llama3_405b", "fp8", 8, 2048, 2048, 287,
               note=" 2,296 tok/s for the TP8 group."),
]


def fmt_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"%s"' % v
    return repr(v)


def block(name, fields, indent):
    pad = "  " * indent
    out = pad + name + " {\n"
    for k, v in fields.items():
        out += pad + "  %s: %s\n" % (k, fmt_value(v))
    return out + pad + "}\n"


def render(c):
    cl = c["cluster"]
    o = "# %s: generated by tests/validation/serving/make_serving_cases.py; edit the script, not this file.\n" % c["id"]
    o += "# Format: clustersim.v1.ValidationCase (proto/validation.proto).\n"
    o += 'id: "%s"\ncategory: "serving"\nsource: "%s"\ncalibration: %s\nnotes: "%s"\n' % (
        c["id"], c["source"], fmt_value(c["fit"]), c["notes"])
    o += "scenario {\n"
    o += '  name: "%s"\n  seed: 1\n  accelerator { name: "%s" }\n' % (c["id"], c["acc"])
    o += "  cluster {\n    num_gpus: %d\n    scale_up { gpus_per_node: %d }\n" % (cl["num_gpus"], cl["gpn"])
    o += '    scale_out { topology: "%s" nic_bandwidth_gbps: %d }\n  }\n' % (cl["topology"], cl["nic"])
    model = {"preset": c["model"]}
    model.update(c.get("model_overrides", {}))
    o += "  workload {\n" + block("model", model, 2) + '    precision: "%s"\n  }\n' % c["precision"]
    o += "  serving {\n"
    for p in c["pools"]:
        o += block("pools", p, 2)
    o += block("traffic", c["traffic"], 2)
    engine = dict(c.get("engine", {}))
    if "kv" in c:
        engine["kv_cache_precision"] = c["kv"]
    if engine:
        o += block("engine", engine, 2)
    o += "    warmup_s: %g\n    duration_s: %g\n  }\n" % c["window"]
    if "pue" in c:
        o += "  facility { pue: %g }\n" % c["pue"]
    o += "}\n"
    for q, v, tol in c["expected"]:
        o += 'expected { quantity: "%s" value: %g tolerance_pct: %g }\n' % (q, v, tol)
    return o


def main():
    check = "--check" in sys.argv[1:]
    differ = 0
    for c in CASES:
        path = os.path.join(HERE, c["id"] + ".textproto")
        text = render(c)
        old = open(path).read() if os.path.exists(path) else None
        if old == text:
            continue
        differ += 1
        if check:
            print("differs: " + path)
        else:
            with open(path, "w") as f:
                f.write(text)
    sys.exit(1 if check and differ else 0)


if __name__ == "__main__":
    main()
