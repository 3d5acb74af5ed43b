#!/usr/bin/env python3
"""The worked example of docs/serving.md: a 100k-GPU fleet serving a dense 405B model or DeepSeek-V3 on H800, B200
and Ascend 910C, each at its SLO capacity, with cost, energy and carbon per million tokens.

For each (model, accelerator) the offered rate is searched on one cell of the fleet (the instances the 100k run
simulates together, docs/serving.md "Scale"): doubled from a start until the SLO (99% of requests within TTFT and
TPOT, none unfinished) fails, then bisected; the 100k fleet then runs at that rate per GPU. Prints the Markdown table
of docs/serving.md. Usage: worked_example.py [--clustersim build/cli/clustersim] [--out DIR]
"""
import argparse
import json
import os
import subprocess
import sys

TRAFFIC = ('traffic { rate_per_s: %g input_tokens: 2000 output_tokens: 500 length_distribution: "lognormal" '
           'length_spread: 0.5 }')
SLO = 'slo { ttft_ms: 3000 tpot_ms: 50 }'
# Dense: TP8 instances (12,500 at 100k). MoE: DeepSeek's prefill/decode units (EP32 prefill with two-batch overlap,
# EP144 decode with MTP), two prefill units per decode unit (480 of 208 GPUs at 100k = 99,840 GPUs).
# Dense: TP8 instances (TP16 for BF16 weights: 101 GB per GPU at TP8 take longer than the TPOT bound to read), 16
# in a cell; prompts are chunked 512 tokens per iteration (8,192 prompt tokens of 405B alone would take longer than
# the TPOT bound).
DENSE = {"model": "llama3_405b", "pools": "pools {{ instances: {0} tp: {1} max_batch: 256 max_num_tokens: 512 }}",
         "engine": "", "cell": (16,), "fleet": (100000,)}
MOE = {"model": "deepseek_v3_671b",
       "pools": ('pools {{ role: "prefill" instances: {0} dp_attention: 32 ep: 32 redundant_experts: 32 '
                 'max_num_tokens: 65536 two_batch_overlap: true }} '
                 'pools {{ role: "decode" instances: {1} dp_attention: 144 ep: 144 redundant_experts: 32 '
                 'max_batch: 14400 max_num_tokens: 36864 two_batch_overlap: true }}'),
       "engine": "engine { draft_tokens: 1 mean_accepted_tokens: 1.85 }",
       "cell": (10, 5), "fleet": (960, 480)}
# Ascend 910C has no FP8 (catalog): its weights and KV cache are BF16.
ACCELERATORS = [("H800", "fp8"), ("B200", "fp8"), ("Ascend-910C", "bf16")]


def tp_of(precision):
    return 16 if precision == "bf16" else 8


def gpus_of(kind, precision, counts):
    """GPUs of `counts` instances (MoE: prefill, decode units); a dense fleet's count is its GPUs."""
    if kind is MOE:
        return counts[0] * 32 + counts[1] * 144
    return counts[0] if counts == kind["fleet"] else counts[0] * tp_of(precision)


def scenario(kind, acc, precision, counts, rate):
    gpus = gpus_of(kind, precision, counts)
    pools = (kind["pools"].format(*counts) if kind is MOE
             else kind["pools"].format(gpus // tp_of(precision), tp_of(precision)))
    gpus = (gpus + 7) // 8 * 8
    return "\n".join([
        'name: "%s on %d %s"' % (kind["model"], gpus, acc), "seed: 1", 'accelerator { name: "%s" }' % acc,
        'cluster { num_gpus: %d scale_out { topology: "fat_tree" switch_radix: 128 } }' % gpus,
        'workload { model { preset: "%s" } precision: "%s" }' % (kind["model"], precision),
        "serving { %s %s %s %s warmup_s: 30 duration_s: 60 }" % (pools, TRAFFIC % rate, kind["engine"], SLO),
        'facility { pue: 1.2 grid_region: "united_states" }', ""])


def serve(cs, text, path):
    with open(path, "w") as f:
        f.write(text)
    out = subprocess.run([cs, "serve", path, "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def meets(r):
    s = r["serving"]
    return s.get("slo_attainment", 0) >= 0.99 and int(s.get("requests_unfinished", 0)) == 0


def capacity(cs, kind, acc, precision, out_dir):
    """Highest cell rate meeting the SLO: from 1 request/s per 8 GPUs, doubled while it meets the SLO or halved
    until it does, then 5 bisections."""
    path = os.path.join(out_dir, "cell.textproto")
    gpus = gpus_of(kind, precision, kind["cell"])
    ok = lambda rate: meets(serve(cs, scenario(kind, acc, precision, kind["cell"], rate), path))
    lo, hi = 0.0, gpus / 8.0
    if ok(hi):
        lo, hi = hi, 2 * hi
        while ok(hi):
            lo, hi = hi, 2 * hi
    else:
        for _ in range(10):
            if ok(hi / 2):
                lo = hi / 2
                break
            hi /= 2
    for _ in range(5):
        mid = (lo + hi) / 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo / gpus


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clustersim", default="build/cli/clustersim")
    ap.add_argument("--out", default="serving-100k")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for kind in (DENSE, MOE):
        for acc, precision in ACCELERATORS:
            per_gpu = capacity(a.clustersim, kind, acc, precision, a.out)
            if per_gpu == 0:
                r = serve(a.clustersim, scenario(kind, acc, precision, kind["cell"], 0.01),
                          os.path.join(a.out, "cell.textproto"))
                rows.append("| %s | %s %s | SLO not reachable: TPOT p99 %.0f ms at %.3g requests/s per instance |%s" % (
                    kind["model"], acc, precision, 1e3 * r["serving"]["tpot"]["p99_s"], 0.01 / kind["cell"][0],
                    " |" * 9))
                print(rows[-1], file=sys.stderr, flush=True)
                continue
            gpus = gpus_of(kind, precision, kind["fleet"])
            name = "%s_%s" % (kind["model"], acc.lower().replace("-", ""))
            r = serve(a.clustersim, scenario(kind, acc, precision, kind["fleet"], per_gpu * gpus),
                      os.path.join(a.out, name + ".textproto"))
            s = r["serving"]
            rows.append("| %s | %s %s | %.0f | %.0f / %.0f | %.2f / %.1f | %.1f%% | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f |" % (
                kind["model"], acc, precision, s["offered_rate_per_s"], s["input_tokens_per_s_per_gpu"],
                s["output_tokens_per_s_per_gpu"], s["ttft"]["p99_s"], 1e3 * s["tpot"]["p99_s"],
                100 * s.get("slo_attainment", 0),
                s["cost_usd_per_m_input_tokens"], s["cost_usd_per_m_output_tokens"],
                s["energy_kwh_per_m_output_tokens"], s["carbon_kg_per_m_output_tokens"],
                s["cost_usd_per_m_tokens_blended"], s["joules_per_output_token"]))
            print(rows[-1], file=sys.stderr, flush=True)
    print("| model | accelerator | req/s (fleet) | in / out tok/s per GPU | TTFT p99 s / TPOT p99 ms | SLO met | "
          "$/M in | $/M out | kWh/M out | kgCO2e/M out | $/M blended | J/out tok |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
