import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import parse_params
from {{ cookiecutter.package_name }}.data import load, validate
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.io import read_csv

from conftest import make_frame, make_params


def _params(task, path, **data):
    return parse_params(make_params(task, path=str(path), data=data)).data


def test_valid_file_loads(tmp_path, task):
    path = tmp_path / "data.csv"
    make_frame(task).to_csv(path, index=False)
    frame = load(_params(task, path))
    assert len(frame) == 120 and "label" in frame


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\n", "no columns"),
        (b"a,b,label\n", "no data rows"),
        (b'a,b\n1,"2\n', "not a readable CSV"),
        (b"a,label\n\xff\xfe,1\n", "not UTF-8"),
    ],
)
def test_bad_files_are_named(tmp_path, content, message):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_csv(path)


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="dvc add"):
        read_csv(tmp_path / "nope.csv")


def test_missing_target_column_lists_columns(tmp_path):
    frame = make_frame("classification").rename(columns={"label": "y"})
    with pytest.raises(UserError, match=r"target column 'label'.*x1"):
        validate(frame, _params("classification", tmp_path / "d.csv"))


def test_target_all_missing(tmp_path):
    frame = make_frame("regression")
    frame["label"] = float("nan")
    with pytest.raises(UserError, match="all missing"):
        validate(frame, _params("regression", tmp_path / "d.csv"))


def test_single_class(tmp_path):
    frame = make_frame("classification")
    frame["label"] = "yes"
    with pytest.raises(UserError, match="single class"):
        validate(frame, _params("classification", tmp_path / "d.csv"))


def test_text_regression_target(tmp_path):
    frame = make_frame("regression")
    frame["label"] = frame["label"].astype(str)
    frame.loc[3, "label"] = "high"
    with pytest.raises(UserError, match=r"not numeric.*'high'"):
        validate(frame, _params("regression", tmp_path / "d.csv"))


def test_rows_without_target_are_dropped(tmp_path):
    frame = make_frame("classification")
    frame.loc[:9, "label"] = None
    assert len(validate(frame, _params("classification", tmp_path / "d.csv"))) == 110


def test_drop_columns_must_exist(tmp_path):
    with pytest.raises(UserError, match=r"drop_columns.*nope"):
        validate(
            make_frame("classification"),
            _params("classification", tmp_path / "d.csv", drop_columns=["nope"]),
        )


def test_drop_columns_are_removed(tmp_path):
    params = _params("classification", tmp_path / "d.csv", drop_columns=["city"])
    assert "city" not in validate(make_frame("classification"), params)


def test_numeric_strings_are_accepted_as_regression_target(tmp_path):
    frame = pd.DataFrame({"x": range(10), "label": [str(v) for v in range(10)]})
    assert validate(frame, _params("regression", tmp_path / "d.csv"))["label"].dtype == "float64"
