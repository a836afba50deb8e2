"""Run a baked project's GitHub Actions workflows for real with ``act``, on this machine.

``act`` runs in self-hosted mode (``-P ubuntu-latest=-self-hosted``): every ``run:`` step is
executed as written by bash on the host, in a copy of the project's working tree (git history
included, gitignored files left out), exactly as a self-hosted runner would. ``actions/checkout``
of the repository itself is handled by act (it copies the tree). Only actions that need GitHub's
servers are replaced by local *stand-ins* (``--local-repository owner/name@<sha>=<dir>``): the
stand-in is a small node20 action whose main/post scripts run ``act_standin.py`` (beside this
file) with the test interpreter. Every stand-in records its call (inputs, phase, job) so a test can assert
on what the workflow would have sent.

Quick use::

    from act_harness import run_act, pull_request_event

    result = run_act(project, "pull_request", ".github/workflows/train.yml",
                     event_payload=pull_request_event(project, base="main"))
    assert result.ok, result.logs
    body = result.comments()[1]["model-report"]["body"]       # sticky comment of PR #1
    result.calls_to("actions/upload-artifact")               # list of recorded calls

API
---
``run_act(project, event, workflow, event_payload=None, stand_ins=None, env=None, secrets=None,
vars=None, job=None, state_dir=None, timeout=900, extra_args=()) -> ActResult``
    ``stand_ins``: ``None`` builds one for every remote action the workflows (and the project's
    local composite actions) use, choosing the kind by repository (see ``KIND_BY_REPO``; anything
    unknown is a ``record`` stand-in). Pass a dict ``{"owner/name[/path]@ref": StandIn or kind
    or path}`` to override some of them (the rest are still built). ``env`` is passed with
    ``--env`` to every step; by default the steps get ``PYTHONPATH=src`` (the project's package
    from the workspace, deps from the test venv) and ``DVC_NO_ANALYTICS``. ``state_dir`` (default
    ``<project>/../act-state-<name>``) keeps what must survive between runs of the same project
    like on GitHub: the Actions cache, PR comments, artifacts, recorded calls.
    ``extra_args`` go to act as they are, e.g. ``("--matrix", "python-version:3.12")`` to run one
    matrix entry. Runs sharing a ``state_dir`` must not run at the same time (mark such tests
    with one ``xdist_group``); act's work folders live under ``state_dir/act-cache``.
``ActResult``: ``returncode``, ``ok`` (every job succeeded), ``logs`` (readable text),
    ``events`` (act's JSON log records), ``jobs`` ({job id: "success"/"failure"/...}),
    ``steps`` (list of {"job", "step", "stage", "result"}), ``summaries`` ({job id: Markdown of
    $GITHUB_STEP_SUMMARY}), ``told`` (logs and summaries), ``calls`` (the stand-in calls of this
    run), ``calls_to(prefix)``,
    ``comments()`` (the simulated PR comments: {pr number: {header: {"body", "creates",
    "updates", "id"}}}), ``pulls()`` (the simulated pull requests: {branch: {"number", "title",
    "body", "base", "token", "changed_files", "files", "creates", "updates", "state"}}),
    ``artifacts_dir`` (uploads of this run: ``<name>/<files>``),
    ``step_result(name_part)``.
``make_stand_in(name, kind="record", root=..., outputs=None, exit_code=0) -> StandIn``
    ``name`` is ``owner/repo@ref`` (a sub-path action such as ``actions/cache/restore@sha`` gets
    its folder under the repo's stand-in). Kinds: ``record`` (record inputs, set ``outputs``,
    exit with ``exit_code``), ``setup-python`` (no install: puts this test interpreter's folder
    on PATH and reports its version), ``cache`` / ``cache-restore`` / ``cache-save`` (a real
    cache kept in ``state_dir/cache``, exact key then restore-keys prefixes, newest first;
    the plain ``cache`` restores in main and saves in post like actions/cache),
    ``upload-artifact`` (copies the files to ``state_dir/artifacts/<run>/<name>``, relative to
    the search paths' least common ancestor like GitHub; honours ``if-no-files-found``),
    ``download-artifact`` (this run's artifacts by ``name`` or ``pattern`` into ``path``,
    ``merge-multiple``), ``create-pull-request`` (peter-evans/create-pull-request: stages
    ``add-paths``; ONE pull request per branch in ``state_dir/pulls.json``, created then
    updated, with its title, body, base, token, changed files and their contents; outputs
    ``pull-request-number`` and ``-operation``), ``sticky-comment``
    (marocchino/sticky-pull-request-comment: one comment per (PR, header) in
    ``state_dir/comments.json``; counts creates and updates; supports ``message``/``path``/
    ``append``/``recreate``/``delete``/``only_create``/``only_update``).
``pull_request_event(project, base="main", head=None, number=1, fork=False, action="synchronize")``,
``push_event(project, ref="refs/heads/main", before=None)``: event payloads with real SHAs from the repo.
``kubectl_stand_in(state)``: a recording kubectl (no API server) as azure/setup-kubectl.
``GitHubDeployments(state_dir)``: ``with`` it, a local server answering as GitHub's Deployments
    API (create, list, statuses; docs cited in act_standin.py); pass ``env={"GITHUB_API_URL":
    api.url}``; ``deployments(env)`` reads what was recorded, ``record(...)`` seeds an apply.
``ConcurrencyGroup()``: GitHub's documented rule for one concurrency group with
    ``cancel-in-progress: false`` (one running, one pending, a newer pending run cancels it), to
    decide which of several quick runs a test executes.
``download-artifact`` with a ``pattern`` that matches nothing downloads nothing and succeeds, as
    GitHub documents; with a ``name`` that matches nothing it fails.
``workflow_actions(project)``: every ``owner/repo[/path]@ref`` the project's workflows use.

Inputs are recorded as the ``INPUT_*`` variables GitHub and act pass to actions: names are
lower-cased (``GITHUB_TOKEN`` is recorded as ``github_token``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from act_standin import KINDS

from helpers import KUBECTL

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
RUNTIME = Path(__file__).with_name("act_standin.py")

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


def _split(name: str) -> tuple[str, str, str]:
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
    repo, sub, ref = _split(name)
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


def _kind_for(uses: str) -> str:
    repo, sub, _ = _split(uses)
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


class GitHubDeployments:
    """The stand-in for GitHub's Deployments API (``act_standin.DeploymentsApi``, which cites the
    docs it follows), served on loopback while the ``with`` block runs. Give a run
    ``env={"GITHUB_API_URL": api.url}`` and its steps reach it as they would reach GitHub.
    ``STATE/deployments.json`` keeps the deployments between runs, like GitHub does."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = self.state_dir / "deployments.json"
        self.server: Any = None

    def __enter__(self) -> GitHubDeployments:
        from act_standin import serve_deployments_api

        self.server = serve_deployments_api(self.store)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def deployments(self, environment: str | None = None) -> list[dict[str, Any]]:
        """Every deployment, oldest first, each with its ``statuses`` (oldest first)."""
        stored = json.loads(self.store.read_text())["deployments"] if self.store.exists() else []
        return [d for d in stored if environment in (None, d["environment"])]

    def record(self, repo: str, environment: str, sha: str, image: str, *states: str) -> int:
        """Seed an apply, as deploy.yml records one (through the API, as a client would)."""
        from act_standin import DeploymentsApi

        api = DeploymentsApi(self.store)
        body = {"ref": sha, "environment": environment, "task": "deploy:apply", "payload": {"image": image}}
        code, deployment = api.handle("POST", f"/repos/{repo}/deployments", body)
        assert code == 201, deployment
        for state in states:
            code, status = api.handle("POST", f"/repos/{repo}/deployments/{deployment['id']}/statuses",
                                      {"state": state})  # fmt: skip
            assert code == 201, status
        return deployment["id"]


class ConcurrencyGroup:
    """GitHub's rule for one concurrency group with ``cancel-in-progress: false``: at most one run
    in progress and one pending; a run that arrives while one is pending cancels the pending one
    (https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/control-the-concurrency-of-workflows-and-jobs).
    ``arrive(run)`` returns the run it cancelled (or None); ``finish()`` ends the running one and
    returns the pending run that starts (or None); ``started`` lists the runs that ever started."""

    def __init__(self) -> None:
        self.running: Any = None
        self.pending: Any = None
        self.started: list[Any] = []
        self.cancelled: list[Any] = []

    def arrive(self, run: Any) -> Any:
        if self.running is None:
            self.running = run
            self.started.append(run)
            return None
        cancelled, self.pending = self.pending, run
        if cancelled is not None:
            self.cancelled.append(cancelled)
        return cancelled

    def finish(self) -> Any:
        self.running, self.pending = self.pending, None
        if self.running is not None:
            self.started.append(self.running)
        return self.running


# --------------------------------------------------------------------------- events
def _git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()


def repository(project: Path) -> str:
    """owner/name from the ``origin`` remote (the harness adds one from pyproject/defaults if missing)."""
    try:
        url = _git(project, "remote", "get-url", "origin")
    except subprocess.CalledProcessError:
        return ""
    match = re.search(r"[:/]([^/:]+/[^/]+?)(?:\.git)?$", url)
    return match.group(1) if match else ""


def ensure_origin(project: Path, full_name: str | None = None) -> str:
    """Give the repo an ``origin`` URL (never contacted) so act knows github.repository."""
    current = repository(project)
    if current:
        return current
    full_name = full_name or f"test-owner/{project.name}"
    _git(project, "remote", "add", "origin", f"https://github.com/{full_name}.git")
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
    head = head or _git(project, "rev-parse", "--abbrev-ref", "HEAD")
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
                "sha": _git(project, "rev-parse", head),
                "repo": {"full_name": head_repo, "fork": fork},
            },
            "base": {"ref": base, "sha": _git(project, "rev-parse", base), "repo": {"full_name": repo}},
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
        parent = subprocess.run(["git", "rev-parse", "-q", "--verify", "HEAD~1^{commit}"], cwd=project,
                                capture_output=True, text=True)  # fmt: skip
        before = parent.stdout.strip() or "0" * 40
    return {
        "ref": ref,
        "before": before,
        "after": _git(project, "rev-parse", "HEAD"),
        "repository": {"full_name": repo, "name": repo.split("/")[1], "owner": {"login": repo.split("/")[0]}},
    }


# --------------------------------------------------------------------------- running
@dataclass(repr=False)
class ActResult:
    returncode: int
    logs: str
    events: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    state_dir: Path
    run_id: str
    command: list[str] = field(default_factory=list)

    @property
    def jobs(self) -> dict[str, str]:
        return {e.get("jobID", e.get("job")): e["jobResult"] for e in self.events if "jobResult" in e}

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and bool(self.jobs) and all(r == "success" for r in self.jobs.values())

    @property
    def steps(self) -> list[dict[str, str]]:
        return [
            {
                "job": e.get("jobID", ""),
                "step": e.get("step", ""),
                "stage": e.get("stage", ""),
                "result": e["stepResult"],
            }
            for e in self.events
            if "stepResult" in e
        ]

    def step_result(self, name_part: str, stage: str = "Main") -> str | None:
        """Result of the first step whose name contains ``name_part`` (None: not run / skipped)."""
        for step in self.steps:
            if name_part in step["step"] and step["stage"] == stage:
                return step["result"]
        return None

    @property
    def summaries(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for e in self.events:
            if e.get("command") == "summary":
                job = e.get("jobID", "")
                out[job] = out.get(job, "") + e.get("content", "")
        return out

    @property
    def told(self) -> str:
        """What the run told its reader: the log, then the job summaries. Assert on this for a
        message a step prints just before it exits: act may drop such a last line from its log."""
        return self.logs + "\n" + "\n".join(self.summaries.values())

    def calls_to(self, prefix: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["action"].startswith(prefix)]

    def comments(self) -> dict[int, dict[str, dict[str, Any]]]:
        store = self.state_dir / "comments.json"
        if not store.exists():
            return {}
        return {int(k): v for k, v in json.loads(store.read_text())["prs"].items()}

    def pulls(self) -> dict[str, dict[str, Any]]:
        store = self.state_dir / "pulls.json"
        return json.loads(store.read_text())["branches"] if store.exists() else {}

    @property
    def artifacts_dir(self) -> Path:
        return self.state_dir / "artifacts" / self.run_id

    def __repr__(self) -> str:  # what a failed assertion shows: the end of the log
        return f"act exited {self.returncode}; jobs {self.jobs}\n{self.logs[-20000:]}"


def _format_event(e: dict[str, Any]) -> str:
    msg = e.get("msg", "").rstrip("\n")
    job = e.get("jobID") or e.get("job") or "act"
    return "\n".join(f"[{job}] {line}" for line in msg.splitlines()) if msg else ""


def run_act(
    project: Path,
    event: str,
    workflow: str,
    event_payload: dict[str, Any] | None = None,
    stand_ins: dict[str, StandIn | str | Path] | None = None,
    env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    vars: dict[str, str] | None = None,  # act's own word
    job: str | None = None,
    state_dir: Path | None = None,
    timeout: float = 900,
    extra_args: tuple[str, ...] = (),
) -> ActResult:
    """Run ``act <event> -W <workflow>`` on ``project`` (a git repo) and collect what happened."""
    project = Path(project).resolve()
    ensure_origin(project)
    state = Path(state_dir) if state_dir else project.parent / f"act-state-{project.name}"
    state.mkdir(parents=True, exist_ok=True)
    runs = sorted(state.glob("run-*"))
    run_id = f"run-{len(runs) + 1}"
    run_dir = state / run_id
    run_dir.mkdir()
    calls_file = state / "calls.jsonl"
    calls_before = calls_file.stat().st_size if calls_file.exists() else 0

    def prepare(name: str, given: StandIn | str | Path | None, default_kind: str) -> StandIn:
        repo, _, ref = _split(name)
        if isinstance(given, Path):
            return StandIn(repo, ref, given, "custom")
        if isinstance(given, StandIn):  # rebuilt in this state folder so its records land here
            return make_stand_in(
                f"{given.repo}@{given.ref}",
                given.kind,
                root=state / "stand-ins",
                state_dir=state,
                outputs=dict(given.outputs),
                exit_code=given.exit_code,
            )
        return make_stand_in(
            f"{repo}@{ref}", given or default_kind, root=state / "stand-ins", state_dir=state
        )

    # Stand-ins are per repository@ref (act's --local-repository); sub-path actions such as
    # actions/cache/restore live in sub-folders of their repository's stand-in.
    chosen: dict[str, StandIn] = {}
    overrides = dict(stand_ins or {})
    for uses in workflow_actions(project):
        repo, _, ref = _split(uses)
        if repo in HANDLED_BY_ACT or f"{repo}@{ref}" in chosen:
            continue
        given = overrides.pop(uses, None) or overrides.pop(f"{repo}@{ref}", None)
        default = "cache" if repo == "actions/cache" else _kind_for(uses)
        chosen[f"{repo}@{ref}"] = prepare(uses, given, default)
    for name, given in overrides.items():  # stand-ins for actions no workflow file names directly
        stand_in = prepare(name, given, "record")
        chosen[f"{stand_in.repo}@{stand_in.ref}"] = stand_in

    event_file = run_dir / "event.json"
    event_file.write_text(json.dumps(event_payload or {}))
    empty = run_dir / "empty"
    empty.write_text("")
    step_env = {"PYTHONPATH": "src", "DVC_NO_ANALYTICS": "1", "ACT_STANDIN_RUN": run_id, **(env or {})}
    cmd = [
        ACT,
        event,
        "--json",
        "-W",
        workflow,
        "-P",
        PLATFORM,
        "-e",
        str(event_file),
        "--no-cache-server",
        "--action-cache-path",
        str(state / "act-cache"),
        "--env-file",
        str(empty),
        "--secret-file",
        str(empty),
        "--var-file",
        str(empty),
        "--input-file",
        str(empty),
    ]
    for stand_in in chosen.values():
        cmd += ["--local-repository", stand_in.local_repository]
    for key, value in step_env.items():
        cmd += ["--env", f"{key}={value}"]
    for key, value in (secrets or {}).items():
        cmd += ["-s", f"{key}={value}"]
    for key, value in (vars or {}).items():
        cmd += ["--var", f"{key}={value}"]
    if job:
        cmd += ["-j", job]
    cmd += list(extra_args)

    proc_env = dict(os.environ)
    proc_env["PATH"] = f"{BIN}{os.pathsep}{proc_env.get('PATH', '')}"
    proc = subprocess.Popen(
        cmd,
        cwd=project,
        env=proc_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        output += f"\n[harness] act killed after {timeout} s"
    (run_dir / "act.log.jsonl").write_text(output)

    events: list[dict[str, Any]] = []
    text: list[str] = []
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            text.append(line)
            continue
        if isinstance(record, dict):
            events.append(record)
            formatted = _format_event(record)
            if formatted:
                text.append(formatted)
        else:
            text.append(line)
    calls: list[dict[str, Any]] = []
    if calls_file.exists():
        with calls_file.open() as fh:
            fh.seek(calls_before)
            calls = [json.loads(line) for line in fh if line.strip()]
    return ActResult(
        proc.returncode if proc.returncode is not None else -9,
        "\n".join(text),
        events,
        calls,
        state,
        run_id,
        cmd,
    )
