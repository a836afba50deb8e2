from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }}.config import load_params, parse_params
from {{ cookiecutter.package_name }}.errors import UserError

from conftest import make_params

PROJECT = Path(__file__).resolve().parents[1]


def test_project_params_file_is_valid():
    params = load_params(PROJECT / "params.yaml")
    assert params.data.task == "{{ cookiecutter.task }}"
    assert params.model.family == "{{ cookiecutter.model_family }}"


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("data", {"task": "clustering"}, "data.task"),
        ("data", {"target": ""}, "data.target"),
        ("split", {"test_size": 1.5}, "split.test_size"),
        ("model", {"family": "svm"}, "model.family"),
        ("model", {"n_estimators": 10}, "model.n_estimators"),
        ("features", {"max_categories": 1}, "features.max_categories"),
    ],
)
def test_invalid_value_names_the_key(section, values, key):
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        parse_params(make_params("classification", **{section: values}))


def test_missing_section_is_named():
    raw = make_params("regression")
    del raw["model"]
    with pytest.raises(UserError, match=r"model: required key is missing"):
        parse_params(raw)


def test_primary_metric_must_fit_the_task():
    with pytest.raises(UserError, match=r"evaluate\.primary_metric"):
        parse_params(make_params("regression", evaluate={"primary_metric": "f1"}))


def test_unreadable_yaml_is_reported(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_params(path)


def test_round_trip_of_written_params(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(make_params("classification")))
    assert load_params(path).model.params == {"n_estimators": 20}
