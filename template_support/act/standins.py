"""The stand-in actions: node20 actions whose steps run ``runtime.py`` with this interpreter, one
per remote action a workflow uses (act's ``--local-repository``), and a recording kubectl."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from template_support.act.runtime import KINDS
from template_support.project import KUBECTL

BIN = Path(sys.executable).parent
ACT = shutil.which("act", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}") or "act"
PLATFORM = "ubuntu-latest=-self-hosted"

# Actions act handles itself (checkout of the repository under test copies the working tree).
HANDLED_BY_ACT = ("actions/checkout",)
KIND_BY_REPO = {
    "actions/setup-python": "setup-python",
    # uv itself is on the PATH the setup-python stand-in gives (this test venv's folder), and the
    # workflows' `uv sync --locked` runs for real: recording what setup-uv was asked is enough.
    "astral-sh/setup-uv": "record",
    "actions/cache": "cache",
    "actions/cache/restore": "cache-restore",
    "actions/cache/save": "cache-save",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "marocchino/sticky-pull-request-comment": "sticky-comment",
    "peter-evans/create-pull-request": "create-pull-request",
}
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*['\"]?([^'\"\s#]+)", re.MULTILINE)

# The stand-ins' runtime: a real module, run by each stand-in's node shim with this interpreter.
RUNTIME = Path(__file__).with_name("runtime.py")

SHIM = """const {{ execFileSync }} = require('child_process');
try {{
  execFileSync({python}, [{runtime}, {kind}, {phase}, {name}, {state}, {extra}], {{ stdio: 'inherit' }});
}} catch (error) {{
  process.exitCode = error.status || 1;
}}
"""


@dataclass(frozen=True)
class StandIn:
    """A stand-in action: ``repo`` (owner/name), ``ref`` and the folder given to ``--local-repository``."""

    repo: str
    ref: str
    path: Path
    kind: str
    outputs: tuple[tuple[str, str], ...] = ()
    exit_code: int = 0

    @property
    def local_repository(self) -> str:
        return f"{self.repo}@{self.ref}={self.path}"


def split_uses(name: str) -> tuple[str, str, str]:
    """``owner/repo/sub/path@ref`` -> (owner/repo, sub/path, ref)."""
    spec, _, ref = name.partition("@")
    parts = spec.split("/")
    return "/".join(parts[:2]), "/".join(parts[2:]), ref


def _write_action(folder: Path, kind: str, name: str, state: Path, extra: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    runtime = RUNTIME
    post = KINDS[kind].post is not None
    action = {"name": f"stand-in for {name} ({kind})", "runs": {"using": "node20", "main": "main.js"}}
    if post:
        action["runs"].update({"post": "post.js", "post-if": "success()"})
    (folder / "action.yml").write_text(yaml.safe_dump(action, sort_keys=False))
    for phase in ("main", "post") if post else ("main",):
        args = [sys.executable, str(runtime), kind, phase, name, str(state), json.dumps(extra)]
        js = SHIM.format(
            python=json.dumps(args[0]),
            runtime=json.dumps(args[1]),
            kind=json.dumps(kind),
            phase=json.dumps(phase),
            name=json.dumps(name),
            state=json.dumps(args[5]),
            extra=json.dumps(args[6]),
        )
        (folder / f"{phase}.js").write_text(js)


def make_stand_in(
    name: str,
    kind: str = "record",
    root: Path | None = None,
    outputs: dict[str, str] | None = None,
    exit_code: int = 0,
    state_dir: Path | None = None,
) -> StandIn:
    """Build a stand-in for ``owner/repo[/sub]@ref`` under ``root`` (a new temp folder by default).

    For an ``actions/cache`` stand-in the ``restore`` and ``save`` sub-actions are built too.
    ``state_dir`` is where the stand-in records calls and keeps its cache/comments/artifacts;
    ``run_act`` passes its own, so leave it ``None`` when handing the stand-in to ``run_act``
    (it is then rebuilt in place for that run's state folder).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown stand-in kind {kind!r}; choose one of {sorted(KINDS)}")
    repo, sub, ref = split_uses(name)
    if not ref:
        raise ValueError(f"{name!r}: give the ref the workflow pins, as owner/repo@<sha>")
    root = Path(root) if root else Path(tempfile.mkdtemp(prefix="stand-in-"))
    folder = root / f"{repo.replace('/', '+')}@{ref}"
    state = Path(state_dir) if state_dir else root / "state"
    extra = {"outputs": outputs or {}, "exit_code": exit_code}
    _write_action(folder / sub if sub else folder, kind, f"{repo}/{sub}" if sub else repo, state, extra)
    if repo == "actions/cache" and kind == "cache" and not sub:
        _write_action(folder / "restore", "cache-restore", f"{repo}/restore", state, extra)
        _write_action(folder / "save", "cache-save", f"{repo}/save", state, extra)
    return StandIn(repo, ref, folder, kind, tuple(sorted((outputs or {}).items())), exit_code)


def workflow_actions(project: Path) -> list[str]:
    """Every remote ``uses:`` (``owner/repo[/path]@ref``) in the workflows and local actions."""
    found: set[str] = set()
    github = project / ".github"
    files = [*github.glob("workflows/*.y*ml"), *github.glob("actions/**/action.y*ml")]
    for path in files:
        for uses in USES.findall(path.read_text()):
            if uses.startswith(("./", "docker://")):
                continue
            found.add(uses)
    return sorted(found)


def kind_for(uses: str) -> str:
    repo, sub, _ = split_uses(uses)
    return KIND_BY_REPO.get(f"{repo}/{sub}" if sub else repo, KIND_BY_REPO.get(repo, "record"))


FAKE_KUBECTL = """#!/usr/bin/env bash
# Stand-in kubectl: logs every call; `kustomize` is real; no API server is contacted.
set -euo pipefail
state={state}
echo "$*" >> "$state/kubectl.log"
args=("$@")
if [ "${{args[0]}}" = "-n" ]; then args=("${{args[@]:2}}"); fi
last="${{args[${{#args[@]}}-1]}}"
case "${{args[0]}}" in
  kustomize) exec {kubectl} "$@" ;;
  diff) echo "-  image: old"; echo "+  image: new"; exit 1 ;;
  explain)
    # `kubectl explain KIND --api-version=V` fails for a kind the API server does not serve
    # (kubectl reference, explain). This cluster serves every kind, the Prometheus Operator's
    # too, unless state/no-monitoring-crds exists.
    if [ -f "$state/no-monitoring-crds" ] && [[ "$*" == *monitoring.coreos.com* ]]; then
      echo "error: couldn't find resource for \"${{args[2]#--api-version=}}, Kind=${{args[1]}}\"" >&2
      exit 1
    fi ;;
  apply)
    if [ -f "$state/apply-fails" ]; then
      rm "$state/apply-fails"
      echo "Error from server (Forbidden): deployments.apps \"model-server\" is forbidden" >&2
      exit 1
    fi
    n=$(ls "$state" | grep -c '^applied-' || true)
    cp "$last" "$state/applied-$((n + 1)).yaml"
    echo "deployment.apps/model-server serverside-applied" ;;
  rollout)
    if [ "${{args[1]}}" = status ] && [ -f "$state/rollout-fails" ]; then
      rm "$state/rollout-fails"
      echo "error: deployment \\"model-server\\" exceeded its progress deadline" >&2
      exit 1
    fi
    echo "deployment \\"model-server\\" ${{args[1]}} ok" ;;
  *) echo "unexpected kubectl call: $*" >&2; exit 3 ;;
esac
"""


def kubectl_stand_in(state: Path) -> Path:
    """A stand-in for azure/setup-kubectl that puts a recording ``kubectl`` on PATH (there is no
    API server here): every call is logged to ``state/kubectl.log``; ``kustomize`` runs the real
    kubectl; ``diff`` answers a two-line diff (exit 1, as kubectl does when there are changes);
    ``explain`` knows every kind, except the Prometheus Operator's when ``state/no-monitoring-crds``
    exists;
    ``apply ... -f FILE`` keeps FILE as ``state/applied-<n>.yaml`` (fails once, as an API server
    refusing it would, when ``state/apply-fails`` exists); ``rollout status`` fails once
    when ``state/rollout-fails`` exists (and removes it), other ``rollout`` calls succeed."""
    folder = state / "own" / "setup-kubectl"
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    shim = folder / "bin" / "kubectl"
    shim.write_text(FAKE_KUBECTL.format(state=state, kubectl=KUBECTL))
    shim.chmod(0o755)
    (folder / "action.yml").write_text(yaml.safe_dump({
        "name": "stand-in for azure/setup-kubectl",
        "inputs": {"version": {"required": False}},
        "runs": {"using": "composite", "steps": [
            {"run": f'echo "{folder / "bin"}" >> "$GITHUB_PATH"', "shell": "bash"},
        ]},
    }))  # fmt: skip
    return folder
