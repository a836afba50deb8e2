"""Every benchmark script imports: its imports point at modules that exist (template_support,
benchmarks.common, ...). A benchmark is run by hand, not by the suite, so without this a moved
module breaks `make bench` silently (bench_journey still imported the act harness from tests/
after the harness moved into template_support.act)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import TEMPLATE

BENCHMARKS = sorted(path.stem for path in (TEMPLATE / "benchmarks").glob("bench_*.py"))


def test_there_are_benchmarks():
    assert "bench_serve" in BENCHMARKS and "bench_journey" in BENCHMARKS


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_imports(name):
    # As `make bench` runs them: `python -m benchmarks.<name>` from the repository root.
    done = subprocess.run(
        [sys.executable, "-c", f"import benchmarks.{name}"],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
