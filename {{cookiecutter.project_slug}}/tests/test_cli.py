"""The CLI end to end in a scratch directory: clear errors, and failures keep old outputs."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from {{ cookiecutter.package_name }}.cli import main

from conftest import make_frame, make_params


def _run_all() -> list[int]:
    return [main([command]) for command in ("prepare", "train", "evaluate")]


def test_full_run_writes_outputs(workdir):
    assert _run_all() == [0, 0, 0]
    metrics = json.loads(Path("metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1
    assert Path("models/model.skops").stat().st_size > 0
    assert sorted(p.name for p in Path("plots").iterdir()) == ["confusion.csv", "roc.csv"]
    # Outputs get ordinary permissions (not the 0600 of a temporary file).
    assert Path("metrics.json").stat().st_mode & 0o044 == 0o044


def test_bad_data_fails_clearly_and_keeps_previous_outputs(workdir, capsys):
    assert _run_all() == [0, 0, 0]
    before = {
        p: p.read_bytes()
        for p in [Path("metrics.json"), Path("models/model.skops"), Path("plots/roc.csv")]
    }
    make_frame("classification").drop(columns="label").to_csv("data.csv", index=False)
    assert main(["prepare"]) == 2
    assert "target column 'label'" in capsys.readouterr().err
    # Even if a later stage runs on stale inputs and fails, nothing is half-written.
    Path("data/processed/train.csv").write_text("")
    assert main(["train"]) == 2
    assert {p: p.read_bytes() for p in before} == before
    assert not list(Path("models").glob(".*.tmp")) and not list(Path(".").glob(".*.tmp"))


def test_bad_params_name_the_key(workdir, capsys):
    raw = make_params("classification", model={"family": "svm"})
    Path("params.yaml").write_text(yaml.safe_dump(raw))
    assert main(["check-params"]) == 2
    assert "model.family" in capsys.readouterr().err


def test_sample_data_explains_a_missing_own_file(workdir, capsys):
    assert main(["sample-data", "--out", "x/custom.csv"]) == 2
    message = (
        "x/custom.csv is missing and is not a bundled sample: copy it back, or point data.path"
    )
    assert message in capsys.readouterr().err
    Path("x").mkdir()
    Path("x/custom.csv.dvc").write_text("outs:\n- path: custom.csv\n")
    assert main(["sample-data", "--out", "x/custom.csv"]) == 2
    tracked = capsys.readouterr().err
    assert "it is tracked by DVC, so get it with `dvc pull`" in tracked
    assert "run `dvc push` where it was added" in tracked


def test_sample_data_writes_a_bundled_dataset(workdir):
    assert main(["sample-data", "--dataset", "wine", "--out", "wine.csv"]) == 0
    assert Path("wine.csv").read_text().splitlines()[0].endswith(",target")


def test_the_cli_imports_no_serving_or_drift_package():
    """The release, pull-request and drift jobs install only the extras they need (train, drift):
    importing the CLI must not need the serve extra's packages, nor Evidently."""
    others = ["prometheus_client", "fastapi", "uvicorn", "evidently"]
    module = "{{ cookiecutter.package_name }}.cli"
    code = f"import sys, {module}; print(sorted(set({others!r}) & set(sys.modules)))"
    imported = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert imported.stdout.strip() == "[]"
