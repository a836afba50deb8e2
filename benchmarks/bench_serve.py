"""The model server against its own pipeline-call path, a plain FastAPI route and BentoML, the same
saved pipeline, in one run.

Targets (issue 9), on this machine's cores: one-row POST /predict with 32 concurrent clients
(closed loop) p99 <= 25 ms and throughput >= 5x BentoML's best; a 1,000-row /predict <= 100 ms;
and the image size and what it adds over its base.

Load comes from `wrk` (C, one thread, 32 connections, keep-alive) so the load generator takes as
little of the 2 cores as possible. All servers run at once (one process each, idle when not under
load) and are measured in interleaved rounds, the order rotating each round: this machine's speed
drifts by tens of percent from minute to minute, so each ratio is taken within a round and the
report gives the median over rounds and every round's figures. Every round starts every server
afresh: a process keeps its own speed for its whole life, so a ratio of two long-lived processes
says more about their starts than about their code. The servers:
- ours: the generated server (`python -m <package> serve`), with its forest fast path
  (Predictor.tree_mean: the trees' outputs summed without joblib's dispatch of each tree);
- ours without the fast path (`serve --no-fast-path`): every batch through the pipeline's own
  predict_proba, to show what the fast path buys;
- ours with its HTTP metrics from prometheus-fastapi-instrumentator's middleware instead (the
  library a user would pick; this server used it before): the same two metrics, at its cost;
- ours with the prediction log on (issue 16: p99 at 32 clients <= 25 ms and a throughput at
  least 90% of ours, whose log is off): to a local folder, and to moto's S3 server on loopback
  (s3fs through AWS_ENDPOINT_URL, as in the cloud but without the network's latency);
- the FastAPI route a user would write without batching (pydantic request model, scikit-learn
  called per request in FastAPI's thread pool, same uvicorn);
- BentoML, installed in its own venv (benchmarks/.venv-bentoml, created on first use) with the same
  scikit-learn/pandas/numpy/skops versions as this environment, with adaptive batching (its
  throughput feature) and without.
All load the model file with skops and the project's list of trusted types.

The cost of monitoring (issue 15: a throughput with monitoring on at least 95% of the same server
with it off) is measured apart, in one process: the metrics cost a few microseconds of a request's
~300, far less than the spread between two processes of the same code (up to 15% here) or between
two seconds of this machine (two consecutive 1 s windows of one server: a standard deviation of
about 14% in their ratio). So one server process
records its metrics or not as the benchmark switches them (SIGUSR1), and wrk loads it in short
windows, the states in rotating order: all metrics on, all off, only the HTTP metrics off, only
the model's own off. Each cycle's ratio compares windows a few seconds apart in the same process;
the report gives the mean over all cycles, its 95% confidence interval and each process's figure.
The server's own /metrics is read around every window: the run stops if a state that is off
recorded anything, or one that is on missed a request.

Run from the repository root with the test venv: `python -m benchmarks.bench_serve`.
Writes benchmarks/results/serve.json. `--project DIR` reuses a trained bake (else one is baked
and trained); `--skip-image` skips the podman build.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from template_support.containers import (
    BASE_PYTHON,
    build_image,
    ensure_base_image,
    free_port,
    image_size,
    podman,
    wait_for,
)
from template_support.project import TEMPLATE as ROOT
from template_support.project import bake, bake_and_train, project_env

RESULTS = ROOT / "benchmarks" / "results"
BENTO_VENV = ROOT / "benchmarks" / ".venv-bentoml"
BENTOML_VERSION = "1.4.40"
TARGETS = {
    "one_row_p99_ms": 25.0,
    "thousand_rows_ms": 100.0,
    "throughput_vs_bentoml": 5.0,
    "throughput_monitoring_on_vs_off": 0.95,
    "logging_p99_ms": 25.0,  # issue 16: the prediction log on, 32 clients
    "throughput_logging_on_vs_off": 0.90,
}

WRK_SCRIPT = """
local f = io.open(os.getenv("BENCH_BODY"), "r")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, \\"p90_us\\": %d, "
    .. "\\"p99_us\\": %d, \\"max_us\\": %d, \\"socket_errors\\": %d, \\"non_2xx\\": %d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
"""

BENTO_SERVICE = '''
"""BentoML service for the same saved pipeline (benchmark only)."""
import json
import os
from typing import Any

import bentoml
import numpy as np
import pandas as pd
import skops.io

SCHEMA = json.loads(open(os.environ["BENCH_SCHEMA_PATH"]).read())
BATCHING = os.environ.get("BENCH_BATCHING") == "1"
TRUSTED = json.loads(os.environ["BENCH_TRUSTED_TYPES"])


# One worker like ours, and no access log line per request (ours logs none either).
@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Model:
    def __init__(self) -> None:
        self.pipeline = skops.io.load(os.environ["BENCH_MODEL_PATH"], trusted=TRUSTED)
        self.features = SCHEMA["features"]
        self.classes = [str(c) for c in self.pipeline.classes_]

    def _score(self, records):
        frame = pd.DataFrame.from_records(records, columns=self.features).astype("float64")
        proba = self.pipeline.predict_proba(frame)
        labels = np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)].tolist()
        return labels, [dict(zip(self.classes, row)) for row in proba.tolist()]

    if BATCHING:
        @bentoml.api(batchable=True, max_batch_size=10000, max_latency_ms=10000)
        def predict(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            labels, probabilities = self._score(records)
            return [{"prediction": l, "probabilities": p} for l, p in zip(labels, probabilities)]
    else:
        @bentoml.api
        def predict(self, records: list[dict[str, Any]]) -> dict[str, Any]:
            labels, probabilities = self._score(records)
            return {"predictions": labels, "probabilities": probabilities}
'''

PLAIN_FASTAPI = '''
"""The FastAPI route a user would write, without batching (benchmark only)."""
import json
import os

import numpy as np
import pandas as pd
import skops.io
from fastapi import FastAPI
from pydantic import BaseModel

SCHEMA = json.loads(open(os.environ["BENCH_SCHEMA_PATH"]).read())
TRUSTED = json.loads(os.environ["BENCH_TRUSTED_TYPES"])
PIPELINE = skops.io.load(os.environ["BENCH_MODEL_PATH"], trusted=TRUSTED)
CLASSES = [str(c) for c in PIPELINE.classes_]
app = FastAPI()


class PredictRequest(BaseModel):
    records: list[dict[str, float | None]]


@app.get("/ready")
def ready() -> dict:
    return {"status": "ready"}


@app.post("/predict")
def predict(request: PredictRequest) -> dict:
    frame = pd.DataFrame.from_records(request.records, columns=SCHEMA["features"]).astype("float64")
    proba = PIPELINE.predict_proba(frame)
    labels = np.asarray(CLASSES, dtype=object)[proba.argmax(axis=1)].tolist()
    return {"predictions": labels, "probabilities": [dict(zip(CLASSES, row)) for row in proba.tolist()]}
'''


# How the benchmark-only variants of our server below start (each is written to a file after
# this): `python SCRIPT PACKAGE --port N`, the package's serve module in `serve`.
SERVER_SCRIPT_START = """
import argparse
import importlib

parser = argparse.ArgumentParser()
parser.add_argument("package")
parser.add_argument("--port", type=int)
args = parser.parse_args()
serve = importlib.import_module(args.package + ".serve")
"""

# Our server with its HTTP metrics from prometheus-fastapi-instrumentator's middleware instead of
# its own (this benchmark only): the library a user would pick, and what this server used before,
# with the same two metrics and buckets.
INSTRUMENTATOR_METRICS = "/instrumentator-metrics"  # what it recorded (its own registry)
INSTRUMENTATOR = f"""
from prometheus_fastapi_instrumentator import Instrumentator, metrics

INSTRUMENTATOR_METRICS = "{INSTRUMENTATOR_METRICS}"

buckets = importlib.import_module(args.package + ".monitoring").LATENCY_BUCKETS


class NoHttpMetrics:
    def __init__(self, *args):
        pass

    def observe(self, *args):
        pass


serve.HttpMetrics = NoHttpMetrics
ours = serve.create_app


def create_app(settings):
    app = ours(settings)
    excluded = ["/metrics", INSTRUMENTATOR_METRICS]
    instrumentator = Instrumentator(should_group_status_codes=True, excluded_handlers=excluded)
    instrumentator.add(metrics.requests(), metrics.latency(should_include_status=False, buckets=buckets))
    instrumentator.instrument(app).expose(app, endpoint=INSTRUMENTATOR_METRICS)
    return app


serve.create_app = create_app
serve.run("127.0.0.1", args.port, serve.Settings.from_env())
"""

# Our server whose metrics the benchmark switches on and off (this benchmark only). On SIGUSR1
# it reads, from the file named by BENCH_METRICS_STATE, which metrics record ("http", "model",
# both or neither); the others' observe() returns at once. Python runs the handler in the main
# thread, between two steps of the event loop, so a switch never splits a request.
METRICS_SWITCH = """
import os
import signal
from pathlib import Path

recording = {"http": True, "model": True}


def switch(*_):
    wanted = Path(os.environ["BENCH_METRICS_STATE"]).read_text().split()
    for kind in recording:
        recording[kind] = kind in wanted


def switchable(kind, observe):
    def observe_if_on(self, *args):
        if recording[kind]:
            observe(self, *args)

    return observe_if_on


serve.HttpMetrics.observe = switchable("http", serve.HttpMetrics.observe)
serve.ServerMetrics.observe = switchable("model", serve.ServerMetrics.observe)
signal.signal(signal.SIGUSR1, switch)
serve.run("127.0.0.1", args.port, serve.Settings.from_env())
"""
# What records in each state of the switched server.
MONITORING_STATES = {"on": "http model", "off": "", "http_off": "model", "model_off": "http"}
LOG_BUCKET = "predictions"
MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def moto_s3(workdir: Path):
    """moto's S3 server on loopback with an empty bucket (the prediction log's storage); its URL."""
    import boto3

    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    endpoint = f"http://127.0.0.1:{port}"
    with server(command, workdir, dict(os.environ), f"{endpoint}/moto-api/", workdir / "moto.log"):
        keys = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
        s3.create_bucket(Bucket=LOG_BUCKET)
        yield endpoint


def bodies(project: Path, workdir: Path) -> dict[str, Path]:
    import pandas as pd

    schema = json.loads((project / "models/schema.json").read_text())
    test = pd.read_csv(project / "data/processed/test.csv")[schema["features"]]
    rows = json.loads(test.to_json(orient="records"))
    thousand = (rows * (1000 // len(rows) + 1))[:1000]
    paths = {"one": workdir / "one.json", "thousand": workdir / "thousand.json"}
    paths["one"].write_text(json.dumps({"records": rows[:1]}))
    paths["thousand"].write_text(json.dumps({"records": thousand}))
    return paths


def ensure_bento_venv() -> Path:
    python = BENTO_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENTO_VENV)], check=True)
        same = [
            f"{name}=={importlib.metadata.version(name)}"
            for name in ("scikit-learn", "pandas", "numpy", "joblib", "skops")
        ]
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"bentoml=={BENTOML_VERSION}", *same], check=True
        )
    return BENTO_VENV / "bin" / "bentoml"


@contextlib.contextmanager
def server(cmd: list[str], cwd: Path, env: dict[str, str], ready_url: str, log: Path):
    with log.open("w") as handle:
        process = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            try:
                wait_for(ready_url, timeout=120, process=process)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; its output:\n{log.read_text()[-3000:]}") from None
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()


def wrk(url: str, body: Path, seconds: int, connections: int, script: Path) -> dict:
    env = {**os.environ, "BENCH_BODY": str(body)}
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    raw = json.loads(line.removeprefix("RESULT "))
    return {
        "requests": raw["requests"],
        "throughput_rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": raw["socket_errors"] + raw["non_2xx"],
    }


def sequential(port: int, body: Path, count: int) -> tuple[dict, dict]:
    """Latency of one client sending `count` requests one after the other (keep-alive)."""
    payload = body.read_bytes()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    answer: dict = {}
    for _ in range(count + 3):
        start = time.perf_counter()
        connection.request("POST", "/predict", payload, {"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
        times.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            raise AssertionError(f"/predict answered {response.status}: {data[:300]!r}")
        answer = json.loads(data)
    connection.close()
    times = sorted(times[3:])  # the first calls warm up
    stats = {
        "requests": count,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "max_ms": round(times[-1], 1),
    }
    return stats, answer


def recorded(port: int, path: str = "/metrics") -> dict[str, float]:
    """What the server's metrics at ``path`` have counted so far: answered POST /predict
    requests, and model calls."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        text = response.read().decode()
    counts = {"requests": 0.0, "batches": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "http_requests_total" and sample.labels["handler"] == "/predict":
                counts["requests"] += sample.value
            elif sample.name == "model_batch_records_count":
                counts["batches"] += sample.value
    return counts


def mean_and_interval(values: list[float]) -> dict:
    """The mean and its 95% confidence interval (normal approximation, n >= 30 here)."""
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / len(values) ** 0.5
    return {"mean": round(mean, 3), "ci95": [round(mean - half, 3), round(mean + half, 3)]}


def monitoring_cost(command: list[str], project: Path, workdir: Path, body: Path, script: Path, args) -> dict:
    """Throughput of each MONITORING_STATES state over all metrics off, in one process at a
    time (see the module's docstring): ``args.monitoring_processes`` fresh processes, each
    loaded in ``args.monitoring_cycles`` cycles of one ``args.monitoring_window``-second wrk
    window per state. Also checks, from /metrics, that an off state recorded nothing."""
    states = list(MONITORING_STATES)
    state_file = workdir / "metrics-state"
    env = project_env(project, BENCH_METRICS_STATE=str(state_file))
    cycles: list[dict[str, float]] = []
    per_process = []
    for number in range(args.monitoring_processes):
        port = free_port()
        log = workdir / f"metrics-switch-{number}.log"
        ready = f"http://127.0.0.1:{port}/ready"
        with server([*command, "--port", str(port)], project, env, ready, log) as process:
            url = f"http://127.0.0.1:{port}/predict"
            wrk(url, body, 3, args.connections, script)  # warm-up, all metrics on
            totals = dict.fromkeys(states, 0)
            for cycle in range(args.monitoring_cycles):
                # Every state takes every place in the order equally often: rotated, then
                # rotated and reversed (every 2 x 4 cycles).
                turn = cycle % len(states)
                order = states[turn:] + states[:turn]
                throughput = {}
                for state in order if (cycle // len(states)) % 2 == 0 else order[::-1]:
                    state_file.write_text(MONITORING_STATES[state])
                    os.kill(process.pid, signal.SIGUSR1)
                    time.sleep(0.05)  # the handler runs at the event loop's next step
                    before = recorded(port)
                    window = wrk(url, body, args.monitoring_window, args.connections, script)
                    time.sleep(0.05)  # wrk closed its connections: their last answers are counted
                    check_recorded(state, window, before, recorded(port))
                    throughput[state] = window["throughput_rps"]
                    totals[state] += window["requests"]
                cycles.append({state: throughput[state] / throughput["off"] for state in states})
            per_process.append({state: round(totals[state] / totals["off"], 3) for state in states})
            print(f"monitoring, process {number + 1}: each state / all off {per_process[-1]}", flush=True)
    return {
        "method": "one process at a time, metrics switched by signal; wrk windows in rotating order",
        "processes": args.monitoring_processes,
        "cycles_per_process": args.monitoring_cycles,
        "window_s": args.monitoring_window,
        "vs_all_off": {
            state: {
                **mean_and_interval([cycle[state] for cycle in cycles]),
                "per_process_total_requests_ratio": [process[state] for process in per_process],
            }
            for state in states
            if state != "off"
        },
    }


def check_recorded(state: str, window: dict, before: dict, after: dict) -> None:
    """A state's metrics recorded what it says: nothing when off; when on, at least every
    request wrk counted (the server may count a few more: wrk stops with requests in flight)."""
    requests = after["requests"] - before["requests"]
    batches = after["batches"] - before["batches"]
    http_on, model_on = "http" in MONITORING_STATES[state], "model" in MONITORING_STATES[state]
    if (requests > 0) != http_on or (batches > 0) != model_on or (http_on and requests < window["requests"]):
        raise AssertionError(
            f"state {state!r}: /metrics counted {requests:.0f} requests and {batches:.0f} model calls "
            f"in a window of {window['requests']} requests: the switch did not work"
        )


def summary(rounds: list[dict]) -> dict:
    """Medians over the rounds (worst max), and every round's figures."""
    median = {key: round(statistics.median(r[key] for r in rounds), 3) for key in rounds[0]}
    worst = {"max_ms": max(r["max_ms"] for r in rounds), "errors": sum(r["errors"] for r in rounds)}
    return {**median, **worst, "requests": sum(r["requests"] for r in rounds), "rounds": rounds}


def labels_of(answer: dict) -> list[str]:
    if isinstance(answer, list):  # BentoML batchable API: one object per record
        return [item["prediction"] for item in answer]
    return answer["predictions"]


def image_numbers(project: Path, workdir: Path) -> dict:
    """Build the image the way the slow test does and report its size over its base."""
    image_bake = bake(workdir / "image", python_version=BASE_PYTHON)
    shutil.copytree(project / "models", image_bake / "models", dirs_exist_ok=True)
    base = ensure_base_image()
    tag = "localhost/bench-serve:latest"
    start = time.perf_counter()
    build_image(image_bake, tag, base, "bench")
    seconds = time.perf_counter() - start
    size, base_size = image_size(tag), image_size(base)
    podman("rmi", "--force", tag, check=False)
    return {
        "base_image": base,
        "base_note": "Debian bookworm minbase + python3 made by debootstrap (no registry reachable here); "
        "the default base for users is python:<version>-slim",
        "image_mb": round(size / 1e6, 1),
        "base_mb": round(base_size / 1e6, 1),
        "added_over_base_mb": round((size - base_size) / 1e6, 1),
        "build_seconds": round(seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a trained bake to serve (default: bake and train one)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per server and round (10)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--thousand-requests", type=int, default=30)
    parser.add_argument("--monitoring-processes", type=int, default=3, help="for the monitoring cost (3)")
    parser.add_argument("--monitoring-cycles", type=int, default=32, help="per process (32)")
    parser.add_argument("--monitoring-window", type=int, default=1, help="seconds per state and cycle (1)")
    parser.add_argument("--skip-image", action="store_true")
    parser.add_argument("--skip-bentoml", action="store_true")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="change the niceness of this run and all it starts, every server alike (e.g. -10 as root, "
        "to shield the measurement from other jobs on a shared machine); default 0: unchanged",
    )
    args = parser.parse_args()
    if args.nice and os.geteuid() == 0:
        os.nice(args.nice)
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk (listed in scripts/system-deps.sh)")

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp, contextlib.ExitStack() as running:
        workdir = Path(tmp)
        project = args.project.resolve() if args.project else bake_and_train(workdir / "project")
        package = project.name.replace("-", "_")
        paths = bodies(project, workdir)
        script = workdir / "post.lua"
        script.write_text(WRK_SCRIPT)
        launches: dict[str, tuple[list[str], Path, dict[str, str], str]] = {}

        def start(name: str, cmd: list[str], cwd: Path, env: dict[str, str], ready: str = "/ready") -> None:
            """Register a server; every round starts it afresh (``start_all``)."""
            launches[name] = (cmd, cwd, env, ready)

        def start_all(stack: contextlib.ExitStack) -> dict[str, int]:
            """Start every server in ``stack`` and warm each up; their ports."""
            ports = {}
            for name, (cmd, cwd, env, ready) in launches.items():
                port = ports[name] = free_port()
                url, log = f"http://127.0.0.1:{port}{ready}", workdir / f"{name}.log"
                stack.enter_context(server([*cmd, "--port", str(port)], cwd, env, url, log))
            for port in ports.values():
                wrk(f"http://127.0.0.1:{port}/predict", paths["one"], 3, args.connections, script)
            return ports

        ours = [sys.executable, "-m", package, "serve"]
        start("ours", ours, project, project_env(project))
        start("ours_without_fast_path", [*ours, "--no-fast-path"], project, project_env(project))
        (workdir / "instrumentator.py").write_text(SERVER_SCRIPT_START + INSTRUMENTATOR)
        instrumented = [sys.executable, str(workdir / "instrumentator.py"), package]
        start("ours_http_metrics_by_instrumentator", instrumented, project, project_env(project))
        # The prediction log on (ours has it off): to a local folder, and to an S3 API on loopback.
        folder_env = project_env(project, PREDICTION_LOG=str(workdir / "prediction-log"))
        start("ours_log_folder", ours, project, folder_env)
        endpoint = running.enter_context(moto_s3(workdir))
        s3_env = project_env(project, PREDICTION_LOG=f"s3://{LOG_BUCKET}/logs", AWS_ENDPOINT_URL=endpoint)
        start("ours_log_s3", ours, project, {**s3_env, **MOTO_CREDENTIALS})

        sys.path.insert(0, str(project / "src"))
        model_env = {
            "BENCH_MODEL_PATH": str(project / "models/model.skops"),
            "BENCH_SCHEMA_PATH": str(project / "models/schema.json"),
            "BENCH_TRUSTED_TYPES": json.dumps(importlib.import_module(f"{package}.io").TRUSTED_TYPES),
        }
        (workdir / "plain").mkdir()
        (workdir / "plain" / "service.py").write_text(PLAIN_FASTAPI)
        plain = [sys.executable, "-m", "uvicorn", "service:app", "--no-access-log"]
        start("plain_fastapi_no_batching", plain, workdir / "plain", {**os.environ, **model_env})
        if not args.skip_bentoml:
            bentoml = ensure_bento_venv()
            (workdir / "bento").mkdir()
            (workdir / "bento" / "service.py").write_text(BENTO_SERVICE)
            for batching in ("1", "0"):
                name = "bentoml_adaptive_batching" if batching == "1" else "bentoml_no_batching"
                bento_env = {
                    **os.environ,
                    **model_env,
                    "BENCH_BATCHING": batching,
                    "BENTOML_DO_NOT_TRACK": "true",
                    "BENTOML_HOME": str(workdir / f"bentoml-home-{batching}"),
                }
                cmd = [str(bentoml), "serve", "service:Model", "--host", "127.0.0.1"]
                start(name, cmd, workdir / "bento", bento_env, ready="/readyz")

        names = list(launches)
        rounds: dict[str, list[dict]] = {name: [] for name in names}
        results: dict = {"servers": {}}
        for number in range(args.rounds):
            # New processes every round: a server process keeps its own speed for its whole life
            # (up to 15% apart between identical ones here), so ratios of long-lived processes
            # would measure which process got the faster start more than the code.
            with contextlib.ExitStack() as this_round:
                ports = start_all(this_round)
                for name in names[number % len(names) :] + names[: number % len(names)]:
                    url = f"http://127.0.0.1:{ports[name]}/predict"
                    rounds[name].append(wrk(url, paths["one"], args.duration, args.connections, script))
                    print(f"round {number + 1}, {name}: {rounds[name][-1]}", flush=True)
                if number < args.rounds - 1:
                    continue
                for name in names:
                    thousand, answer = sequential(ports[name], paths["thousand"], args.thousand_requests)
                    if name == "ours_http_metrics_by_instrumentator":  # it did record every request
                        counted = recorded(ports[name], INSTRUMENTATOR_METRICS)["requests"]
                        if counted < rounds[name][-1]["requests"] + args.thousand_requests:
                            raise AssertionError(f"the instrumentator counted {counted:.0f} requests")
                    print(f"{name}: 1000 rows: {thousand}", flush=True)
                    results["servers"][name] = {
                        "one_row_concurrent": summary(rounds[name]),
                        "thousand_rows": thousand,
                        "_answer": answer,
                    }
        running.close()
        (workdir / "metrics_switch.py").write_text(SERVER_SCRIPT_START + METRICS_SWITCH)
        switched = [sys.executable, str(workdir / "metrics_switch.py"), package]
        results["monitoring"] = monitoring_cost(switched, project, workdir, paths["one"], script, args)

        answers = {name: labels_of(r.pop("_answer")) for name, r in results["servers"].items()}
        results["same_predictions"] = len({json.dumps(a) for a in answers.values()}) == 1
        if not args.skip_image and shutil.which("podman"):
            results["image"] = image_numbers(project, workdir)

    ours = results["servers"]["ours"]

    def per_round(name: str, *others: str) -> list[float]:
        """Ours over ``others``' best, round by round: both measured within the same minute."""
        pairs = zip(*(rounds[n] for n in (name, *others)), strict=True)
        return [round(r[0]["throughput_rps"] / max(o["throughput_rps"] for o in r[1:]), 2) for r in pairs]

    bentos = [name for name in names if name.startswith("bentoml")]
    vs_bento = per_round("ours", *bentos) if bentos else []
    vs_bento_median = statistics.median(vs_bento) if vs_bento else None
    monitoring = results["monitoring"]["vs_all_off"]
    instrumentator_vs_ours = per_round("ours_http_metrics_by_instrumentator", "ours")
    logging = {
        where: {
            "p99_median_ms": results["servers"][f"ours_log_{where}"]["one_row_concurrent"]["p99_ms"],
            "throughput_vs_logging_off_per_round": per_round(f"ours_log_{where}", "ours"),
        }
        for where in ("folder", "s3")
    }
    for numbers in logging.values():
        ratio = statistics.median(numbers["throughput_vs_logging_off_per_round"])
        numbers["throughput_vs_logging_off"] = ratio
        numbers["met"] = (
            numbers["p99_median_ms"] <= TARGETS["logging_p99_ms"]
            and ratio >= TARGETS["throughput_logging_on_vs_off"]
        )
    results["targets"] = {
        "one_row_p99_ms": TARGETS["one_row_p99_ms"],
        "one_row_p99_median_ms": ours["one_row_concurrent"]["p99_ms"],
        "one_row_p99_met": ours["one_row_concurrent"]["p99_ms"] <= TARGETS["one_row_p99_ms"],
        "throughput_vs_best_bentoml_per_round": vs_bento,
        "throughput_vs_best_bentoml": vs_bento_median,
        "throughput_vs_best_bentoml_target": TARGETS["throughput_vs_bentoml"],
        "throughput_met": vs_bento_median is not None and vs_bento_median >= TARGETS["throughput_vs_bentoml"],
        "fast_path_gain_per_round": per_round("ours", "ours_without_fast_path"),
        "monitoring_on_vs_off": monitoring["on"]["mean"],
        "monitoring_on_vs_off_ci95": monitoring["on"]["ci95"],
        "monitoring_on_vs_off_target": TARGETS["throughput_monitoring_on_vs_off"],
        "monitoring_met": monitoring["on"]["mean"] >= TARGETS["throughput_monitoring_on_vs_off"],
        "http_metrics_on_vs_off": monitoring["model_off"]["mean"],
        "model_metrics_on_vs_off": monitoring["http_off"]["mean"],
        "http_metrics_by_instrumentator_vs_ours_per_round": instrumentator_vs_ours,
        "http_metrics_by_instrumentator_vs_ours": statistics.median(instrumentator_vs_ours),
        "logging_p99_ms": TARGETS["logging_p99_ms"],
        "logging_throughput_vs_off_target": TARGETS["throughput_logging_on_vs_off"],
        "logging": logging,
        "throughput_vs_plain_fastapi_per_round": per_round("ours", "plain_fastapi_no_batching"),
        "thousand_rows_ms": TARGETS["thousand_rows_ms"],
        "thousand_rows_met": ours["thousand_rows"]["p95_ms"] <= TARGETS["thousand_rows_ms"],
    }
    results["machine"] = {
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "note": "other work on the machine during the run shows in the load average and the tail latencies",
    }
    results["config"] = {
        "connections": args.connections,
        "duration_s_per_round": args.duration,
        "rounds": args.rounds,
        "load_generator": "wrk -t1 (closed loop, keep-alive), servers interleaved in rotating order",
        "niceness": os.nice(0),
        "model": "default bake: RandomForestClassifier, 100 trees, breast_cancer (30 numeric features), "
        "models/model.skops",
        "bentoml_version": BENTOML_VERSION,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
