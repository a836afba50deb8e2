"""Load the CSV named in params.yaml and check it is fit for training."""

from __future__ import annotations

import pandas as pd

from .config import DataParams
from .errors import UserError
from .features import to_numbers
from .io import read_csv


def validate(frame: pd.DataFrame, params: DataParams) -> pd.DataFrame:
    """Check the target and columns; return the frame without rows whose target is missing."""
    _check_columns(list(frame.columns), params)
    target = frame[params.target]
    if target.isna().all():
        raise UserError(f"target column {params.target!r} has no values (all missing)")
    frame = frame.loc[target.notna()].reset_index(drop=True)
    if params.task == "classification":
        _check_classes(frame[params.target], params.target)
    else:
        frame[params.target] = _numeric_target(frame[params.target], params.target)
    return frame.drop(columns=params.drop_columns)


def _check_columns(columns: list[str], params: DataParams) -> None:
    if params.target not in columns:
        raise UserError(
            f"target column {params.target!r} (data.target in params.yaml) is not in "
            f"{params.path}; its columns are: {', '.join(columns[:30])}"
        )
    unknown = [column for column in params.drop_columns if column not in columns]
    if unknown:
        raise UserError(
            f"data.drop_columns names columns that are not in the data: {', '.join(unknown)}"
        )
    dropped = {params.target, *params.drop_columns}
    if all(column in dropped for column in columns):
        raise UserError(
            "no feature columns left: the data has only the target (and dropped columns)"
        )


def _check_classes(target: pd.Series, name: str) -> None:
    classes = target.nunique()
    if classes < 2:
        raise UserError(
            f"target column {name!r} has a single class ({target.iloc[0]!r}): "
            "classification needs at least two"
        )
    if classes > max(50, len(target) // 2):
        raise UserError(
            f"target column {name!r} has {classes} distinct values in {len(target)} rows: "
            "it looks continuous; set data.task: regression in params.yaml"
        )


def _numeric_target(target: pd.Series, name: str) -> pd.Series:
    numeric = to_numbers(target)
    bad = target[numeric.isna()]
    if len(bad):
        raise UserError(
            f"regression target {name!r} is not numeric (e.g. {bad.iloc[0]!r}); "
            "fix the data or set data.task: classification in params.yaml"
        )
    if numeric.nunique() < 2:
        raise UserError(f"regression target {name!r} is constant: nothing to learn")
    return numeric.astype("float64")


def load(params: DataParams) -> pd.DataFrame:
    return validate(read_csv(params.path, params.sep), params)
