#!/usr/bin/env python3
"""Writes tests/validation/topology_effects/<case id>.textproto: published differences between fabrics or routing
schemes (category "topology_effect"). Each case runs the same workload or collective on a variant `scenario` and a
`reference_scenario` and compares the ratio variant / reference ("ratio_<quantity>") with the published one. Nothing
is fitted on them (`calibration: false`); misses are listed in known_misses.txt and discussed in
docs/validation-notes.md ("Topology effects"). The sources, setups and the effects not expressible yet are in
docs/validation-notes.md too.

Usage: python3 tests/validation/topology_effects/make_effects.py [--check]
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import make_cases as mc  # noqa: E402  (emit: text-format writer)

SCRIPT = "tests/validation/topology_effects/make_effects.py"

DEEPSEEK_ISCA = ("Zhao et al., 'Insights into DeepSeek-V3: Scaling Challenges and Reflections on Hardware for AI "
                 "Architectures', ISCA 2025 (arXiv 2505.09343), Section 5.1")
RAIL_ONLY = ("Wang, Ghobadi, Shakeri, Zhang, Hasani, 'Rail-only: A Low-Cost High-Performance Network for Training "
             "LLMs with Trillion Parameters', HOTI 2024 (arXiv 2307.12169v5), abstract and Section on MoE forwarding")
META_ROCE = ("Gangidi et al., 'RDMA over Ethernet for Distributed AI Training at Meta Scale', SIGCOMM 2024, routing "
             "section (E-ECMP with QP scaling); Meta Engineering blog 2024-08-05 'A RoCE network for distributed AI "
             "training at scale'")
KIM_DRAGONFLY = ("Kim, Dally, Scott, Abts, 'Technology-Driven, Highly-Scalable Dragonfly Topology', ISCA 2008, "
                 "Section 4 (routing on the dragonfly; worst-case traffic); cycle-accurate simulation and its analysis")
SPECTRUM_X = ("NVIDIA press release 2024-10-28 'NVIDIA Ethernet Networking Accelerates World's Largest AI "
              "Supercomputer, Built by xAI' (Colossus, 100,000 H100, Spectrum-X, three fabric tiers); vendor claim")


def cluster(gpus, scale_out):
    return {"num_gpus": gpus, "scale_up": {"kind": "nvswitch", "domain_size": 8, "gpus_per_node": 8},
            "scale_out": dict(scale_out, nic_bandwidth_gbps=400, nics_per_gpu=1)}


def placeholder_workload(gpus):
    """The loader validates a workload even for collectives, which ignore it."""
    return {"model": {"preset": "llama3_8b"}, "parallelism": {"micro_batch_size": 1, "global_batch_size": gpus}}


def scenario(name, accelerator, gpus, scale_out, workload, collectives=None):
    return {"name": name, "seed": 1, "accelerator": {"name": accelerator}, "cluster": cluster(gpus, scale_out),
            "workload": workload, "collectives": collectives}


def fabric(topology, **fields):
    return dict({"topology": topology}, **fields)


# DeepSeek-V3 pre-training as run on 2,048 H800 (ISCA paper Section 5.1 and the V3 technical report): PP 16
# (DualPipe), EP 64 over 8 nodes, ZeRO-1 data parallelism (dp 128), no TP, FP8, sequence 4096,
# 15,360 sequences per step (272.80 B tokens/day at 19.926 s/step is 15,360 x 4,096 tokens per step).
DSV3_WORKLOAD = {
    "model": {"preset": "deepseek_v3_671b", "seq_len": 4096},
    "parallelism": {"tp": 1, "pp": 16, "dp": 128, "ep": 64, "expert_tp": 1, "micro_batch_size": 1,
                    "global_batch_size": 15360, "zero_stage": 1, "recompute": "selective", "schedule": "dualpipe",
                    "overlap_grad_reduce": True, "overlap_param_gather": True, "overlap_moe_a2a": True},
    "precision": "fp8",
    "fp8_recipe": "blockwise",  # the report's 1 x 128 activation and 128 x 128 weight tiles (section 3.3)
    "moe_routing": {"distribution": "balanced", "dispatcher": "flex", "max_nodes_per_token": 4},
}

# GPT-3 175B as NeMo 24.12 runs it on 512 H100 (tests/validation/nemo2412_gpt3_175b_512gpu_fp8): TP 4 in the node,
# PP 8 and DP 16 across nodes, i.e. only same-rail traffic leaves a node.
GPT3_WORKLOAD = {
    "model": {"preset": "gpt3_175b", "seq_len": 2048},
    "parallelism": {"tp": 4, "cp": 1, "pp": 8, "dp": 16, "vpp": 6, "sequence_parallel": True,
                    "micro_batch_size": 2, "global_batch_size": 2048, "zero_stage": 1, "recompute": "none",
                    "overlap_grad_reduce": True, "overlap_param_gather": True, "tp_comm_overlap": True},
    "precision": "fp8",
}

MPFT = fabric("multi_plane", planes=8, switch_radix=64, tiers=2)
MRFT = fabric("rail_optimized", switch_radix=64, tiers=2)


def effect(cid, source, notes, variant, reference, expected, collective=None):
    return {"id": cid, "category": "topology_effect", "source": source, "calibration": False, "notes": notes,
            "scenario": variant, "reference_scenario": reference, "collective": collective,
            "expected": expected}


def expect(quantity, value, note, pct=None, abs_=None):
    return {"quantity": quantity, "value": value, "tolerance_pct": pct, "tolerance_abs": abs_, "note": note}


def deepseek_training():
    gpus = 2048
    return effect(
        "deepseek_isca_mpft_vs_mrft_v3_training_2048gpu", DEEPSEEK_ISCA + ", Table 4 (MPFT vs MRFT training metrics)",
        "Production DeepSeek-V3 training on 2,048 H800 (8 per node, 8 x 400 Gb/s IB NICs per node, one per GPU), "
        "measured on the multi-plane two-layer fat-tree (MPFT: 8 planes, NIC port of GPU i on plane i) and on the "
        "multi-rail fat-tree (MRFT: rail-optimized two-layer fat-tree). Time per step 19.926 s (MPFT) vs 19.946 s "
        "(MRFT); tokens/day 272.80 B vs 272.52 B; causal MFU 38.94% vs 38.90%. Compared: step time MPFT / MRFT = "
        "0.9990, band 2% (the two runs differ by 0.1%). 64-port switches, 2 tiers forced (as the paper's FT2 planes). "
        "DualPipe with overlapped MoE all-to-all; balanced routing, at most 4 nodes per token.",
        scenario("dsv3_mpft_2048", "H800", gpus, MPFT, DSV3_WORKLOAD, {"all_to_all": "pxn"}),
        scenario("dsv3_mrft_2048", "H800", gpus, MRFT, DSV3_WORKLOAD, {"all_to_all": "pxn"}),
        [expect("ratio_step_time_s", round(19.926 / 19.946, 4), "19.926 s / 19.946 s (Table 4)", pct=2)])


def deepseek_all_to_all(gpus):
    return effect(
        f"deepseek_isca_mpft_vs_mrft_alltoall_{gpus}gpu", DEEPSEEK_ISCA + ", Figure 5 (all-to-all, MPFT vs MRFT)",
        f"NCCL all-to-all on {gpus} H800 (8 per node, 8 x 400 Gb/s NICs), MPFT (8 planes) against MRFT; the paper "
        "plots 32 to 128 GPUs over message sizes and states the two are nearly identical (no table: read as a "
        "ratio of 1.0, band 5%). 128 MiB per rank.",
        scenario(f"a2a_mpft_{gpus}", "H800", gpus, MPFT, placeholder_workload(gpus)),
        scenario(f"a2a_mrft_{gpus}", "H800", gpus, MRFT, placeholder_workload(gpus)),
        [expect("ratio_busbw_gbyte_per_s", 1.0, "'nearly identical' (Figure 5)", pct=5)],
        {"collective": "all_to_all", "size_bytes": 128 << 20, "group_size": gpus})


def rail_only_all_to_all():
    gpus = 128
    return effect(
        "railonly_hoti24_alltoall_forwarding_128gpu", RAIL_ONLY,
        "All-to-all on a rail-only network (no spine: cross-rail traffic is forwarded over NVLink to the GPU on the "
        "destination's rail) against a rail-optimized Clos. Published: 8.2% to 11.2% longer completion time for "
        "all-to-all traffic, from the paper's analytical model (not a measurement); compared as the middle, ratio "
        "1.097, band +-0.03 (covers the published range). Setup chosen: 128 H100 (16 DGX nodes, 8 x 400 Gb/s NICs, "
        "NVLink 450 GB/s per direction), 256 MiB per rank, NCCL's PXN-style all-to-all on both.",
        scenario("a2a_rail_only", "H100-SXM", gpus, fabric("rail_only", switch_radix=64), placeholder_workload(gpus)),
        scenario("a2a_rail_opt", "H100-SXM", gpus, fabric("rail_optimized", switch_radix=64),
                 placeholder_workload(gpus)),
        [expect("ratio_time_us", 1.097, "8.2%-11.2% overhead (abstract)", abs_=0.03)],
        {"collective": "all_to_all", "size_bytes": 256 << 20, "group_size": gpus})


def rail_only_dense():
    gpus = 512
    return effect(
        "railonly_hoti24_dense_training_512gpu", RAIL_ONLY,
        "Dense LLM training on a rail-only network against a rail-optimized Clos: 'achieves the same training "
        "performance' (the paper's analytical iteration-time model at up to tens of thousands of GPUs; not a "
        "measurement). Compared: step time ratio 1.0, band 2%. Setup chosen: GPT-3 175B as NeMo 24.12 runs it on "
        "512 H100 (TP 4 in the node, PP 8, DP 16), 64-port switches.",
        scenario("gpt3_rail_only", "H100-SXM", gpus, fabric("rail_only", switch_radix=64), GPT3_WORKLOAD),
        scenario("gpt3_rail_opt", "H100-SXM", gpus, fabric("rail_optimized", switch_radix=64), GPT3_WORKLOAD),
        [expect("ratio_step_time_s", 1.0, "'same training performance' (abstract)", pct=2)])


def ecmp_vs_spray(cid, source, notes, gpus, tree, published, note):
    """Ring all-reduce of 1 GiB per rank on a fat-tree `tree`, per-flow ECMP (variant) against spraying."""
    return effect(
        cid, source, notes,
        scenario("allreduce_ecmp", "H100-SXM", gpus, fabric("fat_tree", routing="ecmp", **tree),
                 placeholder_workload(gpus)),
        scenario("allreduce_spray", "H100-SXM", gpus, fabric("fat_tree", routing="spray", **tree),
                 placeholder_workload(gpus)),
        [expect("ratio_busbw_gbyte_per_s", round(published, 4), note, pct=15)],
        {"collective": "all_reduce", "algorithm": "ring", "size_bytes": 1 << 30, "group_size": gpus})


def meta_ecmp():
    return ecmp_vs_spray(
        "meta_sigcomm24_ecmp_vs_eecmp_allreduce_128gpu", META_ROCE,
        "Meta's RoCE AI Zone (two-stage Clos, RTSW leaf / CTSW spine, 400 Gb/s, non-blocking): 'compared to baseline "
        "ECMP without QP scaling, E-ECMP along with QP scaling showed performance improvement of up to 40% for the "
        "AllReduce collective'. Compared: AllReduce busbw with per-flow ECMP / with ideal spreading = 1 / 1.40 = "
        "0.714, band 15%. 'Up to' is the largest gain over the message sizes measured, and E-ECMP with QP scaling "
        "spreads flows less evenly than clustersim's 'spray' (up-links bundled, perfect sharing): a point comparison "
        "of a loosely defined figure. Setup chosen (the figure's GPU count is not in the text): 128 H100 = 16 hosts, "
        "2 hosts (16 NICs) per RTSW with 16 uplinks (radix 32), ring all-reduce of 1 GiB per rank.",
        128, dict(switch_radix=32, tiers=2), 1 / 1.40, "1 / (1 + 40%)")


def spectrum_x():
    return ecmp_vs_spray(
        "nvidia_spectrumx_colossus_ecmp_vs_adaptive_1024gpu", SPECTRUM_X,
        "Vendor claim for xAI Colossus (100,000 H100, three tiers of Spectrum-X Ethernet): Spectrum-X adaptive "
        "routing and congestion control keep 95% data throughput, where 'standard Ethernet ... creates thousands of "
        "flow collisions while delivering just 60% data throughput'. Compared: busbw with per-flow ECMP / with "
        "spraying = 0.60 / 0.95 = 0.632, band 15% (a vendor figure without a stated workload). Setup chosen: a "
        "three-tier fat-tree at a size a test can run (1,024 H100, 16-port switches), ring all-reduce of 1 GiB per "
        "rank (data-parallel traffic).",
        1024, dict(switch_radix=16, tiers=3), 0.60 / 0.95, "60% / 95%")


def kim_dragonfly(name, routing):
    """Kim's 1K-node dragonfly: a = 8 routers per group, p = 4 terminals and h = 4 global channels per router
    (radix 16), 33 groups of 32 single-GPU nodes."""
    so = {"topology": "dragonfly", "switch_radix": 16, "routing": routing, "nic_bandwidth_gbps": 400,
          "nics_per_gpu": 1}
    return {"name": name, "seed": 1, "accelerator": {"name": "H100-SXM"},
            "cluster": {"num_gpus": 1056, "scale_up": {"domain_size": 1, "gpus_per_node": 1}, "scale_out": so},
            "workload": placeholder_workload(1056), "collectives": None}


def dragonfly_adversarial(routing, label, band):
    return effect(
        f"kim_isca08_dragonfly_{routing}_vs_minimal_adversarial_1056gpu", KIM_DRAGONFLY,
        "Worst-case traffic on a dragonfly: every terminal of group i sends to a terminal of group i + 1. Minimal "
        "routing funnels a group's a p = 32 terminals into the one global channel to that group, so each gets 1/32 of "
        "its injection bandwidth; " + label + " sends each packet through an intermediate group, over two global "
        "channels, and a group has one global channel per terminal (p = h), so throughput approaches half the "
        "injection. Published (analysis confirmed by the paper's simulation of this 1K-node network): 1/32 for "
        "minimal, ~50% for Valiant and for global adaptive routing. Compared: busbw " + routing + " / minimal = "
        "0.5 / (1/32) = 16, band " + str(band) + "% (a simulation figure, read as its analytical limit). Setup "
        "chosen: 1,056 single-GPU nodes (a = 8, p = h = 4, 33 groups), 400 Gb/s NICs, a ring all-gather of 64 MiB "
        "over the 33 GPUs at the same position of every group (groups of 33 with stride 32): each step, every GPU "
        "of group i sends to its counterpart in group i + 1 (mod 33), Kim's pattern; clustersim spreads "
        "each non-minimal flow over dragonfly_spray_paths = 4 intermediate groups (per-packet routing) and its UGAL "
        "sees the load of the first global link only (UGAL-L): the paper's abstract says such indirect local decisions "
        "degrade adaptive routing on the dragonfly, which is what its VC-discrimination and credit-latency variants "
        "fix; their figure is compared.",
        kim_dragonfly(f"df_{routing}", routing), kim_dragonfly("df_minimal", "minimal"),
        [expect("ratio_busbw_gbyte_per_s", 16.0, "0.5 / (1/32) (Section 4)", pct=band)],
        {"collective": "all_gather", "algorithm": "ring", "size_bytes": 64 << 20, "group_size": 33,
         "group_stride": 32, "all_groups": True})


def cases():
    return [deepseek_training(), deepseek_all_to_all(32), deepseek_all_to_all(128), rail_only_all_to_all(),
            rail_only_dense(), meta_ecmp(), spectrum_x(), dragonfly_adversarial("valiant", "Valiant routing", 25),
            dragonfly_adversarial("ugal", "UGAL", 25)]


def render(case):
    head = [f"# {case['id']}: generated by {SCRIPT}; edit the script, not this file.",
            "# Format: clustersim.v1.ValidationCase (proto/validation.proto), category topology_effect."]
    return "\n".join(head + mc.emit(case)) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for case in cases():
        path = HERE / f"{case['id']}.textproto"
        text = render(case)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print("out of date (run make_effects.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
