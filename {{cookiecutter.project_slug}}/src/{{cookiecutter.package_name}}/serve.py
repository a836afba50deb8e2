"""HTTP model server (``make serve``; docs/serving.md): ``POST /predict`` scores
``{"records": [{column: value, ...}, ...]}`` (``/docs`` lists the columns); a bad request gets a 4xx
naming the field. Requests that arrive while the model is busy are scored in one pipeline call
(``Batcher``): its fixed cost is paid once per batch, not once per request.
"""

import asyncio
import contextlib
import gc
import hashlib
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NotRequired

import numpy as np
import pandas as pd
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import ConfigDict, Field, Strict, create_model
from sklearn import ensemble
from sklearn.utils.validation import check_is_fitted, get_tags, validate_data
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from . import __version__
from .access import RequestContext
from .errors import UserError
from .features import Schema, load_schema
from .io import read_model, read_reference
from .monitoring import METRICS_PATH, HttpMetrics, ServerMetrics
from .paths import MODEL_FILE, REFERENCE_FILE, SCHEMA_FILE
from .prediction_log import Origin, check_target, new_ids, open_sink

FLOAT32_MAX = float(np.finfo(np.float32).max)  # scikit-learn's trees refuse numbers beyond it
EXPECTED = {"number": "a finite number within float32's range (±3.4e38)", "bool": "true or false"}
SEND = 'send {"records": [{column: value, ...}, ...]}'
Item = tuple[list[dict[str, Any]], asyncio.Future]  # a request's records, and its answer
# model.family random_forest: these exact types (a subclass may predict otherwise)
FORESTS = ensemble.RandomForestClassifier, ensemble.RandomForestRegressor
UNPROCESSABLE = "Missing or unknown columns, wrong types, non-finite numbers, empty batch"
COERCIONS = """Values are checked strictly; these are the only conversions:

- a number column takes a JSON number (an integer such as `3` is read as `3.0`); `true`,
  `false` and strings such as `"3"` are refused;
- a true/false column takes only `true` or `false` (not `1`, `0` or `"true"`);
- a text column takes a string, or a number, read as its text (`7` is `"7"`); `true` and
  `false` are refused;
- `null` is a missing value in every column (the model imputes it)."""


@dataclass
class Settings:
    model_path: Path = MODEL_FILE
    schema_path: Path = SCHEMA_FILE
    max_batch_rows: int = 10_000
    prediction_log: str | None = None
    git_commit: str | None = None
    fast_path: bool = True  # Predictor.tree_mean (serve --no-fast-path: off)
    image_digest: str | None = None  # the manifests set it from the overlay's `images:` digest
    access_log: bool = False
    log_flush_seconds: float = 10.0
    log_flush_bytes: int = 8 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_batch_rows < 1:
            raise UserError(
                f"the batch limit (MAX_BATCH_ROWS) must be at least 1, got {self.max_batch_rows}"
            )
        if self.log_flush_seconds <= 0:
            raise UserError(
                f"PREDICTION_LOG_FLUSH_SECONDS must be at least 1, got {self.log_flush_seconds:g}"
            )
        if self.log_flush_bytes < 1:
            raise UserError(
                f"PREDICTION_LOG_FLUSH_BYTES must be at least 1, got {self.log_flush_bytes}"
            )
        if self.prediction_log:
            check_target(self.prediction_log)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        return cls(
            model_path=Path(env.get("MODEL_PATH", MODEL_FILE)),
            schema_path=Path(env.get("SCHEMA_PATH", SCHEMA_FILE)),
            max_batch_rows=int(whole_number(env, "MAX_BATCH_ROWS", "10000")),
            prediction_log=env.get("PREDICTION_LOG") or None,
            git_commit=env.get("GIT_COMMIT") or None,
            image_digest=env.get("IMAGE_DIGEST") or None,
            access_log=env.get("ACCESS_LOG", "").lower() in {"1", "true", "yes", "on"},
            log_flush_seconds=float(whole_number(env, "PREDICTION_LOG_FLUSH_SECONDS", "10")),
            log_flush_bytes=int(
                whole_number(env, "PREDICTION_LOG_FLUSH_BYTES", str(cls.log_flush_bytes))
            ),
        )


def whole_number(env: dict[str, str] | os._Environ[str], name: str, default: str) -> str:
    value = env.get(name, default).strip()
    if not value.isdigit():
        raise UserError(f"{name} must be a positive whole number, got {value!r}")
    return value


def model_version(settings: Settings) -> dict[str, str]:
    """Git commit and SHA-256 of the model file, and the label made of both."""
    path = settings.model_path
    commit = settings.git_commit or _checkout_commit(path.resolve().parent) or "unknown"
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    label = f"{commit[:12]}-{sha[:12]}"
    return {
        "model_version": label,
        "git_commit": commit,
        "model_sha256": sha,
        "package_version": __version__,
    }


def _checkout_commit(folder: Path) -> str | None:
    """The commit checked out in ``folder``; None outside a git checkout (e.g. in an image built
    without GIT_COMMIT)."""
    git = ["git", "rev-parse", "HEAD"]
    try:
        done = subprocess.run(git, cwd=folder, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def column_type(schema: Schema, column: str) -> Any:
    """The type of one column in the request: strict numbers and booleans (``COERCIONS``), the
    known categories of a one-hot column as its examples."""
    number = Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-FLOAT32_MAX, le=FLOAT32_MAX)]
    kinds = {"number": number | None, "bool": Annotated[bool, Strict()] | None}
    if column in schema.categories:
        return Annotated[str | None, Field(examples=schema.categories[column])]
    return kinds.get(schema.dtypes.get(column, ""), str | None)


def request_model(schema: Schema, max_rows: int) -> type:
    """``{"records": [Record, ...]}``: a Record's keys are the training columns (any spelling)."""
    fields: dict[str, Any] = {column: column_type(schema, column) for column in schema.features}
    ignored = Field(description="dropped in training (identifier-like or empty): accepted, ignored")
    for column in schema.dropped:  # typed as in training; an all-empty column had no type
        kind = column_type(schema, column) if column in schema.dtypes else Any
        fields[column] = NotRequired[Annotated[kind, ignored]]
    record: Any = TypedDict("Record", fields)  # type: ignore[misc]
    record.__pydantic_config__ = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    about = f"rows to score: 1 to {max_rows}, each with every feature column (null: missing)"
    records = (list[record], Field(min_length=1, max_length=max_rows, description=about))
    return create_model("PredictRequest", __config__=ConfigDict(extra="forbid"), records=records)


def response_model(schema: Schema) -> type:
    classification = schema.task == "classification"
    fields: dict[str, Any] = {"predictions": (list[str] if classification else list[float], ...)}
    about = "one per record, in order: the id of its line in the prediction log"
    fields["prediction_ids"] = (list[str], Field(description=about))
    if classification:  # a {class: probability} mapping per record
        fields["probabilities"] = (list[dict[str, float]], ...)
    return create_model("PredictResponse", model_version=(str, ...), **fields)


def _record_message(kind: str, column: str, got: str, schema: Schema) -> str:
    """What is wrong with one column of one record."""
    if kind == "missing":
        return f"missing column {column!r}: every record needs all {len(schema.features)} features"
    if kind == "extra_forbidden":
        return f"unknown column {column!r}: not a feature of this model (see /docs)"
    expected = EXPECTED.get(schema.dtypes.get(column, ""), "a string")
    return f"column {column!r} must be {expected} or null, got {got}"


def _body_message(error: dict, field: str, got: str, max_rows: int) -> str:
    """What is wrong with the body or its "records" list."""
    messages = {
        "json_invalid": f"the body is not valid JSON ({error.get('ctx', {}).get('error')})",
        "missing": f'missing "records": {SEND}'
        if field != "body"
        else f"the body is empty: {SEND}",
        "extra_forbidden": f'unknown key {field!r}: the body has a single key, "records"',
        "too_short": "empty batch: send at least one record",
        "too_long": f"too many records: at most {max_rows} per request (MAX_BATCH_ROWS)",
        "list_type": "records must be a JSON list of objects",
        "model_attributes_type": f"must be a JSON object, sent as application/json; got {got}",
    }
    return messages.get(error["type"], f"must be a JSON object, got {got}")


def _status(details: list[dict[str, str]]) -> int:
    """400 for a body that is not JSON or is empty, 413 for too many records, else 422."""
    found = {(detail["type"], detail["field"]) for detail in details}
    if found & {("json_invalid", "body"), ("missing", "body")}:
        return 400
    return 413 if ("too_long", "records") in found else 422


def describe_errors(errors: list[dict], schema: Schema, max_rows: int) -> JSONResponse:
    """FastAPI's validation errors as a 4xx response; ``detail`` names each field and the fix."""
    details = []
    for error in errors:
        loc, kind = tuple(error["loc"])[1:], error["type"]  # loc[0] is "body"
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        field = field or "body"
        got = json.dumps(error.get("input"), default=str)[:60]
        if len(loc) == 3:  # ("records", row, column)
            message = _record_message(kind, str(loc[2]), got, schema)
        else:
            message = _body_message(error, field, got, max_rows)
        if kind == "json_invalid":
            field = "body"
        details.append({"field": field, "type": kind, "message": message})
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    if len(details) > 5:
        summary += f"; and {len(details) - 5} more"
    return JSONResponse({"detail": summary, "errors": details}, _status(details))


class Predictor:
    """Scores validated records with the pipeline; builds the model frame in one go (fast)."""

    def __init__(self, pipeline: Any, schema: Schema, fast_path: bool = True) -> None:
        self.pipeline = pipeline
        self.schema = schema
        self.text = schema.categorical + schema.high_cardinality
        self.classes = [str(c) for c in getattr(pipeline, "classes_", [])]
        self.score = pipeline.predict_proba if self.classes else pipeline.predict
        if fast_path and type(pipeline[-1]) in FORESTS:
            self.score = self.tree_mean

    def tree_mean(self, frame: pd.DataFrame) -> np.ndarray:
        """The forest's own answer without joblib's dispatch of each tree (about 25 µs a tree:
        most of a small batch's time), from scikit-learn's public API: the forest's input check
        (``validate_data`` as the forest calls it: float32, NaN allowed when its trees take
        missing values) once, then each tree's documented ``predict(X, check_input=False)``,
        summed in the forest's order. The same output bit for bit and the same errors (the
        tests check both)."""
        forest = self.pipeline[-1]
        check_is_fitted(forest)
        finite = "allow-nan" if get_tags(forest).input_tags.allow_nan else True
        features = self.pipeline[:-1].transform(frame)
        X = validate_data(forest, features, dtype=np.float32, reset=False, ensure_all_finite=finite)
        method = "predict_proba" if self.classes else "predict"
        total = sum(getattr(tree, method)(X, check_input=False) for tree in forest.estimators_)
        return total / len(forest)

    def frame(self, records: list[dict[str, Any]]) -> pd.DataFrame:
        """What ``to_model_frame`` gives for these records (null: NaN), without per-column
        inserts."""
        numeric = self.schema.numeric
        values = np.array([[r[c] for c in numeric] for r in records], dtype="float64")
        frame = pd.DataFrame(
            values.reshape(len(records), len(numeric)), columns=numeric, copy=False
        )
        if not self.text:
            return frame
        text = {
            c: np.array([np.nan if r[c] is None else r[c] for r in records], object)
            for c in self.text
        }
        return pd.concat([frame, pd.DataFrame(text)], axis=1, copy=False)

    def predict(self, records: list[dict[str, Any]]) -> dict[str, list]:
        frame = self.frame(records)
        if self.schema.task == "classification":
            probabilities = self.score(frame)
            labels = np.asarray(self.classes, dtype=object)[probabilities.argmax(axis=1)].tolist()
            rows = [dict(zip(self.classes, row, strict=True)) for row in probabilities.tolist()]
            return {"predictions": labels, "probabilities": rows}
        predictions = np.asarray(self.score(frame), dtype="float64")
        if not np.isfinite(predictions).all():  # never seen; JSON has no NaN: a 422, not a 500
            raise ValueError("the model's output is not a finite number for these values")
        return {"predictions": predictions.tolist()}


class Batcher:
    """Scores all waiting requests in one model call, on the event loop: new requests wait in
    the socket buffers meanwhile. (A predictor thread is slower: it fights the event loop for
    the GIL.)"""

    def __init__(self, predict: Callable, max_rows: int, on_batch: Sequence[Callable] = ()) -> None:
        self._predict = predict
        self._max_rows = max_rows
        self._on_batch = on_batch
        self._pending: list[Item] = []
        self._seen = 0  # requests pending at the previous look

    async def submit(self, records: list[dict[str, Any]]) -> dict[str, list]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((records, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)  # after the requests already read in this loop iteration
        return await future

    def _flush(self) -> None:
        # Requests read in one wake-up reach submit() over some loop iterations: wait for them all.
        if len(self._pending) != self._seen:
            self._seen = len(self._pending)
            asyncio.get_running_loop().call_soon(self._flush)
            return
        pending, self._pending, self._seen = self._pending, [], 0
        batch: list[Item] = []
        for item in pending:
            if batch and sum(len(b[0]) for b in batch) + len(item[0]) > self._max_rows:
                self._score(batch)
                batch = []
            batch.append(item)
        self._score(batch)

    def _score(self, batch: list[Item]) -> None:
        records = [record for item in batch for record in item[0]]
        try:
            result = self._predict(records)
        except Exception as exc:
            self._fail(batch, exc)
            return
        start = 0
        for request_records, future in batch:
            end = start + len(request_records)
            if not future.done():  # else the client went away
                future.set_result({key: values[start:end] for key, values in result.items()})
            start = end
        for hook in self._on_batch:  # metrics and logs must never cost a prediction
            with contextlib.suppress(Exception):
                hook(records, result)

    def _fail(self, batch: list[Item], exc: Exception) -> None:
        """One bad request must not fail the others scored with it: score each on its own."""
        if len(batch) > 1:
            for item in batch:
                self._score([item])
        elif not batch[0][1].done():
            batch[0][1].set_exception(exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for the model in ``settings``; a file that cannot be served stops it here,
    clearly."""
    settings = settings or Settings.from_env()
    schema = load_schema(settings.schema_path)
    predictor = Predictor(read_model(settings.model_path), schema, settings.fast_path)
    version = model_version(settings)
    label = version["model_version"]
    max_rows = settings.max_batch_rows
    registry = CollectorRegistry()
    known = read_reference(settings.model_path.with_name(REFERENCE_FILE.name))
    metrics = ServerMetrics(registry, version, schema.task, known)
    commit = None if version["git_commit"] == "unknown" else version["git_commit"]
    origin = Origin(label, settings.image_digest, commit)
    sink = None
    if settings.prediction_log:  # a bad value stops the server here, naming the fix
        flush = settings.log_flush_seconds, settings.log_flush_bytes
        sink = open_sink(settings.prediction_log, *flush, metrics.log_errors.inc)

    @metrics.counting_failures
    def log(ids: list[str], request: Request, records: list[dict], result: dict) -> None:
        latency_ms = (time.perf_counter() - request.state.started) * 1000
        sink.append(origin.lines(ids, request.state.request_id, records, result, latency_ms))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:  # ready from here on
        flushing = asyncio.create_task(sink.run()) if sink else None
        app.state.batcher = Batcher(predictor.predict, max_rows, [metrics.observe])
        gc.collect()  # what is loaded lives as long as the process: keep it out of the
        gc.freeze()  # collector's full passes, whose pauses would show in tail latencies
        yield
        # uvicorn has answered every request by now: the last flush holds all their lines.
        app.state.batcher = None
        if sink and flushing:
            sink.close()
            await flushing  # the last flushes

    about = (
        f"Scores {schema.task} records ({len(schema.features)} features) with the trained model."
        f"\n\n{COERCIONS}"
    )
    title = "MLOps Project" + " model server"
    # Swagger UI and ReDoc from the fastapi-offline package, served by this app: /docs and /redoc
    # work offline and in an air-gapped cluster (FastAPI's defaults load them from a CDN).
    # validatorUrl None: Swagger UI would otherwise ask an online validator for a badge.
    app = FastAPIOffline(
        title=title,
        version=__version__,
        description=about,
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.version, app.state.batcher = version, None

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> Response:
        return describe_errors(list(exc.errors()), schema, max_rows)

    responses: dict[int | str, Any] = {
        400: {"description": "The body is not JSON"},
        413: {"description": f"More than {max_rows} records (MAX_BATCH_ROWS)"},
        422: {"description": UNPROCESSABLE},
        503: {"description": "Not ready: the server is starting or stopping"},
    }
    PredictRequest = request_model(schema, max_rows)

    @app.post("/predict", response_model=response_model(schema), responses=responses)
    async def predict(body: PredictRequest, request: Request) -> Response:  # type: ignore[valid-type]
        """Score one or many records; each gets a prediction id (the X-Request-ID header names
        the request: the client's own, or a new one)."""
        if app.state.batcher is None:
            return JSONResponse({"detail": "not ready: the server is starting or stopping"}, 503)
        records = body.records  # type: ignore[attr-defined]
        try:
            result = await app.state.batcher.submit(records)
        except Exception as exc:  # values the fitted pipeline cannot score
            return JSONResponse({"detail": f"the model could not score these records: {exc}"}, 422)
        ids = new_ids(len(records))
        if sink:
            log(ids, request, records, result)
        return JSONResponse({**result, "prediction_ids": ids, "model_version": label})

    @app.get("/health")
    async def health() -> dict[str, str]:
        """The process is up (liveness)."""
        return {"status": "ok"}

    @app.get("/ready", responses={503: responses[503]})
    async def ready() -> Response:
        """The server has started and scores requests (readiness)."""
        if app.state.batcher is None:
            return JSONResponse(
                {"status": "not ready", "reason": "the server is starting or stopping"}, 503
            )
        return JSONResponse({"status": "ready", "model_version": label})

    @app.get("/version")
    async def get_version() -> dict[str, str]:
        """Git commit and model file hash of what is served."""
        return version

    @app.get(METRICS_PATH, response_class=Response)
    async def prometheus_metrics() -> Response:
        """Prometheus' text format: the HTTP metrics and the model's own (docs/serving.md)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # HTTP metrics, recorded by the request middleware for the routes defined above.
    http_metrics = HttpMetrics(registry, (route.path for route in app.routes))
    app.add_middleware(RequestContext, http_metrics.observe, access_log=settings.access_log)
    return app


def run(host: str, port: int, settings: Settings) -> None:
    """Serve until interrupted (one process: concurrent requests are batched on its event loop).
    SIGTERM: uvicorn stops accepting, answers what is in flight, then the lifespan's end flushes
    the prediction log."""
    app = create_app(settings)
    # On every response, 404s too. The access log is RequestContext's (JSON), not uvicorn's.
    headers = [("X-Model-Version", app.state.version["model_version"])]
    uvicorn.run(app, host=host, port=port, access_log=False, headers=headers)
