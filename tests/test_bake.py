"""Bake every supported combination and check the generated project.

Quick tier: rendering, YAML, ruff. Slow tier: the project's own tests and the DVC pipeline.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from combinations import BY_PYTHON, SUPPORTED
from helpers import bake, init_repo, run, trained_copy

COMBOS = sorted(SUPPORTED)
PLUGINS = {"s3": "s3", "gcs": "gs", "azure": "azure", "ssh": "ssh"}
TEXT_SUFFIXES = {".py", ".yml", ".yaml", ".toml", ".md", ".txt", ".cfg", ".json", ""}
# Not Jinja: `${{ ... }}` (GitHub Actions), `{{ $value }}` (Prometheus' alert templates) and
# `{{label}}` (Grafana legends).
LEFTOVER = re.compile(r"(?<!\$)\{\{(?!\s*\$|\w+\}\})|\{%|\{#|cookiecutter\.")


@pytest.fixture(scope="module")
def baked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {name: bake(tmp_path_factory.mktemp(name), **SUPPORTED[name]) for name in COMBOS}


def _files(project: Path):
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.parts and path.suffix in TEXT_SUFFIXES:
            yield path


@pytest.mark.parametrize("name", COMBOS)
def test_no_template_syntax_left(baked, name):
    project = baked[name]
    leftovers = []
    for path in _files(project):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if LEFTOVER.search(line):
                leftovers.append(f"{path.relative_to(project)}:{number}: {line.strip()}")
    assert not leftovers, "\n".join(leftovers)
    assert not any("{{" in part for path in project.rglob("*") for part in path.parts)


@pytest.mark.parametrize("name", COMBOS)
def test_every_yaml_file_parses(baked, name):
    files = [p for p in _files(baked[name]) if p.suffix in {".yml", ".yaml"} or p.name == "dvc.lock"]
    assert any(p.name == "dvc.yaml" for p in files)
    for path in files:
        assert list(yaml.safe_load_all(path.read_text())) is not None, path


@pytest.mark.parametrize("name", COMBOS)
def test_ruff_check_and_format(baked, name):
    project = baked[name]
    run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=project)
    run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], cwd=project)


@pytest.mark.parametrize("name", COMBOS)
def test_answers_reach_the_project(baked, name):
    answers = SUPPORTED[name]
    project = baked[name]
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["data"]["task"] == answers.get("task", "classification")
    assert params["model"]["family"] == answers.get("model_family", "random_forest")
    pyproject = (project / "pyproject.toml").read_text()
    assert f'requires-python = ">={answers.get("python_version", "3.11")}"' in pyproject
    if "description" in answers:
        assert tomllib.loads(pyproject)["project"]["description"] == answers["description"]
    license_file = project / "LICENSE"
    assert license_file.exists() is (answers.get("license", "MIT") != "none")
    assert not (project / "LICENSES").exists()
    package = answers.get("package_name", "mlops_project")
    assert (project / "src" / package / "cli.py").is_file()
    # Every project declares every DVC remote plugin as an extra (so one lock fits all); the
    # Makefile installs the one of this remote.
    extras = tomllib.loads(pyproject)["project"]["optional-dependencies"]
    assert {name: extras[name] for name in ("s3", "gcs", "azure", "ssh")} == {
        name: [f"dvc[{plugin}]>=3.50,<4"] for name, plugin in PLUGINS.items()
    }
    remote = answers.get("dvc_remote", "none")
    makefile = (project / "Makefile").read_text()
    assert f"DVC_EXTRA ?= {'' if remote == 'none' else remote}".rstrip() + "\n" in makefile
    assert f"DVC_REMOTE_URL ?= {answers.get('dvc_remote_url', '')}".rstrip() in makefile
    # deploy: the deploy workflow applies merged overlays (actions), or Argo CD pulls them (argocd).
    deploy = answers.get("deploy", "actions")
    assert (project / ".github/workflows/deploy.yml").is_file() is (deploy == "actions")
    assert sorted(p.name for p in (project / "k8s/argocd").glob("*")) == (
        ["kustomization.yaml", "production.yaml", "project.yaml", "staging.yaml"]
        if deploy == "argocd"
        else []
    )


# The combinations of tests/test_pythons.py run their own suite there, in their own venv: the
# others run it here, in this venv.
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(COMBOS) - set(BY_PYTHON.values())))
def test_generated_project_tests_pass(baked, name):
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=baked[name])
    assert re.search(r"\d+ passed", result.stdout), result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", COMBOS)
def test_dvc_pipeline_end_to_end(baked, name, tmp_path):
    project = baked[name]
    init_repo(project)
    first = run(["make", "repro"], cwd=project)
    for stage in ("prepare", "train", "evaluate"):
        assert f"Running stage '{stage}'" in first.stdout, first.stdout
    metrics = json.loads((project / "metrics.json").read_text())
    task = SUPPORTED[name].get("task", "classification")
    expected = (
        {"accuracy", "f1", "precision", "recall", "roc_auc", "log_loss"}
        if task == "classification"
        else {
            "r2",
            "rmse",
            "mae",
        }
    )
    assert set(metrics) == expected
    plots = {"confusion.csv", "roc.csv"} if task == "classification" else {"predictions.csv", "residuals.csv"}
    assert {p.name for p in (project / "plots").iterdir()} == plots
    # Raw data is DVC-tracked, and every stage is recorded in dvc.lock.
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"prepare", "train", "evaluate"}
    assert list((project / "data" / "raw").glob("*.csv.dvc"))
    # Nothing changed: nothing runs.
    second = run([sys.executable, "-m", "dvc", "repro"], cwd=project)
    assert "Running stage" not in second.stdout
    assert "up to date" in second.stdout
    shown = run([sys.executable, "-m", "dvc", "metrics", "show", "--json"], cwd=project)
    listed = json.loads(shown.stdout)[""]["data"]["metrics.json"]["data"]
    assert set(listed) == expected
    # dvc plots show renders this task's plots (the other task's definitions are skipped).
    rendered = run([sys.executable, "-m", "dvc", "plots", "show", "--json"], cwd=project)
    assert json.loads(rendered.stdout), rendered.stdout
    # Training again, as a fresh clone or the release's fallback does, gives the model dvc.lock
    # records: the same bytes, so the release's md5 check passes and nothing shows as changed.
    model_md5 = {out["path"]: out["md5"] for out in lock["stages"]["train"]["outs"]}
    (project / "models" / "model.skops").unlink()
    again = run([sys.executable, "-m", "dvc", "repro", "--force", "--single-item", "train"], cwd=project)
    assert "Running stage 'train'" in again.stdout, again.stdout
    relocked = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["train"]["outs"]
    assert {out["path"]: out["md5"] for out in relocked} == model_md5


@pytest.mark.slow
def test_git_hooks_run_make_lint(tmp_path):
    project = bake(tmp_path)
    init_repo(project)
    hooks = project / ".git" / "hooks"
    assert (hooks / "pre-commit").is_file() and (hooks / "pre-push").is_file()
    (project / "src" / "mlops_project" / "bad.py").write_text("import os\nx=1\n")
    run(["git", "add", "-A"], cwd=project)
    blocked = run(["git", "commit", "-q", "-m", "bad"], cwd=project, check=False)
    assert blocked.returncode != 0
    assert "make lint" in blocked.stdout + blocked.stderr
    (project / "src" / "mlops_project" / "bad.py").write_text("X = 1\n")
    run(["git", "add", "-A"], cwd=project)
    run(["git", "commit", "-q", "-m", "good"], cwd=project)


@pytest.mark.slow
def test_failed_retrain_keeps_previous_model_and_metrics(trained_project, tmp_path):
    project = trained_copy(trained_project, tmp_path / "project")
    kept = ["metrics.json", "models/model.skops", "models/schema.json", "plots/roc.csv"]
    before = {name: (project / name).read_bytes() for name in kept}
    data = next((project / "data" / "raw").glob("*.csv"))
    # New data without the target column, tracked as a user would.
    good = data.read_text()
    lines = good.splitlines()
    data.write_text("\n".join(",".join(line.split(",")[:-1]) for line in lines) + "\n")
    run([sys.executable, "-m", "dvc", "add", "-q", str(data.relative_to(project))], cwd=project)
    failed = run(["make", "repro"], cwd=project, check=False)
    assert failed.returncode != 0
    assert "error: target column 'target' (data.target in params.yaml) is not in" in failed.stderr
    assert "Traceback" not in failed.stdout + failed.stderr
    assert {name: (project / name).read_bytes() for name in kept} == before
    # A bad model param value: scikit-learn checks it when fitting starts, and training stops
    # with one line naming it; the previous outputs are kept.
    data.write_text(good)
    run([sys.executable, "-m", "dvc", "add", "-q", str(data.relative_to(project))], cwd=project)
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("params: {}", "params: {n_estimators: -3}"))
    failed = run(["make", "repro"], cwd=project, check=False)
    assert failed.returncode != 0
    assert "error: training RandomForestClassifier failed: The 'n_estimators'" in failed.stderr
    assert "Traceback" not in failed.stdout + failed.stderr
    assert {name: (project / name).read_bytes() for name in kept} == before


@pytest.mark.slow
def test_failure_in_a_later_stage_restores_what_dvc_cleared(trained_project, tmp_path):
    project = trained_copy(trained_project, tmp_path / "project")
    kept = ["metrics.json", "models/model.skops", "models/schema.json", "plots/roc.csv"]
    before = {name: (project / name).read_bytes() for name in kept}
    # Change the training code so the stage re-runs and fails after DVC cleared its outputs.
    train = project / "src" / "mlops_project" / "train.py"
    code = train.read_text()
    assert code.count("pipeline.fit(") == 1
    train.write_text(code.replace("pipeline.fit(", "raise RuntimeError('simulated crash'); pipeline.fit("))
    failed = run(["make", "repro"], cwd=project, check=False)
    assert failed.returncode != 0
    assert "simulated crash" in failed.stderr
    assert "previous model, metrics and plots kept" in failed.stderr
    assert {name: (project / name).read_bytes() for name in kept} == before


@pytest.mark.slow
def test_make_init_inside_another_git_repository(tmp_path):
    run(["git", "init", "-q", str(tmp_path)], cwd=tmp_path)
    project = bake(tmp_path / "generated")
    run(["make", "init"], cwd=project)
    top = run(["git", "rev-parse", "--show-toplevel"], cwd=project).stdout.strip()
    assert Path(top).resolve() == project.resolve()
    assert (project / ".dvc" / "config").is_file()
    # Idempotent: a second run changes nothing and does not fail.
    run(["make", "init"], cwd=project)
