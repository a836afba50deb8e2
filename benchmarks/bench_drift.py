"""The generated project's drift check next to plain Evidently and the previous approach, in one run.

Issue target: on 1,000,000 rows x 21 columns (20 numeric + 1 categorical) the drift command stays
within 15 s wall and 1.5 GB peak memory of the whole process tree, with the same dataset verdict as
plain Evidently on all rows and at least 95% agreement on per-column verdicts.

The drift command reads both files with pyarrow into a seeded sample of at most `drift.sample_rows`
(default 50,000) rows per side and runs Evidently's DataDriftPreset ONCE on it. Baselines:
- plain Evidently: `Report([DataDriftPreset()]).run(current, reference)` on all rows read with
  `pd.read_csv`, plus `save_html` (run here, in a child process: `python bench_drift.py plain-evidently`);
- the previous approach (own statistics on a 100,000-row sample, Evidently HTML on 5,000 rows): its
  figures are copied from the last recorded result file, benchmarks/results/drift.json, before this
  run overwrites it (marked `previous_approach`, with the date of that file's run when known).

Cases: the default project's own data (train split vs the raw data, as `make drift` after
training), then synthetic reference/current CSVs of 100k and 1M rows x 21 columns where 12 of
21 columns drifted by various amounts (and one moved by less than the threshold).

For each case and tool, a fresh child process: wall time, peak RSS of the process tree (the sum
over the process and its children, sampled every 20 ms from /proc) and the largest single-process
peak from wait4.

Run from the repository root with the test venv: `python -m benchmarks.bench_drift`
(about 5 minutes: plain Evidently on 1M rows alone takes 2-3). Writes
benchmarks/results/drift.json and prints a Markdown table. `--sizes 100000` for a quick run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import measure
from template_support.project import TEMPLATE as ROOT
from template_support.project import bake, project_env

RESULTS = ROOT / "benchmarks" / "results"

TARGET_WALL_S, TARGET_TREE_MB, TARGET_AGREEMENT = 15.0, 1536, 0.95


def plain_evidently(reference_path: str, current_path: str, html: str, out: str, drop: str) -> None:
    """The baseline a user would write: Evidently's DataDriftPreset on all rows (child process)."""
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    columns = [c for c in drop.split(",") if c]
    reference = pd.read_csv(reference_path).drop(columns=columns, errors="ignore")
    current = pd.read_csv(current_path).drop(columns=columns, errors="ignore")
    snapshot = Report([DataDriftPreset()], include_tests=True).run(current, reference)
    snapshot.save_html(html)
    report = snapshot.dict()
    failed = {t["metric_config"]["metric_id"] for t in report["tests"] if t["status"] == "FAIL"}
    verdicts, share = {}, None
    for metric in report["metrics"]:
        kind = metric["config"]["type"]
        if kind.endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif kind.endswith("ValueDrift"):
            verdicts[metric["config"]["column"]] = {"drift": metric["id"] in failed, "score": metric["value"]}
    result = {"drifted_share": share, "dataset_drift": share >= 0.5, "columns": verdicts}
    Path(out).write_text(json.dumps(result))


# --------------------------------------------------------------------------- data
def synthetic(rows: int, seed: int, drifted: bool) -> dict[str, np.ndarray]:
    """20 numeric columns of assorted shapes + 1 categorical; with ``drifted``, 12 columns move."""
    rng = np.random.default_rng(seed)
    # Normed Wasserstein shift per numeric column (0: unchanged); num_11 moves by less than 0.1.
    shifts = [0.3, 0.5, 0.2, 0.15, 0.4, 0.25, 0.6, 1.0, 0.2, 0.3, 0.5, 0.05] + [0.0] * 8
    columns: dict[str, np.ndarray] = {}
    for i, shift in enumerate(shifts):
        move = shift if drifted else 0.0
        if i % 4 == 0:
            values = rng.normal(loc=move, size=rows)
        elif i % 4 == 1:
            values = rng.logistic(loc=move * 1.8138, size=rows)  # std of logistic(1) = pi/sqrt(3)
        elif i % 4 == 2:
            values = rng.uniform(0, 1, size=rows) * np.sqrt(12) + move
        else:
            values = rng.gamma(4.0, 0.5, size=rows) + move
        columns[f"num_{i:02d}"] = np.round(values, 4)
    columns["num_19"] = rng.integers(0, 4, size=rows)  # 4 distinct values: Jensen-Shannon
    weights = [0.1, 0.15, 0.2, 0.25, 0.3] if drifted else [0.3, 0.25, 0.2, 0.15, 0.1]
    columns["segment"] = rng.choice(np.array(["a", "b", "c", "d", "e"]), size=rows, p=weights)
    return columns


def write_csv(columns: dict[str, np.ndarray], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    pacsv.write_csv(pa.table(columns), path)


# --------------------------------------------------------------------------- cases
def agreement(ours: dict, theirs: dict) -> dict[str, object]:
    columns = sorted(theirs["columns"])
    same = [c for c in columns if ours["columns"].get(c, {}).get("drift") == theirs["columns"][c]["drift"]]
    return {
        "dataset_verdict_equal": ours["dataset_drift"] == theirs["dataset_drift"],
        "column_agreement": round(len(same) / len(columns), 4) if columns else None,
        "disagreeing_columns": [c for c in columns if c not in same],
    }


def run_case(
    name: str, project: Path, work: Path, reference: Path, current: Path, drop: str, evidently: bool
):
    env = project_env(project)
    env["PYTHONPATH"] = str(project / "src")
    package = next((project / "src").iterdir()).name
    out_dir = work / f"drift-{name}"
    ours = measure(
        [
            sys.executable,
            "-m",
            package,
            "drift",
            "--reference",
            str(reference),
            "--current",
            str(current),
            "--out",
            str(out_dir),
        ],
        work,
        env,
    )
    summary = json.loads((out_dir / "summary.json").read_text())
    ours.update(
        dataset_drift=summary["dataset_drift"],
        drifted_share=summary["drifted_share"],
        columns=summary["columns_checked"],
        html_mb=round((out_dir / "report.html").stat().st_size / 2**20, 1),
        method=summary["sampling"]["description"],
    )
    case: dict[str, object] = {
        "name": name,
        "rows": summary["reference"]["rows"],
        "current_rows": summary["current"]["rows"],
        "drift_command": ours,
    }
    if evidently:
        verdicts = work / f"evidently-{name}.json"
        plain = measure(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "plain-evidently",
                str(reference),
                str(current),
                str(work / f"evidently-{name}.html"),
                str(verdicts),
                drop,
            ],
            work,
            env,
        )
        theirs = json.loads(verdicts.read_text())
        plain.update(dataset_drift=theirs["dataset_drift"], drifted_share=round(theirs["drifted_share"], 6))
        case["plain_evidently"] = plain
        case["agreement"] = agreement(summary, theirs)
    for tool in ("drift_command", "plain_evidently"):
        if tool in case:
            case[tool] = {k: v for k, v in case[tool].items() if k not in ("stdout", "stderr") or v}
    return case


def default_project_case(tmp: Path, evidently: bool) -> tuple[dict, Path]:
    project = bake(tmp)
    package = next((project / "src").iterdir()).name
    env = project_env(project)
    for command in ("sample-data", "prepare", "train"):
        subprocess.run(
            [sys.executable, "-m", package, command], cwd=project, env=env, check=True, capture_output=True
        )
    raw = next((project / "data" / "raw").glob("*.csv"))
    case = run_case(
        "default project", project, project, project / "data/processed/train.csv", raw, "target", evidently
    )
    return case, project


def previous_approach(path: Path) -> dict[str, dict]:
    """The previous approach's figures per case, from the last recorded result file (carried forward
    when that file already holds them)."""
    if not path.is_file():
        return {}
    recorded = json.loads(path.read_text())
    found = {}
    for case in recorded.get("cases", []):
        if "previous_approach" in case:
            found[case["name"]] = case["previous_approach"]
        elif "Evidently DataDriftPreset" not in case["drift_command"].get("method", "Evidently's"):
            keep = ("wall_s", "cpu_s", "peak_tree_rss_mb", "dataset_drift", "drifted_share", "method")
            found[case["name"]] = {k: case["drift_command"][k] for k in keep if k in case["drift_command"]}
            found[case["name"]]["agreement"] = case.get("agreement")
            found[case["name"]]["recorded_in"] = f"{path.name} (load average {recorded.get('load_average')})"
    return found


def targets(case: dict) -> dict[str, bool | None]:
    ours, agreement = case["drift_command"], case.get("agreement", {})
    return {
        "wall_at_most_15_s": ours["wall_s"] <= TARGET_WALL_S,
        "tree_memory_at_most_1_5_gb": ours["peak_tree_rss_mb"] <= TARGET_TREE_MB,
        "same_dataset_verdict_as_plain_evidently": agreement.get("dataset_verdict_equal"),
        "column_agreement_at_least_95_percent": None
        if agreement.get("column_agreement") is None
        else agreement["column_agreement"] >= TARGET_AGREEMENT,
    }


def markdown(results: dict) -> str:
    lines = [
        f"Drift check vs plain Evidently ({results['machine']}, "
        f"load average at start {results['load_average']})",
        "",
        "| data | tool | wall (s) | CPU (s) | peak RSS, process tree (MB) | dataset drift | drifted share "
        "| per-column agreement |",
        "|---|---|---:|---:|---:|---|---:|---:|",
    ]
    for case in results["cases"]:
        columns = case["drift_command"]["columns"]
        label = f"{case['name']} ({case['rows']:,} x {columns} + {case['current_rows']:,})"
        for tool in ("drift_command", "plain_evidently", "previous_approach"):
            if tool not in case:
                continue
            r = case[tool]
            agreement = case.get("agreement", {}) if tool == "drift_command" else r.get("agreement") or {}
            agree = None if tool == "plain_evidently" else agreement.get("column_agreement")
            agree_text = "" if agree is None else f"{agree:.0%}"
            lines.append(
                f"| {label} | {tool.replace('_', ' ')} | {r['wall_s']} | {r['cpu_s']} | "
                f"{r['peak_tree_rss_mb']} | "
                f"{r['dataset_drift']} | {r['drifted_share']:.3f} | {agree_text} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="synthetic row counts (comma-separated)")
    parser.add_argument("--no-evidently", action="store_true", help="skip the plain Evidently runs")
    parser.add_argument("--no-default", action="store_true", help="skip the default project's data")
    parser.add_argument("--out", default=str(RESULTS / "drift.json"), help="where to write the JSON")
    args = parser.parse_args()
    evidently = not args.no_evidently
    previous = previous_approach(Path(args.out))
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "cases": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        tmp_path = Path(tmp)
        case, project = default_project_case(tmp_path / "bake", evidently)
        if not args.no_default:
            results["cases"].append(case)
            print(json.dumps(case, indent=1), flush=True)
        work = tmp_path / "work"
        work.mkdir()
        (work / "params.yaml").write_text((project / "params.yaml").read_text())  # no models/schema.json
        for size in [int(s) for s in args.sizes.split(",") if s]:
            reference, current = work / f"reference-{size}.csv", work / f"current-{size}.csv"
            write_csv(synthetic(size, seed=1, drifted=False), reference)
            write_csv(synthetic(size, seed=2, drifted=True), current)
            case = run_case(f"synthetic {size:,}", project, work, reference, current, "", evidently)
            results["cases"].append(case)
            if case["name"] in previous:
                case["previous_approach"] = previous[case["name"]]
            if size >= 1_000_000:
                case["targets"] = targets(case)
            print(json.dumps(case, indent=1), flush=True)
            reference.unlink()
            current.unlink()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["plain-evidently"]:
        plain_evidently(*sys.argv[2:7])
        sys.exit(0)
    sys.exit(main())
