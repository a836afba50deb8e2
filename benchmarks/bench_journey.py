"""A newcomer's first journey, timed step by step: fresh bake -> `make setup` -> `make repro` ->
the pull-request workflow (`.github/workflows/train.yml`) under act.

Goal (2 cores, warm caches): the whole journey in <= 30 s.

Warm caches means what a second project on the same machine finds: uv's cache filled by an
untimed first journey (so `make setup` and the workflow's `uv sync` copy wheels, download none).
Each timed journey starts from a new bake, as a user would:

1. bake: cookiecutter with the default answers (the post-generation hook included);
2. `make setup`: uv sync of the project's `.venv` from `uv.lock`, git and DVC init, git hooks,
   the sample data tracked by DVC;
3. `make repro`: prepare, train, evaluate with the project's own `.venv`;
4. git: commit the trained state on main, branch, change a model parameter, commit (hooks
   skipped: the commit hook's `make lint` is not part of this journey);
5. the pull-request workflow under act, self-hosted: its install step really runs `uv sync`
   (a setup-python stand-in gives a bare interpreter, as in bench_setup), then the data, the
   pipeline, the comparison with main and the comment (stand-ins record the comment, cache and
   artifact, which need GitHub's servers). Its steps are timed from act's own records.

Run from the repository root with the test venv: `python -m benchmarks.bench_journey [--runs N]`.
Needs PyPI for the untimed warm-up. Writes benchmarks/results/journey.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.bench_setup import SETUP_PYTHON, bare_setup_python, sh, user_env
from benchmarks.common import summary
from template_support.act import pull_request_event, run_act
from template_support.project import TEMPLATE as ROOT
from template_support.project import bake, commit, git
from template_support.pythons import find_python

RESULTS = ROOT / "benchmarks" / "results"
TARGET_S = 30
STEPS = ("bake", "make_setup", "make_repro", "git", "pull_request_workflow")


def act_steps(result) -> dict[str, float]:
    """Each main step of the workflow run and its duration (act's `executionTime`, ns)."""
    return {
        record["step"]: round(record["executionTime"] / 1e9, 2)
        for record in result.events
        if "executionTime" in record and record.get("stage") == "Main"
    }


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children: unlike wall time, it
    does not grow when other work shares the cores."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Clock:
    """Wall and CPU seconds of each named step."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), cpu_seconds()
        yield
        self.wall[name] = round(time.perf_counter() - wall, 2)
        self.cpu[name] = round(cpu_seconds() - cpu, 2)


def journey(out: Path, python: str, cache: Path) -> dict[str, object]:
    env = user_env(UV_CACHE_DIR=str(cache))
    clock = Clock()
    with clock.step("bake"):
        project = bake(out)
    with clock.step("make_setup"):
        sh(["make", "setup", f"UV_PYTHON={python}"], project, env)
    with clock.step("make_repro"):
        sh(["make", "repro"], project, env)
    with clock.step("git"):
        commit(project, "Train the first model")
        git(project, "checkout", "-q", "-b", "tune")
        params = project / "params.yaml"
        params.write_text(params.read_text().replace("params: {}", "params: {max_depth: 4}"))
        commit(project, "Shallower trees")
    with clock.step("pull_request_workflow"):
        result = pull_request_run(project, out, python, cache)
    if not result.ok or "Installed" not in result.logs or not result.comments():
        sys.exit(f"the pull-request run failed, skipped uv sync or posted no comment:\n{result!r}")
    for totals in (clock.wall, clock.cpu):
        totals["total"] = round(sum(totals[step] for step in STEPS), 2)
    return {"seconds": clock.wall, "cpu_seconds": clock.cpu, "workflow_steps": act_steps(result)}


def pull_request_run(project: Path, out: Path, python: str, cache: Path):
    """train.yml for a pull request from the branch to main, installing with a real uv sync."""
    return run_act(
        project,
        "pull_request",
        ".github/workflows/train.yml",
        event_payload=pull_request_event(project, base="main", number=1),
        stand_ins={SETUP_PYTHON: bare_setup_python(out / "setup-python", python)},
        env={"UV_CACHE_DIR": str(cache), "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"},
    )


def where_the_time_goes(last: dict[str, object]) -> list[str]:
    """The journey's steps and the workflow's own steps, longest first, as shares of the total."""
    seconds = dict(last["seconds"])  # type: ignore[arg-type]
    total = seconds.pop("total")
    parts = {f"journey: {k}": v for k, v in seconds.items()}
    parts |= {f"workflow: {k}": v for k, v in dict(last["workflow_steps"]).items()}  # type: ignore[arg-type]
    ranked = sorted(parts.items(), key=lambda item: -item[1])
    return [f"{name}: {value:.1f} s ({value / total:.0%})" for name, value in ranked if value >= 0.5]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    python = find_python("3.11")
    # A user's shell writes Python's bytecode cache; a test machine may turn it off, and then
    # every process compiles scikit-learn, pandas and DVC from source again (measured here:
    # 7.3 CPU-s per import of the stack instead of 2.5 s).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="bench-journey-") as tmp:
        work = Path(tmp)
        cache = work / "uv-cache"
        journey(work / "warm-up", python, cache)  # fills uv's cache (untimed)
        runs = []
        for i in range(args.runs):
            runs.append(journey(work / f"run-{i}", python, cache))
            print(json.dumps({k: runs[-1][k] for k in ("seconds", "cpu_seconds")}), flush=True)
    results = {step: summary([r["seconds"][step] for r in runs], 2) for step in (*STEPS, "total")}
    cpu = {step: summary([r["cpu_seconds"][step] for r in runs], 2) for step in (*STEPS, "total")}
    load = Path("/proc/loadavg").read_text().split()[:3]
    report = {
        "target_total_s": TARGET_S,
        "met": results["total"]["max_s"] <= TARGET_S,
        "results": results,
        "cpu_seconds": cpu,
        "workflow_steps_last_run": runs[-1]["workflow_steps"],
        "where_the_time_goes_last_run": where_the_time_goes(runs[-1]),
        "python": python,
        "bytecode_cache": "on (PYTHONDONTWRITEBYTECODE unset, as in a user's shell)",
        "load_average_after": load,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "journey.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if report["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
