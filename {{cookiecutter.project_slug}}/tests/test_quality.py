"""The model-quality check: the join of prediction logs and labels (window, duplicates,
coverage), the metrics against scikit-learn's, the report against the summary, the thresholds,
the exit codes and the errors."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn import metrics as skm

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.config import parse_params
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.paths import METRICS_FILE, REFERENCE_PREDICTIONS_FILE
from {{ cookiecutter.package_name }}.traffic import labels, send

from conftest import make_params

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CLASSES = {"binary": ["no", "yes"], "multiclass": ["a", "b", "c"]}
OUT = Path("reports/quality")


def scores(kind: str, rows: int, rng: np.random.Generator, wrong: float = 0.0) -> pd.DataFrame:
    """Rows of target, prediction (and one probability column per class) of a fair model:
    the target drawn from the predicted probabilities; ``wrong``: that share of targets
    replaced by another class (or value)."""
    if kind == "regression":
        prediction = rng.normal(50, 10, rows)
        target = prediction + rng.normal(0, 5, rows)
        flip = rng.random(rows) < wrong
        target[flip] = rng.permutation(target[flip]) + 30
        return pd.DataFrame({"target": target, "prediction": prediction})
    classes = CLASSES[kind]
    probabilities = rng.dirichlet(np.ones(len(classes)) * 0.6, rows)
    target = np.array([rng.choice(classes, p=p) for p in probabilities], dtype=object)
    flip = rng.random(rows) < wrong
    target[flip] = [rng.choice([c for c in classes if c != t]) for t in target[flip]]
    predicted = np.array(classes)[probabilities.argmax(axis=1)]
    frame = pd.DataFrame({"target": target, "prediction": predicted})
    return pd.concat([frame, pd.DataFrame(probabilities, columns=classes)], axis=1)


def log_lines(frame: pd.DataFrame, times: list[datetime], ids: list[str]) -> list[dict]:
    """The server's log records (features, prediction, probabilities) of ``frame``'s rows."""
    lines = []
    classes = [c for c in frame.columns if c not in ("target", "prediction", "prediction_id")]
    for i, row in enumerate(frame.itertuples(index=False)):
        record = {
            "prediction_id": ids[i],
            "request_id": ids[i],
            "timestamp": times[i].isoformat(),
            "model_version": "test",
            "features": {"x1": i * 0.5, "colour": ["red", "blue"][i % 2]},
            "prediction": row.prediction,
            "latency_ms": 1.0,
        }
        if classes:
            record["probabilities"] = {c: float(frame[c].iloc[i]) for c in classes}
        lines.append(record)
    return lines


def write_lines(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")


def project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str = "binary",
    rows: int = 400,
    wrong: float = 0.0,
    seed: int = 0,
    **quality,
) -> pd.DataFrame:
    """A project folder (the current directory) with params.yaml, the reference, metrics.json,
    ``rows`` logged predictions of the last days and a label for each; returns the logged rows
    (with prediction_id)."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(seed)
    task = "regression" if kind == "regression" else "classification"
    raw = make_params(task)
    raw["quality"] = {"predictions": "logs", "labels": "labels", "min_labelled_rows": 50, **quality}
    Path("params.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    reference = scores(kind, 300, rng)
    REFERENCE_PREDICTIONS_FILE.parent.mkdir(parents=True)
    reference.to_csv(REFERENCE_PREDICTIONS_FILE, index=False)
    committed = {"accuracy": 0.8, "f1": 0.8, "roc_auc": 0.85, "r2": 0.7, "rmse": 5.0}
    METRICS_FILE.write_text(json.dumps(committed))
    logged = scores(kind, rows, rng, wrong)
    logged["prediction_id"] = [uuid.UUID(int=int(rng.integers(2**62))).hex for _ in range(rows)]
    times = [NOW - timedelta(hours=rows - i) for i in range(rows)]
    records = log_lines(logged, times, list(logged.prediction_id))
    write_lines(Path("logs/2025/03/01/host-1.jsonl"), records)
    labels = pd.DataFrame({"prediction_id": logged.prediction_id, "label": logged.target})
    Path("labels").mkdir()
    labels.to_csv("labels/labels.csv", index=False)
    return logged


def run(*args: str) -> tuple[int, dict]:
    code = main(["quality", "--now", NOW.isoformat(), *args])
    return code, json.loads((OUT / "summary.json").read_text())


def sklearn_scores(kind: str, frame: pd.DataFrame) -> dict[str, float]:
    y, predicted = frame["target"], frame["prediction"]
    if kind == "regression":
        return {
            "r2": skm.r2_score(y, predicted),
            "rmse": skm.root_mean_squared_error(y, predicted),
            "mae": skm.mean_absolute_error(y, predicted),
        }
    classes = CLASSES[kind]
    probabilities = frame[classes].to_numpy()
    average = {"pos_label": classes[-1]} if kind == "binary" else {"average": "macro"}
    onehot = (y.to_numpy()[:, None] == np.array(classes)).astype(int)
    if kind == "binary":  # the positive class's probability, as evaluate.py
        roc_auc = skm.roc_auc_score(onehot[:, -1], probabilities[:, -1])
    else:  # one-vs-rest, macro average
        roc_auc = skm.roc_auc_score(onehot, probabilities)
    return {
        "accuracy": skm.accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted, **average),
        "recall": skm.recall_score(y, predicted, **average),
        "f1": skm.f1_score(y, predicted, **average),
        "roc_auc": roc_auc,
        "log_loss": skm.log_loss(y, probabilities, labels=classes),
    }


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_metrics_equal_scikit_learns_on_the_joined_rows(tmp_path, monkeypatch, kind):
    logged = project(tmp_path, monkeypatch, kind)
    code, summary = run("--no-html")
    assert code == 0 and summary["verdict"] == "pass"
    assert summary["counts"]["labelled"] == len(logged) == summary["sampling"]["report_rows"]
    values = {name: result["value"] for name, result in summary["metrics"].items()}
    assert values == pytest.approx(sklearn_scores(kind, logged), abs=1e-6)


def html_counters(html: str) -> dict[str, float]:
    """The first value Evidently's report shows for each label ("Accuracy": "0.77")."""
    found: dict[str, float] = {}
    for value, label in re.findall(r'\{"value": "([0-9.]+)", "label": "([^"]+)"\}', html):
        found.setdefault(label, float(value))
    return found


@pytest.mark.slow
def test_report_html_and_summary_json_agree(tmp_path, monkeypatch):
    """One Evidently run: the HTML shows summary.json's values and the thresholds' verdicts."""
    thresholds = {"accuracy": {"min": 0.99}, "f1": {"max_drop": 0.5}, "log_loss": {"max": 5}}
    project(tmp_path, monkeypatch, "binary", thresholds=thresholds)
    code, summary = run()
    html = (OUT / "report.html").read_text(encoding="utf-8")
    assert summary["report"] == str(OUT / "report.html")
    counters = html_counters(html)
    names = {"Accuracy": "accuracy", "Precision": "precision", "Recall": "recall", "F1": "f1"}
    names |= {"ROC AUC": "roc_auc", "LogLoss": "log_loss"}
    for label, name in names.items():
        assert counters[label] == pytest.approx(summary["metrics"][name]["value"], abs=5e-4), name
    states = dict(re.findall(r'"title": "([^"]+)", "description": "[^"]*", "state": "(\w+)"', html))
    metric = {"accuracy": "Accuracy", "f1": "F1 score", "log_loss": "LogLoss"}
    shown = {}
    for name in thresholds:
        result = summary["metrics"][name]
        comparison = "Less or Equal" if name == "log_loss" else "Greater or Equal"
        title = next(t for t in states if t.endswith(f"{comparison} {result['bound']:.3f}"))
        assert title.split(" metric:")[0] in metric.values()
        shown[name] = states[title] == "success"
        assert shown[name] is result["passed"], name
    assert len(states) == len(thresholds)  # Evidently's own automatic tests are off
    assert summary["failed_metrics"] == ["accuracy"] and code == 1
    assert shown == {"accuracy": False, "f1": True, "log_loss": True}


@pytest.mark.slow
def test_degraded_labels_fail_the_check_and_the_summary_names_the_metric(
    tmp_path, monkeypatch, capsys
):
    project(tmp_path, monkeypatch, "binary", wrong=0.3, thresholds={"accuracy": {"max_drop": 0.1}})
    code, summary = run("--no-html")
    assert code == 1 and summary["verdict"] == "fail" and summary["failed_metrics"] == ["accuracy"]
    assert summary["metrics"]["accuracy"]["bound"] == pytest.approx(0.7)
    assert summary["metrics"]["accuracy"]["committed"] == 0.8
    assert summary["metrics"]["accuracy"]["value"] < 0.7
    assert "QUALITY FAILED: accuracy" in capsys.readouterr().out
    markdown = (OUT / "summary.md").read_text()
    assert "**failed**" in markdown and "| accuracy |" in markdown
    assert not (OUT / "report.html").exists()


def test_too_few_labels_is_a_notice_with_the_counts_and_exit_0(tmp_path, monkeypatch, capsys):
    project(tmp_path, monkeypatch, rows=120, min_labelled_rows=200)
    (OUT / "report.html").parent.mkdir(parents=True)
    (OUT / "report.html").write_text("an earlier run's")
    code, summary = run()
    out = capsys.readouterr().out
    assert code == 0 and summary["verdict"] == "not_enough_labels" and summary["exit_code"] == 0
    assert "not enough labels: 120 labelled of 120 predictions in the window" in out
    assert "min_labelled_rows is 200" in out
    assert summary["metrics"] == {} and not (OUT / "report.html").exists()
    assert len(pd.read_csv(OUT / "labelled.csv")) == 120


def test_only_predictions_in_the_window_count(tmp_path, monkeypatch):
    """400 hourly predictions up to NOW; a 10-day window holds the last 240 of them."""
    logged = project(tmp_path, monkeypatch, rows=400, window_days=10, min_labelled_rows=1000)
    code, summary = run()
    counts = summary["counts"]
    assert code == 0 and counts["logged"] == 400 and counts["in_window"] == 240
    assert counts["labels"] == 400 and counts["labelled"] == 240 and counts["coverage"] == 1.0
    assert summary["window_start"] == (NOW - timedelta(days=10)).isoformat()
    rows = pd.read_csv(OUT / "labelled.csv")
    assert list(rows.prediction_id) == list(logged.prediction_id[-240:])


def test_duplicate_ids_count_once_and_the_latest_label_wins(tmp_path, monkeypatch):
    logged = project(tmp_path, monkeypatch, rows=100, min_labelled_rows=1000)
    first = logged.iloc[0]
    # The same log file shipped twice, and two labels for the first prediction: the later one
    # (by timestamp, though written first) counts.
    Path("logs/copy.jsonl").write_text(Path("logs/2025/03/01/host-1.jsonl").read_text())
    corrections = pd.DataFrame(
        {
            "prediction_id": [first.prediction_id, first.prediction_id],
            "label": ["corrected", "stale"],
            "timestamp": ["2025-03-01T10:00:00Z", "2025-03-01T09:00:00Z"],
        }
    )
    corrections.to_csv("labels/more.csv", index=False)
    code, summary = run()
    counts = summary["counts"]
    assert code == 0 and counts["logged"] == 200 and counts["duplicate_predictions"] == 100
    assert counts["in_window"] == 100 and counts["labels"] == 102
    assert counts["duplicate_labels"] == 2 and counts["labelled"] == 100
    rows = pd.read_csv(OUT / "labelled.csv")
    assert rows.prediction_id.is_unique and len(rows) == 100
    assert rows.set_index("prediction_id").loc[first.prediction_id, "label"] == "corrected"


def test_labelled_rows_are_training_rows(tmp_path, monkeypatch):
    """Features as columns, the label under data.target, the id; JSON-lines labels too."""
    logged = project(tmp_path, monkeypatch, rows=60, min_labelled_rows=1000)
    Path("labels/labels.csv").unlink()
    labels = logged[["prediction_id", "target"]].rename(columns={"target": "label"})
    write_lines(Path("labels/2025/labels.jsonl"), labels.iloc[:30].to_dict(orient="records"))
    assert run()[0] == 0
    rows = pd.read_csv(OUT / "labelled.csv")
    assert list(rows.columns) == ["x1", "colour", "label", "prediction_id"]  # data.target: label
    expected = logged.iloc[:30].reset_index(drop=True)
    assert list(rows.label) == list(expected.target)
    assert list(rows.prediction_id) == list(expected.prediction_id)
    assert rows.x1.tolist() == [i * 0.5 for i in range(30)]


def test_values_that_change_type_are_read_as_text(tmp_path, monkeypatch):
    logged = project(tmp_path, monkeypatch, rows=20, min_labelled_rows=1000)
    lines = Path("logs/2025/03/01/host-1.jsonl").read_text().splitlines()
    odd = json.loads(lines[3])
    odd["features"]["x1"] = "1.5 cm"  # a number elsewhere in the file
    lines[3] = json.dumps(odd)
    Path("logs/2025/03/01/host-1.jsonl").write_text("\n".join(lines) + "\n")
    assert run()[0] == 0
    rows = pd.read_csv(OUT / "labelled.csv")
    assert len(rows) == len(logged) and rows.x1[3] == "1.5 cm"


def test_logs_without_prediction_id_are_an_error_that_says_why(tmp_path, monkeypatch, capsys):
    project(tmp_path, monkeypatch, rows=20)
    path = Path("logs/2025/03/01/host-1.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    write_lines(path, [{k: v for k, v in r.items() if k != "prediction_id"} for r in records])
    code, summary = run()
    assert code == 2 and summary["verdict"] == "error"
    assert "have no prediction_id" in capsys.readouterr().err
    assert not (OUT / "labelled.csv").exists()


def test_a_labels_file_without_its_columns_is_an_error(tmp_path, monkeypatch, capsys):
    project(tmp_path, monkeypatch, rows=20)
    Path("labels/labels.csv").write_text("id,truth\na,1\n")
    code, _ = run()
    assert code == 2
    assert "has no prediction_id or label column" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ({"rmse": {"max": 3}}, "quality.thresholds.rmse: 'rmse' is not a classification metric"),
        ({"accuracy": {"max": 0.9}}, "quality.thresholds.accuracy.max: higher accuracy is better"),
        ({"log_loss": {"min": 0.1}}, "quality.thresholds.log_loss.min: lower log_loss is better"),
        ({"f1": {}}, "quality.thresholds.f1 sets no bound: give min and/or max_drop"),
        ({"f1": {"max_drop": -1}}, "quality.thresholds.f1.max_drop: Input should be greater"),
        ({"f1": {"floor": 0.5}}, "quality.thresholds.f1.floor: unknown key"),
    ],
)
def test_bad_thresholds_name_the_key_and_the_fix(thresholds, message):
    raw = make_params("classification")
    raw["quality"] = {"thresholds": thresholds}
    with pytest.raises(UserError, match=re.escape(message)):
        parse_params(raw)


def test_max_drop_needs_the_committed_metric(tmp_path, monkeypatch, capsys):
    project(tmp_path, monkeypatch, rows=20, thresholds={"recall": {"max_drop": 0.1}})
    code, _ = run()
    assert code == 2
    error = capsys.readouterr().err
    assert "quality.thresholds.recall.max_drop needs recall in metrics.json" in error


def test_a_missing_reference_says_to_train(tmp_path, monkeypatch, capsys):
    project(tmp_path, monkeypatch, rows=20)
    REFERENCE_PREDICTIONS_FILE.unlink()
    assert run()[0] == 2
    assert "run `make repro`" in capsys.readouterr().err


def answering_server(calls: list[int]):
    """Stands in for POST /predict: the answer carries one prediction_id per record
    (schemas/prediction-log.schema.json, the server's contract)."""

    def answer(url: str, body: dict) -> dict:
        calls.append(len(body["records"]))
        assert url.endswith("/predict") and "label" not in body["records"][0]
        ids = [uuid.uuid4().hex for _ in body["records"]]
        return {"predictions": ["yes"] * len(ids), "prediction_ids": ids}

    return answer


def test_simulated_traffic_labels_the_answered_predictions():
    rows = pd.DataFrame({"x1": np.arange(1000.0), "label": ["yes", "no"] * 500})
    calls: list[int] = []
    ids = send(rows, "label", "http://127.0.0.1:8000", 300, answering_server(calls))
    assert calls == [300, 300, 300, 100] and len(set(ids)) == 1000
    arrived = labels(rows["label"], ids, "classification", wrong=0.3, share=0.8, seed=0)
    assert list(arrived.columns) == ["prediction_id", "label", "timestamp"]
    assert len(arrived) == 800 and arrived.prediction_id.isin(ids).all()
    truth = rows["label"].set_axis(ids)
    wrong = (arrived.label.to_numpy() != truth[arrived.prediction_id].to_numpy()).mean()
    assert 0.25 < wrong < 0.35
    good = labels(rows["label"], ids, "classification", wrong=0.0, share=1.0, seed=0)
    assert (good.label.to_numpy() == rows["label"].to_numpy()).all()


def test_simulated_regression_labels_are_off_where_wrong():
    truth = pd.Series(np.linspace(0, 100, 500))
    ids = [f"id{i}" for i in range(500)]
    arrived = labels(truth, ids, "regression", wrong=0.3, share=1.0, seed=1)
    off = np.abs(arrived.label.to_numpy() - truth.to_numpy()) > 1
    assert 0.25 < off.mean() < 0.35


def test_traffic_to_a_server_without_prediction_ids_stops_with_the_reason():
    def old_server(url: str, body: dict) -> dict:
        return {"predictions": ["yes"] * len(body["records"])}

    rows = pd.DataFrame({"x1": [1.0, 2.0], "label": ["yes", "no"]})
    with pytest.raises(UserError, match="has no prediction_ids"):
        send(rows, "label", "http://127.0.0.1:8000", 10, old_server)
