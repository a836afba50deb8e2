"""The scheduled drift workflow, run for real with act on a baked, trained project.

The project's data comes from a "bucket" (a local folder) through `dvc import-url`, and it has a
DVC remote (another local folder), as a real deployment would. A test replaces the bucket's file,
then runs `.github/workflows/drift.yml` under act (`schedule` or `workflow_dispatch`): every
`run:` step runs as written (`dvc pull`, `dvc update`, the drift check, `make repro`, `dvc push`,
the pull-request text); setup-python, the Actions cache and artifact upload are the harness's
stand-ins, the GitHub App token a recorded stand-in, and peter-evans/create-pull-request the
harness's stand-in (it stages the paths it would commit; one pull request per branch).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from helpers import git, python, run, trained_copy
from template_support.act import make_stand_in, run_act

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("act")]

WORKFLOW = ".github/workflows/drift.yml"
APP_TOKEN = "actions/create-github-app-token@1b10c78c7865c340bc4f6099eb2f838309f1e8c3"
DATA = "data/raw/breast_cancer.csv"


@pytest.fixture(scope="module")
def bucket_project(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained project with its data imported from a bucket folder and a DVC remote folder."""
    root = tmp_path_factory.mktemp("act-drift")
    project = trained_copy(trained_project, root / trained_project.name)
    (root / "bucket").mkdir()
    (root / "remote").mkdir()
    (project / DATA).replace(root / "bucket" / "breast_cancer.csv")
    dvc = [sys.executable, "-m", "dvc"]
    run([*dvc, "remote", "add", "--default", "storage", str(root / "remote")], cwd=project)
    run([*dvc, "remove", f"{DATA}.dvc"], cwd=project)
    run([*dvc, "import-url", str(root / "bucket" / "breast_cancer.csv"), DATA], cwd=project)
    run([*dvc, "push"], cwd=project)
    assert run([*dvc, "status"], cwd=project).stdout.strip().endswith("up to date.")
    git(project, "add", "-A")
    git(project, "commit", "-q", "--no-verify", "-m", "Data from the bucket, DVC remote")
    return project


def bucket_file(project: Path) -> Path:
    """The source of the project's data import (the bucket of the module's fixture)."""
    pointer = yaml.safe_load((project / f"{DATA}.dvc").read_text())
    return Path(pointer["deps"][0]["path"])


def new_batch(project: Path, drift: bool, seed: int) -> None:
    """What lands in the bucket: a batch resampled from the training data, shifted or not."""
    bucket = bucket_file(project)
    flag = "--drift" if drift else "--no-drift"
    python(
        project,
        "-m",
        project.name.replace("-", "_"),
        "simulate-current",
        flag,
        "--seed",
        str(seed),
        "--out",
        str(bucket),
    )


def act(project: Path, tmp_path: Path, event: str, vars: dict[str, str] | None = None):
    state = tmp_path / "act-state"
    stand_ins = {
        APP_TOKEN: make_stand_in(
            APP_TOKEN,
            "record",
            root=tmp_path / "app-token",
            outputs={"token": "ghs_from_the_app"},
            state_dir=state,
        ).path,
    }
    result = run_act(project, event, WORKFLOW, stand_ins=stand_ins, vars=vars, state_dir=state)
    prs = [{"branch": branch, **pull} for branch, pull in result.pulls().items()]
    return result, prs


def uploaded_report(result) -> Path:
    calls = result.calls_to("actions/upload-artifact")
    assert [c["inputs"]["name"] for c in calls] == ["drift-report"], result
    # One folder uploaded: its files at the artifact's root, as on GitHub.
    return result.artifacts_dir / "drift-report"


def test_drifted_data_opens_one_retraining_pull_request(bucket_project, tmp_path):
    project = trained_copy(bucket_project, tmp_path / "project" / bucket_project.name)
    new_batch(project, drift=True, seed=1)
    result, prs = act(project, tmp_path, "schedule", vars={"BOT_APP_CLIENT_ID": "Iv1.12345"})
    assert result.ok, result
    assert len(prs) == 1, result
    pr = prs[0]
    assert f"{DATA}.dvc" in pr["changed_files"] and "dvc.lock" in pr["changed_files"], pr["changed_files"]
    assert "metrics.json" in pr["changed_files"]
    assert pr["branch"] == "retrain/drift" and pr["labels"] == ["retrain"]
    assert pr["token"] == "ghs_from_the_app"  # the App token wins over PAT and GITHUB_TOKEN
    assert pr["title"].startswith("Retrain on drifted data")
    body = pr["body"]
    assert "### Data drift check: **drift detected**" in body
    assert "| column | type | method | score | threshold | drift |" in body
    assert "### Metrics" in body and "f1" in body  # the compare report against main
    assert "/actions/runs/" in body
    # The job summary has the drift summary; the HTML report was uploaded.
    assert "drift detected" in result.summaries.get("drift", "")
    report = uploaded_report(result)
    assert (report / "report.html").stat().st_size > 100_000
    assert json.loads((report / "summary.json").read_text())["dataset_drift"] is True
    # dvc push sent the new data and model to the remote: a fresh clone can pull them.
    assert result.step_result("Push the new data and model") == "success"


def test_same_distribution_opens_no_pull_request(bucket_project, tmp_path):
    project = trained_copy(bucket_project, tmp_path / "project" / bucket_project.name)
    new_batch(project, drift=False, seed=2)
    result, prs = act(project, tmp_path, "workflow_dispatch")
    assert result.ok, result
    assert prs == []
    assert result.step_result("Retrain on the new data") is None
    summary = json.loads((uploaded_report(result) / "summary.json").read_text())
    assert summary["dataset_drift"] is False and summary["verdict"] == "no_drift"
    assert "no drift" in result.summaries.get("drift", "")


def test_data_source_down_fails_with_the_cause_and_still_uploads(bucket_project, tmp_path):
    project = trained_copy(bucket_project, tmp_path / "project" / bucket_project.name)
    source = bucket_file(project)
    source.rename(tmp_path / "away.csv")
    try:
        result, prs = act(project, tmp_path, "workflow_dispatch")
    finally:
        (tmp_path / "away.csv").rename(source)
    assert not result.ok and prs == []
    assert f"dvc update of {DATA} failed: is its source down" in result.logs
    summary = (uploaded_report(result) / "summary.md").read_text()
    assert "could not run" in summary and "source down" in summary
