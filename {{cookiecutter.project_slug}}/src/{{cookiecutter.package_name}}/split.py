"""Split the validated data into train and test sets.

The data of data.path is split by a seeded shuffle (stratified for classification). Labelled
production rows are split by a hash of their prediction id: a row's side depends on its id and
split.seed alone, so each retraining adds rows without moving any earlier row to the other side
(a test row never becomes a training row later), and the split of data.path stays as it was.
"""

from __future__ import annotations

import hashlib

import pandas as pd
from sklearn.model_selection import train_test_split

from .config import Params, SplitParams
from .data import PREDICTION_ID
from .errors import UserError


def split(frame: pd.DataFrame, params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    target = frame[params.data.target]
    stratify = None
    if params.data.task == "classification":
        counts = target.value_counts()
        # Stratify when every class can appear on both sides.
        if counts.min() >= 2 and len(frame) * params.split.test_size >= len(counts):
            stratify = target
    if len(frame) < 4:
        raise UserError(
            f"only {len(frame)} rows with a target: at least 4 are needed to train and test"
        )
    train, test = train_test_split(
        frame, test_size=params.split.test_size, random_state=params.split.seed, stratify=stratify
    )
    if params.data.task == "classification" and train[params.data.target].nunique() < 2:
        raise UserError(
            "the training split holds a single class: add data or lower split.test_size"
        )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def split_with_production(
    frame: pd.DataFrame, production: pd.DataFrame, params: Params
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``frame`` split as ``split`` does, each side followed by its share of the production rows
    (which lose their PREDICTION_ID column)."""
    train, test = split(frame, params)
    if production.empty:
        return train, test
    extra_train, extra_test = split_by_key(production, PREDICTION_ID, params.split)
    return _append(train, extra_train), _append(test, extra_test)


def split_by_key(
    rows: pd.DataFrame, key: str, params: SplitParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test rows, a row in test when the hash of its ``key`` (with split.seed) falls
    below split.test_size."""
    position = [_unit_hash(params.seed, value) for value in rows[key].astype(str)]
    in_test = pd.Series(position, index=rows.index) < params.test_size
    return rows.loc[~in_test], rows.loc[in_test]


def _unit_hash(seed: int, value: str) -> float:
    """``value`` mapped to [0, 1) by SHA-256 (uniform, and the same on every machine)."""
    digest = hashlib.sha256(f"{seed}:{value}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _append(rows: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([rows, extra.drop(columns=PREDICTION_ID)], ignore_index=True)
