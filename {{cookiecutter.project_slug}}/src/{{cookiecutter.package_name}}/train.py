"""Fit the model pipeline (preprocessing + estimator): one artifact, which the train command
writes."""

from __future__ import annotations

import inspect

import pandas as pd
from sklearn import ensemble, linear_model
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from .config import Params
from .errors import UserError
from .features import Schema, build_preprocessor, infer_schema, to_model_frame

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
    if unknown := sorted(set(overrides) - valid):
        raise UserError(
            f"model.params has {', '.join(unknown)}, not a parameter of {cls.__name__}; "
            f"valid ones: {', '.join(sorted(valid))}"
        )
    kwargs = {**defaults, **overrides}
    if "random_state" in valid:
        kwargs.setdefault("random_state", seed)
    # scikit-learn checks the values when fitting starts: fit() reports a bad one as a UserError.
    return cls(**kwargs)


def fit(train: pd.DataFrame, params: Params) -> tuple[Pipeline, Schema]:
    target, model = params.data.target, params.model
    schema = infer_schema(train, target, params.data.task, params.features)
    estimator = make_estimator(params.data.task, model.family, model.seed, model.params)
    preprocess = build_preprocessor(schema, scale=model.family == "linear")
    pipeline = Pipeline([("preprocess", preprocess), ("model", estimator)])
    y = train[target]
    if params.data.task == "classification":
        y = y.astype(str)
        schema.classes = sorted(y.unique().tolist())
    try:
        pipeline.fit(to_model_frame(train, schema), y)
    except (TypeError, ValueError) as exc:  # scikit-learn checks model.params here, and the data
        name = type(estimator).__name__
        raise UserError(
            f"training {name} failed: {exc} (check model.params in params.yaml, and the data)"
        ) from None
    return pipeline, schema
