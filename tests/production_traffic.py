"""Production traffic for the retraining loop's act tests, put into an S3 bucket (the emulator's):
prediction logs and the labels that arrive later.

Run inside a baked, trained project (its ``src`` on PYTHONPATH, the S3 endpoint and credentials in
the environment)::

    python production_traffic.py PACKAGE BUCKET --rows 300 --labelled 300 --wrong 0.3 --seed 1

The prediction logs are written by the server's own code: the project's ``serve.Predictor``
scores the rows, ``prediction_log.Origin`` makes the audit records and ``prediction_log``'s
buffered bucket sink writes them (s3fs, as the server does with ``PREDICTION_LOG=s3://...``) under
``predictions/<YYYY>/<MM>/<DD>/<host>-<start>-<seq>.jsonl``. Only the ids are seeded (the server
draws them at random), so that a run's labels can name them. The labels are one CSV file of
``prediction_id,label,timestamp`` under ``labels/``: the true target of each labelled row, except a
seeded ``--wrong`` share whose label is another class.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import io
import uuid
from datetime import UTC, datetime

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


def failed() -> None:
    raise SystemExit("the prediction log's bucket write failed (see above)")


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
    params = importlib.import_module(f"{args.package}.config").load_params()
    prediction_log = importlib.import_module(f"{args.package}.prediction_log")
    origin = prediction_log.Origin(model_version="test", image_digest=None, git_commit=None)
    where = f"s3://{args.bucket}/predictions"
    sink = prediction_log.open_sink(where, seconds=3600, max_bytes=1 << 30, on_error=failed)
    sink.append(origin.lines(ids, uuid.uuid4().hex, scored["records"], scored, latency_ms=1.5))
    asyncio.run(sink.flush())
    s3 = boto3.client("s3")  # endpoint and credentials from the environment (AWS SDK settings)
    text = labels_csv(data, params.data.target, ids, args.labelled, args.wrong, args.seed)
    s3.upload_fileobj(io.BytesIO(text.encode()), args.bucket, f"labels/labels-{args.seed}.csv")
    print(f"{where}: {args.rows} predictions; {args.labelled} labels")


if __name__ == "__main__":
    main()
