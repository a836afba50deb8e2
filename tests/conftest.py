from __future__ import annotations

from pathlib import Path

import pytest

from helpers import bake, commit, init_repo, run


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, baked once per session, with git + DVC and one trained commit on main.

    Session-scoped and shared: tests that change files must work on ``trained_copy`` of it.
    """
    project = bake(tmp_path_factory.mktemp("trained"))
    init_repo(project)
    run(["make", "repro"], cwd=project)
    commit(project, "Train the first model")
    return project
