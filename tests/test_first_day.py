"""A newcomer's first commands in a generated project, as its README and docs give them.

The drift walk-through of docs/drift.md is run line by line (the venv paths swapped for this test
session's interpreter): it must end where it started, and no third-party warning may be printed
on the way (Evidently's invalid escape sequences are compiled afresh: an empty bytecode cache).
The git hooks are checked to keep `git push` quick: lint before a commit, the quick tier before a
push, the full suite in CI.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import bake, init_repo, run
from template_support.pythons import find_python


def readme_block_after(readme: str, heading: str) -> list[str]:
    """The lines of the first ```bash block after a line starting with `heading`."""
    after = readme[readme.index(heading) :]
    block = after[after.index("```bash\n") + len("```bash\n") :]
    return [line for line in block[: block.index("```")].splitlines() if line.strip()]


@pytest.mark.slow
def test_readme_drift_walkthrough_returns_to_the_committed_state(tmp_path):
    project = bake(tmp_path)
    init_repo(project)
    python = shlex.quote(sys.executable)
    lines = readme_block_after(
        (project / "docs/drift.md").read_text(), "Try it offline, with the sample data"
    )
    pycache = tmp_path / "fresh-bytecode"  # evidently compiled anew: its SyntaxWarnings would show
    outputs = []
    for line in lines:
        command = line.split("  #")[0].strip()
        command = command.replace(".venv/bin/python", python).replace(".venv/bin/dvc", f"{python} -m dvc")
        result = run(command, cwd=project, check=False, PYTHONPYCACHEPREFIX=str(pycache))
        outputs.append(result.stdout + result.stderr)
        drift_expected = "DRIFT" in line
        assert (result.returncode != 0) is drift_expected, f"{command}\n{outputs[-1]}"
    assert not re.search(r"\w+Warning: ", "".join(outputs)), "".join(outputs)
    # Back where the walk-through started: the committed data, model and metrics.
    assert run(["git", "status", "--porcelain"], cwd=project).stdout == ""
    status = run([sys.executable, "-m", "dvc", "status"], cwd=project).stdout
    assert "up to date" in status, status


def test_hooks_lint_before_commit_and_quick_tier_before_push(tmp_path):
    project = bake(tmp_path)
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    by_stage: dict[str, list[str]] = {}
    for hook in hooks.values():
        # A hook without `stages` runs at every installed hook type (pre-commit's documented default).
        for stage in hook.get("stages", config.get("default_stages", config["default_install_hook_types"])):
            by_stage.setdefault(stage, []).append(hook["entry"])
    assert "make lint" in by_stage["pre-commit"]
    assert by_stage["pre-push"] == ["make test-quick"], "the full suite runs in CI, not in git push"
    # The quick tier: the tests not marked slow; what is slow is marked in the project's tests.
    makefile = (project / "Makefile").read_text()
    recipe = re.search(r"^test-quick:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe and '-m "not slow"' in recipe[1], makefile
    assert '"slow:' in (project / "pyproject.toml").read_text()  # the marker is declared
    ci = (project / ".github/workflows/ci.yml").read_text()
    assert "make test\n" in ci  # CI runs everything


def test_make_drift_silences_evidentlys_invalid_escape_warnings(tmp_path):
    """Evidently 0.7 ships string literals such as "\\d": Python 3.12+ prints a SyntaxWarning for
    each when it first compiles the module. `make drift` filters exactly those (not other warnings)."""
    python = find_python("3.12")
    if not Path(python).is_file():
        pytest.fail("python3.12 not found (pyenv, or actions/setup-python)")
    project = bake(tmp_path)
    recipe = re.search(r"^drift:.*\n((?:\t.*\n)+)", (project / "Makefile").read_text(), re.MULTILINE)[1]
    warning_filter = re.search(r'-W "([^"]+)"', recipe)[1]
    (tmp_path / "escapes.py").write_text('PATTERN = "\\d+"\n')  # an invalid escape sequence
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1"}
    loud = subprocess.run(
        [python, "-c", "import escapes"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert "SyntaxWarning: invalid escape sequence" in loud.stderr
    quiet = subprocess.run(
        [python, "-W", warning_filter, "-c", "import escapes"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert quiet.returncode == 0 and quiet.stderr == ""
