"""Pre- and post-generation hooks: unit tests of each function, and end-to-end failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException

import post_gen_project as post
import pre_gen_project as pre
from combinations import INVALID, SUPPORTED
from helpers import TEMPLATE, bake

DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())


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
    assert pre.check_choice(field, value) == (
        f"{field} {value!r} is not supported; choose one of: {', '.join(pre.CHOICES[field])}"
    )
    assert pre.check_choice(field, DEFAULTS[field][0]) is None


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
    fields = [message.split()[0] for message in pre.validate(context)]
    assert fields == ["project_slug", "package_name", "author_email", "drift_schedule"]


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
