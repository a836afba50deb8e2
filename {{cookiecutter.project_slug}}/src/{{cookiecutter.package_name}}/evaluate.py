"""Score the trained pipeline on the test split: the metrics of config.METRICS for the task, and
plot data as CSV (``paths.PLOT_FILES``), which ``dvc plots show`` and ``dvc plots diff`` render:
classification a confusion matrix and a ROC curve; regression predicted vs actual and residuals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from .config import metric_names
from .features import Schema, to_model_frame
from .paths import PLOT_FILES


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
    if len(model_classes) == 2:
        kind = {"average": "binary", "pos_label": model_classes[-1]}
    else:
        kind = {"average": "macro"}
    scores = {
        "accuracy": skm.accuracy_score(y, predicted),
        "f1": skm.f1_score(y, predicted, **kind),
        "precision": skm.precision_score(y, predicted, zero_division=0, **kind),
        "recall": skm.recall_score(y, predicted, zero_division=0, **kind),
        "log_loss": skm.log_loss(y, proba, labels=model_classes),
    }
    # A column per class, 1 where the row is of that class.
    onehot = (y.to_numpy()[:, None] == np.array(model_classes)).astype(int)
    if (onehot.sum(axis=0) > 0).all():  # every class in the test split: one-vs-rest, macro average
        scores["roc_auc"] = skm.roc_auc_score(onehot, proba)
    # Micro-averaged ROC: one curve whatever the number of classes.
    fpr, tpr, _ = skm.roc_curve(onehot.ravel(), proba.ravel())
    confusion = pd.DataFrame({"actual": y.to_numpy(), "predicted": predicted})
    roc = _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr}))
    return scores, dict(zip(PLOT_FILES["classification"], (confusion, roc), strict=True))


def regression(pipeline: Pipeline, x: pd.DataFrame, y: pd.Series):
    y = y.astype(float)
    predicted = pipeline.predict(x)
    scores = {
        "r2": skm.r2_score(y, predicted),
        "rmse": math.sqrt(skm.mean_squared_error(y, predicted)),
        "mae": skm.mean_absolute_error(y, predicted),
    }
    predictions = pd.DataFrame({"actual": y.to_numpy(), "predicted": predicted})
    residuals = pd.DataFrame({"predicted": predicted, "residual": y.to_numpy() - predicted})
    return scores, dict(zip(PLOT_FILES["regression"], (predictions, residuals), strict=True))


def evaluate(pipeline: Pipeline, schema: Schema, test: pd.DataFrame):
    """The scores (sorted by name, rounded) and the plot frames by file name."""
    x, y = to_model_frame(test, schema), test[schema.target]
    score = classification if schema.task == "classification" else regression
    scores, plots = score(pipeline, x, y)
    known = set(metric_names(schema.task))
    scores = {name: round(float(scores[name]), 6) for name in sorted(known & set(scores))}
    return scores, plots
