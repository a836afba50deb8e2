"""The runtime of the act harness's stand-in actions (see the package's __init__.py).

A stand-in's node shim runs, inside the act job, with the test interpreter::

    python runtime.py KIND PHASE NAME STATE_DIR [EXTRA_JSON]

It reads the action's inputs from the ``INPUT_*`` variables (as GitHub and act pass them), does
what the real action would do locally (cache, artifacts, PR comments, pull requests), sets the
outputs, and appends one record of the call to ``STATE_DIR/calls.jsonl``.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

GLOB_CHARS = set("*?[")


@dataclass
class Call:
    kind: str
    phase: str
    name: str
    state: Path
    extra: dict[str, Any]
    inputs: dict[str, str]
    workspace: Path
    outputs: dict[str, str] = field(default_factory=dict)
    note: dict[str, Any] = field(default_factory=dict)

    def lines(self, key: str) -> list[str]:
        return [line.strip() for line in (self.inputs.get(key) or "").splitlines() if line.strip()]

    def resolve(self, path: str) -> Path:
        resolved = Path(os.path.expanduser(path))
        return resolved if resolved.is_absolute() else self.workspace / resolved


def event() -> dict[str, Any]:
    try:
        return json.loads(Path(os.environ["GITHUB_EVENT_PATH"]).read_text())
    except (KeyError, OSError, ValueError):
        return {}


def load_json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text()) if path.exists() else default


# --------------------------------------------------------------------------- actions/cache
def key_file(call: Call, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    return call.state / "cache" / f"{safe}.tar"


def cache_restore(call: Call) -> str:
    primary = call.inputs.get("key", "")
    index = load_json(call.state / "cache" / "index.json", {})
    matched = primary if primary in index else ""
    if not matched:
        for prefix in call.lines("restore-keys"):
            candidates = sorted((k for k in index if k.startswith(prefix)), key=lambda k: -index[k])
            if candidates:
                matched = candidates[0]
                break
    if matched and call.inputs.get("lookup-only") != "true":
        # Like actions/cache: paths under the workspace are stored relative to it ("ws/..."),
        # others absolute ("abs/..."), so a cache made in one run's workspace restores in another's.
        with tarfile.open(key_file(call, matched)) as tar:
            for member in tar.getmembers():
                where, _, rest = member.name.partition("/")
                member.name = rest
                tar.extract(member, call.workspace if where == "ws" else Path("/"), filter="tar")
    call.outputs.update(
        {
            "cache-hit": str(matched == primary and bool(matched)).lower(),
            "cache-primary-key": primary,
            "cache-matched-key": matched,
        }
    )
    call.note.update(matched_key=matched)
    print(f"[stand-in cache] key {primary!r}: " + (f"restored {matched!r}" if matched else "miss"))
    if not matched and call.inputs.get("fail-on-cache-miss") == "true":
        sys.exit(f"cache miss for {primary!r}")
    return matched


def cache_save(call: Call, key: str) -> None:
    index_file = call.state / "cache" / "index.json"
    index = load_json(index_file, {})
    if key in index:
        print(f"[stand-in cache] {key!r} already exists: not saved (caches are immutable)")
        call.note.update(saved=False)
        return
    paths = [call.resolve(p) for p in call.lines("path")]
    present = [p for p in paths if p.exists()]
    if not present:
        print(f"[stand-in cache] nothing to save at {[str(p) for p in paths]}")
        call.note.update(saved=False)
        return
    key_file(call, key).parent.mkdir(parents=True, exist_ok=True)
    workspace = call.workspace.resolve()
    with tarfile.open(key_file(call, key), "w") as tar:
        for path in present:
            if path.resolve().is_relative_to(workspace):
                arcname = "ws/" + str(path.resolve().relative_to(workspace))
            else:
                arcname = "abs/" + str(path).lstrip("/")
            tar.add(path, arcname=arcname)
    index[key] = time.time()
    index_file.write_text(json.dumps(index))
    call.note.update(saved=True, saved_key=key)
    print(f"[stand-in cache] saved {key!r}")


# --------------------------------------------------------------------------- artifacts
def search_root(call: Call, pattern: str) -> Path:
    """Where a path pattern's search starts: up to the first wildcard (a file's own folder)."""
    parts = Path(pattern).parts
    fixed = [p for p in parts[: next((i for i, p in enumerate(parts) if GLOB_CHARS & set(p)), len(parts))]]
    root = call.resolve(str(Path(*fixed))) if fixed else call.workspace
    return root if root.is_dir() else root.parent


def upload_artifact(call: Call) -> None:
    """Like actions/upload-artifact: files are stored relative to the least common ancestor of
    the search paths (a single folder's contents land at the artifact's root)."""
    run_id = os.environ.get("ACT_STANDIN_RUN", "run")
    target = call.state / "artifacts" / run_id / call.inputs.get("name", "artifact")
    patterns = [p for p in call.lines("path") if not p.startswith("!")]
    files = [Path(m) for p in patterns for m in glob.glob(str(call.resolve(p)), recursive=True)]
    if not files:
        policy = call.inputs.get("if-no-files-found", "warn")
        message = f"no files found for {call.inputs.get('path')!r}"
        if policy == "error":
            sys.exit(f"[stand-in upload-artifact] {message}")
        print(f"[stand-in upload-artifact] {policy}: {message}")
        return
    root = Path(os.path.commonpath([search_root(call, p) for p in patterns]))
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        dest = target / path.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(path, dest)
    call.note.update(files=sorted(str(p.relative_to(root)) for p in files))
    call.outputs.update({"artifact-id": "1", "artifact-url": f"file://{target}"})


def download_artifact(call: Call) -> None:
    """Like actions/download-artifact: artifacts of this run by name or pattern, into ``path``.
    As its source says (v8.0.1, src/download-artifact.ts, https://github.com/actions/download-artifact):
    a ``name`` not found fails ("Artifact '<name>' not found"); a ``pattern`` only filters the
    run's artifacts, so no match downloads nothing and succeeds."""
    run_id = os.environ.get("ACT_STANDIN_RUN", "run")
    stored = call.state / "artifacts" / run_id
    destination = call.resolve(call.inputs.get("path") or ".")
    name = call.inputs.get("name")
    pattern = call.inputs.get("pattern") or "*"
    found = [stored / name] if name else sorted(Path(p) for p in glob.glob(str(stored / pattern)))
    found = [p for p in found if p.is_dir()]
    if name and not found:
        sys.exit(f"[stand-in download-artifact] Artifact not found: {name}")
    merge = call.inputs.get("merge-multiple") == "true"
    for artifact in found:
        into = destination if (name or merge) else destination / artifact.name
        shutil.copytree(artifact, into, dirs_exist_ok=True)
    call.note.update(artifacts=[p.name for p in found])
    call.outputs["download-path"] = str(destination)


# --------------------------------------------------------------------------- pull requests
def sticky_comment(call: Call) -> None:
    inputs = call.inputs
    body = inputs.get("message", "")
    paths = call.lines("path")
    if paths:
        content = "".join(Path(m).read_text() for p in paths for m in sorted(glob.glob(str(call.resolve(p)))))
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
    store = call.state / "comments.json"
    data = load_json(store, {"next_id": 1, "prs": {}})
    comments = data["prs"].setdefault(str(number), {})
    current = comments.get(header)
    if inputs.get("delete") == "true":
        comments.pop(header, None)
        op = "delete"
    elif (
        (current and inputs.get("only_create") == "true")
        or (not current and inputs.get("only_update") == "true")
        or (not body.strip() and inputs.get("ignore_empty") == "true")
    ):
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
        call.outputs["previous_comment_id"] = str(current["id"])
    else:
        previous = current["creates"] if current else 0
        comments[header] = {"id": data["next_id"], "body": body, "creates": previous + 1, "updates": 0}
        call.outputs["created_comment_id"] = str(data["next_id"])
        data["next_id"] += 1
        op = "create"
    store.write_text(json.dumps(data, indent=2))
    call.note.update(op=op, pr=int(number), header=header, body=body)
    print(f"[stand-in sticky-comment] {op} comment {header!r} on PR #{number}")


def git(call: Call, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=call.workspace, capture_output=True, text=True, check=True
    ).stdout


def create_pull_request(call: Call) -> None:
    """Like peter-evans/create-pull-request: the add-paths changes of the workspace become the
    branch's one commit; ONE pull request per branch, created once and updated after that
    (``STATE_DIR/pulls.json``). No change: no pull request."""
    inputs = call.inputs
    branch = inputs.get("branch") or "create-pull-request/patch"
    for path in call.lines("add-paths") or ["."]:
        subprocess.run(["git", "add", "--", path], cwd=call.workspace, check=False)
    changed = git(call, "diff", "--cached", "--name-only", "HEAD").split()
    store = call.state / "pulls.json"
    pulls = load_json(store, {"next_number": 101, "branches": {}})
    current = pulls["branches"].get(branch)
    body_path = inputs.get("body-path")
    body = call.resolve(body_path).read_text() if body_path else inputs.get("body", "")
    if not changed:
        operation = "closed" if current and current["state"] == "open" else "none"
        if current and inputs.get("delete-branch") == "true":
            current["state"] = "closed"
    else:
        files = {path: git(call, "show", f":{path}") for path in changed if (call.workspace / path).exists()}
        fields = {
            "title": inputs.get("title", ""),
            "body": body,
            "base": inputs.get("base") or "",
            "labels": call.lines("labels"),
            "commit_message": inputs.get("commit-message", ""),
            "token": inputs.get("token", ""),
            "changed_files": changed,
            "files": files,
            "state": "open",
        }
        if current and current["state"] == "open":
            current.update(fields)
            current["updates"] += 1
            operation = "updated"
        else:
            current = {"number": pulls["next_number"], "creates": 1, "updates": 0, **fields}
            pulls["branches"][branch] = current
            pulls["next_number"] += 1
            operation = "created"
        subprocess.run(["git", "reset", "--quiet"], cwd=call.workspace, check=False)
    store.write_text(json.dumps(pulls, indent=2))
    if current and operation != "none":
        call.outputs.update(
            {
                "pull-request-number": str(current["number"]),
                "pull-request-operation": operation,
                "pull-request-branch": branch,
                "pull-request-url": f"https://github.com/pulls/{current['number']}",
            }
        )
    call.note.update(operation=operation, branch=branch, changed_files=changed, body=body)
    print(f"[stand-in create-pull-request] {operation} pull request on {branch!r}: {changed}")


# --------------------------------------------------------------------------- Deployments API
# A stand-in for GitHub's REST Deployments API, served on loopback; a workflow reaches it through
# GITHUB_API_URL as it reaches api.github.com. It answers as GitHub documents:
#   https://docs.github.com/en/rest/deployments/deployments  (create: 201; list filters sha,
#     ref, task, environment, per_page (max 100), page; defaults task "deploy", payload {},
#     environment "production", production_environment true only for "production")
#   https://docs.github.com/en/rest/deployments/statuses  (states error, failure, inactive,
#     in_progress, queued, pending, success, else 422; auto_inactive, default true: "Adds a new
#     inactive status to all prior non-transient, non-production environment deployments with the
#     same repository and environment name ... only added to deployments that had a success state")
# The docs promise no order for the two lists; GitHub answers newest first, and so does this.
#   https://docs.github.com/en/rest/authentication  (no token: 401 "Requires authentication")
STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
DEPLOYMENTS = re.compile(r"^/repos/([^/]+/[^/]+)/deployments(?:/(\d+)(/statuses)?)?$")


class DeploymentsApi:
    """The deployments and their statuses, kept in ``STATE/deployments.json`` between runs."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.lock = threading.Lock()

    def load(self) -> dict[str, Any]:
        return load_json(self.store, {"next_id": 1, "deployments": []})

    def handle(self, method: str, url: str, body: dict[str, Any]) -> tuple[int, Any]:
        parsed = urllib.parse.urlsplit(url)
        match = DEPLOYMENTS.match(parsed.path)
        if not match:
            return 404, {"message": "Not Found"}
        repo, deployment_id, statuses = match.groups()
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        with self.lock:
            data = self.load()
            mine = [d for d in data["deployments"] if d["repository"] == repo]
            if deployment_id is None:
                answer = self.create(data, repo, body) if method == "POST" else self.list(mine, query)
            else:
                found = [d for d in mine if d["id"] == int(deployment_id)]
                if not found or not statuses:
                    return (404, {"message": "Not Found"}) if not found else (200, public(found[0]))
                if method == "POST":
                    answer = self.add_status(mine, found[0], body)
                else:
                    answer = 200, page(list(reversed(found[0]["statuses"])), query)
            self.store.write_text(json.dumps(data, indent=2))
        return answer

    def create(self, data: dict[str, Any], repo: str, body: dict[str, Any]) -> tuple[int, Any]:
        if not body.get("ref"):
            return 422, {"message": 'Invalid request. "ref" wasn\'t supplied.'}
        environment = body.get("environment", "production")
        deployment = {
            "id": data["next_id"],
            "repository": repo,
            "ref": body["ref"],
            "sha": body["ref"],  # the workflows deploy commits by SHA
            "task": body.get("task", "deploy"),
            "payload": body.get("payload", {}),
            "environment": environment,
            "description": body.get("description"),
            "transient_environment": body.get("transient_environment", False),
            "production_environment": body.get("production_environment", environment == "production"),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "statuses": [],
        }
        data["next_id"] += 1
        data["deployments"].append(deployment)
        return 201, public(deployment)

    def list(self, mine: list[dict[str, Any]], query: dict[str, str]) -> tuple[int, Any]:
        chosen = [
            d for d in reversed(mine)
            if all(query.get(key) in (None, d[key]) for key in ("sha", "ref", "task", "environment"))
        ]  # fmt: skip
        return 200, [public(d) for d in page(chosen, query)]

    def add_status(self, mine: list[dict[str, Any]], deployment: dict[str, Any],
                   body: dict[str, Any]) -> tuple[int, Any]:  # fmt: skip
        state = body.get("state")
        if state not in STATES:
            return 422, {"message": f"Validation Failed: state {state!r} is not one of {sorted(STATES)}"}
        status = {"id": len(deployment["statuses"]) + 1, "state": state,
                  "description": body.get("description", ""), "log_url": body.get("log_url", "")}  # fmt: skip
        deployment["statuses"].append(status)
        inactivate = body.get("auto_inactive", True) and state == "success"
        if inactivate and not (deployment["transient_environment"] or deployment["production_environment"]):
            for earlier in mine:
                prior = (
                    earlier["id"] < deployment["id"] and earlier["environment"] == deployment["environment"]
                )
                succeeded = any(s["state"] == "success" for s in earlier["statuses"])
                if prior and succeeded:
                    earlier["statuses"].append({"id": len(earlier["statuses"]) + 1, "state": "inactive",
                                                "description": "", "log_url": ""})  # fmt: skip
        return 201, status


def public(deployment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in deployment.items() if k not in ("statuses", "repository")}


def page(items: list[Any], query: dict[str, str]) -> list[Any]:
    size = min(int(query.get("per_page", 30)), 100)
    start = (int(query.get("page", 1)) - 1) * size
    return items[start : start + size]


def serve_deployments_api(store: Path) -> ThreadingHTTPServer:
    """Serve ``DeploymentsApi`` on 127.0.0.1 (a free port) in a daemon thread; ``shutdown()`` it."""
    api = DeploymentsApi(store)

    class Handler(BaseHTTPRequestHandler):
        def answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not (self.headers.get("Authorization") or "").strip().removeprefix("Bearer").strip():
                code, body = 401, {"message": "Requires authentication"}
            else:
                try:
                    code, body = api.handle(method, self.path, json.loads(raw or b"{}"))
                except ValueError:
                    code, body = 400, {"message": "Problems parsing JSON"}
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.answer("GET")

        def do_POST(self) -> None:
            self.answer("POST")

        def log_message(self, *args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --------------------------------------------------------------------------- entry point
def setup_python(call: Call) -> None:
    with open(os.environ["GITHUB_PATH"], "a") as fh:
        fh.write(str(Path(sys.executable).parent) + "\n")
    version = ".".join(map(str, sys.version_info[:3]))
    call.outputs.update({"python-version": version, "python-path": sys.executable, "cache-hit": "false"})
    print(f"[stand-in setup-python] asked for {call.inputs.get('python-version')!r}: using {sys.executable}")


def cache_main(call: Call) -> None:
    """actions/cache's main step: restore, and keep the keys for its post step (as the real one
    does with core.saveState)."""
    cache_restore(call)
    with open(os.environ["GITHUB_STATE"], "a") as fh:
        fh.write(f"primary={call.outputs['cache-primary-key']}\n")
        fh.write(f"matched={call.outputs['cache-matched-key']}\n")


def cache_post(call: Call) -> None:
    """actions/cache's post step: save, unless the restore was an exact hit."""
    # actions' saved state comes back as STATE_<name>, with the name as it was written
    primary = os.environ.get("STATE_primary") or call.inputs.get("key", "")  # noqa: SIM112
    if primary and os.environ.get("STATE_matched") == primary:  # noqa: SIM112
        print(f"[stand-in cache] exact hit on {primary!r}: not saving")
    else:
        cache_save(call, call.inputs.get("key", ""))


def cache_save_step(call: Call) -> None:
    cache_save(call, call.inputs.get("key", ""))


@dataclass(frozen=True)
class Kind:
    """What a stand-in kind does in its main step and, if it has one, its post step."""

    main: Callable[[Call], object] | None = None
    post: Callable[[Call], object] | None = None


# The one registry of stand-in kinds: standins.py builds actions from it (a post step for the
# kinds that have one) and maps each stood-in action to one of these names.
KINDS: dict[str, Kind] = {
    "record": Kind(),  # records the call and its inputs, does nothing else
    "setup-python": Kind(setup_python),
    "cache": Kind(cache_main, cache_post),
    "cache-restore": Kind(cache_restore),
    "cache-save": Kind(cache_save_step),
    "upload-artifact": Kind(upload_artifact),
    "download-artifact": Kind(download_artifact),
    "sticky-comment": Kind(sticky_comment),
    "create-pull-request": Kind(create_pull_request),
}


def dispatch(call: Call) -> None:
    step = getattr(KINDS[call.kind], call.phase)
    if step is not None:
        step(call)


def main(argv: list[str]) -> int:
    kind, phase, name, state = argv[1], argv[2], argv[3], Path(argv[4])
    extra = json.loads(argv[5]) if len(argv) > 5 else {}
    inputs = {k[6:].lower(): v for k, v in os.environ.items() if k.startswith("INPUT_")}
    state.mkdir(parents=True, exist_ok=True)
    workspace = Path(os.environ.get("GITHUB_WORKSPACE", "."))
    call = Call(kind, phase, name, state, extra, inputs, workspace, dict(extra.get("outputs") or {}))
    dispatch(call)
    if phase == "main" and call.outputs:
        with open(os.environ["GITHUB_OUTPUT"], "a") as fh:
            for key, value in call.outputs.items():
                fh.write(f"{key}<<__STANDIN_EOF__\n{value}\n__STANDIN_EOF__\n")
    record = {
        "action": name,
        "kind": kind,
        "phase": phase,
        "inputs": inputs,
        "outputs": call.outputs,
        "job": os.environ.get("GITHUB_JOB"),
        "event": os.environ.get("GITHUB_EVENT_NAME"),
        "run": os.environ.get("ACT_STANDIN_RUN"),
        **call.note,
    }
    with open(state / "calls.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")
    return int(extra.get("exit_code") or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
