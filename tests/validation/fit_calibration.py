#!/usr/bin/env python3
"""Grid search of one accelerator family's compute factors against the validation cases (docs/validation-notes.md,
"Calibration"). The record of how the catalog's fitted values were chosen; it changes no file of the repository.

For every grid point the script copies the family's cases into a temporary directory with the factors written into
the scenario's `accelerator` block (every non-zero field there overrides the catalog), runs
`clustersim validate <file> --report-only` on each, and reads the table it prints. The error of a case is the error
of its first expected quantity (the primary one: hardware TFLOP/s for SC21 Table 1, step time for Korthikanti,
tokens/s for the NVIDIA recipes); cases with `calibration: true` form the fit set, the rest of the family's
training_dense cases the held-out set. The objective is taken over the fit set only:
  minimax  the largest |error|;   median  the median |error| (ties broken by the largest).
Held-out errors are printed beside it for information and play no part in the choice.

Usage: python3 tests/validation/fit_calibration.py --clustersim build/clustersim --family a100 \
           --grid gemm_efficiency=0.66,0.70,0.74 --grid gemm_half_efficiency_gflop=2,20 [--objective minimax]
           [--jobs 2] [--held-out] [--exclude SUBSTRING]
Each --grid names a clustersim.v1.Accelerator field and its values; the grid is their product.
"""
import argparse
import concurrent.futures
import itertools
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAMILIES = {"a100": ("A100-80GB",), "hopper": ("H100-SXM", "H200", "H800"), "blackwell": ("B200", "GB200")}
# Case folders searched: the shared cases and the scale series (tests/validation/scale, whose fit rows calibrate the
# families at scale; docs/validation-notes.md, "Scale series").
FOLDERS = (HERE, HERE / "scale")
ROW = re.compile(r"^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(pass|MISS)( \(fit\))?\s*$")


def family_cases(family, exclude):
    """(path, text, is_fit) of the family's training_dense cases."""
    out = []
    for p in sorted(q for folder in FOLDERS for q in folder.glob("*.textproto")):
        t = p.read_text()
        if 'category: "training_dense"' not in t or any(e in p.name for e in exclude):
            continue
        # Rows run on a software profile (zero3_implementation) carry that profile's own fitted factors, which
        # were fitted on top of the family's: they are neither fit nor held-out rows of the family.
        if "zero3_implementation:" in t:
            continue
        if not any(f'accelerator {{\n    name: "{n}"' in t for n in FAMILIES[family]):
            continue
        out.append((p, t, "\ncalibration: true\n" in t))
    return out


def with_factors(text, factors):
    fields = "".join(f"\n    {k}: {v}" for k, v in factors.items())
    new, n = re.subn(r'(accelerator \{\n    name: "[^"]+")', lambda m: m.group(1) + fields, text, count=1)
    if n != 1:
        raise ValueError("no accelerator block")
    return new


def run_case(clustersim, path):
    r = subprocess.run([clustersim, "validate", str(path), "--report-only"], capture_output=True, text=True,
                       check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{path.name}: exit {r.returncode}: {r.stderr.strip()[-400:]}")
    for line in r.stdout.splitlines():
        m = ROW.match(line)
        if m and m.group(1) != "case" and m.group(5) != "-":
            return m.group(1), m.group(2), float(m.group(5))
    raise RuntimeError(f"{path.name}: no result row in\n{r.stdout}")


def evaluate(args, cases, factors, pool):
    with tempfile.TemporaryDirectory(prefix="fitcal") as d:
        jobs = []
        for p, t, fit in cases:
            q = Path(d) / p.name
            q.write_text(with_factors(t, factors))
            jobs.append((fit, pool.submit(run_case, args.clustersim, q)))
        return [(fit,) + j.result() for fit, j in jobs]


def score(errs, objective):
    a = sorted(abs(e) for e in errs)
    if not a:
        return (0.0, 0.0)
    return (a[-1], statistics.median(a)) if objective == "minimax" else (statistics.median(a), a[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clustersim", required=True)
    ap.add_argument("--family", choices=sorted(FAMILIES), required=True)
    ap.add_argument("--grid", action="append", default=[], help="field=v1,v2,...")
    ap.add_argument("--objective", choices=("minimax", "median"), default="minimax")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--held-out", action="store_true", help="also run the held-out cases at every point")
    ap.add_argument("--exclude", action="append", default=[], help="skip case files whose name contains this")
    args = ap.parse_args()
    axes = []
    for g in args.grid:
        k, _, vals = g.partition("=")
        axes.append([(k, v) for v in vals.split(",")])
    cases = family_cases(args.family, args.exclude)
    if not args.held_out:
        cases = [c for c in cases if c[2]]
    if not cases:
        sys.exit("no cases")
    print(f"{len(cases)} cases ({sum(c[2] for c in cases)} fit); objective {args.objective} over the fit set")
    best = None
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for point in itertools.product(*axes) if axes else [()]:
            factors = dict(point)
            res = evaluate(args, cases, factors, pool)
            fit = [e for f, _, _, e in res if f]
            held = [e for f, _, _, e in res if not f]
            s = score(fit, args.objective)
            hs = score(held, "minimax")
            detail = " ".join(f"{c.split('_', 2)[-1] if len(c) > 24 else c}{'*' if f else ''}={e:+.1f}"
                              for f, c, _, e in res)
            print(f"{factors}: fit max {max(map(abs, fit)):.1f} median {statistics.median(map(abs, fit)):.1f}"
                  + (f" | held-out max {hs[0]:.1f} median {hs[1]:.1f}" if held else "") + f"\n    {detail}",
                  flush=True)
            if best is None or s < best[0]:
                best = (s, factors)
    print(f"best ({args.objective}): {best[1]} -> {best[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
