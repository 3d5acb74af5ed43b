#!/usr/bin/env python3
"""The seed question of docs/python.md: for a 1e26-FLOP training run on about 100,000 accelerators, how do H800,
Ascend 910C and B200 compare, for a dense model and for a mixture of experts?

    PYTHONPATH=build/python python3 docs/examples/python/seed_question.py --out seed

Six simulations (two models x three chips) of 98,304 accelerators (256 CloudMatrix384 domains, 12,288 eight-GPU
servers); each takes seconds to minutes on one core, with a progress line on a terminal. CLUSTERSIM_GPUS sets another
size that is a multiple of 1,536 (the test suite runs it with 1,536 to check the script).
"""
import argparse
import os
import sys

import clustersim as cs

GPUS = int(os.environ.get("CLUSTERSIM_GPUS", "98304"))
CHIPS = ["H800", "Ascend-910C", "B200"]


def scenario(chip, model):
    """A scenario as a dict (the JSON mapping of proto/scenario.proto): the 1e26 worked example's two models."""
    if model == "dense":  # Llama-3-405B class: TP8 x CP2 x PP16 (interleaved), 16 micro-batches per pipeline
        mp, seq = 8 * 2 * 16, 8192
        parallelism = {"tp": 8, "cp": 2, "pp": 16, "vpp": 4, "schedule": "interleaved", "sequence_parallel": True,
                       "zero_stage": 1, "recompute": "selective", "overlap_grad_reduce": True,
                       "overlap_param_gather": True}
        preset = "llama3_405b"
    else:  # DeepSeek-V3 architecture (671B total, 37B active): TP8 x PP8 (interleaved) with EP64
        mp, seq = 8 * 8, 4096
        parallelism = {"tp": 8, "pp": 8, "vpp": 4, "ep": 64, "schedule": "interleaved", "sequence_parallel": True,
                       "zero_stage": 1, "overlap_grad_reduce": True, "overlap_param_gather": True}
        preset = "deepseek_v3_671b"
    parallelism["global_batch_size"] = GPUS // mp * 16
    return {
        "name": "%s %s" % (model, chip),
        "accelerator": {"name": chip},
        "cluster": {"num_gpus": GPUS, "scale_up": {"gpus_per_node": 8},
                    "scale_out": {"topology": "fat_tree", "nic_bandwidth_gbps": 400, "switch_radix": 128}},
        "workload": {"model": {"preset": preset, "seq_len": seq}, "parallelism": parallelism, "precision": "bf16"},
        # The budget in model FLOPs (6 x active parameters x tokens): clustersim derives the tokens.
        "facility": {"training_flops": 1e26, "pue": 1.2, "grid_region": "world", "capex_usd_per_mw": 10e6,
                     "maintenance_fraction_per_year": 0.03},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="directory for seed.html and seed.csv")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    show = sys.stderr.isatty()  # a progress line on a terminal, nothing in a log

    results, labels = [], []
    for model in ("dense", "moe"):
        for chip in CHIPS:
            r = cs.run(scenario(chip, model), progress=show)
            results.append(r)
            labels.append("%s %s" % (model, chip))
            p = r["projection"]
            print("%-17s %6.3f s/step  MFU %4.1f%%  %5.1f days with failures  %.3g T tokens" % (
                labels[-1], r["step_time_s"], 100 * r["mfu"], p["goodput"]["wall_clock_days"],
                p["training_tokens"] / 1e12))

    table = cs.compare(results, labels=labels, html=os.path.join(args.out, "seed.html"),
                       csv=os.path.join(args.out, "seed.csv"))
    print(table)
    df = table.to_dataframe()  # one row per result, the columns of the CLI's CSV
    columns = ["label", "step_time_s", "mfu", "wall_clock_days_with_failures", "energy_mwh", "cost_usd_with_failures",
               "capex_usd", "tco_usd", "step_power_swing_w"]
    print(df[columns].to_string(index=False))
    cheapest = df.loc[df["cost_usd_with_failures"].idxmin()]
    fastest = df.loc[df["wall_clock_days_with_failures"].idxmin()]
    print("cheapest run: %s ($%.3gM with failures); fastest: %s (%.1f days)" % (
        cheapest["label"], cheapest["cost_usd_with_failures"] / 1e6, fastest["label"],
        fastest["wall_clock_days_with_failures"]))


if __name__ == "__main__":
    main()
