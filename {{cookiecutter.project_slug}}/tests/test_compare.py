"""The pull-request report: metrics old/new/change with better/worse, changed params, charts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.compare import (
    MetricRow,
    build_report,
    compare_metrics,
    compare_params,
    roc_on_grid,
)

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def params_yaml(task: str, n_estimators: int = 100) -> str:
    primary = "f1" if task == "classification" else "rmse"
    return (
        f"data:\n  path: data/raw/x.csv\n  target: target\n  task: {task}\n"
        f"model:\n  family: random_forest\n  params:\n    n_estimators: {n_estimators}\n"
        f"evaluate:\n  primary_metric: {primary}\n"
    )


CLASSIFICATION_BASE = {
    "params.yaml": params_yaml("classification", 100),
    "metrics.json": json.dumps({"accuracy": 0.9, "f1": 0.91, "log_loss": 0.3, "roc_auc": 0.95}),
    "plots/roc.csv": "fpr,tpr\n0,0\n0.1,0.7\n0.4,0.9\n1,1\n",
    "plots/confusion.csv": "actual,predicted\na,a\na,b\nb,b\nb,b\n",
}
CLASSIFICATION_NEW = {
    "params.yaml": params_yaml("classification", 300),
    "metrics.json": json.dumps({"accuracy": 0.93, "f1": 0.9, "log_loss": 0.2, "roc_auc": 0.95}),
    "plots/roc.csv": "fpr,tpr\n0,0\n0.05,0.8\n0.3,0.95\n1,1\n",
    "plots/confusion.csv": "actual,predicted\na,a\na,a\nb,b\nb,a\n",
}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    git(tmp_path, "init", "-q", "-b", "main")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def commit(root: Path, files: dict[str, str], message: str = "base") -> None:
    write(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", message)


def test_verdict_follows_each_metrics_direction():
    assert MetricRow("f1", 0.8, 0.9).verdict == "better"
    assert MetricRow("f1", 0.9, 0.8).verdict == "worse"
    assert MetricRow("rmse", 5.0, 4.0).verdict == "better"
    assert MetricRow("log_loss", 0.2, 0.3).verdict == "worse"
    assert MetricRow("r2", 0.5, 0.5).verdict == "unchanged"
    assert MetricRow("mae", None, 3.0).verdict == "new"
    assert MetricRow("mae", 3.0, None).verdict == "removed"


def test_primary_metric_comes_first():
    rows = compare_metrics({"a": 1.0, "rmse": 2.0}, {"a": 1.0, "rmse": 1.0, "z": 0.0}, primary="rmse")
    assert [r.name for r in rows] == ["rmse", "a", "z"]
    assert rows[0].primary and rows[0].verdict == "better"


def test_changed_params_lists_changed_added_and_removed_keys():
    base = {"model.family": "linear", "model.params": {}, "split.seed": 1}
    new = {"model.family": "random_forest", "model.params.max_depth": 4, "split.seed": 1, "x": True}
    assert compare_params(base, new) == [
        ("model.family", "linear", "random_forest"),
        ("model.params.max_depth", None, 4),
        ("x", None, True),
    ]


def test_roc_is_resampled_on_an_even_grid_as_a_step_curve():
    import pandas as pd

    values = roc_on_grid(pd.DataFrame({"fpr": [0, 0.1, 0.4, 1], "tpr": [0, 0.7, 0.9, 1]}), points=11)
    assert len(values) == 11
    assert values[0] == 0 and values[1] == 0.7 and values[3] == 0.7 and values[4] == 0.9 and values[-1] == 1
    assert values == sorted(values)


def test_classification_report_has_every_metric_params_and_charts(repo: Path):
    commit(repo, CLASSIFICATION_BASE)
    write(repo, CLASSIFICATION_NEW)
    report = build_report("main")

    assert "| **f1** (primary)" in report
    assert "0.9100 | 0.9000 | ▼ -0.0100" in report and "🔴 worse" in report  # f1 went down
    assert "| log_loss <sub>lower is better</sub> | 0.3000 | 0.2000 | ▼ -0.1000" in report
    assert "🟢 better" in report  # log_loss went down: better
    assert "| roc_auc <sub>higher is better</sub> | 0.9500 | 0.9500 | = 0 | ⚪ unchanged |" in report
    assert "| `model.params.n_estimators` | 100 | 300 |" in report
    assert "```mermaid" in report and "xychart-beta" in report and 'title "ROC curve"' in report
    assert report.count("  line [") == 2  # base and this PR
    assert "| `a` | **2** (+1) | 0 (-1) |" in report  # confusion matrix with changes


def test_report_works_when_the_base_has_no_metrics_yet(repo: Path):
    commit(repo, {"params.yaml": params_yaml("classification")})
    write(repo, CLASSIFICATION_NEW)
    report = build_report("main", base_name="main")
    assert "has no `metrics.json` yet" in report
    assert report.count("🆕 new") == 4
    assert report.count("  line [") == 1  # only this PR's ROC curve


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
    report = build_report("main")
    assert "**rmse** (primary)" in report and "10.0000 | 9.0000 | ▼ -1.0000 (-10.0%) | 🟢 better" in report
    assert "#### Predicted vs actual" in report and "#### Residual distribution" in report
    assert report.count("```mermaid") == 2
    assert "  bar [" in report
    assert "No param changed." in report


def test_changed_data_is_listed(repo: Path):
    commit(repo, {**CLASSIFICATION_BASE, "data/raw/x.csv.dvc": "outs:\n- md5: aaa\n  path: x.csv\n"})
    write(repo, {**CLASSIFICATION_NEW, "data/raw/x.csv.dvc": "outs:\n- md5: bbb\n  path: x.csv\n"})
    assert "| `data/raw/x.csv` | `aaa` | `bbb` |" in build_report("main")


def test_cli_writes_the_report_and_explains_a_bad_base(repo: Path, capsys: pytest.CaptureFixture[str]):
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
