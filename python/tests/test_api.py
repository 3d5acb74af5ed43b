"""The clustersim Python module (issue #22, point 1): scenarios from files, examples and dicts; every command; results
as dicts with to_dataframe(); progress callbacks; errors as exceptions with the CLI's message. Run by CTest
(python.api) with PYTHONPATH=build/python and CLUSTERSIM_SOURCE_DIR set."""
import copy
import os

import pytest

import clustersim as cs

SRC = os.environ.get("CLUSTERSIM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SMALL = os.path.join(SRC, "tests", "data", "plan", "goal_small.textproto")  # Llama-3-8B on 64 H100


def small_dict():
    return {
        "name": "small from a dict",
        "accelerator": {"name": "H100-SXM"},
        "cluster": {"num_gpus": 64},
        "workload": {"model": {"preset": "llama3_8b", "seq_len": 4096},
                     "parallelism": {"tp": 8, "pp": 2, "global_batch_size": 256, "zero_stage": 1}},
        "facility": {"training_tokens": 1e11},
    }


def test_examples_load_and_resolve():
    assert "default" in cs.examples()
    written = cs.load("example:compare_h800")
    assert written["accelerator"]["name"] == "H800"
    resolved = cs.resolve(written)
    assert resolved["accelerator"]["bf16_tflops"] > 0  # catalog values filled in
    assert resolved["cluster"]["scale_up"]["domain_size"] == 8


def test_run_from_a_dict_and_from_a_file_agree():
    r = cs.run(small_dict())
    assert isinstance(r, cs.Result) and isinstance(r, dict)
    assert r["step_time_s"] > 0 and 0 < r["mfu"] < 1
    assert "step time" in str(r) and "cost      capex" in str(r)
    assert r["projection"]["training_flops"] == pytest.approx(6 * r["projection"]["active_parameters"] * 1e11)
    from_file = cs.run(SMALL)
    assert from_file["step_time_s"] == pytest.approx(r["step_time_s"], rel=1e-12)
    # The resolved scenario a result embeds runs again to the same step.
    again = cs.run(r["scenario"])
    assert again["step_time_s"] == pytest.approx(r["step_time_s"], rel=1e-12)


def test_to_dataframe_is_the_cli_csv():
    pandas = pytest.importorskip("pandas")
    df = cs.run(small_dict()).to_dataframe()
    assert isinstance(df, pandas.DataFrame) and len(df) == 1
    assert {"step_time_s", "mfu", "capex_usd", "tco_usd", "label", "training_flops"} <= set(df.columns)


def test_progress_callback_sees_the_stages_and_can_stop_the_run():
    seen = []
    cs.run(small_dict(), progress=seen.append)
    whats = {level["what"] for update in seen for level in update}
    assert {"stage", "phase solves"} <= whats
    assert all({"done", "total", "item", "elapsed_s", "eta_s"} <= set(level) for u in seen for level in u)

    class Stop(Exception):
        pass

    def stop(levels):
        if any(level["what"] == "phase solves" for level in levels):
            raise Stop()

    with pytest.raises(Stop):
        cs.run(small_dict(), progress=stop)


def test_errors_carry_the_field_value_and_rule():
    bad = small_dict()
    bad["cluster"]["num_gpus"] = 0
    with pytest.raises(cs.InputError, match=r"cluster.num_gpus = 0: must be > 0"):
        cs.run(bad)
    with pytest.raises(ValueError):  # InputError is a ValueError
        cs.load(os.path.join(SRC, "no", "such.textproto"))
    huge = small_dict()
    huge["workload"]["parallelism"] = {"tp": 1, "global_batch_size": 64}
    huge["workload"]["model"]["preset"] = "llama3_405b"
    # A plan over the HBM runs, flagged, unless the scenario asks for strict memory (as `run --strict-memory`).
    flagged = cs.run(huge)
    assert flagged["memory"]["over_hbm_gb"] > 0
    huge["options"] = {"strict_memory": True}
    with pytest.raises(cs.DoesNotFitError, match=r"needs .* GB per GPU"):
        cs.run(huge)
    with pytest.raises(cs.InputError, match=r"no such example"):
        cs.run("example:nope")


def test_coll_plan_goodput():
    rows = cs.coll(SMALL, sizes=["1M", "16M"], group=16)
    assert [r["bytes"] for r in rows["rows"]] == [1 << 20, 16 << 20]
    assert rows["rows"][1]["busbw_gbyte_per_s"] > 0
    p = cs.plan(SMALL, top=1)
    assert p["choices"][0]["simulated"] and p["given"]["simulated"]
    assert "ranked by time" in str(p)
    g = cs.goodput(SMALL, trials=200, seed=3)
    assert 0 < g["monte_carlo"]["goodput"] <= 1
    assert g["result"]["projection"]["goodput"]["goodput"] == pytest.approx(g["monte_carlo"]["goodput"], abs=0.02)


def test_serve_and_its_plan():
    r = cs.serve()  # the embedded serving default
    sv = r["serving"]
    assert sv["output_tokens_per_s"] > 0 and sv["ttft"]["p99_s"] >= sv["ttft"]["p50_s"] > 0
    assert sv["cost_usd_per_m_output_tokens"] > 0 and "TTFT" in str(r)
    assert "serve_output_tokens_per_s" not in r  # a dict of the result, not of the CSV
    scenario = r["scenario"]
    again = cs.run(scenario)  # run() on a serving scenario serves it, as `clustersim run` does
    assert again["serving"]["output_tokens_per_s"] == pytest.approx(sv["output_tokens_per_s"], rel=1e-12)
    no_serving = r"<scenario dict>: serving = \(none\): a serving scenario needs a serving block"
    with pytest.raises(cs.InputError, match=no_serving):
        cs.serve(small_dict())
    pandas = pytest.importorskip("pandas")
    assert "output_tokens_per_s" in " ".join(r.to_dataframe().columns)


def test_plan_on_a_serving_scenario_searches_deployments():
    serving = os.path.join(SRC, "workloads", "scenarios", "serving", "default.textproto")
    p = cs.plan(serving, top=2)
    assert p["candidates"] >= len(p["ranked"]) > 0 and p["simulations"] > 0
    best = p["ranked"][0]
    assert best["label"] and best["result"]["serving"]["output_tokens_per_s"] > 0
    assert "cost" in str(p)


def test_goal_in_flops_and_why_not():
    g = cs.goal(SMALL, deadline_days=2, flops=5e21, max_gpus=256)
    assert g["smallest"] is not None
    assert g["points"][g["smallest"]]["num_gpus"] == 128
    assert "sizes up to 256 GPUs (--max-gpus)" in str(g)
    none = cs.goal(SMALL, deadline_days=0.01, max_gpus=256)
    assert none["smallest"] is None
    assert "sizes stop at the GPU cap of 256 (--max-gpus)" in str(none)
    assert all(p["missed"] in ("deadline", "memory") for p in none["points"])


def test_sweep_from_a_dict_and_compare():
    sweep = {
        "name": "two chips",
        "scenario": small_dict(),
        "axes": [{"field": "accelerator.name", "name": "chip", "values": ["H100-SXM", "H800"]}],
    }
    seen = []
    out = cs.sweep(sweep, progress=seen.append)
    assert [p["label"] for p in out["points"]] == ["H100-SXM", "H800"]
    assert any(level["what"] == "points" for u in seen for level in u)
    results = [p["result"] for p in out["points"]]
    text = cs.compare(results, labels=["H100", "H800"])
    assert "Step time" in str(text) and "H800/H100" in str(text)
    pandas = pytest.importorskip("pandas")
    df = text.to_dataframe()
    assert list(df["label"]) == ["H100", "H800"]
    assert len(out.to_dataframe()) == 2


def test_walkthrough_script_runs(tmp_path):
    """docs/python.md's script, at a small scale so that it runs in seconds."""
    script = os.path.join(SRC, "docs", "examples", "python", "seed_question.py")
    env = dict(os.environ, CLUSTERSIM_GPUS="1536")
    import subprocess
    import sys

    done = subprocess.run([sys.executable, script, "--out", str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    assert "cheapest" in done.stdout
    assert (tmp_path / "seed.html").exists() and (tmp_path / "seed.csv").exists()
