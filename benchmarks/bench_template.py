"""Generation and pipeline timings (issue targets: bake <= 1.0 s and no slower than ccds;
cold `dvc repro` <= 15 s, no-op `dvc repro` <= 3 s; quick test tier <= 3 min).

Run from the repository root with the test venv: `python -m benchmarks.bench_template`.
Writes benchmarks/results/template.json. With --ccds-template DIR (a local checkout of
cookiecutter-data-science: ccds otherwise clones it from GitHub, which would time the network),
also times `ccds --no-input DIR` in a separate venv under benchmarks/.venv-ccds (installed from
PyPI on first use), in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import summary
from template_support.project import BIN, bake, init_repo, project_env
from template_support.project import TEMPLATE as ROOT

RESULTS = ROOT / "benchmarks" / "results"


def timed(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def bake_times(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            times.append(timed([str(BIN / "cookiecutter"), "--no-input", "-o", out, str(ROOT)], ROOT))
    return times


def ccds_times(runs: int, template: Path) -> list[float]:
    venv = ROOT / "benchmarks" / ".venv-ccds"
    if not (venv / "bin" / "ccds").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "cookiecutter-data-science==2.3.0"], check=True
        )
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            times.append(
                timed([str(venv / "bin" / "ccds"), "--no-input", str(template), "-o", out], Path(out))
            )
    return times


def pipeline_times(runs: int) -> dict[str, list[float]]:
    cold, noop = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            project = bake(Path(out))
            init_repo(project)
            env = project_env(project)
            dvc = [sys.executable, "-m", "dvc"]
            cold.append(timed([*dvc, "repro"], project, env))
            noop.append(timed([*dvc, "repro"], project, env))
    return {"cold": cold, "noop": noop}


def quick_tier_time() -> float:
    env = dict(os.environ)
    return timed(
        [sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-n", "2", "-p", "no:cacheprovider"],
        ROOT,
        env,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ccds-template", type=Path, help="local cookiecutter-data-science checkout")
    parser.add_argument("--quick-tier", action="store_true", help="also time the quick test tier")
    args = parser.parse_args()
    shutil.which("git") or sys.exit("git is needed")
    results: dict[str, object] = {"bake": summary(bake_times(args.runs))}
    if args.ccds_template:
        results["ccds_bake"] = summary(ccds_times(args.runs, args.ccds_template))
    pipeline = pipeline_times(max(1, args.runs // 2))
    results["dvc_repro_cold"] = summary(pipeline["cold"])
    results["dvc_repro_noop"] = summary(pipeline["noop"])
    if args.quick_tier:
        results["quick_tier"] = summary([quick_tier_time()])
    results["targets"] = {"bake_s": 1.0, "dvc_repro_cold_s": 15, "dvc_repro_noop_s": 3, "quick_tier_s": 180}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "template.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
