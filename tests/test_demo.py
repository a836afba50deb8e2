"""The README's first quickstart command, `make demo`, runs as a newcomer runs it: from the
template's root, into a folder of its own. It must end with exit 0, one answered prediction whose
model_version names the demo's first commit, and the closing summary."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from helpers import TEMPLATE


@pytest.mark.slow
def test_make_demo_runs_the_default_project_end_to_end(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    demo = tmp_path / "demo"
    result = subprocess.run(
        ["make", "--no-print-directory", "demo", f"DEMO_DIR={demo}"],
        cwd=TEMPLATE, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    project = demo / "mlops-project"
    first_commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    answered = re.search(r"^POST /predict \(3 rows\) -> 200: ", output, re.MULTILINE)
    assert answered, output[-4000:]
    version = re.search(r"^model_version: (\S+)$", output, re.MULTILINE)
    assert version and version.group(1).startswith(first_commit), (first_commit, output[-3000:])
    assert "What you just saw" in output and "Terminated" not in output
    # The project's quick tests ran and passed, and the drift check wrote its report.
    assert re.search(r"\b\d+ passed\b", output) and not re.search(r"\b\d+ failed\b", output)
    assert (project / "reports" / "drift" / "report.html").is_file()
