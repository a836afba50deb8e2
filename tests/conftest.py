from __future__ import annotations

from pathlib import Path

import pytest

from helpers import bake_and_train


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, baked once per session, with git + DVC and one trained commit on main.

    Session-scoped and shared: tests that change files must work on ``trained_copy`` of it.
    """
    return bake_and_train(tmp_path_factory.mktemp("trained"))
