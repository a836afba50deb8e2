"""The names the tests import as ``helpers``, defined once in template_support.project (the
benchmarks use it too)."""

from template_support.project import (
    BIN,
    KUBECTL,
    KUSTOMIZE,
    TEMPLATE,
    TOOLS_PATH,
    bake,
    bake_and_train,
    commit,
    git,
    init_repo,
    project_env,
    python,
    require_kustomize,
    run,
    set_image,
    trained_copy,
)

__all__ = [
    "BIN",
    "KUBECTL",
    "KUSTOMIZE",
    "TEMPLATE",
    "TOOLS_PATH",
    "bake",
    "bake_and_train",
    "commit",
    "git",
    "init_repo",
    "project_env",
    "python",
    "require_kustomize",
    "run",
    "set_image",
    "trained_copy",
]
