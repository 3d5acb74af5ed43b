#!/usr/bin/env python3
"""Hostile-input test (issue #23, docs/input-limits.md): generates its own bad variants of every field of the scenario
schema (as `clustersim list --fields` prints it, so a field added later is covered without editing this file), of the
command-line options and of the input files, runs clustersim on each and asserts the class of every outcome.

Classes: "ok" (exit 0, and every reported number finite, MFU/HFU/utilisation at most 100%, step and run lengths
plausible), "bad input" (exit 2, exactly one line on stderr, naming the varied field where the variant names one).
Anything else fails the test: a crash (a signal, exit 1 or another status), a hang (no answer within the time
limit), a non-finite or impossible number, more than one line of error, a message that does not name the field,
or a file written outside the output directory (links planted there are checked after every command that writes).

Usage: hostile_inputs.py CLUSTERSIM SOURCE_DIR WORK_DIR [--jobs N] [--quick]
"""
import argparse
import concurrent.futures
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

TIMEOUT_S = 60
NUMERIC = {"uint32", "uint64", "int32", "int64", "double", "float"}
MAX_STEP_S = 1e7
MAX_DAYS = 1e7


# --- the schema ----------------------------------------------------------------------------------------------------

def read_schema(cs):
    """message name -> [(label, type, name)], from `clustersim list --fields` (the binary's own descriptors, so a field
    added later is covered without editing this file). A message listed under several paths is read once."""
    out = subprocess.run([cs, "list", "--fields"], capture_output=True, text=True, timeout=TIMEOUT_S, check=True).stdout
    schema = {"Scenario": []}
    owner = {(): "Scenario"}  # the first path of each message type -> its type
    for line in out.splitlines():
        path, typ, label, _ = line.split("\t")
        path = tuple(path.split("."))
        msg = owner.get(path[:-1])
        if msg is None:
            continue  # under a later path of a message type already read
        schema[msg].append(("" if label == "-" else label, typ, path[-1]))
        if typ[:1].isupper() and typ not in schema:
            owner[path] = typ
            schema[typ] = []
    return schema


def field_paths(schema, msg, prefix=()):
    """Every field reachable from `msg`: (path tuple, type, label)."""
    for label, typ, name in schema[msg]:
        path = prefix + (name,)
        yield path, typ, label
        if typ in schema:
            yield from field_paths(schema, typ, path)


# --- scenarios as nested dicts, rendered to text format ---------------------------------------------------------------

def base_scenario():
    return {
        "name": '"hostile base"',
        "accelerator": {"name": '"H100-SXM"'},
        "cluster": {"num_gpus": "16"},
        "workload": {"model": {"preset": '"llama3_8b"', "layers": "4", "seq_len": "1024"},
                     "parallelism": {"tp": "8", "global_batch_size": "4"}},
        "facility": {"training_tokens": "1e9"},
    }


def serving_base_scenario():
    """The base for the fields of the serving block (a serving scenario has no workload.parallelism)."""
    return {
        "name": '"hostile serving base"',
        "accelerator": {"name": '"H100-SXM"'},
        "cluster": {"num_gpus": "16"},
        "workload": {"model": {"preset": '"llama3_8b"', "layers": "4"}},
        "serving": {"pools": {"tp": "8"},
                    "traffic": {"rate_per_s": "20", "input_tokens": "200", "output_tokens": "20"},
                    "warmup_s": "1", "duration_s": "2"},
    }


def with_value(base, path, value):
    scenario = json.loads(json.dumps(base))
    node = scenario
    for key in path[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):  # a field set to a scalar above: not reachable in this variant
            return None
    node[path[-1]] = value
    return scenario


def render(node, indent=""):
    out = []
    for key, value in node.items():
        if isinstance(value, dict):
            out.append(f"{indent}{key} {{\n{render(value, indent + '  ')}{indent}}}\n")
        else:
            out.append(f"{indent}{key}: {value}\n")
    return "".join(out)


# --- variants ------------------------------------------------------------------------------------------------------

def numeric_variants(typ, repeated):
    """(label, text-format value, expected class): "bad" must be refused naming the field, "any" may run."""
    if typ in ("double", "float"):
        values = [("nan", "nan", "bad"), ("infinity", "-inf", "bad"), ("negative", "-1", "bad"), ("zero", "0", "any"),
                  ("huge", "1e300", "bad"), ("overflow", "1e400", "bad"), ("wrong type", "{ }", "bad")]
    elif typ == "uint64":
        values = [("overflow", "18446744073709551616", "bad"), ("huge", "18446744073709551615", "any"),
                  ("negative", "-1", "bad"), ("zero", "0", "any"), ("nan", "nan", "bad"),
                  ("wrong type", '"abc"', "bad")]
    else:
        values = [("overflow", "4294967296", "bad"), ("huge", "4294967295", "bad"), ("negative", "-1", "bad"),
                  ("zero", "0", "any"), ("nan", "inf", "bad"), ("wrong type", '"abc"', "bad")]
    if repeated:
        values = [(label, f"[{v}]" if not v.startswith("{") else v, expect) for label, v, expect in values]
        values.append(("too many values", "[" + ", ".join(["2"] * 70000) + "]", "bad"))
    return values


def string_variants(repeated):
    values = [("huge", '"' + "x" * 5000 + '"', "bad"), ("not utf-8", r'"a\377b"', "bad"),
              ("control characters", r'"a\033[31mred\nb"', "any"), ("wrong type number", "5", "bad")]
    if repeated:
        values = [(label, f"[{v}]", expect) for label, v, expect in values]
    return values


def bool_variants():
    return [("wrong type number", "2", "bad"), ("wrong type string", '"yes"', "bad")]


def message_variants():
    return [("wrong type number", "5", "bad")]


# --- one check ------------------------------------------------------------------------------------------------------

class Check:
    def __init__(self, name, argv, expect, names=None, files=None, cwd=None, victims=None):
        self.name = name          # for the report
        self.argv = argv          # the command line after the executable
        self.expect = expect      # "ok", "bad" or "any"
        self.names = names or []  # a bad-input message must contain one of these
        self.files = files or {}  # path -> content written before the run
        self.cwd = cwd
        self.victims = victims or {}  # path -> content that must be unchanged after the run


def reported_number_problems(result):
    """The rule of sim/plausible.h on a result JSON (run --json): a description of the first broken one, or ""."""
    problems = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "scenario":
                    continue
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        elif isinstance(node, str) and node in ("NaN", "Infinity", "-Infinity"):
            problems.append(f"{path} = {node}")
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            leaf = path.rsplit(".", 1)[-1].split("[")[0]
            if isinstance(node, float) and not math.isfinite(node):
                problems.append(f"{path} = {node}")
            elif leaf in ("mfu", "hfu", "goodput") or "utilization" in leaf:
                if node > 1 + 1e-9 or node < 0:
                    problems.append(f"{path} = {node} (a fraction)")
            elif leaf == "step_time_s" and node > MAX_STEP_S:
                problems.append(f"{path} = {node} (step)")
            elif leaf.endswith("_days") and node > MAX_DAYS:
                problems.append(f"{path} = {node} (days)")
    walk(result, "")
    return problems[0] if problems else ""


def run_check(cs, check):
    write_files(check.files)
    start = time.monotonic()
    try:
        p = subprocess.run([cs] + check.argv, capture_output=True, timeout=TIMEOUT_S, cwd=check.cwd)
    except subprocess.TimeoutExpired:
        return "hang", f"no answer within {TIMEOUT_S} s"
    wall = time.monotonic() - start
    err = p.stderr.decode("utf-8", "replace")
    lines = [l for l in err.splitlines() if l.strip() and not l.startswith("==")]
    for path, content in check.victims.items():
        with open(path) as f:
            if f.read() != content:
                return "write outside", f"{path} was changed"
    if p.returncode < 0:
        return "crash", f"signal {-p.returncode}: {err[-300:]}"
    if p.returncode == 2:
        if len(lines) != 1:
            return "unclear", f"{len(lines)} lines on stderr: {err[:400]}"
        if check.names and not any(n in lines[0] for n in check.names):
            return "unclear", f"does not name {check.names}: {lines[0][:300]}"
        if check.expect == "ok":
            return "refused", lines[0][:300]
        return "bad input", lines[0]
    if p.returncode == 0:
        if check.expect == "bad":
            return "accepted", f"exit 0 ({wall:.1f} s)"
        out = p.stdout.decode("utf-8", "replace")
        if "--json" in check.argv:
            try:
                problem = reported_number_problems(json.loads(out))
            except json.JSONDecodeError as e:
                return "nonsense", f"stdout is not JSON: {e}"
            if problem:
                return "nonsense", problem
        elif re.search(r"\b(nan|inf)\b", out, re.I):
            return "nonsense", "NaN or infinity printed: " + out[:300]
        return "ok", ""
    return "crash", f"exit {p.returncode}: {err[-300:]}"


def write_files(files):
    for path, content in files.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)


# --- the checks -----------------------------------------------------------------------------------------------------

def field_checks(schema, work, quick):
    """Every field of the scenario, every variant, through `run --json`; a few through the sweep reader."""
    checks = []
    paths = list(field_paths(schema, "Scenario"))
    for n, (path, typ, label) in enumerate(paths):
        repeated = label == "repeated"
        if typ in NUMERIC:
            variants = numeric_variants(typ, repeated)
        elif typ == "string":
            variants = string_variants(repeated)
        elif typ == "bool":
            variants = bool_variants()
        elif typ in schema:
            variants = message_variants()
        else:
            continue
        if quick:
            variants = variants[:3]
        dotted = ".".join(path)
        base = serving_base_scenario() if path[0] == "serving" else base_scenario()
        for label_v, value, expect in variants:
            scenario = with_value(base, path, value)
            if scenario is None:
                continue
            f = os.path.join(work, "fields", f"{n}-{re.sub('[^a-z]', '_', label_v)}.textproto")
            names = [path[-1]] + ([path[-2]] if len(path) > 1 else [])
            checks.append(Check(f"run {dotted} {label_v}", ["run", f, "--json"], expect, names, {f: render(scenario)}))
        # The same field set through a sweep axis (SetFieldByPath), with the values that must always be refused.
        if typ in ("double", "float", "uint32", "int32") and not repeated:
            sweep_dir = os.path.join(work, "sweeps")
            write_files({os.path.join(sweep_dir, "base.textproto"): render(base)})
            for label_v, value in (("overflow", "1e400" if typ in ("double", "float") else "4294967296"),):
                sf = os.path.join(sweep_dir, f"{n}-{label_v}.textproto")
                text = f'base_scenario: "base.textproto"\naxes {{ field: "{dotted}" values: ["{value}"] }}\n'
                checks.append(Check(f"sweep axis {dotted} {label_v}", ["sweep", sf, "--out", sf + ".out", "-q"], "bad",
                                    [path[-1]], {sf: text}))
    return checks


def json_checks(work):
    """JSON scenarios: the values text format cannot express, and wrong JSON types."""
    checks = []
    base = ('{"accelerator": {"name": "H100-SXM"}, "cluster": {"num_gpus": 16}, "workload": {"model": {"preset": '
            '"llama3_8b", "layers": 4, "seq_len": 1024}, "parallelism": {"tp": 8, "global_batch_size": 4}}')
    variants = [
        ("facility", '"facility": {"electricity_usd_per_kwh": "Infinity"}', "electricity_usd_per_kwh"),
        ("facility", '"facility": {"pue": "NaN"}', "pue"),
        ("facility", '"facility": {"training_tokens": 1e308}', "training_tokens"),
        ("cluster", '"cluster": {"num_gpus": "abc"}', "num_gpus"),
        ("cluster", '"cluster": {"num_gpus": 4294967296}', "num_gpus"),
        ("cluster", '"cluster": {"num_gpus": -16}', "num_gpus"),
        ("cluster", '"cluster": {"num_gpus": [16]}', "num_gpus"),
        ("cluster", '"cluster": {"num_gpus": 16.5}', "num_gpus"),
        ("reliability", '"reliability": {"gpu_failures_per_hour": 1e308}', "gpu_failures_per_hour"),
        ("reliability", '"reliability": {"checkpoint_interval_s": "-Infinity"}', "checkpoint_interval_s"),
        ("accelerator", '"accelerator": {"name": "H100-SXM", "embodied_kgco2e": 1e308}', "embodied_kgco2e"),
        ("accelerator", '"accelerator": {"name": "H100-SXM", "price_usd": "NaN"}', "price_usd"),
        ("collectives", '"collectives": {"channels": 4294967295}', "channels"),
        ("collectives", '"collectives": {"protocol_efficiency": 1e-300}', "protocol_efficiency"),
        ("name", '"name": 5', "name"),
        ("name", '"name": "' + "y" * 10_000_000 + '"', "name"),
    ]
    for i, (key, fragment, name) in enumerate(variants):
        text = base
        if f'"{key}":' in text:  # replace the base's block of that key
            text = re.sub(rf'"{key}": (\{{[^{{}}]*\}}|"[^"]*")', fragment, text, count=1)
        else:
            text += ", " + fragment
        f = os.path.join(work, "json", f"{i}.json")
        checks.append(Check(f"json {name} {fragment[:50]}", ["run", f, "--json"], "bad", [name, "JSON"],
                            {f: text + "}"}))
    for i, text in enumerate(["{", "[1, 2]", '{"a": 1', "{" * 100000, "null", '{"name": "x",,}']):
        f = os.path.join(work, "json", f"syntax{i}.json")
        checks.append(Check(f"json syntax {text[:20]}", ["run", f], "bad", ["JSON"], {f: text}))
    return checks


def special_file_checks(work, src):
    """Files that are not what they claim to be, given to every reader."""
    d = os.path.join(work, "special")
    os.makedirs(d, exist_ok=True)
    fifo = os.path.join(d, "fifo.textproto")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    link = os.path.join(d, "zero.textproto")
    if not os.path.islink(link):
        os.symlink("/dev/zero", link)
    files = {
        os.path.join(d, "empty.textproto"): "",
        os.path.join(d, "big.textproto"): "# " + "x" * (17 << 20) + "\n",
        os.path.join(d, "binary.textproto"): bytes(range(256)) * 64,
        os.path.join(d, "latin1.textproto"): 'name: "caf\xe9"\n'.encode("latin-1"),
        os.path.join(d, "text.textproto"): "PATH=/usr/bin\nSECRET_TOKEN=hunter2\n",
    }
    write_files(files)
    specials = ["/dev/zero", "/dev/urandom", "/dev/null", fifo, link, d, "/proc/self/environ", ""] + list(files)
    sweep_dir = os.path.join(work, "special_sweep")
    traces = os.path.join(work, "special_trace")
    os.makedirs(traces, exist_ok=True)
    trace_link = os.path.join(traces, "t.0.et")
    if not os.path.islink(trace_link):
        os.symlink("/dev/zero", trace_link)
    scenario = os.path.join(src, "tests", "data", "chakra", "small.textproto")
    checks = []
    for i, path in enumerate(specials):
        expect = "any" if path == os.path.join(d, "empty.textproto") else "bad"
        for argv in (["run", path], ["topo", path], ["plan", path], ["goodput", path], ["coll", path, "-s", "1M"],
                     ["sweep", path, "--out", os.path.join(work, "special_out", str(i))],
                     ["validate", path], ["compare", path], ["replay", scenario, path],
                     ["validate", os.path.join(src, "tests", "data", "bad_case.textproto"), "--known-misses", path]):
            # An empty scenario is the all-defaults scenario (bad input: no accelerator); empty sweeps, cases and
            # results are bad input too.
            checks.append(Check(f"special {argv[0]} {os.path.basename(path) or repr(path)}", argv,
                                expect if argv[0] in ("run", "topo", "plan", "goodput", "coll") else "bad"))
    # A sweep whose base scenario is a special file, or outside its folder; a file that is not a scenario.
    for i, target in enumerate(["/dev/zero", fifo, "/proc/self/environ", "../special/text.textproto", d]):
        sf = os.path.join(sweep_dir, f"s{i}.textproto")
        checks.append(Check(f"special sweep base_scenario {target}",
                            ["sweep", sf, "--out", sf + ".out"], "bad", ["base_scenario"],
                            {sf: f'base_scenario: "{target}"\naxes {{ field: "seed" values: ["1"] }}\n'}))
    checks.append(Check("special replay rank file linked to /dev/zero", ["replay", scenario, traces], "bad",
                        ["t.0.et"]))
    return checks


def option_checks(work, src):
    """Hostile command-line values."""
    s = os.path.join(work, "options", "s.textproto")
    write_files({s: render(base_scenario())})
    checks = []
    bad = [
        ["coll", s, "-s", "NaN"], ["coll", s, "-s", "1e400"], ["coll", s, "-s", "-1"],
        ["coll", s, "-s", "99999999999999999999G"], ["coll", s, "-s", "1M", "-g", "4294967296"],
        ["coll", s, "-s", "1M", "-g", "-1"], ["coll", s, "-s", "1M", "--stride", "0"],
        ["coll", s, "-s", "1M", "--stride", "4294967295"], ["coll", s, "-c", "bogus", "-s", "1M"],
        ["coll", s, "-c", "all_to_all", "-s", "1G", "-g", "1000000"],
        ["goodput", s, "--tokens", "nan"], ["goodput", s, "--tokens", "inf"], ["goodput", s, "--tokens", "-1"],
        ["goodput", s, "--tokens", "1e300"], ["goodput", s, "--trials", "0"],
        ["goodput", s, "--trials", "4294967296"], ["goodput", s, "--trials", "100000000"], ["goodput", s, "--seed", "-1"],
        ["goodput", s, "--seed", "18446744073709551616"],
        ["goal", s, "--deadline-days", "nan"], ["goal", s, "--deadline-days", "inf"],
        ["goal", s, "--deadline-days", "-1"], ["goal", s, "--deadline-days", "0"],
        ["goal", s, "--deadline-days", "30", "--tokens", "1e300"],
        ["goal", s, "--deadline-days", "30", "--max-energy-gwh", "nan"],
        ["goal", s, "--deadline-days", "30", "--max-gpus", "0"],
        ["goal", s, "--deadline-days", "30", "--max-gpus", "4294967296"],
        ["goal", s, "--deadline-days", "30", "--fabrics", "bogus"],
        ["plan", s, "--top", "0"], ["plan", s, "--top", "4294967296"], ["plan", s, "--top", "-1"],
        ["plan", s, "--by", "bogus"],
        ["run", s, "--out", s], ["run", ""], ["topo", s, "--dot", os.path.join(work, "options")],
        ["export", s, os.path.join(work, "options", "exp"), "--prefix", "../x"],
        ["export", s, os.path.join(work, "options", "exp"), "--prefix", ""],
        ["sweep", os.path.join(src, "tests", "data", "sweep", "small.textproto"), "--shard", "5/2"],
        ["sweep", os.path.join(src, "tests", "data", "sweep", "small.textproto"), "--shard", "a/b"],
        ["sweep", os.path.join(src, "tests", "data", "sweep", "small.textproto"), "--max-points", "-1"],
    ]
    for i, argv in enumerate(bad):
        checks.append(Check("option " + " ".join(a if a != s else "S" for a in argv), argv, "bad"))
    return checks, s


def output_checks(work, src, scenario):
    """Links planted in an output directory, at the targets' names and at the old fixed temporary names, point at a
    victim outside it: the victim must stay unchanged after every command that writes there."""
    checks = []
    victim_dir = os.path.join(work, "victims")
    os.makedirs(victim_dir, exist_ok=True)
    victim = os.path.join(victim_dir, "victim.txt")
    with open(victim, "w") as f:
        f.write("precious")

    def planted(d, names):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for n in names:
            os.symlink(victim, os.path.join(d, n))
            os.symlink(victim, os.path.join(d, n + ".tmp"))
        return d

    run_out = planted(os.path.join(work, "out_run"),
                      ["result.json", "summary.txt", "report.html", "trace.json", "step.csv", "comms.csv"])
    checks.append(Check("output run --out with planted links", ["run", scenario, "--out", run_out], "ok",
                        victims={victim: "precious"}))
    plan_out = planted(os.path.join(work, "out_plan"), ["plan.csv", "plan.json"])
    checks.append(Check("output plan --out with planted links", ["plan", scenario, "--top", "1", "--out", plan_out],
                        "ok", victims={victim: "precious"}))
    exp_out = planted(os.path.join(work, "out_export"), [f"clustersim.{r}.et" for r in range(16)])
    checks.append(Check("output export with planted links", ["export", scenario, exp_out], "ok",
                        victims={victim: "precious"}))
    dot_out = planted(os.path.join(work, "out_dot"), ["f.dot"])
    checks.append(Check("output topo --dot with planted links", ["topo", scenario, "--dot", dot_out + "/f.dot"], "ok",
                        victims={victim: "precious"}))
    sweep_dir = os.path.join(work, "out_sweep")
    shutil.rmtree(sweep_dir, ignore_errors=True)
    os.makedirs(sweep_dir)
    shutil.copy(scenario, os.path.join(sweep_dir, "base.textproto"))
    with open(os.path.join(sweep_dir, "s.textproto"), "w") as f:
        f.write('base_scenario: "base.textproto"\naxes { field: "seed" values: ["1", "2"] }\n')
    sweep_out = planted(os.path.join(sweep_dir, "out"), ["sweep.csv", "sweep.json", "report.html", "timing.csv"])
    os.symlink(victim_dir, os.path.join(sweep_out, "points"))  # a planted points/ folder
    checks.append(Check("output sweep with a planted points/ link", ["sweep", os.path.join(sweep_dir, "s.textproto"),
                                                                      "--out", sweep_out, "-q"], "bad", ["points"],
                        victims={victim: "precious"}))
    return checks


# --- main -----------------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("clustersim")
    ap.add_argument("source_dir")
    ap.add_argument("work_dir")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--quick", action="store_true", help="three variants per field")
    a = ap.parse_args()
    cs = os.path.abspath(a.clustersim)
    work = os.path.abspath(a.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    schema = read_schema(cs)
    options, scenario = option_checks(work, a.source_dir)
    checks = (field_checks(schema, work, a.quick) + json_checks(work) + special_file_checks(work, a.source_dir) +
              options + output_checks(work, a.source_dir, scenario))
    # Files shared by several checks are written above; a check's own files when it runs.
    start = time.monotonic()
    outcomes = {}
    failures = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        for check, (cls, detail) in zip(checks, pool.map(lambda c: run_check(cs, c), checks)):
            outcomes[cls] = outcomes.get(cls, 0) + 1
            if cls not in ("ok", "bad input"):
                failures.append(f"{cls.upper()}: {check.name}: {detail}")
    for f in failures:
        print(f)
    summary = ", ".join(f"{n} {cls}" for cls, n in sorted(outcomes.items()))
    print(f"{len(checks)} hostile inputs in {time.monotonic() - start:.0f} s: {summary}")
    if failures:
        print(f"FAILED: {len(failures)} outcomes outside ok / bad input")
        return 1
    print("every outcome is a result with plausible numbers or one line of bad input")
    return 0


if __name__ == "__main__":
    sys.exit(main())
