"""The model server: predictions, the schema it publishes, errors that name the field, metrics, logs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.config import parse_params
from {{ cookiecutter.package_name }}.drift import read_source
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.features import to_model_frame
from {{ cookiecutter.package_name }}.serve import (
    Batcher,
    Predictor,
    Settings,
    create_app,
    load_schema,
)
from {{ cookiecutter.package_name }}.train import fit, save

from conftest import make_frame, make_params

FEATURES = ["x1", "x2", "flag", "colour", "city"]  # customer_id is identifier-like: dropped


def train_model(directory: Path, task: str) -> tuple[Path, Path, pd.DataFrame]:
    frame = make_frame(task)
    pipeline, schema = fit(frame, parse_params(make_params(task)))
    model, schema_file = directory / "model.joblib", directory / "schema.json"
    save(pipeline, schema, model, schema_file)
    return model, schema_file, frame


def records_of(frame: pd.DataFrame, rows: int) -> list[dict]:
    """Rows as a client would send them: JSON values, null for missing, without the target."""
    sample = frame.drop(columns=["label"]).head(rows)
    return json.loads(sample.to_json(orient="records"))


@pytest.fixture
def trained(tmp_path: Path, task: str):
    return train_model(tmp_path, task)


@pytest.fixture
def settings(tmp_path: Path, trained) -> Settings:
    model, schema, _ = trained
    return Settings(
        model_path=model,
        schema_path=schema,
        max_batch_rows=50,
        prediction_log=str(tmp_path / "logs" / "predictions.jsonl"),
        git_commit="0123456789abcdef0123456789abcdef01234567",
    )


@pytest.fixture
def client(settings: Settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_predicts_one_and_many_records_like_the_pipeline(client, trained, task):
    model, schema_file, frame = trained
    pipeline, schema = joblib.load(model), load_schema(schema_file)
    records = records_of(frame, 20)
    expected_frame = to_model_frame(frame.head(20), schema)

    one = client.post("/predict", json={"records": records[:1]})
    many = client.post("/predict", json={"records": records})

    assert one.status_code == 200 and many.status_code == 200
    assert len(one.json()["predictions"]) == 1
    body = many.json()
    if task == "classification":
        assert body["predictions"] == pipeline.predict(expected_frame).tolist()
        assert all(set(p) == {"no", "yes"} and abs(sum(p.values()) - 1) < 1e-9 for p in body["probabilities"])
        np.testing.assert_allclose(
            [p["yes"] for p in body["probabilities"]], pipeline.predict_proba(expected_frame)[:, 1]
        )
    else:
        assert "probabilities" not in body
        np.testing.assert_allclose(body["predictions"], pipeline.predict(expected_frame))


def test_fast_frame_matches_to_model_frame(trained):
    model, schema_file, frame = trained
    schema = load_schema(schema_file)
    records = records_of(frame, 30)
    predictor = Predictor(joblib.load(model), schema)
    built = predictor.frame(records)
    reference = to_model_frame(pd.DataFrame(records), schema)
    pd.testing.assert_frame_equal(built[reference.columns], reference)


def test_forest_shortcut_gives_the_forests_own_numbers(trained, task):
    model, schema_file, frame = trained
    pipeline = joblib.load(model)
    predictor = Predictor(pipeline, load_schema(schema_file))
    assert predictor.shortcut is not None  # the default random forest takes the fast path
    built = predictor.frame(records_of(frame, 40))
    official = pipeline.predict_proba(built) if task == "classification" else pipeline.predict(built)[:, None]
    assert np.array_equal(predictor.shortcut(built), official)


def test_other_models_use_the_pipeline_as_it_is(tmp_path, task):
    frame = make_frame(task)
    params = parse_params(make_params(task, model={"family": "linear", "params": {}}))
    pipeline, schema = fit(frame, params)
    predictor = Predictor(pipeline, schema)
    assert predictor.shortcut is None
    result = predictor.predict(records_of(frame, 10))
    expected = pipeline.predict(to_model_frame(frame.head(10), schema))
    if task == "classification":
        assert result["predictions"] == expected.tolist()
    else:
        np.testing.assert_allclose(result["predictions"], expected)


def test_openapi_documents_the_training_columns(client):
    spec = client.get("/openapi.json").json()
    record = spec["components"]["schemas"]["Record"]
    assert set(record["required"]) == set(FEATURES)
    assert set(record["properties"]) == {*FEATURES, "customer_id"}  # dropped id: accepted, ignored
    assert record["additionalProperties"] is False
    types = {
        name: [t.get("type") for t in prop.get("anyOf", [])] for name, prop in record["properties"].items()
    }
    assert types["x1"] == ["number", "null"]
    assert types["flag"] == ["boolean", "null"]
    assert types["colour"] == ["string", "null"]
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/PredictRequest"}
    assert spec["components"]["schemas"]["PredictRequest"]["properties"]["records"]["maxItems"] == 50


def _one(frame: pd.DataFrame, **changes) -> dict:
    record = records_of(frame, 1)[0]
    for key, value in changes.items():
        if value is KeyError:
            record.pop(key)
        else:
            record[key] = value
    return record


@pytest.mark.parametrize(
    ("make_body", "status", "fragments"),
    [
        (lambda f: {"records": [_one(f, x1=KeyError)]}, 422, ["records[0].x1", "missing column 'x1'"]),
        (lambda f: {"records": [_one(f, height=3)]}, 422, ["records[0].height", "unknown column 'height'"]),
        (lambda f: {"records": [_one(f, x1="abc")]}, 422, ["records[0].x1", "must be a number"]),
        (lambda f: {"records": [_one(f, flag="maybe")]}, 422, ["records[0].flag", "true or false"]),
        (lambda f: {"records": [_one(f, colour=["red"])]}, 422, ["records[0].colour", "must be a string"]),
        (lambda f: {"records": [_one(f), _one(f, city={"a": 1})]}, 422, ["records[1].city"]),
        (lambda f: {"records": []}, 422, ["records", "empty batch"]),
        (lambda f: {"records": [_one(f)] * 51}, 413, ["records", "at most 50"]),
        (lambda f: {"rows": [_one(f)]}, 422, ["records", "missing"]),
        (lambda f: {"records": [_one(f)], "extra": 1}, 422, ["extra", "unknown key"]),
        (lambda f: {"records": _one(f)}, 422, ["records", "list"]),
        (lambda f: {"records": [1]}, 422, ["records[0]", "JSON object"]),
        (lambda f: [1, 2], 422, ["JSON object"]),
        (lambda f: "not json at all {", 400, ["not valid JSON"]),
        (lambda f: "", 400, ["not valid JSON"]),
        (lambda f: '{"records": [{"x1": NaN}]}', 422, ["records[0].x1"]),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(client, trained, make_body, status, fragments):
    body = make_body(trained[2])
    content = body if isinstance(body, str) else json.dumps(body)
    response = client.post("/predict", content=content, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    for fragment in fragments:
        assert fragment in detail
    assert response.json()["errors"][0]["field"]


def test_documented_route_answers_like_the_fast_path(settings, trained):
    """POST /predict is answered in front of FastAPI; the FastAPI route (the one /docs shows) agrees."""
    app = create_app(settings)
    route = next(r for r in app.routes if getattr(r, "path", "") == "/predict")
    body = json.dumps({"records": records_of(trained[2], 3)}).encode()

    async def through_route(content: bytes):
        async def receive():
            return {"type": "http.request", "body": content, "more_body": False}

        return await route.endpoint(Request({"type": "http", "method": "POST", "headers": []}, receive))

    with TestClient(app) as client:
        expected = client.post("/predict", content=body)
        answer = asyncio.run(through_route(body))
        bad = asyncio.run(through_route(b"{"))
    assert answer.status_code == expected.status_code == 200
    assert json.loads(answer.body) == expected.json()
    assert bad.status_code == 400


def test_null_values_are_missing_values_not_errors(client, trained):
    record = _one(trained[2], x1=None, colour=None, flag=None)
    record["customer_id"] = "c00001"  # a column the model dropped is accepted and ignored
    response = client.post("/predict", json={"records": [record]})
    assert response.status_code == 200, response.text


def test_no_input_gets_a_server_error(client, trained):
    """Random bodies (seeded): every answer is 2xx or 4xx, and the server keeps answering."""
    rng = random.Random(7)
    good = _one(trained[2])
    values = [None, True, 0, -1e308, 1.5, "", "x", "1.5", [], {}, [1], {"a": None}, "\u00e9\u0000", 10**30]

    def mutate() -> object:
        record = dict(good)
        for _ in range(rng.randint(1, 3)):
            action = rng.random()
            key = rng.choice([*good, "new", ""])
            if action < 0.6:
                record[key] = rng.choice(values)
            elif action < 0.8:
                record.pop(key, None)
        shape = rng.random()
        if shape < 0.7:
            return {"records": [record] * rng.randint(1, 3)}
        if shape < 0.85:
            return rng.choice(values)
        return {"records": rng.choice(values)}

    for _ in range(150):
        body = mutate()
        response = client.post("/predict", content=json.dumps(body))
        assert response.status_code < 500, (body, response.text)
    for raw in (b"\xff\xfe", b"{" * 5000, b'{"records": [' + b"{}," * 100 + b"{}]}"):
        assert client.post("/predict", content=raw).status_code < 500
    assert client.get("/health").status_code == 200


def test_health_ready_version_and_header(client, settings):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200
    version = client.get("/version").json()
    sha = hashlib.sha256(settings.model_path.read_bytes()).hexdigest()
    assert version["git_commit"] == settings.git_commit
    assert version["model_sha256"] == sha
    label = version["model_version"]
    assert label == f"{settings.git_commit[:12]}-{sha[:12]}"
    for path in ("/health", "/ready", "/metrics", "/version", "/nowhere"):
        assert client.get(path).headers["x-model-version"] == label
    assert client.post("/predict", content="{").headers["x-model-version"] == label


def test_not_ready_before_the_model_is_loaded(settings):
    client = TestClient(create_app(settings))  # no `with`: the startup that loads the model has not run
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 503
    records = records_of(make_frame("classification"), 1)
    assert client.post("/predict", json={"records": records}).status_code == 503


def test_metrics_count_requests_latency_and_predictions(client, trained, task):
    client.post("/predict", json={"records": records_of(trained[2], 5)})
    client.post("/predict", content="{")
    text = client.get("/metrics").text
    assert 'http_requests_total{method="POST",path="/predict",status="200"} 1.0' in text
    assert 'http_requests_total{method="POST",path="/predict",status="400"} 1.0' in text
    assert 'http_request_duration_seconds_bucket{le="0.025",path="/predict"}' in text
    assert "predict_records_sum 5.0" in text
    assert 'model_info{git_commit="0123456789abcdef0123456789abcdef01234567"' in text
    if task == "classification":
        counts = [
            float(line.split()[-1]) for line in text.splitlines() if line.startswith("predictions_total{")
        ]
        assert sum(counts) == 5
    else:
        assert "prediction_value_count 5.0" in text


def test_prediction_log_is_current_data_for_drift(client, settings, trained):
    records = records_of(trained[2], 7)
    client.post("/predict", json={"records": records[:3]})
    client.post("/predict", json={"records": records[3:]})
    lines = [json.loads(line) for line in Path(settings.prediction_log).read_text().splitlines()]
    assert len(lines) == 7
    assert [line["features"] for line in lines] == records
    assert all({"timestamp", "model_version", "prediction"} <= set(line) for line in lines)
    table, findings = read_source(Path(settings.prediction_log), "predictions", ",", 1000, 0, "current")
    assert table.rows == 7 and not findings
    assert set(FEATURES) <= set(table.sample.columns)


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
    assert Settings.from_env({"MAX_BATCH_ROWS": "7", "PREDICTION_LOG": "-"}).max_batch_rows == 7


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="train first"):
        create_app(Settings(model_path=tmp_path / "m.joblib", schema_path=tmp_path / "s.json"))


@pytest.mark.parametrize("task", ["classification"])
def test_server_imports_no_training_or_drift_tools(settings, task):
    code = (
        "import sys; from pathlib import Path\n"
        "from {{ cookiecutter.package_name }}.cli import build_parser\n"
        "from {{ cookiecutter.package_name }}.serve import Settings, create_app\n"
        f"create_app(Settings(model_path=Path({str(settings.model_path)!r}), "
        f"schema_path=Path({str(settings.schema_path)!r})))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dvc', 'evidently', 'dvc_data'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_serve_command_reports_a_missing_model(tmp_path, capsys):
    from {{ cookiecutter.package_name }}.cli import main

    code = main(["serve", "--model", str(tmp_path / "m.joblib"), "--schema", str(tmp_path / "s.json")])
    assert code == 2
    assert "train first" in capsys.readouterr().err
    assert main(["serve", "--max-batch-rows", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
