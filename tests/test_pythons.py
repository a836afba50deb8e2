"""Every supported Python runs a generated project: `make setup` (uv sync from uv.lock), the
pipeline (`make repro`) and the project's own tests, in the project's own venv.

One combination per python_version. uv's cache (shared by the session, and kept between runs)
makes the second and later environments quick.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from combinations import SUPPORTED
from helpers import BIN, bake
from template_support.pythons import find_python

BY_VERSION = {
    "3.11": "regression-random-forest",
    "3.12": "py312-regression-gbm-s3-bsd",
    "3.13": "py313-classification-linear-gcs-apache",
}


# On 3.11 uv is left off PATH (unless the machine has its own): `make setup` installs it with pip.
WITHOUT_UV = {"3.11"}


def own_env(version: str) -> dict[str, str]:
    """The environment of a person at a terminal: no test venv; uv on PATH (after the system's)."""
    drop = {"PYTHON", "PYTHONPATH", "VIRTUAL_ENV", "MAKELEVEL", "MAKEFLAGS", "MFLAGS"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    if version not in WITHOUT_UV:
        env["PATH"] = f"{env.get('PATH', '')}{os.pathsep}{BIN}"
    env.update(DVC_NO_ANALYTICS="1", UV_PYTHON_DOWNLOADS="never")
    return env


def make(project: Path, version: str, *targets: str) -> subprocess.CompletedProcess[str]:
    env = own_env(version)
    result = subprocess.run(
        ["make", *targets], cwd=project, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, f"make {targets}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def test_every_python_version_has_a_combination():
    versions = json.loads((Path(__file__).parents[1] / "cookiecutter.json").read_text())["python_version"]
    assert sorted(BY_VERSION) == versions
    for version, name in BY_VERSION.items():
        assert SUPPORTED[name].get("python_version", "3.11") == version


@pytest.mark.slow
@pytest.mark.parametrize("version", sorted(BY_VERSION))
def test_setup_repro_and_tests_on_each_python(version, tmp_path):
    interpreter = find_python(version)
    if not Path(interpreter).is_file():
        pytest.fail(f"python{version} not found: install it (pyenv install {version}, or setup-python)")
    name = BY_VERSION[version]
    project = bake(tmp_path, **SUPPORTED[name])
    make(project, version, "setup", f"PYTHON_BOOTSTRAP={interpreter}")
    if shutil.which("uv", path=own_env(version)["PATH"]) is None:
        assert (project / ".uv" / "bin" / "uv").is_file(), "make setup installs uv when it is missing"
    venv_python = project / ".venv" / "bin" / "python"
    reported = subprocess.run([venv_python, "--version"], capture_output=True, text=True).stdout
    assert reported.startswith(f"Python {version}."), reported
    # The DVC remote's plugin (its extra, DVC_EXTRA in the Makefile) is installed too.
    remote = SUPPORTED[name].get("dvc_remote", "none")
    plugin = {"s3": "dvc-s3", "gcs": "dvc-gs", "azure": "dvc-azure", "ssh": "dvc-ssh"}.get(remote)
    if plugin:
        subprocess.run([venv_python, "-c", f"import {plugin.replace('-', '_')}"], check=True)
    # make lock on a fresh bake: the shipped lock already fits, uv rewrites nothing.
    lock = (project / "uv.lock").read_bytes()
    make(project, version, "lock")
    assert (project / "uv.lock").read_bytes() == lock
    repro = make(project, version, "repro")
    for stage in ("prepare", "train", "evaluate"):
        assert f"Running stage '{stage}'" in repro.stdout
    assert json.loads((project / "metrics.json").read_text())
    tests = make(project, version, "test")
    assert re.search(r"\b\d+ passed\b", tests.stdout) and " failed" not in tests.stdout, tests.stdout
