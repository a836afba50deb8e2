"""Event payloads (``pull_request``, ``push``) with real SHAs from a project's git state."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from template_support.project import git, run


def repository(project: Path) -> str:
    """owner/name from the ``origin`` remote (the harness adds one from pyproject/defaults if missing)."""
    url = run(["git", "remote", "get-url", "origin"], cwd=project, check=False)
    if url.returncode != 0:
        return ""
    match = re.search(r"[:/]([^/:]+/[^/]+?)(?:\.git)?$", url.stdout.strip())
    return match.group(1) if match else ""


def ensure_origin(project: Path, full_name: str | None = None) -> str:
    """Give the repo an ``origin`` URL (never contacted) so act knows github.repository."""
    current = repository(project)
    if current:
        return current
    full_name = full_name or f"test-owner/{project.name}"
    git(project, "remote", "add", "origin", f"https://github.com/{full_name}.git")
    return full_name


def pull_request_event(
    project: Path,
    base: str = "main",
    head: str | None = None,
    number: int = 1,
    fork: bool = False,
    action: str = "synchronize",
    title: str = "Change the model",
) -> dict[str, Any]:
    """A ``pull_request`` payload from the project's git state (head defaults to HEAD's branch)."""
    repo = ensure_origin(project)
    head = head or git(project, "rev-parse", "--abbrev-ref", "HEAD")
    owner = repo.split("/")[0]
    head_repo = f"contributor/{repo.split('/')[1]}" if fork else repo
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "title": title,
            "head": {
                "ref": head,
                "sha": git(project, "rev-parse", head),
                "repo": {"full_name": head_repo, "fork": fork},
            },
            "base": {"ref": base, "sha": git(project, "rev-parse", base), "repo": {"full_name": repo}},
            "user": {"login": "contributor" if fork else owner},
        },
        "repository": {"full_name": repo, "name": repo.split("/")[1], "owner": {"login": owner}},
        "sender": {"login": "contributor" if fork else owner},
    }


def push_event(project: Path, ref: str = "refs/heads/main", before: str | None = None) -> dict[str, Any]:
    """A ``push`` payload: ``after`` is HEAD, ``before`` the commit the branch pointed at (default
    HEAD's parent, as for a one-commit push)."""
    repo = ensure_origin(project)
    if before is None:
        parent = run(["git", "rev-parse", "-q", "--verify", "HEAD~1^{commit}"], cwd=project, check=False)
        before = parent.stdout.strip() or "0" * 40
    return {
        "ref": ref,
        "before": before,
        "after": git(project, "rev-parse", "HEAD"),
        "repository": {"full_name": repo, "name": repo.split("/")[1], "owner": {"login": repo.split("/")[0]}},
    }
