"""Remove what the chosen options turn off. Standard library only, no network.

Each step is a small function of (project root, option value), unit-tested on its own.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

RAW_CONTEXT = r"""{{ cookiecutter | jsonify }}"""

LICENSES_DIR = "LICENSES"
REMOTE_ACTION = Path(".github/actions/dvc-remote")


def select_license(root: Path, license_id: str) -> None:
    """Keep the chosen licence text as LICENSE and drop the others (all of them for 'none')."""
    source = root / LICENSES_DIR / f"{license_id}.txt"
    if license_id != "none":
        source.replace(root / "LICENSE")
    shutil.rmtree(root / LICENSES_DIR, ignore_errors=True)


def remove_dvc_remote_action(root: Path, remote: str) -> None:
    """Without a DVC remote there are no cloud credentials to obtain in workflows."""
    if remote == "none":
        shutil.rmtree(root / REMOTE_ACTION, ignore_errors=True)


DEPLOY_WORKFLOW = Path(".github/workflows/deploy.yml")
# The deploy workflow's records in GitHub's Deployments API: push mode only.
DEPLOYMENTS_SCRIPT = Path(".github/deployments.sh")
ARGOCD_DIR = Path("k8s/argocd")


def select_deploy_mode(root: Path, mode: str) -> None:
    """One way for the cluster to follow Git: the deploy workflow pushes, or Argo CD pulls.

    Both at once would apply every merge twice and fight over the objects, so each mode removes
    the other's files. The promotion pull requests are the same in both modes.
    """
    if mode == "argocd":
        (root / DEPLOY_WORKFLOW).unlink(missing_ok=True)
        (root / DEPLOYMENTS_SCRIPT).unlink(missing_ok=True)
    else:
        shutil.rmtree(root / ARGOCD_DIR, ignore_errors=True)


MONITORING = (
    Path("monitoring"),
    Path("docs/runbooks"),
    Path("k8s/components/monitoring"),
    Path("k8s/overlays/staging/monitoring"),
    Path("k8s/overlays/production/monitoring"),
)


def select_monitoring(root: Path, monitoring: str) -> None:
    """monitoring=none: no Prometheus Operator objects, rules, dashboards or runbooks."""
    if monitoring != "none":
        return
    for relative in MONITORING:
        path = root / relative
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for folder in (root / "docs", root / "k8s/components"):  # left empty
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


LOCKS_DIR = "uv-locks"
# The project name the shipped locks were resolved under (scripts/lock-template.py); the lock
# records nothing else that a bake varies (every DVC remote plugin is an extra of every project).
LOCK_PLACEHOLDER = "lock-placeholder-project"


def select_lock(root: Path, python_version: str, slug: str) -> None:
    """Write uv.lock from the lock resolved for this requires-python, under this project's name.

    uv keeps the packages of a lock sorted by name: the project's own entry moves to its place.
    """
    blocks = (root / LOCKS_DIR / f"py{python_version}.lock").read_text().split("\n[[package]]\n")
    head, packages = blocks[0], blocks[1:]
    placeholder = f'name = "{LOCK_PLACEHOLDER}"\n'
    (own,) = [block for block in packages if block.startswith(placeholder)]
    packages.remove(own)
    own = f'name = "{slug}"\n' + own[len(placeholder) :]
    names = [block.split('"', 2)[1] for block in packages]
    packages.insert(sum(name < slug for name in names), own)
    (root / "uv.lock").write_text("\n[[package]]\n".join([head, *packages]))
    shutil.rmtree(root / LOCKS_DIR)


def remove_empty_files(root: Path) -> None:
    """Drop files that rendered to nothing (a whole file switched off by an option)."""
    for path in root.rglob("*"):
        if (
            path.is_file()
            and path.suffix in {".yml", ".yaml", ".md", ".py"}
            and path.name != "__init__.py"
            and not path.read_text().strip()
        ):
            path.unlink()


CACHE_DIRS = ("__pycache__", ".ruff_cache", ".pytest_cache", ".mypy_cache")


def remove_dev_caches(root: Path) -> None:
    """Drop tool caches that a template checkout may hold (they are never part of a project)."""
    for name in CACHE_DIRS:
        for path in list(root.rglob(name)):
            shutil.rmtree(path, ignore_errors=True)


def main(root: Path, context: dict[str, str]) -> None:
    remove_dev_caches(root)
    select_license(root, context["license"])
    remove_dvc_remote_action(root, context["dvc_remote"])
    select_deploy_mode(root, context["deploy"])
    select_monitoring(root, context["monitoring"])
    select_lock(root, context["python_version"], context["project_slug"])
    remove_empty_files(root)


if __name__ == "__main__":
    main(Path.cwd(), json.loads(RAW_CONTEXT))
    print(
        "Generated. Next: cd into the project, `make setup` then `make repro` (see README.md).",
        file=sys.stderr,
    )
