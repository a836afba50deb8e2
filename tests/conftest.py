from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import bake_and_train

# Python's bytecode cache on, as in a user's shell, for every process the tests start. Machines
# that set PYTHONDONTWRITEBYTECODE=1 (these test machines do) otherwise make each process in a
# venv that uv synced (uv writes no bytecode) compile scikit-learn, pandas and DVC from source
# again: 7.3 CPU-s per import of that stack instead of 2.5 (benchmarks/bench_journey.py), paid by
# every DVC stage, CLI call and workflow step of the generated projects the tests run.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, baked once per session, with git + DVC and one trained commit on main.

    Session-scoped and shared: tests that change files must work on ``trained_copy`` of it.
    """
    return bake_and_train(tmp_path_factory.mktemp("trained"))
