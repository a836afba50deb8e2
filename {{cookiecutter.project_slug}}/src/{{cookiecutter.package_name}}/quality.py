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

import os
import threading
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sklearn.exceptions import UndefinedMetricWarning

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


UTC_TIME = pa.timestamp("us", tz="UTC")


def _times(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO 8601 times as UTC (a time without an offset is taken as UTC); null where unreadable."""
    if pa.types.is_timestamp(column.type):
        return column.cast(UTC_TIME) if column.type.tz else pc.assume_timezone(column, "UTC")
    try:
        return column.cast(UTC_TIME)  # Arrow's parser: quick, but needs every offset written
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = pd.to_datetime(column.to_pandas(), utc=True, format="ISO8601", errors="coerce")
        return pa.chunked_array([pa.Array.from_pandas(parsed)]).cast(UTC_TIME)


def _keys(table: pa.Table) -> pa.Table:
    """A table's ids (as text, rows without one left out), times and row numbers."""
    if "timestamp" not in table.column_names:
        table = table.append_column("timestamp", pa.nulls(table.num_rows, pa.string()))
    keys = pa.table(
        {
            "prediction_id": table.column("prediction_id").cast(pa.string()),
            "timestamp": _times(table.column("timestamp")),
            "_row": pa.array(np.arange(table.num_rows)),
        }
    )
    return keys.filter(pc.is_valid(keys.column("prediction_id")))


def _one_per_id(keys: pa.Table, keep: str) -> tuple[pa.Table, int]:
    """The row of each prediction_id with the smallest (``keep="min"``) or largest (``"max"``)
    row number, and the number of rows left out."""
    kept = keys.group_by("prediction_id", use_threads=False).aggregate([("_row", keep)])
    rows = kept.column(f"_row_{keep}").combine_chunks()
    chosen = keys.filter(pc.is_in(keys.column("_row"), value_set=rows))
    return chosen, keys.num_rows - chosen.num_rows


def _predictions(logs: pa.Table, start: datetime, counts: Counts) -> pa.Table:
    """The keys of the predictions made since ``start``, one per id (the first logged)."""
    keys = _keys(logs)
    counts.logged = keys.num_rows
    recent = keys.filter(pc.greater_equal(keys.column("timestamp"), pa.scalar(start, UTC_TIME)))
    recent, counts.duplicate_predictions = _one_per_id(recent, "min")
    counts.in_window = recent.num_rows
    return recent


def _labels(labels: pa.Table, counts: Counts) -> pa.Table:
    """One label per id: the latest by timestamp (a label without one counts as the oldest),
    else the last read."""
    keys = _keys(labels)
    keys = keys.append_column("label", labels.column("label").take(keys.column("_row")))
    counts.labels = keys.num_rows
    oldest = pc.fill_null(keys.column("timestamp"), pa.scalar(0, UTC_TIME))  # 1970
    keys = keys.set_column(1, "timestamp", oldest)
    ordered = keys.sort_by([("timestamp", "ascending"), ("_row", "ascending")])
    ordered = ordered.set_column(2, "_row", pa.array(np.arange(ordered.num_rows)))
    latest, counts.duplicate_labels = _one_per_id(ordered, "max")
    return latest.select(["prediction_id", "label"])


def join(logs: pa.Table, labels: pa.Table, start: datetime) -> tuple[pa.Table, Counts]:
    """The predictions made since ``start`` that have a label, in time order, and the counts:
    the keys are joined, then the logged rows taken once."""
    counts = Counts()
    predictions = _predictions(logs, start, counts)
    matched = predictions.join(_labels(labels, counts), "prediction_id", join_type="inner")
    matched = matched.sort_by([("timestamp", "ascending"), ("prediction_id", "ascending")])
    counts.labelled = matched.num_rows
    if predictions.num_rows:
        counts.coverage = round(matched.num_rows / predictions.num_rows, 6)
    rows = logs.drop_columns(["prediction_id"]).take(matched.column("_row"))
    rows = rows.append_column("label", matched.column("label"))
    return rows.append_column("prediction_id", matched.column("prediction_id")), counts


def training_rows(joined: pa.Table, target: str) -> pa.Table:
    """The joined rows as training data: the features, the label as ``target``, the id."""
    features = [name for name in joined.column_names if name.startswith(FEATURE)]
    columns = [joined.column(name) for name in (*features, "label", "prediction_id")]
    names = [name.removeprefix(FEATURE) for name in features] + [target, "prediction_id"]
    return pa.table(columns, names=names)


def _csv_text(rows: pa.Table, header: bool) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(rows, sink, pacsv.WriteOptions(include_header=header, quoting_style="needed"))
    return sink.getvalue()


def write_rows(rows: pa.Table, path: Path, chunk: int = 100_000) -> None:
    """The rows as CSV; chunks are formatted on every core (pyarrow lets go of the GIL) and
    written in order."""
    chunks = [rows.slice(start, chunk) for start in range(0, max(rows.num_rows, 1), chunk)]
    headers = [True] + [False] * (len(chunks) - 1)
    with (
        atomic_path(path) as tmp,
        tmp.open("wb") as handle,
        ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool,
    ):
        for text in pool.map(_csv_text, chunks, headers):
            handle.write(text)


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
        # numpy's and scikit-learn's warnings about Evidently's internals (e.g. a score of a
        # one-row group in a plot): nothing for the user to do.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", UndefinedMetricWarning)
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
    # Evidently imports (seconds) while pyarrow reads; no thread outlives the check.
    preload = threading.Thread(target=preload_evidently, daemon=True)
    preload.start()
    try:
        return _check(params, summary, start, reference_file, metrics_file)
    except UserError as exc:
        summary.error = str(exc)
    except Exception as exc:
        traceback.print_exc()
        summary.error = f"the quality check failed: {type(exc).__name__}: {exc} (traceback above)"
    finally:
        preload.join()
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
    del logs  # all but the joined rows: their memory goes back before Evidently runs
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
