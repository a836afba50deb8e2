"""Model quality in production: the model's logged predictions, graded by labels that arrived
later.

pyarrow reads the prediction logs (``quality.predictions``) and the labels (``quality.labels``,
``prediction_logs``), keeps the predictions made within the look-back window, one per
``prediction_id`` (the first logged) and one label per id (the latest), and joins them. The
joined rows are the training rows the retraining loop adds (``labelled.csv``). With at least
``quality.min_labelled_rows`` of them, Evidently's ``ClassificationPreset`` or
``RegressionPreset`` runs ONCE on a seeded sample of at most ``sample_rows`` of them against the
reference (the model's predictions on its test split, ``models/reference_predictions.csv``),
with the thresholds of ``quality.thresholds`` as its tests: that one snapshot gives every number
of ``report.html`` and of the summary (``quality_summary``). Exit codes: 0 passed or not enough
labels, 1 a threshold failed, 2 error.
"""

from __future__ import annotations

import threading
import traceback
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .config import Params, QualityThreshold, lower_is_better, metric_names
from .drift import import_evidently, preload_evidently
from .drift_summary import Finding, Sampling
from .errors import UserError
from .features import to_numbers
from .io import atomic_path, read_csv, read_json
from .paths import METRICS_FILE, REFERENCE_PREDICTIONS_FILE
from .prediction_logs import read_labels, read_logs
from .quality_summary import Counts, MetricResult, QualitySummary
from .reference import PREDICTION, TARGET

# metrics.json's names (config.METRICS): Evidently's metric, and the preset's argument for its
# tests. Evidently's other tests are switched off: the thresholds of params.yaml decide.
EVIDENTLY_METRICS = {
    "accuracy": ("Accuracy", "accuracy_tests"),
    "f1": ("F1Score", "f1score_tests"),
    "precision": ("Precision", "precision_tests"),
    "recall": ("Recall", "recall_tests"),
    "roc_auc": ("RocAuc", "rocauc_tests"),
    "log_loss": ("LogLoss", "logloss_tests"),
    "r2": ("R2Score", "r2score_tests"),
    "rmse": ("RMSE", "rmse_tests"),
    "mae": ("MAE", "mae_tests"),
}
OTHER_TESTS = {
    "classification": ("tpr_tests", "tnr_tests", "fpr_tests", "fnr_tests"),
    "regression": ("mean_error_tests", "mape_tests", "abs_max_error_tests"),
}
MEAN_STD_TESTS = {"mae_tests", "mean_error_tests", "mape_tests"}  # tests of {mean, std} values
FEATURE, PROBABILITY = "features.", "probabilities."


def window(params: Params, now: datetime | None = None) -> tuple[datetime, datetime]:
    end = now or datetime.now(UTC)
    return end - timedelta(days=params.quality.window_days), end


def _times(column: pa.ChunkedArray) -> pd.Series:
    """ISO 8601 times as UTC (a time without an offset is taken as UTC); NaT where unreadable."""
    return pd.to_datetime(column.to_pandas(), utc=True, format="ISO8601", errors="coerce")


def _one_per_id(table: pa.Table, keep: str) -> tuple[pa.Table, int]:
    """The first (``keep="min"``) or last (``"max"``) row of each prediction_id, in table order,
    and the number of rows left out."""
    rows = table.append_column("_row", pa.array(np.arange(table.num_rows)))
    kept = rows.group_by("prediction_id", use_threads=False).aggregate([("_row", keep)])
    order = np.sort(kept.column(f"_row_{keep}").to_numpy())
    return table.take(order), table.num_rows - len(order)


def _with_ids(table: pa.Table) -> pa.Table:
    ids = table.column("prediction_id").cast(pa.string())
    return table.set_column(0, "prediction_id", ids).filter(pc.is_valid(ids))


def _predictions(logs: pa.Table, start: datetime, counts: Counts) -> pa.Table:
    """The predictions made since ``start``, one per id."""
    logs = _with_ids(logs.select(["prediction_id", *logs.column_names[1:]]))
    counts.logged = logs.num_rows
    if "timestamp" not in logs.column_names:
        raise UserError("the prediction logs have no timestamp: the window needs one")
    recent = logs.filter(pa.array((_times(logs.column("timestamp")) >= start).to_numpy()))
    recent, counts.duplicate_predictions = _one_per_id(recent, "min")
    counts.in_window = recent.num_rows
    return recent


def _labels(labels: pa.Table, counts: Counts) -> pa.Table:
    """One label per id: the latest by timestamp when labels carry one, else the last read."""
    labels = _with_ids(labels.select(["prediction_id", "label", *labels.column_names[2:]]))
    counts.labels = labels.num_rows
    if "timestamp" in labels.column_names:
        times = _times(labels.column("timestamp")).fillna(pd.Timestamp.min.tz_localize(UTC))
        labels = labels.take(np.argsort(times.to_numpy(), kind="stable"))
    labels, counts.duplicate_labels = _one_per_id(labels, "max")
    return labels.select(["prediction_id", "label"])


def join(logs: pa.Table, labels: pa.Table, start: datetime) -> tuple[pa.Table, Counts]:
    """The predictions made since ``start`` that have a label, in time order, and the counts."""
    counts = Counts()
    predictions = _predictions(logs, start, counts)
    joined = predictions.join(_labels(labels, counts), "prediction_id", join_type="inner")
    joined = joined.sort_by([("timestamp", "ascending"), ("prediction_id", "ascending")])
    counts.labelled = joined.num_rows
    if predictions.num_rows:
        counts.coverage = round(joined.num_rows / predictions.num_rows, 6)
    return joined, counts


def training_rows(joined: pa.Table, target: str) -> pa.Table:
    """The joined rows as training data: the features, the label as ``target``, the id."""
    features = [name for name in joined.column_names if name.startswith(FEATURE)]
    columns = [joined.column(name) for name in (*features, "label", "prediction_id")]
    names = [name.removeprefix(FEATURE) for name in features] + [target, "prediction_id"]
    return pa.table(columns, names=names)


def write_rows(rows: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pacsv.write_csv(rows, tmp, pacsv.WriteOptions(quoting_style="needed"))


def _sample(joined: pa.Table, rows: int, seed: int) -> pa.Table:
    """A seeded uniform sample of at most ``rows`` rows, in table order."""
    if joined.num_rows <= rows:
        return joined
    chosen = np.random.default_rng(seed).choice(joined.num_rows, size=rows, replace=False)
    return joined.take(np.sort(chosen))


def classes_of(reference: pd.DataFrame) -> list[str]:
    """The model's classes: the reference's probability columns."""
    return [str(name) for name in reference.columns if name not in (TARGET, PREDICTION)]


def _known_rows(frame: pd.DataFrame, task: str, classes: list[str]) -> tuple[pd.DataFrame, int]:
    """The rows whose label the metrics can use (a known class; a number), and how many not."""
    if task == "classification":
        usable = frame[TARGET].isin(classes)
    else:
        frame[TARGET] = to_numbers(frame[TARGET])
        frame[PREDICTION] = to_numbers(frame[PREDICTION])
        usable = frame[TARGET].notna() & frame[PREDICTION].notna()
    return frame.loc[usable].reset_index(drop=True), int((~usable).sum())


def evidently_rows(sample: pa.Table, task: str, classes: list[str]) -> tuple[pd.DataFrame, int]:
    """The sample as the reference's columns (target, prediction, one probability column per
    class), the rows with an unusable label left out (and counted)."""
    columns = {TARGET: "label", PREDICTION: "prediction"}
    if task == "classification":
        columns |= {name: PROBABILITY + name for name in classes}
    missing = [name for name in columns.values() if name not in sample.column_names]
    if missing:
        raise UserError(
            f"the prediction logs have no {', '.join(missing)}: the quality check needs the "
            "prediction (and, for classification, the probability of every class) of each record"
        )
    frame = pd.DataFrame(
        {name: sample.column(column).to_pandas() for name, column in columns.items()}
    )
    if task == "classification":
        frame[[TARGET, PREDICTION]] = frame[[TARGET, PREDICTION]].astype(str)
        frame[classes] = frame[classes].astype("float64")
    return _known_rows(frame, task, classes)


def read_reference(path: Path, task: str) -> pd.DataFrame:
    if not path.is_file():
        raise UserError(
            f"{path} not found: the quality check's reference is written by training; run "
            "`make repro` (or `dvc pull`)"
        )
    frame = read_csv(path)
    if task == "classification":
        frame[[TARGET, PREDICTION]] = frame[[TARGET, PREDICTION]].astype(str)
    return frame


def bounds(
    thresholds: dict[str, QualityThreshold], committed: dict[str, float]
) -> dict[str, float]:
    """Per metric, the worst acceptable value: ``min``/``max``, or the committed value moved by
    ``max_drop``, whichever is stricter."""
    found = {}
    for name, threshold in thresholds.items():
        lower = lower_is_better(name)
        limits = [threshold.max if lower else threshold.min]
        if threshold.max_drop is not None:
            if name not in committed:
                raise UserError(
                    f"quality.thresholds.{name}.max_drop needs {name} in {METRICS_FILE}, which "
                    "has none: train and evaluate first (`make repro`), or remove max_drop"
                )
            limits.append(committed[name] + (threshold.max_drop if lower else -threshold.max_drop))
        limits = [limit for limit in limits if limit is not None]
        found[name] = min(limits) if lower else max(limits)
    return found


def _preset(evidently: Any, task: str, limits: dict[str, float]) -> Any:
    """The task's preset, each threshold as Evidently's test (none for the other metrics)."""
    tests: dict[str, Any] = {argument: [] for argument in OTHER_TESTS[task]}
    for name in metric_names(task):
        compare = evidently.tests.lte if lower_is_better(name) else evidently.tests.gte
        argument = EVIDENTLY_METRICS[name][1]
        tests[argument] = [compare(limits[name])] if name in limits else []
    for argument in MEAN_STD_TESTS & set(tests):
        tests[argument] = {"mean": tests[argument], "std": []}
    if task == "regression":
        return evidently.presets.RegressionPreset(**tests)
    return evidently.presets.ClassificationPreset(**tests)


def _definition(evidently: Any, task: str, classes: list[str]) -> Any:
    if task == "regression":
        task_columns = {"regression": [evidently.Regression(target=TARGET, prediction=PREDICTION)]}
        return evidently.DataDefinition(numerical_columns=[TARGET, PREDICTION], **task_columns)
    if len(classes) == 2:  # the last class in sorted order is the positive one, as in evaluate.py
        kind = evidently.BinaryClassification(
            target=TARGET,
            prediction_labels=PREDICTION,
            prediction_probas=classes[-1],
            pos_label=classes[-1],
        )
    else:
        kind = evidently.MulticlassClassification(
            target=TARGET, prediction_labels=PREDICTION, prediction_probas=classes
        )
    return evidently.DataDefinition(
        classification=[kind], categorical_columns=[TARGET, PREDICTION], numerical_columns=classes
    )


def _results(report: dict[str, Any], limits: dict[str, float]) -> dict[str, MetricResult]:
    """Per metric of metrics.json, Evidently's value and its threshold test's verdict."""
    names = {evidently_name: name for name, (evidently_name, _) in EVIDENTLY_METRICS.items()}
    results = {}
    for metric in report["metrics"]:
        name = names.get(metric["config"]["type"].rsplit(":", 1)[-1])
        if name:
            value = metric["value"]
            value = value["mean"] if isinstance(value, dict) else value
            results[name] = MetricResult(round(float(value), 6), bound=limits.get(name))
    for test in report["tests"]:
        name = names.get(test["metric_config"]["params"]["type"].rsplit(":", 1)[-1])
        if name in results:
            results[name].passed = test["status"] == "SUCCESS"
    return results


def run_evidently(
    current: pd.DataFrame, reference: pd.DataFrame, task: str, limits: dict[str, float]
) -> tuple[Any, dict[str, MetricResult]]:
    """ONE ClassificationPreset or RegressionPreset run: the snapshot and the metrics."""
    evidently, _ = import_evidently()
    classes = classes_of(reference) if task == "classification" else []
    definition = _definition(evidently, task, classes)
    try:
        with warnings.catch_warnings():  # numpy's warnings about Evidently's internals
            warnings.simplefilter("ignore", RuntimeWarning)
            current_rows, reference_rows = (
                evidently.Dataset.from_pandas(frame, data_definition=definition)
                for frame in (current, reference)
            )
            report = evidently.Report([_preset(evidently, task, limits)], include_tests=True)
            snapshot = report.run(current_rows, reference_rows)
    except Exception as exc:
        message = f"Evidently could not run the quality report: {type(exc).__name__}: {exc}"
        raise UserError(message) from None
    return snapshot, _results(snapshot.dict(), limits)


def _committed(path: Path) -> dict[str, float]:
    """The scores in metrics.json (the model on its test split); none before the first run."""
    if not path.is_file():
        return {}
    scores = read_json(path)
    return {name: float(value) for name, value in scores.items() if isinstance(value, int | float)}


def _sampling(settings: Any, task: str, sampled: int, labelled: int) -> Sampling:
    preset = "ClassificationPreset" if task == "classification" else "RegressionPreset"
    how = f"all {labelled:,} labelled rows"
    if sampled < labelled:
        how = (
            f"a seeded uniform sample of {sampled:,} of the {labelled:,} labelled rows "
            f"(quality.sample_rows, seed {settings.seed})"
        )
    description = f"Evidently's {preset}, run once on {how}: the source of every metric here."
    return Sampling(settings.sample_rows, sampled, settings.seed, description)


def _no_files(log_files: int, label_files: int, settings: Any) -> list[Finding]:
    findings = []
    if not log_files:
        message = (
            f"no prediction log files in {settings.predictions}: is the server's PREDICTION_LOG "
            "set, and do its logs reach quality.predictions?"
        )
        findings.append(Finding("warning", "no_prediction_logs", message))
    if not label_files:
        message = f"no labels files in {settings.labels} (CSV or JSON lines: prediction_id,label)"
        findings.append(Finding("warning", "no_labels", message))
    return findings


def check(
    params: Params,
    now: datetime | None = None,
    reference_file: Path = REFERENCE_PREDICTIONS_FILE,
    metrics_file: Path = METRICS_FILE,
) -> tuple[QualitySummary, Any, pa.Table | None]:
    """The summary, Evidently's snapshot (None when it did not run) and the labelled rows as
    training data (None when the check stopped before the join). A failure is a summary with
    verdict "error"; a bug also prints its traceback (it must not read as a quality failure)."""
    settings = params.quality
    start, end = window(params, now)
    sources = {
        "predictions": settings.predictions,
        "labels": settings.labels,
        "reference": str(reference_file),
    }
    summary = QualitySummary(
        "error",
        None,
        params.data.task,
        start.isoformat(timespec="seconds"),
        end.isoformat(timespec="seconds"),
        settings.min_labelled_rows,
        sources,
    )
    threading.Thread(target=preload_evidently, daemon=True).start()
    try:
        return _check(params, summary, start, reference_file, metrics_file)
    except UserError as exc:
        summary.error = str(exc)
    except Exception as exc:
        traceback.print_exc()
        summary.error = f"the quality check failed: {type(exc).__name__}: {exc} (traceback above)"
    summary.verdict = "error"
    return summary, None, None


def _check(
    params: Params, summary: QualitySummary, start: datetime, reference_file: Path, metrics: Path
) -> tuple[QualitySummary, Any, pa.Table]:
    settings, task = params.quality, params.data.task
    reference = read_reference(reference_file, task)  # before the logs: a missing file is quick
    committed = _committed(metrics)
    limits = bounds(settings.thresholds, committed)
    logs, log_files = read_logs(settings.predictions)
    labels, label_files = read_labels(settings.labels)
    summary.findings += _no_files(log_files, label_files, settings)
    joined, summary.counts = join(logs, labels, start)
    rows = training_rows(joined, params.data.target)
    if summary.counts.labelled < settings.min_labelled_rows:
        summary.verdict = "not_enough_labels"
        return summary, None, rows
    sample = _sample(joined, settings.sample_rows, settings.seed)
    classes = classes_of(reference) if task == "classification" else []
    current, unusable = evidently_rows(sample, task, classes)
    known = f"one of the classes {', '.join(classes)}" if classes else "a number"
    if unusable:
        message = (
            f"{unusable} of {sample.num_rows} sampled labelled rows have a label that is not "
            f"{known} (or no prediction): left out of the metrics"
        )
        summary.findings.append(Finding("warning", "unusable_labels", message))
    if current.empty:
        raise UserError(f"no labelled row has a usable label: labels must be {known}")
    if len(reference) > settings.sample_rows:
        reference = reference.sample(n=settings.sample_rows, random_state=settings.seed)
    snapshot, summary.metrics = run_evidently(current, reference, task, limits)
    for name, result in summary.metrics.items():
        result.committed = committed.get(name)
    summary.sampling = _sampling(settings, task, len(current), summary.counts.labelled)
    summary.verdict = "fail" if summary.failed else "pass"
    return summary, snapshot, rows
