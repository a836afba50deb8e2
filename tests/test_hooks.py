"""Pre- and post-generation hooks: unit tests of each function, and end-to-end failures."""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.generate import generate_files
from cookiecutter.main import cookiecutter

import post_gen_project as post
import pre_gen_project as pre
from combinations import INVALID, SUPPORTED
from helpers import TEMPLATE, bake

DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())
CHOICES = pre.choice_options(DEFAULTS)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_input_fails_in_pre_gen_hook_and_leaves_nothing(name, tmp_path, capfd):
    answers, message = INVALID[name]
    with pytest.raises(FailedHookException):
        bake(tmp_path, **answers)
    err = capfd.readouterr().err
    assert message in err, err
    assert "Nothing was generated" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("python_version", "3.9"), ("task", "clustering"), ("license", "GPL"), ("deploy", "flux")],
)
def test_choice_outside_the_list_is_rejected(field, value, tmp_path):
    # cookiecutter refuses it first; the hook's own check covers replayed or hand-edited answers.
    with pytest.raises(ValueError, match=f"{value} provided for choice variable {field}"):
        bake(tmp_path, **{field: value})
    assert list(tmp_path.iterdir()) == []


def _replay(path: Path, **changes: str) -> Path:
    """A replay file: the default answers (as cookiecutter would have rendered them), changed."""
    answers = {key: value[0] if isinstance(value, list) else value for key, value in DEFAULTS.items()}
    del answers["__prompts__"]
    answers["_copy_without_render"] = DEFAULTS["_copy_without_render"]
    answers.update(project_slug="mlops-project", package_name="mlops_project", k8s_namespace="mlops-project")
    answers.update(changes)
    path.write_text(json.dumps({"cookiecutter": answers}))
    return path


def _hook_errors(template: Path, replay: Path, output_dir: Path, capfd) -> list[str]:
    """The ERROR lines of the pre-generation hook when cookiecutter replays ``replay``."""
    with pytest.raises(FailedHookException):
        cookiecutter(str(template), replay=str(replay), output_dir=str(output_dir))
    return [line for line in capfd.readouterr().err.splitlines() if line.startswith("ERROR: ")]


@pytest.mark.parametrize("option", sorted(CHOICES))
def test_the_hook_offers_exactly_the_choices_of_cookiecutter_json(option, tmp_path, capfd):
    """The hook reads the choices from the cookiecutter.json of the template being run.

    Replayed (or hand-edited) answers are the way an unlisted value reaches the hook. It must
    list exactly cookiecutter.json's values, and a value added there alone must be accepted.
    """
    replay = _replay(tmp_path / "unlisted.json", **{option: "unlisted"})
    listed = ", ".join(CHOICES[option])
    errors = _hook_errors(TEMPLATE, replay, tmp_path, capfd)
    assert errors == [f"ERROR: {option} 'unlisted' is not supported; choose one of: {listed}"]

    copy = tmp_path / "template"
    shutil.copytree(TEMPLATE / "hooks", copy / "hooks")
    (copy / "{{cookiecutter.project_slug}}").mkdir()
    options = dict(DEFAULTS, **{option: [*CHOICES[option], "added"]})
    (copy / "cookiecutter.json").write_text(json.dumps(options))
    # A bad e-mail stops generation at the hook, so the template's files are not needed.
    replay = _replay(tmp_path / "added.json", **{option: "added", "author_email": "x"})
    errors = _hook_errors(copy, replay, tmp_path, capfd)
    assert [line.split()[1] for line in errors] == ["author_email"]


def test_hook_run_by_generate_files_alone_reports_without_a_retry_command(tmp_path, capfd):
    """cruft calls cookiecutter's generate_files with its own context: no _repo_dir, no
    _output_dir. The hook still rejects bad answers (choices were checked by cookiecutter's prompt)."""
    answers = json.loads(_replay(tmp_path / "answers.json", author_email="x").read_text())["cookiecutter"]
    answers["_template"] = "https://example.com/template.git"
    with pytest.raises(FailedHookException):
        generate_files(
            repo_dir=str(TEMPLATE), context={"cookiecutter": answers}, output_dir=str(tmp_path / "out")
        )
    err = capfd.readouterr().err
    assert "ERROR: author_email 'x' is not an e-mail address" in err
    assert err.rstrip().endswith("Nothing was generated. Fix the values above and run it again."), err
    assert list((tmp_path / "out").iterdir()) == []
    answers["author_email"] = "jane@example.com"
    generate_files(
        repo_dir=str(TEMPLATE), context={"cookiecutter": answers}, output_dir=str(tmp_path / "out")
    )
    assert (tmp_path / "out" / "mlops-project" / "pyproject.toml").is_file()


def test_every_copy_of_the_python_versions_agrees_with_cookiecutter_json():
    """Jinja written per Python version: CI's matrix list and the image's base digests (a template
    file cannot read cookiecutter.json's lists: replayed answers carry no choices). Each must name
    exactly the versions cookiecutter.json offers (the shipped locks: tests/test_lock.py)."""
    project = TEMPLATE / "{{cookiecutter.project_slug}}"
    ci = (project / ".github/workflows/ci.yml").read_text()
    ci_versions = ast.literal_eval(re.search(r"set all_versions = (\[.*?\])", ci).group(1))
    dockerfile = (project / "Dockerfile").read_text()
    digests = ast.literal_eval(re.search(r"set base_digests = (\{.*?\})", dockerfile, re.DOTALL).group(1))
    assert ci_versions == CHOICES["python_version"], ".github/workflows/ci.yml all_versions"
    assert list(digests) == CHOICES["python_version"], "Dockerfile base_digests"


def test_every_remote_type_has_its_url_scheme():
    assert set(pre.REMOTE_SCHEMES) == set(CHOICES["dvc_remote"]) - {"none"}


def test_every_choice_value_is_in_a_supported_combination():
    for option, values in DEFAULTS.items():
        if option.startswith("_") or not isinstance(values, list):
            continue
        used = {combo.get(option, values[0]) for combo in SUPPORTED.values()}
        assert used == set(values), f"{option}: values without a supported combination: {set(values) - used}"


def test_every_text_option_is_overridden_somewhere():
    texts = {k for k, v in DEFAULTS.items() if isinstance(v, str) and not k.startswith("_")}
    overridden = set().union(*(combo for combo in SUPPORTED.values())) | {
        key for answers, _ in INVALID.values() for key in answers
    }
    assert texts <= overridden, f"text options never given a non-default value: {texts - overridden}"


def test_every_option_is_documented_in_readme():
    readme = (TEMPLATE / "README.md").read_text()
    for option in DEFAULTS:
        if not option.startswith("_"):
            assert f"`{option}`" in readme, option
    rows = {line.split("|")[1].strip(): line for line in readme.splitlines() if line.startswith("| `")}
    for option, values in CHOICES.items():
        missing = [value for value in values if value not in rows[f"`{option}`"]]
        assert not missing, f"README.md's Options row of {option} does not name {missing}"


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (
            pre.check_slug,
            ["churn", "churn-model-2"],
            ["", "Churn", "churn_model", "-churn", "churn-", "a--b", "x" * 64],
        ),
        (
            pre.check_package,
            ["churn", "churn_model2"],
            ["Churn", "churn-model", "2churn", "def", "os", "sklearn"],
        ),
        (
            pre.check_email,
            ["a@b.io", "first.last+tag@mail.example.org"],
            ["a@b", "@b.io", "a b@c.io", "a@@b.io"],
        ),
        (
            pre.check_github_owner,
            ["jane", "acme-org", "A1"],
            ["-jane", "jane-", "a--b", "jane doe", "x" * 40],
        ),
        (
            pre.check_namespace,
            ["default", "ml-prod", "a1", "x" * 55],
            ["ML", "-ml", "ml-", "ml_prod", "x" * 56],
        ),
        (
            pre.check_cron,
            ["0 6 * * 1", "*/15 * * * *", "0 0 1,15 JAN-JUN MON-FRI", "5 4 * * SUN", "0 0-23/2 * * *"],
            [
                "",
                "* * * *",
                "60 * * * *",
                "0 0 0 * *",
                "0 0 * 13 *",
                "0 0 * * 7",
                "0 5-1 * * *",
                "0 0 * * MON-XYZ",
                "a b c d e",
                "0 0 * * 1,",
                "*/x * * * *",
                "0 6 * * 1 2024",
            ],
        ),
    ],
)
def test_field_checks(check, good, bad):
    for value in good:
        assert check(value) is None, value
    for value in bad:
        assert check(value), value


@pytest.mark.parametrize(
    ("remote", "url", "ok"),
    [
        ("none", "", True),
        ("none", "s3://x", False),
        ("s3", "s3://bucket/path", True),
        ("s3", "s3://", False),
        ("s3", "", False),
        ("gcs", "gs://bucket", True),
        ("gcs", "s3://bucket", False),
        ("azure", "azure://container/dir", True),
        ("ssh", "ssh://user@host/srv/dvc", True),
        ("ssh", "ssh://host/path with space", False),
    ],
)
def test_remote_url_must_match_remote(remote, url, ok):
    assert (pre.check_remote(remote, url) is None) is ok


def test_validate_reports_all_errors_at_once():
    context = {k: (v[0] if isinstance(v, list) else v) for k, v in DEFAULTS.items()}
    context.update(project_slug="Bad Slug", package_name="bad-pkg", author_email="x", drift_schedule="x")
    context["k8s_namespace"] = "ml"
    problems = pre.validate(context, pre.choice_options(DEFAULTS))
    assert list(problems) == ["project_slug", "package_name", "author_email", "drift_schedule"]
    assert all(message.startswith(field) for field, message in problems.items())


def _answers(**changes: str) -> dict[str, str]:
    answers = {k: (v[0] if isinstance(v, list) else v) for k, v in DEFAULTS.items() if not k.startswith("_")}
    answers.update(project_slug="mlops-project", package_name="mlops_project", k8s_namespace="mlops-project")
    return {**answers, **changes, "_template": "gh:acme/tmpl", "_output_dir": "/srv/out", "_checkout": None}


def test_kept_answers_leave_out_the_bad_ones_and_the_plain_defaults():
    context = _answers(author_email="x", task="regression", author_name="Zoë O'Brien")
    kept = pre.kept_answers(context, DEFAULTS, {"author_email"})
    # Answers computed from others are kept as given; plain defaults are offered again anyway.
    assert kept == {
        "project_slug": "mlops-project",
        "package_name": "mlops_project",
        "author_name": "Zoë O'Brien",
        "task": "regression",
        "k8s_namespace": "mlops-project",
    }


def test_retry_command_is_one_shell_line_that_keeps_every_answer(monkeypatch):
    context = _answers(author_name="Zoë O'Brien", description='a "quoted" $HOME; rm -rf /')
    kept = pre.kept_answers(context, DEFAULTS, {"author_email"})
    monkeypatch.setenv("PWD", "/srv/out")
    words = shlex.split(pre.retry_command(context, kept))
    assert words[:2] == ["cookiecutter", "gh:acme/tmpl"]
    assert dict(word.split("=", 1) for word in words[2:]) == kept
    monkeypatch.setenv("PWD", "/home/jane")
    context["_checkout"] = "v1.2"
    words = shlex.split(pre.retry_command(context, kept))
    assert words[:6] == ["cookiecutter", "gh:acme/tmpl", "--checkout", "v1.2", "--output-dir", "/srv/out"]


def _license_tree(root: Path) -> None:
    (root / "LICENSES").mkdir()
    for name in ("MIT", "BSD-3-Clause", "Apache-2.0"):
        (root / "LICENSES" / f"{name}.txt").write_text(f"{name} text")


@pytest.mark.parametrize("license_id", ["MIT", "BSD-3-Clause", "Apache-2.0"])
def test_select_license_keeps_the_chosen_text(tmp_path, license_id):
    _license_tree(tmp_path)
    post.select_license(tmp_path, license_id)
    assert (tmp_path / "LICENSE").read_text() == f"{license_id} text"
    assert not (tmp_path / "LICENSES").exists()


def test_select_license_none_removes_all(tmp_path):
    _license_tree(tmp_path)
    post.select_license(tmp_path, "none")
    assert sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("remote", "kept"), [("none", False), ("s3", True), ("ssh", True)])
def test_remove_dvc_remote_action(tmp_path, remote, kept):
    action = tmp_path / post.REMOTE_ACTION
    action.mkdir(parents=True)
    (action / "action.yml").write_text("name: x\n")
    post.remove_dvc_remote_action(tmp_path, remote)
    assert action.exists() is kept


def _deploy_tree(root: Path) -> None:
    (root / post.DEPLOY_WORKFLOW).parent.mkdir(parents=True)
    (root / post.DEPLOY_WORKFLOW).write_text("name: deploy\n")
    (root / ".github/workflows/release.yml").write_text("name: release\n")
    (root / post.DEPLOYMENTS_SCRIPT).write_text("#!/usr/bin/env bash\n")
    (root / post.ARGOCD_DIR).mkdir(parents=True)
    (root / post.ARGOCD_DIR / "staging.yaml").write_text("kind: Application\n")
    (root / "k8s/overlays/staging").mkdir(parents=True)
    (root / "k8s/overlays/staging/kustomization.yaml").write_text("images: []\n")


@pytest.mark.parametrize(
    ("mode", "left"),
    [
        (
            "actions",
            {".github/workflows/deploy.yml", ".github/deployments.sh", ".github/workflows/release.yml"},
        ),
        ("argocd", {".github/workflows/release.yml", "k8s/argocd/staging.yaml"}),
    ],
)
def test_select_deploy_mode_keeps_one_way_to_deploy(tmp_path, mode, left):
    _deploy_tree(tmp_path)
    post.select_deploy_mode(tmp_path, mode)
    files = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    # The overlays and the promotion (release) workflow are the same in both modes.
    assert files == left | {"k8s/overlays/staging/kustomization.yaml"}


def test_remove_empty_files_keeps_init_and_content(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "empty.yml").write_text("\n  \n")
    (tmp_path / "a" / "full.yml").write_text("x: 1\n")
    (tmp_path / "a" / "__init__.py").write_text("")
    (tmp_path / "a" / "data.csv").write_text("")
    post.remove_empty_files(tmp_path)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["__init__.py", "data.csv", "full.yml"]


def test_remove_dev_caches(tmp_path):
    for cache in ("src/pkg/__pycache__", ".ruff_cache/0.1", "tests/.pytest_cache"):
        (tmp_path / cache).mkdir(parents=True)
        (tmp_path / cache / "blob").write_bytes(b"\x89binary")
    (tmp_path / "src" / "pkg" / "mod.py").write_text("X = 1\n")
    post.remove_dev_caches(tmp_path)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["src/pkg/mod.py"]
