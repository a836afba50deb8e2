"""Regenerate the uv locks the template ships, and the test venv's constraints exported from them.

    python scripts/lock-template.py            # after a change of the generated pyproject.toml
    python scripts/lock-template.py --upgrade  # newest versions that the ranges allow

A generated project's uv.lock records its name, its requires-python (the python_version option)
and its dependencies. Every DVC remote plugin is an extra of every project, so the dependencies
are the same whatever the options; the name is a placeholder that the post-generation hook
replaces. What is left is one lock per python_version, resolved here with uv for every platform:
{{cookiecutter.project_slug}}/uv-locks/py3.X.lock. The lowest version is locked first and seeds
the others, so the locks agree wherever the Pythons allow. Each existing lock is kept as uv's
starting point (nothing moves without --upgrade).

Then constraints-project.txt (pins exported from the lowest version's lock, for every Python)
constrains the template's own test venv to the versions a generated project installs.
Needs network access to the package index (PyPI), cookiecutter and uv.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hooks"))
sys.path.insert(0, str(ROOT))

from post_gen_project import LOCK_PLACEHOLDER, LOCKS_DIR  # noqa: E402
from template_support.pythons import find_python  # noqa: E402

LOCKS = ROOT / "{{cookiecutter.project_slug}}" / LOCKS_DIR
CONSTRAINTS = ROOT / "constraints-project.txt"
VERSIONS = json.loads((ROOT / "cookiecutter.json").read_text())["python_version"]
CONSTRAINTS_HEADER = """\
# Pins of the generated project's dependencies, exported from the template's uv lock for
# python_version {version} (every supported Python and platform, by environment markers).
# Written by scripts/lock-template.py (make lock-template); do not edit by hand.
# requirements-dev.txt installs the test venv with these as constraints.
"""


def uv(*args: str, cwd: Path) -> str:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": os.environ.get("UV_PYTHON_DOWNLOADS", "never")}
    result = subprocess.run(
        [sys.executable, "-m", "uv", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"uv {' '.join(args)} failed in {cwd}:\n{result.stderr}")
    return result.stdout


def bake(output: Path, version: str) -> Path:
    from cookiecutter.main import cookiecutter

    # Without hooks: the bake keeps uv-locks/ and has no uv.lock yet (a new python_version has none).
    context = {"project_slug": LOCK_PLACEHOLDER, "python_version": version}
    path = cookiecutter(
        str(ROOT), no_input=True, extra_context=context, output_dir=str(output), accept_hooks=False
    )
    return Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--upgrade", action="store_true", help="move every package to its newest allowed version"
    )
    args = parser.parse_args()
    LOCKS.mkdir(exist_ok=True)
    seed: Path | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for version in VERSIONS:
            project = bake(Path(tmp) / version, version)
            shipped = LOCKS / f"py{version}.lock"
            if seed is not None and (args.upgrade or not shipped.exists()):
                shutil.copy(seed, project / "uv.lock")  # agree with the lowest version's pins
            elif shipped.exists():
                shutil.copy(shipped, project / "uv.lock")  # uv's starting point: keep its pins
            upgrade = ["--upgrade"] if args.upgrade and seed is None else []
            uv("lock", "--python", find_python(version), *upgrade, cwd=project)
            lock = (project / "uv.lock").read_text()
            shipped.write_text(lock)
            print(f"{shipped.relative_to(ROOT)}: {lock.count('[[package]]')} packages")
            if seed is None:
                seed = shipped
                pins = uv(
                    "export", "--frozen", "--all-extras", "--no-emit-project", "--no-hashes",
                    "--no-header", "--no-annotate", cwd=project,
                )  # fmt: skip
                CONSTRAINTS.write_text(CONSTRAINTS_HEADER.format(version=version) + pins)
                print(f"{CONSTRAINTS.relative_to(ROOT)}: {len(pins.splitlines())} pins")


if __name__ == "__main__":
    main()
