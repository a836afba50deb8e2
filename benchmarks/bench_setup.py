"""Setting up a fresh bake: `make setup` (uv sync from uv.lock) against the pip install it replaced.

Targets (2 cores): `make setup` in a fresh bake <= 20 s with a warm uv cache and <= 90 s cold
(an empty UV_CACHE_DIR: every wheel downloaded from PyPI); the install step of the generated CI
workflow under act with a warm cache <= 15 s.

Side by side, in the same run and on the same bake:
- uv, warm: `make setup` (uv sync --locked, then git/DVC init, hooks, sample data) with a uv
  cache that a first, untimed setup filled. The uv sync part is timed on its own as well.
- uv, cold: the same with an empty UV_CACHE_DIR.
- pip, warm: what `make setup` did before uv: `python -m venv`, upgrade pip, then
  `pip install -c <pins> -e ".[train,serve,drift,dev]"` (the same pinned versions, exported from
  uv.lock) with a pip cache that an untimed first install filled; then the same init and data.
- act: `.github/workflows/ci.yml`'s lint and test jobs with a setup-python stand-in that gives a
  bare interpreter (so the install step really runs `uv sync`, which the test suite's runner
  skips), UV_CACHE_DIR warm. The install step's time is read from act's log records.

Run from the repository root with the test venv: `python -m benchmarks.bench_setup [--runs N]`.
Needs PyPI (the cold run and the warm-ups). Writes benchmarks/results/setup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import summary
from template_support.act import push_event, run_act
from template_support.project import BIN, bake, commit
from template_support.project import TEMPLATE as ROOT
from template_support.pythons import find_python

RESULTS = ROOT / "benchmarks" / "results"
TARGETS = {"uv_warm_make_setup_s": 20, "uv_cold_make_setup_s": 90, "act_install_step_s": 15}
EXTRAS = "train,serve,drift,dev"
SETUP_PYTHON = "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97"


def user_env(**extra: str) -> dict[str, str]:
    """A terminal's environment: no test venv in the way; uv reachable after the system's tools."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHON", "PYTHONPATH", "VIRTUAL_ENV"}}
    env["PATH"] = f"{env.get('PATH', '')}{os.pathsep}{BIN}"
    env.update(DVC_NO_ANALYTICS="1", UV_PYTHON_DOWNLOADS="never", **extra)
    return env


def sh(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{args} failed in {cwd}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed


def uv_setup(out: Path, python: str, cache: Path) -> dict[str, float]:
    """A fresh bake's `make setup`; the uv sync inside it timed from make's own output."""
    project = bake(out)
    env = user_env(UV_CACHE_DIR=str(cache))
    total = sh(["make", "setup", f"UV_PYTHON={python}"], project, env)
    # The same sync again on a fresh venv (nothing else): the uv part of the total.
    shutil.rmtree(project / ".venv")
    extras = [a for e in EXTRAS.split(",") for a in ("--extra", e)]
    sync = sh(["uv", "sync", "--locked", "--python", python, *extras], project, env)
    return {"make_setup_s": total, "uv_sync_s": sync}


def pip_setup(out: Path, python: str, pip_cache: Path) -> dict[str, float]:
    """The previous `make setup`: venv + pip install of the same pins, then init and data."""
    project = bake(out)
    env = user_env(PIP_CACHE_DIR=str(pip_cache), PIP_DISABLE_PIP_VERSION_CHECK="1")
    pins = project / "pins.txt"
    export = ["uv", "export", "--frozen", "--all-extras", "--no-emit-project", "--no-hashes", "-o", str(pins)]
    sh(export, project, env)
    start = time.perf_counter()
    sh([python, "-m", "venv", ".venv"], project, env)
    sh([".venv/bin/python", "-m", "pip", "install", "--quiet", "--upgrade", "pip"], project, env)
    install = [".venv/bin/python", "-m", "pip", "install", "--quiet", "-c", str(pins), "-e", f".[{EXTRAS}]"]
    sh(install, project, env)
    installed = time.perf_counter() - start
    sh(["make", "init", "data", "PYTHON=.venv/bin/python"], project, env)
    return {"make_setup_s": time.perf_counter() - start, "pip_install_s": installed}


def bare_setup_python(folder: Path, python: str) -> Path:
    """A setup-python stand-in that puts a bare interpreter (no project packages) first on PATH."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "python3"):
        (bin_dir / name).symlink_to(python)
    (folder / "action.yml").write_text(
        "name: bare setup-python\ninputs:\n  python-version:\n    required: false\n"
        "runs:\n  using: composite\n  steps:\n    - shell: bash\n"
        f'      run: echo "{bin_dir}" >> "$GITHUB_PATH"\n'
    )
    return folder


def step_seconds(events: list[dict], step_part: str) -> list[float]:
    """Duration of each run of a step: act's own `executionTime` (ns) on the step's result record."""
    return [
        record["executionTime"] / 1e9
        for record in events
        if step_part in (record.get("step") or "") and record.get("stepResult") and "executionTime" in record
    ]


def act_install(out: Path, python: str, cache: Path) -> dict[str, float]:
    project = bake(out)
    env = user_env(UV_CACHE_DIR=str(cache))
    sh(["git", "init", "-q", "--initial-branch=main"], project, env)
    commit(project, "Initial commit")
    version = json.loads((ROOT / "cookiecutter.json").read_text())["python_version"][0]
    start = time.perf_counter()
    result = run_act(
        project,
        "push",
        ".github/workflows/ci.yml",
        event_payload=push_event(project),
        stand_ins={SETUP_PYTHON: bare_setup_python(out / "setup-python", python)},
        env={"UV_CACHE_DIR": str(cache), "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"},
        extra_args=("--matrix", f"python-version:{version}"),
    )
    wall = time.perf_counter() - start
    logs = re.sub(r"\x1b\[[0-9;]*m", "", result.logs)  # uv colours its summary line
    synced = re.findall(r"Installed \d+ packages", logs)
    if not result.ok or len(synced) != 2 or "nothing to install" in logs:
        sys.exit(f"act run failed, or a job skipped uv sync:\n{result.jobs}\n{result.logs[-5000:]}")
    steps = step_seconds(result.events, "uv sync --locked")
    return {"install_step_max_s": max(steps), "install_steps": len(steps), "act_wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    python = find_python("3.11")
    with tempfile.TemporaryDirectory(prefix="bench-setup-") as tmp:
        work = Path(tmp)
        warm_uv, warm_pip = work / "uv-cache", work / "pip-cache"
        uv_setup(work / "warm-up-uv", python, warm_uv)  # fills the uv cache (untimed)
        pip_setup(work / "warm-up-pip", python, warm_pip)  # fills the pip cache (untimed)
        timings: dict[str, list[dict[str, float]]] = {"uv_warm": [], "uv_cold": [], "pip_warm": [], "act": []}
        for i in range(args.runs):
            for kind, measure, args_ in (
                ("uv_warm", uv_setup, (work / f"uv-warm-{i}", python, warm_uv)),
                ("pip_warm", pip_setup, (work / f"pip-warm-{i}", python, warm_pip)),
                ("uv_cold", uv_setup, (work / f"uv-cold-{i}", python, work / f"empty-cache-{i}")),
                ("act", act_install, (work / f"act-{i}", python, warm_uv)),
            ):
                timings[kind].append(measure(*args_))
                print(kind, json.dumps(timings[kind][-1]), flush=True)

    def col(kind: str, key: str) -> dict[str, float]:
        return summary([t[key] for t in timings[kind]], 1)

    results = {
        "uv_warm_make_setup_s": col("uv_warm", "make_setup_s"),
        "uv_warm_uv_sync_s": col("uv_warm", "uv_sync_s"),
        "uv_cold_make_setup_s": col("uv_cold", "make_setup_s"),
        "pip_warm_make_setup_s": col("pip_warm", "make_setup_s"),
        "pip_warm_pip_install_s": col("pip_warm", "pip_install_s"),
        "act_install_step_s": col("act", "install_step_max_s"),
        "act_ci_wall_s": col("act", "act_wall_s"),
    }
    report = {
        "targets_s": TARGETS,
        "met": {k: results[k]["max_s"] <= v for k, v in TARGETS.items()},
        "results": results,
        "python": python,
        "extras": EXTRAS,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "setup.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
