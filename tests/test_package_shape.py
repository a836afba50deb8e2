"""The generated package reads like the code it is meant to be: thin glue a data scientist can
maintain. For every supported combination:

- formatted with the project's own ``ruff format`` (line length 100, from its pyproject.toml),
  the package is at most 2,800 lines. A scope alarm, not a target: never compress code to fit;
  if a clear change needs more, raise the number and say why in the changelog;
- no function is above radon's rank B (cyclomatic complexity at most 10), which also counts the
  branching inside expressions that ruff's C901 does not see;
- no lambda assigned to a name (``noqa: E731``): those are functions;
- ruff's SLF001 is on: no other library's private names;
- imports run one way: commands (``cli``) -> steps -> the base (``paths``, ``config``, ``io``,
  ``errors``), and no import cycle.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from radon.complexity import cc_rank, cc_visit

from combinations import SUPPORTED
from helpers import bake

# A scope alarm, not a target: never compress code to fit it. 2,800 was set before monitoring's
# server metrics (monitoring.py, about 130 lines) and the reproducible model writer (io.py's
# canonical_skops, about 50) landed; with them the package is about 2,870 lines formatted. The
# alarm moved to 3,000 with that reason. Issue 16 (the loop from production back to training)
# adds what no library does for us: the prediction log as an audit record (prediction_log.py,
# about 190 lines, and the request-id/access-log middleware access.py, about 75); reading
# prediction logs and labels from a folder or the DVC remote's storage (prediction_logs.py, 205),
# the join and the one Evidently run (quality.py, 440), its summary (quality_summary.py, 115), the
# demo traffic (traffic.py, 100), the quality and simulate-traffic commands and the quality params
# (about 180); labelled production rows read by the prepare stage, one row per prediction id,
# split by a hash of it (data.py, split.py, add-production-rows), and the retraining pull
# request's quality summary and new data version (compare.py), about 150. With the server's typed
# answers of the same days the package is 4,489 lines formatted (measured after the merge). Then
# the HTTP metrics moved from prometheus-fastapi-instrumentator's middleware (30-75 us per
# request) into the request middleware with prometheus-client (monitoring.HttpMetrics, about 5 us;
# about 40 lines with the /metrics route), and PREDICTION_LOG_FLUSH_BYTES became a setting: 4,531
# lines. A bucket's prediction-log uploads then moved from a thread to a worker process (the
# HTTP client's CPU held the GIL while requests waited; prediction_log.upload_process, about 40
# lines): 4,570 lines measured, hence 4,600. HttpMetrics then kept the series it looks up (1.4 us
# a request instead of 4.3; 9 lines).
MAX_LINES = 4_600
MAX_COMPLEXITY = 10  # radon rank B
LINE_LENGTH = 100
BASE = {"__init__", "errors", "paths", "config", "io"}
COMMANDS = {"cli", "__main__"}


def layer(module: str) -> int:
    """0 the base, 1 a step (any other module), 2 a command."""
    if module in BASE:
        return 0
    return 2 if module in COMMANDS else 1


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each combination's package, formatted with the project's ruff settings (in a copy)."""
    found = {}
    for name, answers in sorted(SUPPORTED.items()):
        project = bake(tmp_path_factory.mktemp(name), **answers)
        copy = tmp_path_factory.mktemp(f"{name}-formatted")
        shutil.copy(project / "pyproject.toml", copy / "pyproject.toml")
        shutil.copytree(project / "src", copy / "src")
        ruff = [sys.executable, "-m", "ruff", "format", "--no-cache", "-q", "src"]
        subprocess.run(ruff, cwd=copy, check=True)
        found[name] = next((copy / "src").iterdir())
    return found


def modules(package: Path) -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(package.glob("*.py"))}


def imports(module: str, source: str) -> set[str]:
    """The package's own modules that ``module`` imports (relative imports)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:  # from . import a, b
                found |= {alias.name for alias in node.names}
    return found - {module}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path of module names, or [] when there is none."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target] if target in path else [node, target]
            if target not in state:
                cycle = visit(target, [*path, target])
                if cycle:
                    return cycle
        state[node] = "done"
        return []

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return []


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_the_project_formats_at_100_columns_with_slf001(packages, name):
    pyproject = packages[name].parents[1] / "pyproject.toml"
    ruff = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["ruff"]
    assert ruff["line-length"] == LINE_LENGTH
    assert "SLF001" in ruff["lint"]["select"]


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_formatted_package_is_within_the_scope_alarm(packages, name):
    lines = {module: len(text.splitlines()) for module, text in modules(packages[name]).items()}
    assert {"drift", "serve", "compare", "cli", "paths"} <= set(lines), lines
    assert sum(lines.values()) <= MAX_LINES, (sum(lines.values()), lines)


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_no_function_above_rank_b(packages, name):
    too_complex = [
        f"{module}.py:{block.lineno} {block.fullname}: {cc_rank(block.complexity)} ({block.complexity})"
        for module, text in modules(packages[name]).items()
        for block in cc_visit(text)
        if block.complexity > MAX_COMPLEXITY
    ]
    assert not too_complex, "\n".join(too_complex)


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_no_lambda_stands_in_for_a_function(packages, name):
    named_lambdas = [
        f"{module}.py:{node.lineno}"
        for module, text in modules(packages[name]).items()
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Lambda)
    ]
    noqa = [module for module, text in modules(packages[name]).items() if "E731" in text]
    assert not named_lambdas and not noqa, (named_lambdas, noqa)


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_imports_run_one_way_without_cycles(packages, name):
    graph = {module: imports(module, text) for module, text in modules(packages[name]).items()}
    upward = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in sorted(targets)
        if layer(target) > layer(module)
    ]
    assert not upward, f"imports of a higher layer (commands > steps > base): {upward}"
    assert not find_cycle(graph), f"import cycle: {' -> '.join(find_cycle(graph))}"
