import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.config import FeatureParams
from {{ cookiecutter.package_name }}.features import build_preprocessor, infer_schema, to_model_frame

from conftest import make_frame


def test_column_kinds_are_detected():
    schema = infer_schema(
        make_frame("classification"), "label", "classification", FeatureParams(max_categories=10)
    )
    assert schema.numeric == ["x1", "x2", "flag"]
    assert schema.categorical == ["colour"]
    assert schema.high_cardinality == ["city"]
    assert schema.dropped == ["customer_id"]
    assert schema.categories["colour"] == ["blue", "green", "red"]


def test_all_missing_column_is_dropped():
    frame = make_frame("regression")
    frame["empty"] = np.nan
    schema = infer_schema(frame, "label", "regression", FeatureParams())
    assert "empty" in schema.dropped


def test_preprocessing_handles_missing_and_unseen_values():
    frame = make_frame("classification")
    schema = infer_schema(frame, "label", "classification", FeatureParams(max_categories=10))
    pre = build_preprocessor(schema, scale=True)
    pre.fit(to_model_frame(frame, schema), frame["label"])
    unseen = pd.DataFrame(
        {"x1": [None], "x2": [np.nan], "flag": [None], "colour": ["purple"], "city": ["atlantis"]}
    )
    out = pre.transform(to_model_frame(unseen, schema))
    assert out.shape[0] == 1
    assert np.isfinite(out).all()


def test_to_model_frame_casts_types():
    frame = make_frame("regression")
    schema = infer_schema(frame, "label", "regression", FeatureParams(max_categories=10))
    raw = pd.DataFrame({"x1": ["1.5"], "x2": [2], "flag": [True], "colour": [None], "city": [7]})
    out = to_model_frame(raw, schema)
    assert out["x1"].dtype == "float64" and out.loc[0, "x1"] == 1.5
    assert out.loc[0, "city"] == "7"
    assert pd.isna(out.loc[0, "colour"])
