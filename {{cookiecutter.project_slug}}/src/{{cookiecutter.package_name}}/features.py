"""Column kinds, the model's schema and the preprocessing half of the pipeline: numbers and booleans
get median imputation and missing-value indicators (scaled for linear models); text with at most
``features.max_categories`` values one-hot encoding, with more target encoding (cross-fitted);
identifier-like text (distinct share above ``features.max_unique_ratio``) is dropped."""

from __future__ import annotations

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
from .io import read_json


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
        return asdict(self) | {"features": self.features}


def load_schema(path: Path | str) -> Schema:
    """The schema written by training (models/schema.json): the one place that reads it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{path} not found: train first with `make repro` (or point to the schema file)"
        )
    try:
        payload = read_json(path)  # its "features" key is derived
        schema = Schema(
            **{key: payload[key] for key in Schema.__dataclass_fields__ if key in payload}
        )
        if schema.task not in ("classification", "regression") or not schema.features:
            raise ValueError("no task or features")
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise UserError(
            f"{path} is not a schema written by training ({exc}); run `make repro`"
        ) from None
    return schema


def to_numbers(values: pd.Series) -> pd.Series:
    """The one numeric coercion: float64 from numbers, booleans and their text ("1.5", " True");
    anything else, and infinities, become NaN (missing): ``values.notna() & result.isna()`` finds
    them."""
    if values.dtype == object:
        text = values.astype(str).str.strip().str.lower()
        values = text.map({"true": 1.0, "false": 0.0}).fillna(pd.to_numeric(text, errors="coerce"))
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
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
        raise UserError("no usable feature column: every column is empty or identifier-like")
    return schema


def to_model_frame(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Select the feature columns and give them the types the pipeline was fitted on."""
    out = {column: to_numbers(frame[column]) for column in schema.numeric}
    for column in schema.categorical + schema.high_cardinality:
        values = frame[column]  # one missing marker (NaN) whatever the source said: None, pd.NA, ""
        out[column] = values.astype(str).where(values.notna(), np.nan).astype(object)
    return pd.DataFrame(out, index=frame.index)


def build_preprocessor(schema: Schema, scale: bool) -> ColumnTransformer:
    numeric = [("impute", SimpleImputer(strategy="median", add_indicator=True))]
    if scale:
        numeric.append(("scale", StandardScaler()))
    one_hot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    target = TargetEncoder(target_type="auto", cv=KFold(5, shuffle=True, random_state=0))
    parts = [("numeric", Pipeline(numeric), schema.numeric)]
    for name, encoder in (("categorical", one_hot), ("high_cardinality", target)):
        impute = SimpleImputer(strategy="constant", fill_value="__missing__")
        parts.append(
            (name, Pipeline([("impute", impute), ("encode", encoder)]), getattr(schema, name))
        )
    parts = [part for part in parts if part[2]]
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
