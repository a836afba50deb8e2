"""Fit the model pipeline (preprocessing + estimator) and save it as one artifact."""

from __future__ import annotations

import inspect
from pathlib import Path

import pandas as pd
from sklearn import ensemble, linear_model
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from .config import Params
from .errors import UserError
from .features import Schema, build_preprocessor, infer_schema, load_schema, to_model_frame
from .io import read_model, write_json, write_model

MODEL_FILE, SCHEMA_FILE = Path("models/model.skops"), Path("models/schema.json")

ESTIMATORS: dict[tuple[str, str], tuple[type[BaseEstimator], dict]] = {
    ("classification", "random_forest"): (ensemble.RandomForestClassifier, {"n_estimators": 100}),
    ("regression", "random_forest"): (ensemble.RandomForestRegressor, {"n_estimators": 100}),
    ("classification", "gradient_boosting"): (ensemble.HistGradientBoostingClassifier, {}),
    ("regression", "gradient_boosting"): (ensemble.HistGradientBoostingRegressor, {}),
    ("classification", "linear"): (linear_model.LogisticRegression, {"max_iter": 2000}),
    ("regression", "linear"): (linear_model.Ridge, {}),
}


def make_estimator(task: str, family: str, seed: int, overrides: dict) -> BaseEstimator:
    cls, defaults = ESTIMATORS[(task, family)]
    valid = set(inspect.signature(cls).parameters)
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise UserError(
            f"model.params has {', '.join(unknown)}, not a parameter of {cls.__name__}; "
            f"valid ones: {', '.join(sorted(valid))}"
        )
    kwargs = {**defaults, **overrides}
    if "random_state" in valid:
        kwargs.setdefault("random_state", seed)
    try:
        estimator = cls(**kwargs)
        estimator._validate_params()
    except (TypeError, ValueError) as exc:
        raise UserError(f"model.params is invalid for {cls.__name__}: {exc}") from None
    return estimator


def build_pipeline(schema: Schema, params: Params) -> Pipeline:
    estimator = make_estimator(params.data.task, params.model.family, params.model.seed, params.model.params)
    preprocess = build_preprocessor(schema, scale=params.model.family == "linear")
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def fit(train: pd.DataFrame, params: Params) -> tuple[Pipeline, Schema]:
    target = params.data.target
    schema = infer_schema(train, target, params.data.task, params.features)
    pipeline = build_pipeline(schema, params)
    y = train[target]
    if params.data.task == "classification":
        y = y.astype(str)
        schema.classes = sorted(y.unique().tolist())
    pipeline.fit(to_model_frame(train, schema), y)
    return pipeline, schema


def save(
    pipeline: Pipeline, schema: Schema, model_file: Path = MODEL_FILE, schema_file: Path = SCHEMA_FILE
) -> None:
    """Write model and schema; each replaces the previous file only once fully written."""
    write_model(pipeline, model_file)
    write_json(schema_file, schema.to_dict())


def load_model(model_file: Path = MODEL_FILE, schema_file: Path = SCHEMA_FILE) -> tuple[Pipeline, Schema]:
    return read_model(model_file), load_schema(schema_file)
