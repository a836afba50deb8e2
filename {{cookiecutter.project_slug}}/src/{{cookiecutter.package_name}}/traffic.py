"""Demo traffic for the model-quality loop: rows of the test split sent to a running model
server, and the labels that "arrive later" for the predictions it answered.

The server logs each scored record with its ``prediction_id`` and returns the ids in its answer
(``prediction_ids``, one per record); the labels file joins the true target to them, a share
``wrong`` of them replaced by another class (or another row's value), as a model that got worse
would be graded. Standard library HTTP only: the demo needs nothing of the serve extra.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from .errors import UserError

Post = Callable[[str, dict[str, Any]], dict[str, Any]]


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` as JSON; the JSON answer."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise UserError(f"the server answered {exc.code} to POST {url}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UserError(
            f"cannot reach the model server at {url} ({exc}): start it first, e.g. "
            "`PREDICTION_LOG=logs/predictions make serve`"
        ) from None


def wait_until_ready(url: str, seconds: float = 60) -> None:
    """Polls ``url``/ready until the server answers 200 or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=5):
                return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                message = f"the model server at {url} was not ready within {seconds:.0f} s"
                raise UserError(message) from None
            time.sleep(0.5)


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON records (a missing value is null)."""
    return json.loads(rows.to_json(orient="records"))


def send(rows: pd.DataFrame, target: str, url: str, batch: int, send_post: Post = post) -> list:
    """Each batch of ``rows`` (without the target) to ``url``/predict; the prediction ids."""
    ids: list[str] = []
    features = rows.drop(columns=[target])
    for start in range(0, len(rows), batch):
        records = _records(features.iloc[start : start + batch])
        answer = send_post(f"{url}/predict", {"records": records})
        answered = answer.get("prediction_ids")
        if not isinstance(answered, list) or len(answered) != len(records):
            raise UserError(
                "the server's answer has no prediction_ids (one per record): it predates "
                "prediction ids, and labels could not be joined to its logs. Serve the current "
                "code (`make serve`) or image"
            )
        ids += answered
    return ids


def labels(
    truth: pd.Series, ids: list[str], task: str, wrong: float, share: float, seed: int
) -> pd.DataFrame:
    """The labels that arrive for a ``share`` of the predictions: the truth, a ``wrong`` share
    of it replaced by another class (classification) or another row's value (regression)."""
    rng = np.random.default_rng(seed)
    values = truth.to_numpy(copy=True)
    flip = np.flatnonzero(rng.random(len(values)) < wrong)
    if task == "classification":
        classes = np.unique(values.astype(str))
        values = values.astype(str).astype(object)
        for i in flip:
            values[i] = rng.choice(classes[classes != values[i]])
    else:
        values[flip] = values[rng.permutation(flip)] + values.std()
    arrived = np.sort(rng.permutation(len(values))[: round(share * len(values))])
    now = datetime.now(UTC).isoformat(timespec="seconds")
    frame = pd.DataFrame({"prediction_id": np.asarray(ids, dtype=object), "label": values})
    return frame.iloc[arrived].assign(timestamp=now).reset_index(drop=True)
