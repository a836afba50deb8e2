"""The reference the monitoring alerts compare live predictions with: what the model predicted on
its test split, the share of each class (classification) or the mean and standard deviation of
the predictions (regression). The train command writes it next to the model
(``models/reference.json``), it travels in the image, and the server exports it as gauges
(monitoring.py). The same predictions row by row (``models/reference_predictions.csv``) are the
model-quality check's reference (quality.py). Training needs nothing of the serve extra for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .features import Schema, to_model_frame

# The columns of the row-by-row reference, and of the rows the quality check gives Evidently
# (classification adds one probability column per class, named after the class).
TARGET, PREDICTION = "target", "prediction"


def reference(task: str, predictions: Sequence[Any]) -> dict[str, Any]:
    """The model's predictions on its test split, summed up as the server exports them."""
    if task == "classification":
        labels, counts = np.unique(np.asarray(predictions, dtype=str), return_counts=True)
        shares = {
            str(label): round(float(count) / len(predictions), 6)
            for label, count in zip(labels, counts, strict=True)
        }
        return {"task": task, "rows": len(predictions), "class_share": shares}
    values = np.asarray(predictions, dtype="float64")
    return {
        "task": task,
        "rows": len(values),
        "prediction_mean": round(float(values.mean()), 6),
        "prediction_stddev": round(float(values.std()), 6),
    }


def predictions_of(pipeline: Any, schema: Schema, test_rows: pd.DataFrame) -> pd.DataFrame:
    """At training time: the model's predictions on the test split, row by row, next to the
    target (the server's way: the label is the class of the highest probability)."""
    x = to_model_frame(test_rows, schema)
    rows = pd.DataFrame({TARGET: test_rows[schema.target].to_numpy()})
    if schema.task != "classification":
        rows[PREDICTION] = pipeline.predict(x)
        return rows
    probabilities = pipeline.predict_proba(x)
    classes = [str(label) for label in pipeline.classes_]
    rows[TARGET] = rows[TARGET].astype(str)
    rows[PREDICTION] = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
    return pd.concat([rows, pd.DataFrame(probabilities, columns=classes)], axis=1)


def reference_of(pipeline: Any, schema: Schema, test_rows: pd.DataFrame) -> dict[str, Any]:
    """At training time: the summary of ``predictions_of`` (written next to the model)."""
    return reference(schema.task, predictions_of(pipeline, schema, test_rows)[PREDICTION])
