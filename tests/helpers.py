"""The names the tests import as ``helpers``, defined once in template_support.project (the
benchmarks use it too)."""

from template_support.project import (
    BIN,
    KUBECTL,
    TEMPLATE,
    bake,
    bake_and_train,
    commit,
    git,
    init_repo,
    project_env,
    python,
    run,
    trained_copy,
)

__all__ = [
    "BIN",
    "KUBECTL",
    "TEMPLATE",
    "bake",
    "bake_and_train",
    "commit",
    "git",
    "init_repo",
    "project_env",
    "python",
    "run",
    "trained_copy",
]
