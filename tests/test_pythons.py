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

from combinations import BY_PYTHON, SUPPORTED
from helpers import BIN, bake
from template_support.pythons import find_python

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
    assert sorted(BY_PYTHON) == versions
    for version, name in BY_PYTHON.items():
        assert SUPPORTED[name].get("python_version", "3.11") == version


@pytest.mark.slow
@pytest.mark.parametrize("version", sorted(BY_PYTHON))
def test_setup_repro_and_tests_on_each_python(version, tmp_path):
    interpreter = find_python(version)
    if not Path(interpreter).is_file():
        pytest.fail(f"python{version} not found: install it (pyenv install {version}, or setup-python)")
    name = BY_PYTHON[version]
    project = bake(tmp_path, **SUPPORTED[name])
    make(project, version, "setup", f"UV_PYTHON={interpreter}")
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


@pytest.mark.slow
def test_setup_without_a_usable_python_prints_a_command_that_works(tmp_path):
    """The issue's machine: a 3.12 project, `python3` is 3.11, pyenv has 3.12 but no shim selects
    it, and uv may not download one. `make setup` fails, names a command; that command works."""
    pyenv = shutil.which("pyenv")
    if pyenv is None or not Path(find_python("3.12")).is_file():
        pytest.fail("needs pyenv with a 3.12 (see the machine's toolchain notes)")
    project = bake(tmp_path, **SUPPORTED[BY_PYTHON["3.12"]])
    env = own_env("3.12")
    # No pyenv shims: `python3` is the system's 3.11; `pyenv` itself is still on PATH.
    shims = [p for p in env["PATH"].split(os.pathsep) if p.endswith("/shims")]
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p not in shims)
    env["UV_PYTHON_INSTALL_DIR"] = str(tmp_path / "no-uv-pythons")  # none of uv's own installs
    system_python = subprocess.run(["python3", "--version"], env=env, capture_output=True, text=True)
    assert system_python.stdout.startswith("Python 3.11"), system_python

    failed = subprocess.run(
        ["make", "setup"], cwd=project, env=env, capture_output=True, text=True, timeout=900
    )
    assert failed.returncode != 0
    assert "Traceback" not in failed.stderr
    commands = re.findall(r"^Run: (.+)$", failed.stderr, re.MULTILINE)
    assert len(commands) == 1, failed.stderr
    assert commands[0].startswith("make setup UV_PYTHON=") and "/versions/3.12." in commands[0], commands

    done = subprocess.run(
        commands[0], shell=True, cwd=project, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    reported = subprocess.run(
        [project / ".venv/bin/python", "--version"], capture_output=True, text=True
    ).stdout
    assert reported.startswith("Python 3.12."), reported
    # uv's summary, not a line per package.
    assert re.search(r"Installed \d+ packages", done.stdout + done.stderr)
    assert not re.search(r"^ \+ ", done.stdout + done.stderr, re.MULTILINE)
