"""Detect column kinds and build the preprocessing half of the model pipeline.

* numeric columns (numbers and booleans): median imputation with missing-value indicators
  (plus scaling for linear models);
* categorical text columns with at most ``features.max_categories`` distinct values:
  most-frequent imputation and one-hot encoding; categories unseen in training are ignored;
* high-cardinality text columns: target encoding (cross-fitted, so it does not leak);
* identifier-like text columns (share of distinct values above ``features.max_unique_ratio``)
  are dropped and listed in the model's schema.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

from .config import FeatureParams
from .errors import UserError

MISSING = "__missing__"


@dataclass
class Schema:
    """What the model expects: written next to it and used by serving and drift checks."""

    task: str
    target: str
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    high_cardinality: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    dtypes: dict[str, str] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        return self.numeric + self.categorical + self.high_cardinality

    def to_dict(self) -> dict:
        payload = asdict(self)
        payload["features"] = self.features
        return payload

    @classmethod
    def from_dict(cls, payload: dict) -> Schema:
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in payload.items() if key in known})


def load_schema(path: Path | str) -> Schema:
    """The schema written by training (models/schema.json); the one place that reads it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found: train first with `make repro` (or point to the schema file)")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        schema = Schema.from_dict(payload)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path} is not a schema written by training ({exc}); run `make repro`") from None
    if schema.task not in ("classification", "regression") or not schema.features:
        raise UserError(f"{path} is not a schema written by training (no features); run `make repro`")
    return schema


TRUE_FALSE = {"true": 1.0, "false": 0.0}


def to_numbers(values: pd.Series) -> pd.Series:
    """Numbers as float64 (the one numeric coercion): numbers, booleans and their text ("1.5", " true").

    Anything else, and infinities, become NaN (missing): ``values.notna() & result.isna()`` finds them.
    """
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        numbers = values.astype("float64")
    else:
        try:  # fast path: every value parses (C parser) or is missing
            numbers = pd.to_numeric(values, errors="raise").astype("float64")
        except (ValueError, TypeError):
            text = values.where(values.isna(), values.astype(str).str.strip())
            lowered = text.str.lower()
            text = text.where(~lowered.isin(TRUE_FALSE), lowered.map(TRUE_FALSE))
            numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    return numbers.where(np.isfinite(numbers))


def infer_schema(frame: pd.DataFrame, target: str, task: str, params: FeatureParams) -> Schema:
    schema = Schema(task=task, target=target)
    for column in frame.columns:
        if column == target:
            continue
        values = frame[column]
        if values.isna().all():
            schema.dropped.append(column)
            continue
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            schema.numeric.append(column)
            schema.dtypes[column] = "bool" if pd.api.types.is_bool_dtype(values) else "number"
            continue
        distinct = values.dropna().astype(str).nunique()
        schema.dtypes[column] = "string"
        if distinct <= params.max_categories:
            schema.categorical.append(column)
            schema.categories[column] = sorted(values.dropna().astype(str).unique().tolist())
        elif distinct / max(values.notna().sum(), 1) > params.max_unique_ratio:
            schema.dropped.append(column)
        else:
            schema.high_cardinality.append(column)
    if not schema.features:
        raise ValueError("no usable feature column: every column is empty or identifier-like")
    return schema


def to_model_frame(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Select the feature columns and give them the types the pipeline was fitted on."""
    out = pd.DataFrame(index=frame.index)
    for column in schema.numeric:
        out[column] = to_numbers(frame[column])
    for column in schema.categorical + schema.high_cardinality:
        values = frame[column]
        # One missing marker (NaN) whatever the source said: None, pd.NA or an empty cell.
        out[column] = values.astype(str).where(values.notna(), np.nan).astype(object)
    return out


def build_preprocessor(schema: Schema, scale: bool) -> ColumnTransformer:
    numeric_steps: list = [("impute", SimpleImputer(strategy="median", add_indicator=True))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    transformers = []
    if schema.numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), schema.numeric))
    if schema.categorical:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value=MISSING)),
                ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        transformers.append(("categorical", categorical, schema.categorical))
    if schema.high_cardinality:
        high = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value=MISSING)),
                ("encode", TargetEncoder(target_type="auto", cv=KFold(5, shuffle=True, random_state=0))),
            ]
        )
        transformers.append(("high_cardinality", high, schema.high_cardinality))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
