"""The generated project's model-quality check next to a plain pandas merge + Evidently, in one run.

Issue 16's target: on 1,000,000 logged predictions and 1,000,000 labels the quality command
stays within 20 s wall and 1.5 GB peak memory of the whole process tree.

Data: the default project (breast cancer, 30 numeric features, random forest), baked and trained.
ROWS records are drawn with replacement from its data and scored by the trained model (the label
of the highest probability, as the server does), then written as the server's log records
(prediction_id, request_id, timestamp, model_version, features, prediction, probabilities,
latency_ms) into 10 JSON-lines files of logs/predictions/YYYY/MM/DD/, one a day over the last
10 days. Labels: one CSV of ROWS rows: the true class of 95% of the predictions, 30% of them
wrong (a degraded model: the check fails, exit 1), and 5% of the rows are corrections (a second
label for an id already labelled, later in time; the latest counts).

Tools, each in a fresh child process (wall time, peak RSS of the process tree, sampled every
20 ms, and the largest single-process peak from wait4):
- the quality command (`python -m <package> quality`: pyarrow reads and joins all rows, Evidently
  runs once on a seeded sample of `quality.sample_rows`, report.html included, labelled.csv of
  all joined rows written);
- plain: what a user would write without it: `pd.read_json(lines=True)` per log file,
  `pd.json_normalize`, `pd.read_csv` of the labels, `drop_duplicates` + `merge`, then Evidently's
  ClassificationPreset on ALL joined rows and `save_html` (`python bench_quality.py plain ...`).
Both report accuracy, F1, precision, recall, ROC AUC and log loss; the result lists the
difference per metric (the command's comes from its sample).

Run from the repository root with the test venv: `python -m benchmarks.bench_quality`
(about 5 minutes, most of it writing the data and the plain run). Writes
benchmarks/results/quality.json and prints a Markdown table. `--rows 100000` for a quick run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks.common import measure
from template_support.project import TEMPLATE as ROOT
from template_support.project import bake, project_env

RESULTS = ROOT / "benchmarks" / "results"
TARGET_WALL_S, TARGET_TREE_MB = 20.0, 1536
NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)  # the end of the look-back window (--now)
DAYS, LABELLED, WRONG, CORRECTIONS = 10, 0.95, 0.30, 0.05
METRICS = {  # summary.json's names: Evidently's metric types
    "accuracy": "Accuracy",
    "f1": "F1Score",
    "precision": "Precision",
    "recall": "Recall",
    "roc_auc": "RocAuc",
    "log_loss": "LogLoss",
}


def plain(logs: str, labels: str, reference: str, html: str, out: str) -> None:
    """The baseline a user would write: pandas reads and merges everything, Evidently's
    ClassificationPreset runs on all joined rows (child process)."""
    import pandas as pd
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset

    frames = [pd.read_json(file, lines=True, dtype=False) for file in sorted(Path(logs).rglob("*.jsonl"))]
    records = pd.concat(frames, ignore_index=True)
    probabilities = pd.json_normalize(records["probabilities"].tolist())
    features = pd.json_normalize(records["features"].tolist())
    predictions = pd.concat([records[["prediction_id", "prediction"]], probabilities, features], axis=1)
    truth = pd.read_csv(labels, dtype={"prediction_id": str, "label": str})
    truth = truth.sort_values("timestamp", kind="stable").drop_duplicates("prediction_id", keep="last")
    joined = predictions.merge(truth[["prediction_id", "label"]], on="prediction_id")
    current = joined.rename(columns={"label": "target"})[["target", "prediction", "0", "1"]]
    current[["target", "prediction"]] = current[["target", "prediction"]].astype(str)
    test = pd.read_csv(reference, dtype={"target": str, "prediction": str})
    definition = DataDefinition(
        classification=[
            BinaryClassification(
                target="target", prediction_labels="prediction", prediction_probas="1", pos_label="1"
            )
        ],
        categorical_columns=["target", "prediction"],
        numerical_columns=["0", "1"],
    )
    snapshot = Report([ClassificationPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(test, data_definition=definition),
    )
    snapshot.save_html(html)
    names = {kind: name for name, kind in METRICS.items()}
    values = {}
    for metric in snapshot.dict()["metrics"]:
        name = names.get(metric["config"]["type"].rsplit(":", 1)[-1])
        if name:
            values[name] = float(metric["value"])
    Path(out).write_text(json.dumps({"labelled": len(joined), "metrics": values}))


def trained_project(tmp: Path) -> tuple[Path, str, dict[str, str]]:
    project = bake(tmp)
    package = next((project / "src").iterdir()).name
    env = project_env(project)
    env["DO_NOT_TRACK"] = "1"
    for command in ("sample-data", "prepare", "train", "evaluate"):
        subprocess.run(
            [sys.executable, "-m", package, command], cwd=project, env=env, check=True, capture_output=True
        )
    return project, package, env


def write_data(project: Path, package: str, rows: int) -> dict[str, int]:
    """The prediction logs and the labels of the docstring, in the project's default folders."""
    sys.path.insert(0, str(project / "src"))
    import pandas as pd

    features_module = __import__(f"{package}.features", fromlist=["load_schema"])
    io_module = __import__(f"{package}.io", fromlist=["read_model"])
    data = pd.read_csv(project / "data/raw/breast_cancer.csv")
    schema = features_module.load_schema(project / "models/schema.json")
    model = io_module.read_model(project / "models/model.skops")
    rng = np.random.default_rng(7)
    sample = data.iloc[rng.integers(0, len(data), rows)].reset_index(drop=True)
    probabilities = model.predict_proba(features_module.to_model_frame(sample, schema))
    classes = np.array([str(c) for c in model.classes_], dtype=object)
    ids = np.array([uuid.UUID(int=int(x)).hex for x in rng.integers(0, 2**63, rows)], dtype=object)
    features = sample.drop(columns=["target"]).to_dict(orient="records")
    start = NOW - timedelta(days=DAYS)
    seconds = np.sort(rng.uniform(0, DAYS * 86400 - 60, rows))
    per_day = np.array_split(np.arange(rows), DAYS)
    for day, chunk in enumerate(per_day):
        moment = start + timedelta(days=day)
        folder = project / "logs/predictions" / moment.strftime("%Y/%m/%d")
        folder.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(
            {
                "prediction_id": ids[chunk],
                "request_id": ids[chunk],
                "timestamp": [(start + timedelta(seconds=float(s))).isoformat() for s in seconds[chunk]],
                "model_version": "bench",
                "image_digest": None,
                "git_commit": None,
                "features": [features[i] for i in chunk],
                "prediction": classes[probabilities[chunk].argmax(axis=1)],
                "probabilities": [dict(zip(classes, p, strict=True)) for p in probabilities[chunk].tolist()],
                "latency_ms": 1.5,
            }
        )
        frame.to_json(folder / f"bench-{day:02d}.jsonl", orient="records", lines=True)
    truth = sample["target"].astype(str).to_numpy().astype(object)
    labelled = rng.permutation(rows)[: int(rows * LABELLED)]
    wrong = rng.random(len(labelled)) < WRONG
    labels = truth[labelled]
    labels[wrong] = np.where(labels[wrong] == "1", "0", "1")
    corrected = labelled[: rows - len(labelled)]  # a second, later label (the true class)
    label_ids = np.concatenate([ids[labelled], ids[corrected]])
    label_values = np.concatenate([labels, truth[corrected]])
    times = [NOW - timedelta(hours=2)] * len(labelled) + [NOW - timedelta(hours=1)] * len(corrected)
    (project / "logs/labels").mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {"prediction_id": label_ids, "label": label_values, "timestamp": [t.isoformat() for t in times]}
    )
    frame.to_csv(project / "logs/labels/labels.csv", index=False)
    size = sum(f.stat().st_size for f in (project / "logs").rglob("*") if f.is_file())
    return {"predictions": rows, "labels": len(frame), "files_mb": round(size / 2**20)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="logged predictions (and label rows)")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain pandas + Evidently run")
    parser.add_argument("--out", default=str(RESULTS / "quality.json"), help="where to write the JSON")
    args = parser.parse_args()
    results: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        project, package, env = trained_project(Path(tmp) / "bake")
        # In a child process: a parent holding the data would inflate the children's peak RSS
        # (Linux carries the forked parent's high-water mark across exec into ru_maxrss).
        writer = [sys.executable, "-m", "benchmarks.bench_quality", "write-data", str(project), package]
        done = subprocess.run([*writer, str(args.rows)], cwd=ROOT, capture_output=True, text=True, check=True)
        results["data"] = json.loads(done.stdout)
        print(json.dumps(results, indent=1), flush=True)
        command = [sys.executable, "-m", package, "quality", "--now", NOW.isoformat()]
        ours = measure(command, project, env)
        summary = json.loads((project / "reports/quality/summary.json").read_text())
        ours.update(
            verdict=summary["verdict"],
            counts=summary["counts"],
            metrics={name: result["value"] for name, result in summary["metrics"].items()},
            sampled_rows=summary["sampling"]["report_rows"],
            html_mb=round((project / "reports/quality/report.html").stat().st_size / 2**20, 1),
            labelled_csv_mb=round((project / "reports/quality/labelled.csv").stat().st_size / 2**20),
        )
        results["quality_command"] = ours
        print(json.dumps(ours, indent=1), flush=True)
        if not args.no_plain:
            out = Path(tmp) / "plain.json"
            logs, labels = str(project / "logs/predictions"), str(project / "logs/labels/labels.csv")
            reference = str(project / "models/reference_predictions.csv")
            plain_command = [
                sys.executable,
                "-m",
                "benchmarks.bench_quality",
                "plain",
                logs,
                labels,
                reference,
            ]
            baseline = measure(
                [*plain_command, str(Path(tmp) / "plain.html"), str(out)],
                ROOT,
                env | {"PYTHONPATH": str(ROOT)},
            )
            if baseline["exit_code"] == 0:
                baseline.update(json.loads(out.read_text()))
                baseline["metric_difference"] = {
                    name: round(ours["metrics"][name] - value, 6)
                    for name, value in baseline["metrics"].items()
                }
            results["plain_pandas_evidently"] = baseline
            print(json.dumps(baseline, indent=1), flush=True)
    results["targets"] = {
        "wall_at_most_20_s": ours["wall_s"] <= TARGET_WALL_S,
        "tree_memory_at_most_1_5_gb": ours["peak_tree_rss_mb"] <= TARGET_TREE_MB,
    }
    for tool in ("quality_command", "plain_pandas_evidently"):
        if tool in results:
            results[tool] = {k: v for k, v in results[tool].items() if k not in ("stdout", "stderr") or v}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    lines = [
        f"Quality check vs plain pandas + Evidently ({results['machine']}, load average at start "
        f"{results['load_average']}; {results['data']['predictions']:,} predictions, "
        f"{results['data']['labels']:,} labels, {results['data']['files_mb']} MB of files)",
        "",
        "| tool | wall (s) | CPU (s) | peak RSS, process tree (MB) | exit | accuracy | f1 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for tool in ("quality_command", "plain_pandas_evidently"):
        r = results.get(tool)
        if r:
            metrics = r.get("metrics", {})
            cells = [f"{metrics[name]:.4f}" if name in metrics else "-" for name in ("accuracy", "f1")]
            lines.append(
                f"| {tool.replace('_', ' ')} | {r['wall_s']} | {r['cpu_s']} | {r['peak_tree_rss_mb']} | "
                f"{r['exit_code']} | {' | '.join(cells)} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["plain"]:
        plain(*sys.argv[2:7])
        sys.exit(0)
    if sys.argv[1:2] == ["write-data"]:
        print(json.dumps(write_data(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))))
        sys.exit(0)
    sys.exit(main())
