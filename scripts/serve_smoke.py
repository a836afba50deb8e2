"""Start a generated project's model server (what `make serve` runs), call it, stop it.

Used by `make demo`: proves the trained model is served. Standard library only (and the
repository's own `template_support`, itself standard library only).
Usage, from the repository root: python -m scripts.serve_smoke PROJECT_DIR [PORT]
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from template_support.processes import stop_process_group


def call(url: str, payload: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read() or b"{}")


def main() -> int:
    project = Path(sys.argv[1]).resolve()
    port = sys.argv[2] if len(sys.argv) > 2 else "8765"
    schema = json.loads((project / "models" / "schema.json").read_text())
    with open(project / "data" / "processed" / "test.csv", newline="") as handle:
        rows = [row for _, row in zip(range(3), csv.DictReader(handle), strict=False)]
    records = [{name: float(row[name]) for name in schema["features"]} for row in rows]
    server = subprocess.Popen(serve_command(project, port), cwd=project, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if call(f"{base}/ready")[0] == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            print("server did not become ready within 60 s", file=sys.stderr)
            return 1
        status, body = call(f"{base}/predict", {"records": records})
        print(f"POST /predict ({len(records)} rows) -> {status}: {json.dumps(body)[:300]}")
        print(f"model_version: {body.get('model_version')}")
        return 0 if status == 200 and len(body.get("predictions", [])) == len(records) else 1
    finally:
        stop_process_group(server)


def serve_command(project: Path, port: str) -> list[str]:
    """The command `make serve` runs, read from make itself (`make -n`), to run without make.

    The recipe line is shell, as make runs it (leading `NAME=value` settings such as
    PREDICTION_LOG included): `sh -c 'exec env <line>'` lets the shell read it and `env` apply
    the settings, and `exec` makes the server the process we started, so waiting for it waits
    for the server's own clean shutdown.

    Stopping a server that make started always ends in make's own `*** [serve] Terminated`
    line (uvicorn exits by the signal it was sent, after a clean shutdown); without make in
    between, the demo ends quietly.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    dry_run = ["make", "--no-print-directory", "-s", "-n", "serve", f"PORT={port}"]
    printed = subprocess.run(dry_run, cwd=project, env=env, capture_output=True, text=True, check=True)
    return ["sh", "-c", "exec env " + printed.stdout.strip().splitlines()[-1]]


if __name__ == "__main__":
    sys.exit(main())
