"""Production traffic for the retraining loop's act tests, put into an S3 bucket (the emulator's):
prediction logs and the labels that arrive later.

Run inside a baked, trained project (its ``src`` on PYTHONPATH, the S3 endpoint and credentials in
the environment)::

    python production_traffic.py PACKAGE BUCKET --rows 300 --labelled 300 --wrong 0.3 --seed 1

The prediction logs follow the log contract of issue 16: one JSON object per scored record (JSON
Lines), under ``predictions/<YYYY>/<MM>/<DD>/<host>-<start>-<seq>.jsonl``, with ``prediction_id``
(uuid4 hex), ``request_id``, ``timestamp`` (ISO 8601, UTC), ``model_version``, ``image_digest``,
``git_commit``, ``features`` (as received), ``prediction``, ``probabilities`` and ``latency_ms``.
The server's own log writer is built alongside this loop (it is not on this branch yet), so this
script writes the records itself, with the predictions of the project's ``serve.Predictor``, the
code the server scores with. The labels are one CSV file of ``prediction_id,label,timestamp``
under ``labels/``: the true target of each labelled row, except a seeded ``--wrong`` share whose
label is another class.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
import pandas as pd


def records_and_predictions(package: str, rows: int, seed: int) -> tuple[pd.DataFrame, dict]:
    """``rows`` rows of the project's data (features and target), and what the model says."""
    config = importlib.import_module(f"{package}.config")
    features = importlib.import_module(f"{package}.features")
    project_io = importlib.import_module(f"{package}.io")
    paths = importlib.import_module(f"{package}.paths")
    serve = importlib.import_module(f"{package}.serve")
    params = config.load_params()
    data = project_io.read_csv(params.data.path).sample(n=rows, random_state=seed)
    schema = features.load_schema(paths.SCHEMA_FILE)
    predictor = serve.Predictor(project_io.read_model(paths.MODEL_FILE), schema)
    records = data[schema.features].to_dict(orient="records")
    return data.reset_index(drop=True), {"records": records, **predictor.predict(records)}


def log_lines(scored: dict, ids: list[str], start: datetime) -> str:
    """The JSON lines of the log contract, one per scored record."""
    lines = []
    probabilities = scored.get("probabilities") or [None] * len(ids)
    for index, (record, prediction, chances) in enumerate(
        zip(scored["records"], scored["predictions"], probabilities, strict=True)
    ):
        line = {
            "prediction_id": ids[index],
            "request_id": uuid.UUID(int=index + 1).hex,
            "timestamp": (start + timedelta(seconds=index)).isoformat(),
            "model_version": "test",
            "image_digest": None,
            "git_commit": None,
            "features": record,
            "prediction": prediction,
            **({"probabilities": chances} if chances else {}),
            "latency_ms": 1.5,
        }
        lines.append(json.dumps(line) + "\n")
    return "".join(lines)


def labels_csv(
    data: pd.DataFrame, target: str, ids: list[str], labelled: int, wrong: float, seed: int
) -> str:
    """``labelled`` rows of ``prediction_id,label,timestamp``; a ``wrong`` share mislabelled."""
    rng = np.random.default_rng(seed)
    truth = data[target].astype(str).to_numpy()
    classes = sorted(set(truth))
    labels = truth.copy()
    flipped = rng.choice(len(truth), size=round(wrong * len(truth)), replace=False)
    for index in flipped:
        labels[index] = next(c for c in rng.permutation(classes) if c != truth[index])
    frame = pd.DataFrame({"prediction_id": ids, "label": labels})
    frame["timestamp"] = datetime.now(UTC).isoformat()
    return frame.head(labelled).to_csv(index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package")
    parser.add_argument("bucket")
    parser.add_argument("--rows", type=int, required=True, help="predictions to log")
    parser.add_argument("--labelled", type=int, required=True, help="of them, how many get a label")
    parser.add_argument("--wrong", type=float, default=0.0, help="share of wrong labels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data, scored = records_and_predictions(args.package, args.rows, args.seed)
    rng = np.random.default_rng(args.seed)
    ids = [uuid.UUID(bytes=rng.bytes(16), version=4).hex for _ in range(args.rows)]
    start = datetime.now(UTC) - timedelta(hours=1)
    params = importlib.import_module(f"{args.package}.config").load_params()
    s3 = boto3.client("s3")  # endpoint and credentials from the environment (AWS SDK settings)
    day = start.strftime("%Y/%m/%d")
    key = f"predictions/{day}/test-host-{start:%Y%m%dT%H%M%S}-{args.seed:06d}.jsonl"
    s3.put_object(Bucket=args.bucket, Key=key, Body=log_lines(scored, ids, start).encode())
    text = labels_csv(data, params.data.target, ids, args.labelled, args.wrong, args.seed)
    s3.upload_fileobj(io.BytesIO(text.encode()), args.bucket, f"labels/labels-{args.seed}.csv")
    print(f"s3://{args.bucket}/{key}: {args.rows} predictions; {args.labelled} labels")


if __name__ == "__main__":
    main()
