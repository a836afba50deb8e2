"""The prediction log reaches object storage and SIGTERM loses nothing answered, for real: the
generated server (uvicorn, `python -m <package> serve`) writes its log with s3fs to an S3 API on
loopback (moto's server, the emulator the AWS SDKs' own tests use), concurrent clients load it,
the server is stopped with SIGTERM while they still send (as Kubernetes stops a pod; sent to the
whole process group, so the server's upload worker gets it too, as from a container runtime or a
Ctrl-C), and the bucket is read back: every prediction a client received an answer for is there
exactly once, and no id appears twice.

s3fs reaches the emulator through `AWS_ENDPOINT_URL`, the endpoint setting every AWS SDK reads
(AWS SDKs and Tools reference guide, "Service-specific endpoints"); nothing in the server knows
it is not talking to Amazon S3.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import boto3
import jsonschema
import pandas as pd
import pytest

from helpers import project_env
from template_support.containers import free_port, wait_for

pytestmark = pytest.mark.slow  # the session's trained project: `make repro` once

BUCKET = "predictions"
CLIENTS = 16
LOAD_SECONDS = 6.0  # the server flushes every second: several files, then the last at SIGTERM
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def s3() -> Iterator[str]:
    """moto's S3 server on loopback, with an empty bucket; its endpoint URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{endpoint}/moto-api/", timeout=30, process=server)
        client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        stop(server)


def client(endpoint: str):
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)


def stored_lines(endpoint: str) -> tuple[list[str], list[dict]]:
    """The keys under the bucket and every line of every object."""
    s3 = client(endpoint)
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for item in page.get("Contents", [])
    ]
    lines = [
        json.loads(line)
        for key in keys
        for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().splitlines()
    ]
    return keys, lines


class Load:
    """Closed-loop clients over keep-alive connections, 1 to 3 records a request, until the
    server goes away; what each answer said."""

    def __init__(self, port: int, bodies: list[bytes]) -> None:
        self.port, self.bodies = port, bodies
        self.answered: list[tuple[str, list[str]]] = []  # (request id, prediction ids)
        self.failures = 0
        self.lock = threading.Lock()

    def client(self, number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = 0
        while True:
            body = self.bodies[(number + sent) % len(self.bodies)]
            request_id = f"client-{number}-{sent}"
            sent += 1
            headers = {"Content-Type": "application/json", "X-Request-ID": request_id}
            try:
                connection.request("POST", "/predict", body, headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                return  # the server stopped: this request was never answered
            if response.status != 200:  # 503 while stopping
                with self.lock:
                    self.failures += 1
                return
            answer = json.loads(payload)
            assert response.headers["X-Request-ID"] == request_id
            with self.lock:
                self.answered.append((request_id, answer["prediction_ids"]))


def test_sigterm_under_load_loses_no_answered_prediction_in_s3(trained_project, s3, tmp_path):
    project = trained_project
    target = json.loads((project / "models/schema.json").read_text())["target"]
    test_split = pd.read_csv(project / "data/processed/test.csv").drop(columns=[target])
    rows = json.loads(test_split.to_json(orient="records"))
    bodies = [
        json.dumps({"records": rows[start : start + 1 + start % 3]}).encode()
        for start in range(0, len(rows) - 3)
    ]
    port = free_port()
    env = project_env(project) | CREDENTIALS
    env |= {
        "AWS_ENDPOINT_URL": s3,
        "PREDICTION_LOG": f"s3://{BUCKET}/logs",
        "PREDICTION_LOG_FLUSH_SECONDS": "1",
        "IMAGE_DIGEST": "sha256:" + "0" * 64,
    }
    command = [sys.executable, "-m", "mlops_project", "serve", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    load = Load(port, bodies)
    clients = [threading.Thread(target=load.client, args=(n,)) for n in range(CLIENTS)]
    try:
        wait_for(f"http://127.0.0.1:{port}/ready", timeout=60, process=server)
        for thread in clients:
            thread.start()
        time.sleep(LOAD_SECONDS)
        os.killpg(server.pid, signal.SIGTERM)  # while every client still sends
        _, errors = server.communicate(timeout=30)
    finally:
        stop(server)
        for thread in clients:
            thread.join(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught: -SIGTERM is a clean stop.
    assert server.returncode in (0, -signal.SIGTERM) and "shutdown complete" in errors, errors
    assert "prediction log" not in errors, errors  # no failed write

    answered = [pid for _, ids in load.answered for pid in ids]
    assert len(load.answered) > 100, f"too little load to prove anything: {len(load.answered)}"
    keys, lines = stored_lines(s3)
    stored = Counter(line["prediction_id"] for line in lines)
    assert not [pid for pid, count in stored.items() if count > 1], "a prediction logged twice"
    missing = set(answered) - set(stored)
    assert not missing, f"{len(missing)} of {len(answered)} answered predictions not in S3"
    assert len(set(answered)) == len(answered)
    # Each answered request's lines carry its request id; one file per flush, several flushes.
    by_id = {line["prediction_id"]: line["request_id"] for line in lines}
    assert all(by_id[pid] == request_id for request_id, ids in load.answered for pid in ids)
    assert len(keys) >= 3 and all(key.startswith("logs/") and key.endswith(".jsonl") for key in keys)
    schema = json.loads((project / "schemas/prediction-log.schema.json").read_text())
    for line in lines[:200]:
        jsonschema.validate(line, schema)
    print(f"{len(load.answered)} requests, {len(answered)} predictions answered, {len(keys)} files")
