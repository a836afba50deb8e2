import json

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import FeatureParams
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.features import (
    build_preprocessor,
    infer_schema,
    load_schema,
    to_model_frame,
    to_numbers,
)

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


def test_to_numbers_reads_numbers_booleans_and_their_text():
    text = pd.Series(["1.5", " true", "FALSE", "x", None, "inf", "-2e3", ""])
    out = to_numbers(text)
    assert out.dtype == "float64"
    np.testing.assert_array_equal(out, [1.5, 1.0, 0.0, np.nan, np.nan, np.nan, -2000.0, np.nan])
    assert (text.notna() & out.isna()).tolist() == [
        False,
        False,
        False,
        True,
        False,
        True,
        False,
        True,
    ]
    np.testing.assert_array_equal(to_numbers(pd.Series([True, None, False])), [1.0, np.nan, 0.0])
    np.testing.assert_array_equal(
        to_numbers(pd.Series([np.inf, 2, -np.inf])), [np.nan, 2.0, np.nan]
    )


def test_no_usable_column_is_a_user_error():
    frame = pd.DataFrame({"id": [f"u{i}" for i in range(50)], "label": [0, 1] * 25})
    with pytest.raises(UserError, match="no usable feature column"):
        infer_schema(frame, "label", "classification", FeatureParams())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "schema.json not found: train first"),
        ("{not json", "not a schema written by training"),
        ("[1, 2]", "not a schema written by training"),
        ('{"task": "classification"}', "not a schema written by training"),
        ('{"task": "clustering", "target": "y", "numeric": ["a"]}', "no task or features"),
    ],
)
def test_load_schema_names_the_file_and_the_fix(tmp_path, content, message):
    path = tmp_path / "schema.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=message) as info:
        load_schema(path)
    assert str(path) in str(info.value) and "make repro" in str(info.value)


def test_load_schema_reads_what_training_wrote(tmp_path):
    schema = infer_schema(
        make_frame("classification"), "label", "classification", FeatureParams(max_categories=10)
    )
    (tmp_path / "schema.json").write_text(json.dumps(schema.to_dict()))
    assert load_schema(tmp_path / "schema.json") == schema
