"""The generated workflows, run for real with act (self-hosted mode) on a baked project.

The project has a real history: main with a trained model (metrics.json and plots/ committed),
and pull-request branches. `run:` steps run as written (real `make data`, `dvc repro`, `compare`,
`make lint`, `make test`); only setup-python, setup-uv, the Actions cache, artifact upload, the PR
comment and the docker actions (buildx, build-push) are local stand-ins (template_support/act/),
which record what they were given.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import bake, commit, git, trained_copy
from template_support.act import pull_request_event, push_event, run_act

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("act")]

TRAIN = ".github/workflows/train.yml"
CI = ".github/workflows/ci.yml"
PR_NUMBER = 7
NEW_PARAMS = {"n_estimators": 40, "max_depth": 3}


def metric_row(body: str, name: str) -> str:
    rows = [
        line for line in body.splitlines() if re.match(rf"^\| (\*\*)?{re.escape(name)}(\*\*)?[ <(]", line)
    ]
    assert len(rows) == 1, f"no single row for {name} in:\n{body}"
    return rows[0]


@pytest.fixture(scope="module")
def pr_project(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the trained project with a pull-request branch that changes model params."""
    project = trained_copy(trained_project, tmp_path_factory.mktemp("act-pr") / trained_project.name)
    git(project, "checkout", "-q", "-b", "tune-forest")
    params = yaml.safe_load((project / "params.yaml").read_text())
    text = (project / "params.yaml").read_text()
    text = re.sub(r"(?m)^  params: .*$", f"  params: {json.dumps(NEW_PARAMS)}", text)
    (project / "params.yaml").write_text(text)
    assert yaml.safe_load(text)["model"]["params"] == NEW_PARAMS and params["model"]["params"] != NEW_PARAMS
    commit(project, "Smaller trees")
    return project


@pytest.fixture(scope="module")
def two_runs(pr_project: Path):
    """The train workflow on the PR, then again with nothing changed (a second push, say)."""
    event = pull_request_event(pr_project, base="main", number=PR_NUMBER)
    first = run_act(pr_project, "pull_request", TRAIN, event_payload=event)
    second = run_act(pr_project, "pull_request", TRAIN, event_payload=event)
    return first, second


def test_pr_workflow_trains_and_comments_every_metric_and_the_param_change(pr_project, two_runs):
    first, _ = two_runs
    assert first.ok, first
    assert first.step_result("Reproduce the pipeline") == "success"
    assert "Running stage 'train'" in first.logs  # really trained, not a stand-in

    base = json.loads(
        subprocess.run(
            ["git", "show", "main:metrics.json"], cwd=pr_project, capture_output=True, text=True, check=True
        ).stdout
    )
    artifacts = first.artifacts_dir / f"model-report-pr{PR_NUMBER}"
    new = json.loads((artifacts / "metrics.json").read_text())
    assert set(new) == set(base)

    comments = first.comments()[PR_NUMBER]
    assert list(comments) == ["model-report"]
    body = comments["model-report"]["body"]
    for name in base:
        row = metric_row(body, name)
        assert f"| {base[name]:.4f} | {new[name]:.4f} |" in row, row
        assert any(mark in row for mark in ("better", "worse", "unchanged")), row
    assert "**f1** (primary)" in body
    assert "| `model.params.max_depth` | — | 3 |" in body
    assert "| `model.params.n_estimators` | — | 40 |" in body
    assert "```mermaid" in body and "xychart-beta" in body
    assert "#### Confusion matrix" in body

    # The same report is the job summary; the plot files are uploaded.
    assert "## Model report" in first.summaries["train"]
    uploaded = {p.relative_to(artifacts).as_posix() for p in artifacts.rglob("*") if p.is_file()}
    assert {"model-report.md", "metrics.json", "plots/roc.csv", "plots/confusion.csv", "dvc.lock"} <= uploaded


def test_second_run_updates_the_same_comment_and_skips_training(two_runs):
    first, second = two_runs
    assert second.ok, second
    comment = second.comments()[PR_NUMBER]["model-report"]
    assert comment["creates"] == 1 and comment["updates"] == 1
    assert [c["op"] for c in first.calls_to("marocchino/")] == ["create"]
    assert [c["op"] for c in second.calls_to("marocchino/")] == ["update"]
    # The DVC cache saved by the first run is restored; the run-cache spares the training.
    assert [c.get("saved") for c in first.calls_to("actions/cache/save")] == [True]
    restored = second.calls_to("actions/cache/restore")[0]
    assert restored["matched_key"].startswith("dvc-Linux-")
    assert "Running stage 'train'" not in second.logs, second.logs
    assert "Stage 'train' is cached - skipping run" in second.logs
    assert comment["body"].count("## Model report") == 1


def test_fork_pull_request_runs_the_comparison_but_skips_the_comment(pr_project, tmp_path):
    event = pull_request_event(pr_project, base="main", number=PR_NUMBER + 1, fork=True)
    result = run_act(pr_project, "pull_request", TRAIN, event_payload=event, state_dir=tmp_path / "fork")
    assert result.ok, result
    assert result.calls_to("marocchino/") == []
    assert result.comments() == {}
    summary = result.summaries["train"]
    assert "## Model report" in summary
    assert "No pull-request comment: this pull request comes from a fork" in summary


def test_ci_passes_on_main(trained_project, tmp_path):
    project = trained_copy(trained_project, tmp_path / trained_project.name)
    result = run_act(
        project,
        "push",
        CI,
        event_payload=push_event(project),
        extra_args=("--matrix", _first_python(project)),
    )
    assert result.ok, result
    assert result.jobs.keys() >= {"lint", "test", "image"}
    assert_built_the_build_stage_only(result, project)
    # Each job set up uv with its cache keyed on the lock and installed the locked environment,
    # as on GitHub (setup-project action; no shortcut for runners that have the modules).
    setup_uv = result.calls_to("astral-sh/setup-uv")
    assert len(setup_uv) == 2
    for call in setup_uv:
        assert call["inputs"] == {"enable-cache": "true", "cache-dependency-glob": "uv.lock"}
    logs = re.sub(r"\x1b\[[0-9;]*m", "", result.logs)  # uv colours its summary lines
    assert len(re.findall(r"(?:Installed|Audited) \d+ packages", logs)) == 2, logs[-3000:]


def test_a_pull_request_that_breaks_a_test_fails_ci(trained_project, tmp_path):
    project = trained_copy(trained_project, tmp_path / trained_project.name)
    git(project, "checkout", "-q", "-b", "break-a-test")
    config = next((project / "src").glob("*/config.py"))  # the one metric table
    text = config.read_text()
    lower = 'Metric("rmse", "regression", lower_is_better=True)'
    assert lower in text
    config.write_text(text.replace(lower, lower.replace("True", "False"), 1))  # rmse higher-is-better
    commit(project, "Break the metric directions")
    event = pull_request_event(project, base="main", number=9)
    result = run_act(
        project,
        "pull_request",
        CI,
        event_payload=event,
        job="test",
        extra_args=("--matrix", _first_python(project)),
    )
    assert result.returncode != 0
    assert result.jobs and set(result.jobs.values()) == {"failure"}, result.jobs
    assert "test_verdict_follows_each_metrics_direction" in result.logs
    assert result.step_result("make test") == "failure"


def assert_built_the_build_stage_only(result, project: Path) -> None:
    """The CI image job set up buildx and built the Dockerfile's `build` stage from the checkout,
    with nothing else asked of build-push: no push, no tags, no load, no cache read or written."""
    assert result.jobs.get("image") == "success", result.jobs
    (buildx,) = result.calls_to("docker/setup-buildx-action")
    (build,) = result.calls_to("docker/build-push-action")
    assert buildx["job"] == build["job"] == "image"
    assert build["inputs"] == {"context": ".", "target": "build", "push": "false"}, build["inputs"]
    assert not result.calls_to("docker/login-action")
    # The target is a stage of the Dockerfile build-push reads by default (<context>/Dockerfile),
    # and neither it nor the stages it starts from copy anything from models/ (not in a PR).
    dockerfile = (project / build["inputs"]["context"] / "Dockerfile").read_text()
    stages: dict[str, tuple[str, str]] = {}  # name: (what it starts FROM, its lines)
    for stage in re.split(r"(?m)^FROM\s+", dockerfile)[1:]:
        head, _, body = stage.partition("\n")
        parent, _, name = head.partition(" AS ")
        stages[name.strip() or f"#{len(stages)}"] = (parent.strip(), body)
    assert stages["build"][0] == "base", stages.keys()
    copied, name = [], "build"
    while name in stages:
        copied += re.findall(r"(?m)^COPY\s+(.+)$", stages[name][1])
        name = stages[name][0]
    assert copied and not any("models" in line for line in copied), copied


def test_a_dependabot_base_digest_pull_request_builds_the_image_build_stage(tmp_path):
    """A freshly generated repository (no model trained, no secrets, no vars): Dependabot's pull
    request that moves the base's digest gets the image's build stage built by CI."""
    project = bake(tmp_path)
    git(project, "init", "-q", "--initial-branch=main")
    commit(project, "Initial commit")
    git(project, "checkout", "-q", "-b", "dependabot/docker/python-3.11-slim")
    dockerfile = project / "Dockerfile"
    text, moved = re.subn(r"(?m)^(FROM python:\S+-slim@)sha256:[0-9a-f]{64}( AS base)$",
                          rf"\1sha256:{'0a' * 32}\2", dockerfile.read_text())  # fmt: skip
    assert moved == 1
    dockerfile.write_text(text)
    commit(project, "image: bump python from `1042b61` to `0a0a0a0`")
    assert not (project / "models").exists()
    event = pull_request_event(project, base="main", number=11, title="image: bump python")
    event["sender"] = event["pull_request"]["user"] = {"login": "dependabot[bot]"}

    result = run_act(project, "pull_request", CI, event_payload=event, job="image")
    assert result.ok, result
    assert result.jobs == {"image": "success"}
    assert_built_the_build_stage_only(result, project)
    job = yaml.safe_load((project / CI).read_text())["jobs"]["image"]
    assert job["permissions"] == {"contents": "read"} and "environment" not in job
    assert "secrets." not in yaml.safe_dump(job)


def _first_python(project: Path) -> str:
    workflow = yaml.safe_load((project / CI).read_text())
    return f"python-version:{workflow['jobs']['test']['strategy']['matrix']['python-version'][0]}"
