"""Load the CSV named in params.yaml and check it is fit for training."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .config import DataParams
from .errors import UserError
from .features import to_numbers
from .io import read_csv

# The column that names a production row (the server's prediction id): labels join on it, and
# the labelled rows that become training data keep one row per id.
PREDICTION_ID = "prediction_id"


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
    numeric = _numbers(target, name)
    if numeric.nunique() < 2:
        raise UserError(f"regression target {name!r} is constant: nothing to learn")
    return numeric


def _numbers(target: pd.Series, name: str) -> pd.Series:
    numeric = to_numbers(target)
    bad = target[numeric.isna()]
    if len(bad):
        raise UserError(
            f"regression target {name!r} is not numeric (e.g. {bad.iloc[0]!r}); "
            "fix the data or set data.task: classification in params.yaml"
        )
    return numeric.astype("float64")


def load(params: DataParams) -> pd.DataFrame:
    return validate(read_csv(params.path, params.sep), params)


def read_production(path: Path, params: DataParams) -> pd.DataFrame | None:
    """Labelled production rows as the quality check writes them (comma-separated, one column
    per feature, the target, and PREDICTION_ID); None when the file is absent, empty or has a
    header only. Ids are read as text and numbers exactly, so rewriting the file changes no byte
    of the rows it had."""
    if not _has_rows(path):
        return None
    rows = read_csv(path, dtype={PREDICTION_ID: str}, float_precision="round_trip")
    missing = [name for name in (PREDICTION_ID, params.target) if name not in rows.columns]
    if missing:
        raise UserError(
            f"{path} has no column {' or '.join(map(repr, missing))}: labelled production rows "
            f"need the features, the target (data.target) and {PREDICTION_ID}"
        )
    without_id = int(rows[PREDICTION_ID].isna().sum())
    if without_id:
        raise UserError(f"{path}: {without_id} row(s) have no {PREDICTION_ID}")
    return rows


def _has_rows(path: Path) -> bool:
    if not path.is_file():
        return False
    with path.open("rb") as file:
        header, first_row = file.readline(), file.readline()
    return bool(header.strip() and first_row.strip())


def merge_production(existing: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """One row per prediction id, a newer row replacing an older one (a corrected label), sorted
    by id: the same rows always make the same file, whatever order they came in."""
    if existing is not None and set(existing.columns) != set(new.columns):
        differ = sorted(set(existing.columns) ^ set(new.columns))
        raise UserError(
            "the new labelled rows and the production data have different columns "
            f"({', '.join(differ)}): the model's features changed; start a new production file"
        )
    combined = pd.concat([existing, new], ignore_index=True)
    combined = combined.drop_duplicates(PREDICTION_ID, keep="last")
    return combined.sort_values(PREDICTION_ID, kind="stable").reset_index(drop=True)


def load_production(path: Path, columns: list[str], params: DataParams) -> pd.DataFrame:
    """The labelled production rows of ``path`` with the training data's ``columns`` (after
    data.drop_columns) and PREDICTION_ID, one row per id (the last wins) and only rows with a
    label; no rows when the file is absent or empty."""
    rows = read_production(path, params)
    if rows is None:
        return pd.DataFrame(columns=[*columns, PREDICTION_ID])
    _check_production_columns(list(rows.columns), columns, path, params)
    rows = rows.drop_duplicates(PREDICTION_ID, keep="last")
    rows = rows.loc[rows[params.target].notna(), [*columns, PREDICTION_ID]]
    if params.task == "regression":
        rows[params.target] = _numbers(rows[params.target], params.target)
    return rows.reset_index(drop=True)


def _check_production_columns(
    found: list[str], columns: list[str], path: Path, params: DataParams
) -> None:
    known = {*columns, *params.drop_columns, PREDICTION_ID}
    missing = [name for name in columns if name not in found]
    unknown = [name for name in found if name not in known]
    if missing or unknown:
        raise UserError(
            f"{path} does not have the training data's columns (missing: "
            f"{', '.join(missing) or 'none'}; not in {params.path}: {', '.join(unknown) or 'none'}"
            "): fix the file, or remove it and `dvc add` an empty one to train on data.path alone"
        )
