from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.config import parse_params


def make_frame(task: str, rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """Small mixed data: numbers with gaps, a category, a high-cardinality column and an id."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows)
    x2 = rng.uniform(0, 10, size=rows)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    city = rng.choice([f"city_{i}" for i in range(40)], size=rows)
    signal = x1 + (colour == "red") * 1.5
    frame = pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "colour": colour,
            "city": city,
            "customer_id": [f"c{i:05d}" for i in range(rows)],
            "flag": rng.random(rows) > 0.5,
        }
    )
    frame.loc[rng.choice(rows, 10, replace=False), "x2"] = np.nan
    frame.loc[rng.choice(rows, 8, replace=False), "colour"] = np.nan
    if task == "classification":
        frame["label"] = np.where(signal > 0.3, "yes", "no")
    else:
        frame["label"] = signal * 10 + rng.normal(scale=0.5, size=rows)
    return frame


def make_params(task: str, path: str = "data.csv", **overrides) -> dict:
    raw = {
        "data": {"path": path, "target": "label", "task": task},
        "split": {"test_size": 0.25, "seed": 1},
        "features": {"max_categories": 10, "max_unique_ratio": 0.9},
        "model": {"family": "random_forest", "params": {"n_estimators": 20}},
        "evaluate": {"primary_metric": "f1" if task == "classification" else "rmse"},
    }
    for section, values in overrides.items():
        raw[section] = {**raw.get(section, {}), **values}
    return raw


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A scratch project folder: classification data in data.csv and its params.yaml."""
    monkeypatch.chdir(tmp_path)
    make_frame("classification").to_csv("data.csv", index=False)
    Path("params.yaml").write_text(yaml.safe_dump(make_params("classification")))
    return tmp_path


@pytest.fixture(params=["classification", "regression"])
def task(request) -> str:
    return request.param


@pytest.fixture
def frame(task: str) -> pd.DataFrame:
    return make_frame(task)


@pytest.fixture
def params(task: str):
    return parse_params(make_params(task))
