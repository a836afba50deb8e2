"""Run a baked project's GitHub Actions workflows for real with ``act``, on this machine.

``act`` runs in self-hosted mode (``-P ubuntu-latest=-self-hosted``): every ``run:`` step is
executed as written by bash on the host, in a copy of the project's working tree (git history
included, gitignored files left out), exactly as a self-hosted runner would. ``actions/checkout``
of the repository itself is handled by act (it copies the tree). Only actions that need GitHub's
servers are replaced by local *stand-ins* (``--local-repository owner/name@<sha>=<dir>``): the
stand-in is a small node20 action whose main/post scripts call the Python runtime below with
the test interpreter. Every stand-in records its call (inputs, phase, job) so a test can assert
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
    $GITHUB_STEP_SUMMARY}), ``calls`` (the stand-in calls of this run), ``calls_to(prefix)``,
    ``comments()`` (the simulated PR comments: {pr number: {header: {"body", "creates",
    "updates", "id"}}}), ``artifacts_dir`` (uploads of this run: ``<name>/<files>``),
    ``step_result(name_part)``.
``make_stand_in(name, kind="record", root=..., outputs=None, exit_code=0) -> StandIn``
    ``name`` is ``owner/repo@ref`` (a sub-path action such as ``actions/cache/restore@sha`` gets
    its folder under the repo's stand-in). Kinds: ``record`` (record inputs, set ``outputs``,
    exit with ``exit_code``), ``setup-python`` (no install: puts this test interpreter's folder
    on PATH and reports its version), ``cache`` / ``cache-restore`` / ``cache-save`` (a real
    cache kept in ``state_dir/cache``, exact key then restore-keys prefixes, newest first;
    the plain ``cache`` restores in main and saves in post like actions/cache),
    ``upload-artifact`` (copies the files to ``state_dir/artifacts/<run>/<name>``; honours
    ``if-no-files-found``), ``sticky-comment`` (marocchino/sticky-pull-request-comment: one
    comment per (PR, header) in ``state_dir/comments.json``; counts creates and updates;
    supports ``message``/``path``/``append``/``recreate``/``delete``/``only_create``/``only_update``).
``pull_request_event(project, base="main", head=None, number=1, fork=False, action="synchronize")``,
``push_event(project, ref="refs/heads/main")``: event payloads with real SHAs from the repo.
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
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BIN = Path(sys.executable).parent
ACT = shutil.which("act", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}") or "act"
PLATFORM = "ubuntu-latest=-self-hosted"

# Actions act handles itself (checkout of the repository under test copies the working tree).
HANDLED_BY_ACT = ("actions/checkout",)
KIND_BY_REPO = {
    "actions/setup-python": "setup-python",
    "actions/cache": "cache",
    "actions/cache/restore": "cache-restore",
    "actions/cache/save": "cache-save",
    "actions/upload-artifact": "upload-artifact",
    "marocchino/sticky-pull-request-comment": "sticky-comment",
}
KINDS = (
    "record",
    "setup-python",
    "cache",
    "cache-restore",
    "cache-save",
    "upload-artifact",
    "sticky-comment",
)
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*['\"]?([^'\"\s#]+)", re.MULTILINE)


# --------------------------------------------------------------------------- stand-in runtime
# Runs inside the act job (started by the stand-in's node shim with this test interpreter).
RUNTIME = r"""
import glob, json, os, shutil, sys, tarfile, time
from pathlib import Path

kind, phase, name, state = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
inputs = {k[6:].lower(): v for k, v in os.environ.items() if k.startswith("INPUT_")}
workspace = Path(os.environ.get("GITHUB_WORKSPACE", "."))
state.mkdir(parents=True, exist_ok=True)
outputs = dict(extra.get("outputs") or {})
note = {}


def lines(value):
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def resolve(path):
    path = Path(os.path.expanduser(path))
    return path if path.is_absolute() else workspace / path


def event():
    try:
        return json.loads(Path(os.environ["GITHUB_EVENT_PATH"]).read_text())
    except (KeyError, OSError, ValueError):
        return {}


def key_file(key):
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    return state / "cache" / f"{safe}.tar"


def cache_index():
    index = state / "cache" / "index.json"
    return json.loads(index.read_text()) if index.exists() else {}


def cache_restore():
    primary = inputs.get("key", "")
    index = cache_index()
    matched = primary if primary in index else ""
    if not matched:
        for prefix in lines(inputs.get("restore-keys")):
            candidates = sorted((k for k in index if k.startswith(prefix)), key=lambda k: -index[k])
            if candidates:
                matched = candidates[0]
                break
    if matched and inputs.get("lookup-only") != "true":
        # Like actions/cache: paths under the workspace are stored relative to it ("ws/..."),
        # others absolute ("abs/..."), so a cache made in one run's workspace restores in another's.
        with tarfile.open(key_file(matched)) as tar:
            for member in tar.getmembers():
                where, _, rest = member.name.partition("/")
                member.name = rest
                tar.extract(member, workspace if where == "ws" else Path("/"), filter="tar")
    outputs.update({"cache-hit": str(matched == primary and bool(matched)).lower(),
                    "cache-primary-key": primary, "cache-matched-key": matched})
    note.update(matched_key=matched)
    print(f"[stand-in cache] key {primary!r}: " + (f"restored {matched!r}" if matched else "miss"))
    if not matched and inputs.get("fail-on-cache-miss") == "true":
        sys.exit(f"cache miss for {primary!r}")
    return matched


def cache_save(key):
    index = cache_index()
    if key in index:
        print(f"[stand-in cache] {key!r} already exists: not saved (caches are immutable)")
        note.update(saved=False)
        return
    paths = [resolve(p) for p in lines(inputs.get("path"))]
    present = [p for p in paths if p.exists()]
    if not present:
        print(f"[stand-in cache] nothing to save at {[str(p) for p in paths]}")
        note.update(saved=False)
        return
    key_file(key).parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(key_file(key), "w") as tar:
        for path in present:
            if path.resolve().is_relative_to(workspace.resolve()):
                arcname = "ws/" + str(path.resolve().relative_to(workspace.resolve()))
            else:
                arcname = "abs/" + str(path).lstrip("/")
            tar.add(path, arcname=arcname)
    index[key] = time.time()
    (state / "cache" / "index.json").write_text(json.dumps(index))
    note.update(saved=True, saved_key=key)
    print(f"[stand-in cache] saved {key!r}")


def upload_artifact():
    run_id = os.environ.get("ACT_STANDIN_RUN", "run")
    target = state / "artifacts" / run_id / inputs.get("name", "artifact")
    files = []
    for pattern in lines(inputs.get("path")):
        if pattern.startswith("!"):
            continue
        for match in glob.glob(str(resolve(pattern)), recursive=True):
            files.append(Path(match))
    if not files:
        policy = inputs.get("if-no-files-found", "warn")
        message = f"no files found for {inputs.get('path')!r}"
        if policy == "error":
            sys.exit(f"[stand-in upload-artifact] {message}")
        print(f"[stand-in upload-artifact] {policy}: {message}")
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        rel = path.relative_to(workspace) if path.is_relative_to(workspace) else Path(path.name)
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(path, dest)
    note.update(files=sorted(str(p.relative_to(workspace)) if p.is_relative_to(workspace) else str(p)
                             for p in files))
    outputs.update({"artifact-id": "1", "artifact-url": f"file://{target}"})


def sticky_comment():
    body = inputs.get("message", "")
    paths = lines(inputs.get("path"))
    if paths:
        content = "".join(Path(m).read_text() for p in paths for m in sorted(glob.glob(str(resolve(p)))))
        body = body.replace("{{{content}}}", content) if "{{{content}}}" in body else (body or content)
    payload = event()
    number = (
        inputs.get("number_force")
        or inputs.get("number")
        or payload.get("pull_request", {}).get("number")
        or payload.get("number")
    )
    if not number:
        sys.exit("[stand-in sticky-comment] no pull request number (not a pull_request event?)")
    header = inputs.get("header", "")
    store = state / "comments.json"
    data = json.loads(store.read_text()) if store.exists() else {"next_id": 1, "prs": {}}
    comments = data["prs"].setdefault(str(number), {})
    current = comments.get(header)
    if inputs.get("delete") == "true":
        comments.pop(header, None)
        op = "delete"
    elif current and inputs.get("only_create") == "true":
        op = "none"
    elif not current and inputs.get("only_update") == "true":
        op = "none"
    elif not body.strip() and inputs.get("ignore_empty") == "true":
        op = "none"
    elif not body.strip():
        sys.exit("[stand-in sticky-comment] Either message or path input is required")
    elif current and inputs.get("recreate") != "true":
        if inputs.get("skip_unchanged") == "true" and current["body"] == body:
            op = "none"
        else:
            current["body"] = current["body"] + "\n" + body if inputs.get("append") == "true" else body
            current["updates"] += 1
            op = "update"
        outputs["previous_comment_id"] = str(current["id"])
    else:
        previous = current["creates"] if current else 0
        comments[header] = {"id": data["next_id"], "body": body, "creates": previous + 1, "updates": 0}
        outputs["created_comment_id"] = str(data["next_id"])
        data["next_id"] += 1
        op = "create"
    store.write_text(json.dumps(data, indent=2))
    note.update(op=op, pr=int(number), header=header, body=body)
    print(f"[stand-in sticky-comment] {op} comment {header!r} on PR #{number}")


if kind == "setup-python":
    with open(os.environ["GITHUB_PATH"], "a") as fh:
        fh.write(str(Path(sys.executable).parent) + "\n")
    version = ".".join(map(str, sys.version_info[:3]))
    outputs.update({"python-version": version, "python-path": sys.executable, "cache-hit": "false"})
    asked = inputs.get("python-version")
    print(f"[stand-in setup-python] asked for {asked!r}: using {sys.executable} ({version})")
elif kind in ("cache", "cache-restore") and phase == "main":
    cache_restore()
elif kind == "cache" and phase == "post":
    state_key = os.environ.get("STATE_primary") or inputs.get("key", "")
    if os.environ.get("STATE_matched") == state_key and state_key:
        print(f"[stand-in cache] exact hit on {state_key!r}: not saving")
    else:
        cache_save(inputs.get("key", ""))
elif kind == "cache-save":
    cache_save(inputs.get("key", ""))
elif kind == "upload-artifact":
    upload_artifact()
elif kind == "sticky-comment":
    sticky_comment()

if kind == "cache" and phase == "main":
    with open(os.environ["GITHUB_STATE"], "a") as fh:
        fh.write(f"primary={outputs['cache-primary-key']}\nmatched={outputs['cache-matched-key']}\n")
if phase == "main" and outputs:
    with open(os.environ["GITHUB_OUTPUT"], "a") as fh:
        for key, value in outputs.items():
            fh.write(f"{key}<<__STANDIN_EOF__\n{value}\n__STANDIN_EOF__\n")
record = {"action": name, "kind": kind, "phase": phase, "inputs": inputs, "outputs": outputs,
          "job": os.environ.get("GITHUB_JOB"), "event": os.environ.get("GITHUB_EVENT_NAME"),
          "run": os.environ.get("ACT_STANDIN_RUN"), **note}
with open(state / "calls.jsonl", "a") as fh:
    fh.write(json.dumps(record) + "\n")
sys.exit(int(extra.get("exit_code") or 0))
"""

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
    runtime = state / "stand-in-runtime.py"
    if not runtime.exists():
        runtime.parent.mkdir(parents=True, exist_ok=True)
        runtime.write_text(textwrap.dedent(RUNTIME))
    post = kind in ("cache",)
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
        raise ValueError(f"unknown stand-in kind {kind!r}; choose one of {KINDS}")
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


def push_event(project: Path, ref: str = "refs/heads/main") -> dict[str, Any]:
    repo = ensure_origin(project)
    return {
        "ref": ref,
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

    def calls_to(self, prefix: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["action"].startswith(prefix)]

    def comments(self) -> dict[int, dict[str, dict[str, Any]]]:
        store = self.state_dir / "comments.json"
        if not store.exists():
            return {}
        return {int(k): v for k, v in json.loads(store.read_text())["prs"].items()}

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
