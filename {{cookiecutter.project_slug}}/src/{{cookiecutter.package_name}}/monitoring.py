"""What Prometheus scrapes from the model server besides its HTTP metrics, and the prediction
reference the alert rules compare live traffic with (monitoring/generate.py writes the rules).

The reference is what the model predicted on its test split: the share of each class
(classification) or the mean and standard deviation of the predictions (regression). Evaluation
writes it next to the model (``models/reference.json``), it travels in the image, and the server
exports it as gauges, so a rule compares two series and needs no edit when the model changes.
Every label value is bounded: ``label`` takes the model's classes only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

from .features import Schema, to_model_frame

# Latency buckets (seconds) of http_request_duration_seconds: each SLO threshold of
# monitoring/settings.yaml must be one of them (monitoring/generate.py checks it).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
VERSION_LABELS = ("model_version", "git_commit", "model_sha256")


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


def reference_of(pipeline: Any, schema: Schema, test_rows: pd.DataFrame) -> dict[str, Any]:
    """At training time: the model's predictions on the test split (written next to the model)."""
    return reference(schema.task, pipeline.predict(to_model_frame(test_rows, schema)))


class ServerMetrics:
    """The model server's own metrics in ``registry``; ``observe`` records one scored batch."""

    def __init__(
        self,
        registry: CollectorRegistry,
        version: dict[str, str],
        task: str,
        known: dict[str, Any] | None,
    ) -> None:
        Gauge("model_info", "The model served", VERSION_LABELS, registry=registry).labels(
            *map(version.get, VERSION_LABELS)
        ).set(1)
        self.batch = Histogram(
            "model_batch_records",
            "Records per model call",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.classification = task == "classification"
        labels = ["label"] if self.classification else []
        self.scored = Counter(
            "model_predictions", "Records scored, by class", labels, registry=registry
        )
        self.values = None
        if not self.classification:
            self.values = Summary("model_prediction_value", "Predicted values", registry=registry)
        self.log_errors = Counter(
            "model_prediction_log_errors",
            "Prediction log writes that failed (the request was answered anyway)",
            registry=registry,
        )
        self._reference(registry, known or {})

    def _reference(self, registry: CollectorRegistry, known: dict[str, Any]) -> None:
        about = "on the test split, when the model was evaluated"
        if self.classification:
            share = Gauge(
                "model_reference_class_share",
                f"Share of each predicted class {about}",
                ["label"],
                registry=registry,
            )
            for label, value in known.get("class_share", {}).items():
                share.labels(label).set(value)
            return
        for name in ("mean", "stddev"):
            gauge = Gauge(
                f"model_reference_prediction_{name}",
                f"The predictions' {name} {about}",
                registry=registry,
            )
            if f"prediction_{name}" in known:
                gauge.set(known[f"prediction_{name}"])

    def observe(self, records: list[dict[str, Any]], result: dict[str, list]) -> None:
        self.batch.observe(len(records))
        predictions = result["predictions"]
        if not self.classification:
            self.scored.inc(len(predictions))
            for value in predictions:
                self.values.observe(value)
            return
        for label in set(predictions):
            self.scored.labels(label).inc(predictions.count(label))

    def counting_failures(self, write: Callable[..., None]) -> Callable[..., None]:
        """Count and swallow the failures of ``write``: a lost log line never fails a request."""

        def guarded(*args: Any) -> None:
            try:
                write(*args)
            except Exception:
                self.log_errors.inc()

        return guarded
