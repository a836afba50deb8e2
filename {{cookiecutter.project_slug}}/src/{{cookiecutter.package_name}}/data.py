"""Load the CSV named in params.yaml and check it is fit for training."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .config import DataParams
from .errors import UserError
from .features import to_numbers


def read_csv(path: Path | str, sep: str = ",") -> pd.DataFrame:
    """Read a CSV into pandas (the one CSV reader): every failure is a UserError saying what to do."""
    if not Path(path).is_file():
        raise UserError(
            f"data file {path} does not exist (or is a folder): copy your CSV there (and `dvc add` it) or "
            "fix the path in params.yaml (data.path, drift.current); `make data` writes the bundled sample"
        )
    try:
        frame = pd.read_csv(path, sep=sep, low_memory=False)
    except UnicodeDecodeError as exc:
        raise UserError(f"data file {path} is not UTF-8 text ({exc.reason}); save it as UTF-8 CSV") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"data file {path} is empty or has no columns: it needs a header row") from None
    except pd.errors.ParserError as exc:
        raise UserError(f"data file {path} is not a readable CSV: {exc}".strip()) from None
    if frame.empty:
        raise UserError(f"data file {path} has a header but no data rows")
    frame.columns = [str(column).strip() for column in frame.columns]
    if duplicated := sorted({c for c in frame.columns if list(frame.columns).count(c) > 1}):
        raise UserError(f"data file {path} has duplicated column names: {', '.join(duplicated)}")
    return frame


def validate(frame: pd.DataFrame, params: DataParams) -> pd.DataFrame:
    """Check the target and columns; return the frame without rows whose target is missing."""
    columns = list(frame.columns)
    if params.target not in columns:
        raise UserError(
            f"target column {params.target!r} (data.target in params.yaml) is not in "
            f"{params.path}; its columns are: {', '.join(columns[:30])}"
        )
    if unknown := [c for c in params.drop_columns if c not in columns]:
        raise UserError(f"data.drop_columns names columns that are not in the data: {', '.join(unknown)}")
    target = frame[params.target]
    if target.isna().all():
        raise UserError(f"target column {params.target!r} has no values (all missing)")
    frame = frame.loc[target.notna()].reset_index(drop=True)
    features = [c for c in columns if c != params.target and c not in params.drop_columns]
    if not features:
        raise UserError("no feature columns left: the data has only the target (and dropped columns)")
    if params.task == "classification":
        classes = frame[params.target].nunique()
        if classes < 2:
            raise UserError(
                f"target column {params.target!r} has a single class "
                f"({frame[params.target].iloc[0]!r}): classification needs at least two"
            )
        if classes > max(50, len(frame) // 2):
            raise UserError(
                f"target column {params.target!r} has {classes} distinct values in {len(frame)} rows: "
                "it looks continuous; set data.task: regression in params.yaml"
            )
    else:
        numeric = to_numbers(frame[params.target])
        if len(bad := frame[params.target][numeric.isna()]):
            raise UserError(
                f"regression target {params.target!r} is not numeric (e.g. {bad.iloc[0]!r}); "
                "fix the data or set data.task: classification in params.yaml"
            )
        if numeric.nunique() < 2:
            raise UserError(f"regression target {params.target!r} is constant: nothing to learn")
        frame[params.target] = numeric.astype("float64")
    return frame.drop(columns=params.drop_columns)


def load(params: DataParams) -> pd.DataFrame:
    return validate(read_csv(params.path, params.sep), params)
