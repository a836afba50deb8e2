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
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import BIN, bake, commit, git, python, run, trained_copy
from template_support.act import make_stand_in, run_act
from template_support.containers import free_port, wait_for

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
    assert [c["inputs"]["name"] for c in calls] == ["drift-report", "quality-report"], result
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


# --------------------------------------------------------------------------- the retraining loop
# The project's DVC remote, its prediction logs and its labels live in an S3 API served on
# loopback by moto's server (PyPI moto[server], `moto_server`). DVC reaches it through its own s3
# remote with `endpointurl` in the remote's config (https://dvc.org/doc/user-guide/data-management/remote-storage/amazon-s3,
# "S3-compatible servers"); the quality check's readers (fsspec's s3fs, as in production) through
# AWS_ENDPOINT_URL_S3, the AWS SDKs' documented setting for a service's endpoint
# (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html). That variable and
# the bucket's name are the only things that differ from AWS.
BUCKET = "mlops-loop"
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials@e6de054238d6b7531b4efff3b6587d9aade6a06c"
PRODUCTION = "data/production/labelled.csv"
TRAFFIC = Path(__file__).with_name("production_traffic.py")
# What aws-actions/configure-aws-credentials leaves behind: it "exports the credentials as
# environment variables" AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION
# and AWS_DEFAULT_REGION for the job's later steps (its README, "Credential Lifetime" and
# outputs). The stand-in exports moto's test credentials the same way, through GITHUB_ENV.
CREDENTIALS_STAND_IN = """name: stand-in for aws-actions/configure-aws-credentials
inputs:
  role-to-assume: {required: false}
  aws-region: {required: false}
  role-session-name: {required: false}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        REGION: ${{ inputs.aws-region }}
        ROLE: ${{ inputs.role-to-assume }}
      run: |
        echo "assumed $ROLE (stand-in: moto's test credentials)"
        {
          echo AWS_ACCESS_KEY_ID=testing
          echo AWS_SECRET_ACCESS_KEY=testing
          echo AWS_SESSION_TOKEN=testing
          echo "AWS_REGION=$REGION"
          echo "AWS_DEFAULT_REGION=$REGION"
        } >> "$GITHUB_ENV"
"""


def s3_env(endpoint: str) -> dict[str, str]:
    """What the tests' own S3 clients (boto3, dvc) need to reach the emulator."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
    }


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory):
    """moto's S3 API on 127.0.0.1, with the bucket; stopped after the module's tests."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for(endpoint, timeout=60, process=server)
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


def s3_client(endpoint: str):
    import boto3

    settings = s3_env(endpoint)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=settings["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=settings["AWS_SECRET_ACCESS_KEY"],
        region_name=settings["AWS_DEFAULT_REGION"],
    )


@pytest.fixture(scope="module")
def s3_project(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project baked with dvc_remote=s3, trained, its data and model pushed to the emulator's
    bucket, and its quality check reading the bucket's prediction logs and labels."""
    env = s3_env(s3_endpoint)
    root = tmp_path_factory.mktemp("act-loop")
    project = bake(root, dvc_remote="s3", dvc_remote_url=f"s3://{BUCKET}/dvc")
    dvc = [sys.executable, "-m", "dvc"]
    run(["make", "init", f"PYTHON={sys.executable}"], cwd=project, **env)
    run([*dvc, "remote", "modify", "storage", "endpointurl", s3_endpoint], cwd=project, **env)
    run(["make", "data", f"PYTHON={sys.executable}"], cwd=project, **env)
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["quality"]["min_labelled_rows"] == 100
    text = (project / "params.yaml").read_text()
    text = text.replace("  predictions: logs/predictions\n", f"  predictions: s3://{BUCKET}/predictions\n")
    text = text.replace("  labels: logs/labels\n", f"  labels: s3://{BUCKET}/labels\n")
    (project / "params.yaml").write_text(text)
    commit(project, "Initial commit: logs and labels in the bucket")
    run(["make", "repro", f"PYTHON={sys.executable}"], cwd=project, **env)
    commit(project, "Train the first model")
    run([*dvc, "push"], cwd=project, **env)
    return project


def production_traffic(project: Path, endpoint: str, **options: float) -> None:
    """Prediction logs and labels into the bucket (after clearing the earlier ones)."""
    bucket = s3_client(endpoint)
    for prefix in ("predictions/", "labels/"):
        listed = bucket.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        for item in listed:
            bucket.delete_object(Bucket=BUCKET, Key=item["Key"])
    add_traffic(project, endpoint, **options)


def add_traffic(project: Path, endpoint: str, **options: float) -> None:
    args = [str(TRAFFIC), project.name.replace("-", "_"), BUCKET]
    for name, value in options.items():
        args += [f"--{name}", str(value)]
    run([sys.executable, *args], cwd=project, **s3_env(endpoint))


def act_on_s3(project: Path, tmp_path: Path, endpoint: str):
    """The drift and quality workflow under act, authenticated to the emulator as on AWS."""
    stand_in = tmp_path / "aws-credentials"
    stand_in.mkdir(exist_ok=True)
    (stand_in / "action.yml").write_text(CREDENTIALS_STAND_IN)
    result = run_act(
        project,
        "schedule",
        WORKFLOW,
        stand_ins={AWS_CREDENTIALS: stand_in},
        vars={"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/dvc", "AWS_REGION": "us-east-1"},
        env={"AWS_ENDPOINT_URL_S3": endpoint},
        state_dir=tmp_path / "act-state",
    )
    return result, [{"branch": branch, **pull} for branch, pull in result.pulls().items()]


def labelled_ids(endpoint: str) -> set[str]:
    """The prediction ids that have a label in the bucket."""
    bucket = s3_client(endpoint)
    ids: set[str] = set()
    for item in bucket.list_objects_v2(Bucket=BUCKET, Prefix="labels/")["Contents"]:
        body = bucket.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().decode()
        ids |= {line.split(",")[0] for line in body.splitlines()[1:]}
    return ids


def pulled_production_rows(project: Path, pull: dict, endpoint: str) -> pd.DataFrame:
    """The production rows of the pull request's data version, pulled from the DVC remote as a
    reviewer's checkout would."""
    pointer = project / f"{PRODUCTION}.dvc"
    pointer.write_text(pull["files"][f"{PRODUCTION}.dvc"])
    (project / PRODUCTION).unlink()
    run([sys.executable, "-m", "dvc", "pull", f"{PRODUCTION}.dvc"], cwd=project, **s3_env(endpoint))
    return pd.read_csv(project / PRODUCTION, dtype={"prediction_id": str})


def test_degraded_labels_open_one_retraining_pull_request_and_a_rerun_updates_it(
    s3_project, s3_endpoint, tmp_path
):
    project = trained_copy(s3_project, tmp_path / "project" / s3_project.name)
    production_traffic(project, s3_endpoint, rows=300, labelled=300, wrong=0.3, seed=1)
    result, prs = act_on_s3(project, tmp_path, s3_endpoint)
    assert result.ok, result
    assert len(prs) == 1, result
    pr = prs[0]
    assert pr["branch"] == "retrain/drift" and pr["creates"] == 1 and pr["updates"] == 0
    assert f"{PRODUCTION}.dvc" in pr["changed_files"] and "dvc.lock" in pr["changed_files"]
    assert pr["title"].startswith("Retrain on labelled production data (quality below threshold)")
    body = pr["body"]
    assert "## Retraining on labelled production data" in body, body
    assert "### Model quality check: **failed**" in body, body
    assert "### Data drift check: no drift" in body, body
    assert "### Training data: new version" in body and "300 rows." in body, body
    assert "### Metrics" in body, body  # the model report against the default branch
    # The data version of the pull request is in the DVC remote (the emulator's bucket), and it
    # holds every labelled row, one per prediction id.
    rows = pulled_production_rows(project, pr, s3_endpoint)
    assert set(rows["prediction_id"]) == labelled_ids(s3_endpoint) and rows["prediction_id"].is_unique
    assert result.step_result("Push the new data and model") == "success"
    assert (result.artifacts_dir / "quality-report" / "labelled.csv").is_file()

    # The next scheduled run, with a new batch of labels: the same pull request, updated, whose
    # data holds both batches.
    project = trained_copy(s3_project, tmp_path / "project-2" / s3_project.name)
    add_traffic(project, s3_endpoint, rows=200, labelled=200, wrong=0.3, seed=2)
    result, prs = act_on_s3(project, tmp_path, s3_endpoint)
    assert result.ok, result
    assert len(prs) == 1, result
    assert prs[0]["number"] == pr["number"] and prs[0]["creates"] == 1 and prs[0]["updates"] == 1
    assert "500 rows." in prs[0]["body"]
    rows = pulled_production_rows(project, prs[0], s3_endpoint)
    assert set(rows["prediction_id"]) == labelled_ids(s3_endpoint) and len(rows) == 500


def run_without_pull_request(s3_project: Path, endpoint: str, tmp_path: Path, **traffic: float):
    """One scheduled run after ``traffic``: it succeeds and opens no pull request; its result and
    the quality check's summary.json."""
    project = trained_copy(s3_project, tmp_path / "project" / s3_project.name)
    production_traffic(project, endpoint, **traffic)
    result, prs = act_on_s3(project, tmp_path, endpoint)
    assert result.ok, result
    assert prs == []
    assert result.step_result("Retrain on the new data") is None
    report = result.artifacts_dir / "quality-report"
    return result, json.loads((report / "summary.json").read_text())


def test_unchanged_quality_opens_no_pull_request(s3_project, s3_endpoint, tmp_path):
    traffic = dict(rows=300, labelled=300, wrong=0.0, seed=3)
    result, summary = run_without_pull_request(s3_project, s3_endpoint, tmp_path, **traffic)
    assert summary["verdict"] == "pass", summary
    assert result.step_result("Add the labelled production rows") is None


def test_too_few_labels_give_a_notice_and_no_pull_request(s3_project, s3_endpoint, tmp_path):
    traffic = dict(rows=300, labelled=40, wrong=0.3, seed=4)
    result, summary = run_without_pull_request(s3_project, s3_endpoint, tmp_path, **traffic)
    assert summary["verdict"] == "not_enough_labels", summary
    assert "Not enough labels" in result.told
