"""What Prometheus scrapes from the model server: its HTTP metrics (``HttpMetrics``) and the model's
own (``ServerMetrics``), including the prediction reference (reference.py) as gauges, so an alert
rule (monitoring/generate.py writes them) compares two series and needs no edit when the model
changes. Every label value is bounded: ``label`` takes the model's classes only, ``handler`` the
server's own routes. Only the server imports this module (it needs the serve extra's
prometheus_client); training does not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

# Latency buckets (seconds) of http_request_duration_seconds: each SLO threshold of
# monitoring/settings.yaml must be one of them (monitoring/generate.py checks it).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
VERSION_LABELS = ("model_version", "git_commit", "model_sha256")
METRICS_PATH = "/metrics"  # what Prometheus scrapes; its own requests are not counted


class HttpMetrics:
    """Every request's count and latency, recorded with prometheus_client by the request
    middleware (access.RequestContext), which already times each request and sees its status.

    The names and labels are those of prometheus-fastapi-instrumentator's ``requests`` and
    ``latency`` metrics, which this server used before: ``handler`` is the route's path, or
    ``none`` for a path the server does not serve; ``status`` is the class (``2xx``, ``4xx``,
    ``5xx``). Each label combination's two series are looked up once (``labels()``) and kept:
    recording a request then costs about 1.4 microseconds instead of 4.3. That library's
    middleware took 30-75 (it matches every request against every route again, and builds an
    info object per request); benchmarks/bench_serve.py runs both, side by side, and reports
    what each costs in throughput.
    """

    def __init__(self, registry: CollectorRegistry, handlers: Iterable[str]) -> None:
        self.handlers = frozenset(handlers)
        self.requests = Counter(
            "http_requests_total",
            "Requests answered, by method, status class and handler",
            ("method", "status", "handler"),
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Seconds from a request's arrival to the end of its response, by handler",
            ("method", "handler"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # (method, status class, handler): that combination's count and latency series. As
        # bounded as the labels themselves.
        self.series: dict[tuple[str, int, str], tuple[Any, Any]] = {}

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        if path == METRICS_PATH:
            return
        handler = path if path in self.handlers else "none"
        key = (method, status // 100, handler)
        if key not in self.series:
            self.series[key] = (
                self.requests.labels(method, f"{status // 100}xx", handler),
                self.latency.labels(method, handler),
            )
        count, latency = self.series[key]
        count.inc()
        latency.observe(seconds)


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
        self.values = self.negative_values = None
        if not self.classification:
            # A Summary's _sum must never go down (rate() reads a decrease as a counter reset), so
            # values below 0 go to a second Summary with their sign inverted, as Prometheus'
            # instrumentation guidelines advise; the alert's mean recombines the two.
            self.values = Summary(
                "model_prediction_value", "Predicted values of 0 or more", registry=registry
            )
            self.negative_values = Summary(
                "model_prediction_negative_value",
                "Predicted values below 0, sign inverted",
                registry=registry,
            )
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
                if value >= 0:
                    self.values.observe(value)
                else:
                    self.negative_values.observe(-value)
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
