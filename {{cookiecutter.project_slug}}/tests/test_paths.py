"""dvc.yaml and params.yaml name the same files as the package's ``paths`` module: change a path
in one place and this test says where else to change it."""

from pathlib import Path

import yaml

from {{ cookiecutter.package_name }} import paths
from {{ cookiecutter.package_name }}.config import DriftParams

ROOT = Path(__file__).resolve().parents[1]


def _stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def _names(entries: list) -> list[str]:
    """The paths of a stage's outs, deps or metrics (an entry may carry options)."""
    return [next(iter(entry)) if isinstance(entry, dict) else entry for entry in entries]


def test_stage_outputs_are_the_packages_paths():
    stages = _stages()
    assert _names(stages["prepare"]["outs"]) == [str(paths.TRAIN_FILE), str(paths.TEST_FILE)]
    assert _names(stages["train"]["outs"]) == [
        str(paths.MODEL_FILE),
        str(paths.SCHEMA_FILE),
        str(paths.REFERENCE_FILE),
        str(paths.REFERENCE_PREDICTIONS_FILE),
    ]
    assert _names(stages["evaluate"]["metrics"]) == [str(paths.METRICS_FILE)]
    assert _names(stages["evaluate"]["outs"]) == [str(paths.PLOTS_DIR)]


def test_stages_depend_on_what_the_package_reads():
    stages = _stages()
    assert str(paths.PRODUCTION_FILE) in stages["prepare"]["deps"]
    assert str(paths.TRAIN_FILE) in stages["train"]["deps"]
    for path in (paths.TEST_FILE, paths.MODEL_FILE, paths.SCHEMA_FILE):
        assert str(path) in stages["evaluate"]["deps"], path


def test_plot_definitions_cover_every_plot_file():
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["plots"]
    files = {file for plot in plots for definition in plot.values() for file in definition["y"]}
    assert files == {str(path) for path in paths.all_plot_files()}


def test_params_yaml_drift_paths_are_the_defaults():
    drift = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["drift"]
    assert Path(drift["reference"]) == paths.TRAIN_FILE == DriftParams().reference
    assert Path(drift["output_dir"]) == paths.DRIFT_DIR == DriftParams().output_dir
    assert paths.RETRAIN_PR_BODY.parent == paths.DRIFT_DIR


def test_make_data_and_the_retraining_workflow_track_the_production_rows_prepare_reads():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"PRODUCTION_DATA := {paths.PRODUCTION_FILE}\n" in makefile
    workflow = (ROOT / ".github/workflows/drift.yml").read_text(encoding="utf-8")
    assert f"dvc add --quiet {paths.PRODUCTION_FILE}\n" in workflow
