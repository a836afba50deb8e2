"""Split the validated data into train and test sets."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from .config import Params
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
