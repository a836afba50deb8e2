"""The generated uv.lock: consistent with each bake's pyproject.toml, hashed, and the only pins.

uv checks a lock against its project without the network (`uv lock --check --offline`): these
tests run uv for real on every supported combination.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import post_gen_project as post
from combinations import SUPPORTED
from helpers import TEMPLATE, bake
from template_support.pythons import find_python

COMBOS = sorted(SUPPORTED)
LOCKS = TEMPLATE / "{{cookiecutter.project_slug}}" / post.LOCKS_DIR


def uv(
    project: Path, *args: str, check: bool = True, offline: bool = True, cache: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    if offline:
        env["UV_OFFLINE"] = "1"
    if cache is not None:
        env["UV_CACHE_DIR"] = str(cache)
    result = subprocess.run(
        [sys.executable, "-m", "uv", *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"uv {args} failed:\n{result.stdout}\n{result.stderr}")
    return result


def python_of(project: Path) -> str:
    version = tomllib.loads((project / "pyproject.toml").read_text())["project"]["requires-python"]
    return find_python(version.removeprefix(">="))


@pytest.fixture(scope="module")
def baked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {name: bake(tmp_path_factory.mktemp(name), **SUPPORTED[name]) for name in COMBOS}


def package_names(lock_text: str) -> list[str]:
    return re.findall(r'^\[\[package\]\]\nname = "([^"]+)"', lock_text, re.MULTILINE)


@pytest.mark.parametrize("name", COMBOS)
def test_lock_is_consistent_with_the_baked_pyproject(baked, name):
    project = baked[name]
    answers = SUPPORTED[name]
    text = (project / "uv.lock").read_text()
    assert f'requires-python = ">={answers.get("python_version", "3.11")}"' in text
    slug = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
    names = package_names(text)
    assert slug in names and post.LOCK_PLACEHOLDER not in text
    assert names == sorted(names), "packages in uv's order, the project's own entry included"
    assert not (project / post.LOCKS_DIR).exists()
    uv(project, "lock", "--check", "--python", python_of(project))


def test_lock_check_fails_when_pyproject_changes(tmp_path):
    """The check above can fail: a dependency added without `make lock` is caught.

    A changed pyproject.toml makes uv resolve again before it can compare, which needs every
    package's metadata for every Python split. Offline, that works only where an earlier run left
    them in uv's cache, so this one case runs as a user's `uv lock --check` does: online (the
    package registry, which CI reaches) and with a cache of its own, empty, so it never depends
    on what another run left behind.
    """
    project = bake(tmp_path / "bake")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pyyaml>=6",', '"pyyaml>=6",\n    "rich>=13",'))
    result = uv(
        project, "lock", "--check", "--python", python_of(project), check=False, offline=False,
        cache=tmp_path / "uv-cache",
    )  # fmt: skip
    assert result.returncode != 0
    assert "needs to be updated" in result.stderr, result.stderr


def test_one_shipped_lock_per_python_version():
    choices = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"]
    assert sorted(p.name for p in LOCKS.iterdir()) == sorted(f"py{v}.lock" for v in choices)
    for version in choices:
        text = (LOCKS / f"py{version}.lock").read_text()
        assert f'requires-python = ">={version}"' in text
        assert text.count(f'name = "{post.LOCK_PLACEHOLDER}"') == 1


def test_test_venv_constraints_are_the_export_of_the_lowest_lock(tmp_path):
    """constraints-project.txt (the template's test venv) is what scripts/lock-template.py exports."""
    project = bake(tmp_path, python_version="3.11")
    exported = uv(
        project, "export", "--frozen", "--all-extras", "--no-emit-project", "--no-hashes", "--no-header",
        "--no-annotate",
    ).stdout  # fmt: skip
    shipped = (TEMPLATE / "constraints-project.txt").read_text()
    pins = "".join(line + "\n" for line in shipped.splitlines() if not line.startswith("#"))
    assert pins == exported, "constraints-project.txt is stale: run make lock-template"


@pytest.mark.parametrize("name", ["defaults", "py313-classification-linear-gcs-apache"])
def test_image_installs_the_serving_set_with_hashes(baked, name):
    """What the Dockerfile installs: every pin with its hashes, no training or drift tooling."""
    exported = uv(
        baked[name], "export", "--frozen", "--no-emit-project", "--no-dev", "--extra", "serve",
        "--format", "requirements.txt",
    ).stdout  # fmt: skip
    hashed = re.compile(r"^([A-Za-z0-9._-]+)==\S+(?: ;[^\\\n]*)? \\\n(?:\s+--hash=sha256:\w+.*\n)+", re.M)
    names = {re.sub(r"[-_.]+", "-", n).lower() for n in hashed.findall(exported)}
    assert len(names) == exported.count("=="), "every pinned package has its hashes"
    direct = {"fastapi", "uvicorn", "scikit-learn", "pandas", "skops", "prometheus-client"}
    assert direct <= names
    assert not {"dvc", "evidently", "pytest", "ruff", "pyarrow", "httpx2"} & names


def test_pandas_is_capped_only_by_the_drift_extra(tmp_path):
    project = tomllib.loads((bake(tmp_path) / "pyproject.toml").read_text())["project"]
    groups = {"dependencies": project["dependencies"], **project["optional-dependencies"]}
    capped = {group for group, reqs in groups.items() for req in reqs if re.match(r"pandas\b.*<", req)}
    assert capped == {"drift"}


def test_select_lock_renames_and_orders_the_project_entry(tmp_path):
    (tmp_path / post.LOCKS_DIR).mkdir()
    head = 'version = 1\nrequires-python = ">=3.12"\n'
    entries = ["alpha", post.LOCK_PLACEHOLDER, "numpy", "zeta"]
    body = "".join(f'\n[[package]]\nname = "{n}"\nversion = "1"\n' for n in entries)
    (tmp_path / post.LOCKS_DIR / "py3.12.lock").write_text(head + body)
    post.select_lock(tmp_path, "3.12", "my-model")
    text = (tmp_path / "uv.lock").read_text()
    assert package_names(text) == ["alpha", "my-model", "numpy", "zeta"]
    assert text.startswith(head) and not (tmp_path / post.LOCKS_DIR).exists()
