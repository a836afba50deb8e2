import json
import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

from {{ cookiecutter.package_name }}.config import parse_params
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.evaluate import evaluate, save
from {{ cookiecutter.package_name }}.features import load_schema
from {{ cookiecutter.package_name }}.io import (
    TRUSTED_TYPES,
    canonical_skops,
    read_model,
    write_model,
)
from {{ cookiecutter.package_name }}.split import split
from {{ cookiecutter.package_name }}.train import fit, make_estimator
from {{ cookiecutter.package_name }}.train import save as save_model

from conftest import make_frame, make_params


@pytest.mark.parametrize("family", ["random_forest", "gradient_boosting", "linear"])
def test_train_and_evaluate_round(tmp_path, task, family):
    params = parse_params(
        make_params(
            task,
            model={"family": family, "params": {"n_estimators": 20} if family == "random_forest" else {}},
        )
    )
    train, test = split(make_frame(task, rows=200), params)
    pipeline, schema = fit(train, params)
    save_model(pipeline, schema, tmp_path / "model.skops", tmp_path / "schema.json")
    # Every type the file holds is listed as trusted (skops' own defaults aside), and no more than needed.
    untrusted = sio.get_untrusted_types(file=tmp_path / "model.skops")
    assert set(untrusted) <= set(TRUSTED_TYPES), untrusted
    pipeline, schema = read_model(tmp_path / "model.skops"), load_schema(tmp_path / "schema.json")
    scores, plots = evaluate(pipeline, schema, test)
    if task == "classification":
        assert set(scores) == {"accuracy", "f1", "precision", "recall", "roc_auc", "log_loss"}
        assert scores["accuracy"] > 0.6, scores
        assert set(plots) == {"confusion.csv", "roc.csv"}
        assert schema.classes == ["no", "yes"]
    else:
        assert set(scores) == {"r2", "rmse", "mae"}
        assert scores["r2"] > 0.5, scores
        assert set(plots) == {"predictions.csv", "residuals.csv"}
    save(scores, plots, tmp_path / "metrics.json", tmp_path / "plots")
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(plots)


def test_multiclass_is_supported(tmp_path):
    frame = make_frame("classification", rows=240)
    frame["label"] = frame["colour"].fillna("none")
    frame = frame.drop(columns="colour")
    params = parse_params(make_params("classification"))
    train, test = split(frame, params)
    pipeline, schema = fit(train, params)
    scores, _ = evaluate(pipeline, schema, test)
    assert len(schema.classes) == 4 and 0 <= scores["roc_auc"] <= 1


def test_unknown_model_param_is_named():
    with pytest.raises(UserError, match=r"n_trees.*RandomForest"):
        make_estimator("classification", "random_forest", 0, {"n_trees": 5})


def test_invalid_model_param_value_is_reported():
    with pytest.raises(UserError, match="n_estimators"):
        make_estimator("regression", "random_forest", 0, {"n_estimators": -1})


def test_trusted_types_are_all_needed():
    """The list holds nothing that no pipeline of any task and model family needs."""
    needed = set()
    for task in ("classification", "regression"):
        for family in ("random_forest", "gradient_boosting", "linear"):
            params = parse_params(make_params(task, model={"family": family, "params": {}}))
            pipeline, _ = fit(make_frame(task), params)
            needed |= set(sio.get_untrusted_types(data=sio.dumps(pipeline)))
    assert needed == set(TRUSTED_TYPES)


def test_a_model_file_holding_an_untrusted_type_is_refused(tmp_path):
    params = parse_params(make_params("classification"))
    pipeline, _ = fit(make_frame("classification"), params)
    pipeline.steps.insert(0, ("hook", FunctionTransformer(func=eval)))  # would run code when used
    write_model(pipeline, tmp_path / "model.skops")
    with pytest.raises(
        UserError, match=r"model\.skops holds types this project does not trust: builtins\.eval"
    ) as info:
        read_model(tmp_path / "model.skops")
    assert "make repro" in str(info.value) and "TRUSTED_TYPES" in str(info.value)


def test_a_pickle_or_a_broken_file_is_not_loaded(tmp_path):
    joblib.dump({"any": "object"}, tmp_path / "model.joblib")  # a pickle: never unpickled here
    for path in (tmp_path / "model.joblib", tmp_path / "empty.skops"):
        path.touch()
        with pytest.raises(UserError, match=f"{path.name} is not a model saved by training.*make repro"):
            read_model(path)
    with pytest.raises(UserError, match=r"missing\.skops not found: train first"):
        read_model(tmp_path / "missing.skops")


SMALL = {"random_forest": {"n_estimators": 10}, "gradient_boosting": {"max_iter": 10}, "linear": {}}
TRAIN_AND_SAVE = textwrap.dedent(
    """
    import json
    import sys

    sys.path.insert(0, sys.argv[3])  # the tests folder, for conftest's data
    from conftest import make_frame, make_params
    from {{ cookiecutter.package_name }}.config import parse_params
    from {{ cookiecutter.package_name }}.train import fit, save

    model, out = json.loads(sys.argv[1]), sys.argv[2]
    params = parse_params(make_params(model["task"], model=model["model"]))
    pipeline, schema = fit(make_frame(model["task"]), params)
    save(pipeline, schema, f"{out}/model.skops", f"{out}/schema.json")
    """
)


@pytest.mark.parametrize("family", ["random_forest", "gradient_boosting", "linear"])
def test_the_same_training_writes_the_same_bytes(tmp_path, task, family):
    """Trainings in two processes give one model file, byte for byte, so `dvc repro` reproduces
    the md5 in dvc.lock (skops alone names members after id() and stamps the write time)."""
    model = {"family": family, "params": SMALL[family]}
    pipeline, schema = fit(make_frame(task), parse_params(make_params(task, model=model)))
    save_model(pipeline, schema, tmp_path / "model.skops", tmp_path / "schema.json")
    other = tmp_path / "other"
    other.mkdir()
    script_args = [json.dumps({"task": task, "model": model}), str(other), str(Path(__file__).parent)]
    subprocess.run([sys.executable, "-c", TRAIN_AND_SAVE, *script_args], check=True, timeout=300)
    assert (other / "model.skops").read_bytes() == (tmp_path / "model.skops").read_bytes()


def test_the_canonical_file_loads_the_same_model(tmp_path, task):
    params = parse_params(make_params(task, model={"family": "random_forest", "params": {}}))
    frame = make_frame(task)
    pipeline, _ = fit(frame, params)
    raw = sio.dumps(pipeline)
    canonical = canonical_skops(raw)
    assert canonical != raw and canonical_skops(canonical) == canonical
    write_model(pipeline, tmp_path / "model.skops")
    assert (tmp_path / "model.skops").read_bytes() == canonical
    loaded = read_model(tmp_path / "model.skops")
    x = frame.drop(columns="label")
    assert np.array_equal(loaded.predict(x), pipeline.predict(x))
