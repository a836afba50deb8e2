"""The model server: predictions, the schema it publishes, errors that name the field, batching,
metrics, the prediction log and the model version."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import httpx
import jsonschema
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.config import parse_params
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.features import load_schema, to_model_frame
from {{ cookiecutter.package_name }}.io import read_model, write_json, write_model
from {{ cookiecutter.package_name }}.monitoring import ServerMetrics
from {{ cookiecutter.package_name }}.prediction_log import (
    BufferedSink,
    Folder,
    upload_process,
)
from {{ cookiecutter.package_name }}.reference import reference_of
from {{ cookiecutter.package_name }}.serve import (
    COERCIONS,
    Batcher,
    Predictor,
    Settings,
    create_app,
)
from {{ cookiecutter.package_name }}.train import fit

from conftest import make_frame, make_params

# Not in `make test-quick` (git pre-push): a model trained per test, servers started. CI runs it.
pytestmark = pytest.mark.slow

FEATURES = ["x1", "x2", "flag", "colour", "city"]  # customer_id is identifier-like: dropped
COMMIT = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32
LOG_SCHEMA = json.loads(
    (Path(__file__).parents[1] / "schemas" / "prediction-log.schema.json").read_text()
)


def train_model(
    directory: Path, task: str, family: str = "random_forest"
) -> tuple[Path, Path, pd.DataFrame]:
    frame = make_frame(task)
    model_params = {
        "family": family,
        "params": {"n_estimators": 20} if family == "random_forest" else {},
    }
    pipeline, schema = fit(frame, parse_params(make_params(task, model=model_params)))
    model, schema_file = directory / "model.skops", directory / "schema.json"
    write_model(pipeline, model)
    write_json(schema_file, schema.to_dict())
    return model, schema_file, frame


def records_of(frame: pd.DataFrame, rows: int) -> list[dict]:
    """Rows as a client would send them: JSON values, null for missing, without the target."""
    return json.loads(frame.drop(columns=["label"]).head(rows).to_json(orient="records"))


@pytest.fixture
def trained(tmp_path: Path, task: str):
    return train_model(tmp_path, task)


@pytest.fixture
def settings(tmp_path: Path, trained) -> Settings:
    model, schema, _ = trained
    log = str(tmp_path / "logs")
    return Settings(
        model,
        schema,
        max_batch_rows=50,
        prediction_log=log,
        git_commit=COMMIT,
        image_digest=DIGEST,
    )


def logged(folder: Path) -> list[dict]:
    """Every line of a prediction-log folder, each checked against the shipped JSON Schema."""
    lines = [
        json.loads(line)
        for path in sorted(folder.glob("**/*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    for line in lines:
        jsonschema.validate(line, LOG_SCHEMA)
    return lines


@pytest.fixture
def client(settings: Settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize("family", ["random_forest", "gradient_boosting", "linear"])
def test_predicts_one_and_many_records_like_the_pipeline(tmp_path, task, family):
    model, schema_file, frame = train_model(tmp_path, task, family)
    pipeline, schema = read_model(model), load_schema(schema_file)
    records = records_of(frame, 20)
    expected = to_model_frame(frame.head(20), schema)
    with TestClient(create_app(Settings(model, schema_file))) as client:
        one = client.post("/predict", json={"records": records[:1]})
        many = client.post("/predict", json={"records": records})
    assert one.status_code == 200 and many.status_code == 200
    assert len(one.json()["predictions"]) == 1
    body = many.json()
    if task == "classification":
        assert body["predictions"] == pipeline.predict(expected).tolist()
        assert all(
            set(p) == {"no", "yes"} and abs(sum(p.values()) - 1) < 1e-9
            for p in body["probabilities"]
        )
        np.testing.assert_allclose(
            [p["yes"] for p in body["probabilities"]], pipeline.predict_proba(expected)[:, 1]
        )
    else:
        assert "probabilities" not in body
        np.testing.assert_allclose(body["predictions"], pipeline.predict(expected))


def test_fast_frame_matches_to_model_frame(trained):
    model, schema_file, frame = trained
    schema = load_schema(schema_file)
    records = records_of(frame, 30)
    built = Predictor(read_model(model), schema).frame(records)
    reference = to_model_frame(pd.DataFrame(records), schema)
    pd.testing.assert_frame_equal(built[reference.columns], reference)


def test_openapi_documents_the_training_columns(client):
    spec = client.get("/openapi.json").json()
    record = spec["components"]["schemas"]["Record"]
    assert set(record["required"]) == set(FEATURES)
    assert set(record["properties"]) == {*FEATURES, "customer_id"}  # dropped id: accepted, ignored
    assert record["additionalProperties"] is False
    types = {
        name: [t.get("type") for t in prop.get("anyOf", [])]
        for name, prop in record["properties"].items()
    }
    assert types["x1"] == ["number", "null"] and types["flag"] == ["boolean", "null"]
    assert types["colour"] == ["string", "null"]
    assert record["properties"]["x1"]["anyOf"][0]["maximum"] == float(np.finfo(np.float32).max)
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/PredictRequest"}
    assert (
        spec["components"]["schemas"]["PredictRequest"]["properties"]["records"]["maxItems"] == 50
    )
    assert "/predict" in spec["paths"] and "/metrics" in spec["paths"]
    # Known categories are the examples of a one-hot column; a dropped column keeps its type.
    assert record["properties"]["colour"]["examples"] == ["blue", "green", "red"]
    dropped = record["properties"]["customer_id"]
    assert [t.get("type") for t in dropped["anyOf"]] == ["string", "null"]
    assert "ignored" in dropped["description"]
    # The conversions the server makes, and refuses, are listed where /docs shows them.
    assert COERCIONS in spec["info"]["description"]


LOCAL_ASSET = re.compile(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_pages_load_only_assets_the_server_serves(client, page):
    """Swagger UI and ReDoc work offline: every script, style and icon the page names is a path
    on this server, and it answers 200 (FastAPI's defaults load them from a CDN)."""
    html = client.get(page)
    assert html.status_code == 200
    assets = [url for url in LOCAL_ASSET.findall(html.text) if url != "/openapi.json"]
    assert assets, html.text
    assert [url for url in assets if not url.startswith("/")] == [], html.text
    assert "//" not in "".join(assets), html.text  # no scheme, no protocol-relative host
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url
    assert '"validatorUrl": null' in html.text or page == "/redoc"  # no online validator badge


def _one(frame: pd.DataFrame, **changes) -> dict:
    record = records_of(frame, 1)[0]
    for key, value in changes.items():
        if value is KeyError:
            record.pop(key)
        else:
            record[key] = value
    return record


def _raw(frame: pd.DataFrame, literal: str) -> str:
    """A body whose x1 is a literal that Python's json accepts but JSON has not (NaN, Infinity,
    1e400)."""
    return json.dumps({"records": [_one(frame, x1="@")]}).replace('"@"', literal)


@pytest.mark.parametrize(
    ("make_body", "status", "fragments"),
    [
        (
            lambda f: {"records": [_one(f, x1=KeyError)]},
            422,
            ["records[0].x1", "missing column 'x1'"],
        ),
        (
            lambda f: {"records": [_one(f, height=3)]},
            422,
            ["records[0].height", "unknown column 'height'"],
        ),
        (
            lambda f: {"records": [_one(f, x1="abc")]},
            422,
            ["records[0].x1", "must be a finite number"],
        ),
        (lambda f: {"records": [_one(f, flag="maybe")]}, 422, ["records[0].flag", "true or false"]),
        # Strict: a boolean is not a number, a number or a string is not a boolean.
        (lambda f: {"records": [_one(f, x1=True)]}, 422, ["records[0].x1", "number", "got true"]),
        (lambda f: {"records": [_one(f, x1="1.5")]}, 422, ["records[0].x1", "number"]),
        (lambda f: {"records": [_one(f, flag=1)]}, 422, ["records[0].flag", "true or false"]),
        (lambda f: {"records": [_one(f, flag="true")]}, 422, ["records[0].flag", "true or false"]),
        (lambda f: {"records": [_one(f, colour=False)]}, 422, ["records[0].colour", "string"]),
        (
            lambda f: {"records": [_one(f, colour=["red"])]},
            422,
            ["records[0].colour", "must be a string"],
        ),
        (lambda f: {"records": [_one(f), _one(f, city={"a": 1})]}, 422, ["records[1].city"]),
        (lambda f: {"records": [_one(f, x1=-1e308)]}, 422, ["records[0].x1", "float32", "-1e+308"]),
        (lambda f: {"records": [_one(f, x1=1e39)]}, 422, ["records[0].x1", "float32", "1e+39"]),
        (lambda f: {"records": [_one(f), _one(f, x2=3.5e38)]}, 422, ["records[1].x2", "float32"]),
        (lambda f: {"records": [_one(f, x1=10**400)]}, 422, ["records[0].x1", "finite number"]),
        (lambda f: _raw(f, "NaN"), 422, ["records[0].x1", "finite number", "NaN"]),
        (lambda f: _raw(f, "-Infinity"), 422, ["records[0].x1", "finite number"]),
        (lambda f: _raw(f, "1e400"), 422, ["records[0].x1", "finite number"]),
        (lambda f: {"records": []}, 422, ["records", "empty batch"]),
        (lambda f: {"records": [_one(f)] * 51}, 413, ["records", "at most 50"]),
        (lambda f: {"rows": [_one(f)]}, 422, ["records", "missing"]),
        (lambda f: {"records": [_one(f)], "extra": 1}, 422, ["extra", "unknown key"]),
        (lambda f: {"records": _one(f)}, 422, ["records", "list"]),
        (lambda f: {"records": [1]}, 422, ["records[0]", "JSON object"]),
        (lambda f: [1, 2], 422, ["JSON object"]),
        (lambda f: "not json at all {", 400, ["not valid JSON"]),
        (lambda f: "", 400, ["body is empty"]),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(client, trained, make_body, status, fragments):
    body = make_body(trained[2])
    content = body if isinstance(body, str) else json.dumps(body)
    response = client.post(
        "/predict", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    for fragment in fragments:
        assert fragment in detail
    assert response.json()["errors"][0]["field"]


@pytest.mark.parametrize("family", ["random_forest", "gradient_boosting", "linear"])
@pytest.mark.parametrize("value", [-1e308, 1e39, -3.5e38])
def test_values_scikit_learn_refuses_get_a_422_for_every_model(tmp_path, task, family, value):
    model, schema_file, frame = train_model(tmp_path, task, family)
    with TestClient(create_app(Settings(model, schema_file))) as client:
        response = client.post("/predict", json={"records": [_one(frame), _one(frame, x2=value)]})
        largest = client.post("/predict", json={"records": [_one(frame, x2=3.4e38, x1=-3.4e38)]})
    assert response.status_code == 422 and "records[1].x2" in response.json()["detail"]
    assert largest.status_code == 200, largest.text  # float32's own range is scored
    if family == "random_forest":  # trees work in float32: scikit-learn itself refuses these values
        x = to_model_frame(pd.DataFrame([_one(frame, x2=value)]), load_schema(schema_file))
        with (
            np.errstate(over="ignore"),
            pytest.raises(ValueError, match="infinity or a value too large"),
        ):
            read_model(model).predict(x)


def test_forest_fast_path_gives_scikit_learns_outputs_and_errors_bit_for_bit(trained):
    """Predictor.tree_mean against the pipeline's own call: the same numbers exactly (rows with
    gaps, all-missing rows, float32's extremes) and the same error where scikit-learn refuses the
    input."""
    model, schema_file, frame = trained
    pipeline, schema = read_model(model), load_schema(schema_file)
    fast, slow = Predictor(pipeline, schema), Predictor(pipeline, schema, fast_path=False)
    assert fast.score == fast.tree_mean and slow.score != slow.tree_mean
    records = [*records_of(frame, 120), dict.fromkeys(FEATURES), _one(frame, x1=3.4e38, x2=-3.4e38)]
    np.testing.assert_array_equal(fast.score(fast.frame(records)), slow.score(slow.frame(records)))
    assert fast.predict(records) == slow.predict(records)
    for value in (1e39, -1e308, float("inf"), float("-inf")):
        bad, errors = fast.frame([_one(frame, x2=value)]), []
        for predictor in (fast, slow):
            with np.errstate(over="ignore"), pytest.raises(ValueError) as caught:
                predictor.score(bad)
            errors.append(str(caught.value))
        assert errors[0] == errors[1] and "infinity or a value too large" in errors[0]


def test_serve_command_can_turn_the_fast_path_off(monkeypatch):
    from {{ cookiecutter.package_name }} import cli, serve

    seen: list[Settings] = []
    monkeypatch.setattr(serve, "run", lambda host, port, settings: seen.append(settings))
    assert cli.main(["serve", "--no-fast-path"]) == 0 and cli.main(["serve"]) == 0
    assert [settings.fast_path for settings in seen] == [False, True]


def test_a_body_not_sent_as_json_is_told_so(client, trained):
    body = json.dumps({"records": [_one(trained[2])]})
    response = client.post("/predict", content=body, headers={"content-type": "text/plain"})
    assert response.status_code == 422 and "application/json" in response.json()["detail"]


def test_documented_coercions_are_accepted(client, trained):
    """An integer in a number column, a number in a text column: the two conversions /docs lists."""
    record = _one(trained[2], x1=3, city=7)
    response = client.post("/predict", json={"records": [record]})
    assert response.status_code == 200, response.text


def test_null_values_are_missing_values_not_errors(client, trained):
    record = _one(trained[2], x1=None, colour=None, flag=None)
    record["customer_id"] = "c00001"  # a column the model dropped is accepted and ignored
    response = client.post("/predict", json={"records": [record]})
    assert response.status_code == 200, response.text


def test_no_input_gets_a_server_error(client, trained):
    """Random bodies (seeded): every answer is 2xx or 4xx, and the server keeps answering."""
    rng = random.Random(7)
    good = _one(trained[2])
    values = [
        None,
        True,
        0,
        -1e308,
        1e39,
        1.5,
        "",
        "x",
        "1.5",
        [],
        {},
        [1],
        {"a": None},
        "\u00e9\u0000",
        10**30,
    ]

    def mutate() -> object:
        record = dict(good)
        for _ in range(rng.randint(1, 3)):
            action, key = rng.random(), rng.choice([*good, "new", ""])
            if action < 0.6:
                record[key] = rng.choice(values)
            elif action < 0.8:
                record.pop(key, None)
        shape = rng.random()
        if shape < 0.7:
            return {"records": [record] * rng.randint(1, 3)}
        return rng.choice(values) if shape < 0.85 else {"records": rng.choice(values)}

    for _ in range(150):
        body = mutate()
        response = client.post("/predict", content=json.dumps(body))
        assert response.status_code < 500, (body, response.text)
    for raw in (b"\xff\xfe", b"{" * 5000, b'{"records": [' + b"{}," * 100 + b"{}]}"):
        assert (
            client.post(
                "/predict", content=raw, headers={"content-type": "application/json"}
            ).status_code
            < 500
        )
        assert client.post("/predict", content=raw).status_code < 500
    assert client.get("/health").status_code == 200


def test_health_ready_and_version(client, settings):
    assert client.get("/health").json() == {"status": "ok"}
    version = client.get("/version").json()
    sha = hashlib.sha256(settings.model_path.read_bytes()).hexdigest()
    assert version["git_commit"] == COMMIT and version["model_sha256"] == sha
    assert version["model_version"] == f"{COMMIT[:12]}-{sha[:12]}"
    assert client.get("/ready").json() == {
        "status": "ready",
        "model_version": version["model_version"],
    }
    response = client.post(
        "/predict", json={"records": records_of(make_frame("classification"), 2)}
    )
    assert response.json()["model_version"] == version["model_version"]


def test_not_ready_before_startup(settings):
    client = TestClient(create_app(settings))  # no `with`: the app has not started
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 503
    records = records_of(make_frame("classification"), 1)
    assert client.post("/predict", json={"records": records}).status_code == 503


def test_metrics_count_requests_latency_and_predictions(client, trained, task):
    client.post("/predict", json={"records": records_of(trained[2], 5)})
    client.post("/predict", content="{", headers={"content-type": "application/json"})
    text = client.get("/metrics").text
    assert 'http_requests_total{handler="/predict",method="POST",status="2xx"} 1.0' in text
    assert 'http_requests_total{handler="/predict",method="POST",status="4xx"} 1.0' in text
    assert "http_request_size_bytes" not in text and 'handler="/metrics"' not in text
    assert 'http_request_duration_seconds_count{handler="/predict",method="POST"} 2.0' in text
    assert "model_batch_records_sum 5.0" in text and "model_batch_records_count 1.0" in text
    assert 'model_info{git_commit="' + COMMIT + '"' in text
    counts = [
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("model_predictions_total")
    ]
    assert sum(counts) == 5
    if task == "classification":
        assert all(
            line.startswith("model_predictions_total{label=")
            for line in text.splitlines()
            if line.startswith("model_predictions_total")
        )


def test_an_upload_worker_process_writes_each_flush_and_hands_failures_back(tmp_path):
    """A bucket's sink uploads from a worker process (upload_process); a folder stands in for
    the bucket here, through the same process. A failed write is counted and kept for the next
    flush; the sink's end stops the worker."""
    failures: list[int] = []
    (tmp_path / "a-file").write_text("")
    for base in (tmp_path / "logs", tmp_path / "a-file" / "logs"):  # the second cannot be made
        uploads = upload_process()
        sink = BufferedSink(Folder(str(base)), 3600, 1 << 20, lambda: failures.append(1), uploads)
        sink.append('{"prediction_id": "a"}\n')
        sink.append('{"prediction_id": "b"}\n')
        sink.close()
        asyncio.run(sink.run())
        with pytest.raises(RuntimeError, match="shutdown"):
            uploads.submit(print)
    written = sorted((tmp_path / "logs").rglob("*.jsonl"))
    assert len(written) == 1
    assert written[0].read_text() == '{"prediction_id": "a"}\n{"prediction_id": "b"}\n'
    assert len(failures) == 1  # closed before it ran: one flush, at the end
    assert sink.size == len('{"prediction_id": "a"}\n{"prediction_id": "b"}\n')


def test_a_dead_upload_worker_is_replaced_and_its_lines_written_by_the_next(tmp_path):
    """A killed worker breaks its pool: that flush is counted as failed, its lines are kept,
    and the next flush goes through a new worker."""
    failures: list[int] = []
    uploads = upload_process()
    folder = Folder(str(tmp_path / "logs"))
    sink = BufferedSink(folder, 3600, 1 << 20, lambda: failures.append(1), uploads)
    with pytest.raises(BrokenProcessPool):
        uploads.submit(os._exit, 1).result()  # the worker dies, as when killed
    sink.append('{"prediction_id": "a"}\n')
    asyncio.run(sink.flush())
    assert failures == [1] and sink.uploads is not uploads
    assert list((tmp_path / "logs").rglob("*.jsonl")) == []  # nothing written yet
    sink.close()
    asyncio.run(sink.run())
    [written] = (tmp_path / "logs").rglob("*.jsonl")
    assert written.read_text() == '{"prediction_id": "a"}\n'
    assert failures == [1]


def test_metrics_export_the_reference_the_slo_bucket_and_failed_log_writes(trained, task):
    model, schema_file, frame = trained
    reference = reference_of(read_model(model), load_schema(schema_file), frame)
    write_json(model.with_name("reference.json"), reference)
    known = json.loads(model.with_name("reference.json").read_text())
    # A folder under a file cannot be made: each write fails, the request is answered, the
    # failure counted (flushed at once: the buffer holds 1 byte).
    (model.parent / "a-file").write_text("")
    settings = Settings(model, schema_file, prediction_log=str(model.parent / "a-file" / "logs"))
    settings.git_commit, settings.log_flush_bytes = COMMIT, 1
    with TestClient(create_app(settings)) as client:
        assert client.post("/predict", json={"records": records_of(frame, 3)}).status_code == 200
        for _ in range(100):
            text = client.get("/metrics").text
            if "model_prediction_log_errors_total 1.0" in text:
                break
            time.sleep(0.05)
    assert "model_prediction_log_errors_total 1.0" in text
    assert (
        'http_request_duration_seconds_bucket{handler="/predict",le="0.05",method="POST"} ' in text
    )
    if task == "classification":
        assert set(known["class_share"]) == set(schema_of(model).classes)
        shares = {
            sample.labels["label"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "model_reference_class_share"
        }
        assert shares == known["class_share"]
    else:
        assert f"model_reference_prediction_mean {known['prediction_mean']}" in text
        assert f"model_reference_prediction_stddev {known['prediction_stddev']}" in text
        counts = {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name.endswith("value_count")
        }
        assert sum(counts.values()) == 3, counts  # each prediction in one of the two Summaries


def test_negative_predictions_keep_every_summary_sum_from_going_down():
    """rate() reads a smaller _sum as a counter reset: values below 0 go to their own Summary,
    sign inverted, and the alert's mean (monitoring/generate.py) subtracts its sum."""
    registry = CollectorRegistry()
    metrics = ServerMetrics(registry, {}, "regression", None)
    metrics.observe([{}, {}, {}], {"predictions": [-4.0, 1.5, -0.5]})
    value = registry.get_sample_value
    assert value("model_prediction_value_sum") == 1.5
    assert value("model_prediction_value_count") == 1
    assert value("model_prediction_negative_value_sum") == 4.5
    assert value("model_prediction_negative_value_count") == 2
    mean = (value("model_prediction_value_sum") - value("model_prediction_negative_value_sum")) / (
        value("model_prediction_value_count") + value("model_prediction_negative_value_count")
    )
    assert mean == pytest.approx(-1.0)


def schema_of(model: Path):
    return load_schema(model.with_name("schema.json"))


def test_http_metrics_keep_counting_on_the_series_they_looked_up(client, trained):
    """HttpMetrics looks up each label combination's series once and keeps them: every later
    request of that combination still counts, and a new combination gets its own series."""
    for _ in range(3):
        client.post("/predict", json={"records": records_of(trained[2], 1)})
    client.get("/health")
    client.get("/nowhere")
    text = client.get("/metrics").text
    assert 'http_requests_total{handler="/predict",method="POST",status="2xx"} 3.0' in text
    assert 'http_request_duration_seconds_count{handler="/predict",method="POST"} 3.0' in text
    assert 'http_requests_total{handler="/health",method="GET",status="2xx"} 1.0' in text
    assert 'http_requests_total{handler="none",method="GET",status="4xx"} 1.0' in text


def test_metrics_have_bounded_labels_and_pass_promtool(client, trained):
    """Unknown paths, methods and bodies add no series; `promtool check metrics` finds nothing."""

    def series() -> set[str]:
        text = client.get("/metrics").text
        return {
            line.rsplit(" ", 1)[0]
            for line in text.splitlines()
            if line and not line.startswith("#")
        }

    for _ in range(2):  # each kind of request once (and /metrics itself) before counting
        client.post("/predict", json={"records": records_of(trained[2], 2)})
        client.post("/predict", json={"records": [{"x1": 0}]})
        client.get("/nowhere")
        client.delete("/predict/0")
        before = series()
    for n in range(40):
        client.post(
            "/predict", json={"records": records_of(trained[2].sample(3, random_state=n), 3)}
        )
        client.post("/predict", json={"records": [{"x1": n}]})
        client.get(f"/nowhere/{n}")
        client.delete(f"/predict/{n}")
    after = series()
    assert after == before
    assert len(after) < 200
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian/Ubuntu: apt-get install prometheus)")
    checked = subprocess.run(
        [promtool, "check", "metrics"],
        input=client.get("/metrics").text,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", (
        checked.stdout + checked.stderr
    )


def test_prediction_log_holds_what_was_scored(settings, trained, task):
    """One line per record, as the schema says, flushed when the server stops; the response's
    prediction ids and X-Request-ID name the lines."""
    records = records_of(trained[2], 7)
    with TestClient(create_app(settings)) as client:
        responses = [
            client.post("/predict", json={"records": records[:3]}, headers={"X-Request-ID": "a-1"}),
            client.post("/predict", json={"records": records[3:]}),
        ]
        assert logged(Path(settings.prediction_log)) == []  # buffered until a flush
    answers = [response.json() for response in responses]
    lines = logged(Path(settings.prediction_log))
    assert [line["features"] for line in lines] == records
    assert [line["prediction"] for line in lines] == [
        *answers[0]["predictions"],
        *answers[1]["predictions"],
    ]
    ids = [*answers[0]["prediction_ids"], *answers[1]["prediction_ids"]]
    assert [line["prediction_id"] for line in lines] == ids and len(set(ids)) == 7
    assert [line["request_id"] for line in lines] == [
        *["a-1"] * 3,
        *[responses[1].headers["X-Request-ID"]] * 4,
    ]
    assert {line["model_version"] for line in lines} == {answers[0]["model_version"]}
    assert {(line["image_digest"], line["git_commit"]) for line in lines} == {(DIGEST, COMMIT)}
    if task == "classification":
        assert [line["probabilities"] for line in lines[:3]] == answers[0]["probabilities"]
    assert all(("probabilities" in line) == (task == "classification") for line in lines)
    files = list(Path(settings.prediction_log).glob("*/*/*/*.jsonl"))
    assert len(files) == 1 and files[0].name.endswith("-000001.jsonl")


@pytest.mark.parametrize("task", ["classification"])
def test_request_ids_are_echoed_when_well_formed_and_made_otherwise(client, trained, task):
    body = {"records": records_of(trained[2], 1)}
    sent = "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
    assert (
        client.post("/predict", json=body, headers={"X-Request-ID": sent}).headers["X-Request-ID"]
        == sent
    )
    made = [
        client.post("/predict", json=body, headers=headers).headers["X-Request-ID"]
        for headers in ({}, {}, {"X-Request-ID": "a b"}, {"X-Request-ID": "x" * 129})
    ]
    assert all(len(made_id) == 32 for made_id in made) and len(set(made)) == 4
    assert client.get("/nowhere").headers["X-Request-ID"]  # every response, 404s too


@pytest.mark.parametrize("task", ["classification"])
def test_access_log_is_one_json_line_per_request(settings, trained, task, capsys):
    settings.access_log = True
    with TestClient(create_app(settings)) as client:
        client.post("/predict", json={"records": records_of(trained[2], 2)})
        client.get("/nowhere", headers={"X-Request-ID": "r-9"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("POST", "/predict", 200),
        ("GET", "/nowhere", 404),
    ]
    assert lines[1]["request_id"] == "r-9" and all(line["latency_ms"] > 0 for line in lines)


def test_concurrent_requests_are_scored_in_one_model_call(settings, trained):
    """Eight requests in flight together reach the pipeline as one batch of all their records."""
    app = create_app(settings)
    records = records_of(trained[2], 8)

    async def scenario() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                posts = [http.post("/predict", json={"records": [record]}) for record in records]
                return [*await asyncio.gather(*posts), await http.get("/metrics")]

    *answers, metrics = asyncio.run(scenario())
    assert [a.status_code for a in answers] == [200] * 8
    assert (
        "model_batch_records_count 1.0" in metrics.text
        and "model_batch_records_sum 8.0" in metrics.text
    )
    alone = TestClient(app)
    with alone:
        expected = [
            alone.post("/predict", json={"records": [r]}).json()["predictions"][0] for r in records
        ]
    assert [a.json()["predictions"][0] for a in answers] == expected


def test_batcher_scores_concurrent_requests_together_and_isolates_bad_ones():
    calls = []

    def predict(records):
        calls.append(len(records))
        if any(r.get("bad") for r in records):
            raise ValueError("cannot score")
        return {"predictions": [r["v"] * 2 for r in records]}

    async def scenario():
        batcher = Batcher(predict, max_rows=100)
        return await asyncio.gather(
            batcher.submit([{"v": 1}]),
            batcher.submit([{"v": 2}, {"v": 3}]),
            batcher.submit([{"v": 4, "bad": True}]),
            batcher.submit([{"v": 5}]),
            return_exceptions=True,
        )

    first, second, third, fourth = asyncio.run(scenario())
    assert first == {"predictions": [2]}
    assert second == {"predictions": [4, 6]}
    assert isinstance(third, ValueError)
    assert fourth == {"predictions": [10]}
    assert calls[0] == 5  # all four requests went to the model in one call, then one by one


def test_batcher_respects_the_row_limit():
    calls = []

    def predict(records):
        calls.append(len(records))
        return {"predictions": [0] * len(records)}

    async def scenario():
        batcher = Batcher(predict, max_rows=4)
        await asyncio.gather(*(batcher.submit([{}] * 3) for _ in range(3)))

    asyncio.run(scenario())
    assert calls == [3, 3, 3]


def test_settings_reject_a_bad_batch_limit():
    with pytest.raises(UserError, match="MAX_BATCH_ROWS"):
        Settings.from_env({"MAX_BATCH_ROWS": "lots"})
    with pytest.raises(UserError, match="at least 1"):
        Settings.from_env({"MAX_BATCH_ROWS": "0"})
    with pytest.raises(UserError, match="PREDICTION_LOG_FLUSH_SECONDS"):
        Settings.from_env({"PREDICTION_LOG_FLUSH_SECONDS": "0"})
    with pytest.raises(UserError, match="PREDICTION_LOG_FLUSH_BYTES must be at least 1"):
        Settings.from_env({"PREDICTION_LOG_FLUSH_BYTES": "0"})
    with pytest.raises(UserError, match="PREDICTION_LOG_FLUSH_BYTES must be a positive whole"):
        Settings.from_env({"PREDICTION_LOG_FLUSH_BYTES": "1MB"})
    assert Settings.from_env({"PREDICTION_LOG_FLUSH_BYTES": "4096"}).log_flush_bytes == 4096
    with pytest.raises(UserError, match="unknown storage"):
        Settings(prediction_log="ftp://host/logs")
    settings = Settings.from_env(
        {"MAX_BATCH_ROWS": "7", "PREDICTION_LOG": "-", "MODEL_PATH": "m.skops"}
    )
    assert (settings.max_batch_rows, settings.prediction_log, settings.model_path) == (
        7,
        "-",
        Path("m.skops"),
    )
    assert Settings.from_env({}).model_path == Path("models/model.skops")


def test_missing_model_is_a_clear_error(tmp_path, trained):
    with pytest.raises(UserError, match="train first"):
        create_app(Settings(tmp_path / "m.skops", trained[1]))
    with pytest.raises(UserError, match=r"s\.json not found: train first"):
        create_app(Settings(trained[0], tmp_path / "s.json"))


@pytest.mark.parametrize("task", ["classification"])
def test_server_imports_no_training_or_drift_tools(settings, task):
    paths = f"Path({str(settings.model_path)!r}), Path({str(settings.schema_path)!r})"
    code = (
        "import sys; from pathlib import Path\n"
        "from {{ cookiecutter.package_name }}.cli import build_parser\n"
        "from {{ cookiecutter.package_name }}.serve import Settings, create_app\n"
        f"create_app(Settings({paths}))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dvc', 'evidently', 'dvc_data'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_serve_command_reports_a_missing_model(tmp_path, capsys):
    from {{ cookiecutter.package_name }}.cli import main

    code = main(
        ["serve", "--model", str(tmp_path / "m.skops"), "--schema", str(tmp_path / "s.json")]
    )
    assert code == 2
    assert "train first" in capsys.readouterr().err
    assert main(["serve", "--max-batch-rows", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
    (tmp_path / "m.skops").write_bytes(b"not a model")
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"task": "regression", "target": "y", "numeric": ["x"]}))
    assert main(["serve", "--model", str(tmp_path / "m.skops"), "--schema", str(schema)]) == 2
    assert "m.skops is not a model saved by training" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["classification"])
def test_serve_command_answers_with_the_model_version_on_every_response(settings, tmp_path, task):
    """`serve` for real (uvicorn): every response, 404s and bad requests too, names the model
    version."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [
        "--model",
        str(settings.model_path),
        "--schema",
        str(settings.schema_path),
        "--port",
        str(port),
    ]
    env = {**os.environ, "GIT_COMMIT": COMMIT, "PYTHONPATH": os.pathsep.join(sys.path)}
    env |= {"PREDICTION_LOG": str(tmp_path / "served"), "ACCESS_LOG": "1", "IMAGE_DIGEST": DIGEST}
    serve = ["serve", "--host", "127.0.0.1", *args]
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}", *serve]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"

    def header(path: str, body: bytes | None = None) -> tuple[int, str]:
        request = urllib.request.Request(
            base + path, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers["X-Model-Version"]
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers["X-Model-Version"]

    try:
        for _ in range(120):
            try:
                if header("/ready")[0] == 200:
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.25)
        with urllib.request.urlopen(base + "/version", timeout=10) as response:
            label = json.loads(response.read())["model_version"]
        assert label.startswith(COMMIT[:12])
        body = json.dumps({"records": records_of(make_frame("classification"), 2)}).encode()
        expected = [
            ("/health", None, 200),
            ("/metrics", None, 200),
            ("/nowhere", None, 404),
            ("/predict", body, 200),
            ("/predict", b"{", 400),
        ]
        for path, data, status in expected:
            assert header(path, data) == (status, label), path
    finally:
        server.terminate()  # SIGTERM, as Kubernetes stops a pod
        _, errors = server.communicate(timeout=20)  # waits, and closes the stderr pipe
    # The log of the one answered prediction, flushed at shutdown; the access log on stderr.
    assert [line["image_digest"] for line in logged(tmp_path / "served")] == [DIGEST] * 2
    access = [json.loads(line) for line in errors.splitlines() if line.startswith("{")]
    assert [(line["path"], line["status"]) for line in access if line["path"] != "/ready"] == [
        ("/version", 200),
        *[(path, status) for path, _, status in expected],
    ]
