"""The pull-request report: DVC's metrics/params/data diffs as tables with better/worse, and
charts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import auc, roc_auc_score, roc_curve

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.compare import (
    MetricRow,
    build_report,
    retrain_pull_request,
    roc_cells,
)
from {{ cookiecutter.package_name }}.config import parse_params

# Left out of `make test-quick` (git pre-push): git and DVC in subprocesses. `make test` and CI
# run it.
pytestmark = pytest.mark.slow

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
DVC_YAML = """stages:
  evaluate:
    cmd: python -m whatever
    params: [data, model]
    metrics:
      - metrics.json:
          cache: false
"""


def run(root: Path, *args: str) -> str:
    return subprocess.run(args, cwd=root, check=True, capture_output=True, text=True).stdout


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def params_yaml(task: str, n_estimators: int = 100, **extra: int) -> str:
    primary = "f1" if task == "classification" else "rmse"
    return yaml.safe_dump(
        {
            "data": {"path": "data/raw/x.csv", "target": "target", "task": task},
            "model": {"family": "random_forest", "params": {"n_estimators": n_estimators, **extra}},
            "evaluate": {"primary_metric": primary},
        }
    )


CLASSIFICATION_BASE = {
    "params.yaml": params_yaml("classification", 100),
    "metrics.json": json.dumps({"accuracy": 0.9, "f1": 0.91, "log_loss": 0.3, "roc_auc": 0.95}),
    "plots/roc.csv": "fpr,tpr\n0,0\n0.1,0.7\n0.4,0.9\n1,1\n",
    "plots/confusion.csv": "actual,predicted\na,a\na,b\nb,b\nb,b\n",
}
CLASSIFICATION_NEW = {
    "params.yaml": params_yaml("classification", 300, max_depth=4),
    "metrics.json": json.dumps({"accuracy": 0.93, "f1": 0.9, "log_loss": 0.2, "roc_auc": 0.95}),
    "plots/roc.csv": "fpr,tpr\n0,0\n0.05,0.8\n0.3,0.95\n1,1\n",
    "plots/confusion.csv": "actual,predicted\na,a\na,a\nb,b\nb,a\n",
}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    run(tmp_path, "git", "init", "-q", "-b", "main")
    run(tmp_path, sys.executable, "-m", "dvc", "init", "-q")
    write(tmp_path, {"dvc.yaml": DVC_YAML})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def commit(root: Path, files: dict[str, str], message: str = "base") -> None:
    write(root, files)
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-q", "--no-verify", "-m", message)


def series(report: str) -> list[list[float]]:
    return [
        [float(v) for v in line.split("[", 1)[1].rstrip("]").split(", ")]
        for line in re.findall(r"  line \[.*", report)
    ]


def test_verdict_follows_each_metrics_direction():
    assert MetricRow("f1", 0.8, 0.9).verdict == "better"
    assert MetricRow("f1", 0.9, 0.8).verdict == "worse"
    assert MetricRow("rmse", 5.0, 4.0).verdict == "better"
    assert MetricRow("log_loss", 0.2, 0.3).verdict == "worse"
    assert MetricRow("r2", 0.5, 0.5).verdict == "unchanged"
    assert MetricRow("mae", None, 3.0).verdict == "new"
    assert MetricRow("mae", 3.0, None).verdict == "removed"


def test_classification_report_has_every_metric_params_and_charts(repo: Path):
    commit(repo, CLASSIFICATION_BASE)
    write(repo, CLASSIFICATION_NEW)
    report = build_report("main", primary="f1")

    # The primary metric first.
    assert report.index("| **f1** (primary)") < report.index("| accuracy")
    assert "0.9100 | 0.9000 | ▼ -0.0100" in report and "🔴 worse" in report  # f1 went down
    assert "| log_loss <sub>lower is better</sub> | 0.3000 | 0.2000 | ▼ -0.1000" in report
    assert "🟢 better" in report  # log_loss went down: better
    assert (
        "| roc_auc <sub>higher is better</sub> | 0.9500 | 0.9500 | = 0 | ⚪ unchanged |" in report
    )
    assert "| `model.params.n_estimators` | 100 | 300 |" in report
    assert "| `model.params.max_depth` | — | 4 |" in report  # added
    assert "```mermaid" in report and "xychart-beta" in report and 'title "ROC curve' in report
    assert len(series(report)) == 2  # base and this PR
    assert "| `a` | **2** (+1) | 0 (-1) |" in report  # confusion matrix with changes


def test_report_works_when_the_base_has_no_metrics_yet(repo: Path):
    commit(repo, {"params.yaml": params_yaml("classification")})
    write(repo, CLASSIFICATION_NEW)
    report = build_report("main", base_name="main", primary="f1")
    assert "has no `metrics.json` yet" in report
    assert report.count("🆕 new") == 4
    assert len(series(report)) == 1  # only this PR's ROC curve


def test_roc_cells_average_to_the_auc():
    frame = pd.DataFrame({"fpr": [0, 0, 0.1, 0.4, 0.4, 1], "tpr": [0, 0.3, 0.7, 0.9, 0.95, 1]})
    values = roc_cells(frame, cells=10)
    assert len(values) == 10 and values == sorted(values)
    assert np.mean(values) == pytest.approx(auc(frame["fpr"], frame["tpr"]))


def test_a_changed_auc_always_changes_the_roc_chart(repo: Path):
    """roc_auc 0.9937 -> 0.9922 once drew two identical curves: now the plotted values differ, and
    each line's mean is its AUC."""
    rng = np.random.default_rng(0)
    actual = rng.integers(0, 2, 114)
    score = np.clip(actual * 0.6 + rng.normal(0.2, 0.17, 114), 0, 1)
    moved = score.copy()
    moved[np.flatnonzero(actual == 1)[:2]] -= 0.2  # two positives scored a little lower
    aucs = []
    for scores, files in ((score, {}), (moved, {})):
        fpr, tpr, _ = roc_curve(actual, scores)
        aucs.append(roc_auc_score(actual, scores))
        files.update(
            {
                "params.yaml": params_yaml("classification"),
                "metrics.json": json.dumps({"roc_auc": aucs[-1]}),
                "plots/roc.csv": pd.DataFrame({"fpr": fpr, "tpr": tpr}).to_csv(index=False),
            }
        )
        if len(aucs) == 1:
            commit(repo, files)
        else:
            write(repo, files)
    assert aucs[0] != aucs[1] and abs(aucs[0] - aucs[1]) < 0.005
    report = build_report("main", primary="f1")
    base, new = series(report)
    assert base != new
    assert np.mean(base) == pytest.approx(aucs[0], abs=1e-3) and np.mean(new) == pytest.approx(
        aucs[1], abs=1e-3
    )
    assert f"roc_auc main {aucs[0]:.4f} → {aucs[1]:.4f}" in report  # the title says it too


def test_regression_report_charts_predictions_and_residuals(repo: Path):
    rows = "\n".join(f"{a},{a * 0.9 + 1}" for a in range(0, 100, 7))
    residuals = "\n".join(f"{a * 0.9 + 1},{a * 0.1 - 1}" for a in range(0, 100, 7))
    commit(
        repo,
        {
            "params.yaml": params_yaml("regression"),
            "metrics.json": json.dumps({"r2": 0.5, "rmse": 10.0, "mae": 8.0}),
            "plots/predictions.csv": f"actual,predicted\n{rows}\n",
            "plots/residuals.csv": f"predicted,residual\n{residuals}\n",
        },
    )
    write(repo, {"metrics.json": json.dumps({"r2": 0.6, "rmse": 9.0, "mae": 8.0})})
    report = build_report("main", primary="rmse")
    assert (
        "**rmse** (primary)" in report
        and "10.0000 | 9.0000 | ▼ -1.0000 (-10.0%) | 🟢 better" in report
    )
    assert "#### Predicted vs actual" in report and "#### Residual distribution" in report
    assert report.count("```mermaid") == 2
    assert "  bar [" in report
    assert "No param changed." in report


def test_changed_data_is_listed(repo: Path):
    write(repo, {"data/raw/x.csv": "a,b\n1,2\n"})
    run(repo, sys.executable, "-m", "dvc", "add", "-q", "data/raw/x.csv")
    commit(repo, CLASSIFICATION_BASE)
    old = yaml.safe_load((repo / "data/raw/x.csv.dvc").read_text())["outs"][0]["md5"]
    write(repo, {**CLASSIFICATION_NEW, "data/raw/x.csv": "a,b\n1,3\n"})
    run(repo, sys.executable, "-m", "dvc", "add", "-q", "data/raw/x.csv")
    new = yaml.safe_load((repo / "data/raw/x.csv.dvc").read_text())["outs"][0]["md5"]
    assert f"| `data/raw/x.csv` | modified | `{old}` | `{new}` |" in build_report(
        "main", primary="f1"
    )


def test_cli_writes_the_report_and_explains_a_bad_base(
    repo: Path, capsys: pytest.CaptureFixture[str]
):
    commit(repo, CLASSIFICATION_BASE)
    write(repo, CLASSIFICATION_NEW)
    assert main(["compare", "--base", "main", "--output", "report.md"]) == 0
    assert "## Model report" in (repo / "report.md").read_text()
    assert main(["compare", "--base", "no-such-branch"]) == 2
    assert "base revision 'no-such-branch' is not in this git repository" in capsys.readouterr().err


def test_missing_new_metrics_is_an_error(repo: Path, capsys: pytest.CaptureFixture[str]):
    commit(repo, CLASSIFICATION_BASE)
    (repo / "metrics.json").unlink()
    assert main(["compare", "--base", "main"]) == 2
    assert "run `make repro` first" in capsys.readouterr().err


@pytest.mark.parametrize(("new_f1", "worse"), [(0.80, True), (0.95, False)])
def test_retraining_pull_request_says_when_the_model_is_worse(
    repo: Path, new_f1, worse, capsys: pytest.CaptureFixture[str]
):
    commit(
        repo,
        {"params.yaml": params_yaml("classification"), "metrics.json": json.dumps({"f1": 0.9})},
    )
    write(repo, {"metrics.json": json.dumps({"f1": new_f1})})
    write(repo, {"reports/drift/summary.md": "### Data drift check: **drift detected**\n"})
    assert main(["retrain-pr", "--base", "HEAD", "--run-url", "https://example.com/run/1"]) == 0
    title = capsys.readouterr().out.strip()
    body = (repo / "reports/drift/pr-body.md").read_text()
    assert ("WORSE than main on f1" in title) is worse
    assert ("[!WARNING]" in body) is worse
    assert f"f1 0.9000 → {new_f1:.4f}" in title
    assert (
        "### Data drift check: **drift detected**" in body and "https://example.com/run/1" in body
    )
    assert "### Metrics" in body
    params = parse_params(yaml.safe_load(params_yaml("classification")))
    assert retrain_pull_request(params, "HEAD", "main", None, summaries=[])[0] == title


def test_retraining_on_production_rows_shows_the_quality_summary_and_the_new_data_version(
    repo: Path, capsys: pytest.CaptureFixture[str]
):
    write(repo, {"data/production/labelled.csv": ""})
    run(repo, sys.executable, "-m", "dvc", "add", "-q", "data/production/labelled.csv")
    commit(repo, CLASSIFICATION_BASE)
    rows = "x,target,prediction_id\n1,0,a1\n2,1,b2\n3,1,c3\n"
    write(repo, {**CLASSIFICATION_NEW, "data/production/labelled.csv": rows})
    run(repo, sys.executable, "-m", "dvc", "add", "-q", "data/production/labelled.csv")
    new = yaml.safe_load((repo / "data/production/labelled.csv.dvc").read_text())["outs"][0]
    write(
        repo,
        {
            "reports/quality/summary.md": "### Model quality: **below threshold**\n",
            "reports/drift/summary.md": "### Data drift check: **no drift**\n",
        },
    )
    assert main(["retrain-pr", "--base", "HEAD", "--trigger", "quality"]) == 0
    title = capsys.readouterr().out.strip()
    body = (repo / "reports/drift/pr-body.md").read_text()
    assert title.startswith("Retrain on labelled production data (quality below threshold): ")
    version = (
        "`data/production/labelled.csv` (labelled production rows, one per prediction id): "
        f"md5 `d41d8cd98f00b204e9800998ecf8427e` in `main` → `{new['md5']}`, 3 rows."
    )
    assert version in body
    # The quality summary, then the drift summary, then the model report.
    order = ["## Retraining on labelled production data", version, "**below threshold**"]
    order += ["**no drift**", "### Metrics"]
    assert [body.index(part) for part in order] == sorted(body.index(part) for part in order)
