"""clustersim from Python: simulate AI training clusters from a script or a notebook.

The functions below call the same C++ functions as the command line (``clustersim run``, ``serve``, ``coll``,
``sweep``, ``plan``, ``goal``, ``goodput``, ``compare``) and return plain Python data: results are dicts in the JSON mapping
of ``proto/results.proto`` (field names as in the proto, units in the names), wrapped in :class:`Result`, which
adds the text the CLI prints (``str(result)``) and ``to_dataframe()`` (pandas, from the CSV the CLI writes).

A scenario is a path to a ``.textproto`` or ``.json`` file, ``"example:NAME"`` (see :func:`examples`), ``None``
(the embedded default) or a dict in the JSON mapping of ``proto/scenario.proto``, for instance one returned by
:func:`load` and edited. Bad input raises :class:`InputError` (a ``ValueError``) with the CLI's message
(``file:line: field = value: rule``); a plan that does not fit in memory raises its subclass
:class:`DoesNotFitError`; a failure inside the simulation raises :class:`SimulationError`.

``progress`` (every long function) is ``None``, ``True`` (a line on stderr) or a callable receiving a list of
dicts, one per nesting level, outermost first: ``what`` (``"points"``, ``"candidates"``, ``"stage"``,
``"phase solves"``, ...), ``done``, ``total`` (0 = unknown), ``item`` (what is under way), ``elapsed_s`` and
``eta_s`` (``None`` until known). Raising from it abandons the work.

See docs/python.md for a walkthrough.
"""

import io
import sys

from . import _clustersim as _native

InputError = _native.InputError
DoesNotFitError = _native.DoesNotFitError
SimulationError = _native.SimulationError
__version__ = _native.version

__all__ = [
    "InputError", "DoesNotFitError", "SimulationError", "Result", "examples", "load", "resolve", "run", "serve", "coll",
    "sweep", "plan", "goal", "goodput", "compare", "print_progress",
]


class Result(dict):
    """A result as a dict (the JSON mapping of its message in proto/results.proto).

    ``str(result)`` is the text the CLI prints for it; ``to_dataframe()`` the table the CLI writes as CSV, as a
    pandas DataFrame (one row per result, plan, point or cluster size; needs pandas: apt install python3-pandas).
    """

    def __init__(self, data, text="", csv=""):
        super().__init__(data)
        self.text = text
        self.csv = csv

    def __str__(self):
        return self.text

    def to_dataframe(self):
        import pandas  # only when asked for

        return pandas.read_csv(io.StringIO(self.csv))


def print_progress(levels):
    """The progress callback ``progress=True`` uses: one line on stderr, redrawn in place."""
    parts = []
    for level in levels:
        text = level["what"]
        if level["total"]:
            text += " %d/%d" % (level["done"], level["total"])
        if level["item"]:
            text += " (%s)" % level["item"]
        parts.append(text)
    eta = next((l["eta_s"] for l in reversed(levels) if l["eta_s"] is not None and l["done"] < l["total"]), None)
    line = " | ".join(parts) + (", ETA %.0f s" % eta if eta is not None else "")
    sys.stderr.write("\r\033[K" + line[:150])
    sys.stderr.flush()


def _progress(progress):
    return print_progress if progress is True else (progress or None)


def examples():
    """Names of the embedded example scenarios: run them as ``run("example:NAME")``."""
    return _native.examples()


def load(scenario=None):
    """The scenario as written (a dict in the JSON mapping of proto/scenario.proto), ready to edit and pass on."""
    return _native.parse(scenario)


def resolve(scenario=None):
    """The scenario validated, with every default and catalog value filled in (what results embed)."""
    return _native.resolve(scenario)


def run(scenario=None, progress=None):
    """Simulates one training step and projects the run (``clustersim run``): a :class:`Result` (RunResult)."""
    data, text, csv = _native.run(scenario, _progress(progress))
    return Result(data, text, csv)


def serve(scenario=None):
    """Simulates a serving fleet (``clustersim serve``): a :class:`Result` (RunResult with ``serving``).

    ``scenario``: one with a ``serving`` block (None = the embedded serving default; see docs/serving.md).
    ``str()`` is the serving summary (throughput, TTFT/TPOT percentiles, SLO goodput, cost and energy per million
    tokens); ``to_dataframe()`` is serve.csv. :func:`run` on a serving scenario returns the same.
    """
    data, text, csv = _native.serve(scenario)
    return Result(data, text, csv)


def coll(scenario=None, collective="all_reduce", sizes=("1M", "16M", "256M", "1G"), group=0, stride=1,
         algorithm="auto", all_groups=False, progress=None):
    """Collective microbenchmark (``clustersim coll``): a list of rows (size, time, algbw, busbw) as a Result."""
    rows, csv = _native.coll(scenario, collective, algorithm, list(sizes), group, stride, all_groups,
                             _progress(progress))
    return Result({"rows": rows}, "", csv)


def sweep(sweep, out_dir="", progress=None):
    """Runs a sweep (``clustersim sweep``): a sweep file path or a dict in the JSON mapping of proto/sweep.proto.

    With ``out_dir`` the points are kept there and a rerun resumes; without, they live in a temporary directory.
    Returns a Result with ``points`` (SweepPointResult dicts); ``to_dataframe()`` is sweep.csv.
    """
    points, csv = _native.sweep(sweep, out_dir, _progress(progress))
    return Result({"points": points}, "", csv)


def plan(scenario=None, top=8, by=None, slo_target=0.99, progress=None):
    """Parallelism search (``clustersim plan``): a Result (PlanSearchResult); ``to_dataframe()`` is plan.csv.

    ``by``: ``"time"`` (default for training), ``"energy"`` or ``"cost"`` (default for serving). On a serving
    scenario it is the deployment search at the SLO (``slo_target``: the fraction of requests within it): a Result
    with ``ranked`` (dicts with ``label``, ``meets_slo`` and ``result``), ``candidates``, ``not_fitting`` and
    ``simulations``.
    """
    data, text, csv = _native.plan(scenario, top, by or "", slo_target, _progress(progress))
    return Result(data, text, csv)


def goal(scenario, deadline_days, tokens=0, flops=0, max_energy_gwh=0, max_cost_usd=0, fabrics=(), max_gpus=131072,
         replan=0, progress=None):
    """Goal seeking (``clustersim goal``): the smallest cluster meeting a deadline and budgets.

    Give the budget as ``tokens`` or ``flops`` (6 x active parameters x tokens), or neither to use the scenario's.
    Returns a Result with ``points`` (GoalPoint dicts), ``smallest`` and ``cheapest`` (indices into points, or
    None); ``str()`` is the CLI's table, which says why no point met the goal when none did.
    """
    points, smallest, cheapest, text, csv = _native.goal(scenario, deadline_days, tokens, flops, max_energy_gwh,
                                                         max_cost_usd, list(fabrics), max_gpus, replan,
                                                         _progress(progress))
    return Result({"points": points, "smallest": smallest, "cheapest": cheapest}, text, csv)


def goodput(scenario=None, tokens=0, trials=1000, seed=1, progress=None):
    """Failures and goodput (``clustersim goodput``): a Result with ``result`` (RunResult) and ``monte_carlo``."""
    result, monte_carlo, text = _native.goodput(scenario, tokens, trials, seed, _progress(progress))
    return Result({"result": result, "monte_carlo": monte_carlo}, text, "")


def compare(results, labels=(), html="", csv=""):
    """Compares results side by side (``clustersim compare``); writes the HTML and CSV files when paths are given.

    ``results``: RunResult dicts (as :func:`run` returns). Returns the text table; ``to_dataframe()`` gives one row
    per result with a ``label`` column.
    """
    results = [dict(r) for r in results]
    text, table = _native.compare(results, list(labels), html, csv)
    return Result({"results": results, "labels": list(labels)}, text, table)
