"""HTTP model server: ``make serve`` or ``python -m {{ cookiecutter.package_name }} serve``.

Endpoints:

* ``POST /predict`` with ``{"records": [{column: value, ...}, ...]}`` answers
  ``{"predictions": [...]}`` and, for classification, ``"probabilities"`` (one
  ``{class: probability}`` per record). The request schema is built from ``models/schema.json``
  (the training columns and their types), so ``/openapi.json`` and ``/docs`` list the real fields.
* ``GET /health`` (the process answers), ``GET /ready`` (model loaded),
  ``GET /metrics`` (Prometheus), ``GET /version`` (git commit and SHA-256 of the model file; every
  response also carries them in ``X-Model-Version``).

Bad requests get a 4xx whose ``detail`` names the field: 400 body that is not JSON, 413 more records
than ``MAX_BATCH_ROWS``, 422 missing or unknown columns, wrong types, empty batch.

Settings come from the environment (flags of the ``serve`` command override them): ``PORT`` (8000),
``HOST`` (0.0.0.0), ``MODEL_PATH`` (models/model.joblib), ``SCHEMA_PATH`` (models/schema.json),
``MAX_BATCH_ROWS`` (10000), ``PREDICTION_LOG`` (unset: off; a file path, or ``-`` for stdout),
``GIT_COMMIT`` (default: ``git rev-parse HEAD`` when run from a checkout).

Prediction log: one JSON line per scored record,
``{"timestamp": ..., "model_version": ..., "features": {...}, "prediction": ..., "probabilities": {...}}``;
``make drift`` reads these files as current data (``drift.format: predictions``).

Speed, in one process: requests that arrive while the model is busy are scored together in one
call (adaptive batching on the event loop, see ``Batcher``), so the fixed cost of a scikit-learn
pipeline call is paid once per batch; random forests skip scikit-learn's per-tree joblib overhead
(``ForestShortcut``, same numbers); and POST /predict is answered by a plain ASGI layer in front
of FastAPI. This module imports only serving dependencies (never dvc or evidently).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NotRequired, TextIO

import joblib
import numpy as np
import pandas as pd
from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, create_model
from sklearn.base import is_classifier
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import Pipeline
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from . import __version__
from .errors import UserError
from .features import Schema, load_schema

PROJECT_NAME = {{ cookiecutter.project_name | tojson }}
DEFAULT_MODEL = Path("models/model.joblib")
DEFAULT_SCHEMA = Path("models/schema.json")
DEFAULT_MAX_BATCH_ROWS = 10_000
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ROW_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
JSON_TYPES = {"number": "a number", "bool": "true or false", "string": "a string"}


@dataclass
class Settings:
    model_path: Path = DEFAULT_MODEL
    schema_path: Path = DEFAULT_SCHEMA
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    prediction_log: str | None = None
    git_commit: str | None = None

    def __post_init__(self) -> None:
        if self.max_batch_rows < 1:
            raise UserError(f"the batch limit (MAX_BATCH_ROWS) must be at least 1, got {self.max_batch_rows}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        raw_limit = env.get("MAX_BATCH_ROWS", str(DEFAULT_MAX_BATCH_ROWS)).strip()
        if not raw_limit.isdigit():
            raise UserError(f"MAX_BATCH_ROWS must be a positive whole number, got {raw_limit!r}")
        return cls(
            model_path=Path(env.get("MODEL_PATH", DEFAULT_MODEL)),
            schema_path=Path(env.get("SCHEMA_PATH", DEFAULT_SCHEMA)),
            max_batch_rows=int(raw_limit),
            prediction_log=env.get("PREDICTION_LOG") or None,
            git_commit=env.get("GIT_COMMIT") or None,
        )


# --------------------------------------------------------------------------- model identity


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_commit(start: Path) -> str:
    """The checkout's HEAD commit, or "unknown" (e.g. in an image built without GIT_COMMIT)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=start, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


@dataclass
class ModelVersion:
    git_commit: str
    model_sha256: str

    @property
    def label(self) -> str:
        return f"{self.git_commit[:12]}-{self.model_sha256[:12]}"

    def to_dict(self) -> dict[str, str]:
        return {
            "model_version": self.label,
            "git_commit": self.git_commit,
            "model_sha256": self.model_sha256,
            "package_version": __version__,
        }


# --------------------------------------------------------------------------- request schema


def _column_type(kind: str) -> Any:
    if kind == "bool":
        return bool | None
    if kind == "number":
        # NaN and infinity are not JSON; null is how a client says "missing" (imputed by the model).
        return Annotated[float, Field(allow_inf_nan=False)] | None
    return str | None


def record_type(schema: Schema) -> type:
    """A TypedDict whose keys are the training columns (any spelling, spaces included)."""
    fields: dict[str, Any] = {
        column: _column_type(schema.dtypes.get(column, "string")) for column in schema.features
    }
    for column in schema.dropped:
        # Columns the model ignores (identifier-like or empty in training) may be sent, and are ignored.
        fields.setdefault(column, NotRequired[Any])
    record = TypedDict("Record", fields)  # type: ignore[misc]
    record.__pydantic_config__ = ConfigDict(  # type: ignore[attr-defined]
        extra="forbid", coerce_numbers_to_str=True, title="Record"
    )
    return record


def request_model(schema: Schema, max_rows: int) -> type:
    record = record_type(schema)
    return create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid"),
        records=(
            list[record],  # type: ignore[valid-type]
            Field(
                min_length=1,
                max_length=max_rows,
                description=f"rows to score: 1 to {max_rows}, each with every feature column "
                "(null for a missing value)",
            ),
        ),
    )


def response_model(schema: Schema) -> type:
    prediction: Any = str if schema.task == "classification" else float
    fields: dict[str, Any] = {"predictions": (list[prediction], ...), "model_version": (str, ...)}
    if schema.task == "classification":
        fields["probabilities"] = (
            list[dict[str, float]],
            Field(description="per record: {class: probability}"),
        )
    return create_model("PredictResponse", **fields)


# --------------------------------------------------------------------------- error messages


def _field_name(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif text:
            text += f".{part}"
        else:
            text = str(part)
    return text or "body"


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_errors(exc: ValidationError, schema: Schema, max_rows: int) -> tuple[int, str, list[dict]]:
    """Turn pydantic errors into (status, one-line summary, per-field details)."""
    details = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        column = loc[-1] if len(loc) == 3 and loc[0] == "records" else None
        if kind == "json_invalid":
            message = f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
        elif kind == "missing" and column is not None:
            message = f"missing column {column!r}: every record needs all {len(schema.features)} features"
        elif kind == "extra_forbidden" and column is not None:
            message = f"unknown column {column!r}: not a feature of this model (GET /openapi.json lists them)"
        elif kind == "missing" and loc == ("records",):
            message = 'missing "records": send {"records": [{column: value, ...}, ...]}'
        elif kind == "extra_forbidden":
            message = f'unknown key {loc[-1]!r}: the body has a single key, "records"'
        elif kind == "too_short" and loc == ("records",):
            message = "empty batch: send at least one record"
        elif kind == "too_long" and loc == ("records",):
            message = f"too many records: at most {max_rows} per request (MAX_BATCH_ROWS)"
        elif kind in {"dict_type", "model_type", "model_attributes_type"}:
            what = "the body" if not loc else f"{_field_name(loc)}"
            message = f"{what} must be a JSON object, got {_short(error.get('input'))}"
        elif kind == "list_type":
            message = "records must be a JSON list of objects"
        elif column is not None:
            expected = JSON_TYPES.get(schema.dtypes.get(str(column), "string"), "a valid value")
            message = f"column {column!r} must be {expected} or null, got {_short(error.get('input'))}"
        else:
            message = error["msg"]
        details.append({"field": _field_name(loc), "type": kind, "message": message})
    status = 422
    if any(d["type"] == "json_invalid" for d in details):
        status = 400
    elif any(d["type"] == "too_long" and d["field"] == "records" for d in details):
        status = 413
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    if len(details) > 5:
        summary += f"; and {len(details) - 5} more"
    return status, summary, details


# --------------------------------------------------------------------------- predictor


FORESTS = (RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor)


class ForestShortcut:
    """The forest's own numbers, without its per-tree overhead.

    scikit-learn runs each tree of a forest through joblib and re-applies its config and warning
    filters every time: with 100 trees that is most of the cost of a small batch. Summing the
    trees' outputs here, in the same order and precision, gives identical results (checked on a
    probe row when the predictor starts; any difference and the pipeline's own methods are used).
    """

    def __init__(self, pipeline: Pipeline) -> None:
        forest = pipeline[-1]
        self.preprocess = pipeline[:-1]
        self.trees = [estimator.tree_ for estimator in forest.estimators_]
        self.width = int(forest.n_classes_) if is_classifier(forest) else 1

    @classmethod
    def applies_to(cls, pipeline: Any) -> bool:
        return (
            isinstance(pipeline, Pipeline)
            and len(pipeline) > 1
            and type(pipeline[-1]) in FORESTS
            and pipeline[-1].n_outputs_ == 1
        )

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities (classifier) or a one-column prediction (regressor)."""
        X = np.ascontiguousarray(self.preprocess.transform(frame), dtype=np.float32)
        total = np.zeros((X.shape[0], self.width))
        for tree in self.trees:
            total += tree.predict(X)[:, : self.width]
        total /= len(self.trees)
        return total


class Predictor:
    """Scores records with the pipeline; builds the model frame in one go (fast)."""

    def __init__(self, pipeline: Any, schema: Schema) -> None:
        self.pipeline = pipeline
        self.schema = schema
        self.classes = [str(c) for c in getattr(pipeline, "classes_", [])]
        self.classification = schema.task == "classification" and hasattr(pipeline, "predict_proba")
        self.shortcut: ForestShortcut | None = None
        if ForestShortcut.applies_to(pipeline):
            shortcut = ForestShortcut(pipeline)
            probe = self.frame([self.probe_record()])
            with contextlib.suppress(Exception):
                if np.array_equal(shortcut(probe), self._official(probe)):
                    self.shortcut = shortcut

    def probe_record(self) -> dict[str, Any]:
        record: dict[str, Any] = dict.fromkeys(self.schema.numeric, 0.0)
        for column in self.schema.categorical + self.schema.high_cardinality:
            record[column] = (self.schema.categories.get(column) or ["x"])[0]
        return record

    def _official(self, frame: pd.DataFrame) -> np.ndarray:
        if self.classification:
            return self.pipeline.predict_proba(frame)
        return np.asarray(self.pipeline.predict(frame), dtype="float64").reshape(len(frame), -1)

    def frame(self, records: list[dict[str, Any]]) -> pd.DataFrame:
        """The frame ``to_model_frame`` would give for these (validated) records, built in one go.

        Numbers go into a single float block (null becomes NaN); text columns keep str or NaN.
        Inserting columns one at a time costs about 0.1 ms each, which dominates one-row requests.
        """
        numeric = self.schema.numeric
        frame = pd.DataFrame(
            np.array([[record[column] for column in numeric] for record in records], dtype="float64").reshape(
                len(records), len(numeric)
            ),
            columns=numeric,
            copy=False,
        )
        text = self.schema.categorical + self.schema.high_cardinality
        if text:
            values = {
                column: np.array([np.nan if r[column] is None else r[column] for r in records], dtype=object)
                for column in text
            }
            frame = pd.concat([frame, pd.DataFrame(values, index=frame.index)], axis=1, copy=False)
        return frame

    def predict(self, records: list[dict[str, Any]]) -> dict[str, list]:
        frame = self.frame(records)
        if self.classification:
            probabilities = self.shortcut(frame) if self.shortcut else self.pipeline.predict_proba(frame)
            labels = np.asarray(self.classes, dtype=object)[probabilities.argmax(axis=1)]
            return {
                "predictions": labels.tolist(),
                "probabilities": [
                    dict(zip(self.classes, row, strict=True)) for row in probabilities.tolist()
                ],
            }
        if self.shortcut:
            return {"predictions": self.shortcut(frame)[:, 0].tolist()}
        predictions = np.asarray(self.pipeline.predict(frame))
        if self.schema.task == "classification":
            return {"predictions": [str(value) for value in predictions.tolist()]}
        return {"predictions": predictions.astype("float64").tolist()}


class PredictionLog:
    """Appends one JSON line per scored record to a file (or stdout for ``-``)."""

    def __init__(self, target: str, version: str) -> None:
        self.target = target
        self.version = version
        if target == "-":
            self.handle: TextIO = sys.stdout
        else:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = path.open("a", encoding="utf-8")

    def write(self, records: list[dict[str, Any]], result: dict[str, list]) -> None:
        stamp = datetime.now(UTC).isoformat()
        probabilities = result.get("probabilities")
        lines = []
        for index, record in enumerate(records):
            line: dict[str, Any] = {
                "timestamp": stamp,
                "model_version": self.version,
                "features": record,
                "prediction": result["predictions"][index],
            }
            if probabilities is not None:
                line["probabilities"] = probabilities[index]
            lines.append(json.dumps(line, default=str))
        self.handle.write("\n".join(lines) + "\n")
        self.handle.flush()

    def close(self) -> None:
        if self.handle is not sys.stdout:
            self.handle.close()


class Batcher:
    """Scores the records of all requests that are waiting together, in one model call.

    Runs on the event loop thread: while a batch is scored, new requests wait in the socket
    buffers; once it is done they are read and validated, and the next call scores them all.
    (A separate predictor thread is slower: it fights the event loop for the GIL.)
    """

    def __init__(
        self,
        predict: Callable[[list[dict[str, Any]]], dict[str, list]],
        max_rows: int,
        on_batch: Callable[[list[dict[str, Any]], dict[str, list]], None] | None = None,
    ) -> None:
        self._predict = predict
        self._max_rows = max_rows
        self._on_batch = on_batch
        self._pending: list[tuple[list[dict[str, Any]], asyncio.Future]] = []
        self._scheduled = False
        self._seen = 0  # requests pending at the previous look
        self.running = True

    async def submit(self, records: list[dict[str, Any]]) -> dict[str, list]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((records, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)  # after the requests already read in this loop iteration
        return await future

    def close(self) -> None:
        self.running = False

    def _flush(self) -> None:
        # Requests read in the same wake-up reach submit() over a few loop iterations: wait
        # until an iteration adds none, so they all go into one model call.
        if len(self._pending) != self._seen:
            self._seen = len(self._pending)
            asyncio.get_running_loop().call_soon(self._flush)
            return
        self._scheduled = False
        self._seen = 0
        pending, self._pending = self._pending, []
        batch: list[tuple[list[dict[str, Any]], asyncio.Future]] = []
        rows = 0
        for item in pending:
            if batch and rows + len(item[0]) > self._max_rows:
                self._score(batch)
                batch, rows = [], 0
            batch.append(item)
            rows += len(item[0])
        if batch:
            self._score(batch)

    def _score(self, batch: list[tuple[list[dict[str, Any]], asyncio.Future]]) -> None:
        records = [record for item in batch for record in item[0]]
        try:
            result = self._predict(records)
        except Exception as exc:
            if len(batch) == 1:
                _resolve(batch[0][1], exception=exc)
            else:  # one bad request must not fail the others scored with it
                for item in batch:
                    self._score([item])
            return
        start = 0
        for records_of_request, future in batch:
            end = start + len(records_of_request)
            _resolve(future, {key: values[start:end] for key, values in result.items()})
            start = end
        if self._on_batch is not None:
            with contextlib.suppress(Exception):  # logging must never cost a prediction
                self._on_batch(records, result)


def _resolve(future: asyncio.Future, result: Any = None, exception: BaseException | None = None) -> None:
    if future.done():  # the client went away
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)


# --------------------------------------------------------------------------- metrics


class Metrics:
    def __init__(self, version: ModelVersion, task: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total", "HTTP requests", ["method", "path", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer a request",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Histogram(
            "predict_records", "Records per /predict request", buckets=ROW_BUCKETS, registry=self.registry
        )
        self.batch = Histogram(
            "predict_batch_records",
            "Records per model call (requests batched together)",
            buckets=ROW_BUCKETS,
            registry=self.registry,
        )
        self.classes = Counter(
            "predictions_total", "Predicted class of each record", ["label"], registry=self.registry
        )
        self.values = Histogram(
            "prediction_value",
            "Predicted value of each record (regression)",
            registry=self.registry,
            buckets=(-1000, -100, -10, -1, 0, 1, 10, 100, 1000, 10000),
        )
        info = Gauge(
            "model_info", "The model being served", ["git_commit", "model_sha256"], registry=self.registry
        )
        info.labels(version.git_commit, version.model_sha256).set(1)
        self.task = task

    def observe_batch(self, records: list[dict[str, Any]], result: dict[str, list]) -> None:
        self.batch.observe(len(records))
        if self.task == "classification":
            counts: dict[str, int] = {}
            for label in result["predictions"]:
                counts[label] = counts.get(label, 0) + 1
            for label, count in counts.items():
                self.classes.labels(label).inc(count)
        else:
            for value in result["predictions"]:
                if math.isfinite(value):
                    self.values.observe(value)


class MetricsMiddleware:
    """Counts and times every request, adds the model version header, and answers POST /predict.

    Plain ASGI, in front of FastAPI: /predict is answered here directly (by the same function as
    the documented route), which saves the framework's routing and dependency machinery on the
    one hot path; everything else goes through FastAPI.
    """

    PATHS = frozenset({"/predict", "/health", "/ready", "/version", "/metrics", "/openapi.json", "/docs"})

    def __init__(
        self,
        app: Any,
        metrics: Metrics,
        headers: list[tuple[bytes, bytes]],
        predict: Callable[[bytes], Awaitable[tuple[int, bytes]]],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.headers = headers
        self.predict = predict

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_version(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        try:
            if scope["path"] == "/predict" and scope["method"] == "POST":
                chunks = []
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body"):
                        break
                status, body = await self.predict(b"".join(chunks))
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send(
                    {"type": "http.response.start", "status": status, "headers": headers + self.headers}
                )
                await send({"type": "http.response.body", "body": body})
            else:
                await self.app(scope, receive, send_with_version)
        finally:
            path = scope["path"] if scope["path"] in self.PATHS else "other"
            self.metrics.requests.labels(scope["method"], path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)


# --------------------------------------------------------------------------- the app


@dataclass
class State:
    ready: bool = False
    reason: str = "model not loaded yet"
    batcher: Batcher | None = None
    log: PredictionLog | None = None


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def _json(payload: Any, status: int = 200) -> Response:
    return Response(_dumps(payload), status_code=status, media_type="application/json")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for the model in ``settings`` (schema read now, model loaded at startup)."""
    settings = settings or Settings.from_env()
    schema = load_schema(settings.schema_path)
    if not settings.model_path.is_file():
        raise UserError(f"{settings.model_path} not found: train first with `make repro` (or set MODEL_PATH)")
    try:
        model_sha256 = file_sha256(settings.model_path)
    except OSError as exc:
        raise UserError(f"cannot read {settings.model_path}: {exc.strerror}") from None
    version = ModelVersion(
        git_commit=settings.git_commit or git_commit(settings.model_path.resolve().parent),
        model_sha256=model_sha256,
    )
    metrics = Metrics(version, schema.task)
    state = State()
    max_rows = settings.max_batch_rows
    request_adapter = TypeAdapter(request_model(schema, max_rows))
    response_schema = response_model(schema)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            pipeline = await asyncio.to_thread(joblib.load, settings.model_path)
        except Exception as exc:
            raise UserError(f"cannot load {settings.model_path}: {exc}") from None
        predictor = Predictor(pipeline, schema)
        state.log = PredictionLog(settings.prediction_log, version.label) if settings.prediction_log else None

        def on_batch(records: list[dict[str, Any]], result: dict[str, list]) -> None:
            metrics.observe_batch(records, result)
            if state.log is not None:
                state.log.write(records, result)

        state.batcher = Batcher(predictor.predict, max_rows, on_batch)
        # Everything loaded so far lives as long as the process: keep it out of the garbage
        # collector's full passes, whose pauses would otherwise show up in tail latencies.
        gc.collect()
        gc.freeze()
        state.ready, state.reason = True, "ok"
        try:
            yield
        finally:
            state.ready, state.reason = False, "shutting down"
            state.batcher.close()
            if state.log is not None:
                state.log.close()

    app = FastAPI(
        title=f"{PROJECT_NAME} model server",
        version=__version__,
        description=f"Scores {schema.task} records ({len(schema.features)} features) with the trained model.",
        lifespan=lifespan,
    )
    app.state.model = state
    app.state.metrics = metrics
    app.state.version = version

    async def score(body: bytes) -> tuple[int, bytes]:
        """POST /predict: (status, JSON body). Used by the middleware and the documented route."""
        try:
            payload = request_adapter.validate_json(body)
        except ValidationError as exc:
            status, summary, details = describe_errors(exc, schema, max_rows)
            return status, _dumps({"detail": summary, "errors": details})
        if not state.ready or state.batcher is None:
            return 503, _dumps({"detail": state.reason})
        records = payload.records
        metrics.rows.observe(len(records))
        try:
            result = await state.batcher.submit(records)
        except Exception as exc:  # e.g. values the fitted pipeline cannot handle
            return 422, _dumps({"detail": f"the model could not score these records: {exc}"})
        return 200, _dumps({**result, "model_version": version.label})

    app.add_middleware(
        MetricsMiddleware,
        metrics=metrics,
        headers=[(b"x-model-version", version.label.encode())],
        predict=score,
    )

    @app.post(
        "/predict",
        response_model=response_schema,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
            }
        },
        responses={
            400: {"description": "The body is not JSON"},
            413: {"description": f"More than {max_rows} records (MAX_BATCH_ROWS)"},
            422: {"description": "Missing or unknown columns, wrong types, empty batch"},
            503: {"description": "The model is not loaded yet"},
        },
    )
    async def predict(request: Request) -> Response:
        """Score one or many records."""
        status, body = await score(await request.body())
        return Response(body, status_code=status, media_type="application/json")

    @app.get("/health")
    async def health() -> dict[str, str]:
        """The process is up (liveness)."""
        return {"status": "ok"}

    @app.get("/ready", responses={503: {"description": "Not ready: the model is not loaded (yet)"}})
    async def ready() -> Response:
        """The model is loaded (readiness)."""
        if state.ready and state.batcher is not None and state.batcher.running:
            return _json({"status": "ready", "model_version": version.label})
        return _json({"status": "not ready", "reason": state.reason}, 503)

    @app.get("/version")
    async def get_version() -> dict[str, str]:
        """Git commit and model artifact hash of what is served."""
        return version.to_dict()

    @app.get("/metrics", response_class=Response)
    async def get_metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            request_schema = request_adapter.json_schema(ref_template="#/components/schemas/{model}")
            components = spec.setdefault("components", {}).setdefault("schemas", {})
            components.update(request_schema.pop("$defs", {}))
            components["PredictRequest"] = request_schema
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def run(host: str, port: int, settings: Settings, access_log: bool = False) -> None:
    """Serve until interrupted (one process: concurrent requests are batched on its event loop)."""
    import uvicorn

    app = create_app(settings)
    uvicorn.run(
        app, host=host, port=port, access_log=access_log, log_level="info", timeout_graceful_shutdown=10
    )
