"""Score the trained pipeline on the test split; write metrics.json and plot data as CSV, which
``dvc plots show`` and ``dvc plots diff`` render: classification ``plots/confusion.csv`` and
``plots/roc.csv``; regression ``plots/predictions.csv`` and ``plots/residuals.csv``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from .features import Schema, to_model_frame
from .io import atomic_path, write_json

METRICS_FILE = Path("metrics.json")
PLOTS_DIR = Path("plots")
LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss"})  # marks a change as better or worse


def _thin(frame: pd.DataFrame, limit: int = 200) -> pd.DataFrame:
    """At most ``limit`` evenly spread rows, the first and last included."""
    keep = np.linspace(0, len(frame) - 1, min(limit, len(frame))).round().astype(int)
    return frame.iloc[np.unique(keep)]


def classification(pipeline: Pipeline, x: pd.DataFrame, y: pd.Series):
    y = y.astype(str)
    predicted = pipeline.predict(x).astype(str)
    proba = pipeline.predict_proba(x)
    model_classes = [str(c) for c in pipeline.classes_]
    # Binary: scores of the last class in sorted order (e.g. "1", "yes"); multiclass: macro average.
    binary = {"average": "binary", "pos_label": model_classes[-1]}
    kind = binary if len(model_classes) == 2 else {"average": "macro"}
    scores = {
        "accuracy": skm.accuracy_score(y, predicted),
        "f1": skm.f1_score(y, predicted, **kind),
        "precision": skm.precision_score(y, predicted, zero_division=0, **kind),
        "recall": skm.recall_score(y, predicted, zero_division=0, **kind),
        "log_loss": skm.log_loss(y, proba, labels=model_classes),
    }
    onehot = (y.to_numpy()[:, None] == np.array(model_classes)).astype(int)  # a column per class
    if (onehot.sum(axis=0) > 0).all():  # every class in the test split: one-vs-rest, macro average
        scores["roc_auc"] = skm.roc_auc_score(onehot, proba)
    # Micro-averaged ROC: one curve whatever the number of classes.
    fpr, tpr, _ = skm.roc_curve(onehot.ravel(), proba.ravel())
    plots = {
        "confusion.csv": pd.DataFrame({"actual": y.to_numpy(), "predicted": predicted}),
        "roc.csv": _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr})),
    }
    return scores, plots


def regression(pipeline: Pipeline, x: pd.DataFrame, y: pd.Series):
    y = y.astype(float)
    predicted = pipeline.predict(x)
    scores = {
        "r2": skm.r2_score(y, predicted),
        "rmse": math.sqrt(skm.mean_squared_error(y, predicted)),
        "mae": skm.mean_absolute_error(y, predicted),
    }
    plots = {
        "predictions.csv": pd.DataFrame({"actual": y.to_numpy(), "predicted": predicted}),
        "residuals.csv": pd.DataFrame({"predicted": predicted, "residual": y.to_numpy() - predicted}),
    }
    return scores, plots


def evaluate(pipeline: Pipeline, schema: Schema, test: pd.DataFrame):
    x, y = to_model_frame(test, schema), test[schema.target]
    scores, plots = (classification if schema.task == "classification" else regression)(pipeline, x, y)
    scores = {name: round(float(value), 6) for name, value in sorted(scores.items())}
    return scores, plots


def save(scores: dict, plots: dict, metrics_file=METRICS_FILE, plots_dir=PLOTS_DIR) -> None:
    """Each file is replaced only once fully written; plots of the other task are removed."""
    for stale in set(Path(plots_dir).glob("*.csv")) - {Path(plots_dir) / name for name in plots}:
        stale.unlink()
    for name, frame in plots.items():
        with atomic_path(Path(plots_dir) / name) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
    write_json(metrics_file, scores)
