import pytest

from {{ cookiecutter.package_name }}.config import parse_params
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.evaluate import evaluate, save
from {{ cookiecutter.package_name }}.split import split
from {{ cookiecutter.package_name }}.train import fit, load_model, make_estimator
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
    save_model(pipeline, schema, tmp_path / "model.joblib", tmp_path / "schema.json")
    pipeline, schema = load_model(tmp_path / "model.joblib", tmp_path / "schema.json")
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
